/* test-ops-misc.c: Adam against the formula in double, dropout masks, the small
 * elementwise ops, tensor bookkeeping, thread-count independence, bad shapes,
 * the packed-GEMM and fused conv forward and the conv backward against a
 * direct loop. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "ts-backend.h"
#include "ts-fixture.h"
#include "ts-rng.h"

static ts_rng rng;

static ts_tensor *
rand_tensor (ts_backend *be, int ndim, const int64_t *shape, float lo, float hi)
{
  ts_tensor *t = ts_tensor_new (be, ndim, shape);
  g_assert_nonnull (t);
  for (int64_t i = 0; i < t->numel; i++)
    t->data[i] = (float) ts_rng_uniform_range (&rng, lo, hi);
  return t;
}

static void
test_adam (void)
{
  ts_backend *be = ts_backend_cpu_new (2);
  const int64_t n = 70000;   /* above the size where the update is split over threads */
  int64_t s[1] = { n };
  ts_tensor *p = rand_tensor (be, 1, s, -1, 1), *g = ts_tensor_new (be, 1, s);
  ts_tensor *m = ts_tensor_new (be, 1, s), *v = ts_tensor_new (be, 1, s);
  double *rp = g_new (double, n), *rm = g_new0 (double, n), *rv = g_new0 (double, n);
  const double lr = 3e-3, b1 = 0.9, b2 = 0.99, eps = 1e-5, wd = 0.01;
  double max_err = 0.0;

  for (int64_t i = 0; i < n; i++)
    rp[i] = p->data[i];
  for (int step = 1; step <= 6; step++)
    {
      for (int64_t i = 0; i < n; i++)
        /* include exact zeros: sqrt(0)+eps must not divide by zero */
        g->data[i] = i % 97 == 0 ? 0.0f : (float) ts_rng_uniform_range (&rng, -2, 2);
      be->i->adam_step (be, p, g, m, v, (float) lr, (float) b1, (float) b2, (float) eps,
                        (float) wd, step);
      for (int64_t i = 0; i < n; i++)
        {
          double gi = g->data[i];
          rp[i] -= lr * wd * rp[i];
          rm[i] = b1 * rm[i] + (1 - b1) * gi;
          rv[i] = b2 * rv[i] + (1 - b2) * gi * gi;
          rp[i] -= lr * (rm[i] / (1 - pow (b1, step))) / (sqrt (rv[i] / (1 - pow (b2, step))) + eps);
          max_err = fmax (max_err, fabs (rp[i] - p->data[i]));
        }
    }
  g_test_message ("adam: max |p - reference| after 6 steps %.3g", max_err);
  g_assert_cmpfloat (max_err, <, 1e-6);
  /* the very first step moves every weight with a nonzero gradient by about lr */
  g_free (rp); g_free (rm); g_free (rv);
  ts_tensor_free (p); ts_tensor_free (g); ts_tensor_free (m); ts_tensor_free (v);
  ts_backend_free (be);
}

static void
test_adam_first_step (void)
{
  ts_backend *be = ts_backend_cpu_new (1);
  ts_tensor *p = ts_tensor_new_1d (be, 3), *g = ts_tensor_new_1d (be, 3);
  ts_tensor *m = ts_tensor_new_1d (be, 3), *v = ts_tensor_new_1d (be, 3);
  float pv[3] = { 1.0f, -2.0f, 0.5f }, gv[3] = { 0.3f, -4.0f, 0.0f };

  ts_tensor_from_host (p, pv, 3);
  ts_tensor_from_host (g, gv, 3);
  be->i->adam_step (be, p, g, m, v, 0.1f, 0.9f, 0.99f, 1e-5f, 0.0f, 1);
  /* bias-corrected first step: m_hat = g, v_hat = g^2, so p -= lr * sign(g) (nearly) */
  g_assert_cmpfloat_with_epsilon (p->data[0], 0.9f, 1e-4);
  g_assert_cmpfloat_with_epsilon (p->data[1], -1.9f, 1e-4);
  g_assert_cmpfloat (p->data[2], ==, 0.5f);
  /* true weight decay with a zero gradient: p *= 1 - lr*wd */
  be->i->fill (be, g, 0.0f);
  be->i->fill (be, m, 0.0f);
  be->i->fill (be, v, 0.0f);
  be->i->adam_step (be, p, g, m, v, 0.1f, 0.9f, 0.99f, 1e-5f, 0.5f, 1);
  g_assert_cmpfloat_with_epsilon (p->data[2], 0.5f * 0.95f, 1e-7);
  ts_tensor_free (p); ts_tensor_free (g); ts_tensor_free (m); ts_tensor_free (v);
  ts_backend_free (be);
}

static void
test_dropout (void)
{
  ts_backend *be1 = ts_backend_cpu_new (1), *be3 = ts_backend_cpu_new (3);
  int64_t s[2] = { 400, 512 };
  ts_tensor *x = rand_tensor (be1, 2, s, 0.5f, 1.5f);
  ts_tensor *y1 = ts_tensor_new (be1, 2, s), *m1 = ts_tensor_new (be1, 2, s);
  ts_tensor *y3 = ts_tensor_new (be3, 2, s), *m3 = ts_tensor_new (be3, 2, s);
  int64_t zeros = 0;
  double mean_ratio = 0.0;

  be1->i->dropout_forward (be1, 0.25f, 9, 123456, x, y1, m1);
  be3->i->dropout_forward (be3, 0.25f, 9, 123456, x, y3, m3);
  /* masks depend on (seed, counter) only, not on the thread split */
  g_assert_cmpmem (m1->data, m1->numel * 4, m3->data, m3->numel * 4);
  g_assert_cmpmem (y1->data, y1->numel * 4, y3->data, y3->numel * 4);
  for (int64_t i = 0; i < x->numel; i++)
    {
      if (m1->data[i] == 0.0f)
        zeros++;
      else
        g_assert_cmpfloat_with_epsilon (m1->data[i], 1.0f / 0.75f, 1e-6);
      mean_ratio += y1->data[i] / x->data[i];
    }
  mean_ratio /= (double) x->numel;
  g_test_message ("dropout p=0.25: %.4f dropped, E[y/x] = %.4f", (double) zeros / x->numel,
                  mean_ratio);
  g_assert_cmpfloat (fabs ((double) zeros / x->numel - 0.25), <, 0.01);
  g_assert_cmpfloat (fabs (mean_ratio - 1.0), <, 0.01);
  /* a different counter gives a different mask */
  be1->i->dropout_forward (be1, 0.25f, 9, 999, x, y3, m3);
  g_assert_true (memcmp (m1->data, m3->data, (size_t) m1->numel * 4) != 0);
  /* p = 0 is the identity */
  be1->i->dropout_forward (be1, 0.0f, 9, 1, x, y1, m1);
  g_assert_cmpmem (x->data, x->numel * 4, y1->data, y1->numel * 4);

  ts_tensor_free (x); ts_tensor_free (y1); ts_tensor_free (m1);
  ts_tensor_free (y3); ts_tensor_free (m3);
  ts_backend_free (be1);
  ts_backend_free (be3);
}

static void
test_eltwise (void)
{
  ts_backend *be = ts_backend_cpu_new (2);
  int64_t s[1] = { 100003 };   /* large enough to be split, odd to test the tail */
  ts_tensor *a = rand_tensor (be, 1, s, -1, 1), *b = rand_tensor (be, 1, s, -1, 1);
  ts_tensor *y = ts_tensor_new (be, 1, s);

  be->i->add (be, a, b, y);
  for (int64_t i = 0; i < y->numel; i++)
    g_assert_cmpfloat (y->data[i], ==, a->data[i] + b->data[i]);
  be->i->axpby (be, 2.0f, a, 0.5f, y);
  for (int64_t i = 0; i < y->numel; i++)
    g_assert_cmpfloat_with_epsilon (y->data[i], 2.0f * a->data[i] + 0.5f * (a->data[i] + b->data[i]), 1e-6);
  /* beta = 0 overwrites even NaN */
  be->i->fill (be, y, NAN);
  g_assert_false (be->i->all_finite (be, y));
  be->i->axpby (be, -1.0f, a, 0.0f, y);
  g_assert_true (be->i->all_finite (be, y));
  for (int64_t i = 0; i < y->numel; i++)
    g_assert_cmpfloat (y->data[i], ==, -a->data[i]);
  be->i->fill (be, y, 2.0f);
  g_assert_cmpfloat_with_epsilon (be->i->sum_squares (be, y), 4.0 * y->numel, 1e-6);
  y->data[500] = INFINITY;
  g_assert_false (be->i->all_finite (be, y));
  ts_tensor_free (a); ts_tensor_free (b); ts_tensor_free (y);
  ts_backend_free (be);
}

static void
test_tensor (void)
{
  ts_backend *be = ts_backend_cpu_new (1);
  ts_tensor *t = ts_tensor_new_4d (be, 64, 3, 7, 7), *u = ts_tensor_new_4d (be, 64, 3, 7, 1);
  char buf[64];
  float host[4] = { 1, 2, 3, 4 };
  int64_t bad[2] = { 2, -1 };

  g_assert_cmpstr (ts_tensor_shape_str (t, buf, sizeof buf), ==, "[64, 3, 7, 7]");
  g_assert_cmpint (t->numel, ==, 64 * 3 * 49);
  for (int64_t i = 0; i < t->numel; i++)
    g_assert_cmpfloat (t->data[i], ==, 0.0f);
  g_assert_false (ts_tensor_same_shape (t, u));
  g_assert_nonnull (strstr (ts_last_error (), "expected [64, 3, 7, 7] found [64, 3, 7, 1]"));
  g_assert_true (ts_tensor_same_shape (t, t));
  g_assert_cmpint (ts_tensor_from_host (t, host, 4), ==, TS_ERR_SHAPE);
  g_assert_null (ts_tensor_new (be, 2, bad));
  g_assert_null (ts_tensor_new (be, 5, bad));
  ts_tensor_free (u);
  u = ts_tensor_view (be, host, 1, (int64_t[]) { 4 });
  g_assert_nonnull (u);
  ts_tensor *c = ts_tensor_new_1d (be, 4);
  g_assert_cmpint (ts_tensor_from_host (c, host, 4), ==, TS_OK);
  float back[4];
  g_assert_cmpint (ts_tensor_to_host (c, back, 4), ==, TS_OK);
  g_assert_cmpmem (back, sizeof back, host, sizeof host);
  ts_tensor_free (u);   /* a view leaves host[] alone */
  /* large tensors are mapped lazily: still zero, writable, aligned */
  for (int round = 0; round < 2; round++)
    {
      ts_tensor *big = ts_tensor_new_1d (be, (1 << 20) + 3);
      g_assert_nonnull (big);
      g_assert_cmpuint ((uintptr_t) big->data % 64, ==, 0);
      for (int64_t i = 0; i < big->numel; i += 4099)
        g_assert_cmpfloat (big->data[i], ==, 0.0f);
      be->i->fill (be, big, 1.5f);
      g_assert_cmpfloat (big->data[big->numel - 1], ==, 1.5f);
      ts_tensor_free (big);
    }
  ts_tensor_free (c);
  ts_tensor_free (t);
  ts_backend_free (be);
}

/* Close results on 1, 2 and 3 threads and after changing the thread count, and
 * bit for bit the same when repeated with one thread count: the splits are
 * static (how many images share a GEMM depends on the split, so sums are
 * grouped differently across thread counts). */
static void
test_threads (void)
{
  ts_backend *be = ts_backend_cpu_new (1);
  int64_t xs[4] = { 5, 8, 9, 9 }, ws[4] = { 6, 8, 3, 3 };
  ts_conv2d_params p = { 2, 2, 1, 1, 1, 1, 1 };
  ts_tensor *x = rand_tensor (be, 4, xs, -1, 1), *w = rand_tensor (be, 4, ws, -1, 1);
  ts_tensor *y1 = ts_tensor_new_4d (be, 5, 6, 5, 5), *y = ts_tensor_new_4d (be, 5, 6, 5, 5);
  ts_tensor *dx1 = ts_tensor_new (be, 4, xs), *dx = ts_tensor_new (be, 4, xs);
  ts_tensor *dw1 = ts_tensor_new (be, 4, ws), *dw = ts_tensor_new (be, 4, ws);

  be->i->conv2d_forward (be, &p, x, w, NULL, y1);
  be->i->conv2d_backward (be, &p, x, w, y1, dx1, dw1, NULL);
  for (int nt = 2; nt <= 3; nt++)
    {
      ts_backend_set_threads (be, nt);
      g_assert_cmpint (be->n_threads, ==, nt);
      be->i->conv2d_forward (be, &p, x, w, NULL, y);
      be->i->conv2d_backward (be, &p, x, w, y1, dx, dw, NULL);
      ts_assert_close ("y across thread counts", y->data, y1->data, y->numel, 1e-5, 1e-5);
      ts_assert_close ("dx across thread counts", dx->data, dx1->data, dx->numel, 1e-5, 1e-5);
      ts_assert_close ("dw across thread counts", dw->data, dw1->data, dw->numel, 1e-5, 1e-5);
      /* and repeatable */
      ts_tensor *y2 = ts_tensor_new_4d (be, 5, 6, 5, 5), *dw2 = ts_tensor_new (be, 4, ws);
      be->i->conv2d_forward (be, &p, x, w, NULL, y2);
      be->i->conv2d_backward (be, &p, x, w, y1, NULL, dw2, NULL);
      g_assert_cmpmem (y->data, y->numel * 4, y2->data, y2->numel * 4);
      g_assert_cmpmem (dw->data, dw->numel * 4, dw2->data, dw2->numel * 4);
      ts_tensor_free (y2);
      ts_tensor_free (dw2);
    }
  ts_tensor_free (x); ts_tensor_free (w); ts_tensor_free (y1); ts_tensor_free (y);
  ts_tensor_free (dx1); ts_tensor_free (dx); ts_tensor_free (dw1); ts_tensor_free (dw);
  ts_backend_free (be);
}

/* Thousands of back-to-back parallel regions: the pool's spin-then-sleep
 * hand-over must never lose a task or a completion. */
static void
test_pool_stress (void)
{
  ts_backend *be = ts_backend_cpu_new (3);
  int64_t s[4] = { 4, 9, 4, 4 };
  ts_tensor *x = rand_tensor (be, 4, s, -1, 1), *y = ts_tensor_new (be, 4, s);
  ts_tensor *y0 = ts_tensor_new (be, 4, s);
  ts_tensor *sm = ts_tensor_new_1d (be, 9), *si = ts_tensor_new_1d (be, 9);

  be->i->batchnorm_forward_train (be, x, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, y0, sm, si);
  for (int i = 0; i < 6000; i++)
    {
      be->i->fill (be, y, 0.0f);
      be->i->batchnorm_forward_train (be, x, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, y, sm, si);
      if (i % 500 == 0 || i == 5999)
        g_assert_cmpmem (y->data, y->numel * 4, y0->data, y0->numel * 4);
      if (i == 3000)
        g_usleep (2000);   /* let the workers fall asleep once */
    }
  ts_tensor_free (x); ts_tensor_free (y); ts_tensor_free (y0);
  ts_tensor_free (sm); ts_tensor_free (si);
  ts_backend_free (be);
}

/* OpenBLAS must run kernels this CPU supports at their best: on VMs that report an
 * unknown model it falls back to Prescott (SSE3) unless the backend corrects it. */
static void
test_blas_core (void)
{
  ts_backend *be = ts_backend_cpu_new (1);
  const char *core = ts_backend_cpu_blas_core ();

  g_test_message ("BLAS core: %s", core);
  g_assert_nonnull (core);
  __builtin_cpu_init ();
  if (g_getenv ("OPENBLAS_CORETYPE") == NULL && g_getenv ("TS_KEEP_BLAS_CORE") == NULL
      && __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    {
      g_assert_true (g_ascii_strcasecmp (core, "Prescott") != 0);
      g_assert_true (g_ascii_strcasecmp (core, "Core2") != 0);
      g_assert_true (g_ascii_strcasecmp (core, "Nehalem") != 0);
    }
  ts_backend_free (be);
}

/* Shapes that do not fit are reported, never written out of bounds. */
static void
test_bad_shapes (void)
{
  ts_backend *be = ts_backend_cpu_new (2);
  ts_tensor *x = ts_tensor_new_4d (be, 2, 3, 8, 8), *w = ts_tensor_new_4d (be, 4, 2, 3, 3);
  ts_tensor *y = ts_tensor_new_4d (be, 2, 4, 8, 8), *small = ts_tensor_new_1d (be, 5);
  ts_conv2d_params p = { 1, 1, 1, 1, 1, 1, 1 };

  ts_clear_error ();
  be->i->conv2d_forward (be, &p, x, w, NULL, y);
  g_assert_nonnull (strstr (ts_last_error (), "conv2d"));
  g_assert_nonnull (strstr (ts_last_error (), "[4, 2, 3, 3]"));
  ts_clear_error ();
  be->i->add (be, x, small, x);
  g_assert_nonnull (strstr (ts_last_error (), "[5]"));
  ts_clear_error ();
  be->i->linear_forward (be, small, small, NULL, small);
  g_assert_nonnull (strstr (ts_last_error (), "linear"));
  ts_clear_error ();
  g_assert_true (isnan (be->i->bce_with_logits (be, x, small, NULL)));
  g_assert_nonnull (strstr (ts_last_error (), "bce_with_logits"));
  ts_tensor_free (x); ts_tensor_free (w); ts_tensor_free (y); ts_tensor_free (small);
  ts_backend_free (be);
}

/* Dense conv forward (the packed AVX-512 GEMM where the CPU has it) and the
 * fused conv + bias + residual + activation, against a direct loop in double,
 * over shapes that hit every edge: Cout not a multiple of 8, column panels
 * across images and output rows, 1x1 direct, strides 1/2/3, asymmetric and
 * large padding, rectangular kernels, more than one K block, y == res. */
static void
ref_conv (const ts_tensor *x, const ts_tensor *w, const float *b, const float *res, int act,
          const ts_conv2d_params *p, ts_tensor *y, double *out)
{
  int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], wd = x->shape[3];
  int64_t co = w->shape[0], kh = w->shape[2], kw = w->shape[3];
  int64_t oh = y->shape[2], ow = y->shape[3];

  for (int64_t in = 0; in < n; in++)
    for (int64_t o = 0; o < co; o++)
      for (int64_t oy = 0; oy < oh; oy++)
        for (int64_t ox = 0; ox < ow; ox++)
          {
            int64_t yi = ((in * co + o) * oh + oy) * ow + ox;
            double s = b ? b[o] : 0.0;
            for (int64_t ci = 0; ci < c; ci++)
              for (int64_t ky = 0; ky < kh; ky++)
                for (int64_t kx = 0; kx < kw; kx++)
                  {
                    int64_t iy = oy * p->stride_h - p->pad_top + ky;
                    int64_t ix = ox * p->stride_w - p->pad_left + kx;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd)
                      continue;
                    s += (double) x->data[((in * c + ci) * h + iy) * wd + ix]
                         * w->data[((o * c + ci) * kh + ky) * kw + kx];
                  }
            if (res)
              s += res[yi];
            if (act == TS_ACT_RELU)
              s = s > 0 ? s : 0;
            else if (act == TS_ACT_RELU6)
              s = s < 0 ? 0 : (s > 6 ? 6 : s);
            else if (act == TS_ACT_SIGMOID)
              s = 1.0 / (1.0 + exp (-s));
            out[yi] = s;
          }
}

static double
max_rel_err (const ts_tensor *y, const double *ref)
{
  double scale = 1e-3, err = 0.0;
  for (int64_t i = 0; i < y->numel; i++)
    scale = fmax (scale, fabs (ref[i]));
  for (int64_t i = 0; i < y->numel; i++)
    {
      g_assert_true (isfinite (y->data[i]));
      err = fmax (err, fabs (y->data[i] - ref[i]) / scale);
    }
  return err;
}

/* A dense conv case for the packed-GEMM tests: input, output channels,
 * kernel, stride and the four paddings. */
typedef struct {
  int n, c, h, w, co, kh, kw, s, pt, pl, pb, pr;
} conv_case;

/* The case's parameters and its x, w and y shapes. */
static void
conv_case_shapes (const conv_case *k, ts_conv2d_params *p, int64_t xs[4], int64_t ws[4],
                  int64_t ys[4])
{
  ts_conv2d_params q = { k->s, k->s, k->pt, k->pl, k->pb, k->pr, 1 };
  *p = q;
  xs[0] = k->n, xs[1] = k->c, xs[2] = k->h, xs[3] = k->w;
  ws[0] = k->co, ws[1] = k->c, ws[2] = k->kh, ws[3] = k->kw;
  ys[0] = k->n, ys[1] = k->co;
  ys[2] = (k->h + k->pt + k->pb - k->kh) / k->s + 1;
  ys[3] = (k->w + k->pl + k->pr - k->kw) / k->s + 1;
}

/* env 0: the packed GEMM on 2 threads; env 1: im2col + BLAS
 * (TS_CPU_CONV_GEMM=0) on 3 threads, through the same entry points */
static ts_backend *
conv_backend (int env)
{
  ts_backend *be;
  if (env)
    g_setenv ("TS_CPU_CONV_GEMM", "0", TRUE);
  be = ts_backend_cpu_new (env ? 3 : 2);
  g_unsetenv ("TS_CPU_CONV_GEMM");
  return be;
}

static void
test_conv_gemm (void)
{
  static const conv_case cases[] = {
    { 3, 5, 9, 7, 13, 3, 3, 1, 1, 1, 1, 1 },     /* same 3x3, odd everything */
    { 4, 16, 4, 4, 24, 3, 3, 1, 1, 1, 1, 1 },    /* 4x4 planes: a panel spans images */
    { 2, 8, 6, 5, 8, 1, 1, 1, 0, 0, 0, 0 },      /* 1x1 direct, runs across rows */
    { 2, 7, 11, 10, 9, 3, 3, 2, 1, 1, 1, 1 },    /* stride 2 */
    { 2, 3, 20, 19, 16, 7, 7, 2, 3, 3, 3, 3 },   /* the stem */
    { 3, 6, 9, 9, 5, 1, 1, 2, 0, 0, 0, 0 },      /* 1x1 stride 2 downsample */
    { 2, 4, 10, 13, 7, 3, 3, 3, 0, 2, 1, 0 },    /* stride 3, asymmetric padding */
    { 1, 2, 5, 6, 3, 2, 3, 1, 0, 1, 1, 1 },      /* rectangular kernel */
    { 2, 3, 3, 3, 4, 5, 5, 1, 4, 4, 4, 4 },      /* padding larger than the plane */
    { 2, 70, 6, 6, 17, 3, 3, 1, 1, 1, 1, 1 },    /* K = 630: three K blocks */
    { 1, 40, 8, 8, 600, 1, 1, 1, 0, 0, 0, 0 },   /* many weight panels */
    { 3, 70, 8, 8, 21, 3, 3, 1, 1, 1, 1, 1 },    /* planes of 64: tiles straight to y, K blocks */
    { 2, 9, 16, 16, 10, 3, 3, 2, 1, 1, 1, 1 },   /* 8x8 output, stride 2, tiles straight to y */
  };

  for (int env = 0; env < 2; env++)
    {
      ts_backend *be = conv_backend (env);
      for (guint t = 0; t < G_N_ELEMENTS (cases); t++)
        {
          ts_conv2d_params p;
          int64_t xs[4], ws[4], ys[4], bs[1] = { cases[t].co };
          conv_case_shapes (&cases[t], &p, xs, ws, ys);
          ts_tensor *x = rand_tensor (be, 4, xs, -1, 1), *w = rand_tensor (be, 4, ws, -0.5f, 0.5f);
          ts_tensor *b = rand_tensor (be, 1, bs, -1, 1), *res = rand_tensor (be, 4, ys, -1, 1);
          ts_tensor *y = rand_tensor (be, 4, ys, 50, 60);
          double *ref = g_new (double, y->numel);
          float *res0 = g_memdup2 (res->data, (gsize) res->numel * sizeof (float));

          /* plain forward, no bias */
          ts_clear_error ();
          be->i->conv2d_forward (be, &p, x, w, NULL, y);
          g_assert_cmpstr (ts_last_error (), ==, "");
          ref_conv (x, w, NULL, NULL, -1, &p, y, ref);
          g_assert_cmpfloat (max_rel_err (y, ref), <, 1e-5);
          /* bias + residual + each activation */
          for (int act = -1; act <= TS_ACT_SIGMOID; act++)
            {
              be->i->conv2d_forward_fused (be, &p, x, w, b, res, act, y);
              ref_conv (x, w, b->data, res->data, act, &p, y, ref);
              g_assert_cmpfloat (max_rel_err (y, ref), <, 1e-5);
            }
          /* in place over the residual (a downsample branch added to the block) */
          be->i->conv2d_forward_fused (be, &p, x, w, b, res, TS_ACT_RELU, res);
          ref_conv (x, w, b->data, res0, TS_ACT_RELU, &p, y, ref);
          g_assert_cmpfloat (max_rel_err (res, ref), <, 1e-5);
          memcpy (res->data, res0, (size_t) res->numel * sizeof (float));
          be->i->conv2d_forward_fused (be, &p, x, w, NULL, res, TS_ACT_SIGMOID, res);
          ref_conv (x, w, NULL, res0, TS_ACT_SIGMOID, &p, y, ref);
          g_assert_cmpfloat (max_rel_err (res, ref), <, 1e-5);
          g_free (ref);
          g_free (res0);
          ts_tensor_free (x); ts_tensor_free (w); ts_tensor_free (b);
          ts_tensor_free (res); ts_tensor_free (y);
        }
      /* depthwise (no packed GEMM): conv, add and activation in turn, also in place */
      {
        ts_conv2d_params p = { 1, 1, 1, 1, 1, 1, 6 };
        int64_t xs[4] = { 2, 6, 7, 5 }, ws[4] = { 6, 1, 3, 3 }, bs[1] = { 6 };
        ts_tensor *x = rand_tensor (be, 4, xs, -1, 1), *w = rand_tensor (be, 4, ws, -1, 1);
        ts_tensor *b = rand_tensor (be, 1, bs, -1, 1), *res = rand_tensor (be, 4, xs, -3, 3);
        ts_tensor *y = ts_tensor_new (be, 4, xs), *ref = ts_tensor_new (be, 4, xs);
        be->i->conv2d_forward (be, &p, x, w, b, ref);
        be->i->add (be, ref, res, ref);
        be->i->activation_forward (be, TS_ACT_RELU6, ref, ref);
        be->i->conv2d_forward_fused (be, &p, x, w, b, res, TS_ACT_RELU6, y);
        be->i->conv2d_forward_fused (be, &p, x, w, b, res, TS_ACT_RELU6, res);
        for (int64_t i = 0; i < y->numel; i++)
          {
            g_assert_cmpfloat (y->data[i], ==, ref->data[i]);
            g_assert_cmpfloat (res->data[i], ==, ref->data[i]);
          }
        ts_tensor_free (x); ts_tensor_free (w); ts_tensor_free (b);
        ts_tensor_free (res); ts_tensor_free (y); ts_tensor_free (ref);
      }
      ts_backend_free (be);
    }
}

/* Dense conv backward (dw on the packed GEMM, split over columns or over rows
 * of col; dx of stride-1 convs as the flipped conv of dy; strided dx through
 * im2col + BLAS) against a direct loop in double, and the same through
 * im2col + BLAS only (TS_CPU_CONV_GEMM=0). */
static void
ref_conv_backward (const ts_tensor *x, const ts_tensor *w, const ts_tensor *dy,
                   const ts_conv2d_params *p, double *dx, double *dw)
{
  int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], wd = x->shape[3];
  int64_t co = w->shape[0], kh = w->shape[2], kw = w->shape[3];
  int64_t oh = dy->shape[2], ow = dy->shape[3];

  memset (dx, 0, (size_t) x->numel * sizeof (double));
  memset (dw, 0, (size_t) w->numel * sizeof (double));
  for (int64_t in = 0; in < n; in++)
    for (int64_t o = 0; o < co; o++)
      for (int64_t oy = 0; oy < oh; oy++)
        for (int64_t ox = 0; ox < ow; ox++)
          {
            double d = dy->data[((in * co + o) * oh + oy) * ow + ox];
            for (int64_t ci = 0; ci < c; ci++)
              for (int64_t ky = 0; ky < kh; ky++)
                for (int64_t kx = 0; kx < kw; kx++)
                  {
                    int64_t iy = oy * p->stride_h - p->pad_top + ky;
                    int64_t ix = ox * p->stride_w - p->pad_left + kx;
                    int64_t xi = ((in * c + ci) * h + iy) * wd + ix;
                    int64_t wi = ((o * c + ci) * kh + ky) * kw + kx;
                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd)
                      continue;
                    dx[xi] += d * w->data[wi];
                    dw[wi] += d * x->data[xi];
                  }
          }
}

static void
test_conv_gemm_backward (void)
{
  static const conv_case cases[] = {
    { 3, 5, 9, 7, 13, 3, 3, 1, 1, 1, 1, 1 },     /* same 3x3, odd everything */
    { 1, 5, 9, 7, 13, 3, 3, 1, 1, 1, 1, 1 },     /* batch 1 */
    { 4, 16, 4, 4, 24, 3, 3, 1, 1, 1, 1, 1 },    /* 4x4 planes: a panel spans images */
    { 2, 8, 6, 5, 8, 1, 1, 1, 0, 0, 0, 0 },      /* 1x1 direct, runs across rows */
    { 2, 7, 11, 10, 9, 3, 3, 2, 1, 1, 1, 1 },    /* stride 2 */
    { 2, 3, 20, 19, 16, 7, 7, 2, 3, 3, 3, 3 },   /* the stem */
    { 3, 6, 9, 9, 5, 1, 1, 2, 0, 0, 0, 0 },      /* 1x1 stride 2 downsample */
    { 2, 4, 10, 13, 7, 3, 3, 3, 0, 2, 1, 0 },    /* stride 3, asymmetric padding */
    { 1, 2, 5, 6, 3, 2, 3, 1, 0, 1, 1, 1 },      /* rectangular kernel, asymmetric */
    { 2, 3, 3, 3, 4, 5, 5, 1, 4, 4, 4, 4 },      /* padding larger than the plane */
    { 2, 3, 5, 4, 6, 3, 3, 1, 3, 2, 3, 2 },      /* padding beyond KH - 1: dx pads < 0 */
    { 2, 70, 6, 6, 17, 3, 3, 1, 1, 1, 1, 1 },    /* K = 630: dx in K blocks, dw rows in units */
    { 1, 40, 8, 8, 600, 1, 1, 1, 0, 0, 0, 0 },   /* many channel panels */
    { 3, 70, 8, 8, 21, 3, 3, 1, 1, 1, 1, 1 },    /* planes of 64 */
    { 2, 9, 16, 16, 10, 3, 3, 2, 1, 1, 1, 1 },   /* 8x8 output, stride 2 */
    { 3, 5, 39, 41, 13, 3, 3, 1, 1, 1, 1, 1 },   /* 4797 columns: dw split over columns */
    { 2, 4, 64, 66, 9, 3, 3, 1, 1, 1, 1, 1 },    /* dw in three parts, the last one short */
    { 8, 3, 50, 50, 8, 7, 7, 2, 3, 3, 3, 3 },    /* the stem, dw split over columns */
    { 2, 130, 7, 7, 40, 3, 3, 1, 1, 1, 1, 1 },   /* K = 1170, rows in several units */
    { 20, 6, 8, 8, 12, 3, 3, 2, 1, 1, 1, 1 },    /* 4x4 output: dx units of several images */
    { 1, 4, 40, 40, 9, 3, 3, 2, 1, 1, 1, 1 },    /* 20x20 output: dx in several chunks */
    { 3, 5, 13, 13, 11, 3, 3, 2, 1, 1, 1, 1 },   /* 7x7 output: panels across images */
    { 9, 12, 10, 10, 20, 1, 1, 2, 0, 0, 0, 0 },  /* 1x1 stride 2: rows of dx no tap reaches */
  };

  for (int env = 0; env < 2; env++)
    {
      ts_backend *be = conv_backend (env);
      for (guint t = 0; t < G_N_ELEMENTS (cases); t++)
        {
          ts_conv2d_params p;
          int64_t xs[4], ws[4], ys[4];
          conv_case_shapes (&cases[t], &p, xs, ws, ys);
          ts_tensor *x = rand_tensor (be, 4, xs, -1, 1), *w = rand_tensor (be, 4, ws, -0.5f, 0.5f);
          ts_tensor *dy = rand_tensor (be, 4, ys, -1, 1);
          ts_tensor *dx = rand_tensor (be, 4, xs, 50, 60), *dw = rand_tensor (be, 4, ws, 50, 60);
          double *rdx = g_new (double, x->numel), *rdw = g_new (double, w->numel);
          float *dw0;

          ref_conv_backward (x, w, dy, &p, rdx, rdw);
          ts_clear_error ();
          be->i->conv2d_backward (be, &p, x, w, dy, dx, dw, NULL);
          g_assert_cmpstr (ts_last_error (), ==, "");
          g_assert_cmpfloat (max_rel_err (dx, rdx), <, 1e-5);
          g_assert_cmpfloat (max_rel_err (dw, rdw), <, 1e-5);
          /* each on its own, over garbage; dw repeats bit for bit */
          dw0 = g_memdup2 (dw->data, (gsize) dw->numel * sizeof (float));
          for (int64_t i = 0; i < dx->numel; i++)
            dx->data[i] = 1e30f;
          for (int64_t i = 0; i < dw->numel; i++)
            dw->data[i] = -1e30f;
          be->i->conv2d_backward (be, &p, x, w, dy, dx, NULL, NULL);
          g_assert_cmpfloat (max_rel_err (dx, rdx), <, 1e-5);
          be->i->conv2d_backward (be, &p, x, w, dy, NULL, dw, NULL);
          g_assert_cmpmem (dw->data, dw->numel * 4, dw0, dw->numel * 4);
          g_free (dw0);
          g_free (rdx);
          g_free (rdw);
          ts_tensor_free (x); ts_tensor_free (w); ts_tensor_free (dy);
          ts_tensor_free (dx); ts_tensor_free (dw);
        }
      ts_backend_free (be);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* small shapes would otherwise run on one thread: split them anyway */
  g_setenv ("TS_CPU_MIN_PARALLEL_WORK", "0", TRUE);
  ts_rng_seed (&rng, 7, 0);
  g_test_add_func ("/engine/misc/adam", test_adam);
  g_test_add_func ("/engine/misc/adam-first-step", test_adam_first_step);
  g_test_add_func ("/engine/misc/dropout", test_dropout);
  g_test_add_func ("/engine/misc/eltwise", test_eltwise);
  g_test_add_func ("/engine/misc/tensor", test_tensor);
  g_test_add_func ("/engine/misc/threads", test_threads);
  g_test_add_func ("/engine/misc/bad-shapes", test_bad_shapes);
  g_test_add_func ("/engine/misc/pool-stress", test_pool_stress);
  g_test_add_func ("/engine/misc/blas-core", test_blas_core);
  g_test_add_func ("/engine/misc/conv-gemm", test_conv_gemm);
  g_test_add_func ("/engine/misc/conv-gemm-backward", test_conv_gemm_backward);
  return g_test_run ();
}
