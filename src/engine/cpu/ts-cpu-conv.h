/* ts-cpu-conv.h: geometry and argument block shared by the CPU conv files
 * (ts-cpu-conv2d.c: im2col + GEMM; ts-cpu-conv-gemm*.c: the packed AVX-512 GEMM;
 * ts-cpu-depthwise.c: direct depthwise loops). */
#pragma once

#include <stdint.h>

#include "ts-cpu-private.h"

typedef struct {
  int64_t n, c, h, w;          /* input */
  int64_t cout, oh, ow;        /* output */
  int64_t kh, kw, groups, cg, coutg;
  int64_t k, p;                /* GEMM sizes: K = cg*kh*kw, P = oh*ow */
  int sh, sw, pt, pl;
  int direct;                  /* 1x1, stride 1, no padding: col = x */
  int64_t budget;              /* im2col floats per GEMM */
} conv_geom;

typedef struct {
  ts_backend *be;
  const conv_geom *g;
  const float *x, *w, *b, *dy;
  float *y, *dx, *dw, *db;
  int serial;                  /* one thread, threaded BLAS (fewer images than threads) */
  int failed;
} conv_args;

/* Output columns ox whose input column ox*s - pad + k lies in [0, size). */
static inline void
valid_range (int64_t out, int64_t size, int s, int pad, int64_t k, int64_t *o0, int64_t *o1)
{
  int64_t lo = pad - k;       /* need ox*s >= lo */
  int64_t hi = size - 1 + pad - k; /* need ox*s <= hi */
  int64_t a = lo <= 0 ? 0 : (lo + s - 1) / s;
  int64_t b = hi < 0 ? 0 : hi / s + 1;
  *o0 = a < out ? a : out;
  *o1 = b < out ? b : out;
  if (*o1 < *o0)
    *o1 = *o0;
}

/* Rows of small planes are a few floats: inline loops beat memcpy/memset calls
 * (and GCC must not turn them back into those calls). */
#if defined(__GNUC__) && !defined(__clang__)
#define TS_NO_LIBCALLS __attribute__ ((optimize ("no-tree-loop-distribute-patterns")))
#else
#define TS_NO_LIBCALLS
#endif

static inline TS_NO_LIBCALLS void
copy_floats (float *restrict dst, const float *restrict src, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    dst[i] = src[i];
}

static inline TS_NO_LIBCALLS void
zero_floats (float *dst, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    dst[i] = 0.0f;
}

/* Dense convs (groups 1) as a packed AVX-512 GEMM (ts-cpu-conv-gemm.c): on
 * x86-64 with GCC or clang, chosen at run time when the CPU has AVX-512
 * (TS_CPU_CONV_GEMM=0 turns it off, to compare with im2col + BLAS). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TS_CPU_CONV_GEMM 1
#else
#define TS_CPU_CONV_GEMM 0
#endif
int ts_cpu_conv_gemm_ok (ts_backend *be, const conv_geom *g);
/* y = act (conv (x, w) + b + res); b, res may be NULL, act -1 (none), TS_ACT_RELU or
 * TS_ACT_RELU6; y may be res but not x.  0 when out of memory for scratch. */
int ts_cpu_conv_gemm_forward (ts_backend *be, const conv_geom *g, const float *x, const float *w,
                              const float *b, const float *res, int act, float *y);
/* Backward of a conv that ts_cpu_conv_gemm_ok accepts, on the same GEMM:
 * dw = dy * col^T (ts-cpu-conv-gemm-dw.c); dx, with stride 1, as the forward
 * conv of dy with the flipped weights, else as W^T * dy added into dx tile by
 * tile (ts-cpu-conv-gemm-dx.c).  Both overwrite their output; 0 when out of
 * memory for scratch. */
int ts_cpu_conv_gemm_backward_weights (ts_backend *be, const conv_geom *g, const float *x,
                                       const float *dy, float *dw);
int ts_cpu_conv_gemm_backward_data (ts_backend *be, const conv_geom *g, const float *w,
                                    const float *dy, float *dx);

/* Tasks for ts_cpu_parallel over channels; arg is a conv_args. */
void ts_cpu_depthwise_forward_task (void *arg, int tid, int nt);
void ts_cpu_depthwise_backward_task (void *arg, int tid, int nt);
