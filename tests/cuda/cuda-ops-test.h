/* cuda-ops-test.h: what the op-parity tests share (test-cuda-ops.c, the
 * float32 ops; test-cuda-bf16.c, the bfloat16 NHWC ones): the two backends
 * (main's start and end), random inputs made on both, the normalized-error
 * comparison ||gpu - cpu|| / ||cpu||, and the host emulation's fake cuDNN
 * (its counters and its failures at execution).  Included by one source file per program (so
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

/* ... and its failures at execution, for cuDNN's fall-through
 * (ts-cuda-cudnn.c): its switches and the tries it counted */
extern int ts_fake_cudnn_fail_first[3] __attribute__ ((weak));
extern unsigned ts_fake_cudnn_failing[3] __attribute__ ((weak));
extern int ts_fake_cudnn_fail_status __attribute__ ((weak));   /* a cudnnStatus_t */
extern int ts_fake_cudnn_fail_fault __attribute__ ((weak));    /* a cudaError_t */
extern long ts_fake_cudnn_tries[3][8] __attribute__ ((weak));
extern void ts_fake_cudnn_fail_reset (void) __attribute__ ((weak));

/* cuDNN 9's statuses (cudnn_graph.h) and CUDA's (driver_types.h) that the
 * tests make the fake return: the tests build without cudnn.h */
enum {
  DNN_NOT_INITIALIZED = 1001,         /* the library's: never retried */
  DNN_BAD_PARAM_NULL_POINTER = 2002,  /* details of BAD_PARAM about what we passed: */
  DNN_BAD_PARAM_MISALIGNED = 2003,    /* our bug, never retried */
  DNN_BAD_PARAM_SIZE_INSUFFICIENT = 2006,   /* the workspace it asked for falls short: the algorithm's */
  DNN_NOT_SUPPORTED = 3000,
  DNN_NOT_SUPPORTED_SUBLIBRARY = 3009,      /* its engine's sub-library missing: retried */
  DNN_EXECUTION_FAILED = 5000,        /* the algorithm's while CUDA is sound */
  CUDA_ILLEGAL_ADDRESS = 700          /* a kernel's fault: sticky */
};

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

/* 1 when the fake cuDNN runs this test's convolutions (then all its
 * switches are there: fake-cudnn.c defines them together); else skipped */
static inline int
have_fake_cudnn (void)
{
  if (!have_gpu ())
    return 0;
  if (!want_cudnn () || &ts_fake_cudnn_fail_reset == NULL)
    {
      g_test_skip ("needs the host emulation's fake cuDNN (TS_CUDA_CUDNN=1)");
      return 0;
    }
  return 1;
}

/* have_fake_cudnn, its failures cleared */
static inline int
have_fake_failures (void)
{
  if (!have_fake_cudnn ())
    return 0;
  ts_fake_cudnn_fail_reset ();
  return 1;
}

/* the fake's runs of direction @kind: all (failed or not), and those of the
 * algorithms that fail */
static inline long
tries_of (int kind, int failing_only)
{
  long n = 0;
  for (int a = 0; a < 8; a++)
    if (!failing_only || (ts_fake_cudnn_failing[kind] & (1u << a)))
      n += ts_fake_cudnn_tries[kind][a];
  return n;
}

static inline ts_cuda_dnn_stats
dnn_stats (ts_backend *be)
{
  ts_cuda_dnn_stats s;
  ts_backend_cuda_dnn_stats (be, &s);
  return s;
}

/* After the tests, on a GPU (a report, not a test): how often cuDNN
 * refused, as it ran, what its heuristics offered */
static inline void
print_cudnn_refusals (void)
{
  ts_cuda_dnn_stats s = dnn_stats (gpu);

  printf ("# cuDNN algorithms refused when run: %ld; given up for want of workspace "
          "memory: %ld; directions left without one: %ld\n", s.refused, s.no_memory,
          s.exhausted);
}

/* main's start, after g_test_init: the defaults (ts_cuda_test_default_env),
 * the CPU reference and the GPU backend, which the log names (else
 * skip_reason: why there is none); 1 when there is a GPU */
static inline int
open_backends (void)
{
  char desc[256];

  ts_cuda_test_default_env ();
  cpu = ts_backend_cpu_new (1);
  gpu = ts_backend_cuda_new (0, skip_reason, sizeof skip_reason);
  if (gpu)
    g_test_message ("GPU: %s", ts_backend_cuda_describe (gpu, desc, sizeof desc));
  else
    g_test_message ("%s", skip_reason);
  return gpu != NULL;
}

/* main's end: both backends freed; @rc, or 1 when the fake cuDNN's handle
 * and descriptors did not go with the backend */
static inline int
close_backends (int rc)
{
  if (gpu)
    ts_backend_free (gpu);
  ts_backend_free (cpu);
  if (&ts_fake_cudnn_live != NULL && ts_fake_cudnn_live != 0)
    {
      printf ("# fake cuDNN: %ld handles or descriptors not destroyed\n", ts_fake_cudnn_live);
      rc = 1;
    }
  return rc;
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
