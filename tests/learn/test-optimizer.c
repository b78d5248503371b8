/* fastai's Adam: true weight decay skipped for biases and BN, groups, frozen
 * parameters, state kept / cleared, snapshots. */
#include <math.h>

#include "ts-backend.h"
#include "ts-optimizer.h"
#include "ts-test.h"

typedef struct {
  ts_backend *be;
  ts_param p[4];
  ts_param *pp[4];
} fixture;

static void
fixture_init (fixture *f)
{
  static const char *names[4] = { "0.conv.weight", "0.conv.bias", "0.bn.weight", "1.fc.weight" };
  static const ts_param_kind kinds[4] = { TS_PARAM_WEIGHT, TS_PARAM_BIAS, TS_PARAM_BN,
                                          TS_PARAM_WEIGHT };
  f->be = ts_backend_cpu_new (1);
  g_assert_nonnull (f->be);
  for (int i = 0; i < 4; i++)
    {
      float ones[2] = { 1.0f, 1.0f };
      f->p[i].name = names[i];
      f->p[i].value = ts_tensor_new_1d (f->be, 2);
      f->p[i].grad = ts_tensor_new_1d (f->be, 2);
      f->p[i].kind = kinds[i];
      f->p[i].group = i == 3 ? 1 : 0;
      f->p[i].trainable = 1;
      g_assert_cmpint (ts_tensor_from_host (f->p[i].value, ones, 2), ==, TS_OK);
      f->pp[i] = &f->p[i];
    }
}

static void
fixture_clear (fixture *f)
{
  for (int i = 0; i < 4; i++)
    {
      ts_tensor_free (f->p[i].value);
      ts_tensor_free (f->p[i].grad);
    }
  ts_backend_free (f->be);
}

static float
value0 (const ts_param *p)
{
  float v[2];
  g_assert_cmpint (ts_tensor_to_host (p->value, v, 2), ==, TS_OK);
  return v[0];
}

static void
set_grads (fixture *f, float g)
{
  float gg[2] = { g, g };
  for (int i = 0; i < 4; i++)
    g_assert_cmpint (ts_tensor_from_host (f->p[i].grad, gg, 2), ==, TS_OK);
}

static void
test_weight_decay (void)
{
  fixture f;
  ts_optimizer *opt;
  double lrs[2] = { 0.1, 0.1 };

  fixture_init (&f);
  g_assert_cmpint (ts_optimizer_new (f.be, f.pp, 4, 2, NULL, &opt), ==, TS_OK);
  g_assert_cmpfloat (ts_optimizer_param_wd (opt, &f.p[0]), ==, 0.01);
  g_assert_cmpfloat (ts_optimizer_param_wd (opt, &f.p[1]), ==, 0.0);
  g_assert_cmpfloat (ts_optimizer_param_wd (opt, &f.p[2]), ==, 0.0);
  ts_optimizer_set_lrs (opt, lrs);

  /* zero gradient: Adam moves nothing, only decoupled weight decay acts */
  set_grads (&f, 0.0f);
  ts_optimizer_step (opt);
  g_assert_cmpfloat_with_epsilon (value0 (&f.p[0]), 1.0 - 0.1 * 0.01, 1e-7);
  g_assert_cmpfloat (value0 (&f.p[1]), ==, 1.0f);
  g_assert_cmpfloat (value0 (&f.p[2]), ==, 1.0f);
  g_assert_cmpfloat_with_epsilon (value0 (&f.p[3]), 1.0 - 0.1 * 0.01, 1e-7);
  ts_optimizer_free (opt);
  fixture_clear (&f);
}

static void
test_adam_groups_frozen (void)
{
  fixture f;
  ts_optimizer *opt;
  const double step_w = 0.5 / (0.5 + 1e-5);

  fixture_init (&f);
  g_assert_cmpint (ts_optimizer_new (f.be, f.pp, 4, 2, NULL, &opt), ==, TS_OK);
  ts_optimizer_set_lr_slice (opt, ts_lr_slice_hi (0.1));   /* group 0: 0.01, group 1: 0.1 */
  g_assert_cmpfloat_with_epsilon (ts_optimizer_lr (opt, 0), 0.01, 1e-12);
  g_assert_cmpfloat_with_epsilon (ts_optimizer_lr (opt, 1), 0.1, 1e-12);
  f.p[0].trainable = 0;   /* frozen conv weight */
  set_grads (&f, 0.5f);

  /* step 1: debiased m = g, v = g^2, so p -= lr * g / (|g| + eps) */
  ts_optimizer_step (opt);
  g_assert_cmpfloat (value0 (&f.p[0]), ==, 1.0f);
  g_assert_cmpint (ts_optimizer_param_step (opt, 0), ==, 0);
  g_assert_cmpfloat_with_epsilon (value0 (&f.p[1]), 1.0 - 0.01 * step_w, 1e-6);
  g_assert_cmpfloat_with_epsilon (value0 (&f.p[2]), 1.0 - 0.01 * step_w, 1e-6);
  g_assert_cmpfloat_with_epsilon (value0 (&f.p[3]), (1.0 - 0.1 * 0.01) - 0.1 * step_w, 1e-6);
  g_assert_cmpint (ts_optimizer_param_step (opt, 3), ==, 1);

  /* step 2 with the same gradient: the debiased update is the same again */
  ts_optimizer_step (opt);
  g_assert_cmpfloat_with_epsilon (value0 (&f.p[1]), 1.0 - 2 * 0.01 * step_w, 1e-6);
  g_assert_cmpint (ts_optimizer_param_step (opt, 1), ==, 2);

  /* unfreeze: the formerly frozen weight starts its own step count */
  f.p[0].trainable = 1;
  ts_optimizer_step (opt);
  g_assert_cmpint (ts_optimizer_param_step (opt, 0), ==, 1);
  g_assert_cmpint (ts_optimizer_param_step (opt, 1), ==, 3);
  g_assert_cmpfloat_with_epsilon (value0 (&f.p[0]), (1.0 - 0.01 * 0.01) - 0.01 * step_w, 1e-6);

  ts_optimizer_clear_state (opt);
  g_assert_cmpint (ts_optimizer_param_step (opt, 1), ==, 0);
  ts_optimizer_free (opt);
  fixture_clear (&f);
}

static void
test_momentum_and_snapshot (void)
{
  fixture f;
  ts_optimizer *opt;
  ts_optimizer_snapshot *snap;
  double lrs[2] = { 0.1, 0.1 };
  float after_two, g1 = 1.0f, g2 = -0.5f;

  fixture_init (&f);
  g_assert_cmpint (ts_optimizer_new (f.be, f.pp, 4, 2, NULL, &opt), ==, TS_OK);
  ts_optimizer_set_lrs (opt, lrs);
  ts_optimizer_set_mom (opt, 0.8);
  set_grads (&f, g1);
  ts_optimizer_step (opt);
  g_assert_cmpint (ts_optimizer_snapshot_new (opt, &snap), ==, TS_OK);
  set_grads (&f, g2);
  ts_optimizer_step (opt);
  after_two = value0 (&f.p[1]);
  {
    /* bias (no wd), beta1 0.8, beta2 0.99, by hand */
    double m = 0.8 * 0.2 * g1 + 0.2 * g2;
    double v = 0.99 * 0.01 * g1 * g1 + 0.01 * g2 * g2;
    double p1 = 1.0 - 0.1 * 1.0 / (1.0 + 1e-5);
    double p2 = p1 - 0.1 * (m / (1 - 0.64)) / (sqrt (v / (1 - 0.9801)) + 1e-5);
    g_assert_cmpfloat_with_epsilon (after_two, p2, 1e-6);
  }
  /* back to the state after step one, then the same step gives the same change */
  {
    float p_before = value0 (&f.p[1]);
    g_assert_cmpint (ts_optimizer_snapshot_restore (opt, snap), ==, TS_OK);
    g_assert_cmpint (ts_optimizer_param_step (opt, 1), ==, 1);
    ts_optimizer_step (opt);
    g_assert_cmpfloat_with_epsilon (value0 (&f.p[1]) - p_before,
                                    after_two - (1.0 - 0.1 / (1.0 + 1e-5)), 1e-6);
  }
  ts_optimizer_snapshot_free (snap);
  ts_optimizer_free (opt);
  fixture_clear (&f);
}

static void
test_bad_groups (void)
{
  fixture f;
  ts_optimizer *opt;

  fixture_init (&f);
  f.p[3].group = 5;
  g_assert_cmpint (ts_optimizer_new (f.be, f.pp, 4, 2, NULL, &opt), ==, TS_ERR_INVALID);
  g_assert_null (opt);
  g_assert_nonnull (strstr (ts_last_error (), "1.fc.weight"));
  fixture_clear (&f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/learn/optimizer/weight-decay", test_weight_decay);
  g_test_add_func ("/learn/optimizer/groups-frozen", test_adam_groups_frozen);
  g_test_add_func ("/learn/optimizer/momentum-snapshot", test_momentum_and_snapshot);
  g_test_add_func ("/learn/optimizer/bad-groups", test_bad_groups);
  return g_test_run ();
}
