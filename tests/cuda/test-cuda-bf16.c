/* test-cuda-bf16.c: the CUDA backend's bfloat16 NHWC forms of the ops (the
 * bf16 precision policy, docs/cuda.md) against the CPU backend's float32
 * ops on the same values (inputs rounded to bfloat16 on both sides),
 * compared by normalized error with bfloat16's tolerance, and the dtype and
 * layout conversions bit for bit.  Skipped when there is no CUDA device. */
#include "cuda-ops-test.h"

/* Tolerances.  A bfloat16 keeps 8 significant bits: storing a float rounds it
 * by at most 2^-9 relative (~2e-3), so an op whose float32 result is rounded
 * once lands within ~2e-3 of the CPU's normalized; one that also reads
 * rounded intermediate values (a convolution's filter, batch norm's dx from
 * a rounded y) gets twice that and more for sums. */
static struct {
  double store;      /* one rounding of the float32 result */
  double chain;      /* rounded inputs inside a longer computation */
} tols = { 4e-3, 1.5e-2 };

/* Every bit pattern class the rounding must get right, through the kernel:
 * ties to even both ways, the largest values that round up to infinity,
 * subnormals, signed zeros, infinities and NaN (kept a NaN). */
static void
test_convert_rounding (void)
{
  static const uint32_t bits[] = {
    0x3f800000u, 0x3f808000u, 0x3f818000u, 0x3f808001u, 0x3f80ffffu, 0xbf808000u,
    0x7f7fffffu, 0x7f7f7fffu, 0x00000001u, 0x00008000u, 0x80018000u, 0x00000000u,
    0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u, 0xffffffffu,
  };
  int64_t n = (int64_t) (sizeof bits / sizeof bits[0]);
  int64_t shape[1] = { n };
  float host[sizeof bits / sizeof bits[0]], back[sizeof bits / sizeof bits[0]];

  if (!have_gpu ())
    return;
  ts_tensor *t = ts_tensor_new_as (gpu, 1, shape, TS_BF16, TS_NCHW);
  g_assert_nonnull (t);
  for (int64_t i = 0; i < n; i++)
    memcpy (&host[i], &bits[i], 4);
  g_assert_cmpint (ts_tensor_from_host (t, host, n), ==, TS_OK);
  g_assert_cmpint (ts_tensor_to_host (t, back, n), ==, TS_OK);
  for (int64_t i = 0; i < n; i++)
    {
      uint32_t want = (uint32_t) ts_bf16_from_f32 (host[i]) << 16, got;
      memcpy (&got, &back[i], 4);
      if (isnan (host[i]))
        g_assert_true (isnan (back[i]));
      else if (got != want)
        {
          g_test_message ("0x%08x: kernel 0x%08x, host 0x%08x", bits[i], got, want);
          g_test_fail ();
        }
    }
  /* the host rounding itself: ties to even, carry into the exponent */
  g_assert_cmphex (ts_bf16_from_f32 (1.0f), ==, 0x3f80);
  g_assert_cmphex (ts_bf16_from_f32 (back[1]), ==, 0x3f80);
  memcpy (&host[0], &bits[1], 4);   /* 1 + 2^-8: a tie, to even (1.0) */
  g_assert_cmphex (ts_bf16_from_f32 (host[0]), ==, 0x3f80);
  memcpy (&host[0], &bits[2], 4);   /* 1 + 3 * 2^-8: a tie, to even (up) */
  g_assert_cmphex (ts_bf16_from_f32 (host[0]), ==, 0x3f82);
  memcpy (&host[0], &bits[6], 4);   /* FLT_MAX rounds to infinity */
  g_assert_cmphex (ts_bf16_from_f32 (host[0]), ==, 0x7f80);
  ts_tensor_free (t);
}

/* Every dtype and layout pair, each element distinct, so a transposition
 * that swaps two axes or misses one shows. */
static void
test_convert_layouts (void)
{
  int64_t shape[4] = { 3, 5, 4, 7 }, n = 3 * 5 * 4 * 7;
  float *host = malloc ((size_t) n * sizeof (float)), *back = malloc ((size_t) n * sizeof (float));

  if (!have_gpu ())
    {
      free (host), free (back);
      return;
    }
  for (int64_t i = 0; i < n; i++)
    host[i] = (float) i - 200.0f;   /* exact in bfloat16 up to 256 */
  for (int d = 0; d < 2; d++)
    for (int l = 0; l < 2; l++)
      {
        ts_tensor *t = ts_tensor_new_as (gpu, 4, shape, (ts_dtype) d, (ts_layout) l);
        ts_tensor *u = ts_tensor_new_as (gpu, 4, shape, (ts_dtype) (1 - d), (ts_layout) (1 - l));
        g_assert_nonnull (t);
        g_assert_nonnull (u);
        g_assert_cmpint (ts_tensor_from_host (t, host, n), ==, TS_OK);
        gpu->i->convert (gpu, t, u);
        g_assert_cmpint (ts_tensor_to_host (u, back, n), ==, TS_OK);
        for (int64_t i = 0; i < n; i++)
          if (back[i] != host[i])
            {
              g_test_message ("%s -> %s: [%lld] %g, expected %g", ts_tensor_type_str (t),
                              ts_tensor_type_str (u), (long long) i, back[i], host[i]);
              g_test_fail ();
              break;
            }
        /* the layout really differs in memory: NHWC's second element is c = 1 */
        if (l == 1 && d == 0)
          {
            float first[2];
            t->be->i->download (t->be, first, t->data, 2);
            g_assert_cmpfloat (first[1], ==, host[4 * 7]);
          }
        ts_tensor_free (t);
        ts_tensor_free (u);
      }
  free (host);
  free (back);
}

/* The CPU backend has no bfloat16 or NHWC tensors, and says so. */
static void
test_cpu_refuses (void)
{
  int64_t shape[4] = { 1, 2, 3, 4 };

  ts_clear_error ();
  g_assert_null (ts_tensor_new_as (cpu, 4, shape, TS_BF16, TS_NHWC));
  g_assert_nonnull (strstr (ts_last_error (), "cpu"));
  g_assert_nonnull (strstr (ts_last_error (), "CUDA"));
  if (gpu)
    {
      g_assert_null (ts_tensor_new_as (gpu, 2, shape, TS_BF16, TS_NHWC));
      g_assert_nonnull (strstr (ts_last_error (), "NHWC"));
    }
}

/* ---- batch norm over bfloat16 NHWC (x, y, dy, dx); parameters,
 * statistics and their gradients float32 ---- */

/* The float32 outputs (save_mean, save_invstd, running statistics, dgamma,
 * dbeta) come from the very same inputs on both backends: only the order
 * of the sums differs, as between the float32 ops (test-cuda-ops.c). */
static const double bn_stats_tol = 1e-5;

/* the CPU side takes the GPU side's values (rounded to bfloat16), so that
 * what follows starts from the same numbers */
static void
gpu_to_cpu (pair p)
{
  int64_t n = p.c->numel;
  float *h = malloc ((size_t) n * sizeof (float));

  g_assert_cmpint (ts_tensor_to_host (p.g, h, n), ==, TS_OK);
  g_assert_cmpint (ts_tensor_from_host (p.c, h, n), ==, TS_OK);
  free (h);
}

/* the GPU tensors a and b hold the same bits (the kernels add in a fixed
 * order: a second run repeats the first exactly) */
static void
same_bits (const char *what, const ts_tensor *a, const ts_tensor *b)
{
  size_t bytes = (size_t) a->numel * ts_dtype_size (a->dtype), words = (bytes + 3) / 4;
  float *ha = calloc (words, 4), *hb = calloc (words, 4);

  /* download moves 4-byte words: a bfloat16 tensor's bytes, rounded up */
  a->be->i->download (a->be, ha, a->data, bytes / 4);
  b->be->i->download (b->be, hb, b->data, bytes / 4);
  if (memcmp (ha, hb, (bytes / 4) * 4) != 0)
    {
      g_test_message ("%s: a second run gave other bits", what);
      g_test_fail ();
    }
  free (ha);
  free (hb);
}

static void
run_bn_bf16 (const int64_t *s, float lo, float hi)
{
  int64_t sc[1] = { s[1] };
  pair x = mk_rand_bf16 (s, lo, hi), y = mk_bf16 (s, NULL), dy = mk_rand_bf16 (s, -1, 1);
  pair g = mk_rand (1, sc, 0.5f, 1.5f), b = mk_rand (1, sc, -1, 1);
  pair rm = mk_rand (1, sc, -0.1f, 0.1f), rv = mk_rand (1, sc, 0.9f, 1.1f);
  pair sm = mk (1, sc, NULL), si = mk (1, sc, NULL);
  pair dx = mk_bf16 (s, NULL), dg = mk (1, sc, NULL), db = mk (1, sc, NULL);
  pair again = mk_bf16 (s, NULL), sm2 = mk (1, sc, NULL), dg2 = mk (1, sc, NULL);
  char what[128], name[64];

  snprintf (name, sizeof name, "bf16 batchnorm [%lld,%lld,%lld,%lld]", (long long) s[0],
            (long long) s[1], (long long) s[2], (long long) s[3]);
#define CMP(op, t, tol) snprintf (what, sizeof what, "%s %s", name, op), cmp (what, t, tol)
  cpu->i->batchnorm_forward_train (cpu, x.c, g.c, b.c, rm.c, rv.c, 0.1f, 1e-5f, y.c, sm.c, si.c);
  gpu->i->batchnorm_forward_train (gpu, x.g, g.g, b.g, rm.g, rv.g, 0.1f, 1e-5f, y.g, sm.g, si.g);
  CMP ("train y", y, tols.store);
  CMP ("save_mean", sm, bn_stats_tol);
  CMP ("save_invstd", si, bn_stats_tol);
  CMP ("running_mean", rm, bn_stats_tol);
  CMP ("running_var", rv, bn_stats_tol);
  /* again without running statistics (they are optional): the same bits */
  gpu->i->batchnorm_forward_train (gpu, x.g, g.g, b.g, NULL, NULL, 0.1f, 1e-5f, again.g, sm2.g,
                                   NULL);
  same_bits ("train y", y.g, again.g);
  same_bits ("save_mean", sm.g, sm2.g);

  cpu->i->batchnorm_backward (cpu, x.c, g.c, sm.c, si.c, dy.c, dx.c, dg.c, db.c);
  gpu->i->batchnorm_backward (gpu, x.g, g.g, sm.g, si.g, dy.g, dx.g, dg.g, db.g);
  CMP ("dx", dx, tols.store);
  CMP ("dgamma", dg, bn_stats_tol);
  CMP ("dbeta", db, bn_stats_tol);
  gpu->i->batchnorm_backward (gpu, x.g, g.g, sm.g, si.g, dy.g, again.g, dg2.g, NULL);
  same_bits ("dx", dx.g, again.g);
  same_bits ("dgamma", dg.g, dg2.g);
  /* a frozen layer (no dgamma, dbeta): the same dx; no dx: the same dgamma */
  pfree (again);
  again = mk_bf16 (s, NULL);   /* fill is float32's: a fresh garbage tensor */
  gpu->i->batchnorm_backward (gpu, x.g, g.g, sm.g, si.g, dy.g, again.g, NULL, NULL);
  same_bits ("dx, frozen", dx.g, again.g);
  gpu->i->fill (gpu, dg2.g, 0.0f);
  gpu->i->batchnorm_backward (gpu, x.g, g.g, sm.g, si.g, dy.g, NULL, dg2.g, NULL);
  same_bits ("dgamma, no dx", dg.g, dg2.g);

  cpu->i->batchnorm_forward_eval (cpu, x.c, g.c, b.c, rm.c, rv.c, 1e-5f, y.c);
  gpu->i->batchnorm_forward_eval (gpu, x.g, g.g, b.g, rm.g, rv.g, 1e-5f, y.g);
  CMP ("eval y", y, tols.store);

  /* the fused batch norm + ReLU / ReLU6 against the CPU's pair of ops, dx
   * written over dy_act as the model does */
  for (int act = TS_ACT_RELU; act <= TS_ACT_RELU6; act++)
    {
      pair ya = mk_bf16 (s, NULL), dya = mk_rand_bf16 (s, -1, 1), t = mk (4, s, NULL);
      const char *an = act == TS_ACT_RELU ? "+relu" : "+relu6";
      char op[64];

      cpu->i->batchnorm_forward_train (cpu, x.c, g.c, b.c, rm.c, rv.c, 0.1f, 1e-5f, t.c, sm.c,
                                       si.c);
      cpu->i->activation_forward (cpu, (ts_activation) act, t.c, ya.c);
      gpu->i->batchnorm_act_forward_train (gpu, x.g, g.g, b.g, rm.g, rv.g, 0.1f, 1e-5f,
                                           (ts_activation) act, ya.g, sm.g, si.g);
#define CMPA(o, t, tol) snprintf (op, sizeof op, "%s %s", an, o), CMP (op, t, tol)
      CMPA ("y", ya, tols.store);
      CMPA ("save_invstd", si, bn_stats_tol);
      CMPA ("running_var", rv, bn_stats_tol);
      /* the gradient's mask from the GPU's output on both sides: stored as
       * bfloat16, a ReLU6 output just under 6 may be 6 (as in PyTorch) */
      gpu_to_cpu (ya);
      cpu->i->activation_backward (cpu, (ts_activation) act, ya.c, dya.c, t.c);
      cpu->i->batchnorm_backward (cpu, x.c, g.c, sm.c, si.c, t.c, dx.c, dg.c, db.c);
      gpu->i->batchnorm_act_backward (gpu, x.g, g.g, sm.g, si.g, (ts_activation) act, ya.g,
                                      dya.g, dya.g, dg.g, db.g);
      cpu->i->axpby (cpu, 1.0f, dx.c, 0.0f, dya.c);
      CMPA ("dx", dya, tols.store);
      CMPA ("dgamma", dg, bn_stats_tol);
      CMPA ("dbeta", db, bn_stats_tol);
#undef CMPA
      pfree (ya), pfree (dya), pfree (t);
    }
#undef CMP
  pfree (x), pfree (y), pfree (dy), pfree (g), pfree (b), pfree (rm), pfree (rv);
  pfree (sm), pfree (si), pfree (dx), pfree (dg), pfree (db);
  pfree (again), pfree (sm2), pfree (dg2);
}

static void
test_batchnorm (void)
{
  /* C of 7, 5, 3 (one channel a thread), 6 (two), 12 (four), 16 and 64
   * (eight: 16-byte loads); 264 (two channel groups, the second of one
   * lane); 1x1 planes, batch 1; [8,16,32,32] splits the pixels over 16
   * blocks a channel */
  static const int64_t shapes[][4] = {
    { 4, 7, 1, 1 }, { 2, 5, 3, 3 }, { 1, 3, 6, 5 }, { 3, 6, 2, 5 }, { 2, 12, 3, 1 },
    { 2, 16, 5, 4 }, { 3, 64, 8, 8 }, { 2, 264, 2, 3 }, { 8, 16, 32, 32 },
  };
  static const int64_t far[4] = { 4, 24, 6, 6 };

  if (!have_gpu ())
    return;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    run_bn_bf16 (shapes[i], -2, 3);
  /* a mean far from the spread (x in [1000, 1064), 4 apart in bfloat16):
   * the sums of x - K must not cancel */
  run_bn_bf16 (far, 1000, 1064);
}

/* mixed types are refused by name, the output left alone */
static void
test_batchnorm_refuses (void)
{
  int64_t s[4] = { 2, 4, 3, 3 }, sc[1] = { 4 };
  ts_tensor *xb, *yb, *xf, *yf, *gb, *st[4];
  float back[72];

  if (!have_gpu ())
    return;
  xb = ts_tensor_new_as (gpu, 4, s, TS_BF16, TS_NHWC);
  yb = ts_tensor_new_as (gpu, 4, s, TS_BF16, TS_NHWC);
  xf = ts_tensor_new (gpu, 4, s);
  yf = ts_tensor_new (gpu, 4, s);
  gb = ts_tensor_new_as (gpu, 1, sc, TS_BF16, TS_NCHW);
  for (int i = 0; i < 4; i++)
    st[i] = ts_tensor_new (gpu, 1, sc);
  gpu->i->fill (gpu, st[3], 1.0f);
  gpu->i->fill (gpu, yf, 7.0f);
#define REFUSED(call, words)                                          \
  do {                                                                \
    ts_clear_error ();                                                \
    call;                                                             \
    g_assert_nonnull (strstr (ts_last_error (), "batchnorm"));        \
    g_assert_nonnull (strstr (ts_last_error (), words));              \
  } while (0)
  /* bf16 NHWC x: y, dy, dx must be too; the parameters float32 */
  REFUSED (gpu->i->batchnorm_forward_train (gpu, xb, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, yf,
                                            st[0], st[1]), "different types");
  REFUSED (gpu->i->batchnorm_forward_eval (gpu, xb, NULL, NULL, st[2], st[3], 1e-5f, yf),
           "different types");
  REFUSED (gpu->i->batchnorm_backward (gpu, xb, NULL, st[0], st[1], yb, yf, NULL, NULL),
           "different types");
  REFUSED (gpu->i->batchnorm_backward (gpu, xb, NULL, st[0], st[1], yf, yb, NULL, NULL),
           "different types");
  REFUSED (gpu->i->batchnorm_act_backward (gpu, xb, NULL, st[0], st[1], TS_ACT_RELU, yf, yb,
                                           yb, NULL, NULL), "different types");
  REFUSED (gpu->i->batchnorm_forward_train (gpu, xb, gb, NULL, NULL, NULL, 0.1f, 1e-5f, yb,
                                            st[0], st[1]), "float32 NCHW");
  /* float32 x: everything float32 NCHW, as before */
  REFUSED (gpu->i->batchnorm_forward_train (gpu, xf, NULL, NULL, NULL, NULL, 0.1f, 1e-5f, yb,
                                            st[0], st[1]), "float32 NCHW");
  REFUSED (gpu->i->batchnorm_backward (gpu, xf, NULL, st[0], st[1], yf, yb, NULL, NULL),
           "float32 NCHW");
#undef REFUSED
  g_assert_cmpint (ts_tensor_to_host (yf, back, 72), ==, TS_OK);
  for (int i = 0; i < 72; i++)
    g_assert_cmpfloat (back[i], ==, 7.0f);
  ts_clear_error ();
  ts_tensor_free (xb), ts_tensor_free (yb), ts_tensor_free (xf), ts_tensor_free (yf);
  ts_tensor_free (gb);
  for (int i = 0; i < 4; i++)
    ts_tensor_free (st[i]);
}

int
main (int argc, char **argv)
{
  char desc[256];

  g_test_init (&argc, &argv, NULL);
  setenv ("TS_CUDA_TF32", "0", 0);
  setenv ("TS_CUDA_CUDNN", "0", 0);
  cpu = ts_backend_cpu_new (1);
  gpu = ts_backend_cuda_new (0, skip_reason, sizeof skip_reason);
  if (gpu)
    g_test_message ("GPU: %s", ts_backend_cuda_describe (gpu, desc, sizeof desc));
  else
    g_test_message ("%s", skip_reason);
  (void) tols;
  g_test_add_func ("/cuda/bf16/convert-rounding", test_convert_rounding);
  g_test_add_func ("/cuda/bf16/convert-layouts", test_convert_layouts);
  g_test_add_func ("/cuda/bf16/cpu-refuses", test_cpu_refuses);
  g_test_add_func ("/cuda/bf16/batchnorm", test_batchnorm);
  g_test_add_func ("/cuda/bf16/batchnorm-refuses", test_batchnorm_refuses);
  int rc = g_test_run ();
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
