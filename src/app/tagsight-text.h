/* tagsight-text.h: measuring and drawing labels for the Cairo-drawn widgets. */
#pragma once

#include <gtk/gtk.h>
#include <math.h>

/* The width of @text in @widget's font, in pixels; its height in *@height
 * when not NULL. */
static inline int
tagsight_text_width (GtkWidget *widget, const char *text, int *height)
{
  g_autoptr (PangoLayout) layout = gtk_widget_create_pango_layout (widget, text);
  int w, h;

  pango_layout_get_pixel_size (layout, &w, &h);
  if (height != NULL)
    *height = h;
  return w;
}

/* Draws @text with its point (@align_x, @align_y) of its extent (0 left /
 * top, 1 right / bottom) at (@x, @y), on whole pixels. */
static inline void
tagsight_show_text (GtkWidget *widget, cairo_t *cr, const char *text, double x, double y,
                    double align_x, double align_y)
{
  g_autoptr (PangoLayout) layout = gtk_widget_create_pango_layout (widget, text);
  int w, h;

  pango_layout_get_pixel_size (layout, &w, &h);
  cairo_move_to (cr, round (x - align_x * w), round (y - align_y * h));
  pango_cairo_show_layout (cr, layout);
}
