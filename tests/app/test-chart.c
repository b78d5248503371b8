/* test-chart.c: the chart widget drawn to an image: the threshold line lands
 * where the pixel mapping says, the mapping round-trips (linear and log x),
 * and a long series redraws quickly.  Needs a display (Xvfb in CI); skips
 * without one. */
#include <gtk/gtk.h>
#include <math.h>

#include "tagsight-chart.h"

#define W 400
#define H 220

static gboolean have_display;

static GtkWidget *
chart_in_window (GtkWidget **window)
{
  GtkWidget *chart = tagsight_chart_new ();

  *window = gtk_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (*window), W, H);
  gtk_window_set_child (GTK_WINDOW (*window), chart);
  gtk_window_present (GTK_WINDOW (*window));
  return chart;
}

static void
settle (GtkWidget *chart)
{
  for (int i = 0; i < 200 && (gtk_widget_get_width (chart) < W / 2
                              || !gtk_widget_get_mapped (chart)); i++)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (5000);
    }
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* The widget's drawing as a Cairo image, through the render node. */
static cairo_surface_t *
render (GtkWidget *chart)
{
  int w = gtk_widget_get_width (chart), h = gtk_widget_get_height (chart);
  g_autoptr (GdkPaintable) paintable = gtk_widget_paintable_new (chart);
  GtkSnapshot *snapshot = gtk_snapshot_new ();
  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, w, h);
  cairo_t *cr = cairo_create (surface);
  GskRenderNode *node;

  gdk_paintable_snapshot (paintable, snapshot, w, h);
  node = gtk_snapshot_free_to_node (snapshot);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_paint (cr);
  if (node != NULL)
    {
      gsk_render_node_draw (node, cr);
      gsk_render_node_unref (node);
    }
  cairo_destroy (cr);
  cairo_surface_flush (surface);
  return surface;
}

static gboolean
is_red (cairo_surface_t *s, int x, int y)
{
  const guint8 *p = cairo_image_surface_get_data (s) + y * cairo_image_surface_get_stride (s)
                    + x * 4;

  /* ARGB32 little-endian: B G R A; the threshold is #e01b24 */
  return p[2] > 180 && p[1] < 90 && p[0] < 90;
}

static void
test_threshold_line (void)
{
  GtkWidget *window, *chart;
  double x[101], y[101], px;
  cairo_surface_t *s;
  int col, mid, found = -1;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  chart = chart_in_window (&window);
  for (int i = 0; i <= 100; i++)
    {
      x[i] = i / 100.0;
      y[i] = 1 - x[i] * x[i];
    }
  tagsight_chart_add_line (TAGSIGHT_CHART (chart), "f1", x, y, 101, NULL, 2);
  tagsight_chart_set_x_range (TAGSIGHT_CHART (chart), 0, 1);
  tagsight_chart_set_threshold_visible (TAGSIGHT_CHART (chart), TRUE);
  tagsight_chart_set_threshold (TAGSIGHT_CHART (chart), 0.3);
  settle (chart);

  px = tagsight_chart_x_to_pixel (TAGSIGHT_CHART (chart), 0.3);
  g_assert_cmpfloat (fabs (tagsight_chart_pixel_to_x (TAGSIGHT_CHART (chart), px) - 0.3), <, 1e-9);
  g_assert_cmpfloat (px, >, 0);
  g_assert_cmpfloat (px, <, gtk_widget_get_width (chart));

  s = render (chart);
  mid = cairo_image_surface_get_height (s) / 2;
  for (col = 0; col < cairo_image_surface_get_width (s); col++)
    if (is_red (s, col, mid))
      {
        found = col;
        break;
      }
  g_test_message ("threshold 0.3 -> pixel %.1f, red found at column %d", px, found);
  g_assert_cmpint (found, >=, 0);
  g_assert_cmpfloat (fabs (found - px), <=, 2);
  /* nothing red far from the line */
  g_assert_false (is_red (s, (int) px + 40, mid));
  cairo_surface_destroy (s);
  gtk_window_destroy (GTK_WINDOW (window));
}

/* A series of one point (a single epoch's validation loss) is a dot one
 * can see, not a line-wide speck. */
static void
test_single_point_dot (void)
{
  GtkWidget *window, *chart;
  const GdkRGBA red = { 0xe0 / 255.0, 0x1b / 255.0, 0x24 / 255.0, 1 };
  double x = 0.5, y = 0.5, px;
  cairo_surface_t *s;
  int n_red = 0;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  chart = chart_in_window (&window);
  tagsight_chart_add_line (TAGSIGHT_CHART (chart), "valid", &x, &y, 1, &red, 2);
  tagsight_chart_set_x_range (TAGSIGHT_CHART (chart), 0, 1);
  tagsight_chart_set_y_range (TAGSIGHT_CHART (chart), 0, 1);
  settle (chart);
  px = tagsight_chart_x_to_pixel (TAGSIGHT_CHART (chart), x);
  s = render (chart);
  for (int r = 0; r < cairo_image_surface_get_height (s); r++)
    for (int c = MAX (0, (int) px - 10); c < MIN (cairo_image_surface_get_width (s), (int) px + 10);
         c++)
      n_red += is_red (s, c, r);
  g_test_message ("a one-point series covers %d red pixels", n_red);
  g_assert_cmpint (n_red, >=, 20);
  cairo_surface_destroy (s);
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_log_axis_mapping (void)
{
  GtkWidget *window, *chart;
  double x[] = { 1e-6, 1e-4, 1e-2, 1 }, y[] = { 3, 2, 1, 5 };
  double p1, p2, p3;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  chart = chart_in_window (&window);
  tagsight_chart_add_line (TAGSIGHT_CHART (chart), "loss", x, y, 4, NULL, 0);
  tagsight_chart_set_log_x (TAGSIGHT_CHART (chart), TRUE);
  settle (chart);
  p1 = tagsight_chart_x_to_pixel (TAGSIGHT_CHART (chart), 1e-6);
  p2 = tagsight_chart_x_to_pixel (TAGSIGHT_CHART (chart), 1e-3);
  p3 = tagsight_chart_x_to_pixel (TAGSIGHT_CHART (chart), 1);
  /* a decade is the same width everywhere: 1e-3 sits half way */
  g_assert_cmpfloat (fabs ((p2 - p1) - (p3 - p2)), <, 1e-6);
  g_assert_cmpfloat (fabs (log10 (tagsight_chart_pixel_to_x (TAGSIGHT_CHART (chart), p2)) + 3),
                     <, 1e-9);
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_long_series_redraw (void)
{
  enum { N = 100000 };
  GtkWidget *window, *chart;
  g_autofree double *x = g_new (double, N);
  g_autofree double *y = g_new (double, N);
  cairo_surface_t *s;
  gint64 t0;
  double ms;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  for (int i = 0; i < N; i++)
    {
      x[i] = i;
      y[i] = exp (-i / 20000.0) + 0.05 * sin (i * 0.3);
    }
  chart = chart_in_window (&window);
  tagsight_chart_add_line (TAGSIGHT_CHART (chart), "loss", x, y, N, NULL, 1);
  settle (chart);
  s = render (chart);     /* the first draw decimates */
  cairo_surface_destroy (s);
  t0 = g_get_monotonic_time ();
  s = render (chart);     /* a redraw uses the cached decimation */
  ms = (g_get_monotonic_time () - t0) / 1000.0;
  g_test_message ("redraw of %d points: %.2f ms", N, ms);
  cairo_surface_destroy (s);
  if (!g_test_slow ())
    g_assert_cmpfloat (ms, <, 100);
  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("GSK_RENDERER", "cairo", FALSE);
  /* no session bus under Xvfb: the accessibility bridge would warn, and
   * warnings are fatal in tests */
  g_setenv ("GTK_A11Y", "none", FALSE);
  g_setenv ("NO_AT_BRIDGE", "1", FALSE);
  have_display = gtk_init_check ();
  g_test_add_func ("/app/chart/threshold-line", test_threshold_line);
  g_test_add_func ("/app/chart/single-point", test_single_point_dot);
  g_test_add_func ("/app/chart/log-axis", test_log_axis_mapping);
  g_test_add_func ("/app/chart/long-series-redraw", test_long_series_redraw);
  return g_test_run ();
}
