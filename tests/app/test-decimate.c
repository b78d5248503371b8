/* test-decimate.c: min/max decimation keeps a long series' shape, fast. */
#include <glib.h>
#include <math.h>

#include "tagsight-decimate.h"

static void
test_passthrough (void)
{
  double x[5] = { 0, 1, 2, 3, 4 }, y[5] = { 5, NAN, 3, 2, 1 }, ox[20], oy[20];
  gsize n = tagsight_decimate_minmax (x, y, 5, 0, 4, 10, ox, oy);

  /* short series are copied, the NaN dropped */
  g_assert_cmpuint (n, ==, 4);
  g_assert_cmpfloat (ox[1], ==, 2);
  g_assert_cmpfloat (oy[1], ==, 3);
}

static void
test_keeps_extremes (void)
{
  enum { N = 100000, B = 500 };
  g_autofree double *x = g_new (double, N);
  g_autofree double *y = g_new (double, N);
  double ox[2 * B], oy[2 * B], lo = INFINITY, hi = -INFINITY, t0, ms;
  gsize n;

  for (int i = 0; i < N; i++)
    {
      x[i] = i;
      y[i] = sin (i * 0.001) + 0.1 * sin (i * 0.37);
    }
  y[12345] = 40;   /* a spike must survive */
  y[77777] = -40;

  t0 = g_get_monotonic_time ();
  n = tagsight_decimate_minmax (x, y, N, 0, N - 1, B, ox, oy);
  ms = (g_get_monotonic_time () - t0) / 1000.0;
  g_test_message ("decimated %d points to %" G_GSIZE_FORMAT " in %.2f ms", N, n, ms);

  g_assert_cmpuint (n, <=, 2 * B);
  g_assert_cmpuint (n, >=, B);
  for (gsize i = 0; i < n; i++)
    {
      lo = MIN (lo, oy[i]);
      hi = MAX (hi, oy[i]);
      if (i > 0)
        g_assert_cmpfloat (ox[i], >=, ox[i - 1]);   /* order kept */
    }
  g_assert_cmpfloat (hi, ==, 40);
  g_assert_cmpfloat (lo, ==, -40);
  /* the budget: 100,000 points in under 10 ms (generous for ASan) */
  if (!g_test_slow ())
    g_assert_cmpfloat (ms, <, 50);
}

static void
test_unsorted_bounded (void)
{
  /* x that jumps back and forth must still not overrun the output */
  enum { N = 1000, B = 10 };
  double x[N], y[N], ox[2 * B], oy[2 * B];
  gsize n;

  for (int i = 0; i < N; i++)
    {
      x[i] = (i % 2) ? 0 : 99;
      y[i] = i;
    }
  n = tagsight_decimate_minmax (x, y, N, 0, 99, B, ox, oy);
  g_assert_cmpuint (n, <=, 2 * B);
}

static void
test_degenerate (void)
{
  double x[3] = { 1, 1, 1 }, y[3] = { 1, 2, 3 }, ox[2], oy[2];

  g_assert_cmpuint (tagsight_decimate_minmax (x, y, 3, 0, 1, 0, ox, oy), ==, 0);
  /* an empty x range copies up to the output's size */
  g_assert_cmpuint (tagsight_decimate_minmax (x, y, 3, 1, 1, 1, ox, oy), ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/decimate/passthrough", test_passthrough);
  g_test_add_func ("/app/decimate/keeps-extremes", test_keeps_extremes);
  g_test_add_func ("/app/decimate/unsorted-bounded", test_unsorted_bounded);
  g_test_add_func ("/app/decimate/degenerate", test_degenerate);
  return g_test_run ();
}
