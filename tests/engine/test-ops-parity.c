/* test-ops-parity.c: every CPU op, forward and backward, against PyTorch fixtures
 * (tests/fixtures/ops, written by tests/reference/make_op_fixtures.py), on 1 and 2 threads. */
#include <glib.h>

#include "ts-backend.h"
#include "ts-fixture.h"

typedef struct {
  const char *name;
  int threads;
  int small_tiles;   /* a tiny im2col budget: conv runs in column tiles */
} parity_case;

static int n_threads_for_run = 1;
static int small_tiles_for_run = 0;

/* unpacks the case and selects its thread count */
static const char *
case_name (gconstpointer data)
{
  const parity_case *c = data;
  n_threads_for_run = c->threads;
  small_tiles_for_run = c->small_tiles;
  return c->name;
}

static ts_tensor *
fx_tensor (ts_backend *be, const ts_fx *fx, const char *name)
{
  const ts_fx_array *a = ts_fx_get (fx, name);
  ts_tensor *t = ts_tensor_new (be, a->ndim, a->shape);
  g_assert_nonnull (t);
  g_assert_cmpint (ts_tensor_from_host (t, a->data, a->numel), ==, TS_OK);
  return t;
}

static ts_tensor *
like (ts_backend *be, const ts_fx *fx, const char *name)
{
  const ts_fx_array *a = ts_fx_get (fx, name);
  ts_tensor *t = ts_tensor_new (be, a->ndim, a->shape);
  g_assert_nonnull (t);
  /* garbage so that an op which forgets to overwrite its output is caught */
  be->i->fill (be, t, 123.25f);
  return t;
}

static void
expect (const char *fixture, const ts_fx *fx, const char *name, const ts_tensor *t,
        double atol, double rtol)
{
  const ts_fx_array *a = ts_fx_get (fx, name);
  char *what = g_strdup_printf ("%s %s (%d threads%s)", fixture, name, n_threads_for_run,
                                small_tiles_for_run ? ", tiled" : "");
  g_assert_cmpint (t->numel, ==, a->numel);
  ts_assert_close (what, t->data, a->data, a->numel, atol, rtol);
  g_free (what);
}

static ts_backend *
backend (void)
{
  ts_backend *be;

  if (small_tiles_for_run)
    g_setenv ("TS_CPU_COL_BUDGET", "40", TRUE);
  else
    g_unsetenv ("TS_CPU_COL_BUDGET");
  be = ts_backend_cpu_new (n_threads_for_run);
  g_assert_nonnull (be);
  return be;
}

static void
test_conv (gconstpointer data)
{
  const char *name = case_name (data);
  char *file = g_strdup_printf ("ops/%s.bin", name);
  ts_fx *fx = ts_fx_load (file);
  ts_backend *be = backend ();
  const float *stride = ts_fx_get (fx, "stride")->data;
  const float *pad = ts_fx_get (fx, "pad")->data;
  ts_conv2d_params p = {
    .stride_h = (int) stride[0], .stride_w = (int) stride[1],
    .pad_top = (int) pad[0], .pad_left = (int) pad[1],
    .pad_bottom = (int) pad[2], .pad_right = (int) pad[3],
    .groups = (int) ts_fx_get (fx, "groups")->data[0],
  };
  int has_bias = ts_fx_find (fx, "b") != NULL;
  ts_tensor *x = fx_tensor (be, fx, "x"), *w = fx_tensor (be, fx, "w");
  ts_tensor *b = has_bias ? fx_tensor (be, fx, "b") : NULL;
  ts_tensor *dy = fx_tensor (be, fx, "dy");
  ts_tensor *y = like (be, fx, "y"), *dx = like (be, fx, "dx"), *dw = like (be, fx, "dw");
  ts_tensor *db = has_bias ? like (be, fx, "db") : NULL;

  for (int rep = 0; rep < 2; rep++)  /* the second pass reuses scratch */
    {
      be->i->conv2d_forward (be, &p, x, w, b, y);
      expect (name, fx, "y", y, 1e-5, 1e-4);
      be->i->conv2d_backward (be, &p, x, w, dy, dx, dw, db);
      expect (name, fx, "dx", dx, 1e-5, 1e-4);
      expect (name, fx, "dw", dw, 1e-5, 1e-4);
      if (has_bias)
        expect (name, fx, "db", db, 1e-5, 1e-4);
    }
  /* gradients not asked for are skipped, the others still right */
  be->i->fill (be, dx, 7.0f);
  be->i->conv2d_backward (be, &p, x, w, dy, dx, NULL, NULL);
  expect (name, fx, "dx", dx, 1e-5, 1e-4);
  be->i->conv2d_backward (be, &p, x, w, dy, NULL, dw, NULL);
  expect (name, fx, "dw", dw, 1e-5, 1e-4);

  ts_tensor_free (x); ts_tensor_free (w); ts_tensor_free (b); ts_tensor_free (dy);
  ts_tensor_free (y); ts_tensor_free (dx); ts_tensor_free (dw); ts_tensor_free (db);
  ts_backend_free (be);
  ts_fx_free (fx);
  g_free (file);
}

static void
test_bn (gconstpointer data)
{
  const char *name = case_name (data);
  char *file = g_strdup_printf ("ops/%s.bin", name);
  ts_fx *fx = ts_fx_load (file);
  ts_backend *be = backend ();
  int train = strstr (name, "train") != NULL;
  ts_tensor *x = fx_tensor (be, fx, "x"), *g = fx_tensor (be, fx, "gamma");
  ts_tensor *bt = fx_tensor (be, fx, "beta");
  ts_tensor *rm = fx_tensor (be, fx, "running_mean_in"), *rv = fx_tensor (be, fx, "running_var_in");
  ts_tensor *y = like (be, fx, "y"), *dy = fx_tensor (be, fx, "dy");

  if (train)
    {
      ts_tensor *sm = ts_tensor_new_1d (be, g->numel), *si = ts_tensor_new_1d (be, g->numel);
      ts_tensor *dx = like (be, fx, "dx"), *dg = like (be, fx, "dgamma");
      ts_tensor *db = like (be, fx, "dbeta");
      be->i->batchnorm_forward_train (be, x, g, bt, rm, rv, 0.1f, 1e-5f, y, sm, si);
      expect (name, fx, "y", y, 1e-5, 1e-4);
      expect (name, fx, "running_mean", rm, 1e-6, 1e-5);
      expect (name, fx, "running_var", rv, 1e-6, 1e-5);
      be->i->batchnorm_backward (be, x, g, sm, si, dy, dx, dg, db);
      expect (name, fx, "dx", dx, 1e-5, 1e-4);
      expect (name, fx, "dgamma", dg, 1e-5, 1e-4);
      expect (name, fx, "dbeta", db, 1e-5, 1e-4);
      /* frozen BN affine: dx alone */
      be->i->fill (be, dx, 3.0f);
      be->i->batchnorm_backward (be, x, g, sm, si, dy, dx, NULL, NULL);
      expect (name, fx, "dx", dx, 1e-5, 1e-4);
      ts_tensor_free (sm); ts_tensor_free (si); ts_tensor_free (dx);
      ts_tensor_free (dg); ts_tensor_free (db);
    }
  else
    {
      be->i->batchnorm_forward_eval (be, x, g, bt, rm, rv, 1e-5f, y);
      expect (name, fx, "y", y, 1e-5, 1e-4);
    }
  ts_tensor_free (x); ts_tensor_free (g); ts_tensor_free (bt); ts_tensor_free (rm);
  ts_tensor_free (rv); ts_tensor_free (y); ts_tensor_free (dy);
  ts_backend_free (be);
  ts_fx_free (fx);
  g_free (file);
}

static void
test_activation (gconstpointer data)
{
  const char *name = case_name (data);
  char *file = g_strdup_printf ("ops/%s.bin", name);
  ts_fx *fx = ts_fx_load (file);
  ts_backend *be = backend ();
  ts_activation act = g_str_equal (name, "relu") ? TS_ACT_RELU
                    : g_str_equal (name, "relu6") ? TS_ACT_RELU6 : TS_ACT_SIGMOID;
  ts_tensor *x = fx_tensor (be, fx, "x"), *dy = fx_tensor (be, fx, "dy");
  ts_tensor *y = like (be, fx, "y"), *dx = like (be, fx, "dx");

  be->i->activation_forward (be, act, x, y);
  expect (name, fx, "y", y, 1e-6, 1e-5);
  be->i->activation_backward (be, act, y, dy, dx);
  expect (name, fx, "dx", dx, 1e-6, 1e-5);
  /* in place, as the models use it */
  be->i->activation_forward (be, act, x, x);
  expect (name, fx, "y", x, 1e-6, 1e-5);
  be->i->activation_backward (be, act, x, dy, dy);
  expect (name, fx, "dx", dy, 1e-6, 1e-5);

  ts_tensor_free (x); ts_tensor_free (dy); ts_tensor_free (y); ts_tensor_free (dx);
  ts_backend_free (be);
  ts_fx_free (fx);
  g_free (file);
}

static void
test_pool (gconstpointer data)
{
  const char *name = case_name (data);
  char *file = g_strdup_printf ("ops/%s.bin", name);
  ts_fx *fx = ts_fx_load (file);
  ts_backend *be = backend ();
  ts_tensor *x = fx_tensor (be, fx, "x"), *dy = fx_tensor (be, fx, "dy");
  ts_tensor *y = like (be, fx, "y"), *dx = like (be, fx, "dx");
  int32_t *argmax = g_new0 (int32_t, y->numel);

  if (g_str_has_prefix (name, "maxpool"))
    {
      ts_pool2d_params p = { 3, 3, 2, 2, 1, 1 };
      be->i->maxpool2d_forward (be, &p, x, y, argmax);
      expect (name, fx, "y", y, 0, 0);
      be->i->maxpool2d_backward (be, &p, argmax, dy, dx);
    }
  else if (g_str_has_prefix (name, "adaptive_avg"))
    {
      be->i->adaptive_avgpool2d_forward (be, x, y);
      expect (name, fx, "y", y, 1e-6, 1e-5);
      be->i->adaptive_avgpool2d_backward (be, dy, dx);
    }
  else
    {
      be->i->adaptive_maxpool2d_forward (be, x, y, argmax);
      expect (name, fx, "y", y, 0, 0);
      be->i->adaptive_maxpool2d_backward (be, argmax, dy, dx);
    }
  expect (name, fx, "dx", dx, 1e-6, 1e-5);

  g_free (argmax);
  ts_tensor_free (x); ts_tensor_free (dy); ts_tensor_free (y); ts_tensor_free (dx);
  ts_backend_free (be);
  ts_fx_free (fx);
  g_free (file);
}

static void
test_linear (gconstpointer data)
{
  const char *name = case_name (data);
  char *file = g_strdup_printf ("ops/%s.bin", name);
  ts_fx *fx = ts_fx_load (file);
  ts_backend *be = backend ();
  int has_bias = ts_fx_find (fx, "b") != NULL;
  ts_tensor *x = fx_tensor (be, fx, "x"), *w = fx_tensor (be, fx, "w");
  ts_tensor *b = has_bias ? fx_tensor (be, fx, "b") : NULL, *dy = fx_tensor (be, fx, "dy");
  ts_tensor *y = like (be, fx, "y"), *dx = like (be, fx, "dx"), *dw = like (be, fx, "dw");
  ts_tensor *db = has_bias ? like (be, fx, "db") : NULL;

  be->i->linear_forward (be, x, w, b, y);
  expect (name, fx, "y", y, 1e-5, 1e-4);
  be->i->linear_backward (be, x, w, dy, dx, dw, db);
  expect (name, fx, "dx", dx, 1e-5, 1e-4);
  expect (name, fx, "dw", dw, 1e-5, 1e-4);
  if (has_bias)
    expect (name, fx, "db", db, 1e-5, 1e-4);

  ts_tensor_free (x); ts_tensor_free (w); ts_tensor_free (b); ts_tensor_free (dy);
  ts_tensor_free (y); ts_tensor_free (dx); ts_tensor_free (dw); ts_tensor_free (db);
  ts_backend_free (be);
  ts_fx_free (fx);
  g_free (file);
}

static void
test_bce (void)
{
  ts_fx *fx = ts_fx_load ("ops/bce.bin");
  ts_backend *be = backend ();
  ts_tensor *x = fx_tensor (be, fx, "x"), *t = fx_tensor (be, fx, "t");
  ts_tensor *dx = like (be, fx, "dx");
  float loss = be->i->bce_with_logits (be, x, t, dx);
  float want = ts_fx_get (fx, "loss")->data[0];

  g_assert_true (isfinite (loss));
  ts_assert_close ("bce loss", &loss, &want, 1, 1e-6, 1e-5);
  expect ("bce", fx, "dx", dx, 1e-7, 1e-4);
  g_assert_cmpfloat (be->i->bce_with_logits (be, x, t, NULL), ==, loss);
  ts_tensor_free (x); ts_tensor_free (t); ts_tensor_free (dx);
  ts_backend_free (be);
  ts_fx_free (fx);
}

static void
test_concat (void)
{
  ts_fx *fx = ts_fx_load ("ops/concat.bin");
  ts_backend *be = backend ();
  ts_tensor *a = fx_tensor (be, fx, "a"), *b = fx_tensor (be, fx, "b");
  ts_tensor *y = like (be, fx, "y"), *da = like (be, fx, "a"), *db = like (be, fx, "b");

  be->i->concat_channels (be, a, b, y);
  expect ("concat", fx, "y", y, 0, 0);
  be->i->split_channels (be, y, da, db);
  expect ("split", fx, "a", da, 0, 0);
  expect ("split", fx, "b", db, 0, 0);
  ts_tensor_free (a); ts_tensor_free (b); ts_tensor_free (y);
  ts_tensor_free (da); ts_tensor_free (db);
  ts_backend_free (be);
  ts_fx_free (fx);
}

static const char *conv_cases[] = {
  "conv_basic", "conv_stride2", "conv_same_asym", "conv_group2", "conv_depthwise",
  "conv_depthwise_s2_asym", "conv_depthwise_mult2", "conv_depthwise_5x5_s2",
  "conv_depthwise_3x1", "conv_1x1", "conv_1x1_s2",
  "conv_stem7x7", "conv_rect",
};
static const char *bn_cases[] = { "bn2d_train", "bn1d_train", "bn2d_eval", "bn1d_eval" };
static const char *act_cases[] = { "relu", "relu6", "sigmoid" };
static const char *pool_cases[] = {
  "maxpool3s2p1", "adaptive_avg_1", "adaptive_avg_3x2", "adaptive_max_1", "adaptive_max_3x2",
};
static const char *linear_cases[] = { "linear_bias", "linear_nobias" };

int
main (int argc, char **argv)
{
  const char *threads = g_getenv ("TS_TEST_THREADS");

  g_test_init (&argc, &argv, NULL);
  /* small shapes would otherwise run on one thread: split them anyway */
  g_setenv ("TS_CPU_MIN_PARALLEL_WORK", "0", TRUE);
  /* each test runs on 1 thread and on 3 (uneven splits); TS_TEST_THREADS picks one */
  for (int nt = 1; nt <= 3; nt += 2)
    {
      if (threads && atoi (threads) != nt)
        continue;
#define ADD(path, fn, arr)                                                      \
      for (guint i = 0; i < G_N_ELEMENTS (arr); i++)                          \
        {                                                                     \
          char *p = g_strdup_printf ("/engine/parity/t%d/%s/%s", nt, path, arr[i]); \
          parity_case *c = g_new (parity_case, 1);                            \
          c->name = arr[i];                                                   \
          c->threads = nt;                                                    \
          c->small_tiles = 0;                                                 \
          g_test_add_data_func_full (p, c, fn, g_free);                       \
          g_free (p);                                                         \
        }
      ADD ("conv2d", test_conv, conv_cases);
      ADD ("batchnorm", test_bn, bn_cases);
      ADD ("activation", test_activation, act_cases);
      ADD ("pool", test_pool, pool_cases);
      ADD ("linear", test_linear, linear_cases);
#undef ADD
    }
  /* conv again with a tiny im2col budget, so that large-plane tiling and
   * multi-image GEMMs both run on these small shapes */
  for (guint i = 0; i < G_N_ELEMENTS (conv_cases); i++)
    for (int nt = 1; nt <= 2; nt++)
      {
        char *p = g_strdup_printf ("/engine/parity/tiled/t%d/conv2d/%s", nt, conv_cases[i]);
        parity_case *c = g_new (parity_case, 1);
        c->name = conv_cases[i];
        c->threads = nt;
        c->small_tiles = 1;
        g_test_add_data_func_full (p, c, test_conv, g_free);
        g_free (p);
      }
  g_test_add_func ("/engine/parity/bce", test_bce);
  g_test_add_func ("/engine/parity/concat", test_concat);
  return g_test_run ();
}
