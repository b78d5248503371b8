/* tagsight-chart.c: the chart widget (see tagsight-chart.h). */
#include "tagsight-chart.h"

#include <glib/gi18n.h>
#include <math.h>

#include "tagsight-decimate.h"
#include "tagsight-text.h"

typedef enum { SERIES_LINE, SERIES_BARS } SeriesKind;

typedef struct {
  SeriesKind kind;
  char *name;
  GArray *x, *y;          /* doubles; bars use y only */
  GdkRGBA color;
  double width;
  /* decimated copy for the current plot width and x range */
  GArray *dx, *dy;
  int cache_px;
  double cache_x0, cache_x1;
  gsize cache_n;
} Series;

typedef struct {
  double x;
  char *label;
  GdkRGBA color;
} Marker;

struct _TagsightChart
{
  GtkWidget parent_instance;

  GPtrArray *series;
  GArray *markers;
  GStrv categories;
  int n_categories;
  gboolean log_x;
  char *x_title, *y_title;
  double x_lo, x_hi, y_lo, y_hi;   /* user bounds, NAN when automatic */

  gboolean threshold_visible;
  double threshold;
  double drag_start_x;

  /* layout of the last allocation */
  double px0, px1, py0, py1;       /* plot rectangle */
  double vx0, vx1, vy0, vy1;       /* value range, log10 already applied to x */
};

enum { SIGNAL_THRESHOLD_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (TagsightChart, tagsight_chart, GTK_TYPE_WIDGET)

static const char *const palette[] = {
  "#3584e4", "#ff7800", "#2ec27e", "#9141ac", "#e01b24", "#986a44", "#f6d32d", "#5e5c64",
};

static void
series_free (gpointer data)
{
  Series *s = data;

  g_free (s->name);
  g_array_unref (s->x);
  g_array_unref (s->y);
  g_array_unref (s->dx);
  g_array_unref (s->dy);
  g_free (s);
}

static void
marker_clear (gpointer data)
{
  g_free (((Marker *) data)->label);
}

static Series *
series_new (TagsightChart *self, SeriesKind kind, const char *name, const GdkRGBA *color)
{
  Series *s = g_new0 (Series, 1);

  s->kind = kind;
  s->name = g_strdup (name);
  s->x = g_array_new (FALSE, FALSE, sizeof (double));
  s->y = g_array_new (FALSE, FALSE, sizeof (double));
  s->dx = g_array_new (FALSE, FALSE, sizeof (double));
  s->dy = g_array_new (FALSE, FALSE, sizeof (double));
  s->width = 1.5;
  s->cache_px = -1;
  if (color != NULL)
    s->color = *color;
  else
    gdk_rgba_parse (&s->color, palette[self->series->len % G_N_ELEMENTS (palette)]);
  g_ptr_array_add (self->series, s);
  return s;
}

static double
tx (TagsightChart *self, double x)
{
  return self->log_x ? log10 (x) : x;
}

static gboolean
has_bars (TagsightChart *self)
{
  return self->n_categories > 0;
}

/* Rounds a span to 1, 2 or 5 times a power of ten, for tick steps. */
static double
nice_step (double span, int max_ticks)
{
  double raw = span / MAX (max_ticks, 1);
  double mag = pow (10, floor (log10 (raw)));
  double f = raw / mag;

  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

static void
compute_ranges (TagsightChart *self)
{
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;

  for (guint i = 0; i < self->series->len; i++)
    {
      Series *s = g_ptr_array_index (self->series, i);

      for (guint k = 0; k < s->y->len; k++)
        {
          double y = g_array_index (s->y, double, k);
          double x = s->kind == SERIES_LINE ? tx (self, g_array_index (s->x, double, k)) : 0;

          if (!isfinite (y) || !isfinite (x))
            continue;
          if (s->kind == SERIES_BARS)
            {
              /* bars run along x from zero */
              x0 = MIN (x0, MIN (0, y));
              x1 = MAX (x1, y);
              continue;
            }
          x0 = MIN (x0, x);
          x1 = MAX (x1, x);
          y0 = MIN (y0, y);
          y1 = MAX (y1, y);
        }
    }
  for (guint i = 0; i < self->markers->len; i++)
    {
      double x = tx (self, g_array_index (self->markers, Marker, i).x);

      if (isfinite (x))
        {
          x0 = MIN (x0, x);
          x1 = MAX (x1, x);
        }
    }
  if (!isnan (self->x_lo))
    x0 = tx (self, self->x_lo);
  if (!isnan (self->x_hi))
    x1 = tx (self, self->x_hi);
  if (!isnan (self->y_lo))
    y0 = self->y_lo;
  if (!isnan (self->y_hi))
    y1 = self->y_hi;
  if (!isfinite (x0) || !isfinite (x1))
    x0 = 0, x1 = 1;
  if (!isfinite (y0) || !isfinite (y1))
    y0 = 0, y1 = 1;
  if (x1 <= x0)
    x1 = x0 + 1;
  if (y1 <= y0)
    {
      y0 -= 0.5;
      y1 += 0.5;
    }
  if (has_bars (self) && isnan (self->x_hi))
    x1 = x0 + (x1 - x0) * 1.08;  /* room for the value labels */
  else if (isnan (self->y_hi) && !has_bars (self))
    y1 += (y1 - y0) * 0.05;
  self->vx0 = x0;
  self->vx1 = x1;
  self->vy0 = y0;
  self->vy1 = y1;
}

static void
format_value (double v, double step, char *buf, gsize size)
{
  int decimals = step >= 1 ? 0 : (int) ceil (-log10 (step) - 1e-9);

  g_snprintf (buf, size, "%.*f", MIN (decimals, 6), fabs (v) < step * 1e-6 ? 0.0 : v);
}

static void
compute_layout (TagsightChart *self, int width, int height)
{
  GtkWidget *widget = GTK_WIDGET (self);
  int th, left = 0, bottom, top = 8, right = 12;

  compute_ranges (self);
  tagsight_text_width (widget, "0", &th);
  if (has_bars (self))
    {
      for (int i = 0; i < self->n_categories; i++)
        left = MAX (left, tagsight_text_width (widget, self->categories[i], NULL));
      left += 10;
    }
  else
    {
      double step = nice_step (self->vy1 - self->vy0, 5);
      char buf[64];

      for (double v = ceil (self->vy0 / step) * step; v <= self->vy1 + step * 1e-9; v += step)
        {
          format_value (v, step, buf, sizeof buf);
          left = MAX (left, tagsight_text_width (widget, buf, NULL));
        }
      left += 10 + (self->y_title != NULL ? th + 4 : 0);
    }
  bottom = th + 8 + (self->x_title != NULL ? th + 4 : 0);
  if (self->threshold_visible || self->markers->len > 0)
    top += th + 2;
  if (self->series->len > 1)
    top += th + 6;  /* legend */
  self->px0 = left;
  self->px1 = MAX (left + 1, width - right);
  self->py0 = top;
  self->py1 = MAX (top + 1, height - bottom);
}

double
tagsight_chart_x_to_pixel (TagsightChart *self, double x)
{
  double v = tx (self, x);

  return self->px0 + (v - self->vx0) / (self->vx1 - self->vx0) * (self->px1 - self->px0);
}

double
tagsight_chart_pixel_to_x (TagsightChart *self, double px)
{
  double f = (px - self->px0) / (self->px1 - self->px0);
  double v = self->vx0 + CLAMP (f, 0, 1) * (self->vx1 - self->vx0);

  return self->log_x ? pow (10, v) : v;
}

static double
y_to_pixel (TagsightChart *self, double y)
{
  return self->py1 - (y - self->vy0) / (self->vy1 - self->vy0) * (self->py1 - self->py0);
}

static void
draw_axes (TagsightChart *self, cairo_t *cr, const GdkRGBA *fg)
{
  GtkWidget *widget = GTK_WIDGET (self);
  char buf[64];

  cairo_set_line_width (cr, 1);
  /* grid */
  gdk_cairo_set_source_rgba (cr, &(GdkRGBA) { fg->red, fg->green, fg->blue, 0.12 });
  if (!has_bars (self))
    {
      double step = nice_step (self->vy1 - self->vy0, 5);

      for (double v = ceil (self->vy0 / step) * step; v <= self->vy1 + step * 1e-9; v += step)
        {
          double py = round (y_to_pixel (self, v)) + 0.5;

          cairo_move_to (cr, self->px0, py);
          cairo_line_to (cr, self->px1, py);
        }
    }
  cairo_stroke (cr);

  /* x ticks */
  gdk_cairo_set_source_rgba (cr, &(GdkRGBA) { fg->red, fg->green, fg->blue, 0.7 });
  if (self->log_x)
    {
      for (double e = ceil (self->vx0 - 1e-9); e <= self->vx1 + 1e-9; e += 1)
        {
          double px = self->px0 + (e - self->vx0) / (self->vx1 - self->vx0)
                      * (self->px1 - self->px0);

          g_snprintf (buf, sizeof buf, "1e%d", (int) e);
          tagsight_show_text (widget, cr, buf, px, self->py1 + 4, 0.5, 0);
        }
    }
  else
    {
      int max_ticks = MAX (2, (int) ((self->px1 - self->px0) / 80));
      double step = nice_step (self->vx1 - self->vx0, max_ticks);

      for (double v = ceil (self->vx0 / step) * step; v <= self->vx1 + step * 1e-9; v += step)
        {
          double px = self->px0 + (v - self->vx0) / (self->vx1 - self->vx0)
                      * (self->px1 - self->px0);

          format_value (v, step, buf, sizeof buf);
          tagsight_show_text (widget, cr, buf, px, self->py1 + 4, 0.5, 0);
        }
    }
  if (!has_bars (self))
    {
      double step = nice_step (self->vy1 - self->vy0, 5);

      for (double v = ceil (self->vy0 / step) * step; v <= self->vy1 + step * 1e-9; v += step)
        {
          format_value (v, step, buf, sizeof buf);
          tagsight_show_text (widget, cr, buf, self->px0 - 6, y_to_pixel (self, v), 1, 0.5);
        }
    }
  if (self->x_title != NULL)
    tagsight_show_text (widget, cr, self->x_title, (self->px0 + self->px1) / 2,
                        gtk_widget_get_height (widget) - 2, 0.5, 1);
  if (self->y_title != NULL)
    {
      cairo_save (cr);
      cairo_translate (cr, 2, (self->py0 + self->py1) / 2);
      cairo_rotate (cr, -G_PI / 2);
      tagsight_show_text (widget, cr, self->y_title, 0, 0, 0.5, 0);
      cairo_restore (cr);
    }

  /* axis lines */
  gdk_cairo_set_source_rgba (cr, &(GdkRGBA) { fg->red, fg->green, fg->blue, 0.45 });
  cairo_move_to (cr, self->px0 + 0.5, self->py0);
  cairo_line_to (cr, self->px0 + 0.5, self->py1 + 0.5);
  cairo_line_to (cr, self->px1, self->py1 + 0.5);
  cairo_stroke (cr);
}

static void
draw_line (TagsightChart *self, cairo_t *cr, Series *s)
{
  int px = (int) (self->px1 - self->px0);
  gboolean started = FALSE;
  const double *xs, *ys;
  gsize n;

  if (s->y->len == 0)
    return;
  /* decimate only when the series changed, the width changed or the x range moved */
  if (s->cache_px != px || s->cache_n != s->y->len || s->cache_x0 != self->vx0
      || s->cache_x1 != self->vx1)
    {
      g_autofree double *lx = g_new (double, s->x->len);

      for (guint i = 0; i < s->x->len; i++)
        lx[i] = tx (self, g_array_index (s->x, double, i));
      g_array_set_size (s->dx, 2 * (gsize) MAX (px, 1));
      g_array_set_size (s->dy, 2 * (gsize) MAX (px, 1));
      n = tagsight_decimate_minmax (lx, (double *) (void *) s->y->data, s->y->len, self->vx0,
                                    self->vx1, MAX (px, 1), (double *) (void *) s->dx->data,
                                    (double *) (void *) s->dy->data);
      g_array_set_size (s->dx, n);
      g_array_set_size (s->dy, n);
      s->cache_px = px;
      s->cache_n = s->y->len;
      s->cache_x0 = self->vx0;
      s->cache_x1 = self->vx1;
    }
  xs = (const double *) (void *) s->dx->data;
  ys = (const double *) (void *) s->dy->data;
  n = s->dx->len;
  for (gsize i = 0; i < n; i++)
    {
      double x = self->px0 + (xs[i] - self->vx0) / (self->vx1 - self->vx0)
                 * (self->px1 - self->px0);
      double y = y_to_pixel (self, ys[i]);

      if (!started)
        cairo_move_to (cr, x, y);
      else
        cairo_line_to (cr, x, y);
      started = TRUE;
    }
  gdk_cairo_set_source_rgba (cr, &s->color);
  if (n == 1)
    {
      /* a lone point (one epoch's validation loss) as a dot that can be
       * seen, not a line-wide speck */
      double x, y;

      cairo_get_current_point (cr, &x, &y);
      cairo_new_path (cr);
      cairo_arc (cr, x, y, MAX (3.5, 1.75 * s->width), 0, 2 * G_PI);
      cairo_fill (cr);
      return;
    }
  cairo_set_line_width (cr, s->width);
  cairo_set_line_join (cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap (cr, CAIRO_LINE_CAP_ROUND);
  cairo_stroke (cr);
}

static void
draw_bars (TagsightChart *self, cairo_t *cr, const GdkRGBA *fg)
{
  GtkWidget *widget = GTK_WIDGET (self);
  guint n_bar_series = 0, slot = 0;
  double row_h = (self->py1 - self->py0) / MAX (self->n_categories, 1);
  double scale = (self->px1 - self->px0) / (self->vx1 - self->vx0);

  for (guint i = 0; i < self->series->len; i++)
    if (((Series *) g_ptr_array_index (self->series, i))->kind == SERIES_BARS)
      n_bar_series++;
  for (int c = 0; c < self->n_categories; c++)
    {
      gdk_cairo_set_source_rgba (cr, &(GdkRGBA) { fg->red, fg->green, fg->blue, 0.8 });
      tagsight_show_text (widget, cr, self->categories[c], self->px0 - 8,
                          self->py0 + row_h * (c + 0.5), 1, 0.5);
    }
  for (guint i = 0; i < self->series->len; i++)
    {
      Series *s = g_ptr_array_index (self->series, i);
      double bar_h = row_h * 0.8 / MAX (n_bar_series, 1);

      if (s->kind != SERIES_BARS)
        continue;
      for (int c = 0; c < self->n_categories && c < (int) s->y->len; c++)
        {
          double v = g_array_index (s->y, double, c);
          double y = self->py0 + row_h * c + row_h * 0.1 + bar_h * slot;
          double x0 = self->px0 + (0 - self->vx0) * scale;
          double w = v * scale;
          char buf[32];

          if (!isfinite (v))
            continue;
          gdk_cairo_set_source_rgba (cr, &s->color);
          cairo_rectangle (cr, x0, y + 1, MAX (w, 1), MAX (bar_h - 2, 1));
          cairo_fill (cr);
          if (bar_h >= 10)
            {
              g_snprintf (buf, sizeof buf, "%g", v);
              gdk_cairo_set_source_rgba (cr, &(GdkRGBA) { fg->red, fg->green, fg->blue, 0.75 });
              tagsight_show_text (widget, cr, buf, x0 + w + 4, y + bar_h / 2, 0, 0.5);
            }
        }
      slot++;
    }
}

static void
draw_legend (TagsightChart *self, cairo_t *cr, const GdkRGBA *fg)
{
  GtkWidget *widget = GTK_WIDGET (self);
  double x = self->px0;

  if (self->series->len < 2)
    return;
  for (guint i = 0; i < self->series->len; i++)
    {
      Series *s = g_ptr_array_index (self->series, i);
      int h, w = tagsight_text_width (widget, s->name != NULL ? s->name : "", &h);

      gdk_cairo_set_source_rgba (cr, &s->color);
      cairo_rectangle (cr, x, 4 + h / 2.0 - 5, 10, 10);
      cairo_fill (cr);
      gdk_cairo_set_source_rgba (cr, fg);
      tagsight_show_text (widget, cr, s->name != NULL ? s->name : "", x + 14, 4, 0, 0);
      x += 14 + w + 18;
    }
}

static void
draw_vline (TagsightChart *self, cairo_t *cr, double x, const char *label, const GdkRGBA *color,
            double width, gboolean dashed, gboolean inside)
{
  double px = round (tagsight_chart_x_to_pixel (self, x)) + 0.5;

  if (px < self->px0 - 1 || px > self->px1 + 1)
    return;
  gdk_cairo_set_source_rgba (cr, color);
  cairo_set_line_width (cr, width);
  if (dashed)
    cairo_set_dash (cr, (double[]) { 4, 3 }, 2, 0);
  cairo_move_to (cr, px, self->py0);
  cairo_line_to (cr, px, self->py1);
  cairo_stroke (cr);
  cairo_set_dash (cr, NULL, 0, 0);
  if (label != NULL && !inside)
    tagsight_show_text (GTK_WIDGET (self), cr, label, px, self->py0 - 2,
                        px > self->px1 - 60 ? 1 : 0.5, 1);
  else if (label != NULL)
    {
      /* the threshold's value sits inside the plot, beside the line, so that
       * a marker at the same x (the best threshold) keeps its label on top */
      gboolean left = px > self->px1 - 60;

      tagsight_show_text (GTK_WIDGET (self), cr, label, left ? px - 4 : px + 4, self->py0 + 4,
                          left ? 1 : 0, 0);
    }
}

static void
tagsight_chart_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  TagsightChart *self = TAGSIGHT_CHART (widget);
  int width = gtk_widget_get_width (widget), height = gtk_widget_get_height (widget);
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  GtkStyleContext *style = gtk_widget_get_style_context (widget);
  G_GNUC_END_IGNORE_DEPRECATIONS
  GdkRGBA fg;
  cairo_t *cr;

  if (width <= 0 || height <= 0)
    return;
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (style, &fg);
  G_GNUC_END_IGNORE_DEPRECATIONS
  compute_layout (self, width, height);
  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  draw_axes (self, cr, &fg);
  draw_legend (self, cr, &fg);
  if (has_bars (self))
    draw_bars (self, cr, &fg);
  cairo_save (cr);
  cairo_rectangle (cr, self->px0, self->py0 - 1, self->px1 - self->px0, self->py1 - self->py0 + 2);
  cairo_clip (cr);
  for (guint i = 0; i < self->series->len; i++)
    {
      Series *s = g_ptr_array_index (self->series, i);

      if (s->kind == SERIES_LINE)
        draw_line (self, cr, s);
    }
  cairo_restore (cr);
  for (guint i = 0; i < self->markers->len; i++)
    {
      Marker *m = &g_array_index (self->markers, Marker, i);

      draw_vline (self, cr, m->x, m->label, &m->color, 1, TRUE, FALSE);
    }
  if (self->threshold_visible)
    {
      char buf[32];
      GdkRGBA accent;

      gdk_rgba_parse (&accent, "#e01b24");
      /* on a log axis (the LR finder) the picked value spans decades */
      g_snprintf (buf, sizeof buf, self->log_x ? "%.2g" : "%.2f", self->threshold);
      draw_vline (self, cr, self->threshold, buf, &accent, 2, FALSE, TRUE);
    }
  cairo_destroy (cr);
}

static void
drag_to (TagsightChart *self, double px)
{
  double x = tagsight_chart_pixel_to_x (self, px);

  if (x == self->threshold)
    return;
  self->threshold = x;
  gtk_widget_queue_draw (GTK_WIDGET (self));
  g_signal_emit (self, signals[SIGNAL_THRESHOLD_CHANGED], 0, x);
}

static void
on_drag_begin (GtkGestureDrag *gesture, double x, double y, TagsightChart *self)
{
  if (!self->threshold_visible)
    {
      gtk_gesture_set_state (GTK_GESTURE (gesture), GTK_EVENT_SEQUENCE_DENIED);
      return;
    }
  self->drag_start_x = x;
  drag_to (self, x);
}

static void
on_drag_update (GtkGestureDrag *gesture, double dx, double dy, TagsightChart *self)
{
  drag_to (self, self->drag_start_x + dx);
}

static void
tagsight_chart_measure (GtkWidget *widget, GtkOrientation orientation, int for_size, int *minimum,
                        int *natural, int *minimum_baseline, int *natural_baseline)
{
  TagsightChart *self = TAGSIGHT_CHART (widget);

  if (orientation == GTK_ORIENTATION_HORIZONTAL)
    *minimum = *natural = 200;
  else if (has_bars (self))
    {
      guint n_bar_series = 0;
      int th;

      for (guint i = 0; i < self->series->len; i++)
        if (((Series *) g_ptr_array_index (self->series, i))->kind == SERIES_BARS)
          n_bar_series++;
      tagsight_text_width (widget, "0", &th);
      /* every category row tall enough for its label and its bars */
      *minimum = *natural = 40 + (th + 8) * self->n_categories
                            + (self->series->len > 1 ? th + 6 : 0)
                            + 12 * (int) MAX (n_bar_series, 1) * self->n_categories / 2;
    }
  else
    *minimum = *natural = 160;
  *minimum_baseline = *natural_baseline = -1;
}

static void
tagsight_chart_size_allocate (GtkWidget *widget, int width, int height, int baseline)
{
  /* so the pixel mapping is right before the first frame is drawn */
  compute_layout (TAGSIGHT_CHART (widget), width, height);
}

static void
tagsight_chart_finalize (GObject *object)
{
  TagsightChart *self = TAGSIGHT_CHART (object);

  g_ptr_array_unref (self->series);
  g_array_unref (self->markers);
  g_strfreev (self->categories);
  g_free (self->x_title);
  g_free (self->y_title);
  G_OBJECT_CLASS (tagsight_chart_parent_class)->finalize (object);
}

static void
tagsight_chart_class_init (TagsightChartClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->finalize = tagsight_chart_finalize;
  widget_class->snapshot = tagsight_chart_snapshot;
  widget_class->measure = tagsight_chart_measure;
  widget_class->size_allocate = tagsight_chart_size_allocate;

  signals[SIGNAL_THRESHOLD_CHANGED] =
    g_signal_new ("threshold-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 1, G_TYPE_DOUBLE);

  gtk_widget_class_set_css_name (widget_class, "tagsight-chart");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
tagsight_chart_init (TagsightChart *self)
{
  GtkGesture *drag = gtk_gesture_drag_new ();

  self->series = g_ptr_array_new_with_free_func (series_free);
  self->markers = g_array_new (FALSE, FALSE, sizeof (Marker));
  g_array_set_clear_func (self->markers, marker_clear);
  self->x_lo = self->x_hi = self->y_lo = self->y_hi = NAN;
  self->threshold = 0.5;
  self->px1 = self->py1 = 1;
  self->vx1 = self->vy1 = 1;

  g_signal_connect (drag, "drag-begin", G_CALLBACK (on_drag_begin), self);
  g_signal_connect (drag, "drag-update", G_CALLBACK (on_drag_update), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drag));
}

GtkWidget *
tagsight_chart_new (void)
{
  return g_object_new (TAGSIGHT_TYPE_CHART, NULL);
}

static void
changed (TagsightChart *self, gboolean resize)
{
  if (resize)
    gtk_widget_queue_resize (GTK_WIDGET (self));
  gtk_widget_queue_draw (GTK_WIDGET (self));
}

void
tagsight_chart_clear (TagsightChart *self)
{
  g_return_if_fail (TAGSIGHT_IS_CHART (self));
  g_ptr_array_set_size (self->series, 0);
  g_array_set_size (self->markers, 0);
  g_clear_pointer (&self->categories, g_strfreev);
  self->n_categories = 0;
  changed (self, TRUE);
}

guint
tagsight_chart_add_line (TagsightChart *self, const char *name, const double *x, const double *y,
                         gsize n, const GdkRGBA *color, double width)
{
  Series *s;

  g_return_val_if_fail (TAGSIGHT_IS_CHART (self), 0);
  s = series_new (self, SERIES_LINE, name, color);
  if (width > 0)
    s->width = width;
  g_array_append_vals (s->x, x, n);
  g_array_append_vals (s->y, y, n);
  changed (self, FALSE);
  return self->series->len - 1;
}

void
tagsight_chart_append_point (TagsightChart *self, guint series, double x, double y)
{
  Series *s;

  g_return_if_fail (TAGSIGHT_IS_CHART (self));
  g_return_if_fail (series < self->series->len);
  s = g_ptr_array_index (self->series, series);
  g_array_append_val (s->x, x);
  g_array_append_val (s->y, y);
  changed (self, FALSE);
}

void
tagsight_chart_truncate_line (TagsightChart *self, guint series, double x_max)
{
  Series *s;
  guint n;

  g_return_if_fail (TAGSIGHT_IS_CHART (self));
  g_return_if_fail (series < self->series->len);
  s = g_ptr_array_index (self->series, series);
  for (n = s->x->len; n > 0 && g_array_index (s->x, double, n - 1) > x_max; n--)
    ;
  if (n == s->x->len)
    return;
  g_array_set_size (s->x, n);
  g_array_set_size (s->y, n);
  /* the decimated copy is keyed by length: points appended after this
   * would bring it back to a length it had, with other points */
  s->cache_px = -1;
  changed (self, FALSE);
}

guint
tagsight_chart_add_bars (TagsightChart *self, const char *name, const double *values, gsize n,
                         const GdkRGBA *color)
{
  Series *s;

  g_return_val_if_fail (TAGSIGHT_IS_CHART (self), 0);
  s = series_new (self, SERIES_BARS, name, color);
  g_array_append_vals (s->y, values, n);
  for (gsize i = 0; i < n; i++)
    {
      double zero = 0;

      g_array_append_val (s->x, zero);
    }
  changed (self, TRUE);
  return self->series->len - 1;
}

void
tagsight_chart_set_categories (TagsightChart *self, const char *const *names, int n)
{
  g_return_if_fail (TAGSIGHT_IS_CHART (self));
  g_strfreev (self->categories);
  self->categories = g_new0 (char *, n + 1);
  for (int i = 0; i < n; i++)
    self->categories[i] = g_strdup (names[i]);
  self->n_categories = n;
  changed (self, TRUE);
}

void
tagsight_chart_set_log_x (TagsightChart *self, gboolean log_x)
{
  g_return_if_fail (TAGSIGHT_IS_CHART (self));
  self->log_x = !!log_x;
  changed (self, FALSE);
}

void
tagsight_chart_set_axis_titles (TagsightChart *self, const char *x_title, const char *y_title)
{
  g_return_if_fail (TAGSIGHT_IS_CHART (self));
  g_free (self->x_title);
  g_free (self->y_title);
  self->x_title = g_strdup (x_title);
  self->y_title = g_strdup (y_title);
  changed (self, TRUE);
}

void
tagsight_chart_set_x_range (TagsightChart *self, double lo, double hi)
{
  g_return_if_fail (TAGSIGHT_IS_CHART (self));
  self->x_lo = lo;
  self->x_hi = hi;
  changed (self, FALSE);
}

void
tagsight_chart_set_y_range (TagsightChart *self, double lo, double hi)
{
  g_return_if_fail (TAGSIGHT_IS_CHART (self));
  self->y_lo = lo;
  self->y_hi = hi;
  changed (self, FALSE);
}

void
tagsight_chart_add_marker (TagsightChart *self, double x, const char *label, const GdkRGBA *color)
{
  Marker m = { x, g_strdup (label), { 0.5, 0.5, 0.5, 1 } };

  g_return_if_fail (TAGSIGHT_IS_CHART (self));
  if (color != NULL)
    m.color = *color;
  g_array_append_val (self->markers, m);
  changed (self, FALSE);
}

void
tagsight_chart_clear_markers (TagsightChart *self)
{
  g_return_if_fail (TAGSIGHT_IS_CHART (self));
  g_array_set_size (self->markers, 0);
  changed (self, FALSE);
}

void
tagsight_chart_set_threshold_visible (TagsightChart *self, gboolean visible)
{
  g_return_if_fail (TAGSIGHT_IS_CHART (self));
  self->threshold_visible = !!visible;
  changed (self, FALSE);
}

void
tagsight_chart_set_threshold (TagsightChart *self, double x)
{
  g_return_if_fail (TAGSIGHT_IS_CHART (self));
  self->threshold = x;
  changed (self, FALSE);
}

double
tagsight_chart_get_threshold (TagsightChart *self)
{
  g_return_val_if_fail (TAGSIGHT_IS_CHART (self), 0);
  return self->threshold;
}

guint
tagsight_chart_get_n_series (TagsightChart *self)
{
  g_return_val_if_fail (TAGSIGHT_IS_CHART (self), 0);
  return self->series->len;
}

const char *
tagsight_chart_get_series_name (TagsightChart *self, guint series)
{
  g_return_val_if_fail (TAGSIGHT_IS_CHART (self) && series < self->series->len, NULL);
  return ((Series *) g_ptr_array_index (self->series, series))->name;
}

gsize
tagsight_chart_get_series_length (TagsightChart *self, guint series)
{
  g_return_val_if_fail (TAGSIGHT_IS_CHART (self) && series < self->series->len, 0);
  return ((Series *) g_ptr_array_index (self->series, series))->y->len;
}

guint
tagsight_chart_get_n_markers (TagsightChart *self)
{
  g_return_val_if_fail (TAGSIGHT_IS_CHART (self), 0);
  return self->markers->len;
}
