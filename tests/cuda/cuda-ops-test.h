/* cuda-ops-test.h: what the op-parity tests share (test-cuda-ops.c, the
 * float32 ops; test-cuda-bf16.c, the bfloat16 NHWC ones): the two backends,
 * random inputs made on both, and the normalized-error comparison
 * ||gpu - cpu|| / ||cpu||.  Included by one source file per program (so
 * the functions are static inline: each program uses some of them). */
#pragma once

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda-test.h"
#include "ts-backend-cuda.h"
#include "ts-backend.h"
#include "ts-rng.h"

static ts_backend *cpu, *gpu;
static ts_rng rng;
static char skip_reason[512];
static double worst_err;
static char worst_op[128];

/* the host emulation's fake cuDNN (tests/cuda/emu/fake-cudnn.c): the calls
 * that ran (those with a non-deterministic algorithm, Find*) and its live
 * handles + descriptors; NULL with the real cuDNN or without cudnn.h */
extern long ts_fake_cudnn_forwards __attribute__ ((weak));
extern long ts_fake_cudnn_backward_data __attribute__ ((weak));
extern long ts_fake_cudnn_backward_filter __attribute__ ((weak));
extern long ts_fake_cudnn_nondeterministic __attribute__ ((weak));
extern long ts_fake_cudnn_finds __attribute__ ((weak));
extern long ts_fake_cudnn_live __attribute__ ((weak));
/* ... and its runtime's switch to the kernels' 64-bit index paths
 * (tests/cuda/emu/fake-cudart.c); NULL on a real GPU */
extern int tsk_emu_wide_index __attribute__ ((weak));

/* 1 when this run's convolutions should go through cuDNN (TS_CUDA_CUDNN=1) */
static inline int
want_cudnn (void)
{
  const char *v = g_getenv ("TS_CUDA_CUDNN");
  return v && atoi (v) == 1;
}

/* @fn with the kernels' 32-bit indices, then, in the host emulation, with
 * their 64-bit ones (tsk_int_index): a real GPU takes those only for
 * tensors of 2^30 elements, too large for a test */
static inline void
each_index_width (void (*fn) (void))
{
  fn ();
  if (&tsk_emu_wide_index == NULL)
    return;
  tsk_emu_wide_index = 1;
  fn ();
  tsk_emu_wide_index = 0;
}

/* 1 when the GPU backend exists; else the test is skipped with the reason */
static inline int
have_gpu (void)
{
  if (gpu == NULL)
    {
      ts_cuda_test_skip_no_gpu (skip_reason);
      return 0;
    }
  ts_rng_seed (&rng, 42, 7);
  return 1;
}

static inline float *
rnd (int64_t n, float lo, float hi)
{
  float *h = malloc ((size_t) (n > 0 ? n : 1) * sizeof (float));
  for (int64_t i = 0; i < n; i++)
    h[i] = (float) ts_rng_uniform_range (&rng, lo, hi);
  return h;
}

typedef struct {
  ts_tensor *c, *g;
} pair;

static inline pair
mk (int ndim, const int64_t *shape, const float *host)
{
  pair p = { ts_tensor_new (cpu, ndim, shape), ts_tensor_new (gpu, ndim, shape) };
  g_assert_nonnull (p.c);
  g_assert_nonnull (p.g);
  if (host)
    {
      g_assert_cmpint (ts_tensor_from_host (p.c, host, p.c->numel), ==, TS_OK);
      g_assert_cmpint (ts_tensor_from_host (p.g, host, p.g->numel), ==, TS_OK);
    }
  else
    {
      /* garbage, so that an op that forgets to overwrite its output is caught */
      cpu->i->fill (cpu, p.c, 123.25f);
      gpu->i->fill (gpu, p.g, 123.25f);
    }
  return p;
}

static inline pair
mk_rand (int ndim, const int64_t *shape, float lo, float hi)
{
  int64_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  float *h = rnd (n, lo, hi);
  pair p = mk (ndim, shape, h);
  free (h);
  return p;
}

/* An activation as the bf16 precision policy holds it: float32 NCHW on the
 * CPU, bfloat16 NHWC on the GPU (4 dimensions), both holding @host rounded
 * to bfloat16 so that both ops start from the same values (NULL: garbage,
 * as mk) */
static inline pair
mk_bf16 (const int64_t *shape, const float *host)
{
  pair p = { ts_tensor_new (cpu, 4, shape), ts_tensor_new_as (gpu, 4, shape, TS_BF16, TS_NHWC) };
  int64_t n;
  float *h;

  g_assert_nonnull (p.c);
  g_assert_nonnull (p.g);
  n = p.c->numel;
  h = malloc ((size_t) n * sizeof (float));
  for (int64_t i = 0; i < n; i++)
    h[i] = host ? ts_bf16_round (host[i]) : 123.25f;
  g_assert_cmpint (ts_tensor_from_host (p.c, h, n), ==, TS_OK);
  g_assert_cmpint (ts_tensor_from_host (p.g, h, n), ==, TS_OK);
  free (h);
  return p;
}

static inline pair
mk_rand_bf16 (const int64_t *shape, float lo, float hi)
{
  int64_t n = shape[0] * shape[1] * shape[2] * shape[3];
  float *h = rnd (n, lo, hi);
  pair p = mk_bf16 (shape, h);
  free (h);
  return p;
}

/* The fake cuDNN's call counters (tests/cuda/emu/fake-cudnn.c); zeros
 * with the real cuDNN, which counts nothing */
typedef struct {
  long fwd, data, filter;
} cudnn_calls;

static inline cudnn_calls
cudnn_calls_now (void)
{
  cudnn_calls c = { 0, 0, 0 };
  if (&ts_fake_cudnn_forwards != NULL)
    c = (cudnn_calls) { ts_fake_cudnn_forwards, ts_fake_cudnn_backward_data,
                        ts_fake_cudnn_backward_filter };
  return c;
}

/* In the host emulation: the fake cuDNN ran exactly @want forward, data and
 * filter calls since @start (nothing to check with the real cuDNN). */
static inline void
assert_cudnn_calls (const char *what, cudnn_calls start, cudnn_calls want)
{
  cudnn_calls now = cudnn_calls_now ();
  long fwd = now.fwd - start.fwd, data = now.data - start.data;
  long filter = now.filter - start.filter;

  if (&ts_fake_cudnn_forwards == NULL)
    return;
  if (fwd != want.fwd || data != want.data || filter != want.filter)
    g_test_message ("%s: cuDNN ran forward %ld, data %ld, filter %ld times (%ld, %ld, %ld "
                    "expected)", what, fwd, data, filter, want.fwd, want.data, want.filter);
  g_assert_cmpint (fwd, ==, want.fwd);
  g_assert_cmpint (data, ==, want.data);
  g_assert_cmpint (filter, ==, want.filter);
}

/* A convolution to compare: input [n, c, h, w], cout filters of kh x kw */
typedef struct {
  const char *name;
  int n, c, h, w, cout, kh, kw;
  ts_conv2d_params p;
  int bias;
} conv_case;

/* The shapes of @cc's x, w, y and bias */
static inline void
conv_case_shapes (const conv_case *cc, int64_t sx[4], int64_t sw[4], int64_t sy[4],
                  int64_t sb[1])
{
  const ts_conv2d_params *p = &cc->p;
  int groups = p->groups > 0 ? p->groups : 1;

  sx[0] = cc->n, sx[1] = cc->c, sx[2] = cc->h, sx[3] = cc->w;
  sw[0] = cc->cout, sw[1] = cc->c / groups, sw[2] = cc->kh, sw[3] = cc->kw;
  sy[0] = cc->n, sy[1] = cc->cout;
  sy[2] = (cc->h + p->pad_top + p->pad_bottom - cc->kh) / p->stride_h + 1;
  sy[3] = (cc->w + p->pad_left + p->pad_right - cc->kw) / p->stride_w + 1;
  sb[0] = cc->cout;
}

static inline void
pfree (pair p)
{
  ts_tensor_free (p.c);
  ts_tensor_free (p.g);
}

static inline double
compare_floats (const char *what, const float *c, const float *g, int64_t n, double tol)
{
  double num = 0.0, den = 0.0, err;
  int64_t bad = -1;

  for (int64_t i = 0; i < n; i++)
    {
      double d = (double) g[i] - (double) c[i];
      if (isnan (c[i]) != isnan (g[i]) && bad < 0)
        bad = i;
      if (!isnan (d))
        num += d * d;
      den += (double) c[i] * (double) c[i];
    }
  err = sqrt (num) / (sqrt (den) + 1e-30);
  if (den == 0.0)
    err = sqrt (num);
  if (err > worst_err)
    {
      worst_err = err;
      snprintf (worst_op, sizeof worst_op, "%s", what);
    }
  if (g_getenv ("TS_CUDA_VERBOSE"))
    g_test_message ("%s: normalized error %.3g (tolerance %.2g)", what, err, tol);
  if (err > tol || bad >= 0)
    {
      g_test_message ("%s: normalized error %.3g (tolerance %.2g)%s", what, err, tol,
                      bad >= 0 ? ", NaN mismatch" : "");
      for (int64_t i = 0; i < n && i < 4; i++)
        g_test_message ("  [%lld] cpu %.8g gpu %.8g", (long long) i, c[i], g[i]);
      g_test_fail ();
    }
  return err;
}

static inline void
cmp (const char *what, pair p, double tol)
{
  int64_t n = p.c->numel;
  float *hc = malloc ((size_t) n * sizeof (float)), *hg = malloc ((size_t) n * sizeof (float));

  g_assert_cmpint (ts_tensor_to_host (p.c, hc, n), ==, TS_OK);
  g_assert_cmpint (ts_tensor_to_host (p.g, hg, n), ==, TS_OK);
  g_assert_true (strcmp (ts_last_error (), "") == 0 || strstr (ts_last_error (), "CUDA") == NULL);
  compare_floats (what, hc, hg, n, tol);
  free (hc);
  free (hg);
}

/* argmax buffers are backend memory of int32; download moves 4-byte words */
static inline void
cmp_argmax (const char *what, const int32_t *ac, const int32_t *ag, int64_t n)
{
  int32_t *hc = malloc ((size_t) n * 4), *hg = malloc ((size_t) n * 4);
  int64_t diff = 0;

  cpu->i->download (cpu, (float *) hc, (const float *) ac, (size_t) n);
  gpu->i->download (gpu, (float *) hg, (const float *) ag, (size_t) n);
  for (int64_t i = 0; i < n; i++)
    diff += hc[i] != hg[i];
  if (diff)
    {
      g_test_message ("%s: %lld of %lld argmax differ", what, (long long) diff, (long long) n);
      g_test_fail ();
    }
  free (hc);
  free (hg);
}
