/* ts-thresholds.c: threshold sweeps. */
#include "ts-thresholds.h"

#include <stdlib.h>
#include <string.h>

void
ts_linspace (double lo, double hi, int n, double *out)
{
  if (n == 1)
    {
      out[0] = lo;
      return;
    }
  for (int i = 0; i < n; i++)
    out[i] = lo + (hi - lo) * i / (n - 1);
  if (n > 1)
    out[n - 1] = hi;
}

void
ts_sweep_coarse (double *out)
{
  ts_linspace (0.05, 0.99, TS_SWEEP_COARSE_N, out);
}

void
ts_sweep_fine (double *out)
{
  ts_linspace (0.01, 0.99, TS_SWEEP_FINE_N, out);
}

void
ts_threshold_sweep_clear (ts_threshold_sweep *s)
{
  free (s->thresh);
  free (s->accuracy);
  free (s->f1_micro);
  free (s->f1_macro);
  free (s->class_f1);
  free (s->class_accuracy);
  free (s->best_class_f1);
  free (s->best_class_accuracy);
  memset (s, 0, sizeof *s);
}

static void
best_update (ts_best *b, double thresh, double value, int first)
{
  if (first || value > b->value)
    {
      b->thresh = thresh;
      b->value = value;
    }
}

ts_status
ts_threshold_sweep_run (const float *probs, const float *targets, int n, int c,
                        const double *thresh, int n_thresh, ts_threshold_sweep *out)
{
  ts_prf *per_class;
  size_t nt = (size_t) n_thresh, nc = (size_t) c;

  memset (out, 0, sizeof *out);
  if (n_thresh <= 0 || c <= 0 || n < 0)
    return ts_error (TS_ERR_INVALID, "threshold sweep: needs thresholds and classes "
                     "(thresholds: %d, items: %d, classes: %d)", n_thresh, n, c);
  out->n_thresh = n_thresh;
  out->n_classes = c;
  out->thresh = malloc (nt * sizeof (double));
  out->accuracy = malloc (nt * sizeof (double));
  out->f1_micro = malloc (nt * sizeof (double));
  out->f1_macro = malloc (nt * sizeof (double));
  out->class_f1 = malloc (nt * nc * sizeof (double));
  out->class_accuracy = malloc (nt * nc * sizeof (double));
  out->best_class_f1 = calloc (nc, sizeof (ts_best));
  out->best_class_accuracy = calloc (nc, sizeof (ts_best));
  per_class = malloc (nc * sizeof *per_class);
  if (!out->thresh || !out->accuracy || !out->f1_micro || !out->f1_macro || !out->class_f1
      || !out->class_accuracy || !out->best_class_f1 || !out->best_class_accuracy || !per_class)
    {
      free (per_class);
      ts_threshold_sweep_clear (out);
      return ts_error (TS_ERR_NOMEM, "threshold sweep: out of memory");
    }

  for (int t = 0; t < n_thresh; t++)
    {
      ts_prf micro, macro;
      double th = thresh[t];
      int first = t == 0;

      out->thresh[t] = th;
      out->accuracy[t] = ts_accuracy_multi (probs, targets, n, c, th, 0);
      ts_prf_at (probs, targets, n, c, th, per_class, &micro, &macro);
      out->f1_micro[t] = micro.f1;
      out->f1_macro[t] = macro.f1;
      best_update (&out->best_accuracy, th, out->accuracy[t], first);
      best_update (&out->best_f1_micro, th, micro.f1, first);
      best_update (&out->best_f1_macro, th, macro.f1, first);
      for (int k = 0; k < c; k++)
        {
          /* per-class accuracy: right answers in column k */
          int64_t wrong = per_class[k].fp + per_class[k].fn;
          double acc = n ? 1.0 - (double) wrong / n : 0.0;
          out->class_f1[(size_t) t * nc + k] = per_class[k].f1;
          out->class_accuracy[(size_t) t * nc + k] = acc;
          best_update (&out->best_class_f1[k], th, per_class[k].f1, first);
          best_update (&out->best_class_accuracy[k], th, acc, first);
        }
    }
  free (per_class);
  return TS_OK;
}
