/* Metrics and threshold sweeps on hand-computed cases (derivations in the
 * comments follow scikit-learn's and fastai's definitions). */
#include <math.h>

#include "ts-metrics.h"
#include "ts-test.h"
#include "ts-thresholds.h"

/* 4 items x 2 classes */
static const float probs[8] = {
  0.9f, 0.2f,
  0.8f, 0.6f,
  0.3f, 0.6f,
  0.1f, 0.4f,
};
static const float targs[8] = {
  1, 0,
  0, 1,
  1, 0,
  0, 1,
};

#define EPS 1e-9

static void
test_accuracy (void)
{
  const float logits[4] = { 2.0f, -2.0f, 0.0f, 0.1f };
  const float t[4] = { 1, 0, 0, 1 };

  g_assert_cmpfloat_with_epsilon (ts_accuracy_multi (probs, targs, 4, 2, 0.5, 0), 0.5, EPS);
  g_assert_cmpfloat_with_epsilon (ts_accuracy_multi (probs, targs, 4, 2, 0.35, 0), 0.625, EPS);
  g_assert_cmpfloat_with_epsilon (ts_hamming_loss (probs, targs, 4, 2, 0.35), 0.375, EPS);
  /* sigmoid(0) = 0.5 is not > 0.5: strict comparison like fastai */
  g_assert_cmpfloat_with_epsilon (ts_accuracy_multi (logits, t, 2, 2, 0.5, 1), 1.0, EPS);
  g_assert_cmpfloat_with_epsilon (ts_accuracy_multi (logits, t, 2, 2, 0.6, 1), 0.75, EPS);
  g_assert_cmpfloat_with_epsilon (ts_all_negative_baseline (targs, 4, 2), 0.5, EPS);
  g_assert_cmpfloat_with_epsilon (ts_all_negative_baseline (t, 2, 2), 0.5, EPS);
}

static void
test_prf (void)
{
  ts_prf pc[2], mi, ma;

  /* thresh 0.35: class 0 preds 1,1,0,0 (tp 1 fp 1 fn 1); class 1 preds 0,1,1,1 (tp 2 fp 1 fn 0) */
  ts_prf_at (probs, targs, 4, 2, 0.35, pc, &mi, &ma);
  g_assert_cmpint (pc[0].tp, ==, 1);
  g_assert_cmpint (pc[0].fp, ==, 1);
  g_assert_cmpint (pc[0].fn, ==, 1);
  g_assert_cmpfloat_with_epsilon (pc[0].f1, 0.5, EPS);
  g_assert_cmpfloat_with_epsilon (pc[1].precision, 2.0 / 3, EPS);
  g_assert_cmpfloat_with_epsilon (pc[1].recall, 1.0, EPS);
  g_assert_cmpfloat_with_epsilon (pc[1].f1, 0.8, EPS);
  /* micro: tp 3 fp 2 fn 1 -> P 0.6, R 0.75, F1 2/3 */
  g_assert_cmpfloat_with_epsilon (mi.precision, 0.6, EPS);
  g_assert_cmpfloat_with_epsilon (mi.recall, 0.75, EPS);
  g_assert_cmpfloat_with_epsilon (mi.f1, 2.0 / 3, EPS);
  /* macro: means of the per-class values */
  g_assert_cmpfloat_with_epsilon (ma.precision, (0.5 + 2.0 / 3) / 2, EPS);
  g_assert_cmpfloat_with_epsilon (ma.recall, 0.75, EPS);
  g_assert_cmpfloat_with_epsilon (ma.f1, 0.65, EPS);

  /* nothing predicted at 0.95: zero_division gives 0, never NaN */
  ts_prf_at (probs, targs, 4, 2, 0.95, pc, &mi, &ma);
  g_assert_cmpfloat (pc[0].precision, ==, 0.0);
  g_assert_cmpfloat (mi.f1, ==, 0.0);
}

static void
test_average_precision (void)
{
  const float one_class_t[3] = { 0, 0, 0 };
  const float s3[3] = { 0.2f, 0.5f, 0.9f };
  ts_metrics_report r;

  /* class 0 ranked: 0.9(+) P1 R.5; 0.8(-); 0.3(+) P2/3 R1 -> .5*1 + .5*2/3 */
  g_assert_cmpfloat_with_epsilon (ts_average_precision (probs, targs, 4, 2), 5.0 / 6, EPS);
  /* class 1: the tie at 0.6 is one point: P 1/2 R 1/2; then 0.4(+) P 2/3 R 1 */
  g_assert_cmpfloat_with_epsilon (ts_average_precision (probs + 1, targs + 1, 4, 2),
                                  0.25 + 1.0 / 3, EPS);
  /* VOC07 11-point: class 0: t <= 0.5 -> 1 (6 points), t > 0.5 -> 2/3 (5 points) */
  g_assert_cmpfloat_with_epsilon (ts_average_precision_voc07 (probs, targs, 4, 2),
                                  (6.0 + 5.0 * 2 / 3) / 11, EPS);
  g_assert_cmpfloat_with_epsilon (ts_average_precision_voc07 (probs + 1, targs + 1, 4, 2),
                                  2.0 / 3, EPS);
  /* perfect ranking */
  {
    const float t3[3] = { 0, 1, 1 };
    g_assert_cmpfloat_with_epsilon (ts_average_precision (s3, t3, 3, 1), 1.0, EPS);
  }
  g_assert_true (isnan (ts_average_precision (s3, one_class_t, 3, 1)));

  g_assert_cmpint (ts_metrics_compute (probs, targs, 4, 2, 0.35, &r), ==, TS_OK);
  g_assert_cmpfloat_with_epsilon (r.map, (5.0 / 6 + 0.25 + 1.0 / 3) / 2, EPS);
  g_assert_cmpfloat_with_epsilon (r.accuracy_multi, 0.625, EPS);
  g_assert_cmpfloat_with_epsilon (r.micro.f1, 2.0 / 3, EPS);
  g_assert_cmpfloat_with_epsilon (r.macro.f1, 0.65, EPS);
  g_assert_cmpfloat_with_epsilon (r.all_negative_baseline, 0.5, EPS);
  ts_metrics_report_clear (&r);
}

static void
test_map_skips_empty_class (void)
{
  /* class 1 has no positive: its AP is NaN and mAP is class 0's */
  const float p[6] = { 0.9f, 0.1f, 0.2f, 0.2f, 0.7f, 0.3f };
  const float t[6] = { 1, 0, 0, 0, 1, 0 };
  ts_metrics_report r;

  g_assert_cmpint (ts_metrics_compute (p, t, 3, 2, 0.5, &r), ==, TS_OK);
  g_assert_true (isnan (r.ap[1]));
  g_assert_cmpfloat_with_epsilon (r.map, 1.0, EPS);
  ts_metrics_report_clear (&r);
}

static void
test_sweep (void)
{
  double th[4] = { 0.2, 0.35, 0.5, 0.7 }, coarse[TS_SWEEP_COARSE_N], fine[TS_SWEEP_FINE_N];
  ts_threshold_sweep s;

  ts_sweep_coarse (coarse);
  g_assert_cmpfloat_with_epsilon (coarse[0], 0.05, EPS);
  g_assert_cmpfloat_with_epsilon (coarse[14], 0.52, EPS);
  g_assert_cmpfloat_with_epsilon (coarse[28], 0.99, EPS);
  ts_sweep_fine (fine);
  g_assert_cmpfloat_with_epsilon (fine[49], 0.50, EPS);

  g_assert_cmpint (ts_threshold_sweep_run (probs, targs, 4, 2, th, 4, &s), ==, TS_OK);
  /* accuracy 0.75, 0.625, 0.5, 0.5: best at 0.2 */
  g_assert_cmpfloat_with_epsilon (s.accuracy[0], 0.75, EPS);
  g_assert_cmpfloat_with_epsilon (s.accuracy[3], 0.5, EPS);
  g_assert_cmpfloat (s.best_accuracy.thresh, ==, 0.2);
  g_assert_cmpfloat_with_epsilon (s.best_accuracy.value, 0.75, EPS);
  /* micro F1 at 0.2: tp 4 fp 2 fn 0 -> 0.8 */
  g_assert_cmpfloat_with_epsilon (s.best_f1_micro.value, 0.8, EPS);
  g_assert_cmpfloat (s.best_f1_micro.thresh, ==, 0.2);
  /* class 1's F1 is 0.8 at 0.2 and at 0.35: the first wins */
  g_assert_cmpfloat_with_epsilon (s.class_f1[1 * 2 + 1], 0.8, EPS);
  g_assert_cmpfloat (s.best_class_f1[1].thresh, ==, 0.2);
  /* class 0's accuracy: 3/4 at 0.2, 2/4 after; class 1's: 3/4 at 0.2 and 0.35 */
  g_assert_cmpfloat_with_epsilon (s.class_accuracy[0], 0.75, EPS);
  g_assert_cmpfloat_with_epsilon (s.class_accuracy[1 * 2 + 0], 0.5, EPS);
  g_assert_cmpfloat_with_epsilon (s.best_class_accuracy[1].value, 0.75, EPS);
  /* at 0.7 nothing of class 1 is predicted: 2 right of 4 */
  g_assert_cmpfloat_with_epsilon (s.class_accuracy[3 * 2 + 1], 0.5, EPS);
  ts_threshold_sweep_clear (&s);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/learn/metrics/accuracy", test_accuracy);
  g_test_add_func ("/learn/metrics/prf", test_prf);
  g_test_add_func ("/learn/metrics/average-precision", test_average_precision);
  g_test_add_func ("/learn/metrics/map-empty-class", test_map_skips_empty_class);
  g_test_add_func ("/learn/metrics/sweep", test_sweep);
  return g_test_run ();
}
