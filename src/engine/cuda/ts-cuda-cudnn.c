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

ts_dnn_part
ts_cuda_dnn_refusal (ts_backend *be, const char **status)
{
  *status = "built without cudnn.h";
  return TS_DNN_DESCRIPTORS;
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

/* Plans direction @part of @e on its first use: the first candidate that
 * fits, deterministic ones first unless TS_CUDA_DETERMINISTIC=0 (then
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
          && fits (d, e, part, &perf[i], &ws))
        {
          *pl = (dnn_plan) { PLAN_READY, perf[i].algo, perf[i].math, ws, CUDNN_STATUS_SUCCESS };
          return 1;
        }
  return 0;
}

/* Plans the directions of @e that a call runs (@fwd, @data, @filter): 1 when
 * all are ready; else 0, the first that is not kept as the reason
 * (ts_cuda_dnn_refusal).  Nothing runs before all are planned, so that a
 * refused convolution writes nothing. */
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

/* The three convolutions of a planned @e, each under its plan's math type
 * (set on the shared descriptor before every call: the directions' plans
 * may differ), with @ws of at least the plan's workspace; 1 when it ran */
static int
run_forward (ts_backend *be, ts_cuda_dnn *d, dnn_entry *e, const void *x, const void *w,
             void *ws, void *y)
{
  const dnn_plan *pl = &e->plan[TS_DNN_FORWARD];
  const float one = 1.0f, zero = 0.0f;
  cudnnStatus_t st = d->set_math (e->cd, pl->math);

  if (st == CUDNN_STATUS_SUCCESS)
    st = d->forward (d->handle, &one, e->xd, x, e->wd, w, e->cd, pl->algo, ws, pl->ws, &zero,
                     e->yd, y);
  return dnn_run_ok (be, d, st, "convolution forward");
}

static int
run_backward_data (ts_backend *be, ts_cuda_dnn *d, dnn_entry *e, const void *w, const void *dy,
                   void *ws, void *dx)
{
  const dnn_plan *pl = &e->plan[TS_DNN_DATA];
  const float one = 1.0f, zero = 0.0f;
  cudnnStatus_t st = d->set_math (e->cd, pl->math);

  if (st == CUDNN_STATUS_SUCCESS)
    st = d->backward_data (d->handle, &one, e->wd, w, e->yd, dy, e->cd, pl->algo, ws, pl->ws,
                           &zero, e->xd, dx);
  return dnn_run_ok (be, d, st, "convolution backward data");
}

static int
run_backward_filter (ts_backend *be, ts_cuda_dnn *d, dnn_entry *e, const void *x,
                     const void *dy, void *ws, void *dw)
{
  const dnn_plan *pl = &e->plan[TS_DNN_FILTER];
  const float one = 1.0f, zero = 0.0f;
  cudnnStatus_t st = d->set_math (e->cd, pl->math);

  if (st == CUDNN_STATUS_SUCCESS)
    st = d->backward_filter (d->handle, &one, e->xd, x, e->yd, dy, e->cd, pl->algo, ws, pl->ws,
                             &zero, e->wd, dw);
  return dnn_run_ok (be, d, st, "convolution backward filter");
}

int
ts_cuda_dnn_conv_forward (ts_backend *be, const tsk_conv_geom *g, const float *x,
                          const float *w, float *y)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;
  dnn_entry *e;
  void *ws;

  if (d == NULL || !dnn_fits (g) || !plan_all (d, e = dnn_lookup (d, g, 0), 1, 0, 0))
    return 0;
  if ((ws = workspace (be, e->plan[TS_DNN_FORWARD].ws)) == NULL)
    return 1;   /* the error is recorded */
  run_forward (be, d, e, x, w, ws, y);
  return 1;
}

/* the directions asked for both planned, else im2col takes both */
int
ts_cuda_dnn_conv_backward (ts_backend *be, const tsk_conv_geom *g, const float *x,
                           const float *w, const float *dy, float *dx, float *dw)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;
  dnn_entry *e;
  void *ws;

  if (d == NULL || !dnn_fits (g)
      || !plan_all (d, e = dnn_lookup (d, g, 0), 0, dx != NULL, dw != NULL))
    return 0;
  if (dx)
    {
      if ((ws = workspace (be, e->plan[TS_DNN_DATA].ws)) == NULL
          || !run_backward_data (be, d, e, w, dy, ws, dx))
        return 1;
    }
  if (dw)
    {
      if ((ws = workspace (be, e->plan[TS_DNN_FILTER].ws)) == NULL)
        return 1;
      run_backward_filter (be, d, e, x, dy, ws, dw);
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
  bf16_scratch sc;
  bf16_plan pl;
  dnn_entry *e;

  if (d == NULL || g->n == 0)
    return 0;
  plan_bf16 (g, &pl);
  if (!plan_all (d, e = dnn_lookup (d, &pl.g, 1), 1, 0, 0))
    return 0;
  if (!carve (be, weight_bf16_bytes (g), 0, padded_bytes (&pl), 0, e->plan[TS_DNN_FORWARD].ws,
              &sc))
    return 1;
  weight_convert (be, g, w, 0, sc.w);
  if (pl.padded)
    {
      pad_x (be, g, &pl, x, sc.x);
      x = sc.x;
    }
  run_forward (be, d, e, x, sc.w, sc.ws, y);
  return 1;
}

int
ts_cuda_dnn_conv_backward_bf16 (ts_backend *be, const tsk_conv_geom *g, const void *x,
                                const float *w, const void *dy, void *dx, float *dw)
{
  ts_cuda_dnn *d = ts_cuda (be)->dnn;
  size_t ws = 0;
  bf16_scratch sc;
  bf16_plan pl;
  dnn_entry *e;

  if (d == NULL || g->n == 0)
    return 0;
  plan_bf16 (g, &pl);
  if (!plan_all (d, e = dnn_lookup (d, &pl.g, 1), 0, dx != NULL, dw != NULL))
    return 0;
  /* one workspace serves both calls: they run one after the other */
  if (dx && e->plan[TS_DNN_DATA].ws > ws)
    ws = e->plan[TS_DNN_DATA].ws;
  if (dw && e->plan[TS_DNN_FILTER].ws > ws)
    ws = e->plan[TS_DNN_FILTER].ws;
  if (!carve (be, dx ? weight_bf16_bytes (g) : 0, dw ? weight_bf16_bytes (g) : 0,
              dw ? padded_bytes (&pl) : 0, dx ? padded_bytes (&pl) : 0, ws, &sc))
    return 1;
  if (dx)
    {
      weight_convert (be, g, w, 0, sc.w);
      if (!run_backward_data (be, d, e, sc.w, dy, sc.ws, pl.padded ? sc.dx : dx))
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
      if (!run_backward_filter (be, d, e, x, dy, sc.ws, sc.dw))
        return 1;
      weight_convert (be, g, sc.dw, 1, dw);
    }
  return 1;
}

#endif
