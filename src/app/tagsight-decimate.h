/* tagsight-decimate.h: reducing a long series to what a chart can show, so
 * that redrawing 100,000 training losses stays cheap. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Min/max decimation of a series whose x ascends: [x0, x1] is cut into
 * @buckets columns and each keeps its lowest and highest point, in their
 * original order, so spikes survive.  Non-finite y are skipped.  Writes at
 * most 2 * @buckets points (or n, when n is smaller) and returns the count. */
gsize tagsight_decimate_minmax (const double *x, const double *y, gsize n, double x0, double x1,
                                guint buckets, double *out_x, double *out_y);

G_END_DECLS
