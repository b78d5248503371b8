/* tagsight-matrix.c: the heat map of counts (see tagsight-matrix.h). */
#include "tagsight-matrix.h"

#include <math.h>

#include "tagsight-text.h"

#define MIN_CELL 18
#define NAT_CELL 34
#define MAX_CELL 56

struct _TagsightMatrix
{
  GtkWidget parent_instance;

  int n;
  char **names;
  gint64 *values;
};

G_DEFINE_FINAL_TYPE (TagsightMatrix, tagsight_matrix, GTK_TYPE_WIDGET)

/* The room the names take: on the left for rows, above for the columns
 * (written upwards). */
static int
names_width (TagsightMatrix *self)
{
  int w = 0;

  for (int i = 0; i < self->n; i++)
    w = MAX (w, tagsight_text_width (GTK_WIDGET (self), self->names[i], NULL));
  return w + 8;
}

static void
tagsight_matrix_snapshot (GtkWidget *widget, GtkSnapshot *snapshot)
{
  TagsightMatrix *self = TAGSIGHT_MATRIX (widget);
  int width = gtk_widget_get_width (widget), height = gtk_widget_get_height (widget);
  int margin = names_width (self), th;
  double cell;
  gint64 max_off = 0, max_diag = 0;
  GdkRGBA fg;
  cairo_t *cr;

  if (self->n == 0 || width <= margin || height <= margin)
    return;
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_style_context_get_color (gtk_widget_get_style_context (widget), &fg);
  G_GNUC_END_IGNORE_DEPRECATIONS
  cell = MIN ((double) (width - margin) / self->n, (double) (height - margin) / self->n);
  cell = MIN (floor (cell), MAX_CELL);
  for (int a = 0; a < self->n; a++)
    for (int b = 0; b < self->n; b++)
      {
        gint64 v = self->values[(gsize) a * self->n + b];

        if (a == b)
          max_diag = MAX (max_diag, v);
        else
          max_off = MAX (max_off, v);
      }
  tagsight_text_width (widget, "0", &th);
  cr = gtk_snapshot_append_cairo (snapshot, &GRAPHENE_RECT_INIT (0, 0, width, height));
  for (int a = 0; a < self->n; a++)
    for (int b = 0; b < self->n; b++)
      {
        gint64 v = self->values[(gsize) a * self->n + b];
        double x = margin + b * cell, y = margin + a * cell;
        /* pairs on the accent colour; the diagonal (items per class) grey,
         * on its own scale, so it does not wash the pairs out */
        double f = a == b ? (max_diag > 0 ? (double) v / max_diag : 0)
                          : (max_off > 0 ? (double) v / max_off : 0);

        if (a == b)
          cairo_set_source_rgba (cr, fg.red, fg.green, fg.blue, 0.08 + 0.35 * f);
        else
          cairo_set_source_rgba (cr, 0.21, 0.52, 0.89, v > 0 ? 0.12 + 0.83 * f : 0.04);
        cairo_rectangle (cr, x + 1, y + 1, cell - 2, cell - 2);
        cairo_fill (cr);
        if (cell >= th + 4 && v > 0)
          {
            char buf[24];

            g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, v);
            if (tagsight_text_width (widget, buf, NULL) <= cell - 4)
              {
                if (a != b && f > 0.6)
                  cairo_set_source_rgb (cr, 1, 1, 1);
                else
                  gdk_cairo_set_source_rgba (cr, &fg);
                tagsight_show_text (widget, cr, buf, x + cell / 2, y + cell / 2, 0.5, 0.5);
              }
          }
      }
  gdk_cairo_set_source_rgba (cr, &fg);
  for (int i = 0; i < self->n; i++)
    {
      tagsight_show_text (widget, cr, self->names[i], margin - 6, margin + (i + 0.5) * cell, 1,
                          0.5);
      cairo_save (cr);
      cairo_translate (cr, margin + (i + 0.5) * cell, margin - 6);
      cairo_rotate (cr, -G_PI / 2);
      tagsight_show_text (widget, cr, self->names[i], 0, 0, 0, 0.5);
      cairo_restore (cr);
    }
  cairo_destroy (cr);
}

static void
tagsight_matrix_measure (GtkWidget *widget, GtkOrientation orientation, int for_size,
                         int *minimum, int *natural, int *minimum_baseline,
                         int *natural_baseline)
{
  TagsightMatrix *self = TAGSIGHT_MATRIX (widget);
  int margin = self->n > 0 ? names_width (self) : 0;

  *minimum = margin + self->n * MIN_CELL;
  *natural = margin + self->n * NAT_CELL;
}

void
tagsight_matrix_set_data (TagsightMatrix *self, const char *const *names, int n,
                          const gint64 *values)
{
  g_strfreev (self->names);
  g_free (self->values);
  self->n = n;
  self->names = g_new0 (char *, n + 1);
  for (int i = 0; i < n; i++)
    self->names[i] = g_strdup (names[i]);
  self->values = g_memdup2 (values, sizeof (gint64) * n * n);
  gtk_widget_queue_resize (GTK_WIDGET (self));
}

int
tagsight_matrix_get_n (TagsightMatrix *self)
{
  return self->n;
}

gint64
tagsight_matrix_get_value (TagsightMatrix *self, int row, int column)
{
  g_return_val_if_fail (row >= 0 && row < self->n && column >= 0 && column < self->n, 0);
  return self->values[(gsize) row * self->n + column];
}

static void
tagsight_matrix_finalize (GObject *object)
{
  TagsightMatrix *self = TAGSIGHT_MATRIX (object);

  g_strfreev (self->names);
  g_free (self->values);
  G_OBJECT_CLASS (tagsight_matrix_parent_class)->finalize (object);
}

static void
tagsight_matrix_class_init (TagsightMatrixClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = tagsight_matrix_finalize;
  widget_class->snapshot = tagsight_matrix_snapshot;
  widget_class->measure = tagsight_matrix_measure;
  gtk_widget_class_set_css_name (widget_class, "tagsight-matrix");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_IMG);
}

static void
tagsight_matrix_init (TagsightMatrix *self)
{
}

GtkWidget *
tagsight_matrix_new (void)
{
  return g_object_new (TAGSIGHT_TYPE_MATRIX, NULL);
}
