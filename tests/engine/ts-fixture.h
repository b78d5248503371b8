/* ts-fixture.h: reader for the op fixtures written by tests/reference/make_op_fixtures.py
 * ("TSFX0001", count, then name / dims / float32 data records), and comparison helpers. */
#pragma once

#include <glib.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ts-test.h"

typedef struct {
  char *name;
  int ndim;
  int64_t shape[4];
  int64_t numel;
  float *data;
} ts_fx_array;

typedef struct {
  GPtrArray *arrays;
} ts_fx;

static inline void
ts_fx_array_free (gpointer p)
{
  ts_fx_array *a = p;
  g_free (a->name);
  g_free (a->data);
  g_free (a);
}

static inline ts_fx *
ts_fx_load (const char *rel)
{
  char *path = ts_test_fixture_path (rel);
  gchar *buf = NULL;
  gsize len = 0, off = 0;
  GError *error = NULL;
  ts_fx *fx;
  uint32_t count;

  g_file_get_contents (path, &buf, &len, &error);
  g_assert_no_error (error);
  g_assert_true (len >= 12 && memcmp (buf, "TSFX0001", 8) == 0);
  off = 8;
  memcpy (&count, buf + off, 4);
  off += 4;
  fx = g_new0 (ts_fx, 1);
  fx->arrays = g_ptr_array_new_with_free_func (ts_fx_array_free);
  for (uint32_t i = 0; i < count; i++)
    {
      ts_fx_array *a = g_new0 (ts_fx_array, 1);
      uint32_t nlen, ndim;
      g_assert_cmpuint (off + 4, <=, len);
      memcpy (&nlen, buf + off, 4);
      off += 4;
      g_assert_cmpuint (off + nlen + 4, <=, len);
      a->name = g_strndup (buf + off, nlen);
      off += nlen;
      memcpy (&ndim, buf + off, 4);
      off += 4;
      g_assert_cmpuint (ndim, >=, 1);
      g_assert_cmpuint (ndim, <=, 4);
      a->ndim = (int) ndim;
      a->numel = 1;
      g_assert_cmpuint (off + 8 * ndim, <=, len);
      for (uint32_t d = 0; d < 4; d++)
        a->shape[d] = 1;
      for (uint32_t d = 0; d < ndim; d++)
        {
          memcpy (&a->shape[d], buf + off, 8);
          off += 8;
          a->numel *= a->shape[d];
        }
      g_assert_cmpuint (off + 4 * (gsize) a->numel, <=, len);
      a->data = g_new (float, a->numel > 0 ? a->numel : 1);
      memcpy (a->data, buf + off, 4 * (gsize) a->numel);
      off += 4 * (gsize) a->numel;
      g_ptr_array_add (fx->arrays, a);
    }
  g_assert_cmpuint (off, ==, len);
  g_free (buf);
  g_free (path);
  return fx;
}

static inline void
ts_fx_free (ts_fx *fx)
{
  g_ptr_array_unref (fx->arrays);
  g_free (fx);
}

/* NULL when absent */
static inline const ts_fx_array *
ts_fx_find (const ts_fx *fx, const char *name)
{
  for (guint i = 0; i < fx->arrays->len; i++)
    {
      const ts_fx_array *a = g_ptr_array_index (fx->arrays, i);
      if (strcmp (a->name, name) == 0)
        return a;
    }
  return NULL;
}

static inline const ts_fx_array *
ts_fx_get (const ts_fx *fx, const char *name)
{
  const ts_fx_array *a = ts_fx_find (fx, name);
  if (a == NULL)
    g_error ("fixture has no array '%s'", name);
  return a;
}

/* Compares @n values; passes when |got-want| <= atol + rtol*|want| everywhere.
 * Reports the max absolute and relative error. */
static inline void
ts_assert_close (const char *what, const float *got, const float *want, int64_t n,
                 double atol, double rtol)
{
  double max_abs = 0.0, max_rel = 0.0;
  int64_t worst = -1;

  for (int64_t i = 0; i < n; i++)
    {
      double d = fabs ((double) got[i] - (double) want[i]);
      double r = d / (fabs ((double) want[i]) + 1e-12);
      if (!(d <= atol + rtol * fabs ((double) want[i])) && worst < 0)
        worst = i;
      if (d > max_abs || isnan (d))
        max_abs = isnan (d) ? INFINITY : d;
      if (r > max_rel && fabs ((double) want[i]) > atol)
        max_rel = r;
    }
  g_test_message ("%s: %" G_GINT64_FORMAT " values, max abs err %.3g, max rel err %.3g",
                  what, n, max_abs, max_rel);
  if (worst >= 0)
    g_error ("%s: element %" G_GINT64_FORMAT " is %.8g, expected %.8g (atol %g rtol %g)",
             what, worst, got[worst], want[worst], atol, rtol);
}
