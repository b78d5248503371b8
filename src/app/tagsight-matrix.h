/* tagsight-matrix.h: a square matrix of counts over named classes drawn as
 * a heat map (Cairo through GtkSnapshot), row and column names on the
 * edges and the count in each cell when it fits: the label co-occurrence
 * matrix of the label inspection view. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_MATRIX (tagsight_matrix_get_type ())
G_DECLARE_FINAL_TYPE (TagsightMatrix, tagsight_matrix, TAGSIGHT, MATRIX, GtkWidget)

GtkWidget *tagsight_matrix_new (void);
/* @values: @n x @n, row-major (copied); @names: @n class names.  The
 * diagonal is shaded on its own scale: it counts items, not pairs. */
void tagsight_matrix_set_data (TagsightMatrix *self, const char *const *names, int n,
                               const gint64 *values);
int tagsight_matrix_get_n (TagsightMatrix *self);
gint64 tagsight_matrix_get_value (TagsightMatrix *self, int row, int column);

G_END_DECLS
