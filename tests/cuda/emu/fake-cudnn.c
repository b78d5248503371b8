/* fake-cudnn.c: the cuDNN calls of src/engine/cuda/ts-cuda-cudnn.c on host
 * memory, linked into the emulated backend (its ts_cuda_dnn_open takes these
 * functions instead of dlopen'ing libcudnn under TS_CUDA_EMULATED).
 *
 * Descriptors record what was set; every call checks its arguments the way
 * cuDNN documents them (NCHW float or NHWC bfloat16 only, the x / w / y
 * shapes against the convolution's pads, strides, dilations and groups, their
 * data types against each other and the compute type, the workspace against
 * what the chosen algorithm asked for), so that the backend's set-up is
 * tested as well as its results.  The convolutions are naive loops summing
 * in double, y = alpha * conv + beta * y, with float inputs rounded to TF32
 * unless the math type is CUDNN_FMA_MATH.  bfloat16 NHWC operands are read
 * into float NCHW copies, run through the same loops, and the output is
 * rounded to nearest even back into bfloat16 NHWC, as cuDNN's
 * PSEUDO_BFLOAT16_CONFIG (bfloat16 data, float compute) does.  The algorithm lists put a
 * non-deterministic algorithm first, one over the backend's workspace cap and
 * one that is not supported before the usable ones, and the usable ones need
 * different workspace sizes, so that the backend's choice and its workspace
 * sizing are exercised.  Switches make algorithms fail when run, as a real
 * cuDNN may (ts_fake_cudnn_fail_first). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cudnn.h>

#include "ts-tensor.h"   /* ts_bf16_from_f32 / ts_f32_from_bf16: the rounding the kernels use */

void tsk_emu_stream_ready (cudaStream_t stream);   /* fake-streams.c */

/* calls that ran (and how many of them with a non-deterministic algorithm),
 * Find* calls, live handles + descriptors: tests/cuda/test-cuda-ops.c reads
 * them through weak references (absent with the real cuDNN) to check that
 * the convolutions went through here as configured, and that nothing leaked */
long ts_fake_cudnn_forwards, ts_fake_cudnn_backward_data, ts_fake_cudnn_backward_filter;
long ts_fake_cudnn_nondeterministic, ts_fake_cudnn_finds, ts_fake_cudnn_live;

/* Switches the tests set (through weak references) to play the cuDNN of
 * another GPU or version, which a real one may be:
 * ts_fake_cudnn_no_algo: bit 0 forward, bit 1 data gradient, bit 2 filter
 * gradient: those directions offer no usable algorithm (every perf entry
 * CUDNN_STATUS_NOT_SUPPORTED, and a run or workspace query of one
 * NOT_SUPPORTED), for x of ts_fake_cudnn_no_algo_c channels only (0: any),
 * as cuDNN may lack an NHWC data gradient for a 3-channel input;
 * ts_fake_cudnn_mixed_math: each algorithm runs with a math type of its own
 * (algo_row.mixed_math), which its perf entries report and which the
 * convolution descriptor must carry when it runs (cuDNN 7.4 and later choose
 * tensor-core kernels from the algorithm and the math type together; a run
 * under another is NOT_SUPPORTED here), and under CUDNN_FMA_MATH a
 * workspace-using algorithm needs 4 KiB more, which the heuristics'
 * (Get*_v7) entries do not include: they report the workspace under the
 * descriptor's math type at the query (cuDNN documents neither way; the
 * fake takes the reading that breaks a backend which does not ask
 * cudnnGet*WorkspaceSize under the math type it runs with). */
int ts_fake_cudnn_no_algo, ts_fake_cudnn_no_algo_c, ts_fake_cudnn_mixed_math;

struct cudnnContext {
  cudaStream_t stream;
};

struct cudnnTensorStruct {
  int set;
  cudnnTensorFormat_t format;
  cudnnDataType_t type;
  int n, c, h, w;
};

struct cudnnFilterStruct {
  int set;
  cudnnTensorFormat_t format;
  cudnnDataType_t type;
  int k, c, h, w;
};

struct cudnnConvolutionStruct {
  int set;
  int pad_h, pad_w, u, v, dil_h, dil_w;
  cudnnConvolutionMode_t mode;
  cudnnDataType_t compute;
  int groups;
  cudnnMathType_t math;
};

typedef struct cudnnTensorStruct tensor;
typedef struct cudnnFilterStruct filter;
typedef struct cudnnConvolutionStruct conv;

static void *
create (size_t size)
{
  void *p = calloc (1, size);
  if (p)
    ts_fake_cudnn_live++;
  return p;
}

static cudnnStatus_t
destroy (void *p)
{
  if (p)
    ts_fake_cudnn_live--;
  free (p);
  return CUDNN_STATUS_SUCCESS;
}

static void no_bf16_from_env (void);

cudnnStatus_t
cudnnCreate (cudnnHandle_t *handle)
{
  if (handle == NULL)
    return CUDNN_STATUS_BAD_PARAM;
  no_bf16_from_env ();
  *handle = create (sizeof **handle);
  return *handle ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
}

cudnnStatus_t
cudnnDestroy (cudnnHandle_t handle)
{
  return destroy (handle);
}

cudnnStatus_t
cudnnSetStream (cudnnHandle_t handle, cudaStream_t stream)
{
  if (handle == NULL)
    return CUDNN_STATUS_BAD_PARAM;
  handle->stream = stream;
  return CUDNN_STATUS_SUCCESS;
}

const char *
cudnnGetErrorString (cudnnStatus_t st)
{
  switch (st)
    {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    /* (those of the failures at execution, ts_fake_cudnn_fail_status) */
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER: return "CUDNN_STATUS_BAD_PARAM_NULL_POINTER";
    case CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER: return "CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER";
    case CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED:
      return "CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
    default: return "CUDNN_STATUS (emulated error)";
    }
}

cudnnStatus_t
cudnnCreateTensorDescriptor (cudnnTensorDescriptor_t *d)
{
  return d && (*d = create (sizeof **d)) ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_BAD_PARAM;
}

cudnnStatus_t
cudnnDestroyTensorDescriptor (cudnnTensorDescriptor_t d)
{
  return destroy (d);
}

cudnnStatus_t
cudnnCreateFilterDescriptor (cudnnFilterDescriptor_t *d)
{
  return d && (*d = create (sizeof **d)) ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_BAD_PARAM;
}

cudnnStatus_t
cudnnDestroyFilterDescriptor (cudnnFilterDescriptor_t d)
{
  return destroy (d);
}

cudnnStatus_t
cudnnCreateConvolutionDescriptor (cudnnConvolutionDescriptor_t *d)
{
  if (d == NULL || (*d = create (sizeof **d)) == NULL)
    return CUDNN_STATUS_BAD_PARAM;
  (*d)->groups = 1;   /* cuDNN's defaults */
  (*d)->math = CUDNN_DEFAULT_MATH;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t
cudnnDestroyConvolutionDescriptor (cudnnConvolutionDescriptor_t d)
{
  return destroy (d);
}

/* cuDNN takes other layouts and types; the backend only ever means NCHW
 * float (the float32 convolutions) or NHWC bfloat16 (the bf16 policy's,
 * with the filter's NHWC meaning KRSC) */
static cudnnStatus_t
check_layout (cudnnTensorFormat_t format, cudnnDataType_t type, int a, int b, int c, int d)
{
  if (a <= 0 || b <= 0 || c <= 0 || d <= 0)
    return CUDNN_STATUS_BAD_PARAM;
  if (!(format == CUDNN_TENSOR_NCHW && type == CUDNN_DATA_FLOAT)
      && !(format == CUDNN_TENSOR_NHWC && type == CUDNN_DATA_BFLOAT16))
    return CUDNN_STATUS_NOT_SUPPORTED;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t
cudnnSetTensor4dDescriptor (cudnnTensorDescriptor_t d, cudnnTensorFormat_t format,
                            cudnnDataType_t type, int n, int c, int h, int w)
{
  cudnnStatus_t st = d ? check_layout (format, type, n, c, h, w) : CUDNN_STATUS_BAD_PARAM;
  if (st == CUDNN_STATUS_SUCCESS)
    *d = (tensor) { 1, format, type, n, c, h, w };
  return st;
}

cudnnStatus_t
cudnnSetFilter4dDescriptor (cudnnFilterDescriptor_t d, cudnnDataType_t type,
                            cudnnTensorFormat_t format, int k, int c, int h, int w)
{
  cudnnStatus_t st = d ? check_layout (format, type, k, c, h, w) : CUDNN_STATUS_BAD_PARAM;
  if (st == CUDNN_STATUS_SUCCESS)
    *d = (filter) { 1, format, type, k, c, h, w };
  return st;
}

cudnnStatus_t
cudnnSetConvolution2dDescriptor (cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u,
                                 int v, int dil_h, int dil_w, cudnnConvolutionMode_t mode,
                                 cudnnDataType_t compute)
{
  if (d == NULL || pad_h < 0 || pad_w < 0 || u <= 0 || v <= 0 || dil_h <= 0 || dil_w <= 0
      || (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION))
    return CUDNN_STATUS_BAD_PARAM;
  /* any floating-point compute type is taken here; whether it fits the
   * data's is checked where the data types meet (check_conv) */
  if (compute != CUDNN_DATA_FLOAT && compute != CUDNN_DATA_DOUBLE && compute != CUDNN_DATA_HALF
      && compute != CUDNN_DATA_BFLOAT16)
    return CUDNN_STATUS_BAD_PARAM;
  d->set = 1;
  d->pad_h = pad_h, d->pad_w = pad_w, d->u = u, d->v = v, d->dil_h = dil_h, d->dil_w = dil_w;
  d->mode = mode;
  d->compute = compute;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t
cudnnSetConvolutionGroupCount (cudnnConvolutionDescriptor_t d, int groups)
{
  if (d == NULL || groups < 1)
    return CUDNN_STATUS_BAD_PARAM;
  d->groups = groups;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t
cudnnSetConvolutionMathType (cudnnConvolutionDescriptor_t d, cudnnMathType_t math)
{
  if (d == NULL || (math != CUDNN_DEFAULT_MATH && math != CUDNN_TENSOR_OP_MATH
                    && math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION && math != CUDNN_FMA_MATH))
    return CUDNN_STATUS_BAD_PARAM;
  d->math = math;
  return CUDNN_STATUS_SUCCESS;
}

/* x [n, c, h, w] * w [k, c / groups, r, s] -> y [n, k, oh, ow] as cuDNN
 * requires: all set, channels and groups matching, y the output size, and
 * the data and compute types one of the legacy API's configurations that
 * the backend means: FLOAT_CONFIG (float data, float compute) or
 * PSEUDO_BFLOAT16_CONFIG (bfloat16 data, float compute); x, w and y of
 * different types, or another compute type, are not supported (cuDNN has no
 * "true bfloat16" config with bfloat16 compute) */
static cudnnStatus_t
check_conv (const tensor *x, const filter *w, const conv *cd, const tensor *y)
{
  if (x == NULL || w == NULL || cd == NULL || y == NULL || !x->set || !w->set || !cd->set
      || !y->set)
    return CUDNN_STATUS_BAD_PARAM;
  if (x->type != w->type || x->type != y->type || x->format != y->format
      || x->format != w->format || cd->compute != CUDNN_DATA_FLOAT)
    return CUDNN_STATUS_NOT_SUPPORTED;
  int eh = (w->h - 1) * cd->dil_h + 1, ew = (w->w - 1) * cd->dil_w + 1;
  if (x->c != w->c * cd->groups || w->k % cd->groups != 0 || y->n != x->n || y->c != w->k
      || x->h + 2 * cd->pad_h < eh || x->w + 2 * cd->pad_w < ew
      || y->h != (x->h + 2 * cd->pad_h - eh) / cd->u + 1
      || y->w != (x->w + 2 * cd->pad_w - ew) / cd->v + 1)
    return CUDNN_STATUS_BAD_PARAM;
  return CUDNN_STATUS_SUCCESS;
}

/* The algorithms offered, in the heuristics' order.  All compute the same
 * loops; they differ in what they report and in the workspace they need. */
enum { WS_NONE, WS_SMALL, WS_COLS, WS_HUGE };

typedef struct {
  int algo;
  cudnnDeterminism_t det;
  int ws;
  cudnnStatus_t status;
  cudnnMathType_t mixed_math;   /* its math type under ts_fake_cudnn_mixed_math */
} algo_row;

enum { FWD, BWD_DATA, BWD_FILTER };

#define ND CUDNN_NON_DETERMINISTIC
#define DT CUDNN_DETERMINISTIC
#define OK CUDNN_STATUS_SUCCESS
#define FMA CUDNN_FMA_MATH
#define TC CUDNN_TENSOR_OP_MATH
#define DEF CUDNN_DEFAULT_MATH
/* (under ts_fake_cudnn_mixed_math the rows the backend picks, 0, 3 and 4,
 * run with math types other than bfloat16's CUDNN_TENSOR_OP_MATH) */
static const algo_row algos[3][5] = {
  /* (cuDNN's forward algorithms are all deterministic; one is reported
   * otherwise here so that the forward choice is tested too) */
  { { CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, ND, WS_SMALL, OK, FMA },
    { CUDNN_CONVOLUTION_FWD_ALGO_FFT, DT, WS_HUGE, OK, TC },
    { CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD, DT, WS_NONE, CUDNN_STATUS_NOT_SUPPORTED, TC },
    { CUDNN_CONVOLUTION_FWD_ALGO_GEMM, DT, WS_COLS, OK, FMA },
    { CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, DT, WS_NONE, OK, DEF } },
  { { CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, ND, WS_SMALL, OK, FMA },
    { CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT, DT, WS_HUGE, OK, TC },
    { CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD, DT, WS_NONE, CUDNN_STATUS_NOT_SUPPORTED, TC },
    { CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, DT, WS_COLS, OK, FMA },
    { CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED, DT, WS_NONE, OK, DEF } },
  { { CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, ND, WS_SMALL, OK, FMA },
    { CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT, DT, WS_HUGE, OK, TC },
    { CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD, DT, WS_NONE, CUDNN_STATUS_NOT_SUPPORTED, TC },
    { CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, DT, WS_COLS, OK, FMA },
    { CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING, DT, WS_NONE, OK, DEF } },
};
#undef FMA
#undef TC
#undef DEF
#undef ND
#undef DT
#undef OK

/* Find*'s order (timed, fastest first; failures last): the same rows, with
 * the workspace-free deterministic one first, so that a backend that plans
 * with Find* picks another algorithm than with the heuristics whether or not
 * it insists on determinism (the heuristics' first usable rows are the
 * non-deterministic 0, and the deterministic 3) */
static const int find_order[5] = { 4, 0, 3, 1, 2 };

/* bytes: WS_COLS (one image's im2col columns) is always more than WS_SMALL,
 * so that a workspace sized for another row is too small; WS_HUGE is over
 * the backend's 1 GiB cap (DNN_MAX_WORKSPACE) and the emulated GPU's 1 GiB */
static size_t
ws_bytes (int ws, const filter *w, const tensor *y)
{
  switch (ws)
    {
    case WS_SMALL: return 512;
    case WS_COLS: return 1024 + (size_t) w->c * w->h * w->w * y->h * y->w * sizeof (float);
    case WS_HUGE: return (size_t) 1 << 31;
    default: return 0;
    }
}

/* ts_fake_cudnn_no_algo_bf16: ts_fake_cudnn_no_algo refuses bfloat16 data
 * only, float32 convolutions of those directions still offered, as a real
 * cuDNN that lacks a bfloat16 kernel for a layer still has float32 ones:
 * then the bf16 policy's float32 fallback runs through cuDNN, not im2col. */
int ts_fake_cudnn_no_algo_bf16;

/* TS_FAKE_CUDNN_NO_BF16=C: no bfloat16 algorithm in any direction for x of
 * C channels (0: every layer), float32 ones still offered, from the first
 * handle on: a program's bf16 fallback end to end (tests/cuda/test-cuda-cli.c;
 * 3, a stem's RGB input, is the likely case on a GPU) */
static void
no_bf16_from_env (void)
{
  const char *c = getenv ("TS_FAKE_CUDNN_NO_BF16");

  if (c != NULL)
    ts_fake_cudnn_no_algo = 7, ts_fake_cudnn_no_algo_c = atoi (c), ts_fake_cudnn_no_algo_bf16 = 1;
}

/* whether direction @kind offers algorithms for x @x (ts_fake_cudnn_no_algo) */
static int
offered (int kind, const tensor *x)
{
  return !(ts_fake_cudnn_no_algo & (1 << kind))
         || (ts_fake_cudnn_no_algo_c != 0 && x->c != ts_fake_cudnn_no_algo_c)
         || (ts_fake_cudnn_no_algo_bf16 && x->type != CUDNN_DATA_BFLOAT16);
}

/* the row of @algo when the lists offer it as usable for x @x, or NULL */
static const algo_row *
find_algo (int kind, int algo, const tensor *x)
{
  if (!offered (kind, x))
    return NULL;
  for (int i = 0; i < 5; i++)
    if (algos[kind][i].algo == algo && algos[kind][i].status == CUDNN_STATUS_SUCCESS)
      return &algos[kind][i];
  return NULL;
}

/* the math type @r runs with under a descriptor of math type @math */
static cudnnMathType_t
row_math (const algo_row *r, cudnnMathType_t math)
{
  return ts_fake_cudnn_mixed_math ? r->mixed_math : math;
}

/* the workspace @r needs under math type @math (ws_bytes, and under
 * ts_fake_cudnn_mixed_math 4 KiB more for FMA_MATH) */
static size_t
row_ws (const algo_row *r, cudnnMathType_t math, const filter *w, const tensor *y)
{
  size_t extra = ts_fake_cudnn_mixed_math && math == CUDNN_FMA_MATH && r->ws != WS_NONE ? 4096 : 0;
  return ws_bytes (r->ws, w, y) + extra;
}

/* The perf structs differ only in the type of their algo field.  An
 * unsupported row reports its status and nothing else, as cuDNN does.  The
 * workspace: what Find* measured (under the row's math type), or the
 * heuristics' figure under the descriptor's (see ts_fake_cudnn_mixed_math). */
#define FILL_PERF(perf, kind, find, requested, returned, x, w, cd, y)               \
  do {                                                                            \
    int n_ = (requested) < 5 ? (requested) : 5;                                   \
    for (int i_ = 0; i_ < n_; i_++)                                               \
      {                                                                           \
        const algo_row *r_ = &algos[kind][(find) ? find_order[i_] : i_];           \
        int ok_ = r_->status == CUDNN_STATUS_SUCCESS && offered (kind, x);        \
        cudnnMathType_t m_ = row_math (r_, (cd)->math);                           \
        memset (&(perf)[i_], 0, sizeof (perf)[i_]);                               \
        (perf)[i_].algo = r_->algo;                                               \
        (perf)[i_].status = ok_ ? r_->status : CUDNN_STATUS_NOT_SUPPORTED;        \
        (perf)[i_].time = ok_ ? 0.1f * (i_ + 1) : -1.0f;                          \
        (perf)[i_].memory = ok_ ? row_ws (r_, (find) ? m_ : (cd)->math, w, y) : 0; \
        (perf)[i_].determinism = r_->det;                                         \
        (perf)[i_].mathType = m_;                                                 \
      }                                                                           \
    *(returned) = n_;                                                             \
  } while (0)

/* the body of the Get*_v7 and Find* functions (@find: Find*'s order) */
#define ALGO_QUERY(kind, find, x, w, cd, y, requested, returned, perf)            \
  do {                                                                            \
    cudnnStatus_t st_ = check_conv (x, w, cd, y);                                 \
    if (st_ != CUDNN_STATUS_SUCCESS)                                              \
      return st_;                                                                 \
    if (handle == NULL || (requested) < 1 || (returned) == NULL || (perf) == NULL) \
      return CUDNN_STATUS_BAD_PARAM;                                              \
    FILL_PERF (perf, kind, find, requested, returned, x, w, cd, y);               \
    return CUDNN_STATUS_SUCCESS;                                                  \
  } while (0)

/* A direction's heuristics (Get*_v7, @get) and Find* (@find): the same
 * arguments, handle, the descriptors @a1, @a2 (of types @t1, @t2), the
 * convolution's, @a4 (@t4), then requested, returned and perf (@perf_t *);
 * the rows in the heuristics' order or Find*'s, Find* calls counted.  @x,
 * @w, @y: which of the descriptors plays x, w and y for direction @kind. */
#define ALGO_QUERIES(get, find, kind, perf_t, t1, a1, t2, a2, t4, a4, x, w, y)             \
  cudnnStatus_t                                                                             \
  get (cudnnHandle_t handle, const t1 a1, const t2 a2, const cudnnConvolutionDescriptor_t cd, \
       const t4 a4, const int requested, int *returned, perf_t *perf)                        \
  {                                                                                         \
    ALGO_QUERY (kind, 0, x, w, cd, y, requested, returned, perf);                           \
  }                                                                                         \
                                                                                            \
  cudnnStatus_t                                                                             \
  find (cudnnHandle_t handle, const t1 a1, const t2 a2, const cudnnConvolutionDescriptor_t cd, \
        const t4 a4, const int requested, int *returned, perf_t *perf)                       \
  {                                                                                         \
    ts_fake_cudnn_finds++;                                                                  \
    ALGO_QUERY (kind, 1, x, w, cd, y, requested, returned, perf);                           \
  }

ALGO_QUERIES (cudnnGetConvolutionForwardAlgorithm_v7, cudnnFindConvolutionForwardAlgorithm, FWD,
              cudnnConvolutionFwdAlgoPerf_t, cudnnTensorDescriptor_t, x,
              cudnnFilterDescriptor_t, w, cudnnTensorDescriptor_t, y, x, w, y)
ALGO_QUERIES (cudnnGetConvolutionBackwardDataAlgorithm_v7,
              cudnnFindConvolutionBackwardDataAlgorithm, BWD_DATA,
              cudnnConvolutionBwdDataAlgoPerf_t, cudnnFilterDescriptor_t, w,
              cudnnTensorDescriptor_t, dy, cudnnTensorDescriptor_t, dx, dx, w, dy)
ALGO_QUERIES (cudnnGetConvolutionBackwardFilterAlgorithm_v7,
              cudnnFindConvolutionBackwardFilterAlgorithm, BWD_FILTER,
              cudnnConvolutionBwdFilterAlgoPerf_t, cudnnTensorDescriptor_t, x,
              cudnnTensorDescriptor_t, dy, cudnnFilterDescriptor_t, dw, x, dw, dy)
#undef ALGO_QUERIES

/* the body of the Get*WorkspaceSize functions: @algo's workspace under the
 * descriptor's math type */
#define WS_QUERY(kind, x, w, cd, y, algo, size)                                   \
  do {                                                                            \
    cudnnStatus_t st_ = check_conv (x, w, cd, y);                                 \
    const algo_row *r_;                                                           \
    if (st_ != CUDNN_STATUS_SUCCESS)                                              \
      return st_;                                                                 \
    if (handle == NULL || (size) == NULL)                                         \
      return CUDNN_STATUS_BAD_PARAM;                                              \
    if ((r_ = find_algo (kind, algo, x)) == NULL)                                 \
      return CUDNN_STATUS_NOT_SUPPORTED;                                          \
    *(size) = row_ws (r_, (cd)->math, w, y);                                      \
    return CUDNN_STATUS_SUCCESS;                                                  \
  } while (0)

cudnnStatus_t
cudnnGetConvolutionForwardWorkspaceSize (cudnnHandle_t handle, const cudnnTensorDescriptor_t x,
                                         const cudnnFilterDescriptor_t w,
                                         const cudnnConvolutionDescriptor_t cd,
                                         const cudnnTensorDescriptor_t y,
                                         cudnnConvolutionFwdAlgo_t algo, size_t *size)
{
  WS_QUERY (FWD, x, w, cd, y, algo, size);
}

cudnnStatus_t
cudnnGetConvolutionBackwardDataWorkspaceSize (cudnnHandle_t handle,
                                              const cudnnFilterDescriptor_t w,
                                              const cudnnTensorDescriptor_t dy,
                                              const cudnnConvolutionDescriptor_t cd,
                                              const cudnnTensorDescriptor_t dx,
                                              cudnnConvolutionBwdDataAlgo_t algo, size_t *size)
{
  WS_QUERY (BWD_DATA, dx, w, cd, dy, algo, size);
}

cudnnStatus_t
cudnnGetConvolutionBackwardFilterWorkspaceSize (cudnnHandle_t handle,
                                                const cudnnTensorDescriptor_t x,
                                                const cudnnTensorDescriptor_t dy,
                                                const cudnnConvolutionDescriptor_t cd,
                                                const cudnnFilterDescriptor_t dw,
                                                cudnnConvolutionBwdFilterAlgo_t algo,
                                                size_t *size)
{
  WS_QUERY (BWD_FILTER, x, dw, cd, dy, algo, size);
}

/* TF32 as tensor cores see it: the mantissa rounded to 10 bits */
static float
tf32 (float v)
{
  uint32_t b;
  memcpy (&b, &v, 4);
  if ((b & 0x7f800000u) != 0x7f800000u)
    b = (b + 0xfffu + ((b >> 13) & 1u)) & ~0x1fffu;
  memcpy (&v, &b, 4);
  return v;
}

/* a copy of @src rounded to TF32 when @cd's math type lets cuDNN use tensor
 * cores (the default math does, on sm_80 and later); else @src itself */
static const float *
math_input (const conv *cd, const float *src, size_t n, float **copy)
{
  *copy = NULL;
  if (cd->math == CUDNN_FMA_MATH || (*copy = malloc (n * sizeof (float))) == NULL)
    return src;
  for (size_t i = 0; i < n; i++)
    (*copy)[i] = tf32 (src[i]);
  return *copy;
}

/* Index in memory of logical element (a, b, i, j) of an [A, B, H, W] operand:
 * NCHW, or NHWC ([A, H, W, B]; a filter's KRSC) */
static size_t
at (cudnnTensorFormat_t f, int b_count, int h_count, int w_count, int a, int b, int i, int j)
{
  if (f == CUDNN_TENSOR_NHWC)
    return (((size_t) a * h_count + i) * w_count + j) * b_count + b;
  return (((size_t) a * b_count + b) * h_count + i) * w_count + j;
}

/* A float NCHW view of an operand: @src itself when it is float NCHW, else
 * a copy (*copy, to free) of its bfloat16 NHWC values */
static const float *
as_float (cudnnTensorFormat_t f, cudnnDataType_t type, int a_count, int b_count, int h_count,
          int w_count, const void *src, float **copy)
{
  size_t n = (size_t) a_count * b_count * h_count * w_count, k = 0;

  *copy = NULL;
  if (type == CUDNN_DATA_FLOAT)
    return src;
  if ((*copy = malloc (n * sizeof (float))) == NULL)
    return NULL;
  for (int a = 0; a < a_count; a++)
    for (int b = 0; b < b_count; b++)
      for (int i = 0; i < h_count; i++)
        for (int j = 0; j < w_count; j++)
          (*copy)[k++] = ts_f32_from_bf16 (
            ((const uint16_t *) src)[at (f, b_count, h_count, w_count, a, b, i, j)]);
  return *copy;
}

/* float NCHW @v into the bfloat16 NHWC operand @dst, rounded to nearest even */
static void
store_bf16 (cudnnTensorFormat_t f, int a_count, int b_count, int h_count, int w_count,
            const float *v, void *dst)
{
  size_t k = 0;

  for (int a = 0; a < a_count; a++)
    for (int b = 0; b < b_count; b++)
      for (int i = 0; i < h_count; i++)
        for (int j = 0; j < w_count; j++)
          ((uint16_t *) dst)[at (f, b_count, h_count, w_count, a, b, i, j)]
            = ts_bf16_from_f32 (v[k++]);
}

/* ---- Failures at execution, for ts-cuda-cudnn.c's fall-through: a real
 * cuDNN may turn down, when run, an algorithm its heuristics offered
 * (NOT_SUPPORTED, BAD_PARAM, an internal or execution failure).
 * ts_fake_cudnn_fail_first[kind] (FWD, BWD_DATA, BWD_FILTER): the first
 * that many distinct algorithms that direction runs fail, returning
 * ts_fake_cudnn_fail_status, and fail again whenever run
 * (ts_fake_cudnn_failing[kind], a bit per algorithm, keeps them; a test may
 * set bits itself to doom given algorithms).  A failed run leaves garbage
 * (all ones: NaN in float32 and bfloat16) in its output and workspace, as
 * a real one may have written part of them before failing
 * (scribble_failure): a caller that keeps a failed try's output shows.
 * ts_fake_cudnn_fail_fault: a CUDA error each such failure leaves sticky in
 * the fake runtime (ts_fake_cuda_sticky: a kernel's fault,
 * cudaErrorIllegalAddress).  ts_fake_cudnn_tries[kind][algo]: the runs that
 * reached the algorithm, failed or not.  The tests read and set these
 * through weak references; ts_fake_cudnn_fail_reset clears them all. */
int ts_fake_cudnn_fail_first[3];
unsigned ts_fake_cudnn_failing[3];
cudnnStatus_t ts_fake_cudnn_fail_status;
int ts_fake_cudnn_fail_fault;
long ts_fake_cudnn_tries[3][8];

extern cudaError_t ts_fake_cuda_sticky;   /* fake-cudart.c */

void ts_fake_cudnn_fail_reset (void);

void
ts_fake_cudnn_fail_reset (void)
{
  memset (ts_fake_cudnn_fail_first, 0, sizeof ts_fake_cudnn_fail_first);
  memset (ts_fake_cudnn_failing, 0, sizeof ts_fake_cudnn_failing);
  memset (ts_fake_cudnn_tries, 0, sizeof ts_fake_cudnn_tries);
  ts_fake_cudnn_fail_status = CUDNN_STATUS_SUCCESS;
  ts_fake_cudnn_fail_fault = 0;
  ts_fake_cuda_sticky = cudaSuccess;
}

/* CUDNN_STATUS_SUCCESS, or the failure of direction @kind's @algo at execution */
static cudnnStatus_t
injected_failure (int kind, int algo)
{
  unsigned bit, *failing = &ts_fake_cudnn_failing[kind];

  if (algo < 0 || algo >= 8)
    return CUDNN_STATUS_SUCCESS;
  bit = 1u << algo;
  ts_fake_cudnn_tries[kind][algo]++;
  if (!(*failing & bit) && __builtin_popcount (*failing) < ts_fake_cudnn_fail_first[kind])
    *failing |= bit;
  if (!(*failing & bit))
    return CUDNN_STATUS_SUCCESS;
  if (ts_fake_cudnn_fail_fault)
    ts_fake_cuda_sticky = (cudaError_t) ts_fake_cudnn_fail_fault;
  return ts_fake_cudnn_fail_status;
}

/* What a failed run of direction @kind leaves: all ones over its output
 * (whose shape is y's, x's or w's, its type x's) and over the workspace
 * (its first MiB at most, as run writes it) */
static void
scribble_failure (int kind, const tensor *xd, const filter *wd, const tensor *yd, void *out,
                  void *ws, size_t ws_size)
{
  size_t n = kind == FWD        ? (size_t) yd->n * yd->c * yd->h * yd->w
             : kind == BWD_DATA ? (size_t) xd->n * xd->c * xd->h * xd->w
                                : (size_t) wd->k * wd->c * wd->h * wd->w;

  memset (out, 0xff, n * (xd->type == CUDNN_DATA_BFLOAT16 ? 2 : 4));
  if (ws)
    memset (ws, 0xff, ws_size < ((size_t) 1 << 20) ? ws_size : ((size_t) 1 << 20));
}

static cudnnStatus_t run_float (int kind, const tensor *xd, const float *x, const filter *wd,
                                const float *w, const conv *cd, float alpha, float beta,
                                const tensor *yd, const float *y, float *out);

/* One convolution, @kind picking which of x, w, y is the output (NULL), after
 * cuDNN's checks; bfloat16 operands go through float NCHW copies (the
 * output's holding its old values, for beta) and come back rounded. */
static cudnnStatus_t
run (int kind, cudnnHandle_t handle, const void *alpha_p, const tensor *xd, const void *x,
     const filter *wd, const void *w, const conv *cd, int algo, void *ws, size_t ws_size,
     const void *beta_p, const tensor *yd, const void *y, void *out)
{
  cudnnStatus_t st = check_conv (xd, wd, cd, yd);
  const algo_row *row = st == CUDNN_STATUS_SUCCESS ? find_algo (kind, algo, xd) : NULL;
  size_t need;
  float *xb = NULL, *wb = NULL, *yb = NULL, *ob = NULL;
  const float *xf = NULL, *wf = NULL, *yf = NULL, *of;

  if (st != CUDNN_STATUS_SUCCESS)
    return st;
  if (handle == NULL || alpha_p == NULL || beta_p == NULL || out == NULL
      || (kind != BWD_DATA && x == NULL) || (kind != BWD_FILTER && w == NULL)
      || (kind != FWD && y == NULL))
    return CUDNN_STATUS_BAD_PARAM;
  /* the handle's stream's queued copies first; the convolution then runs at once */
  tsk_emu_stream_ready (handle->stream);
  if (row == NULL || cd->math != row_math (row, cd->math))
    return CUDNN_STATUS_NOT_SUPPORTED;   /* not an algorithm offered for this, or not its math */
  if ((st = injected_failure (kind, algo)) != CUDNN_STATUS_SUCCESS)
    {
      scribble_failure (kind, xd, wd, yd, out, ws, ws_size);
      return st;
    }
  /* the workspace the algorithm needs under this math type: less is an
   * error; the workspace is written (ends included) so that a buffer
   * smaller than @ws_size shows under ASan (not all of a huge one: it would
   * be slow) */
  need = row_ws (row, cd->math, wd, yd);
  if (ws_size < need || (need > 0 && ws == NULL))
    return CUDNN_STATUS_BAD_PARAM;
  if (need > 0)
    {
      memset (ws, 0xA5, need < ((size_t) 1 << 20) ? need : ((size_t) 1 << 20));
      ((unsigned char *) ws)[need - 1] = 0x5A;
    }
  ts_fake_cudnn_nondeterministic += row->det == CUDNN_NON_DETERMINISTIC;

  /* float data: alpha and beta are floats (so for bfloat16 data: cuDNN's
   * scaling parameters are float for every type but double) */
  float alpha = *(const float *) alpha_p, beta = *(const float *) beta_p;
  if (kind != BWD_DATA)
    xf = as_float (xd->format, xd->type, xd->n, xd->c, xd->h, xd->w, x, &xb);
  if (kind != BWD_FILTER)
    wf = as_float (wd->format, wd->type, wd->k, wd->c, wd->h, wd->w, w, &wb);
  if (kind != FWD)
    yf = as_float (yd->format, yd->type, yd->n, yd->c, yd->h, yd->w, y, &yb);
  /* the output's shape [a, b, h, w] and its float NCHW view */
  const int o[4] = { kind == FWD ? yd->n : kind == BWD_DATA ? xd->n : wd->k,
                     kind == FWD ? yd->c : kind == BWD_DATA ? xd->c : wd->c,
                     kind == FWD ? yd->h : kind == BWD_DATA ? xd->h : wd->h,
                     kind == FWD ? yd->w : kind == BWD_DATA ? xd->w : wd->w };
  cudnnTensorFormat_t of_format = kind == BWD_FILTER ? wd->format : xd->format;
  of = as_float (of_format, xd->type, o[0], o[1], o[2], o[3], out, &ob);
  if ((kind != BWD_DATA && xf == NULL) || (kind != BWD_FILTER && wf == NULL)
      || (kind != FWD && yf == NULL) || of == NULL)
    st = CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
  else
    st = run_float (kind, xd, xf, wd, wf, cd, alpha, beta, yd, yf, (float *) of);
  if (st == CUDNN_STATUS_SUCCESS && ob != NULL)
    store_bf16 (of_format, o[0], o[1], o[2], o[3], ob, out);
  free (xb);
  free (wb);
  free (yb);
  free (ob);
  return st;
}

/* The loops on float NCHW operands: for every output pixel and filter tap,
 * acc[out] += product of the other two; then out = alpha * acc + beta * out
 * (out not read when beta is 0). */
static cudnnStatus_t
run_float (int kind, const tensor *xd, const float *x, const filter *wd, const float *w,
           const conv *cd, float alpha, float beta, const tensor *yd, const float *y, float *out)
{
  size_t nx, nw, ny, n_out;
  float *xc, *wc, *yc;
  double *acc;

  const int N = xd->n, C = xd->c, H = xd->h, W = xd->w, K = wd->k, CG = wd->c;
  const int R = wd->h, S = wd->w, OH = yd->h, OW = yd->w, KG = K / cd->groups;
  nx = (size_t) N * C * H * W;
  nw = (size_t) K * CG * R * S;
  ny = (size_t) N * K * OH * OW;
  n_out = kind == FWD ? ny : kind == BWD_DATA ? nx : nw;
  if ((acc = calloc (n_out, sizeof *acc)) == NULL)
    return CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED;
  if (kind != BWD_DATA)
    x = math_input (cd, x, nx, &xc);
  else
    xc = NULL;
  if (kind != BWD_FILTER)
    w = math_input (cd, w, nw, &wc);
  else
    wc = NULL;
  if (kind != FWD)
    y = math_input (cd, y, ny, &yc);
  else
    yc = NULL;

  /* per filter tap, the range of outputs ox whose input column
   * ix = ox * v + x0 is inside (no test in the innermost loops) */
  for (int k = 0; k < K; k++)
    for (int cg = 0; cg < CG; cg++)
      for (int r = 0; r < R; r++)
        for (int s = 0; s < S; s++)
          {
            int c = k / KG * CG + cg;
            /* CUDNN_CONVOLUTION flips the filter; cross-correlation does not */
            int fr = cd->mode == CUDNN_CONVOLUTION ? R - 1 - r : r;
            int fs = cd->mode == CUDNN_CONVOLUTION ? S - 1 - s : s;
            size_t wi = (((size_t) k * CG + cg) * R + fr) * S + fs;
            int x0 = s * cd->dil_w - cd->pad_w;
            int lo = x0 < 0 ? (-x0 + cd->v - 1) / cd->v : 0;
            int hi = W - 1 - x0 < 0 ? -1 : (W - 1 - x0) / cd->v;
            double sum = 0.0;
            if (hi > OW - 1)
              hi = OW - 1;
            for (int n = 0; n < N; n++)
              for (int oy = 0; oy < OH; oy++)
                {
                  int iy = oy * cd->u - cd->pad_h + r * cd->dil_h;
                  if (iy < 0 || iy >= H)
                    continue;
                  /* x0 may be negative: xb + ox * v is not, for ox >= lo */
                  size_t xb = (((size_t) n * C + c) * H + iy) * W + x0;
                  size_t yb = (((size_t) n * K + k) * OH + oy) * OW;
                  if (kind == FWD)
                    for (int ox = lo; ox <= hi; ox++)
                      acc[yb + ox] += (double) x[xb + (size_t) ox * cd->v] * w[wi];
                  else if (kind == BWD_DATA)
                    for (int ox = lo; ox <= hi; ox++)
                      acc[xb + (size_t) ox * cd->v] += (double) w[wi] * y[yb + ox];
                  else
                    for (int ox = lo; ox <= hi; ox++)
                      sum += (double) x[xb + (size_t) ox * cd->v] * y[yb + ox];
                }
            if (kind == BWD_FILTER)
              acc[wi] += sum;
          }

  for (size_t i = 0; i < n_out; i++)
    out[i] = (float) (alpha * acc[i] + (beta == 0.0f ? 0.0 : (double) beta * out[i]));
  free (acc);
  free (xc);
  free (wc);
  free (yc);
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t
cudnnConvolutionForward (cudnnHandle_t handle, const void *alpha,
                         const cudnnTensorDescriptor_t xd, const void *x,
                         const cudnnFilterDescriptor_t wd, const void *w,
                         const cudnnConvolutionDescriptor_t cd, cudnnConvolutionFwdAlgo_t algo,
                         void *ws, size_t ws_size, const void *beta,
                         const cudnnTensorDescriptor_t yd, void *y)
{
  cudnnStatus_t st = run (FWD, handle, alpha, xd, x, wd, w, cd, algo, ws, ws_size, beta, yd,
                          NULL, y);
  ts_fake_cudnn_forwards += st == CUDNN_STATUS_SUCCESS;
  return st;
}

cudnnStatus_t
cudnnConvolutionBackwardData (cudnnHandle_t handle, const void *alpha,
                              const cudnnFilterDescriptor_t wd, const void *w,
                              const cudnnTensorDescriptor_t dyd, const void *dy,
                              const cudnnConvolutionDescriptor_t cd,
                              cudnnConvolutionBwdDataAlgo_t algo, void *ws, size_t ws_size,
                              const void *beta, const cudnnTensorDescriptor_t dxd, void *dx)
{
  cudnnStatus_t st = run (BWD_DATA, handle, alpha, dxd, NULL, wd, w, cd, algo, ws, ws_size,
                          beta, dyd, dy, dx);
  ts_fake_cudnn_backward_data += st == CUDNN_STATUS_SUCCESS;
  return st;
}

cudnnStatus_t
cudnnConvolutionBackwardFilter (cudnnHandle_t handle, const void *alpha,
                                const cudnnTensorDescriptor_t xd, const void *x,
                                const cudnnTensorDescriptor_t dyd, const void *dy,
                                const cudnnConvolutionDescriptor_t cd,
                                cudnnConvolutionBwdFilterAlgo_t algo, void *ws, size_t ws_size,
                                const void *beta, const cudnnFilterDescriptor_t dwd, void *dw)
{
  cudnnStatus_t st = run (BWD_FILTER, handle, alpha, xd, x, dwd, NULL, cd, algo, ws, ws_size,
                          beta, dyd, dy, dw);
  ts_fake_cudnn_backward_filter += st == CUDNN_STATUS_SUCCESS;
  return st;
}

/* What the fake refuses of the data types, formats and compute types, as
 * cuDNN does: tests/cuda/test-cuda-bf16.c calls this through a weak
 * reference (absent with the real cuDNN).  NULL when every case plans (or
 * is refused) as expected, else the first case that was not; the handle and
 * descriptors made here are destroyed (ts_fake_cudnn_live unchanged). */
const char *ts_fake_cudnn_check_types (void);

const char *
ts_fake_cudnn_check_types (void)
{
#define F CUDNN_DATA_FLOAT
#define B CUDNN_DATA_BFLOAT16
#define NCHW CUDNN_TENSOR_NCHW
#define NHWC CUDNN_TENSOR_NHWC
  static const struct {
    cudnnDataType_t x, w, y, compute;
    cudnnTensorFormat_t xf, wf;
    cudnnStatus_t set, plan;   /* of the descriptors' set-up, of the algorithm query */
    const char *what;
  } cases[] = {
    { F, F, F, F, NCHW, NCHW, CUDNN_STATUS_SUCCESS, CUDNN_STATUS_SUCCESS, "float NCHW" },
    { B, B, B, F, NHWC, NHWC, CUDNN_STATUS_SUCCESS, CUDNN_STATUS_SUCCESS,
      "bfloat16 NHWC, float compute (PSEUDO_BFLOAT16_CONFIG)" },
    { B, B, B, B, NHWC, NHWC, CUDNN_STATUS_SUCCESS, CUDNN_STATUS_NOT_SUPPORTED,
      "bfloat16 compute (no such config)" },
    { F, F, F, B, NCHW, NCHW, CUDNN_STATUS_SUCCESS, CUDNN_STATUS_NOT_SUPPORTED,
      "float data, bfloat16 compute" },
    { B, F, B, F, NHWC, NCHW, CUDNN_STATUS_SUCCESS, CUDNN_STATUS_NOT_SUPPORTED,
      "bfloat16 x and y, float filter" },
    /* the backend never means these */
    { F, F, F, F, NHWC, NCHW, CUDNN_STATUS_NOT_SUPPORTED, 0, "float NHWC" },
    { B, B, B, F, NCHW, NCHW, CUDNN_STATUS_NOT_SUPPORTED, 0, "bfloat16 NCHW" },
  };
#undef F
#undef B
#undef NCHW
#undef NHWC
  const char *bad = NULL;
  cudnnHandle_t h;

  if (cudnnCreate (&h) != CUDNN_STATUS_SUCCESS)
    return "cudnnCreate";
  for (size_t i = 0; i < sizeof cases / sizeof cases[0] && bad == NULL; i++)
    {
      cudnnTensorDescriptor_t xd, yd;
      cudnnFilterDescriptor_t wd;
      cudnnConvolutionDescriptor_t cd;
      cudnnConvolutionFwdAlgoPerf_t perf[8];
      cudnnStatus_t set;
      int n = 0;

      cudnnCreateTensorDescriptor (&xd);
      cudnnCreateTensorDescriptor (&yd);
      cudnnCreateFilterDescriptor (&wd);
      cudnnCreateConvolutionDescriptor (&cd);
      set = cudnnSetTensor4dDescriptor (xd, cases[i].xf, cases[i].x, 1, 4, 5, 5);
      if (set == CUDNN_STATUS_SUCCESS)
        set = cudnnSetFilter4dDescriptor (wd, cases[i].w, cases[i].wf, 8, 4, 3, 3);
      if (set == CUDNN_STATUS_SUCCESS)
        set = cudnnSetTensor4dDescriptor (yd, cases[i].xf, cases[i].y, 1, 8, 5, 5);
      if (set == CUDNN_STATUS_SUCCESS)
        set = cudnnSetConvolution2dDescriptor (cd, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                               cases[i].compute);
      if (set != cases[i].set
          || (set == CUDNN_STATUS_SUCCESS
              && cudnnGetConvolutionForwardAlgorithm_v7 (h, xd, wd, cd, yd, 8, &n, perf)
                 != cases[i].plan))
        bad = cases[i].what;
      cudnnDestroyTensorDescriptor (xd);
      cudnnDestroyTensorDescriptor (yd);
      cudnnDestroyFilterDescriptor (wd);
      cudnnDestroyConvolutionDescriptor (cd);
    }
  cudnnDestroy (h);
  return bad;
}
