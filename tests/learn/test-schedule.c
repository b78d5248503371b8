/* Schedules and lr slices against fastai's formulas at hand-computed points. */
#include <math.h>

#include "ts-optimizer.h"
#include "ts-schedule.h"
#include "ts-test.h"

static void
test_sched_basic (void)
{
  /* SchedCos(0, 1)(0.25) = (1 + cos(0.75 pi)) / 2 */
  g_assert_cmpfloat_with_epsilon (ts_sched_cos (0, 1, 0.25), 0.1464466094, 1e-9);
  g_assert_cmpfloat_with_epsilon (ts_sched_cos (2, 4, 0.0), 2.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (ts_sched_cos (2, 4, 1.0), 4.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (ts_sched_cos (2, 4, 0.5), 3.0, 1e-12);
  /* SchedExp(1e-7, 10)(0.5) = 1e-7 * 1e8^0.5 */
  g_assert_cmpfloat_with_epsilon (ts_sched_exp (1e-7, 10, 0.5), 1e-3, 1e-15);
  g_assert_cmpfloat_with_epsilon (ts_sched_exp (1e-7, 10, 0.0), 1e-7, 1e-20);
  /* combined_cos(0.25, 1, 3, 2): phase one to 0.25, phase two after */
  g_assert_cmpfloat_with_epsilon (ts_sched_combined_cos (0.25, 1, 3, 2, 0.125), 2.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (ts_sched_combined_cos (0.25, 1, 3, 2, 0.25), 3.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (ts_sched_combined_cos (0.25, 1, 3, 2, 0.625), 2.5, 1e-12);
  g_assert_cmpfloat_with_epsilon (ts_sched_combined_cos (0.25, 1, 3, 2, 1.0), 2.0, 1e-12);
}

static void
test_one_cycle (void)
{
  double lr_max[2] = { 1e-3, 1e-2 }, lrs[2], mom;
  ts_one_cycle s;

  ts_one_cycle_init (&s, 2, lr_max, 200);
  g_assert_cmpfloat (s.pct_start, ==, 0.25);
  g_assert_cmpfloat (s.div, ==, 25.0);
  g_assert_cmpfloat (s.div_final, ==, 1e5);

  ts_one_cycle_at (&s, 0, lrs, &mom);          /* lr_max / div, moms[0] */
  g_assert_cmpfloat_with_epsilon (lrs[0], 4e-5, 1e-15);
  g_assert_cmpfloat_with_epsilon (lrs[1], 4e-4, 1e-15);
  g_assert_cmpfloat_with_epsilon (mom, 0.95, 1e-12);

  ts_one_cycle_at (&s, 25, lrs, &mom);         /* pos 0.125: half way up */
  g_assert_cmpfloat_with_epsilon (lrs[1], 4e-4 + 0.5 * (1e-2 - 4e-4), 1e-12);
  g_assert_cmpfloat_with_epsilon (mom, 0.90, 1e-12);

  ts_one_cycle_at (&s, 50, lrs, &mom);         /* pos 0.25: the peak */
  g_assert_cmpfloat_with_epsilon (lrs[0], 1e-3, 1e-15);
  g_assert_cmpfloat_with_epsilon (lrs[1], 1e-2, 1e-15);
  g_assert_cmpfloat_with_epsilon (mom, 0.85, 1e-12);

  ts_one_cycle_at (&s, 125, lrs, &mom);        /* pos 0.625: half way down */
  g_assert_cmpfloat_with_epsilon (lrs[1], 1e-2 + 0.5 * (1e-7 - 1e-2), 1e-12);
  g_assert_cmpfloat_with_epsilon (mom, 0.90, 1e-12);

  ts_one_cycle_at (&s, 200, lrs, &mom);        /* pos 1: lr_max / div_final */
  g_assert_cmpfloat_with_epsilon (lrs[1], 1e-7, 1e-15);
  g_assert_cmpfloat_with_epsilon (mom, 0.95, 1e-12);

  /* fine_tune's unfrozen phase: pct_start 0.3, div 5, 10 steps */
  ts_one_cycle_init (&s, 2, lr_max, 10);
  s.pct_start = 0.3;
  s.div = 5;
  ts_one_cycle_at (&s, 0, lrs, &mom);
  g_assert_cmpfloat_with_epsilon (lrs[1], 2e-3, 1e-15);
  ts_one_cycle_at (&s, 3, lrs, &mom);
  g_assert_cmpfloat_with_epsilon (lrs[1], 1e-2, 1e-12);
  /* pos 0.1: a third of phase one: 2e-3 + (1 + cos(2pi/3)) / 2 * 8e-3 = 2e-3 + 0.25 * 8e-3 */
  ts_one_cycle_at (&s, 1, lrs, &mom);
  g_assert_cmpfloat_with_epsilon (lrs[1], 4e-3, 1e-12);
}

static void
test_lr_slices (void)
{
  double out[3];

  ts_lr_slice_spread (ts_lr_slice_hi (1e-3), 3, out);            /* slice(1e-3) */
  g_assert_cmpfloat_with_epsilon (out[0], 1e-4, 1e-18);
  g_assert_cmpfloat_with_epsilon (out[1], 1e-4, 1e-18);
  g_assert_cmpfloat_with_epsilon (out[2], 1e-3, 1e-18);

  ts_lr_slice_spread (ts_lr_slice_range (1e-5, 1e-3), 3, out);   /* even_mults */
  g_assert_cmpfloat_with_epsilon (out[0], 1e-5, 1e-18);
  g_assert_cmpfloat_with_epsilon (out[1], 1e-4, 1e-16);
  g_assert_cmpfloat_with_epsilon (out[2], 1e-3, 1e-16);

  ts_lr_slice_spread (ts_lr_slice_range (1.5e-5, 1.5e-3), 3, out); /* fine_tune(3e-3) phase 2 */
  g_assert_cmpfloat_with_epsilon (out[1], 1.5e-4, 1e-16);

  ts_lr_slice_spread (ts_lr_plain (0.1), 3, out);
  g_assert_cmpfloat (out[0], ==, 0.1);
  g_assert_cmpfloat (out[2], ==, 0.1);

  ts_lr_slice_spread (ts_lr_slice_range (1e-5, 1e-3), 1, out);
  g_assert_cmpfloat (out[0], ==, 1e-3);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/learn/schedule/basic", test_sched_basic);
  g_test_add_func ("/learn/schedule/one-cycle", test_one_cycle);
  g_test_add_func ("/learn/schedule/lr-slices", test_lr_slices);
  return g_test_run ();
}
