/* tagsight-text.h: measuring a label for the Cairo-drawn widgets. */
#pragma once

#include <gtk/gtk.h>

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
