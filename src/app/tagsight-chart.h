/* tagsight-chart.h: one chart widget for every page: line series, grouped
 * horizontal bars over categories, an optional log x axis, vertical marker
 * lines and a draggable threshold line.  Drawn with Cairo through
 * GtkSnapshot; long series are decimated to the plot's width. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_CHART (tagsight_chart_get_type ())
G_DECLARE_FINAL_TYPE (TagsightChart, tagsight_chart, TAGSIGHT, CHART, GtkWidget)

GtkWidget *tagsight_chart_new (void);

void  tagsight_chart_clear (TagsightChart *self);
/* Both return the series index.  @color NULL picks from the palette. */
guint tagsight_chart_add_line (TagsightChart *self, const char *name, const double *x,
                               const double *y, gsize n, const GdkRGBA *color, double width);
void  tagsight_chart_append_point (TagsightChart *self, guint series, double x, double y);
/* Drops a line's last points past @x_max (its x grows: a live series). */
void  tagsight_chart_truncate_line (TagsightChart *self, guint series, double x_max);
/* One value per category (tagsight_chart_set_categories); several bar
 * series are drawn side by side in each category's row. */
guint tagsight_chart_add_bars (TagsightChart *self, const char *name, const double *values,
                               gsize n, const GdkRGBA *color);
void  tagsight_chart_set_categories (TagsightChart *self, const char *const *names, int n);

void  tagsight_chart_set_log_x (TagsightChart *self, gboolean log_x);
void  tagsight_chart_set_axis_titles (TagsightChart *self, const char *x_title,
                                      const char *y_title);
/* NAN bounds mean "fit the data". */
void  tagsight_chart_set_x_range (TagsightChart *self, double lo, double hi);
void  tagsight_chart_set_y_range (TagsightChart *self, double lo, double hi);

void  tagsight_chart_add_marker (TagsightChart *self, double x, const char *label,
                                 const GdkRGBA *color);
void  tagsight_chart_clear_markers (TagsightChart *self);

/* The draggable line; "threshold-changed" (double) fires when the user
 * moves it (not when set from code). */
void   tagsight_chart_set_threshold_visible (TagsightChart *self, gboolean visible);
void   tagsight_chart_set_threshold (TagsightChart *self, double x);
double tagsight_chart_get_threshold (TagsightChart *self);

/* The x value under widget coordinate @px, and back: the drag math, public
 * so tests can check it.  Valid after the widget was laid out. */
double tagsight_chart_pixel_to_x (TagsightChart *self, double px);
double tagsight_chart_x_to_pixel (TagsightChart *self, double x);

/* What is drawn, for tests and accessible descriptions. */
guint       tagsight_chart_get_n_series (TagsightChart *self);
const char *tagsight_chart_get_series_name (TagsightChart *self, guint series);
gsize       tagsight_chart_get_series_length (TagsightChart *self, guint series);
guint       tagsight_chart_get_n_markers (TagsightChart *self);

G_END_DECLS
