/* ts-cpu-private.h: state shared by the CPU backend's op files.
 *
 * Threading model: our own small pthread pool splits work statically (the
 * same thread count gives the same split, so results repeat bit for bit) and
 * every thread calls a single-threaded OpenBLAS GEMM on its own slice.
 * Per-thread scratch buffers grow to their high-water mark and are kept.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ts-backend.h"

/* The build targets baseline x86-64 (SSE2) so the binary runs anywhere; the
 * memory-bound loops (batch norm, elementwise, pooling, im2col) get AVX2 and
 * AVX-512 copies chosen at load time (measured: up to 2x on data in L2).  A
 * given machine always runs the same copy, so results still repeat bit for bit.
 * Not under ThreadSanitizer: the copies' load-time resolvers run before it is
 * set up and crash the program. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) \
    && !defined(__SANITIZE_THREAD__)
#define TS_CPU_CLONES __attribute__ ((target_clones ("avx512f", "avx2", "default")))
#else
#define TS_CPU_CLONES
#endif

#define TS_CPU_MAX_THREADS 64
#define TS_CPU_SCRATCH_SLOTS 4

typedef struct ts_cpu_pool ts_cpu_pool;

typedef struct {
  float *ptr;
  size_t size;   /* in floats */
} ts_cpu_buffer;

typedef struct {
  ts_cpu_pool *pool;
  int n_threads;
  int64_t col_budget;   /* floats of im2col per GEMM (TS_CPU_COL_BUDGET overrides) */
  int64_t min_parallel_work; /* TS_CPU_MIN_PARALLEL_WORK overrides (tests: 0) */
  int conv_gemm;        /* dense convs forward through our packed AVX-512 GEMM when the CPU
                           has AVX-512 (TS_CPU_CONV_GEMM=0: im2col + BLAS, to compare) */
  int threaded_blas;    /* TS_CPU_THREADED_BLAS=1: one image at a time, BLAS threads
                           (the other threading model, kept to measure against) */
  ts_cpu_buffer scratch[TS_CPU_MAX_THREADS][TS_CPU_SCRATCH_SLOTS];
} ts_cpu_ctx;

/* fn (arg, tid, n_threads) runs once on each of n_threads threads (tid 0 is the caller). */
typedef void (*ts_cpu_task) (void *arg, int tid, int n_threads);

ts_cpu_pool *ts_cpu_pool_new (int n_threads);
void ts_cpu_pool_free (ts_cpu_pool *pool);
void ts_cpu_pool_run (ts_cpu_pool *pool, ts_cpu_task fn, void *arg);
int ts_cpu_pool_size (const ts_cpu_pool *pool);

static inline ts_cpu_ctx *
ts_cpu (ts_backend *be)
{
  return (ts_cpu_ctx *) be->ctx;
}

/* Runs fn on every thread of the backend. */
void ts_cpu_parallel (ts_backend *be, ts_cpu_task fn, void *arg);

/* Same, but inline on the calling thread, as fn (arg, 0, 1), when @work (about
 * the number of multiply-adds or elements touched) is below ctx->min_parallel_work:
 * waking the pool costs more than tiny ops (gradient checks, small heads). */
void ts_cpu_parallel_sized (ts_backend *be, ts_cpu_task fn, void *arg, int64_t work);

/* Static split of [0, n) for thread tid of nt. */
static inline void
ts_cpu_range (int64_t n, int tid, int nt, int64_t *begin, int64_t *end)
{
  *begin = n * tid / nt;
  *end = n * (tid + 1) / nt;
}

/* Scratch of at least @n floats for thread @tid, slot @slot; NULL when out of memory
 * (the op then falls back to doing nothing harmful and the caller sees NaN-free zeros). */
float *ts_cpu_scratch (ts_backend *be, int tid, int slot, size_t n);

/* op families */
void ts_cpu_axpby (ts_backend *be, float alpha, const ts_tensor *x, float beta, ts_tensor *y);
void ts_cpu_add (ts_backend *be, const ts_tensor *a, const ts_tensor *b, ts_tensor *y);
void ts_cpu_fill (ts_backend *be, ts_tensor *t, float value);
void ts_cpu_activation_forward (ts_backend *be, ts_activation act, const ts_tensor *x,
                                ts_tensor *y);
void ts_cpu_activation_backward (ts_backend *be, ts_activation act, const ts_tensor *y,
                                 const ts_tensor *dy, ts_tensor *dx);
void ts_cpu_dropout_forward (ts_backend *be, float p, uint64_t seed, uint64_t counter,
                             const ts_tensor *x, ts_tensor *y, ts_tensor *mask);
void ts_cpu_dropout_backward (ts_backend *be, const ts_tensor *mask, const ts_tensor *dy,
                              ts_tensor *dx);
void ts_cpu_concat_channels (ts_backend *be, const ts_tensor *a, const ts_tensor *b,
                             ts_tensor *y);
void ts_cpu_split_channels (ts_backend *be, const ts_tensor *dy, ts_tensor *da,
                            ts_tensor *db);
int ts_cpu_all_finite (ts_backend *be, const ts_tensor *t);
double ts_cpu_sum_squares (ts_backend *be, const ts_tensor *t);

void ts_cpu_conv2d_forward (ts_backend *be, const ts_conv2d_params *p, const ts_tensor *x,
                            const ts_tensor *w, const ts_tensor *b, ts_tensor *y);
void ts_cpu_conv2d_forward_fused (ts_backend *be, const ts_conv2d_params *p, const ts_tensor *x,
                                  const ts_tensor *w, const ts_tensor *b, const ts_tensor *res,
                                  int act, ts_tensor *y);
void ts_cpu_conv2d_backward (ts_backend *be, const ts_conv2d_params *p, const ts_tensor *x,
                             const ts_tensor *w, const ts_tensor *dy, ts_tensor *dx,
                             ts_tensor *dw, ts_tensor *db);

void ts_cpu_batchnorm_forward_train (ts_backend *be, const ts_tensor *x,
                                     const ts_tensor *gamma, const ts_tensor *beta,
                                     ts_tensor *running_mean, ts_tensor *running_var,
                                     float momentum, float eps, ts_tensor *y,
                                     ts_tensor *save_mean, ts_tensor *save_invstd);
void ts_cpu_batchnorm_forward_eval (ts_backend *be, const ts_tensor *x,
                                    const ts_tensor *gamma, const ts_tensor *beta,
                                    const ts_tensor *running_mean,
                                    const ts_tensor *running_var, float eps, ts_tensor *y);
void ts_cpu_batchnorm_backward (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                                const ts_tensor *save_mean, const ts_tensor *save_invstd,
                                const ts_tensor *dy, ts_tensor *dx, ts_tensor *dgamma,
                                ts_tensor *dbeta);

void ts_cpu_maxpool2d_forward (ts_backend *be, const ts_pool2d_params *p, const ts_tensor *x,
                               ts_tensor *y, int32_t *argmax);
void ts_cpu_maxpool2d_backward (ts_backend *be, const ts_pool2d_params *p,
                                const int32_t *argmax, const ts_tensor *dy, ts_tensor *dx);
void ts_cpu_adaptive_avgpool2d_forward (ts_backend *be, const ts_tensor *x, ts_tensor *y);
void ts_cpu_adaptive_avgpool2d_backward (ts_backend *be, const ts_tensor *dy, ts_tensor *dx);
void ts_cpu_adaptive_maxpool2d_forward (ts_backend *be, const ts_tensor *x, ts_tensor *y,
                                        int32_t *argmax);
void ts_cpu_adaptive_maxpool2d_backward (ts_backend *be, const int32_t *argmax,
                                         const ts_tensor *dy, ts_tensor *dx);

void ts_cpu_linear_forward (ts_backend *be, const ts_tensor *x, const ts_tensor *w,
                            const ts_tensor *b, ts_tensor *y);
void ts_cpu_linear_backward (ts_backend *be, const ts_tensor *x, const ts_tensor *w,
                             const ts_tensor *dy, ts_tensor *dx, ts_tensor *dw, ts_tensor *db);

float ts_cpu_bce_with_logits (ts_backend *be, const ts_tensor *logits,
                              const ts_tensor *targets, ts_tensor *dlogits);

void ts_cpu_adam_step (ts_backend *be, ts_tensor *param, const ts_tensor *grad, ts_tensor *m,
                       ts_tensor *v, float lr, float beta1, float beta2, float eps, float wd,
                       int step);

void ts_cpu_resample_batch (ts_backend *be, const uint8_t *host_src, size_t src_bytes,
                            void *stage, const ts_resample_item *items, int n,
                            const float mean[3], const float std[3], ts_tensor *out);

/* BLAS set-up: ts_cpu_blas_init picks the right OpenBLAS kernels once per process */
void ts_cpu_blas_threads (int n);
void ts_cpu_blas_init (void);
const char *ts_cpu_blas_core (void);
