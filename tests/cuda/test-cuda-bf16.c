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

  if (!have_gpu ())
    return;
  for (size_t i = 0; i < G_N_ELEMENTS (mx); i++)
    {
      run_maxpool (mx[i], &p3);
      if (mx[i][2] >= 2)
        run_maxpool (mx[i], &p2);
    }
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
  const ts_tensor *src[1] = { xb.g };
  ts_tensor *dst[1] = { yb.g };
  ts_backend_copy_many (gpu, src, dst, 1);
  g_assert_nonnull (strstr (ts_last_error (), "copy"));
  ts_clear_error ();
  g_assert_true (isnan (gpu->i->bce_with_logits (gpu, xb.g, f, NULL)));
  g_assert_nonnull (strstr (ts_last_error (), "bce_with_logits"));
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
  g_test_add_func ("/cuda/bf16/convert-rounding", test_convert_rounding);
  g_test_add_func ("/cuda/bf16/convert-layouts", test_convert_layouts);
  g_test_add_func ("/cuda/bf16/cpu-refuses", test_cpu_refuses);
  g_test_add_func ("/cuda/bf16/elementwise", test_elementwise);
  g_test_add_func ("/cuda/bf16/pool", test_pool);
  g_test_add_func ("/cuda/bf16/reductions", test_reductions);
  g_test_add_func ("/cuda/bf16/refuses", test_refuses);
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
