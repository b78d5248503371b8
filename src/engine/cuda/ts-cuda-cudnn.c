/* ts-cuda-cudnn.c: convolutions through cuDNN (when loadable; TS_CUDA_CUDNN=0 turns it off).
 *
 * cuDNN is opened with dlopen like cuBLAS.  Each conv geometry gets its
 * descriptors and algorithms once (cuDNN's heuristics, preferring
 * deterministic algorithms, workspace from the backend's scratch), kept in a
 * small cache.  A float32 convolution with TFLite's asymmetric SAME
 * padding, when it changes the output size, is left to the im2col path
 * (cuDNN pads symmetrically).
 *
 * bfloat16 NHWC convolutions (the bf16 precision policy, docs/cuda.md) have
 * no other path: x, y and their gradients are CUDNN_DATA_BFLOAT16 in
 * CUDNN_TENSOR_NHWC, the weight a bfloat16 KRSC copy of the float32 KCRS
 * parameter made in the scratch (tsk_convert from F32 NCHW to BF16 NHWC of
 * the 4-d weight is exactly that), and the filter gradient lands there as
 * bfloat16 KRSC before tsk_convert writes it back as float32 KCRS.  The
 * cache is keyed on the geometry and the dtype, so an F32 and a BF16 conv of
 * one geometry keep their own descriptors and algorithms.  A bfloat16
 * convolution whose padding cuDNN cannot express (TFLite's asymmetric SAME
 * padding) runs unpadded on a zero-padded copy of x in the scratch, its dx
 * cropped back from a padded one (bf16_plan): float32 has im2col for those,
 * bfloat16 has no other path.
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
                                const float *w, const void *dy, void *dx, float *dw)
{
  return 0;
}

#else

#include <dlfcn.h>

#include <cudnn.h>

#define DNN_CACHE 512
#define DNN_MAX_WORKSPACE ((size_t) 1 << 30)

typedef struct {
  tsk_conv_geom g;
  int bf16;     /* with g, the key: bfloat16 NHWC data, else float32 NCHW */
  cudnnTensorDescriptor_t xd, yd;
  cudnnFilterDescriptor_t wd;
  cudnnConvolutionDescriptor_t cd;
  cudnnConvolutionFwdAlgo_t fwd;
  cudnnConvolutionBwdDataAlgo_t bwd_data;
  cudnnConvolutionBwdFilterAlgo_t bwd_filter;
  size_t ws_fwd, ws_data, ws_filter;
  int failed;   /* cuDNN could not plan it: im2col takes this geometry */
} dnn_entry;

struct ts_cuda_dnn {
  void *lib;
  cudnnHandle_t handle;
  int tf32;
  int deterministic;   /* prefer deterministic algorithms (TS_CUDA_DETERMINISTIC, default 1) */
  int search;          /* time the algorithms (TS_CUDA_CONV_SEARCH=1) instead of heuristics */
  dnn_entry cache[DNN_CACHE];
  int n_cache;
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

/* the heuristics' best algorithm that fits, deterministic ones first unless
 * TS_CUDA_DETERMINISTIC=0 (then the heuristics' own order, as PyTorch's default) */
#define PICK(perf, n, out, ws)                                                          \
  do {                                                                                  \
    int found_ = -1;                                                                    \
    for (int pass_ = !d->deterministic; pass_ < 2 && found_ < 0; pass_++)               \
      for (int i_ = 0; i_ < (n) && found_ < 0; i_++)                                    \
        if ((perf)[i_].status == CUDNN_STATUS_SUCCESS && (perf)[i_].memory <= DNN_MAX_WORKSPACE \
            && (pass_ == 1 || (perf)[i_].determinism == CUDNN_DETERMINISTIC))          \
          found_ = i_;                                                                  \
    if (found_ < 0)                                                                     \
      goto fail;                                                                        \
    (out) = (perf)[found_].algo;                                                        \
    (ws) = (perf)[found_].memory;                                                       \
  } while (0)

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
 * parameters are float for every data type but double). */
static int
set_descriptors (ts_cuda_dnn *d, dnn_entry *e)
{
  const tsk_conv_geom *g = &e->g;
  cudnnTensorFormat_t f = e->bf16 ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  cudnnDataType_t t = e->bf16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT;
  cudnnMathType_t math = e->bf16 ? CUDNN_TENSOR_OP_MATH
                         : d->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;

  return !(d->create_tensor (&e->xd) || d->create_tensor (&e->yd) || d->create_filter (&e->wd)
           || d->create_conv (&e->cd)
           || d->set_tensor4d (e->xd, f, t, g->n, g->c, g->h, g->w)
           || d->set_tensor4d (e->yd, f, t, g->n, g->cout, g->oh, g->ow)
           || d->set_filter4d (e->wd, t, f, g->cout, g->cg, g->kh, g->kw)
           || d->set_conv2d (e->cd, g->pt, g->pl, g->sh, g->sw, 1, 1, CUDNN_CROSS_CORRELATION,
                             CUDNN_DATA_FLOAT)
           || d->set_groups (e->cd, g->groups)
           || d->set_math (e->cd, math));
}

static dnn_entry *
dnn_lookup (ts_cuda_dnn *d, const tsk_conv_geom *g, int bf16)
{
  cudnnConvolutionFwdAlgoPerf_t pf[8];
  cudnnConvolutionBwdDataAlgoPerf_t pd[8];
  cudnnConvolutionBwdFilterAlgoPerf_t pw[8];
  dnn_entry *e;
  int n = 0;

  for (int i = 0; i < d->n_cache; i++)
    if (d->cache[i].bf16 == bf16 && memcmp (&d->cache[i].g, g, sizeof *g) == 0)
      return d->cache[i].failed ? NULL : &d->cache[i];
  if (d->n_cache == DNN_CACHE)
    return NULL;
  e = &d->cache[d->n_cache++];
  memset (e, 0, sizeof *e);
  e->g = *g;
  e->bf16 = bf16;
  if (!set_descriptors (d, e))
    goto fail;
  /* timed (fastest first) or the heuristics' order; either way PICK's rules */
  if ((d->search ? d->find_fwd : d->get_fwd) (d->handle, e->xd, e->wd, e->cd, e->yd, 8, &n, pf))
    goto fail;
  PICK (pf, n, e->fwd, e->ws_fwd);
  if ((d->search ? d->find_bwd_data : d->get_bwd_data) (d->handle, e->wd, e->yd, e->cd, e->xd,
                                                         8, &n, pd))
    goto fail;
  PICK (pd, n, e->bwd_data, e->ws_data);
  if ((d->search ? d->find_bwd_filter : d->get_bwd_filter) (d->handle, e->xd, e->yd, e->cd,
                                                             e->wd, 8, &n, pw))
    goto fail;
  PICK (pw, n, e->bwd_filter, e->ws_filter);
  return e;

fail:
  /* kept as failed, descriptors released: planned once, not on every call */
  entry_release (d, e);
  e->failed = 1;
  return NULL;
}

/* cuDNN pads symmetrically: usable when that gives our output size */
static int
dnn_fits (const tsk_conv_geom *g)
{
  return g->n > 0 && (g->h + 2 * g->pt - g->kh) / g->sh + 1 == g->oh
         && (g->w + 2 * g->pl - g->kw) / g->sw + 1 == g->ow
         && g->h + 2 * g->pt >= g->kh && g->w + 2 * g->pl >= g->kw;
}

static void *
workspace (ts_backend *be, size_t bytes)
{
  return ts_cuda_scratch (be, bytes / sizeof (float) + 1);
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

int
ts_cuda_dnn_conv_forward (ts_backend *be, const tsk_conv_geom *g, const float *x,
                          const float *w, float *y)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;
  const float one = 1.0f, zero = 0.0f;
  dnn_entry *e;
  void *ws;

  if (d == NULL || !dnn_fits (g) || (e = dnn_lookup (d, g, 0)) == NULL)
    return 0;
  if ((ws = workspace (be, e->ws_fwd)) == NULL)
    return 1;   /* the error is recorded */
  dnn_run_ok (be, d, d->forward (d->handle, &one, e->xd, x, e->wd, w, e->cd, e->fwd, ws, e->ws_fwd,
                         &zero, e->yd, y), "convolution forward");
  return 1;
}

int
ts_cuda_dnn_conv_backward (ts_backend *be, const tsk_conv_geom *g, const float *x,
                           const float *w, const float *dy, float *dx, float *dw)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;
  const float one = 1.0f, zero = 0.0f;
  dnn_entry *e;
  void *ws;

  if (d == NULL || !dnn_fits (g) || (e = dnn_lookup (d, g, 0)) == NULL)
    return 0;
  if (dx)
    {
      if ((ws = workspace (be, e->ws_data)) == NULL)
        return 1;
      if (!dnn_run_ok (be, d, d->backward_data (d->handle, &one, e->wd, w, e->yd, dy, e->cd,
                                        e->bwd_data, ws, e->ws_data, &zero, e->xd, dx),
                   "convolution backward data"))
        return 1;
    }
  if (dw)
    {
      if ((ws = workspace (be, e->ws_filter)) == NULL)
        return 1;
      dnn_run_ok (be, d, d->backward_filter (d->handle, &one, e->xd, x, e->yd, dy, e->cd, e->bwd_filter,
                                     ws, e->ws_filter, &zero, e->wd, dw),
              "convolution backward filter");
    }
  return 1;
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
 * 16-byte loads ask for) and none overlapping, in one ts_cuda_scratch
 * request so that the scratch grows to its high-water mark in the first
 * step and never after.  A size of 0 gives NULL. */
typedef struct {
  void *w, *dw, *x, *dx, *ws;
} bf16_scratch;

static size_t
round256 (size_t bytes)
{
  return (bytes + 255) / 256 * 256;
}

static int
carve (ts_backend *be, size_t w_bytes, size_t dw_bytes, size_t x_bytes, size_t dx_bytes,
       size_t ws_bytes, bf16_scratch *sc)
{
  const size_t bytes[5] = { w_bytes, dw_bytes, x_bytes, dx_bytes, ws_bytes };
  void **part[5] = { &sc->w, &sc->dw, &sc->x, &sc->dx, &sc->ws };
  size_t total = 0;
  char *base;

  for (int i = 0; i < 5; i++)
    total += round256 (bytes[i]);
  base = (char *) ts_cuda_scratch (be, total / sizeof (float) + 1);
  if (base == NULL)
    return 0;   /* the error is recorded */
  for (int i = 0; i < 5; i++)
    {
      *part[i] = bytes[i] ? base : NULL;
      base += round256 (bytes[i]);
    }
  return 1;
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

int
ts_cuda_dnn_conv_forward_bf16 (ts_backend *be, const tsk_conv_geom *g, const void *x,
                               const float *w, void *y)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;
  const float one = 1.0f, zero = 0.0f;
  bf16_scratch sc;
  bf16_plan pl;
  dnn_entry *e;

  if (d == NULL || g->n == 0)
    return 0;
  plan_bf16 (g, &pl);
  if ((e = dnn_lookup (d, &pl.g, 1)) == NULL)
    return 0;
  if (!carve (be, weight_bf16_bytes (g), 0, padded_bytes (&pl), 0, e->ws_fwd, &sc))
    return 1;
  weight_convert (be, g, w, 0, sc.w);
  if (pl.padded)
    {
      pad_x (be, g, &pl, x, sc.x);
      x = sc.x;
    }
  dnn_run_ok (be, d, d->forward (d->handle, &one, e->xd, x, e->wd, sc.w, e->cd, e->fwd, sc.ws,
                                 e->ws_fwd, &zero, e->yd, y), "convolution forward");
  return 1;
}

int
ts_cuda_dnn_conv_backward_bf16 (ts_backend *be, const tsk_conv_geom *g, const void *x,
                                const float *w, const void *dy, void *dx, float *dw)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;
  const float one = 1.0f, zero = 0.0f;
  size_t ws = 0;
  bf16_scratch sc;
  bf16_plan pl;
  dnn_entry *e;

  if (d == NULL || g->n == 0)
    return 0;
  plan_bf16 (g, &pl);
  if ((e = dnn_lookup (d, &pl.g, 1)) == NULL)
    return 0;
  /* one workspace serves both calls: they run one after the other */
  if (dx && e->ws_data > ws)
    ws = e->ws_data;
  if (dw && e->ws_filter > ws)
    ws = e->ws_filter;
  if (!carve (be, dx ? weight_bf16_bytes (g) : 0, dw ? weight_bf16_bytes (g) : 0,
              dw ? padded_bytes (&pl) : 0, dx ? padded_bytes (&pl) : 0, ws, &sc))
    return 1;
  if (dx)
    {
      weight_convert (be, g, w, 0, sc.w);
      if (!dnn_run_ok (be, d, d->backward_data (d->handle, &one, e->wd, sc.w, e->yd, dy, e->cd,
                                                e->bwd_data, sc.ws, e->ws_data, &zero, e->xd,
                                                pl.padded ? sc.dx : dx),
                       "convolution backward data"))
        return 1;
      if (pl.padded)
        crop_dx (be, g, &pl, sc.dx, dx);
    }
  if (dw)
    {
      if (pl.padded)
        {
          pad_x (be, g, &pl, x, sc.x);
          x = sc.x;
        }
      if (!dnn_run_ok (be, d, d->backward_filter (d->handle, &one, e->xd, x, e->yd, dy, e->cd,
                                                  e->bwd_filter, sc.ws, e->ws_filter, &zero,
                                                  e->wd, sc.dw), "convolution backward filter"))
        return 1;
      weight_convert (be, g, sc.dw, 1, dw);
    }
  return 1;
}

#endif
