/* lr_find's suggestions (fastai valley and steep) on a synthetic curve; the
 * expected indices were derived by hand and checked with a line-by-line
 * Python port of fastai's functions. */
#include <math.h>

#include "ts-lr-find.h"
#include "ts-schedule.h"
#include "ts-test.h"

static void
make_curve (double *lrs, double *losses)
{
  /* flat to 30, a parabola down to 0.2 at 70, then a rise */
  for (int i = 0; i < 100; i++)
    {
      lrs[i] = ts_sched_exp (1e-7, 10, i / 100.0);
      if (i < 30)
        losses[i] = 1.0;
      else if (i <= 70)
        losses[i] = 1.0 - 0.0005 * (i - 30) * (i - 30);
      else
        losses[i] = 0.2 + 0.06 * (i - 70);
    }
}

static void
test_suggest (void)
{
  double lrs[100], losses[100], valley, steep;
  int vi, si;

  make_curve (lrs, losses);
  g_assert_true (ts_lr_suggest (lrs, losses, 100, 100, &valley, &vi, &steep, &si));
  /* longest decreasing run: i = 29..70 in the slice starting at 10, so
   * max_start 19, max_end 60, sections 13.67 -> 19 + 13 + 6 = 38 -> i = 48 */
  g_assert_cmpint (vi, ==, 48);
  g_assert_cmpfloat_with_epsilon (valley, 1e-7 * pow (1e8, 0.48), 1e-12);
  /* steepest drop: between 69 and 70 */
  g_assert_cmpint (si, ==, 69);
  g_assert_cmpfloat_with_epsilon (steep, lrs[69], 1e-12);
}

static void
test_suggest_nan_cut (void)
{
  double lrs[100], losses[100], valley, steep;
  int vi, si;

  make_curve (lrs, losses);
  losses[50] = NAN;   /* the curve ends at the first NaN */
  g_assert_true (ts_lr_suggest (lrs, losses, 100, 100, &valley, &vi, &steep, &si));
  g_assert_cmpint (si, <, 50);
  g_assert_cmpint (vi, <, 50);
  /* too short to suggest */
  g_assert_false (ts_lr_suggest (lrs, losses, 12, 100, &valley, &vi, &steep, &si));
  g_assert_true (isnan (valley));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/learn/lr-find/suggest", test_suggest);
  g_test_add_func ("/learn/lr-find/suggest-nan", test_suggest_nan_cut);
  return g_test_run ();
}
