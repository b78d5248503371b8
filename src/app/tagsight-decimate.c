/* tagsight-decimate.c: min/max decimation (see tagsight-decimate.h). */
#include "tagsight-decimate.h"

#include <math.h>

gsize
tagsight_decimate_minmax (const double *x, const double *y, gsize n, double x0, double x1,
                          guint buckets, double *out_x, double *out_y)
{
  gsize out = 0, i = 0;
  double span = x1 - x0;

  if (buckets == 0)
    return 0;
  if (n <= 2 * (gsize) buckets || !(span > 0))
    {
      for (i = 0; i < n && out < 2 * (gsize) buckets; i++)
        if (isfinite (y[i]))
          {
            out_x[out] = x[i];
            out_y[out] = y[i];
            out++;
          }
      return out;
    }

  while (i < n && out + 2 <= 2 * (gsize) buckets)
    {
      double pos = (x[i] - x0) / span * buckets;
      gint64 b = pos < 0 ? 0 : pos >= buckets ? buckets - 1 : (gint64) pos;
      gsize lo = G_MAXSIZE, hi = G_MAXSIZE;

      /* gather the run of points that fall into bucket b */
      for (; i < n; i++)
        {
          double p = (x[i] - x0) / span * buckets;
          gint64 bi = p < 0 ? 0 : p >= buckets ? buckets - 1 : (gint64) p;

          if (bi != b)
            break;
          if (!isfinite (y[i]))
            continue;
          if (lo == G_MAXSIZE || y[i] < y[lo])
            lo = i;
          if (hi == G_MAXSIZE || y[i] > y[hi])
            hi = i;
        }
      if (lo == G_MAXSIZE)
        continue;
      if (lo == hi)
        {
          out_x[out] = x[lo];
          out_y[out++] = y[lo];
        }
      else
        {
          gsize a = MIN (lo, hi), c = MAX (lo, hi);

          out_x[out] = x[a];
          out_y[out++] = y[a];
          out_x[out] = x[c];
          out_y[out++] = y[c];
        }
    }
  return out;
}
