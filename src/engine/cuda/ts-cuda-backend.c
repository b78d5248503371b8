/* ts-cuda-backend.c: the CUDA backend's table, device memory and set-up.
 *
 * Memory: cudaMalloc with a cache of freed blocks (never managed memory).
 * Models allocate once per batch size, so the cache mostly serves re-prepares
 * (a new batch size, lr_find then fit); a request takes the smallest cached
 * block that fits without wasting more than half of it.  When cudaMalloc runs
 * out, the cache is released and the request retried once.
 * All work goes on one stream; upload and download synchronise with it.
 * (The loader's staged batches cross the bus on streams of their own,
 * ts-cuda-stage.c.)
 */
#define _GNU_SOURCE
#include "ts-cuda-private.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 256

/* Errors after which the process's CUDA context is lost: every later call
 * fails the same way (CUDA's "sticky" errors). */
static int
context_lost (cudaError_t e)
{
  return e == cudaErrorIllegalAddress || e == cudaErrorLaunchTimeout
         || e == cudaErrorHardwareStackError || e == cudaErrorIllegalInstruction
         || e == cudaErrorMisalignedAddress || e == cudaErrorInvalidPc
         || e == cudaErrorLaunchFailure || e == cudaErrorECCUncorrectable;
}

/* The CUDA checks record a failure on @be too (ts_backend_check), so that
 * one an op could not return (the ops return void) is not lost. */
int
ts_cuda_ok (ts_backend *be, cudaError_t e, const char *op)
{
  if (e == cudaSuccess)
    return 1;
  ts_device_error (op, cudaGetErrorString (e), cudaGetErrorName (e),
                   e == cudaErrorMemoryAllocation ? TS_DEVICE_ADVICE_SMALLER_BATCH
                   : context_lost (e)             ? TS_DEVICE_ADVICE_RESTART
                                                  : TS_DEVICE_ADVICE_NONE);
  ts_backend_record_failure (be, TS_ERR_DEVICE);
  return 0;
}

int
ts_cuda_check (ts_backend *be, const char *op)
{
  return ts_cuda_ok (be, cudaGetLastError (), op);
}

int
ts_cuda_blas_ok (ts_backend *be, cublasStatus_t st, const char *op)
{
  if (st == CUBLAS_STATUS_SUCCESS)
    return 1;
  ts_error (TS_ERR_DEVICE, "cuBLAS %s failed: status %d", op, (int) st);
  ts_backend_record_failure (be, TS_ERR_DEVICE);
  return 0;
}

static int
push_block (ts_cuda_block **arr, int *n, int *cap, void *ptr, size_t size)
{
  if (*n == *cap)
    {
      int ncap = *cap ? *cap * 2 : 256;
      ts_cuda_block *p = realloc (*arr, (size_t) ncap * sizeof **arr);
      if (p == NULL)
        return 0;
      *arr = p;
      *cap = ncap;
    }
  (*arr)[*n].ptr = ptr;
  (*arr)[*n].size = size;
  (*n)++;
  return 1;
}

static void
release_cache (ts_cuda_ctx *ctx)
{
  for (int i = 0; i < ctx->n_cached; i++)
    cudaFree (ctx->cached[i].ptr);
  ctx->n_cached = 0;
  ctx->cached_bytes = 0;
}

static void *
cuda_alloc (ts_backend *be, size_t bytes)
{
  ts_cuda_ctx *ctx = ts_cuda (be);
  size_t size = (bytes + ALIGN - 1) / ALIGN * ALIGN;
  void *ptr = NULL;
  int best = -1;

  if (size == 0)
    size = ALIGN;
  cudaSetDevice (ctx->device);
  pthread_mutex_lock (&ctx->lock);
  for (int i = 0; i < ctx->n_cached; i++)
    if (ctx->cached[i].size >= size && ctx->cached[i].size / 2 <= size
        && (best < 0 || ctx->cached[i].size < ctx->cached[best].size))
      best = i;
  if (best >= 0)
    {
      ptr = ctx->cached[best].ptr;
      size = ctx->cached[best].size;
      ctx->cached_bytes -= size;
      ctx->cached[best] = ctx->cached[--ctx->n_cached];
    }
  else
    {
      if (cudaMalloc (&ptr, size) != cudaSuccess)
        {
          cudaGetLastError ();
          /* queued kernels may still read the cached blocks (the bf16
           * float32 fallback frees its copies with their kernels queued),
           * and cudaFree is not documented to wait for them: as
           * scratch_grow, wait first (the emulation's cudaFree waits, so
           * cannot show this) */
          cudaStreamSynchronize (ctx->stream);
          release_cache (ctx);
          if (cudaMalloc (&ptr, size) != cudaSuccess)
            {
              cudaGetLastError ();
              ptr = NULL;
            }
        }
    }
  if (ptr && !push_block (&ctx->live, &ctx->n_live, &ctx->cap_live, ptr, size))
    {
      cudaFree (ptr);
      ptr = NULL;
    }
  pthread_mutex_unlock (&ctx->lock);
  if (ptr == NULL)
    {
      ts_error (TS_ERR_NOMEM, "CUDA: out of GPU memory allocating %zu bytes; try a smaller "
                "batch size or the CPU", bytes);
      return NULL;
    }
  /* zero-filled, as the table promises; ordered before any later op on the stream */
  if (!ts_cuda_ok (be, cudaMemsetAsync (ptr, 0, size, ctx->stream), "memset"))
    return NULL;
  return ptr;
}

static void
cuda_free (ts_backend *be, void *ptr)
{
  ts_cuda_ctx *ctx = ts_cuda (be);

  if (ptr == NULL)
    return;
  pthread_mutex_lock (&ctx->lock);
  for (int i = ctx->n_live - 1; i >= 0; i--)
    if (ctx->live[i].ptr == ptr)
      {
        ts_cuda_block b = ctx->live[i];
        ctx->live[i] = ctx->live[--ctx->n_live];
        /* work still queued on the stream may read the block; the next user
         * queues on the same stream, so it runs after */
        if (push_block (&ctx->cached, &ctx->n_cached, &ctx->cap_cached, b.ptr, b.size))
          ctx->cached_bytes += b.size;
        else
          cudaFree (b.ptr);
        break;
      }
  pthread_mutex_unlock (&ctx->lock);
}

/* No wait: from pageable memory, CUDA copies the source to its staging
 * buffer before returning; from host_alloc's page-locked memory the copy runs
 * behind the queued work and the caller keeps the buffer until its next
 * download (the learner reads the loss back before releasing a batch).
 * Either way the host goes on queueing the step while the GPU works. */
static void
cuda_upload (ts_backend *be, float *dst, const float *host_src, size_t n)
{
  ts_cuda_ctx *ctx = ts_cuda (be);

  if (n == 0)
    return;
  cudaSetDevice (ctx->device);
  ts_cuda_ok (be, cudaMemcpyAsync (dst, host_src, n * sizeof (float), cudaMemcpyHostToDevice,
                                   ctx->stream), "upload");
}

/* The device of the last backend made: a loader thread that allocates a
 * batch buffer works there, not in a context of its own on device 0 (the
 * runtime's choice for a thread that never set one). */
static int host_alloc_device;

int
ts_cuda_host_device (void)
{
  return host_alloc_device;
}

static void *
cuda_host_alloc (size_t bytes)
{
  void *p = NULL;

  cudaSetDevice (host_alloc_device);
  if (cudaHostAlloc (&p, bytes ? bytes : 1, cudaHostAllocPortable) != cudaSuccess)
    {
      cudaGetLastError ();
      return NULL;
    }
  return p;
}

static void
cuda_host_free (void *ptr)
{
  if (ptr)
    {
      cudaSetDevice (host_alloc_device);   /* as cuda_host_alloc */
      cudaFreeHost (ptr);
    }
}

static void
cuda_download (ts_backend *be, float *host_dst, const float *src, size_t n)
{
  ts_cuda_ctx *ctx = ts_cuda (be);

  if (n == 0)
    return;
  cudaSetDevice (ctx->device);
  if (ts_cuda_ok (be, cudaMemcpyAsync (host_dst, src, n * sizeof (float), cudaMemcpyDeviceToHost,
                                   ctx->stream), "download"))
    ts_cuda_ok (be, cudaStreamSynchronize (ctx->stream), "download");
}

static void
cuda_synchronize (ts_backend *be)
{
  ts_cuda_ctx *ctx = ts_cuda (be);

  cudaSetDevice (ctx->device);
  ts_cuda_ok (be, cudaStreamSynchronize (ctx->stream), "synchronize");
}

/* Grows the scratch to at least @n floats: cudaSuccess, or cudaMalloc's
 * error, pending in the runtime, with no scratch left */
static cudaError_t
scratch_grow (ts_backend *be, size_t n)
{
  ts_cuda_ctx *ctx = ts_cuda (be);
  void *ptr = NULL;
  cudaError_t e;

  if (ctx->scratch_floats >= n)
    return cudaSuccess;
  /* from any thread: the scratch lives on the backend's device */
  cudaSetDevice (ctx->device);
  /* queued users of the old buffer finish first (cudaFree is not documented
   * to wait for them) */
  cudaStreamSynchronize (ctx->stream);
  cudaFree (ctx->scratch);
  ctx->scratch = NULL;
  ctx->scratch_floats = 0;
  /* a quarter more than asked, so that batches whose sizes vary (the
   * resample's sources) do not grow it step after step; just @n when memory
   * is short, after giving the cache back */
  if (cudaMalloc (&ptr, (n + n / 4) * sizeof (float)) == cudaSuccess)
    n += n / 4;
  else
    {
      cudaGetLastError ();
      pthread_mutex_lock (&ctx->lock);
      release_cache (ctx);
      pthread_mutex_unlock (&ctx->lock);
      if ((e = cudaMalloc (&ptr, n * sizeof (float))) != cudaSuccess)
        return e;
    }
  ctx->scratch = ptr;
  ctx->scratch_floats = n;
  return cudaSuccess;
}

float *
ts_cuda_scratch (ts_backend *be, size_t n)
{
  return ts_cuda_ok (be, scratch_grow (be, n), "scratch allocation") ? ts_cuda (be)->scratch
                                                                     : NULL;
}

cudaError_t
ts_cuda_scratch_try (ts_backend *be, size_t n, float **scratch)
{
  cudaError_t e = scratch_grow (be, n);

  if (e != cudaSuccess)
    cudaGetLastError ();   /* the caller decides what the failure means */
  *scratch = e == cudaSuccess ? ts_cuda (be)->scratch : NULL;
  return e;
}

static void
cuda_destroy (ts_backend *be)
{
  ts_cuda_ctx *ctx = ts_cuda (be);

  cudaSetDevice (ctx->device);
  cudaStreamSynchronize (ctx->stream);
  ts_cuda_dnn_close (be);
  if (ctx->blas.handle)
    ctx->blas.destroy (ctx->blas.handle);
  if (ctx->blas.lib)
    dlclose (ctx->blas.lib);
  release_cache (ctx);
  for (int i = 0; i < ctx->n_live; i++)
    cudaFree (ctx->live[i].ptr);
  cudaFree (ctx->scratch);
  cudaFree (ctx->red);
  cudaStreamDestroy (ctx->stream);
  pthread_mutex_destroy (&ctx->lock);
  free (ctx->live);
  free (ctx->cached);
  free (ctx);
  free (be);
}

static const ts_backend_i cuda_backend_i = {
  .name = "cuda",
  .alloc = cuda_alloc,
  .free = cuda_free,
  .upload = cuda_upload,
  .host_alloc = cuda_host_alloc,
  .host_free = cuda_host_free,
  .download = cuda_download,
  .synchronize = cuda_synchronize,
  .convert = ts_cuda_convert,
  .bf16_ready = ts_cuda_bf16_ready,
  .axpby = ts_cuda_axpby,
  .add = ts_cuda_add,
  .add_act_forward = ts_cuda_add_act_forward,
  .fill = ts_cuda_fill,
  .conv2d_forward = ts_cuda_conv2d_forward,
  .conv2d_backward = ts_cuda_conv2d_backward,
  .batchnorm_forward_train = ts_cuda_batchnorm_forward_train,
  .batchnorm_forward_eval = ts_cuda_batchnorm_forward_eval,
  .batchnorm_backward = ts_cuda_batchnorm_backward,
  .batchnorm_act_forward_train = ts_cuda_batchnorm_act_forward_train,
  .batchnorm_act_backward = ts_cuda_batchnorm_act_backward,
  .activation_forward = ts_cuda_activation_forward,
  .activation_backward = ts_cuda_activation_backward,
  .maxpool2d_forward = ts_cuda_maxpool2d_forward,
  .maxpool2d_backward = ts_cuda_maxpool2d_backward,
  .adaptive_avgpool2d_forward = ts_cuda_adaptive_avgpool2d_forward,
  .adaptive_avgpool2d_backward = ts_cuda_adaptive_avgpool2d_backward,
  .adaptive_maxpool2d_forward = ts_cuda_adaptive_maxpool2d_forward,
  .adaptive_maxpool2d_backward = ts_cuda_adaptive_maxpool2d_backward,
  .linear_forward = ts_cuda_linear_forward,
  .linear_backward = ts_cuda_linear_backward,
  .dropout_forward = ts_cuda_dropout_forward,
  .dropout_backward = ts_cuda_dropout_backward,
  .concat_channels = ts_cuda_concat_channels,
  .split_channels = ts_cuda_split_channels,
  .bce_with_logits = ts_cuda_bce_with_logits,
  .bce_with_logits_queue = ts_cuda_bce_with_logits_queue,
  .bce_loss_result = ts_cuda_bce_loss_result,
  .adam_step = ts_cuda_adam_step,
  .all_finite = ts_cuda_all_finite,
  .sum_squares = ts_cuda_sum_squares,
  .adam_step_many = ts_cuda_adam_step_many,
  .first_nonfinite = ts_cuda_first_nonfinite,
  .copy_many = ts_cuda_copy_many,
  .resample_batch = ts_cuda_resample_batch,
  .stage_new = ts_cuda_stage_new,
  .stage_free = ts_cuda_stage_free,
  .stage_upload = ts_cuda_stage_upload,
  .stage_wait = ts_cuda_stage_wait,
  .set_threads = NULL,
  .destroy = cuda_destroy,
};

/* 0 with the reason recorded (ts_error) when cuBLAS cannot be loaded */
static int
open_cublas (ts_cuda_blas *b)
{
  static const char *names[] = { "libcublas.so.13", "libcublas.so.12", "libcublas.so" };

#ifdef TS_CUDA_EMULATED
  /* tests/cuda/emu: the fake cuBLAS is linked in */
  b->create = cublasCreate_v2;
  b->destroy = cublasDestroy_v2;
  b->set_stream = cublasSetStream_v2;
  b->set_math_mode = cublasSetMathMode;
  b->sgemm = cublasSgemm_v2;
  b->sgemm_strided = cublasSgemmStridedBatched;
  return 1;
#endif
  /* a chosen library */
  if (getenv ("TS_CUDA_CUBLAS") != NULL)
    {
      b->lib = dlopen (getenv ("TS_CUDA_CUBLAS"), RTLD_NOW | RTLD_LOCAL);
      if (b->lib == NULL)
        {
          ts_error (TS_ERR_DEVICE, "TS_CUDA_CUBLAS: %s", dlerror ());
          return 0;
        }
    }
  for (size_t i = 0; i < sizeof names / sizeof names[0] && b->lib == NULL; i++)
    b->lib = dlopen (names[i], RTLD_NOW | RTLD_LOCAL);
  if (b->lib == NULL)
    {
      ts_error (TS_ERR_DEVICE, "cuBLAS (libcublas.so) not found: %s", dlerror ());
      return 0;
    }
#define SYM(field, name)                                                   \
  do {                                                                     \
    *(void **) &b->field = dlsym (b->lib, name);                           \
    if (b->field == NULL)                                                  \
      {                                                                    \
        ts_error (TS_ERR_DEVICE, "cuBLAS has no %s", name);                \
        return 0;                                                          \
      }                                                                    \
  } while (0)
  SYM (create, "cublasCreate_v2");
  SYM (destroy, "cublasDestroy_v2");
  SYM (set_stream, "cublasSetStream_v2");
  SYM (set_math_mode, "cublasSetMathMode");
  SYM (sgemm, "cublasSgemm_v2");
  SYM (sgemm_strided, "cublasSgemmStridedBatched");
#undef SYM
  return 1;
}

/* The reason, already recorded with ts_error (translated there), is copied
 * to @err for the caller. */
static ts_backend *
fail_new (ts_backend *be, char *err, size_t errlen)
{
  if (err && errlen)
    snprintf (err, errlen, "%s", ts_last_error ());
  if (be)
    cuda_destroy (be);
  return NULL;
}

/* When cudaGetDeviceCount says "insufficient driver": the runtime says so
 * both when no NVIDIA driver is installed and when the driver is older
 * than the CUDA this was built with, and only the driver's library tells
 * which.  1 with that recorded (ts_error), 0 when it cannot tell. */
static int
driver_error (void)
{
  void *lib = dlopen ("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  int (*driver_version) (int *);
  int v = 0;

  if (lib == NULL)
    {
      ts_error (TS_ERR_DEVICE, "no CUDA device: no NVIDIA driver is installed "
                "(libcuda.so.1 not found)");
      return 1;
    }
  driver_version = (int (*) (int *)) dlsym (lib, "cuDriverGetVersion");
  if (driver_version != NULL && driver_version (&v) == 0 && v > 0)
    ts_error (TS_ERR_DEVICE, "no CUDA device: the NVIDIA driver runs CUDA %d.%d at most, "
              "older than this build's CUDA %d.%d: update the driver", v / 1000, v % 1000 / 10,
              CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
  dlclose (lib);
  return v > 0;
}

/* 1 when GPU @device is there (its properties in *@prop), else 0 with the
 * reason recorded (ts_error) */
static int
probe (int device, struct cudaDeviceProp *prop)
{
  int count = 0;
  cudaError_t e = cudaGetDeviceCount (&count);

  if (e != cudaSuccess)
    {
      if (e != cudaErrorInsufficientDriver || !driver_error ())
        ts_error (TS_ERR_DEVICE, "no CUDA device: %s (%s)", cudaGetErrorString (e),
                  cudaGetErrorName (e));
      cudaGetLastError ();
      return 0;
    }
  if (count == 0 || device < 0 || device >= count)
    {
      ts_error (TS_ERR_DEVICE, "no CUDA device %d (%d found)", device, count);
      return 0;
    }
  if (cudaGetDeviceProperties (prop, device) != cudaSuccess)
    {
      cudaGetLastError ();
      ts_error (TS_ERR_DEVICE, "no CUDA device: cannot read its properties");
      return 0;
    }
  return 1;
}

int
ts_cuda_usable (int device)
{
  struct cudaDeviceProp prop;

  return probe (device, &prop);
}

/* An environment knob: @unset when absent or empty, else its number. */
static int
env_flag (const char *name, int unset)
{
  const char *v = getenv (name);
  return v && *v ? atoi (v) : unset;
}

ts_backend *
ts_backend_cuda_new (int device, char *err, size_t errlen)
{
  int tf32, dnn;
  cudaError_t e;
  struct cudaDeviceProp prop;
  ts_backend *be;
  ts_cuda_ctx *ctx;

  if (!probe (device, &prop))
    return fail_new (NULL, err, errlen);

  be = calloc (1, sizeof *be);
  ctx = calloc (1, sizeof *ctx);
  if (be == NULL || ctx == NULL)
    {
      free (be);
      free (ctx);
      ts_error (TS_ERR_DEVICE, "cuda backend: out of memory");
      return fail_new (NULL, err, errlen);
    }
  be->i = &cuda_backend_i;
  be->ctx = ctx;
  be->n_threads = 1;
  ctx->device = device;
  pthread_mutex_init (&ctx->lock, NULL);
  snprintf (ctx->name, sizeof ctx->name, "%s", prop.name);
  ctx->cc_major = prop.major;
  ctx->cc_minor = prop.minor;
  ctx->total_mem = prop.totalGlobalMem;
  ctx->col_budget = (int64_t) 64 << 20;
  if (getenv ("TS_CUDA_COL_BUDGET") && atoll (getenv ("TS_CUDA_COL_BUDGET")) > 0)
    ctx->col_budget = atoll (getenv ("TS_CUDA_COL_BUDGET"));

  host_alloc_device = device;
  if ((e = cudaSetDevice (device)) != cudaSuccess
      || (e = cudaStreamCreateWithFlags (&ctx->stream, cudaStreamNonBlocking)) != cudaSuccess
      || (e = cudaMalloc ((void **) &ctx->red, (RED_DOUBLES + 1) * sizeof (double)))
         != cudaSuccess)
    {
      ts_error (TS_ERR_DEVICE, "CUDA device %d (%s): %s", device, prop.name,
                cudaGetErrorString (e));
      cudaGetLastError ();
      return fail_new (be, err, errlen);
    }
  /* a first kernel: fails here, not mid-training, when our binary has no code
   * for this GPU (-Dgpu_archs: the GPU generations it was built for) */
  tsk_fill (ctx->stream, 2, 0.0f, (float *) ctx->red);
  e = cudaGetLastError ();
  if (e == cudaSuccess)
    e = cudaStreamSynchronize (ctx->stream);
  if (e != cudaSuccess)
    {
      ts_error (TS_ERR_DEVICE, "CUDA device %d (%s, sm_%d%d) cannot run our kernels: %s",
                device, prop.name, prop.major, prop.minor, cudaGetErrorString (e));
      cudaGetLastError ();
      return fail_new (be, err, errlen);
    }
  if (!open_cublas (&ctx->blas))
    return fail_new (be, err, errlen);
  if (ctx->blas.create (&ctx->blas.handle) != CUBLAS_STATUS_SUCCESS)
    {
      ctx->blas.handle = NULL;
      ts_error (TS_ERR_DEVICE, "cuBLAS: cannot create a handle");
      return fail_new (be, err, errlen);
    }
  ctx->blas.set_stream (ctx->blas.handle, ctx->stream);
  /* PyTorch's defaults: TF32 for cuDNN's convolutions, not for GEMMs */
  tf32 = env_flag ("TS_CUDA_TF32", -1);
  ctx->tf32_conv = tf32 != 0;
  ctx->tf32_gemm = tf32 == 1;
  ctx->blas.set_math_mode (ctx->blas.handle,
                           ctx->tf32_gemm ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
  dnn = env_flag ("TS_CUDA_CUDNN", -1);
  if (dnn != 0 && !ts_cuda_dnn_open (be))
    {
      if (dnn == 1)
        return fail_new (be, err, errlen);
      ts_clear_error ();   /* no cuDNN here: our im2col + cuBLAS convolutions */
    }
  return be;
}

long
ts_backend_cuda_bf16_fallbacks (ts_backend *be)
{
  return __atomic_load_n (&ts_cuda (be)->bf16_fallbacks, __ATOMIC_RELAXED);
}

const char *
ts_backend_cuda_describe (ts_backend *be, char *buf, size_t len)
{
  ts_cuda_ctx *ctx = ts_cuda (be);

  snprintf (buf, len, "%s (sm_%d%d, %.0f GiB, cuda:%d, %s, %s)", ctx->name, ctx->cc_major,
            ctx->cc_minor, (double) ctx->total_mem / (1024.0 * 1024.0 * 1024.0), ctx->device,
            ctx->dnn ? "cuDNN" : "im2col + cuBLAS",
            ctx->tf32_gemm ? "TF32" : ctx->dnn && ctx->tf32_conv ? "TF32 convolutions" : "FP32");
  return buf;
}

long
ts_backend_cuda_staged_batches (ts_backend *be)
{
  return __atomic_load_n (&ts_cuda (be)->staged_batches, __ATOMIC_RELAXED);
}
