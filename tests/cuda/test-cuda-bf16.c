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

/* ---- convolutions: bfloat16 NHWC x / y / dx / dy, float32 weights and
 * bias, through cuDNN only (refused without it) ---- */

/* the fake cuDNN's check of the types it refuses (tests/cuda/emu/
 * fake-cudnn.c); NULL with the real cuDNN */
extern const char *ts_fake_cudnn_check_types (void) __attribute__ ((weak));

typedef struct {
  const char *name;
  int n, c, h, w, cout, kh, kw;
  ts_conv2d_params p;
  int bias;
} conv_case;

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
  const char *why = want_cudnn () ? "cannot take this one" : "is off";

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

static void
run_conv (const conv_case *cc)
{
  const ts_conv2d_params *p = &cc->p;
  int groups = p->groups > 0 ? p->groups : 1;
  int oh = (cc->h + p->pad_top + p->pad_bottom - cc->kh) / p->stride_h + 1;
  int ow = (cc->w + p->pad_left + p->pad_right - cc->kw) / p->stride_w + 1;
  int64_t sx[4] = { cc->n, cc->c, cc->h, cc->w };
  int64_t sw[4] = { cc->cout, cc->c / groups, cc->kh, cc->kw };
  int64_t sy[4] = { cc->n, cc->cout, oh, ow }, sb[1] = { cc->cout };
  int dnn = want_cudnn () && p->pad_top == p->pad_bottom && p->pad_left == p->pad_right;
  const char *tf32 = g_getenv ("TS_CUDA_TF32");
  char what[128];
  pair x = mk_rand_bf16 (sx, -1, 1), w = mk_rand_bf16_values (4, sw, -0.5f, 0.5f);
  pair b = mk_rand (1, sb, -1, 1), y = mk_bf16 (sy, NULL), dy = mk_rand_bf16 (sy, -1, 1);
  pair dx = mk_bf16 (sx, NULL), dw = mk (4, sw, NULL), db = mk (1, sb, NULL);
  ts_tensor *xf = ts_tensor_new (gpu, 4, sx), *yf = ts_tensor_new (gpu, 4, sy);
  ts_tensor *dx2 = ts_tensor_new_as (gpu, 4, sx, TS_BF16, TS_NHWC);
  long fwd0 = 0, data0 = 0, filter0 = 0, mallocs0;

  g_assert_nonnull (xf);
  g_assert_nonnull (yf);
  g_assert_nonnull (dx2);
  if (&ts_fake_cudnn_forwards != NULL)
    {
      fwd0 = ts_fake_cudnn_forwards;
      data0 = ts_fake_cudnn_backward_data;
      filter0 = ts_fake_cudnn_backward_filter;
    }
  /* The float32 conv of the same geometry first, on the same values: with
   * cuDNN it plans this geometry for float32, and the bfloat16 conv must
   * not take those descriptors (the cache keys on the dtype). */
  cpu->i->conv2d_forward (cpu, p, x.c, w.c, cc->bias ? b.c : NULL, y.c);
  gpu->i->convert (gpu, x.g, xf);
  gpu->i->conv2d_forward (gpu, p, xf, w.g, cc->bias ? b.g : NULL, yf);
  snprintf (what, sizeof what, "conv2d %s forward (float32)", cc->name);
  cmp (what, (pair) { y.c, yf }, tf32 && atoi (tf32) ? tols.store : 1e-4);
  cpu->i->conv2d_backward (cpu, p, x.c, w.c, dy.c, dx.c, dw.c, db.c);
  if (!dnn)
    check_refused (cc, x, w, b, y, dy, dx, dw, db);
  else
    /* twice, the second as a later training step: it allocates nothing
     * (the scratch is at its high-water mark) and gives the same results */
    for (int step = 0; step < 2; step++)
      {
        mallocs0 = ts_cuda_test_emulated () ? ts_fake_cuda_mallocs : 0;
        ts_clear_error ();
        gpu->i->conv2d_forward (gpu, p, x.g, w.g, cc->bias ? b.g : NULL, y.g);
        gpu->i->conv2d_backward (gpu, p, x.g, w.g, dy.g, dx.g, dw.g, db.g);
        g_assert_true (strcmp (ts_last_error (), "") == 0);
        g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
        if (step == 1 && ts_cuda_test_emulated ())
          g_assert_cmpint (ts_fake_cuda_mallocs, ==, mallocs0);
        /* y: cuDNN's bfloat16 output, then the bias added and rounded again */
        snprintf (what, sizeof what, "conv2d %s forward", cc->name);
        cmp (what, y, cc->bias ? tols.chain : tols.store);
        snprintf (what, sizeof what, "conv2d %s dx", cc->name);
        cmp (what, dx, tols.store);
        /* dw: float sums rounded once to bfloat16 by cuDNN, read back as float32 */
        snprintf (what, sizeof what, "conv2d %s dw", cc->name);
        cmp (what, dw, tols.store);
        /* db: the same bfloat16 dy on both sides, summed in double */
        snprintf (what, sizeof what, "conv2d %s db", cc->name);
        cmp (what, db, tols.store);
      }
  if (dnn)
    {
      /* NULL gradients are skipped, the others still overwrite */
      gpu->i->fill (gpu, dw.g, 7.0f);
      gpu->i->conv2d_backward (gpu, p, x.g, w.g, dy.g, NULL, dw.g, NULL);
      snprintf (what, sizeof what, "conv2d %s dw only", cc->name);
      cmp (what, dw, tols.store);
      gpu->i->conv2d_backward (gpu, p, x.g, w.g, dy.g, dx2, NULL, NULL);
      snprintf (what, sizeof what, "conv2d %s dx only", cc->name);
      cmp (what, (pair) { dx.c, dx2 }, tols.store);
    }
  /* in the host emulation: through the fake cuDNN exactly when asked and
   * possible (the float32 forward once, then per step forward, data and
   * filter once each; then filter alone and data alone), else never */
  if (&ts_fake_cudnn_forwards != NULL)
    {
      long fwd = ts_fake_cudnn_forwards - fwd0, data = ts_fake_cudnn_backward_data - data0;
      long filter = ts_fake_cudnn_backward_filter - filter0;
      if (fwd != 3 * dnn || data != 3 * dnn || filter != 3 * dnn)
        g_test_message ("conv2d %s: cuDNN ran forward %ld, data %ld, filter %ld times (%s)",
                        cc->name, fwd, data, filter, dnn ? "3 each expected" : "none expected");
      g_assert_cmpint (fwd, ==, 3 * dnn);
      g_assert_cmpint (data, ==, 3 * dnn);
      g_assert_cmpint (filter, ==, 3 * dnn);
    }
  ts_tensor_free (xf);
  ts_tensor_free (dx2);
  ts_tensor_free (yf);
  pfree (x), pfree (w), pfree (b), pfree (y), pfree (dy), pfree (dx), pfree (dw), pfree (db);
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
    /* TFLite's SAME padding: cuDNN pads symmetrically, so refused even with it */
    { "3x3 s2 SAME (asymmetric)", 2, 4, 8, 8, 6, 3, 3, { 2, 2, 0, 0, 1, 1, 1 }, 1 },
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
  g_test_add_func ("/cuda/bf16/conv2d", test_conv);
  g_test_add_func ("/cuda/bf16/conv-linear-refuse", test_conv_linear_refuse);
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
