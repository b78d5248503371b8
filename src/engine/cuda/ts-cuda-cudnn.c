/* ts-cuda-cudnn.c: convolutions through cuDNN (when loadable; TS_CUDA_CUDNN=0 turns it off).
 *
 * cuDNN is opened with dlopen like cuBLAS.  Each conv geometry gets its
 * descriptors once, and each of its three directions (forward, data and
 * filter gradients) its algorithm on its first use (cuDNN's heuristics,
 * preferring deterministic algorithms; the math type cuDNN offered it with,
 * set before every call; the workspace asked under that math type, from the
 * backend's scratch), kept in a cache that evicts the least recently used
 * geometry when full.  A float32 convolution with TFLite's asymmetric SAME
 * padding, when it changes the output size, is left to the im2col path
 * (cuDNN pads symmetrically).
 *
 * A planned algorithm may still fail when it runs: cuDNN's heuristics offer
 * candidates that cudnnConvolution* then turns down (NOT_SUPPORTED,
 * BAD_PARAM for an algorithm / layout combination, an internal or execution
 * failure), or its workspace cannot be allocated.  As PyTorch's
 * try_algorithms (aten/src/ATen/native/cudnn/Conv_v7.cpp) does, that
 * algorithm (with its math type) is then refused for that geometry and
 * direction, the direction planned again from the next candidate by the
 * same rules, and the call run again (fall_through): each call writes its
 * output alone and all of it (beta = 0), so a retry is safe.  Not when CUDA
 * itself reports an error after the failure (a kernel's fault leaves the
 * context lost, sticky): that is recorded, never retried.  A direction that
 * runs out of candidates this way stays refused (PLAN_FAILED, the last
 * answer kept for ts_cuda_dnn_refusal) and the call returns 0, so float32
 * takes the im2col path and bfloat16 runs in float32 (ts-cuda-gemm.c);
 * ts_backend_cuda_dnn_stats counts both, and the candidates given up for a
 * workspace that could not be allocated apart (no_memory).
 *
 * bfloat16 NHWC convolutions (the bf16 precision policy, docs/cuda.md) run
 * in bfloat16 only here (their one other path is ts-cuda-gemm.c's float32
 * fallback, on converted copies: slower): x, y and their gradients are
 * CUDNN_DATA_BFLOAT16 in CUDNN_TENSOR_NHWC, the weight a bfloat16 KRSC copy of the float32 KCRS
 * parameter made in the scratch (tsk_convert from F32 NCHW to BF16 NHWC of
 * the 4-d weight is exactly that), and the filter gradient lands there as
 * bfloat16 KRSC before tsk_convert writes it back as float32 KCRS.  The
 * cache is keyed on the geometry and the dtype, so an F32 and a BF16 conv of
 * one geometry keep their own descriptors and algorithms.  A bfloat16
 * convolution whose padding cuDNN cannot express (TFLite's asymmetric SAME
 * padding) runs unpadded on a zero-padded copy of x in the scratch, its dx
 * cropped back from a padded one (bf16_plan): float32 has im2col for those,
 * bfloat16 would otherwise run them in float32.
 * On by default when libcudnn.so.9 loads; scripts/gpu-check runs the parity
 * tests with and without it on a GPU, and the host emulation runs this file
 * against tests/cuda/emu/fake-cudnn.c in CI.
 */
#define _GNU_SOURCE
#include "ts-cuda-private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TS_HAVE_CUDNN

int
ts_cuda_dnn_open (ts_backend *be)
{
  ts_error (TS_ERR_DEVICE, "built without cudnn.h");
  return 0;
}

void
ts_cuda_dnn_close (ts_backend *be)
{
}

int
ts_cuda_dnn_conv_forward (ts_backend *be, const tsk_conv_geom *g, const float *x,
                          const float *w, float *y)
{
  return 0;
}

int
ts_cuda_dnn_conv_backward (ts_backend *be, const tsk_conv_geom *g, const float *x,
                           const float *w, const float *dy, float *dx, float *dw)
{
  return 0;
}

int
ts_cuda_dnn_conv_forward_bf16 (ts_backend *be, const tsk_conv_geom *g, const void *x,
                               const float *w, void *y)
{
  return 0;
}

int
ts_cuda_dnn_conv_backward_bf16 (ts_backend *be, const tsk_conv_geom *g, const void *x,
                                const float *w, const void *dy, void *dx, float *dw,
                                int *dx_done)
{
  *dx_done = 0;
  return 0;
}

ts_dnn_part
ts_cuda_dnn_refusal (ts_backend *be, const char **status)
{
  *status = "built without cudnn.h";
  return TS_DNN_DESCRIPTORS;
}

void
ts_backend_cuda_dnn_stats (ts_backend *be, ts_cuda_dnn_stats *stats)
{
  *stats = (ts_cuda_dnn_stats) { 0, 0, 0 };
}

#else

#include <dlfcn.h>

#include <cudnn.h>

/* DNN_CACHE geometries keep their descriptors and plans; a new one past that
 * takes the slot of the least recently used (its descriptors destroyed), so
 * that a long session (many batch sizes: a last partial batch, evaluation,
 * predictions, the LR finder, float32 and bfloat16 alike) never runs out. */
#define DNN_CACHE 512
#define DNN_MAX_WORKSPACE ((size_t) 1 << 30)
#define DNN_CANDIDATES 8

enum { PLAN_NONE, PLAN_READY, PLAN_FAILED };

/* One of a geometry's three convolutions (TS_DNN_FORWARD, _DATA, _FILTER),
 * planned on its first use: an evaluation or a layer whose dx is never asked
 * for (the stem's) never plans the directions it does not run, so that one
 * cuDNN cannot do does not take the others down. */
typedef struct {
  int state;             /* PLAN_*: a failure is kept, planned once, not on every call */
  int algo;              /* a cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t */
  cudnnMathType_t math;  /* the math type cuDNN offered the algorithm with */
  size_t ws;             /* its workspace under that math type */
  cudnnStatus_t why;     /* PLAN_FAILED: cuDNN's answer */
  int n_refused;         /* candidates that failed when run (fall_through): never again */
  struct {
    int algo;
    cudnnMathType_t math;
  } refused[DNN_CANDIDATES];
} dnn_plan;

typedef struct {
  tsk_conv_geom g;
  int bf16;       /* with g, the key: bfloat16 NHWC data, else float32 NCHW */
  uint64_t used;  /* the lookup count at its last use: the smallest is evicted */
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  cudnnMathType_t math;   /* the policy's math type, which the algorithm queries see */
  cudnnStatus_t failed;   /* the descriptors could not be set: cuDNN's answer */
  dnn_plan plan[3];       /* by ts_dnn_part */
} dnn_entry;

struct ts_cuda_dnn {
  void *lib;
  cudnnHandle_t handle;
  int tf32;
  int deterministic;   /* prefer deterministic algorithms (TS_CUDA_DETERMINISTIC, default 1) */
  int search;          /* time the algorithms (TS_CUDA_CONV_SEARCH=1) instead of heuristics */
  dnn_entry cache[DNN_CACHE];
  uint64_t hash[DNN_CACHE];   /* of each slot's key, apart: a lookup scans 4 KiB */
  int n_cache;
  uint64_t tick;       /* lookups so far */
  ts_dnn_part refused; /* why the last convolution was not taken ... */
  cudnnStatus_t refused_why;   /* ... and cuDNN's answer */
  ts_cuda_dnn_stats stats;     /* fall_through's counts */
#define F(ret, name, args) ret (*name) args
  F (cudnnStatus_t, create, (cudnnHandle_t *));
  F (cudnnStatus_t, destroy, (cudnnHandle_t));
  F (cudnnStatus_t, set_stream, (cudnnHandle_t, cudaStream_t));
  F (const char *, error_string, (cudnnStatus_t));
  F (cudnnStatus_t, create_tensor, (cudnnTensorDescriptor_t *));
  F (cudnnStatus_t, set_tensor4d, (cudnnTensorDescriptor_t, cudnnTensorFormat_t, cudnnDataType_t,
                                   int, int, int, int));
  F (cudnnStatus_t, destroy_tensor, (cudnnTensorDescriptor_t));
  F (cudnnStatus_t, create_filter, (cudnnFilterDescriptor_t *));
  F (cudnnStatus_t, set_filter4d, (cudnnFilterDescriptor_t, cudnnDataType_t, cudnnTensorFormat_t,
                                   int, int, int, int));
  F (cudnnStatus_t, destroy_filter, (cudnnFilterDescriptor_t));
  F (cudnnStatus_t, create_conv, (cudnnConvolutionDescriptor_t *));
  F (cudnnStatus_t, set_conv2d, (cudnnConvolutionDescriptor_t, int, int, int, int, int, int,
                                 cudnnConvolutionMode_t, cudnnDataType_t));
  F (cudnnStatus_t, set_groups, (cudnnConvolutionDescriptor_t, int));
  F (cudnnStatus_t, set_math, (cudnnConvolutionDescriptor_t, cudnnMathType_t));
  F (cudnnStatus_t, destroy_conv, (cudnnConvolutionDescriptor_t));
  F (cudnnStatus_t, get_fwd, (cudnnHandle_t, cudnnTensorDescriptor_t, cudnnFilterDescriptor_t,
                              cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, int, int *,
                              cudnnConvolutionFwdAlgoPerf_t *));
  F (cudnnStatus_t, get_bwd_data, (cudnnHandle_t, cudnnFilterDescriptor_t,
                                   cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,
                                   cudnnTensorDescriptor_t, int, int *,
                                   cudnnConvolutionBwdDataAlgoPerf_t *));
  F (cudnnStatus_t, get_bwd_filter, (cudnnHandle_t, cudnnTensorDescriptor_t,
                                     cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,
                                     cudnnFilterDescriptor_t, int, int *,
                                     cudnnConvolutionBwdFilterAlgoPerf_t *));
  F (cudnnStatus_t, fwd_ws, (cudnnHandle_t, cudnnTensorDescriptor_t, cudnnFilterDescriptor_t,
                             cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t,
                             cudnnConvolutionFwdAlgo_t, size_t *));
  F (cudnnStatus_t, bwd_data_ws, (cudnnHandle_t, cudnnFilterDescriptor_t, cudnnTensorDescriptor_t,
                                  cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t,
                                  cudnnConvolutionBwdDataAlgo_t, size_t *));
  F (cudnnStatus_t, bwd_filter_ws, (cudnnHandle_t, cudnnTensorDescriptor_t,
                                    cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,
                                    cudnnFilterDescriptor_t, cudnnConvolutionBwdFilterAlgo_t,
                                    size_t *));
  /* optional: cuDNN's own timing of every algorithm (it allocates its buffers) */
  F (cudnnStatus_t, find_fwd, (cudnnHandle_t, cudnnTensorDescriptor_t, cudnnFilterDescriptor_t,
                               cudnnConvolutionDescriptor_t, cudnnTensorDescriptor_t, int, int *,
                               cudnnConvolutionFwdAlgoPerf_t *));
  F (cudnnStatus_t, find_bwd_data, (cudnnHandle_t, cudnnFilterDescriptor_t,
                                    cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,
                                    cudnnTensorDescriptor_t, int, int *,
                                    cudnnConvolutionBwdDataAlgoPerf_t *));
  F (cudnnStatus_t, find_bwd_filter, (cudnnHandle_t, cudnnTensorDescriptor_t,
                                      cudnnTensorDescriptor_t, cudnnConvolutionDescriptor_t,
                                      cudnnFilterDescriptor_t, int, int *,
                                      cudnnConvolutionBwdFilterAlgoPerf_t *));
  F (cudnnStatus_t, forward, (cudnnHandle_t, const void *, cudnnTensorDescriptor_t, const void *,
                              cudnnFilterDescriptor_t, const void *, cudnnConvolutionDescriptor_t,
                              cudnnConvolutionFwdAlgo_t, void *, size_t, const void *,
                              cudnnTensorDescriptor_t, void *));
  F (cudnnStatus_t, backward_data, (cudnnHandle_t, const void *, cudnnFilterDescriptor_t,
                                    const void *, cudnnTensorDescriptor_t, const void *,
                                    cudnnConvolutionDescriptor_t, cudnnConvolutionBwdDataAlgo_t,
                                    void *, size_t, const void *, cudnnTensorDescriptor_t,
                                    void *));
  F (cudnnStatus_t, backward_filter, (cudnnHandle_t, const void *, cudnnTensorDescriptor_t,
                                      const void *, cudnnTensorDescriptor_t, const void *,
                                      cudnnConvolutionDescriptor_t,
                                      cudnnConvolutionBwdFilterAlgo_t, void *, size_t,
                                      const void *, cudnnFilterDescriptor_t, void *));
#undef F
};

static int
dnn_ok (ts_cuda_dnn *d, cudnnStatus_t st, const char *op)
{
  if (st == CUDNN_STATUS_SUCCESS)
    return 1;
  ts_error (TS_ERR_DEVICE, "cuDNN %s failed: %s", op, d->error_string (st));
  return 0;
}

int
ts_cuda_dnn_open (ts_backend *be)
{
  ts_cuda_dnn *d = calloc (1, sizeof *d);

  if (d == NULL)
    {
      ts_error (TS_ERR_NOMEM, "out of memory");
      return 0;
    }
#ifdef TS_CUDA_EMULATED
  /* tests/cuda/emu: the fake cuDNN is linked in (never the real library,
   * which needs a GPU); assigning the functions also checks their types */
#define SYM(field, name) d->field = name
#define OPT(field, name) d->field = name
#else
  static const char *names[] = { "libcudnn.so.9", "libcudnn.so" };
  for (size_t i = 0; i < sizeof names / sizeof names[0] && d->lib == NULL; i++)
    d->lib = dlopen (names[i], RTLD_NOW | RTLD_LOCAL);
  if (d->lib == NULL)
    {
      ts_error (TS_ERR_DEVICE, "cuDNN (libcudnn.so.9) not found: %s", dlerror ());
      free (d);
      return 0;
    }
#define SYM(field, name)                                         \
  do {                                                           \
    *(void **) &d->field = dlsym (d->lib, #name);                \
    if (d->field == NULL)                                        \
      {                                                          \
        ts_error (TS_ERR_DEVICE, "cuDNN has no %s", #name);      \
        dlclose (d->lib);                                        \
        free (d);                                                \
        return 0;                                                \
      }                                                          \
  } while (0)
#define OPT(field, name) *(void **) &d->field = dlsym (d->lib, #name)
#endif
  SYM (create, cudnnCreate);
  SYM (destroy, cudnnDestroy);
  SYM (set_stream, cudnnSetStream);
  SYM (error_string, cudnnGetErrorString);
  SYM (create_tensor, cudnnCreateTensorDescriptor);
  SYM (set_tensor4d, cudnnSetTensor4dDescriptor);
  SYM (destroy_tensor, cudnnDestroyTensorDescriptor);
  SYM (create_filter, cudnnCreateFilterDescriptor);
  SYM (set_filter4d, cudnnSetFilter4dDescriptor);
  SYM (destroy_filter, cudnnDestroyFilterDescriptor);
  SYM (create_conv, cudnnCreateConvolutionDescriptor);
  SYM (set_conv2d, cudnnSetConvolution2dDescriptor);
  SYM (set_groups, cudnnSetConvolutionGroupCount);
  SYM (set_math, cudnnSetConvolutionMathType);
  SYM (destroy_conv, cudnnDestroyConvolutionDescriptor);
  SYM (get_fwd, cudnnGetConvolutionForwardAlgorithm_v7);
  SYM (get_bwd_data, cudnnGetConvolutionBackwardDataAlgorithm_v7);
  SYM (get_bwd_filter, cudnnGetConvolutionBackwardFilterAlgorithm_v7);
  SYM (fwd_ws, cudnnGetConvolutionForwardWorkspaceSize);
  SYM (bwd_data_ws, cudnnGetConvolutionBackwardDataWorkspaceSize);
  SYM (bwd_filter_ws, cudnnGetConvolutionBackwardFilterWorkspaceSize);
  SYM (forward, cudnnConvolutionForward);
  SYM (backward_data, cudnnConvolutionBackwardData);
  SYM (backward_filter, cudnnConvolutionBackwardFilter);
  OPT (find_fwd, cudnnFindConvolutionForwardAlgorithm);
  OPT (find_bwd_data, cudnnFindConvolutionBackwardDataAlgorithm);
  OPT (find_bwd_filter, cudnnFindConvolutionBackwardFilterAlgorithm);
#undef SYM
#undef OPT
  if (d->create (&d->handle) != CUDNN_STATUS_SUCCESS
      || d->set_stream (d->handle, ts_cuda (be)->stream) != CUDNN_STATUS_SUCCESS)
    {
      ts_error (TS_ERR_DEVICE, "cuDNN: cannot create a handle");
      if (d->handle)
        d->destroy (d->handle);
      if (d->lib)
        dlclose (d->lib);
      free (d);
      return 0;
    }
  d->tf32 = ts_cuda (be)->tf32_conv;
  d->deterministic = !(getenv ("TS_CUDA_DETERMINISTIC")
                       && strcmp (getenv ("TS_CUDA_DETERMINISTIC"), "0") == 0);
  d->search = getenv ("TS_CUDA_CONV_SEARCH") && strcmp (getenv ("TS_CUDA_CONV_SEARCH"), "1") == 0
              && d->find_fwd && d->find_bwd_data && d->find_bwd_filter;
  ts_cuda (be)->dnn = d;
  return 1;
}

/* the descriptors an entry holds (some may be missing after a failure) */
static void
entry_release (ts_cuda_dnn *d, dnn_entry *e)
{
  if (e->xd)
    d->destroy_tensor (e->xd);
  if (e->yd)
    d->destroy_tensor (e->yd);
  if (e->wd)
    d->destroy_filter (e->wd);
  if (e->cd)
    d->destroy_conv (e->cd);
  e->xd = e->yd = NULL;
  e->wd = NULL;
  e->cd = NULL;
}

void
ts_cuda_dnn_close (ts_backend *be)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;

  if (d == NULL)
    return;
  for (int i = 0; i < d->n_cache; i++)
    entry_release (d, &d->cache[i]);
  d->destroy (d->handle);
  if (d->lib)   /* NULL in the host emulation */
    dlclose (d->lib);
  free (d);
  ts_cuda (be)->dnn = NULL;
}

/* Descriptors for @e's geometry, data type and layout.
 *
 * bfloat16: cuDNN 9's legacy cudnnConvolutionForward / BackwardData /
 * BackwardFilter take bfloat16 only as PSEUDO_BFLOAT16_CONFIG: x, w and y
 * (dx, dw, dy) all CUDNN_DATA_BFLOAT16 and the convolution descriptor's
 * compute type CUDNN_DATA_FLOAT; there is no "true bfloat16" config (the
 * supported-configurations tables of cudnnConvolutionForward in
 * docs.nvidia.com/deeplearning/cudnn/latest/api/cudnn-cnn-library.html, as
 * candle's cuDNN conv cites them; PyTorch's ConvolutionDescriptor::set also
 * maps BFLOAT16 data to FLOAT compute).  The math type is
 * CUDNN_TENSOR_OP_MATH: "the use of Tensor Core operations is permitted"
 * without converting the data type down, which bfloat16 data needs none of
 * (cudnnMathType_t; Paddle and OneFlow set it for BFLOAT16 on sm_80+).
 * TS_CUDA_TF32 is about float32 data and does not apply.  NHWC is the
 * layout cuDNN's tensor-core kernels read without a transposition; the
 * filter's NHWC is KRSC.  alpha and beta stay floats (cuDNN's scaling
 * parameters are float for every data type but double).  This math type is
 * what the algorithm queries see; each convolution then runs under the one
 * cuDNN offered its algorithm with (dnn_plan). */
static cudnnStatus_t
set_descriptors (ts_cuda_dnn *d, dnn_entry *e)
{
  const tsk_conv_geom *g = &e->g;
  cudnnTensorFormat_t f = e->bf16 ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  cudnnDataType_t t = e->bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  cudnnStatus_t st;

  e->math = e->bf16 ? CUDNN_TENSOR_OP_MATH : d->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  if ((st = d->create_tensor (&e->xd)) || (st = d->create_tensor (&e->yd))
      || (st = d->create_filter (&e->wd)) || (st = d->create_conv (&e->cd))
      || (st = d->set_tensor4d (e->xd, f, t, g->n, g->c, g->h, g->w))
      || (st = d->set_tensor4d (e->yd, f, t, g->n, g->cout, g->oh, g->ow))
      || (st = d->set_filter4d (e->wd, t, f, g->cout, g->cg, g->kh, g->kw))
      || (st = d->set_conv2d (e->cd, g->pt, g->pl, g->sh, g->sw, 1, 1, CUDNN_CROSS_CORRELATION,
                              CUDNN_DATA_FLOAT))
      || (st = d->set_groups (e->cd, g->groups)) || (st = d->set_math (e->cd, e->math)))
    return st;
  return CUDNN_STATUS_SUCCESS;
}

/* FNV-1a of the key's bytes (tsk_conv_geom is all ints: no padding) */
static uint64_t
key_hash (const tsk_conv_geom *g, int bf16)
{
  const unsigned char *p = (const unsigned char *) g;
  uint64_t h = 14695981039346656037ull ^ (uint64_t) bf16;

  for (size_t i = 0; i < sizeof *g; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

/* The cache slot of @g and @bf16, with its descriptors set (e->failed says
 * whether they could be; its directions are planned on their first use).
 * A new key takes a free slot or the least recently used one. */
static dnn_entry *
dnn_lookup (ts_cuda_dnn *d, const tsk_conv_geom *g, int bf16)
{
  uint64_t h = key_hash (g, bf16);
  dnn_entry *e;

  d->tick++;
  for (int i = 0; i < d->n_cache; i++)
    {
      e = &d->cache[i];
      if (d->hash[i] == h && e->bf16 == bf16 && memcmp (&e->g, g, sizeof *g) == 0)
        {
          e->used = d->tick;
          return e;
        }
    }
  if (d->n_cache < DNN_CACHE)
    e = &d->cache[d->n_cache++];
  else
    {
      e = &d->cache[0];
      for (int i = 1; i < DNN_CACHE; i++)
        if (d->cache[i].used < e->used)
          e = &d->cache[i];
      entry_release (d, e);
    }
  memset (e, 0, sizeof *e);
  e->g = *g;
  e->bf16 = bf16;
  d->hash[e - d->cache] = h;
  e->used = d->tick;
  if ((e->failed = set_descriptors (d, e)) != CUDNN_STATUS_SUCCESS)
    entry_release (d, e);   /* kept as failed: set up once, not on every call */
  return e;
}

/* A perf result of any direction (cuDNN's three structs differ only in the
 * type of their algo field) */
typedef struct {
  int algo;
  cudnnStatus_t status;
  size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t math;
} dnn_perf;

#define COPY_PERF(src, n, dst)                                                      \
  for (int i_ = 0; i_ < (n); i_++)                                                  \
    (dst)[i_] = (dnn_perf) { (int) (src)[i_].algo, (src)[i_].status, (src)[i_].memory, \
                             (src)[i_].determinism, (src)[i_].mathType }

/* cuDNN's candidates for @e's direction @part, timed (fastest first,
 * TS_CUDA_CONV_SEARCH=1) or in the heuristics' order, under the policy's
 * math type */
static cudnnStatus_t
query (ts_cuda_dnn *d, dnn_entry *e, int part, dnn_perf *perf, int *n)
{
  cudnnConvolutionFwdAlgoPerf_t pf[DNN_CANDIDATES];
  cudnnConvolutionBwdDataAlgoPerf_t pd[DNN_CANDIDATES];
  cudnnConvolutionBwdFilterAlgoPerf_t pw[DNN_CANDIDATES];
  cudnnStatus_t st;

  *n = 0;
  if ((st = d->set_math (e->cd, e->math)))
    return st;
  switch (part)
    {
    case TS_DNN_FORWARD:
      st = (d->search ? d->find_fwd : d->get_fwd) (d->handle, e->xd, e->wd, e->cd, e->yd,
                                                   DNN_CANDIDATES, n, pf);
      COPY_PERF (pf, st ? 0 : *n, perf);
      break;
    case TS_DNN_DATA:
      st = (d->search ? d->find_bwd_data : d->get_bwd_data) (d->handle, e->wd, e->yd, e->cd,
                                                             e->xd, DNN_CANDIDATES, n, pd);
      COPY_PERF (pd, st ? 0 : *n, perf);
      break;
    default:
      st = (d->search ? d->find_bwd_filter : d->get_bwd_filter) (d->handle, e->xd, e->yd, e->cd,
                                                                 e->wd, DNN_CANDIDATES, n, pw);
      COPY_PERF (pw, st ? 0 : *n, perf);
      break;
    }
  return st;
}

/* The workspace @algo needs under the math type now on @e->cd */
static cudnnStatus_t
workspace_size (ts_cuda_dnn *d, dnn_entry *e, int part, int algo, size_t *bytes)
{
  switch (part)
    {
    case TS_DNN_FORWARD:
      return d->fwd_ws (d->handle, e->xd, e->wd, e->cd, e->yd, algo, bytes);
    case TS_DNN_DATA:
      return d->bwd_data_ws (d->handle, e->wd, e->yd, e->cd, e->xd, algo, bytes);
    default:
      return d->bwd_filter_ws (d->handle, e->xd, e->yd, e->cd, e->wd, algo, bytes);
    }
}

/* Whether perf entry @p can run with the math type it was offered with
 * (cuDNN 7.4 and later pick tensor-core kernels or not from the algorithm
 * and the descriptor's math type together, so the convolution must run
 * under the entry's, as PyTorch sets it), its workspace asked again under
 * that math type (the larger of that and the entry's) and within the cap. */
static int
fits (ts_cuda_dnn *d, dnn_entry *e, int part, const dnn_perf *p, size_t *ws)
{
  size_t bytes = 0;

  if (p->status != CUDNN_STATUS_SUCCESS || p->memory > DNN_MAX_WORKSPACE
      || d->set_math (e->cd, p->math) != CUDNN_STATUS_SUCCESS
      || workspace_size (d, e, part, p->algo, &bytes) != CUDNN_STATUS_SUCCESS)
    return 0;
  *ws = bytes > p->memory ? bytes : p->memory;
  return *ws <= DNN_MAX_WORKSPACE;
}

/* Whether @p failed when run before (fall_through) */
static int
was_refused (const dnn_plan *pl, const dnn_perf *p)
{
  for (int i = 0; i < pl->n_refused; i++)
    if (pl->refused[i].algo == p->algo && pl->refused[i].math == p->math)
      return 1;
  return 0;
}

/* Plans direction @part of @e on its first use (or again after its
 * algorithm failed when run): the first candidate that fits and has not
 * failed, deterministic ones first unless TS_CUDA_DETERMINISTIC=0 (then
 * cuDNN's own order, as PyTorch's default).  1 when it is ready. */
static int
plan (ts_cuda_dnn *d, dnn_entry *e, int part)
{
  dnn_plan *pl = &e->plan[part];
  dnn_perf perf[DNN_CANDIDATES];
  size_t ws;
  int n;

  if (e->failed)
    return 0;
  if (pl->state != PLAN_NONE)
    return pl->state == PLAN_READY;
  pl->state = PLAN_FAILED;
  if ((pl->why = query (d, e, part, perf, &n)) != CUDNN_STATUS_SUCCESS)
    return 0;
  pl->why = CUDNN_STATUS_NOT_SUPPORTED;   /* unless an entry fits */
  for (int pass = !d->deterministic; pass < 2; pass++)
    for (int i = 0; i < n && i < DNN_CANDIDATES; i++)
      if ((pass == 1 || perf[i].determinism == CUDNN_DETERMINISTIC)
          && !was_refused (pl, &perf[i]) && fits (d, e, part, &perf[i], &ws))
        {
          pl->state = PLAN_READY;
          pl->algo = perf[i].algo;
          pl->math = perf[i].math;
          pl->ws = ws;
          pl->why = CUDNN_STATUS_SUCCESS;
          return 1;
        }
  return 0;
}

/* Plans the directions of @e that a call runs (@fwd, @data, @filter): 1 when
 * all are ready; else 0, the first that is not kept as the reason
 * (ts_cuda_dnn_refusal).  Nothing runs before all are planned, so that a
 * convolution refused here writes nothing (one whose direction runs out of
 * candidates only when run may have written another's output: see
 * ts_cuda_dnn_conv_backward). */
static int
plan_all (ts_cuda_dnn *d, dnn_entry *e, int fwd, int data, int filter)
{
  const int want[3] = { fwd, data, filter };

  if (e->failed)
    {
      d->refused = TS_DNN_DESCRIPTORS;
      d->refused_why = e->failed;
      return 0;
    }
  for (int part = 0; part < 3; part++)
    if (want[part] && !plan (d, e, part))
      {
        d->refused = part;
        d->refused_why = e->plan[part].why;
        return 0;
      }
  return 1;
}

ts_dnn_part
ts_cuda_dnn_refusal (ts_backend *be, const char **status)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;

  *status = d ? d->error_string (d->refused_why) : "";
  return d ? d->refused : TS_DNN_DESCRIPTORS;
}

void
ts_backend_cuda_dnn_stats (ts_backend *be, ts_cuda_dnn_stats *stats)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;

  *stats = d ? d->stats : (ts_cuda_dnn_stats) { 0, 0, 0 };
}

/* cuDNN pads symmetrically: usable when that gives our output size */
static int
dnn_fits (const tsk_conv_geom *g)
{
  return g->n > 0 && (g->h + 2 * g->pt - g->kh) / g->sh + 1 == g->oh
         && (g->w + 2 * g->pl - g->kw) / g->sw + 1 == g->ow
         && g->h + 2 * g->pt >= g->kh && g->w + 2 * g->pl >= g->kw;
}

/* What a cuDNN call that failed says about its algorithm.  cuDNN 9's
 * statuses are a category (CUDNN_STATUS_CATEGORY) and a detail
 * (cudnn_graph_v9.h).  BAD_PARAM and NOT_SUPPORTED come from cuDNN's checks
 * of the algorithm against the descriptors, pointers and workspace
 * (cudnnConvolutionForward's "returns" in the cuDNN API reference), before
 * anything is launched; INTERNAL_ERROR (its own allocations:
 * HOST_ALLOCATION_FAILED is the former ALLOC_FAILED; a run-time
 * compilation; a launch configuration) and EXECUTION_FAILED ("failed to
 * launch on the GPU") may follow a launch.  These four are the algorithm's
 * as long as CUDA reports nothing after them (cuda_sound, asked for all
 * four: a synchronisation, on this rare path only), except the details of
 * BAD_PARAM that name what we passed, whatever the algorithm: a NULL or
 * misaligned pointer, a stream or CUDA graph other than the handle's.
 * Those are our bug, which another algorithm would hide (or run on the same
 * bad pointer): recorded, never retried.
 * NOT_SUPPORTED is retried with every detail, those about the installation
 * too (INCOMPATIBLE_CUDA_DRIVER, _CUDART, RUNTIME_PREREQUISITE_MISSING,
 * SUBLIBRARY_UNAVAILABLE): cuDNN 9's engines live in sub-libraries of their
 * own and some need more than others (the run-time compiled ones NVRTC and
 * a recent driver), so another algorithm may well run; if none does, the
 * direction is exhausted after at most DNN_CANDIDATES tries and falls back
 * to paths without cuDNN (im2col; float32 for bfloat16), which is what this
 * fall-through is for.  The library-wide statuses (category 1000:
 * NOT_INITIALIZED, a sub-library version mismatch or one that failed to
 * load, a licence) are the library's: no algorithm mends them. */
static int
algorithm_failed (cudnnStatus_t st)
{
  switch (st)
    {
    case CUDNN_STATUS_BAD_PARAM_NULL_POINTER:
    case CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER:
    case CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH:
    case CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH:
      return 0;
    default:
      break;
    }
  switch (CUDNN_STATUS_CATEGORY (st))
    {
    case CUDNN_STATUS_BAD_PARAM:
    case CUDNN_STATUS_NOT_SUPPORTED:
    case CUDNN_STATUS_INTERNAL_ERROR:
    case CUDNN_STATUS_EXECUTION_FAILED:
      return 1;
    default:
      return 0;
    }
}

/* dnn_ok for a convolution that ran: a failure there is the backend's (the
 * op cannot return it); one while planning falls back to im2col instead. */
static int
dnn_run_ok (ts_backend *be, ts_cuda_dnn *d, cudnnStatus_t st, const char *op)
{
  if (dnn_ok (d, st, op))
    return 1;
  ts_backend_record_failure (be, TS_ERR_DEVICE);
  return 0;
}

/* Whether CUDA is sound after a failed call, so that another algorithm may
 * be tried: the stream's work ends without an error (a kernel's fault is
 * asynchronous and sticky: it shows here) and no launch error is pending.
 * Else the CUDA error is recorded (ts_cuda_ok's advice: a lost context
 * needs a restart), never retried: a lost context fails every later call,
 * or runs one on garbage. */
static int
cuda_sound (ts_backend *be, const char *op)
{
  cudaError_t e = cudaStreamSynchronize (ts_cuda (be)->stream);

  if (e == cudaSuccess)
    e = cudaGetLastError ();
  return ts_cuda_ok (be, e, op);
}

enum { DNN_RAN, DNN_FAILED, DNN_RETRY, DNN_OUT };

/* After direction @part of @e failed with @st when run (@op names it):
 * DNN_RETRY with the direction planned again from the next candidate, its
 * algorithm refused for good (counted in *@count: stats.refused, or
 * stats.no_memory when its workspace could not be allocated); DNN_OUT when
 * none is left (PLAN_FAILED, @st the reason ts_cuda_dnn_refusal gives);
 * DNN_FAILED, recorded, when the failure is not the algorithm's.  A retry
 * is safe: forward writes y, the data gradient dx, the filter gradient dw,
 * each with beta = 0 (whole, never read) and nothing else, and none writes
 * what a direction reads, so a failed try leaves nothing (in its output or
 * workspace, whatever it wrote there) that the retry, or the caller's
 * fallback, does not overwrite. */
static int
fall_through (ts_backend *be, ts_cuda_dnn *d, dnn_entry *e, int part, cudnnStatus_t st,
              const char *op, long *count)
{
  dnn_plan *pl = &e->plan[part];

  /* (a backend that has kept a failure has computed garbage since: no retry) */
  if (!algorithm_failed (st) || be->failed != TS_OK)
    {
      dnn_run_ok (be, d, st, op);
      return DNN_FAILED;
    }
  if (!cuda_sound (be, op))
    return DNN_FAILED;
  (*count)++;
  pl->refused[pl->n_refused].algo = pl->algo;
  pl->refused[pl->n_refused++].math = pl->math;
  pl->state = PLAN_NONE;
  /* (Find* may answer otherwise the second time: at most DNN_CANDIDATES tries) */
  if (pl->n_refused < DNN_CANDIDATES && plan (d, e, part))
    return DNN_RETRY;
  pl->state = PLAN_FAILED;
  pl->why = d->refused_why = st;
  d->refused = part;
  d->stats.exhausted++;
  return DNN_OUT;
}

/* One direction's call as run_part makes it, again after a fall-through.
 * setup, before every try, gets the scratch with room for a workspace of
 * @ws_bytes into @io->ws and makes there what the call reads or writes
 * (the bfloat16 weight's copy, the padded x: a retry may have moved the
 * scratch); cudaSuccess, cudaErrorMemoryAllocation when the scratch cannot
 * be had (nothing recorded: run_part decides), or another error, which
 * setup has recorded (scratch_for; ts_cuda_check after its launches, so
 * that their failure is not blamed on cuDNN). */
typedef struct dnn_io dnn_io;
struct dnn_io {
  const void *x, *w, *dy;   /* forward reads x and w; data w and dy; filter x and dy */
  void *out;                /* y, dx or dw */
  void *ws;
  cudaError_t (*setup) (ts_backend *be, dnn_io *io, int part, size_t ws_bytes);
};

static const char *const dnn_op[3] = { "convolution forward", "convolution backward data",
                                       "convolution backward filter" };

/* Direction @part of @e under its plan's math type (set on the shared
 * descriptor before every call: the directions' plans may differ) */
static cudnnStatus_t
call (ts_cuda_dnn *d, dnn_entry *e, int part, const dnn_io *io)
{
  const dnn_plan *pl = &e->plan[part];
  const float one = 1.0f, zero = 0.0f;
  cudnnStatus_t st = d->set_math (e->cd, pl->math);

  if (st != CUDNN_STATUS_SUCCESS)
    return st;
  switch (part)
    {
    case TS_DNN_FORWARD:
      return d->forward (d->handle, &one, e->xd, io->x, e->wd, io->w, e->cd, pl->algo, io->ws,
                         pl->ws, &zero, e->yd, io->out);
    case TS_DNN_DATA:
      return d->backward_data (d->handle, &one, e->wd, io->w, e->yd, io->dy, e->cd, pl->algo,
                               io->ws, pl->ws, &zero, e->xd, io->out);
    default:
      return d->backward_filter (d->handle, &one, e->xd, io->x, e->yd, io->dy, e->cd, pl->algo,
                                 io->ws, pl->ws, &zero, e->wd, io->out);
    }
}

/* Runs planned direction @part of @e, falling through to the next
 * candidate while the algorithm is what fails (fall_through).  A workspace
 * that cannot be allocated counts as the algorithm's when it is not empty
 * (stats.no_memory; the algorithm is then given up for good, as one that
 * failed, even if the shortage passes: the next candidates need less, and
 * asking again on every call would free and reallocate the scratch each
 * time); without a workspace, the shortage is the plain out-of-memory
 * error.  DNN_RAN, DNN_FAILED (recorded) or DNN_OUT (no candidate left:
 * the caller's fallback writes the output). */
static int
run_part (ts_backend *be, ts_cuda_dnn *d, dnn_entry *e, int part, dnn_io *io)
{
  int r = DNN_RETRY;

  while (r == DNN_RETRY)
    {
      size_t ws = e->plan[part].ws;
      cudaError_t ce = io->setup (be, io, part, ws);

      if (ce == cudaSuccess)
        {
          cudnnStatus_t st = call (d, e, part, io);
          if (st == CUDNN_STATUS_SUCCESS)
            return DNN_RAN;
          r = fall_through (be, d, e, part, st, dnn_op[part], &d->stats.refused);
        }
      else if (ce != cudaErrorMemoryAllocation)
        return DNN_FAILED;   /* (recorded by setup) */
      else if (ws > 0)
        r = fall_through (be, d, e, part, CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED,
                          dnn_op[part], &d->stats.no_memory);
      else
        {
          ts_cuda_ok (be, ce, "scratch allocation");
          return DNN_FAILED;
        }
    }
  return r;
}

/* ts_cuda_scratch_try for a setup: an error other than out-of-memory
 * recorded (run_part decides what a shortage means) */
static cudaError_t
scratch_for (ts_backend *be, size_t bytes, float **scratch)
{
  cudaError_t e = ts_cuda_scratch_try (be, bytes / sizeof (float) + 1, scratch);

  if (e != cudaSuccess && e != cudaErrorMemoryAllocation)
    ts_cuda_ok (be, e, "scratch allocation");
  return e;
}

/* float32: the workspace alone */
static cudaError_t
f32_setup (ts_backend *be, dnn_io *io, int part, size_t ws_bytes)
{
  float *ws;
  cudaError_t e = scratch_for (be, ws_bytes, &ws);

  io->ws = ws;
  return e;
}

int
ts_cuda_dnn_conv_forward (ts_backend *be, const tsk_conv_geom *g, const float *x,
                          const float *w, float *y)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;
  dnn_io io = { x, w, NULL, y, NULL, f32_setup };
  dnn_entry *e;

  if (d == NULL || !dnn_fits (g) || !plan_all (d, e = dnn_lookup (d, g, 0), 1, 0, 0))
    return 0;
  return run_part (be, d, e, TS_DNN_FORWARD, &io) != DNN_OUT;
}

/* the directions asked for both planned, else im2col takes both; likewise
 * when one runs out of candidates when run (fall_through), after dx may
 * have been written: im2col writes both again */
int
ts_cuda_dnn_conv_backward (ts_backend *be, const tsk_conv_geom *g, const float *x,
                           const float *w, const float *dy, float *dx, float *dw)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;
  dnn_io data = { NULL, w, dy, dx, NULL, f32_setup };
  dnn_io filter = { x, NULL, dy, dw, NULL, f32_setup };
  dnn_entry *e;
  int r = DNN_RAN;

  if (d == NULL || !dnn_fits (g)
      || !plan_all (d, e = dnn_lookup (d, g, 0), 0, dx != NULL, dw != NULL))
    return 0;
  if (dx)
    r = run_part (be, d, e, TS_DNN_DATA, &data);
  if (dw && r == DNN_RAN)
    r = run_part (be, d, e, TS_DNN_FILTER, &filter);
  return r != DNN_OUT;
}

/* The geometry cuDNN plans and runs for a bfloat16 convolution: @g itself
 * when cuDNN's symmetric padding gives @g's output (dnn_fits; the bottom and
 * right padding beyond what the output reads changes nothing), else the
 * same convolution, unpadded, on a copy of x with the zeros written in:
 * [n, hp, wp, c] with hp = (oh - 1) * sh + kh, wp likewise, exactly the
 * rows and columns the output reads (TensorFlow's SAME padding, 0 on top
 * and 1 below for a stride-2 conv on an even size, is the case in use).
 * The filter gradient from the padded x is the asymmetric convolution's;
 * the data gradient lands in a padded dx and is cropped back (the padding's
 * share is dropped, and rows of x the output never reads get 0, as the CPU
 * gives).  The descriptor cache keys on the planned geometry. */
typedef struct {
  tsk_conv_geom g;   /* what cuDNN sees */
  int padded;        /* x (dx) go through the padded copy */
} bf16_plan;

static void
plan_bf16 (const tsk_conv_geom *g, bf16_plan *pl)
{
  pl->g = *g;
  pl->padded = !dnn_fits (g);
  if (pl->padded)
    {
      pl->g.h = (g->oh - 1) * g->sh + g->kh;
      pl->g.w = (g->ow - 1) * g->sw + g->kw;
      pl->g.pt = pl->g.pl = 0;
    }
}

/* bytes of the padded x (and of the padded dx): 0 when not padded */
static size_t
padded_bytes (const bf16_plan *pl)
{
  return pl->padded ? (size_t) pl->g.n * pl->g.h * pl->g.w * pl->g.c * sizeof (uint16_t) : 0;
}

/* x [n, h, w, c] into the zero-bordered [n, hp, wp, c] at @xp */
static void
pad_x (ts_backend *be, const tsk_conv_geom *g, const bf16_plan *pl, const void *x, void *xp)
{
  tsk_window_nhwc (ts_cuda (be)->stream, g->n, g->c, g->h, g->w, x, pl->g.h, pl->g.w, xp,
                   -g->pt, -g->pl);
}

/* the padded dx [n, hp, wp, c] at @dxp cropped into dx [n, h, w, c] */
static void
crop_dx (ts_backend *be, const tsk_conv_geom *g, const bf16_plan *pl, const void *dxp, void *dx)
{
  tsk_window_nhwc (ts_cuda (be)->stream, g->n, g->c, pl->g.h, pl->g.w, dxp, g->h, g->w, dx,
                   g->pt, g->pl);
}

/* The scratch carved for a bfloat16 convolution: the weight's bfloat16 KRSC
 * copy, the filter gradient's, the padded x and the padded dx (bf16_plan),
 * and cuDNN's workspace, each starting on a 256-byte boundary (cudaMalloc's
 * alignment, more than cuDNN's tensor-core kernels and tsk_window_nhwc's
 * 16-byte loads ask for) and none overlapping, in one ts_cuda_scratch_try
 * request per direction (the workspace last, its size the direction's) so
 * that the scratch grows to its high-water mark in the first step and never
 * after.  A size of 0 gives NULL. */
typedef struct {
  void *w, *dw, *x, *dx, *ws;
} bf16_scratch;

static size_t
round256 (size_t bytes)
{
  return (bytes + 255) / 256 * 256;
}

static cudaError_t
carve (ts_backend *be, const size_t bytes[5], bf16_scratch *sc)
{
  void **part[5] = { &sc->w, &sc->dw, &sc->x, &sc->dx, &sc->ws };
  size_t total = 0;
  float *scratch;
  char *base;
  cudaError_t e;

  for (int i = 0; i < 5; i++)
    total += round256 (bytes[i]);
  if ((e = scratch_for (be, total, &scratch)) != cudaSuccess)
    return e;
  base = (char *) scratch;
  for (int i = 0; i < 5; i++)
    {
      *part[i] = bytes[i] ? base : NULL;
      base += round256 (bytes[i]);
    }
  return cudaSuccess;
}

static size_t
weight_bf16_bytes (const tsk_conv_geom *g)
{
  return (size_t) g->cout * g->cg * g->kh * g->kw * sizeof (uint16_t);
}

/* float32 KCRS <-> bfloat16 KRSC: the 4-d weight as an [N, C, H, W] tensor
 * converted between float32 NCHW and bfloat16 NHWC (@src_bf16 says which
 * way) */
static void
weight_convert (ts_backend *be, const tsk_conv_geom *g, const void *src, int src_bf16, void *dst)
{
  tsk_convert (ts_cuda (be)->stream, g->cout, g->cg, (int64_t) g->kh * g->kw, src, src_bf16,
               src_bf16, dst, !src_bf16, !src_bf16);
}

/* A bfloat16 convolution as run_part runs it: io first (bf16_setup finds
 * the rest from it), then the caller's operands and the scratch's parts */
typedef struct {
  dnn_io io;
  const tsk_conv_geom *g;   /* the convolution asked for */
  bf16_plan pl;             /* the one cuDNN runs */
  const void *x;
  const float *w;
  void *dx;
  size_t bytes[5];          /* of carve's parts, the workspace's set per try */
  bf16_scratch sc;
} bf16_call;

/* @c for the directions @fwd, @data, @filter of @g: the scratch's parts
 * that they need (bf16_scratch) */
static void
bf16_call_init (bf16_call *c, const tsk_conv_geom *g, const void *x, const float *w, void *dx,
                int fwd, int data, int filter)
{
  c->g = g;
  plan_bf16 (g, &c->pl);
  c->x = x;
  c->w = w;
  c->dx = dx;
  c->bytes[0] = fwd || data ? weight_bf16_bytes (g) : 0;
  c->bytes[1] = filter ? weight_bf16_bytes (g) : 0;
  c->bytes[2] = fwd || filter ? padded_bytes (&c->pl) : 0;
  c->bytes[3] = data ? padded_bytes (&c->pl) : 0;
}

/* dnn_io's setup: the scratch carved with a workspace of @ws_bytes, then
 * what direction @part reads made there (the weight's bfloat16 copy for
 * forward and data; the padded x for forward and filter) and where it
 * writes (the padded dx, the bfloat16 dw) */
static cudaError_t
bf16_setup (ts_backend *be, dnn_io *io, int part, size_t ws_bytes)
{
  bf16_call *c = (bf16_call *) io;
  cudaError_t e;

  c->bytes[4] = ws_bytes;
  if ((e = carve (be, c->bytes, &c->sc)) != cudaSuccess)
    return e;
  io->ws = c->sc.ws;
  if (part != TS_DNN_FILTER)
    {
      weight_convert (be, c->g, c->w, 0, c->sc.w);
      io->w = c->sc.w;
    }
  if (part != TS_DNN_DATA)
    {
      io->x = c->x;
      if (c->pl.padded)
        {
          pad_x (be, c->g, &c->pl, c->x, c->sc.x);
          io->x = c->sc.x;
        }
    }
  if (part == TS_DNN_DATA)
    io->out = c->pl.padded ? c->sc.dx : c->dx;
  if (part == TS_DNN_FILTER)
    io->out = c->sc.dw;
  /* a failed launch of the copies is theirs, not the cuDNN call's: recorded
   * here, and any error but out-of-memory tells run_part so */
  return ts_cuda_check (be, "conv2d (bfloat16 copies for cuDNN)") ? cudaSuccess
                                                                  : cudaErrorLaunchFailure;
}

int
ts_cuda_dnn_conv_forward_bf16 (ts_backend *be, const tsk_conv_geom *g, const void *x,
                               const float *w, void *y)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;
  bf16_call c = { .io = { .out = y, .setup = bf16_setup } };
  dnn_entry *e;

  if (d == NULL || g->n == 0)
    return 0;
  bf16_call_init (&c, g, x, w, NULL, 1, 0, 0);
  if (!plan_all (d, e = dnn_lookup (d, &c.pl.g, 1), 1, 0, 0))
    return 0;
  return run_part (be, d, e, TS_DNN_FORWARD, &c.io) != DNN_OUT;
}

/* as ts_cuda_dnn_conv_backward: 0 may follow a dx written (then, not
 * before, the filter gradient ran out of candidates), which *@dx_done says */
int
ts_cuda_dnn_conv_backward_bf16 (ts_backend *be, const tsk_conv_geom *g, const void *x,
                                const float *w, const void *dy, void *dx, float *dw,
                                int *dx_done)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;
  bf16_call c = { .io = { .dy = dy, .setup = bf16_setup } };
  dnn_entry *e;
  int r = DNN_RAN;

  *dx_done = 0;
  if (d == NULL || g->n == 0)
    return 0;
  bf16_call_init (&c, g, x, w, dx, 0, dx != NULL, dw != NULL);
  if (!plan_all (d, e = dnn_lookup (d, &c.pl.g, 1), 0, dx != NULL, dw != NULL))
    return 0;
  if (dx && (r = run_part (be, d, e, TS_DNN_DATA, &c.io)) == DNN_RAN)
    {
      if (c.pl.padded)
        crop_dx (be, g, &c.pl, c.sc.dx, dx);
      *dx_done = 1;
    }
  if (dw && r == DNN_RAN && (r = run_part (be, d, e, TS_DNN_FILTER, &c.io)) == DNN_RAN)
    weight_convert (be, g, c.sc.dw, 1, dw);
  return r != DNN_OUT;
}

#endif
