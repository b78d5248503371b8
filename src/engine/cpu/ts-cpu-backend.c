/* ts-cpu-backend.c: the CPU backend's table, memory and per-thread scratch. */
#include "ts-cpu-private.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cblas.h>

#define TS_CPU_ALIGN 64

/* Tensor memory.  Large buffers come straight from mmap: zero pages that the
 * kernel fills lazily, so allocating is cheap and pages never written (the
 * gradients of frozen layers, say) never count towards resident memory.
 * A 64-byte header in front of every block records how it was obtained. */
#define TS_CPU_MMAP_MIN (1 << 20)

typedef struct {
  size_t mapped;   /* bytes mapped including the header; 0 for malloc'ed blocks */
} alloc_header;

static void *
cpu_alloc (ts_backend *be, size_t bytes)
{
  size_t rounded = (bytes + TS_CPU_ALIGN - 1) / TS_CPU_ALIGN * TS_CPU_ALIGN;
  char *base;

  if (rounded == 0)
    rounded = TS_CPU_ALIGN;
  if (rounded > SIZE_MAX - 2 * TS_CPU_ALIGN)
    return NULL;
  if (rounded >= TS_CPU_MMAP_MIN)
    {
      size_t total = rounded + TS_CPU_ALIGN;
      base = mmap (NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (base == MAP_FAILED)
        return NULL;
      ((alloc_header *) base)->mapped = total;
    }
  else
    {
      void *ptr = NULL;
      if (posix_memalign (&ptr, TS_CPU_ALIGN, rounded + TS_CPU_ALIGN) != 0)
        return NULL;
      base = ptr;
      memset (base, 0, rounded + TS_CPU_ALIGN);
      ((alloc_header *) base)->mapped = 0;
    }
  return base + TS_CPU_ALIGN;
}

static void
cpu_free (ts_backend *be, void *ptr)
{
  char *base;

  if (ptr == NULL)
    return;
  base = (char *) ptr - TS_CPU_ALIGN;
  if (((alloc_header *) base)->mapped)
    munmap (base, ((alloc_header *) base)->mapped);
  else
    free (base);
}

static void
cpu_upload (ts_backend *be, float *dst, const float *host_src, size_t n)
{
  if (dst != host_src && n > 0)
    memmove (dst, host_src, n * sizeof (float));
}

static void
cpu_download (ts_backend *be, float *host_dst, const float *src, size_t n)
{
  if (host_dst != src && n > 0)
    memmove (host_dst, src, n * sizeof (float));
}

static void
cpu_synchronize (ts_backend *be)
{
}

void
ts_cpu_blas_threads (int n)
{
#ifdef TS_HAVE_OPENBLAS
  openblas_set_num_threads (n);
#else
  (void) n;
#endif
}

static int
resolve_threads (int n_threads)
{
  if (n_threads <= 0)
    {
      long n = sysconf (_SC_NPROCESSORS_ONLN);
      n_threads = n > 0 ? (int) n : 1;
    }
  if (n_threads > TS_CPU_MAX_THREADS)
    n_threads = TS_CPU_MAX_THREADS;
  return n_threads;
}

static void
cpu_set_threads (ts_backend *be, int n_threads)
{
  ts_cpu_ctx *ctx = ts_cpu (be);
  ts_cpu_pool *pool;

  n_threads = resolve_threads (n_threads);
  if (n_threads == ctx->n_threads)
    return;
  pool = ts_cpu_pool_new (n_threads);
  if (pool == NULL)
    return;
  ts_cpu_pool_free (ctx->pool);
  ctx->pool = pool;
  ctx->n_threads = ts_cpu_pool_size (pool);
  be->n_threads = ctx->n_threads;
}

static void
cpu_destroy (ts_backend *be)
{
  ts_cpu_ctx *ctx = ts_cpu (be);

  ts_cpu_pool_free (ctx->pool);
  for (int t = 0; t < TS_CPU_MAX_THREADS; t++)
    for (int s = 0; s < TS_CPU_SCRATCH_SLOTS; s++)
      free (ctx->scratch[t][s].ptr);
  free (ctx);
  free (be);
}

void
ts_cpu_parallel (ts_backend *be, ts_cpu_task fn, void *arg)
{
  ts_cpu_pool_run (ts_cpu (be)->pool, fn, arg);
}

void
ts_cpu_parallel_sized (ts_backend *be, ts_cpu_task fn, void *arg, int64_t work)
{
  if (work < ts_cpu (be)->min_parallel_work)
    fn (arg, 0, 1);
  else
    ts_cpu_pool_run (ts_cpu (be)->pool, fn, arg);
}

float *
ts_cpu_scratch (ts_backend *be, int tid, int slot, size_t n)
{
  ts_cpu_buffer *buf = &ts_cpu (be)->scratch[tid][slot];

  if (buf->size < n)
    {
      void *ptr = NULL;
      if (posix_memalign (&ptr, TS_CPU_ALIGN, n * sizeof (float)) != 0)
        return NULL;
      free (buf->ptr);
      buf->ptr = ptr;
      buf->size = n;
    }
  return buf->ptr;
}

static const ts_backend_i cpu_backend_i = {
  .name = "cpu",
  .alloc = cpu_alloc,
  .free = cpu_free,
  .upload = cpu_upload,
  .download = cpu_download,
  .synchronize = cpu_synchronize,
  .axpby = ts_cpu_axpby,
  .add = ts_cpu_add,
  .fill = ts_cpu_fill,
  .conv2d_forward = ts_cpu_conv2d_forward,
  .conv2d_backward = ts_cpu_conv2d_backward,
  .conv2d_forward_fused = ts_cpu_conv2d_forward_fused,
  .batchnorm_forward_train = ts_cpu_batchnorm_forward_train,
  .batchnorm_forward_eval = ts_cpu_batchnorm_forward_eval,
  .batchnorm_backward = ts_cpu_batchnorm_backward,
  .activation_forward = ts_cpu_activation_forward,
  .activation_backward = ts_cpu_activation_backward,
  .maxpool2d_forward = ts_cpu_maxpool2d_forward,
  .maxpool2d_backward = ts_cpu_maxpool2d_backward,
  .adaptive_avgpool2d_forward = ts_cpu_adaptive_avgpool2d_forward,
  .adaptive_avgpool2d_backward = ts_cpu_adaptive_avgpool2d_backward,
  .adaptive_maxpool2d_forward = ts_cpu_adaptive_maxpool2d_forward,
  .adaptive_maxpool2d_backward = ts_cpu_adaptive_maxpool2d_backward,
  .linear_forward = ts_cpu_linear_forward,
  .linear_backward = ts_cpu_linear_backward,
  .dropout_forward = ts_cpu_dropout_forward,
  .dropout_backward = ts_cpu_dropout_backward,
  .concat_channels = ts_cpu_concat_channels,
  .split_channels = ts_cpu_split_channels,
  .bce_with_logits = ts_cpu_bce_with_logits,
  .adam_step = ts_cpu_adam_step,
  .all_finite = ts_cpu_all_finite,
  .sum_squares = ts_cpu_sum_squares,
  .resample_batch = ts_cpu_resample_batch,
  .set_threads = cpu_set_threads,
  .destroy = cpu_destroy,
};

ts_backend *
ts_backend_cpu_new (int n_threads)
{
  ts_backend *be = calloc (1, sizeof *be);
  ts_cpu_ctx *ctx = calloc (1, sizeof *ctx);

  if (be == NULL || ctx == NULL)
    {
      free (be);
      free (ctx);
      ts_error (TS_ERR_NOMEM, "cpu backend: out of memory");
      return NULL;
    }
  be->i = &cpu_backend_i;
  be->ctx = ctx;
  n_threads = resolve_threads (n_threads);
  ctx->pool = ts_cpu_pool_new (n_threads);
  if (ctx->pool == NULL)
    {
      free (ctx);
      free (be);
      ts_error (TS_ERR_NOMEM, "cpu backend: cannot start %d threads", n_threads);
      return NULL;
    }
  ctx->n_threads = ts_cpu_pool_size (ctx->pool);
  be->n_threads = ctx->n_threads;
  /* 1 MiB of columns: fits L2 with room for the GEMM's packed panels */
  ctx->col_budget = 1 << 18;
  if (getenv ("TS_CPU_COL_BUDGET") != NULL && atoll (getenv ("TS_CPU_COL_BUDGET")) > 0)
    ctx->col_budget = atoll (getenv ("TS_CPU_COL_BUDGET"));
  ctx->min_parallel_work = 65536;
  if (getenv ("TS_CPU_MIN_PARALLEL_WORK") != NULL)
    ctx->min_parallel_work = atoll (getenv ("TS_CPU_MIN_PARALLEL_WORK"));
  ctx->conv_gemm = !(getenv ("TS_CPU_CONV_GEMM") != NULL && atoi (getenv ("TS_CPU_CONV_GEMM")) == 0);
  if (getenv ("TS_CPU_THREADED_BLAS") != NULL)
    ctx->threaded_blas = atoi (getenv ("TS_CPU_THREADED_BLAS")) != 0;
  ts_cpu_blas_init ();
  /* our pool splits the work; each thread runs a single-threaded GEMM */
  ts_cpu_blas_threads (1);
  return be;
}
