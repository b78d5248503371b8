/* test-cuda-bf16.c: the CUDA backend's bfloat16 NHWC forms of the ops (the
 * bf16 precision policy, docs/cuda.md) against the CPU backend's float32
 * ops on the same values (inputs rounded to bfloat16 on both sides),
 * compared by normalized error with bfloat16's tolerance, and the dtype and
 * layout conversions bit for bit.  Skipped when there is no CUDA device. */
#include "cuda-ops-test.h"
#include "ts-model.h"

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

/* Each dtype and layout to its opposite in both (float32 NCHW <-> bf16
 * NHWC, float32 NHWC <-> bf16 NCHW), through the host transfers' own
 * conversions too, each element distinct, so a transposition
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

  /* download moves 4-byte words: a bfloat16 tensor's bytes, rounded up
   * (its allocation is whole words, ts_tensor_new_as) */
  a->be->i->download (a->be, ha, a->data, words);
  b->be->i->download (b->be, hb, b->data, words);
  if (memcmp (ha, hb, bytes) != 0)
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
    { 2, 16, 5, 4 }, { 3, 64, 8, 8 }, { 2, 264, 2, 3 }, { 8, 16, 32, 32 }, { 8, 512, 1, 1 },
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

/* ---- elementwise ops and pools (bf16 NHWC on the GPU) ---- */

/* the GPU side of @p as floats in logical NCHW order (bf16 values exactly) */
static float *
gpu_values (pair p)
{
  float *h = malloc ((size_t) p.g->numel * sizeof (float));
  g_assert_cmpint (ts_tensor_to_host (p.g, h, p.g->numel), ==, TS_OK);
  return h;
}

/* cmp at bf16's tolerance, and in the host emulation bit for bit against the
 * CPU's result rounded once to the GPU side's dtype: without FMA contraction
 * there (no __FP_FAST_FMAF, as test-cuda-ops.c's emulated_tolerances) each
 * kernel computes the CPU's float expression in the CPU's order, so only
 * the store's rounding may differ; a loose tolerance alone would let a
 * truncating store or a slightly wrong operand pass. */
static void
cmp_store (const char *what, pair p)
{
  int64_t n = p.c->numel, diff = 0;
  float *hc, *hg;

  cmp (what, p, tols.store);
#ifdef __FP_FAST_FMAF
  return;
#endif
  if (!ts_cuda_test_emulated ())
    return;
  hc = malloc ((size_t) n * sizeof (float));
  hg = gpu_values (p);
  g_assert_cmpint (ts_tensor_to_host (p.c, hc, n), ==, TS_OK);
  for (int64_t i = 0; i < n; i++)
    {
      float want = p.g->dtype == TS_BF16 ? ts_bf16_round (hc[i]) : hc[i];
      if (memcmp (&want, &hg[i], sizeof want) != 0 && !(isnan (want) && isnan (hg[i]))
          && diff++ < 4)
        g_test_message ("%s: [%lld] cpu %.9g rounded %.9g, gpu %.9g", what, (long long) i,
                        hc[i], want, hg[i]);
    }
  if (diff)
    {
      g_test_message ("%s: %lld of %lld not the CPU's value rounded once", what,
                      (long long) diff, (long long) n);
      g_test_fail ();
    }
  free (hc);
  free (hg);
}

/* A pair whose both sides hold the GPU side of @p (a bf16 result), so that a
 * backward pass starts from the same values on both backends */
static pair
gpu_copy (pair p)
{
  float *h = gpu_values (p);
  pair q = mk_bf16 (p.c->shape, h);
  free (h);
  return q;
}

/* axpby, add, add + ReLU / ReLU6 in place and fill on @s; numel a multiple
 * of 8 runs the 16-byte vector path, another size the scalar one */
static void
run_eltwise (const int64_t *s)
{
  char what[96];
  pair x = mk_rand_bf16 (s, -3, 3), y = mk_rand_bf16 (s, -3, 3), z = mk_bf16 (s, NULL);
  float *hx = gpu_values (x);

  g_test_message ("elementwise [%lld, %lld, %lld, %lld]: %lld elements", (long long) s[0],
                  (long long) s[1], (long long) s[2], (long long) s[3], (long long) x.c->numel);
  cpu->i->axpby (cpu, 0.5f, x.c, -2.0f, y.c);
  gpu->i->axpby (gpu, 0.5f, x.g, -2.0f, y.g);
  cmp_store ("bf16 axpby", y);
  cpu->i->axpby (cpu, 1.5f, x.c, 0.0f, z.c);
  gpu->i->axpby (gpu, 1.5f, x.g, 0.0f, z.g);
  cmp_store ("bf16 axpby beta=0", z);
  pair yb = gpu_copy (y);   /* the same addend on both sides from here */
  cpu->i->add (cpu, x.c, yb.c, z.c);
  gpu->i->add (gpu, x.g, yb.g, z.g);
  cmp_store ("bf16 add", z);
  for (int a = TS_ACT_RELU; a <= TS_ACT_RELU6; a++)
    {
      pair u = mk_bf16 (s, hx);
      cpu->i->add (cpu, u.c, yb.c, u.c);
      cpu->i->activation_forward (cpu, (ts_activation) a, u.c, u.c);
      gpu->i->add_act_forward (gpu, u.g, yb.g, (ts_activation) a, u.g);
      snprintf (what, sizeof what, "bf16 add + act %d in place", a);
      cmp_store (what, u);
      pfree (u);
    }
  /* fill stores the value rounded once: exactly the CPU's rounded value */
  cpu->i->fill (cpu, z.c, ts_bf16_round (1.7f));
  gpu->i->fill (gpu, z.g, 1.7f);
  cmp ("bf16 fill", z, 0.0);
  pfree (x), pfree (y), pfree (z), pfree (yb);
  free (hx);
}

/* the activations forward (into another tensor and in place) and backward
 * (into another tensor and in place, dx == dy) from the GPU's output */
static void
run_activations (const int64_t *s)
{
  char what[96];

  for (int a = TS_ACT_RELU; a <= TS_ACT_SIGMOID; a++)
    {
      pair x = mk_rand_bf16 (s, -8, 8), y = mk_bf16 (s, NULL);
      float *hx = gpu_values (x);
      pair xi = mk_bf16 (s, hx);
      cpu->i->activation_forward (cpu, (ts_activation) a, x.c, y.c);
      gpu->i->activation_forward (gpu, (ts_activation) a, x.g, y.g);
      snprintf (what, sizeof what, "bf16 activation %d forward", a);
      cmp_store (what, y);
      cpu->i->activation_forward (cpu, (ts_activation) a, xi.c, xi.c);
      gpu->i->activation_forward (gpu, (ts_activation) a, xi.g, xi.g);
      snprintf (what, sizeof what, "bf16 activation %d forward in place", a);
      cmp_store (what, xi);

      pair yb = gpu_copy (y), dy = mk_rand_bf16 (s, -1, 1), dx = mk_bf16 (s, NULL);
      cpu->i->activation_backward (cpu, (ts_activation) a, yb.c, dy.c, dx.c);
      gpu->i->activation_backward (gpu, (ts_activation) a, yb.g, dy.g, dx.g);
      snprintf (what, sizeof what, "bf16 activation %d backward", a);
      cmp_store (what, dx);
      cpu->i->activation_backward (cpu, (ts_activation) a, yb.c, dy.c, dy.c);
      gpu->i->activation_backward (gpu, (ts_activation) a, yb.g, dy.g, dy.g);
      snprintf (what, sizeof what, "bf16 activation %d backward in place", a);
      cmp_store (what, dy);
      pfree (x), pfree (y), pfree (xi), pfree (yb), pfree (dy), pfree (dx);
      free (hx);
    }
}

static void
test_elementwise (void)
{
  /* 240 and 512 elements: vector path; 105 and 15: scalar */
  static const int64_t shapes[][4] = { { 2, 8, 3, 5 }, { 1, 3, 5, 7 }, { 3, 5, 1, 1 },
                                       { 2, 16, 4, 4 } };

  if (!have_gpu ())
    return;
  for (size_t i = 0; i < G_N_ELEMENTS (shapes); i++)
    {
      run_eltwise (shapes[i]);
      run_activations (shapes[i]);
    }
}

/* argmax of y [N, C, OH, OW] on both backends, the GPU's laid out as its y
 * (NHWC when @nhwc): every element compared, values iy*W + ix on both */
static void
cmp_argmax_as (const char *what, const int32_t *ac, const int32_t *ag, const int64_t *sy,
               int nhwc)
{
  int64_t c = sy[1], plane = sy[2] * sy[3], n = sy[0] * c * plane, diff = 0;
  int32_t *hc = malloc ((size_t) n * 4), *hg = malloc ((size_t) n * 4);

  cpu->i->download (cpu, (float *) hc, (const float *) ac, (size_t) n);
  gpu->i->download (gpu, (float *) hg, (const float *) ag, (size_t) n);
  for (int64_t i = 0; i < n; i++)
    {
      int64_t img = i / (c * plane), ch = i / plane % c, p = i % plane;
      int64_t j = nhwc ? (img * plane + p) * c + ch : i;
      if (hc[i] != hg[j] && diff++ < 4)
        g_test_message ("%s: [%lld] cpu %d gpu %d", what, (long long) i, hc[i], hg[j]);
    }
  if (diff)
    {
      g_test_message ("%s: %lld of %lld argmax differ", what, (long long) diff, (long long) n);
      g_test_fail ();
    }
  free (hc);
  free (hg);
}

static int32_t *
argmax_new (ts_backend *be, int64_t n)
{
  int32_t *a = be->i->alloc (be, (size_t) n * 4);
  g_assert_nonnull (a);
  return a;
}

/* max pool @pp over x @sx, forward (values and argmax exactly) and backward */
static void
run_maxpool (const int64_t *sx, const ts_pool2d_params *pp)
{
  int64_t sy[4] = { sx[0], sx[1], (sx[2] + 2 * pp->pad_h - pp->kernel_h) / pp->stride_h + 1,
                    (sx[3] + 2 * pp->pad_w - pp->kernel_w) / pp->stride_w + 1 };
  int64_t ny = sy[0] * sy[1] * sy[2] * sy[3];
  char what[128];
  pair x = mk_rand_bf16 (sx, -2, 2), y = mk_bf16 (sy, NULL), dy = mk_rand_bf16 (sy, -1, 1);
  pair dx = mk_bf16 (sx, NULL);
  int32_t *ac = argmax_new (cpu, ny), *ag = argmax_new (gpu, ny);

  snprintf (what, sizeof what, "bf16 maxpool2d %dx%d/%d x [%lld, %lld, %lld, %lld]",
            pp->kernel_h, pp->kernel_w, pp->stride_h, (long long) sx[0], (long long) sx[1],
            (long long) sx[2], (long long) sx[3]);
  cpu->i->maxpool2d_forward (cpu, pp, x.c, y.c, ac);
  gpu->i->maxpool2d_forward (gpu, pp, x.g, y.g, ag);
  cmp (what, y, 0.0);   /* the max of bf16 values is one of them: exact */
  cmp_argmax_as (what, ac, ag, sy, 1);
  cpu->i->maxpool2d_backward (cpu, pp, ac, dy.c, dx.c);
  gpu->i->maxpool2d_backward (gpu, pp, ag, dy.g, dx.g);
  g_strlcat (what, " backward", sizeof what);
  cmp_store (what, dx);
  cpu->i->free (cpu, ac);
  gpu->i->free (gpu, ag);
  pfree (x), pfree (y), pfree (dy), pfree (dx);
}

/* adaptive avg and max pools of x @sx to @so: y and dy float32 NCHW (the
 * head's form) or bf16 NHWC (@y_bf16) */
static void
run_adaptive (const int64_t *sx, const int64_t *so, int y_bf16)
{
  int64_t no = so[0] * so[1] * so[2] * so[3];
  char what[192], base[96];
  pair x = mk_rand_bf16 (sx, -2, 2), dx = mk_bf16 (sx, NULL);
  pair yo = y_bf16 ? mk_bf16 (so, NULL) : mk (4, so, NULL);
  pair dyo = y_bf16 ? mk_rand_bf16 (so, -1, 1) : mk_rand (4, so, -1, 1);
  int32_t *ac = argmax_new (cpu, no), *ag = argmax_new (gpu, no);

  snprintf (base, sizeof base, "[%lld, %lld, %lld, %lld] to %lldx%lld %s", (long long) sx[0],
            (long long) sx[1], (long long) sx[2], (long long) sx[3], (long long) so[2],
            (long long) so[3], y_bf16 ? "bf16 NHWC" : "f32 NCHW");
  cpu->i->adaptive_avgpool2d_forward (cpu, x.c, yo.c);
  gpu->i->adaptive_avgpool2d_forward (gpu, x.g, yo.g);
  snprintf (what, sizeof what, "bf16 adaptive_avgpool2d %s", base);
  cmp_store (what, yo);
  cpu->i->adaptive_avgpool2d_backward (cpu, dyo.c, dx.c);
  gpu->i->adaptive_avgpool2d_backward (gpu, dyo.g, dx.g);
  snprintf (what, sizeof what, "bf16 adaptive_avgpool2d %s backward", base);
  cmp_store (what, dx);

  cpu->i->adaptive_maxpool2d_forward (cpu, x.c, yo.c, ac);
  gpu->i->adaptive_maxpool2d_forward (gpu, x.g, yo.g, ag);
  snprintf (what, sizeof what, "bf16 adaptive_maxpool2d %s", base);
  cmp (what, yo, 0.0);
  cmp_argmax_as (what, ac, ag, so, y_bf16);
  cpu->i->adaptive_maxpool2d_backward (cpu, ac, dyo.c, dx.c);
  gpu->i->adaptive_maxpool2d_backward (gpu, ag, dyo.g, dx.g);
  snprintf (what, sizeof what, "bf16 adaptive_maxpool2d %s backward", base);
  cmp_store (what, dx);
  cpu->i->free (cpu, ac);
  gpu->i->free (gpu, ag);
  pfree (x), pfree (dx), pfree (yo), pfree (dyo);
}

static void
test_pool (void)
{
  /* resnet's stem pool (overlapping windows) and a 2x2 one; C of 8 and odd
   * C, odd planes (the last window cut by the edge), a batch of one */
  static const int64_t mx[][4] = { { 2, 8, 11, 10 }, { 1, 3, 9, 9 }, { 3, 5, 6, 7 },
                                   { 2, 7, 1, 1 } };
  static const int64_t ax[][4] = { { 2, 8, 7, 7 }, { 1, 5, 5, 6 }, { 3, 3, 4, 4 },
                                   { 2, 7, 1, 1 } };
  ts_pool2d_params p3 = { 3, 3, 2, 2, 1, 1 }, p2 = { 2, 2, 2, 2, 0, 0 };
  /* strides 1 and 3, and padding as large as the window or larger (windows
   * wholly in the padding: their argmax is clamped to row or column 0) */
  static const ts_pool2d_params more[] = { { 3, 3, 1, 1, 1, 1 }, { 3, 3, 3, 3, 1, 1 },
                                           { 1, 1, 1, 1, 3, 3 }, { 2, 3, 1, 2, 4, 3 } };

  if (!have_gpu ())
    return;
  for (size_t i = 0; i < G_N_ELEMENTS (mx); i++)
    {
      run_maxpool (mx[i], &p3);
      if (mx[i][2] >= 2)
        run_maxpool (mx[i], &p2);
    }
  for (size_t i = 0; i < G_N_ELEMENTS (more); i++)
    run_maxpool (mx[i % 3], &more[i]);
  for (size_t i = 0; i < G_N_ELEMENTS (ax); i++)
    {
      int64_t s1[4] = { ax[i][0], ax[i][1], 1, 1 }, s23[4] = { ax[i][0], ax[i][1], 2, 3 };
      run_adaptive (ax[i], s1, 0);    /* the model's head */
      run_adaptive (ax[i], s23, 1);
      run_adaptive (ax[i], s23, 0);   /* NCHW planes under an NHWC walk */
    }
}

/* sum_squares, all_finite and first_nonfinite read bf16 tensors too */
static void
test_reductions (void)
{
  int64_t s[4] = { 2, 5, 3, 3 };

  if (!have_gpu ())
    return;
  pair x = mk_rand_bf16 (s, -2, 2);
  float *h = gpu_values (x);
  double sc = cpu->i->sum_squares (cpu, x.c), sg = gpu->i->sum_squares (gpu, x.g);
  float fc = (float) sc, fg = (float) sg;
  compare_floats ("bf16 sum_squares", &fc, &fg, 1, 1e-6);
  g_assert_cmpint (gpu->i->all_finite (gpu, x.g), ==, 1);
  /* an even element: the low half of a 32-bit word, which a float32 read
   * would take for mantissa bits (and find finite) */
  h[36] = INFINITY;
  pair y = mk_bf16 (s, h);
  const ts_tensor *list[2] = { x.g, y.g };
  g_assert_cmpint (gpu->i->all_finite (gpu, y.g), ==, 0);
  g_assert_cmpint (ts_backend_first_nonfinite (gpu, list, 2), ==, 1);
  h[36] = NAN;
  g_assert_cmpint (ts_tensor_from_host (y.g, h, y.g->numel), ==, TS_OK);
  g_assert_cmpint (gpu->i->all_finite (gpu, y.g), ==, 0);
  pfree (x), pfree (y);
  free (h);
}

/* Ops that take float32 NCHW only refuse a bf16 tensor by name, and the
 * ones that take bf16 refuse a mix of types, instead of misreading memory */
static void
test_refuses (void)
{
  int64_t s[4] = { 2, 4, 3, 3 }, s1[4] = { 2, 4, 1, 1 };
  ts_pool2d_params pp = { 3, 3, 2, 2, 1, 1 };

  if (!have_gpu ())
    return;
  pair xb = mk_rand_bf16 (s, -1, 1), yb = mk_bf16 (s, NULL);
  ts_tensor *f = ts_tensor_new (gpu, 4, s), *mask = ts_tensor_new (gpu, 4, s);
  ts_tensor *b1 = ts_tensor_new_as (gpu, 4, s1, TS_BF16, TS_NCHW);
  int32_t *am = argmax_new (gpu, 2 * 4 * 2 * 2);
  int64_t s2[4] = { 2, 4, 2, 2 };
  ts_tensor *f2 = ts_tensor_new (gpu, 4, s2);

  ts_clear_error ();
  gpu->i->dropout_forward (gpu, 0.5f, 1, 0, xb.g, f, mask);
  g_assert_nonnull (strstr (ts_last_error (), "dropout"));
  g_assert_nonnull (strstr (ts_last_error (), "bf16 NHWC"));
  ts_clear_error ();
  gpu->i->adam_step (gpu, f, xb.g, f, f, 1e-3f, 0.9f, 0.99f, 1e-5f, 0.0f, 1);
  g_assert_nonnull (strstr (ts_last_error (), "adam_step"));
  ts_clear_error ();
  ts_adam_item it = { f, xb.g, f, f, 1e-3f, 0.0f, 1 };
  ts_backend_adam_many (gpu, &it, 1, 0.9f, 0.99f, 1e-5f);
  g_assert_nonnull (strstr (ts_last_error (), "adam_step"));
  ts_clear_error ();
  /* copy_many copies bf16 as it is (through axpby), and refuses a copy
   * between types */
  const ts_tensor *src[1] = { xb.g };
  ts_tensor *dst[1] = { yb.g }, *dst_f[1] = { f };
  ts_backend_copy_many (gpu, src, dst, 1);
  g_assert_cmpstr (ts_last_error (), ==, "");
  cpu->i->axpby (cpu, 1.0f, xb.c, 0.0f, yb.c);
  cmp ("copy_many of bf16", yb, 0.0);
  ts_backend_copy_many (gpu, src, dst_f, 1);
  g_assert_cmpstr (ts_last_error (), !=, "");
  ts_clear_error ();
  g_assert_true (isnan (gpu->i->bce_with_logits (gpu, xb.g, f, NULL)));
  g_assert_nonnull (strstr (ts_last_error (), "bce_with_logits"));
  {
    /* the loader's resample writes float32 NCHW only (the model converts) */
    int64_t so[4] = { 1, 3, 4, 4 };
    ts_tensor *o = ts_tensor_new_as (gpu, 4, so, TS_BF16, TS_NHWC);
    uint8_t px[4 * 4 * 3] = { 0 };
    ts_resample_item item = { 0 };
    float mean[3] = { 0, 0, 0 }, sd[3] = { 1, 1, 1 };

    item.width = item.height = item.size = 4;
    ts_clear_error ();
    g_assert_cmpint (ts_backend_resample_batch (gpu, px, sizeof px, NULL, &item, 1, mean, sd, o), ==,
                     TS_ERR_UNSUPPORTED);
    g_assert_nonnull (strstr (ts_last_error (), "resample"));
    ts_tensor_free (o);
  }
  float *before = gpu_values (yb), *after;
  ts_clear_error ();
  gpu->i->axpby (gpu, 1.0f, f, 0.0f, yb.g);
  g_assert_nonnull (strstr (ts_last_error (), "axpby: tensors of different types"));
  after = gpu_values (yb);   /* the refused axpby left its output alone */
  g_assert_cmpmem (before, (size_t) yb.g->numel * sizeof (float), after,
                   (size_t) yb.g->numel * sizeof (float));
  free (before), free (after);
  ts_clear_error ();
  gpu->i->maxpool2d_forward (gpu, &pp, xb.g, f2, am);
  g_assert_nonnull (strstr (ts_last_error (), "maxpool2d"));
  ts_clear_error ();
  gpu->i->adaptive_avgpool2d_forward (gpu, xb.g, b1);
  g_assert_nonnull (strstr (ts_last_error (), "adaptive_avgpool2d: output"));
  ts_clear_error ();
  gpu->i->adaptive_avgpool2d_forward (gpu, f, b1);
  g_assert_nonnull (strstr (ts_last_error (), "bf16 NCHW"));
  ts_clear_error ();
  gpu->i->free (gpu, am);
  ts_tensor_free (f), ts_tensor_free (f2), ts_tensor_free (mask), ts_tensor_free (b1);
  pfree (xb), pfree (yb);
}

/* ---- convolutions: bfloat16 NHWC x / y / dx / dy, float32 weights and
 * bias, through cuDNN only (refused without it) ---- */

/* the fake cuDNN's check of the types it refuses (tests/cuda/emu/
 * fake-cudnn.c); NULL with the real cuDNN */
extern const char *ts_fake_cudnn_check_types (void) __attribute__ ((weak));


/* A float32 pair of values from [lo, hi] already bfloat16: the GPU hands
 * cuDNN a bfloat16 copy of the weights while the CPU uses them as they are,
 * so weights that copy keeps exactly test the layouts and plumbing tightly. */
static pair
mk_rand_bf16_values (int ndim, const int64_t *shape, float lo, float hi)
{
  int64_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= shape[i];
  float *h = rnd (n, lo, hi);
  for (int64_t i = 0; i < n; i++)
    h[i] = ts_bf16_round (h[i]);
  pair p = mk (ndim, shape, h);
  free (h);
  return p;
}

/* A convolution's operands as the bf16 policy holds them: x, y, dy and dx
 * bfloat16 NHWC on the GPU, the weight float32 of values bfloat16 keeps,
 * the bias and the weight's and bias's gradients float32; x, w, b and dy
 * random, the outputs mk's garbage */
typedef struct {
  pair x, w, b, y, dy, dx, dw, db;
} conv_operands;

static conv_operands
mk_conv_bf16 (const conv_case *cc)
{
  int64_t sx[4], sw[4], sy[4], sb[1];
  conv_operands o;

  conv_case_shapes (cc, sx, sw, sy, sb);
  o.x = mk_rand_bf16 (sx, -1, 1), o.w = mk_rand_bf16_values (4, sw, -0.5f, 0.5f);
  o.b = mk_rand (1, sb, -1, 1), o.y = mk_bf16 (sy, NULL), o.dy = mk_rand_bf16 (sy, -1, 1);
  o.dx = mk_bf16 (sx, NULL), o.dw = mk (4, sw, NULL), o.db = mk (1, sb, NULL);
  return o;
}

static void
free_conv_operands (const conv_operands *o)
{
  pfree (o->x), pfree (o->w), pfree (o->b), pfree (o->y);
  pfree (o->dy), pfree (o->dx), pfree (o->dw), pfree (o->db);
}

/* @o's forward and backward on the CPU, the reference (with the bias when
 * @cc has one) */
static void
run_conv_cpu (const conv_case *cc, const conv_operands *o)
{
  cpu->i->conv2d_forward (cpu, &cc->p, o->x.c, o->w.c, cc->bias ? o->b.c : NULL, o->y.c);
  cpu->i->conv2d_backward (cpu, &cc->p, o->x.c, o->w.c, o->dy.c, o->dx.c, o->dw.c, o->db.c);
}

/* Training step @step of @cc on the GPU, forward and backward: no error,
 * y within @y_tol of the CPU's, dx, dw (float sums rounded once to bfloat16
 * by cuDNN, read back as float32) and db (the same bfloat16 dy on both
 * sides, summed in double) within one rounding; the second step (1)
 * allocates nothing in the host emulation (the scratch is at its
 * high-water mark) */
static void
run_conv_step (const conv_case *cc, const conv_operands *o, int step, double y_tol)
{
  long mallocs0 = ts_cuda_test_emulated () ? ts_fake_cuda_mallocs : 0;
  char what[160];

  ts_clear_error ();
  gpu->i->conv2d_forward (gpu, &cc->p, o->x.g, o->w.g, cc->bias ? o->b.g : NULL, o->y.g);
  gpu->i->conv2d_backward (gpu, &cc->p, o->x.g, o->w.g, o->dy.g, o->dx.g, o->dw.g, o->db.g);
  if (strcmp (ts_last_error (), "") != 0)
    g_test_message ("%s: %s", cc->name, ts_last_error ());
  g_assert_true (strcmp (ts_last_error (), "") == 0);
  g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
  if (step == 1 && ts_cuda_test_emulated ())
    g_assert_cmpint (ts_fake_cuda_mallocs, ==, mallocs0);
  snprintf (what, sizeof what, "conv2d %s forward", cc->name);
  cmp (what, o->y, y_tol);
  snprintf (what, sizeof what, "conv2d %s dx", cc->name);
  cmp (what, o->dx, tols.store);
  snprintf (what, sizeof what, "conv2d %s dw", cc->name);
  cmp (what, o->dw, tols.store);
  snprintf (what, sizeof what, "conv2d %s db", cc->name);
  cmp (what, o->db, tols.store);
}

/* Each gradient alone, NULL for the others (skipped, the others still
 * overwritten): dw over 7s, then dx into @dx, against the CPU's */
static void
run_conv_alone (const conv_case *cc, const conv_operands *o, ts_tensor *dx)
{
  char what[160];

  gpu->i->fill (gpu, o->dw.g, 7.0f);
  gpu->i->conv2d_backward (gpu, &cc->p, o->x.g, o->w.g, o->dy.g, NULL, o->dw.g, NULL);
  snprintf (what, sizeof what, "conv2d %s dw only", cc->name);
  cmp (what, o->dw, tols.store);
  gpu->i->conv2d_backward (gpu, &cc->p, o->x.g, o->w.g, o->dy.g, dx, NULL, NULL);
  snprintf (what, sizeof what, "conv2d %s dx only", cc->name);
  cmp (what, (pair) { o->dx.c, dx }, tols.store);
}

/* every element of the GPU side of @p is still mk's or mk_bf16's garbage
 * (123.25, which bfloat16 rounds) */
static void
assert_untouched (const char *what, pair p)
{
  int64_t n = p.g->numel, changed = 0;
  float *h = malloc ((size_t) n * sizeof (float));

  g_assert_cmpint (ts_tensor_to_host (p.g, h, n), ==, TS_OK);
  for (int64_t i = 0; i < n; i++)
    changed += h[i] != (p.g->dtype == TS_BF16 ? ts_bf16_round (123.25f) : 123.25f);
  if (changed)
    {
      g_test_message ("%s: a refused convolution wrote %lld elements", what, (long long) changed);
      g_test_fail ();
    }
  free (h);
}

/* The refusal: TS_ERR_UNSUPPORTED's message naming cuDNN, nothing written. */
static void
check_refused (const conv_case *cc, pair x, pair w, pair b, pair y, pair dy, pair dx, pair dw,
               pair db)
{
  const ts_conv2d_params *p = &cc->p;
  const char *why = "is off";   /* (called without cuDNN only) */

  ts_clear_error ();
  gpu->i->conv2d_forward (gpu, p, x.g, w.g, cc->bias ? b.g : NULL, y.g);
  g_test_message ("conv2d %s: %s", cc->name, ts_last_error ());
  g_assert_nonnull (strstr (ts_last_error (), "bfloat16 convolutions need cuDNN"));
  g_assert_nonnull (strstr (ts_last_error (), why));
  assert_untouched ("forward y", y);
  ts_clear_error ();
  gpu->i->conv2d_backward (gpu, p, x.g, w.g, dy.g, dx.g, dw.g, db.g);
  g_assert_nonnull (strstr (ts_last_error (), "bfloat16 convolutions need cuDNN"));
  assert_untouched ("backward dx", dx);
  assert_untouched ("backward dw", dw);
  assert_untouched ("backward db", db);
}

/* cuDNN's symmetric padding (top, left on both sides) gives @cc's output:
 * the float32 conv goes through cuDNN then (else im2col or the direct
 * kernels), and the bfloat16 one without the padded copy */
static int
cudnn_pads (const conv_case *cc)
{
  int64_t sx[4], sw[4], sy[4], sb[1];
  int hp = cc->h + 2 * cc->p.pad_top, wp = cc->w + 2 * cc->p.pad_left;

  conv_case_shapes (cc, sx, sw, sy, sb);
  return hp >= cc->kh && wp >= cc->kw && (hp - cc->kh) / cc->p.stride_h + 1 == sy[2]
         && (wp - cc->kw) / cc->p.stride_w + 1 == sy[3];
}

static void
run_conv (const conv_case *cc)
{
  const ts_conv2d_params *p = &cc->p;
  int64_t sx[4], sw[4], sy[4], sb[1];
  int dnn = want_cudnn ();   /* any padding: the asymmetric one on a padded copy of x */
  const char *tf32 = g_getenv ("TS_CUDA_TF32");
  char what[128];
  conv_operands o;
  ts_tensor *xf, *yf, *dx2;
  cudnn_calls calls0;

  conv_case_shapes (cc, sx, sw, sy, sb);
  o = mk_conv_bf16 (cc);
  xf = ts_tensor_new (gpu, 4, sx), yf = ts_tensor_new (gpu, 4, sy);
  dx2 = ts_tensor_new_as (gpu, 4, sx, TS_BF16, TS_NHWC);

  g_assert_nonnull (xf);
  g_assert_nonnull (yf);
  g_assert_nonnull (dx2);
  calls0 = cudnn_calls_now ();
  /* The float32 conv of the same geometry first, on the same values: with
   * cuDNN it plans this geometry for float32, and the bfloat16 conv must
   * not take those descriptors (the cache keys on the dtype). */
  run_conv_cpu (cc, &o);
  gpu->i->convert (gpu, o.x.g, xf);
  gpu->i->conv2d_forward (gpu, p, xf, o.w.g, cc->bias ? o.b.g : NULL, yf);
  snprintf (what, sizeof what, "conv2d %s forward (float32)", cc->name);
  cmp (what, (pair) { o.y.c, yf }, tf32 && atoi (tf32) ? tols.store : 1e-4);
  if (!dnn)
    check_refused (cc, o.x, o.w, o.b, o.y, o.dy, o.dx, o.dw, o.db);
  else
    {
      /* twice, the second as a later training step; y: cuDNN's bfloat16
       * output, then the bias added and rounded again */
      for (int step = 0; step < 2; step++)
        run_conv_step (cc, &o, step, cc->bias ? tols.chain : tols.store);
      run_conv_alone (cc, &o, dx2);
    }
  /* in the host emulation: through the fake cuDNN exactly when asked (the
   * float32 forward once where cuDNN pads it, then per step forward, data
   * and filter once each; then filter alone and data alone), else never */
  assert_cudnn_calls (cc->name, calls0,
                      (cudnn_calls) { dnn * (2 + cudnn_pads (cc)), 3 * dnn, 3 * dnn });
  ts_tensor_free (xf);
  ts_tensor_free (dx2);
  ts_tensor_free (yf);
  free_conv_operands (&o);
}

static void
test_conv (void)
{
  /* channel counts odd (3, 5, 7: the scalar bias kernel) and multiples of 8
   * (its 8-wide one); planes of 1x1 and larger; batch 1 and more */
  static const conv_case cases[] = {
    { "resnet stem 7x7 s2 p3", 2, 3, 17, 15, 16, 7, 7, { 2, 2, 3, 3, 3, 3, 1 }, 0 },
    { "7x7 s2 p3 bias", 1, 3, 12, 12, 8, 7, 7, { 2, 2, 3, 3, 3, 3, 1 }, 1 },
    { "3x3 s1 p1 bias", 2, 5, 9, 8, 7, 3, 3, { 1, 1, 1, 1, 1, 1, 1 }, 1 },
    { "3x3 s1 p1", 1, 8, 6, 7, 16, 3, 3, { 1, 1, 1, 1, 1, 1, 1 }, 0 },
    { "3x3 s2 p1 bias", 3, 16, 9, 9, 24, 3, 3, { 2, 2, 1, 1, 1, 1, 1 }, 1 },
    { "1x1 s1 bias", 3, 6, 5, 7, 8, 1, 1, { 1, 1, 0, 0, 0, 0, 1 }, 1 },
    { "1x1 s2", 2, 16, 9, 9, 5, 1, 1, { 2, 2, 0, 0, 0, 0, 1 }, 0 },
    { "1x1 on 1x1 planes bias", 4, 16, 1, 1, 40, 1, 1, { 1, 1, 0, 0, 0, 0, 1 }, 1 },
    { "depthwise 3x3 s1 bias", 2, 8, 6, 6, 8, 3, 3, { 1, 1, 1, 1, 1, 1, 8 }, 1 },
    { "depthwise 3x3 s2", 1, 5, 9, 7, 5, 3, 3, { 2, 2, 1, 1, 1, 1, 5 }, 0 },
  };

  if (!have_gpu ())
    return;
  if (&ts_fake_cudnn_check_types != NULL)
    {
      const char *bad = ts_fake_cudnn_check_types ();
      if (bad)
        g_test_message ("fake cuDNN: %s", bad);
      g_assert_true (bad == NULL);
    }
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_conv (&cases[i]);
}

/* Convolutions whose padding cuDNN cannot express, each checked as such */
static void
run_asymmetric (const conv_case *cases, size_t n)
{
  for (size_t i = 0; i < n; i++)
    {
      g_assert_false (cudnn_pads (&cases[i]));
      run_conv (&cases[i]);
    }
}

/* Padding cuDNN cannot express (asymmetric): the convolution runs unpadded
 * on a zero-padded copy of x, its dx cropped back from a padded one.  Each
 * must equal the CPU's convolution with that padding, forward, dx, dw and
 * db (run_conv), and without allocating after the first step. */
static void
test_conv_asymmetric (void)
{
  static const conv_case cases[] = {
    /* MobileNetV2's stride-2 depthwise convs under TensorFlow's SAME padding
     * on even sizes; C a multiple of 8 (the window copy's 16-byte path) */
    { "depthwise 3x3 s2 SAME", 2, 16, 8, 8, 16, 3, 3, { 2, 2, 0, 0, 1, 1, 16 }, 1 },
    { "depthwise 3x3 s2 SAME, 5 channels", 3, 5, 6, 10, 5, 3, 3, { 2, 2, 0, 0, 1, 1, 5 }, 0 },
    /* its stem: 3 channels, 3x3 stride 2 */
    { "stem 3x3 s2 SAME", 2, 3, 16, 16, 8, 3, 3, { 2, 2, 0, 0, 1, 1, 1 }, 1 },
    /* top and left differ, more padding on top / left than below / right */
    { "3x3 s1 pad t2 l1 b0 r1", 2, 7, 5, 6, 8, 3, 3, { 1, 1, 2, 1, 0, 1, 1 }, 1 },
    { "5x3 s2 pad t1 l0 b2 r1", 1, 8, 9, 8, 7, 5, 3, { 2, 2, 1, 0, 2, 1, 1 }, 0 },
    /* the output does not read x's last row and column: their dx is 0 */
    { "2x2 s2 pad t1 l1, last row unread", 2, 8, 8, 8, 8, 2, 2, { 2, 2, 1, 1, 0, 0, 1 }, 1 },
    /* 1x1 planes padded only below and right (smaller than the kernel) */
    { "3x3 s2 pad b2 r2 on 1x1 planes", 4, 16, 1, 1, 24, 3, 3, { 2, 2, 0, 0, 2, 2, 1 }, 1 },
  };

  if (!have_gpu ())
    return;
  run_asymmetric (cases, sizeof cases / sizeof cases[0]);
}

/* The window copy and the bias kernels at each vector width they take
 * (nhwc_vec_width: C = 16, 8 channels a thread; C = 12, 4; C = 6 and 10,
 * 2), and in the host emulation with their 64-bit indices too
 * (each_index_width; the 16-channel case is test_conv_asymmetric's first,
 * again for that). */
static void
conv_widths (void)
{
  static const conv_case cases[] = {
    { "depthwise 3x3 s2 SAME, 12 channels", 2, 12, 8, 6, 12, 3, 3, { 2, 2, 0, 0, 1, 1, 12 }, 1 },
    { "3x3 s2 SAME, 6 to 10 channels", 2, 6, 7, 8, 10, 3, 3, { 2, 2, 0, 0, 1, 1, 1 }, 1 },
    { "3x3 s1 pad t1 l0 b2 r1, 10 to 6 channels", 1, 10, 5, 6, 6, 3, 3, { 1, 1, 1, 0, 2, 1, 1 },
      1 },
    { "depthwise 3x3 s2 SAME", 2, 16, 8, 8, 16, 3, 3, { 2, 2, 0, 0, 1, 1, 16 }, 1 },
  };

  run_asymmetric (cases, sizeof cases / sizeof cases[0]);
}

static void
test_conv_widths (void)
{
  if (!have_gpu ())
    return;
  each_index_width (conv_widths);
}

/* What the model never sends is refused, not misread: linear layers take
 * float32 only, and a convolution's x, y and dx have one type (bfloat16
 * NHWC or float32 NCHW) while its weight stays float32. */
static void
test_conv_linear_refuse (void)
{
  int64_t s2[2] = { 2, 3 }, sw2[2] = { 4, 3 }, sy2[2] = { 2, 4 };
  int64_t sx[4] = { 1, 4, 5, 5 }, sw[4] = { 8, 4, 3, 3 }, sy[4] = { 1, 8, 5, 5 };
  ts_conv2d_params p = { 1, 1, 1, 1, 1, 1, 1 };

  if (!have_gpu ())
    return;
  ts_tensor *x = ts_tensor_new_as (gpu, 2, s2, TS_BF16, TS_NCHW);
  ts_tensor *w = ts_tensor_new (gpu, 2, sw2), *y = ts_tensor_new (gpu, 2, sy2);
  ts_tensor *cx = ts_tensor_new_as (gpu, 4, sx, TS_BF16, TS_NHWC);
  ts_tensor *cw = ts_tensor_new (gpu, 4, sw), *cy = ts_tensor_new (gpu, 4, sy);
  ts_tensor *cw16 = ts_tensor_new_as (gpu, 4, sw, TS_BF16, TS_NHWC);
  g_assert_true (x && w && y && cx && cw && cy && cw16);

  ts_clear_error ();
  gpu->i->linear_forward (gpu, x, w, NULL, y);
  g_assert_nonnull (strstr (ts_last_error (), "takes float32 NCHW"));
  ts_clear_error ();
  gpu->i->linear_backward (gpu, x, w, y, NULL, w, NULL);
  g_assert_nonnull (strstr (ts_last_error (), "takes float32 NCHW"));
  /* bfloat16 x into a float32 y; a bfloat16 weight */
  ts_clear_error ();
  gpu->i->conv2d_forward (gpu, &p, cx, cw, NULL, cy);
  g_assert_nonnull (strstr (ts_last_error (), "different types"));
  ts_clear_error ();
  gpu->i->conv2d_backward (gpu, &p, cx, cw16, cx, NULL, NULL, NULL);
  g_assert_nonnull (strstr (ts_last_error (), "takes float32 NCHW"));
  ts_tensor_free (x), ts_tensor_free (w), ts_tensor_free (y);
  ts_tensor_free (cx), ts_tensor_free (cw), ts_tensor_free (cy), ts_tensor_free (cw16);
}

/* the kernels that pick 32- or 64-bit indices by size, on both paths */
static void
test_convert_rounding_all (void)
{
  each_index_width (test_convert_rounding);
}

static void
test_convert_layouts_all (void)
{
  each_index_width (test_convert_layouts);
}

static void
test_pool_all (void)
{
  each_index_width (test_pool);
}

/* ---- cuDNN's planning (ts-cuda-cudnn.c) where a real cuDNN differs from
 * the fake's defaults: the switches of tests/cuda/emu/fake-cudnn.c and
 * fake-cudart.c, absent (NULL) with the real libraries ---- */

extern int ts_fake_cudnn_no_algo __attribute__ ((weak));
extern int ts_fake_cudnn_no_algo_c __attribute__ ((weak));
extern int ts_fake_cudnn_mixed_math __attribute__ ((weak));
extern int ts_fake_cuda_cc __attribute__ ((weak));

/* Each direction is planned on its first use: the fake offers no data
 * gradient for 3-channel inputs (as cuDNN may not in NHWC), and the stem
 * conv, whose dx the model never asks for, still runs forward and dw in
 * bfloat16, no float32 fallback counted; asking for its dx runs that in
 * float32 (counted once, cuDNN's data gradient never run).  float32 runs
 * forward on cuDNN and its backward on im2col.  An evaluation (forward
 * only) runs with neither gradient offered. */
static void
test_conv_directions (void)
{
  /* (geometries no other test plans: the switches change only new plans) */
  static const conv_case stem = { "stem", 2, 3, 18, 16, 16, 7, 7, { 2, 2, 3, 3, 3, 3, 1 }, 0 };
  static const conv_case eval = { "eval", 1, 3, 8, 8, 8, 3, 3, { 1, 1, 1, 1, 1, 1, 1 }, 1 };
  int64_t sx[4], sw[4], sy[4], sb[1];
  pair x, w, b, y, dy, dx, dw, db;
  ts_tensor *xf, *yf, *dxf, *dwf;
  cudnn_calls calls0;
  long fallbacks0;

  if (!have_fake_cudnn ())
    return;
  ts_fake_cudnn_no_algo = 2, ts_fake_cudnn_no_algo_c = 3;
  fallbacks0 = ts_backend_cuda_bf16_fallbacks (gpu);
  conv_case_shapes (&stem, sx, sw, sy, sb);
  x = mk_rand_bf16 (sx, -1, 1), w = mk_rand_bf16_values (4, sw, -0.5f, 0.5f);
  y = mk_bf16 (sy, NULL), dy = mk_rand_bf16 (sy, -1, 1), dx = mk_bf16 (sx, NULL);
  dw = mk (4, sw, NULL), db = mk (1, sb, NULL);
  cpu->i->conv2d_forward (cpu, &stem.p, x.c, w.c, NULL, y.c);
  cpu->i->conv2d_backward (cpu, &stem.p, x.c, w.c, dy.c, dx.c, dw.c, db.c);

  ts_clear_error ();
  gpu->i->conv2d_forward (gpu, &stem.p, x.g, w.g, NULL, y.g);
  gpu->i->conv2d_backward (gpu, &stem.p, x.g, w.g, dy.g, NULL, dw.g, db.g);
  g_test_message ("stem, dx never asked: %s", ts_last_error ());
  g_assert_true (strcmp (ts_last_error (), "") == 0);
  g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
  cmp ("stem forward", y, tols.store);
  cmp ("stem dw", dw, tols.store);
  cmp ("stem db", db, tols.store);
  g_assert_cmpint (ts_backend_cuda_bf16_fallbacks (gpu), ==, fallbacks0);

  calls0 = cudnn_calls_now ();
  gpu->i->conv2d_backward (gpu, &stem.p, x.g, w.g, dy.g, dx.g, NULL, NULL);
  g_test_message ("stem dx: %s", ts_last_error ());
  g_assert_true (strcmp (ts_last_error (), "") == 0);
  g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
  cmp ("stem dx (float32)", dx, tols.store);
  g_assert_cmpint (ts_backend_cuda_bf16_fallbacks (gpu), ==, fallbacks0 + 1);
  assert_cudnn_calls ("stem dx", calls0, (cudnn_calls) { 0, 0, 0 });

  /* float32: forward on cuDNN, both gradients on im2col (the direction
   * cuDNN lacks takes the other with it: one path per backward call) */
  xf = ts_tensor_new (gpu, 4, sx), yf = ts_tensor_new (gpu, 4, sy);
  dxf = ts_tensor_new (gpu, 4, sx), dwf = ts_tensor_new (gpu, 4, sw);
  ts_tensor *dyf = ts_tensor_new (gpu, 4, sy);
  g_assert_true (xf && yf && dxf && dwf && dyf);
  gpu->i->convert (gpu, x.g, xf);
  gpu->i->convert (gpu, dy.g, dyf);
  calls0 = cudnn_calls_now ();
  ts_clear_error ();
  gpu->i->conv2d_forward (gpu, &stem.p, xf, w.g, NULL, yf);
  gpu->i->conv2d_backward (gpu, &stem.p, xf, w.g, dyf, dxf, dwf, NULL);
  g_assert_true (strcmp (ts_last_error (), "") == 0);
  /* forward on cuDNN, the backward on im2col */
  assert_cudnn_calls ("stem float32", calls0, (cudnn_calls) { 1, 0, 0 });
  cmp ("stem float32 forward", (pair) { y.c, yf }, 1e-4);
  cmp ("stem float32 dx (im2col)", (pair) { dx.c, dxf }, 1e-4);
  cmp ("stem float32 dw (im2col)", (pair) { dw.c, dwf }, 1e-4);
  ts_tensor_free (xf), ts_tensor_free (yf), ts_tensor_free (dxf), ts_tensor_free (dwf);
  ts_tensor_free (dyf);
  pfree (x), pfree (w), pfree (y), pfree (dy), pfree (dx), pfree (dw), pfree (db);

  /* evaluation: no gradient offered at all, the forward runs */
  ts_fake_cudnn_no_algo = 6;
  conv_case_shapes (&eval, sx, sw, sy, sb);
  x = mk_rand_bf16 (sx, -1, 1), w = mk_rand_bf16_values (4, sw, -0.5f, 0.5f);
  b = mk_rand (1, sb, -1, 1), y = mk_bf16 (sy, NULL);
  cpu->i->conv2d_forward (cpu, &eval.p, x.c, w.c, b.c, y.c);
  ts_clear_error ();
  gpu->i->conv2d_forward (gpu, &eval.p, x.g, w.g, b.g, y.g);
  g_assert_true (strcmp (ts_last_error (), "") == 0);
  cmp ("eval forward", y, tols.chain);
  pfree (x), pfree (w), pfree (b), pfree (y);
  ts_fake_cudnn_no_algo = 0, ts_fake_cudnn_no_algo_c = 0;
}

/* The fake's algorithms run with math types of their own, which their perf
 * entries report (none bfloat16's TENSOR_OP_MATH), and need more workspace
 * under FMA_MATH than the heuristics say: each convolution must run under
 * its entry's math type with the workspace asked under it (run_conv checks
 * results, errors and that nothing is allocated after the first step). */
static void
test_conv_math_types (void)
{
  static const conv_case cases[] = {
    /* (geometries no other test plans: the switch changes only new plans) */
    { "3x3 s1 p1 bias, mixed math", 2, 5, 10, 8, 7, 3, 3, { 1, 1, 1, 1, 1, 1, 1 }, 1 },
    { "depthwise 3x3 s2, mixed math", 1, 8, 9, 7, 8, 3, 3, { 2, 2, 1, 1, 1, 1, 8 }, 0 },
    { "3x3 s2 SAME, mixed math", 3, 4, 8, 8, 6, 3, 3, { 2, 2, 0, 0, 1, 1, 1 }, 1 },
  };

  if (!have_fake_cudnn ())
    return;
  ts_fake_cudnn_mixed_math = 1;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_conv (&cases[i]);
  ts_fake_cudnn_mixed_math = 0;
}

/* y of a 1x1 convolution of all-ones x [n, 2, 2, 2] with all-ones weights:
 * 2 everywhere (exact in bfloat16) */
static void
ones_conv (int n, ts_dtype dtype, ts_layout layout, const ts_tensor *w)
{
  const ts_conv2d_params p = { 1, 1, 0, 0, 0, 0, 1 };
  int64_t sx[4] = { n, 2, 2, 2 }, sy[4] = { n, 3, 2, 2 };
  ts_tensor *x = ts_tensor_new_as (gpu, 4, sx, dtype, layout);
  ts_tensor *y = ts_tensor_new_as (gpu, 4, sy, dtype, layout);
  float *h = malloc ((size_t) y->numel * sizeof (float));
  long fwd0 = ts_fake_cudnn_forwards;

  gpu->i->fill (gpu, x, 1.0f);
  ts_clear_error ();
  gpu->i->conv2d_forward (gpu, &p, x, w, NULL, y);
  if (strcmp (ts_last_error (), "") != 0)
    g_test_message ("batch %d (%s): %s", n, dtype == TS_BF16 ? "bfloat16" : "float32",
                    ts_last_error ());
  g_assert_true (strcmp (ts_last_error (), "") == 0);
  g_assert_cmpint (ts_fake_cudnn_forwards - fwd0, ==, 1);   /* cuDNN took it */
  g_assert_cmpint (ts_tensor_to_host (y, h, y->numel), ==, TS_OK);
  for (int64_t i = 0; i < y->numel; i++)
    g_assert_cmpfloat (h[i], ==, 2.0f);
  free (h);
  ts_tensor_free (x), ts_tensor_free (y);
}

/* ts-cuda-cudnn.c's DNN_CACHE */
#define DNN_CACHE_SLOTS 512

/* More geometries than the descriptor cache holds (a batch size each, in
 * bfloat16 and float32): all go through cuDNN, the least recently used
 * making room (its descriptors destroyed: the live count stays within the
 * cache's), and an evicted one comes back planned afresh. */
static void
test_conv_cache_eviction (void)
{
  const int64_t sw[4] = { 3, 2, 1, 1 };
  const int batches = DNN_CACHE_SLOTS / 2 + 200;
  ts_tensor *w;
  long live0;

  if (!have_fake_cudnn ())
    return;
  w = ts_tensor_new (gpu, 4, sw);
  gpu->i->fill (gpu, w, 1.0f);
  live0 = ts_fake_cudnn_live;
  for (int n = 1; n <= batches; n++)
    {
      ones_conv (n, TS_BF16, TS_NHWC, w);
      ones_conv (n, TS_F32, TS_NCHW, w);
    }
  g_test_message ("fake cuDNN descriptors: %ld more after %d geometries", ts_fake_cudnn_live - live0,
                  2 * batches);
  g_assert_cmpint (ts_fake_cudnn_live - live0, <=, 4 * DNN_CACHE_SLOTS);
  ones_conv (1, TS_BF16, TS_NHWC, w);
  ones_conv (1, TS_F32, TS_NCHW, w);
  ts_tensor_free (w);
}

/* cuDNN has no bfloat16 convolutions below compute capability 8.0: bf16
 * precision is refused up front there, naming the GPU */
static void
test_bf16_ready_cc (void)
{
  char err[512];
  ts_backend *be;

  if (!have_fake_cudnn ())
    return;
  if (&ts_fake_cuda_cc == NULL)
    {
      g_test_skip ("needs the host emulation's fake CUDA runtime");
      return;
    }
  g_assert_true (gpu->i->bf16_ready (gpu));
  ts_fake_cuda_cc = 75;   /* a T4 */
  be = ts_backend_cuda_new (0, err, sizeof err);
  g_assert_nonnull (be);
  ts_clear_error ();
  g_assert_true (!be->i->bf16_ready (be));
  g_test_message ("%s", ts_last_error ());
  g_assert_nonnull (strstr (ts_last_error (), "emulated GPU (host) has compute capability 7.5"));
  g_assert_nonnull (strstr (ts_last_error (), "use float32"));
  ts_backend_free (be);
  ts_fake_cuda_cc = 80;   /* an A100 */
  be = ts_backend_cuda_new (0, err, sizeof err);
  g_assert_nonnull (be);
  g_assert_true (be->i->bf16_ready (be));
  ts_backend_free (be);
  ts_fake_cuda_cc = 90;
}

/* ---- the float32 fallback (ts-cuda-gemm.c): a direction cuDNN has no
 * bfloat16 algorithm for runs on float32 copies, counted, instead of
 * failing the layer ---- */

static long
fallbacks (void)
{
  return ts_backend_cuda_bf16_fallbacks (gpu);
}

extern int ts_fake_cudnn_no_algo_bf16 __attribute__ ((weak));

/* @cc with the fake cuDNN offering nothing for the directions @refused
 * (ts_fake_cudnn_no_algo's bits) at its channel count: forward and both
 * gradients twice (a later step allocates nothing: the float32 copies come
 * back from the allocator's cache), then each gradient alone, all within
 * the tolerances of cuDNN's own bfloat16 convolutions; each call with a
 * refused direction counted once, and cuDNN ran in bfloat16 exactly the
 * directions it offers (the float32 path meets the same refusal and takes
 * im2col or the direct kernels), or, when it refuses bfloat16 only
 * (@bf16_only: ts_fake_cudnn_no_algo_bf16, a real cuDNN's likely case),
 * every direction once a call, the refused ones in float32. */
static void
run_conv_fallback (const conv_case *cc, int refused, int bf16_only)
{
  const int fwd = !(refused & 1), data = !(refused & 2), filter = !(refused & 4);
  conv_operands o;
  cudnn_calls calls0;
  long fallbacks0;

  ts_fake_cudnn_no_algo = refused, ts_fake_cudnn_no_algo_c = cc->c;
  ts_fake_cudnn_no_algo_bf16 = bf16_only;
  o = mk_conv_bf16 (cc);
  run_conv_cpu (cc, &o);
  calls0 = cudnn_calls_now ();
  fallbacks0 = fallbacks ();
  /* in float32 the bias is added before the one rounding */
  for (int step = 0; step < 2; step++)
    run_conv_step (cc, &o, step, cc->bias && fwd ? tols.chain : tols.store);
  gpu->i->fill (gpu, o.dx.g, 7.0f);
  run_conv_alone (cc, &o, o.dx.g);
  g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
  g_assert_cmpint (fallbacks () - fallbacks0, ==,
                   2 * (!fwd + (!data || !filter)) + !filter + !data);
  if (bf16_only)
    assert_cudnn_calls (cc->name, calls0, (cudnn_calls) { 2, 3, 3 });
  else
    assert_cudnn_calls (cc->name, calls0, (cudnn_calls) { 2 * fwd, 3 * data, 3 * filter });
  ts_fake_cudnn_no_algo = 0, ts_fake_cudnn_no_algo_c = 0, ts_fake_cudnn_no_algo_bf16 = 0;
  free_conv_operands (&o);
}

static void
test_conv_fallback (void)
{
  /* (channel counts and geometries no other test plans: the switches
   * change only new plans) */
  static const struct {
    conv_case cc;
    int refused, bf16_only;
  } cases[] = {
    { { "forward refused, 3x3 s1 p1 bias", 2, 6, 7, 9, 10, 3, 3, { 1, 1, 1, 1, 1, 1, 1 }, 1 },
      1, 0 },
    /* the filter gradient stays in bfloat16, on the padded copy of x */
    { { "data refused, depthwise 3x3 s2 SAME bias", 2, 12, 8, 8, 12, 3, 3,
        { 2, 2, 0, 0, 1, 1, 12 }, 1 }, 2, 0 },
    /* float32's 1x1 path reads x itself */
    { { "filter refused, 1x1 s1", 3, 10, 5, 6, 20, 1, 1, { 1, 1, 0, 0, 0, 0, 1 }, 0 }, 4, 0 },
    { { "all refused, 5x5 s2 p2 bias", 2, 4, 11, 9, 6, 5, 5, { 2, 2, 2, 2, 2, 2, 1 }, 1 }, 7, 0 },
    /* float32 through cuDNN: every direction, and the data gradient alone */
    { { "all refused in bfloat16 only, 3x3 s1 p1 bias", 2, 7, 6, 8, 5, 3, 3,
        { 1, 1, 1, 1, 1, 1, 1 }, 1 }, 7, 1 },
    { { "data refused in bfloat16 only, 3x3 s2 p1", 2, 9, 9, 7, 6, 3, 3,
        { 2, 2, 1, 1, 1, 1, 1 }, 0 }, 2, 1 },
  };

  if (!have_fake_cudnn ())
    return;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_conv_fallback (&cases[i].cc, cases[i].refused, cases[i].bf16_only);
}

/* A backend of its own (a failure there is sticky) with @cc's bfloat16
 * NHWC x and y and its float32 weight */
static ts_backend *
own_backend_conv (const conv_case *cc, ts_tensor **x, ts_tensor **w, ts_tensor **y)
{
  int64_t sx[4], sw[4], sy[4], sb[1];
  char err[512];
  ts_backend *be = ts_backend_cuda_new (0, err, sizeof err);

  g_assert_nonnull (be);
  conv_case_shapes (cc, sx, sw, sy, sb);
  *x = ts_tensor_new_as (be, 4, sx, TS_BF16, TS_NHWC);
  *y = ts_tensor_new_as (be, 4, sy, TS_BF16, TS_NHWC);
  *w = ts_tensor_new (be, 4, sw);
  g_assert_true (*x && *y && *w);
  return be;
}

/* When the float32 copies cannot be made either (out of memory), the
 * error, and the failure the backend keeps, still name the layer and
 * cuDNN's refusal; nothing is counted.  On a backend of its own: the
 * failure is sticky. */
static void
test_conv_fallback_nomem (void)
{
  static const conv_case cc = { "no memory", 2, 5, 32, 32, 9, 3, 3, { 1, 1, 1, 1, 1, 1, 1 }, 0 };
  static const char *layer = "conv2d: cuDNN cannot run this bfloat16 convolution (kernel 3x3, "
                             "stride 1x1, padding top 1 bottom 1 left 1 right 1, groups 1, 5 to "
                             "9 channels, batch 2): CUDNN_STATUS_NOT_SUPPORTED; running it in "
                             "float32 instead failed too: CUDA: out of GPU memory";
  ts_cuda_test_env limit;
  ts_tensor *x, *w, *y;
  ts_backend *be;

  if (!have_fake_cudnn ())
    return;
  be = own_backend_conv (&cc, &x, &w, &y);
  ts_fake_cudnn_no_algo = 1, ts_fake_cudnn_no_algo_c = cc.c;
  /* x's float32 copy takes 40 KiB */
  limit = ts_cuda_test_setenv ("TS_FAKE_CUDA_MAX_ALLOC", "4096");
  ts_clear_error ();
  be->i->conv2d_forward (be, &cc.p, x, w, NULL, y);
  ts_cuda_test_restore (limit);
  ts_fake_cudnn_no_algo = 0, ts_fake_cudnn_no_algo_c = 0;
  g_test_message ("%s", ts_last_error ());
  g_assert_nonnull (strstr (ts_last_error (), layer));
  ts_clear_error ();
  g_assert_cmpint (ts_backend_check (be), ==, TS_ERR_NOMEM);
  g_assert_nonnull (strstr (ts_last_error (), layer));
  g_assert_cmpint (ts_backend_cuda_bf16_fallbacks (be), ==, 0);
  ts_tensor_free (x), ts_tensor_free (y), ts_tensor_free (w);
  ts_backend_free (be);
}

/* A bf16 model one of whose convolutions (tiny's conv2, the only one with
 * 8 input channels) cuDNN has no bfloat16 algorithm for in any direction:
 * its eval logits match the CPU's float32 model, it trains a few SGD steps
 * on one batch (the loss falls, nothing fails, no step after the first
 * allocates) and every step counts that conv's forward and backward. */
static void
test_model_fallback (void)
{
  const int batch = 4, size = 16, classes = 3, steps = 4;
  const ts_model_config cfg = { .arch = "tiny", .n_classes = classes,
                                .head = TS_HEAD_FASTAI, .seed = 11 };
  ts_model *mc, *mg;
  ts_tensor *xc, *xg, *t, *dl, *lc, *lg;
  float *hx, ht[4 * 3], loss0 = 0.0f, loss = 0.0f;
  long fallbacks0, mallocs0 = 0;

  if (!have_fake_cudnn ())
    return;
  ts_fake_cudnn_no_algo = 7, ts_fake_cudnn_no_algo_c = 8;
  g_assert_cmpint (ts_model_new (cpu, &cfg, &mc), ==, TS_OK);
  g_assert_cmpint (ts_model_new (gpu, &cfg, &mg), ==, TS_OK);
  g_assert_cmpint (ts_model_set_precision (mg, TS_PRECISION_BF16), ==, TS_OK);
  g_assert_cmpint (ts_model_prepare (mc, batch, size, size), ==, TS_OK);
  g_assert_cmpint (ts_model_prepare (mg, batch, size, size), ==, TS_OK);
  ts_model_unfreeze (mg);
  xc = ts_tensor_new_4d (cpu, batch, 3, size, size);
  xg = ts_tensor_new_4d (gpu, batch, 3, size, size);
  t = ts_tensor_new_2d (gpu, batch, classes), dl = ts_tensor_new_2d (gpu, batch, classes);
  g_assert_true (xc && xg && t && dl);
  hx = rnd (xc->numel, -2, 2);
  for (int i = 0; i < batch * classes; i++)
    ht[i] = (float) (i % 2);
  g_assert_cmpint (ts_tensor_from_host (xc, hx, xc->numel), ==, TS_OK);
  g_assert_cmpint (ts_tensor_from_host (xg, hx, xg->numel), ==, TS_OK);
  g_assert_cmpint (ts_tensor_from_host (t, ht, t->numel), ==, TS_OK);
  free (hx);

  fallbacks0 = fallbacks ();
  g_assert_cmpint (ts_model_forward (mc, xc, 0, &lc), ==, TS_OK);
  g_assert_cmpint (ts_model_forward (mg, xg, 0, &lg), ==, TS_OK);
  cmp ("tiny bf16 eval logits, conv2 in float32", (pair) { lc, lg }, 3e-2);
  g_assert_cmpint (fallbacks () - fallbacks0, ==, 1);
  for (int s = 0; s < steps; s++)
    {
      if (s == 1)
        mallocs0 = ts_fake_cuda_mallocs;
      ts_clear_error ();
      g_assert_cmpint (ts_model_forward (mg, xg, 1, &lg), ==, TS_OK);
      loss = gpu->i->bce_with_logits (gpu, lg, t, dl);
      g_assert_cmpint (ts_model_backward (mg, dl), ==, TS_OK);
      for (int i = 0; i < ts_model_n_params (mg); i++)
        {
          ts_param *prm = ts_model_param (mg, i);
          if (prm->trainable)
            gpu->i->axpby (gpu, -0.05f, prm->grad, 1.0f, prm->value);
        }
      g_assert_true (strcmp (ts_last_error (), "") == 0);
      g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
      g_assert_true (isfinite (loss));
      g_test_message ("step %d: loss %.6f", s + 1, loss);
      if (s == 0)
        loss0 = loss;
    }
  g_assert_cmpfloat (loss, <, loss0);
  g_assert_cmpint (ts_fake_cuda_mallocs, ==, mallocs0);
  g_assert_cmpint (fallbacks () - fallbacks0, ==, 1 + 2 * steps);
  ts_fake_cudnn_no_algo = 0, ts_fake_cudnn_no_algo_c = 0;
  ts_tensor_free (xc), ts_tensor_free (xg), ts_tensor_free (t), ts_tensor_free (dl);
  ts_model_free (mc);
  ts_model_free (mg);
}

/* ---- cuDNN's fall-through when an algorithm fails as it runs
 * (ts-cuda-cudnn.c), for bfloat16: the fake cuDNN's failures at execution
 * (tests/cuda/emu/fake-cudnn.c, cuda-ops-test.h), absent (NULL) with the
 * real one ---- */

/* Each direction's first candidate fails when run: the next runs, on the
 * weight's bfloat16 copy and the padded x made again for it (the SAME
 * case), results equal the CPU's and no step after the first allocates
 * (run_conv), and the refused algorithm is never run again in that entry
 * (run_conv: two steps, then dw and dx alone).  Each entry refuses it once:
 * the float32 forward run_conv makes first where cuDNN pads, the bfloat16
 * forward, data and filter. */
static void
test_conv_fallthrough (void)
{
  /* (geometries no other test plans) */
  static const conv_case cases[] = {
    { "3x3 s1 p1 bias, first candidates fail", 2, 5, 7, 6, 8, 3, 3, { 1, 1, 1, 1, 1, 1, 1 }, 1 },
    { "3x3 s2 SAME, first candidates fail", 2, 8, 10, 8, 4, 3, 3, { 2, 2, 0, 0, 1, 1, 1 }, 0 },
  };
  const long entries[3] = { 3, 2, 2 };   /* that plan each direction */
  ts_cuda_dnn_stats s0;

  if (!have_fake_failures ())
    return;
  s0 = dnn_stats (gpu);
  ts_fake_cudnn_fail_first[0] = ts_fake_cudnn_fail_first[1] = ts_fake_cudnn_fail_first[2] = 1;
  ts_fake_cudnn_fail_status = DNN_NOT_SUPPORTED;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_conv (&cases[i]);
  for (int k = 0; k < 3; k++)
    g_assert_cmpint (tries_of (k, 1), ==, entries[k]);
  g_assert_cmpint (dnn_stats (gpu).refused - s0.refused, ==, 7);
  g_assert_cmpint (dnn_stats (gpu).exhausted, ==, s0.exhausted);
  ts_fake_cudnn_fail_reset ();
}

/* The candidate after a failed one needs a larger workspace, so the
 * scratch grows under the retry and what it held (the weight's bfloat16
 * copy, the padded x) must be made again: cuDNN's own order
 * (TS_CUDA_DETERMINISTIC=0) on a backend of its own, whose scratch is
 * sized by the first candidate (the fake's 512 bytes, then an image's
 * columns; the fake runtime fills new memory with NaNs, so that a copy not
 * made again shows). */
static void
test_conv_fallthrough_grows (void)
{
  static const conv_case cc = { "3x3 s2 SAME, retried with more workspace", 2, 8, 12, 10, 8, 3,
                                3, { 2, 2, 0, 0, 1, 1, 1 }, 1 };
  char err[512];
  ts_backend *keep = gpu;
  conv_operands o;
  ts_cuda_test_env det;
  long mallocs0;

  if (!have_fake_failures ())
    return;
  det = ts_cuda_test_setenv ("TS_CUDA_DETERMINISTIC", "0");
  gpu = ts_backend_cuda_new (0, err, sizeof err);
  ts_cuda_test_restore (det);
  g_assert_nonnull (gpu);
  o = mk_conv_bf16 (&cc);
  run_conv_cpu (&cc, &o);
  ts_fake_cudnn_fail_first[0] = ts_fake_cudnn_fail_first[1] = ts_fake_cudnn_fail_first[2] = 1;
  ts_fake_cudnn_fail_status = DNN_NOT_SUPPORTED;
  mallocs0 = ts_fake_cuda_mallocs;
  ts_clear_error ();
  gpu->i->conv2d_forward (gpu, &cc.p, o.x.g, o.w.g, o.b.g, o.y.g);
  /* the scratch made for the first try, then again for the retry */
  g_assert_cmpint (ts_fake_cuda_mallocs - mallocs0, ==, 2);
  gpu->i->conv2d_backward (gpu, &cc.p, o.x.g, o.w.g, o.dy.g, o.dx.g, o.dw.g, NULL);
  g_assert_true (strcmp (ts_last_error (), "") == 0);
  g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
  g_assert_cmpint (dnn_stats (gpu).refused, ==, 3);
  cmp ("retried forward", o.y, tols.chain);
  cmp ("retried dx", o.dx, tols.store);
  cmp ("retried dw", o.dw, tols.store);
  ts_fake_cudnn_fail_reset ();
  free_conv_operands (&o);
  ts_backend_free (gpu);
  gpu = keep;
}

/* test_conv_fallthrough_exhausted's last part: a backward on cuDNN, then
 * one whose every data-gradient candidate fails (NOT_SUPPORTED), dx
 * holding the first one's right answer meanwhile */
static void
run_data_exhausted (void)
{
  static const conv_case cc = { "3x3 s1 p1, every data candidate fails", 2, 6, 5, 6, 7, 3, 3,
                                { 1, 1, 1, 1, 1, 1, 1 }, 0 };
  int64_t sx[4], sw[4], sy[4], sb[1];
  cudnn_calls calls0;
  pair x, w, dy, dx, dw;

  conv_case_shapes (&cc, sx, sw, sy, sb);
  x = mk_rand_bf16 (sx, -1, 1), w = mk_rand_bf16_values (4, sw, -0.5f, 0.5f);
  dy = mk_rand_bf16 (sy, -1, 1), dx = mk_bf16 (sx, NULL), dw = mk (4, sw, NULL);
  cpu->i->conv2d_backward (cpu, &cc.p, x.c, w.c, dy.c, dx.c, dw.c, NULL);
  ts_clear_error ();
  gpu->i->conv2d_backward (gpu, &cc.p, x.g, w.g, dy.g, dx.g, dw.g, NULL);
  cmp ("dx on cuDNN", dx, tols.store);
  ts_fake_cudnn_fail_reset ();
  ts_fake_cudnn_fail_first[1] = 8;
  ts_fake_cudnn_fail_status = DNN_NOT_SUPPORTED;
  calls0 = cudnn_calls_now ();
  gpu->i->conv2d_backward (gpu, &cc.p, x.g, w.g, dy.g, dx.g, dw.g, NULL);
  g_assert_true (strcmp (ts_last_error (), "") == 0);
  g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
  cmp ("exhausted dx, in float32 over the failed tries' garbage", dx, tols.store);
  cmp ("dw, in bfloat16", dw, tols.store);
  /* the fake's three usable data algorithms, each run once in bfloat16 and
   * once in float32 (which then takes im2col) */
  g_assert_cmpint (tries_of (1, 1), ==, 6);
  assert_cudnn_calls (cc.name, calls0, (cudnn_calls) { 0, 0, 1 });
  ts_fake_cudnn_fail_reset ();
  pfree (x), pfree (w), pfree (dy), pfree (dx), pfree (dw);
}

/* Every candidate of a direction fails when run (an execution failure,
 * CUDA sound): that direction runs in float32 instead (the fallback of
 * ts-cuda-gemm.c), right, counted, with the backend sound; the next call
 * goes to float32 without running any candidate again.  Likewise the
 * filter gradient after dx ran in bfloat16 (dx was written; the fallback
 * writes only what cuDNN did not, and cuDNN's dx is not run again: once a
 * call).  Then the data gradient's candidates fail where dx already holds
 * the right answer (the step before's, as in training): each failed try
 * leaves garbage there (the fake's, as a real cuDNN may), and the float32
 * fallback writes dx again, dw staying in bfloat16. */
static void
test_conv_fallthrough_exhausted (void)
{
  static const conv_case cc = { "3x3 s1 p1, every candidate fails", 2, 4, 6, 7, 8, 3, 3,
                                { 1, 1, 1, 1, 1, 1, 1 }, 1 };
  ts_cuda_dnn_stats s0;
  cudnn_calls calls0;
  long fallbacks0;
  conv_operands o;

  if (!have_fake_failures ())
    return;
  s0 = dnn_stats (gpu);
  fallbacks0 = fallbacks ();
  o = mk_conv_bf16 (&cc);
  run_conv_cpu (&cc, &o);
  ts_fake_cudnn_fail_first[0] = ts_fake_cudnn_fail_first[2] = 8;
  ts_fake_cudnn_fail_status = DNN_EXECUTION_FAILED;
  calls0 = cudnn_calls_now ();
  for (int call = 0; call < 2; call++)
    {
      ts_clear_error ();
      gpu->i->conv2d_forward (gpu, &cc.p, o.x.g, o.w.g, o.b.g, o.y.g);
      gpu->i->conv2d_backward (gpu, &cc.p, o.x.g, o.w.g, o.dy.g, o.dx.g, o.dw.g, NULL);
      g_assert_true (strcmp (ts_last_error (), "") == 0);
      /* the fake's three usable algorithms of each, each run once in all
       * in bfloat16 and once in float32 (whose cuDNN plan fails the same
       * way here, so that float32 takes im2col) */
      g_assert_cmpint (tries_of (0, 1), ==, 6);
      g_assert_cmpint (tries_of (2, 1), ==, 6);
      /* float32 forward: the bias before the one rounding */
      cmp ("exhausted forward, in float32", o.y, tols.store);
      cmp ("dx, in bfloat16", o.dx, tols.store);
      cmp ("exhausted dw, in float32", o.dw, tols.store);
    }
  /* dx in bfloat16 once a call; forward and dw never ran there */
  assert_cudnn_calls ("every forward and filter candidate fails", calls0,
                      (cudnn_calls) { 0, 2, 0 });
  g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
  g_assert_cmpint (dnn_stats (gpu).refused - s0.refused, ==, 12);
  g_assert_cmpint (dnn_stats (gpu).exhausted - s0.exhausted, ==, 4);
  g_assert_cmpint (fallbacks () - fallbacks0, ==, 4);
  ts_fake_cudnn_fail_reset ();
  free_conv_operands (&o);
  run_data_exhausted ();
}

extern int ts_fake_cuda_sticky __attribute__ ((weak));   /* a cudaError_t: fake-cudart.c */

/* A CUDA error pending once the copies cuDNN reads are launched (the
 * weight's bfloat16 copy; here the fake runtime's sticky error, as a
 * launch that failed leaves one) is theirs: recorded under their name
 * before cuDNN is called, not blamed on the convolution that cuDNN ran
 * after them.  On a backend of its own, which keeps the failure. */
static void
test_conv_setup_fails (void)
{
  static const conv_case cc = { "setup fails", 1, 4, 5, 5, 4, 3, 3, { 1, 1, 1, 1, 1, 1, 1 }, 0 };
  cudnn_calls calls0;
  ts_tensor *x, *w, *y;
  ts_backend *be;

  if (!have_fake_cudnn () || &ts_fake_cuda_sticky == NULL)
    return;
  be = own_backend_conv (&cc, &x, &w, &y);
  calls0 = cudnn_calls_now ();
  ts_fake_cuda_sticky = 701;   /* cudaErrorLaunchOutOfResources */
  ts_clear_error ();
  be->i->conv2d_forward (be, &cc.p, x, w, NULL, y);
  ts_fake_cuda_sticky = 0;
  g_assert_cmpint (ts_backend_check (be), ==, TS_ERR_DEVICE);
  g_test_message ("%s", ts_last_error ());
  g_assert_nonnull (strstr (ts_last_error (), "conv2d (bfloat16 copies for cuDNN)"));
  assert_cudnn_calls (cc.name, calls0, (cudnn_calls) { 0, 0, 0 });
  ts_tensor_free (x), ts_tensor_free (y), ts_tensor_free (w);
  ts_backend_free (be);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  open_backends ();
  g_test_add_func ("/cuda/bf16/convert-rounding", test_convert_rounding_all);
  g_test_add_func ("/cuda/bf16/convert-layouts", test_convert_layouts_all);
  g_test_add_func ("/cuda/bf16/cpu-refuses", test_cpu_refuses);
  g_test_add_func ("/cuda/bf16/batchnorm", test_batchnorm);
  g_test_add_func ("/cuda/bf16/batchnorm-refuses", test_batchnorm_refuses);
  g_test_add_func ("/cuda/bf16/elementwise", test_elementwise);
  g_test_add_func ("/cuda/bf16/pool", test_pool_all);
  g_test_add_func ("/cuda/bf16/reductions", test_reductions);
  g_test_add_func ("/cuda/bf16/refuses", test_refuses);
  g_test_add_func ("/cuda/bf16/conv2d", test_conv);
  g_test_add_func ("/cuda/bf16/conv2d-asymmetric", test_conv_asymmetric);
  g_test_add_func ("/cuda/bf16/conv-linear-refuse", test_conv_linear_refuse);
  g_test_add_func ("/cuda/bf16/conv2d-directions", test_conv_directions);
  g_test_add_func ("/cuda/bf16/conv2d-math-types", test_conv_math_types);
  g_test_add_func ("/cuda/bf16/conv2d-cache-eviction", test_conv_cache_eviction);
  g_test_add_func ("/cuda/bf16/ready-compute-capability", test_bf16_ready_cc);
  g_test_add_func ("/cuda/bf16/conv2d-fallback", test_conv_fallback);
  g_test_add_func ("/cuda/bf16/conv2d-fallback-nomem", test_conv_fallback_nomem);
  g_test_add_func ("/cuda/bf16/model-fallback", test_model_fallback);
  g_test_add_func ("/cuda/bf16/conv2d-fallthrough", test_conv_fallthrough);
  g_test_add_func ("/cuda/bf16/conv2d-fallthrough-grows", test_conv_fallthrough_grows);
  g_test_add_func ("/cuda/bf16/conv2d-fallthrough-exhausted", test_conv_fallthrough_exhausted);
  g_test_add_func ("/cuda/bf16/conv2d-setup-fails", test_conv_setup_fails);
  g_test_add_func ("/cuda/bf16/conv2d-vector-widths", test_conv_widths);
  int rc = g_test_run ();
  if (gpu)
    print_cudnn_refusals ();
  return close_backends (rc);
}
