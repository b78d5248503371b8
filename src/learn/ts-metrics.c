/* ts-metrics.c: metrics with fastai's and scikit-learn's definitions. */
#include "ts-metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double
ts_accuracy_multi (const float *scores, const float *targets, int n, int c,
                   double thresh, int sigmoid)
{
  int64_t right = 0, total = (int64_t) n * c;
  /* float32 throughout, as torch compares a float tensor with a Python float */
  const float th = (float) thresh;

  for (int64_t i = 0; i < total; i++)
    {
      float p = sigmoid ? 1.0f / (1.0f + expf (-scores[i])) : scores[i];
      int pred = p > th;
      right += pred == (targets[i] > 0.5f);
    }
  return total ? (double) right / total : 0.0;
}

double
ts_hamming_loss (const float *probs, const float *targets, int n, int c, double thresh)
{
  return n > 0 && c > 0 ? 1.0 - ts_accuracy_multi (probs, targets, n, c, thresh, 0) : 0.0;
}

double
ts_all_negative_baseline (const float *targets, int n, int c)
{
  int64_t zeros = 0, total = (int64_t) n * c;

  for (int64_t i = 0; i < total; i++)
    zeros += !(targets[i] > 0.5f);
  return total ? (double) zeros / total : 0.0;
}

static double
safe_div (double a, double b)
{
  return b > 0.0 ? a / b : 0.0;
}

static void
prf_finish (ts_prf *p)
{
  p->support = p->tp + p->fn;
  p->precision = safe_div ((double) p->tp, (double) (p->tp + p->fp));
  p->recall = safe_div ((double) p->tp, (double) (p->tp + p->fn));
  p->f1 = safe_div (2.0 * p->precision * p->recall, p->precision + p->recall);
}

void
ts_prf_at (const float *probs, const float *targets, int n, int c, double thresh,
           ts_prf *per_class, ts_prf *micro, ts_prf *macro)
{
  ts_prf mi = { 0 }, ma = { 0 };
  const float th = (float) thresh;

  for (int k = 0; k < c; k++)
    {
      ts_prf p = { 0 };
      for (int i = 0; i < n; i++)
        {
          int pred = probs[(int64_t) i * c + k] > th;
          int pos = targets[(int64_t) i * c + k] > 0.5f;
          p.tp += pred && pos;
          p.fp += pred && !pos;
          p.fn += !pred && pos;
        }
      prf_finish (&p);
      if (per_class)
        per_class[k] = p;
      mi.tp += p.tp;
      mi.fp += p.fp;
      mi.fn += p.fn;
      ma.tp += p.tp;
      ma.fp += p.fp;
      ma.fn += p.fn;
      ma.precision += p.precision;
      ma.recall += p.recall;
      ma.f1 += p.f1;
    }
  prf_finish (&mi);
  ma.support = ma.tp + ma.fn;
  if (c > 0)
    {
      ma.precision /= c;
      ma.recall /= c;
      ma.f1 /= c;
    }
  if (micro)
    *micro = mi;
  if (macro)
    *macro = ma;
}

typedef struct {
  float score;
  int index;
} scored;

static int
cmp_scored_desc (const void *a, const void *b)
{
  const scored *x = a, *y = b;

  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  return x->index - y->index;
}

/* Precision and recall at every distinct threshold, highest first, as
 * sklearn's precision_recall_curve (before its reversal).  Returns the
 * number of points, 0 without positives, -1 out of memory. */
static int
pr_points (const float *scores, const float *targets, int n, int stride,
           double **prec_out, double **rec_out)
{
  scored *s = malloc ((size_t) (n > 0 ? n : 1) * sizeof *s);
  double *prec = malloc ((size_t) (n > 0 ? n : 1) * sizeof *prec);
  double *rec = malloc ((size_t) (n > 0 ? n : 1) * sizeof *rec);
  int64_t n_pos = 0, tp = 0;
  int m = 0;

  if (!s || !prec || !rec)
    {
      free (s);
      free (prec);
      free (rec);
      return -1;
    }
  for (int i = 0; i < n; i++)
    {
      s[i].score = scores[(int64_t) i * stride];
      s[i].index = i;
      n_pos += targets[(int64_t) i * stride] > 0.5f;
    }
  if (n_pos == 0)
    {
      free (s);
      free (prec);
      free (rec);
      *prec_out = *rec_out = NULL;
      return 0;
    }
  qsort (s, (size_t) n, sizeof *s, cmp_scored_desc);
  for (int i = 0; i < n; i++)
    {
      tp += targets[(int64_t) s[i].index * stride] > 0.5f;
      /* a point closes a run of equal scores */
      if (i == n - 1 || s[i + 1].score != s[i].score)
        {
          prec[m] = (double) tp / (i + 1);
          rec[m] = (double) tp / n_pos;
          m++;
        }
    }
  free (s);
  *prec_out = prec;
  *rec_out = rec;
  return m;
}

double
ts_average_precision (const float *scores, const float *targets, int n, int stride)
{
  double *prec, *rec, ap = 0.0, last_r = 0.0;
  int m = pr_points (scores, targets, n, stride, &prec, &rec);

  if (m <= 0)
    return NAN;
  for (int k = 0; k < m; k++)
    {
      ap += (rec[k] - last_r) * prec[k];
      last_r = rec[k];
    }
  free (prec);
  free (rec);
  return ap;
}

double
ts_average_precision_voc07 (const float *scores, const float *targets, int n, int stride)
{
  double *prec, *rec, ap = 0.0;
  int m = pr_points (scores, targets, n, stride, &prec, &rec);

  if (m <= 0)
    return NAN;
  for (int t = 0; t <= 10; t++)
    {
      double best = 0.0;
      for (int k = 0; k < m; k++)
        if (rec[k] >= t / 10.0 - 1e-12 && prec[k] > best)
          best = prec[k];
      ap += best / 11.0;
    }
  free (prec);
  free (rec);
  return ap;
}

void
ts_metrics_report_clear (ts_metrics_report *r)
{
  free (r->per_class);
  free (r->ap);
  free (r->ap_voc07);
  memset (r, 0, sizeof *r);
}

ts_status
ts_metrics_compute (const float *probs, const float *targets, int n, int c,
                    double thresh, ts_metrics_report *out)
{
  int counted = 0;

  memset (out, 0, sizeof *out);
  if (n < 0 || c <= 0)
    return ts_error (TS_ERR_INVALID, "metrics: %d items of %d classes", n, c);
  out->n = n;
  out->n_classes = c;
  out->thresh = thresh;
  out->per_class = calloc ((size_t) c, sizeof *out->per_class);
  out->ap = calloc ((size_t) c, sizeof *out->ap);
  out->ap_voc07 = calloc ((size_t) c, sizeof *out->ap_voc07);
  if (!out->per_class || !out->ap || !out->ap_voc07)
    {
      ts_metrics_report_clear (out);
      return ts_error (TS_ERR_NOMEM, "metrics: out of memory");
    }
  out->accuracy_multi = ts_accuracy_multi (probs, targets, n, c, thresh, 0);
  out->hamming_loss = ts_hamming_loss (probs, targets, n, c, thresh);
  out->all_negative_baseline = ts_all_negative_baseline (targets, n, c);
  ts_prf_at (probs, targets, n, c, thresh, out->per_class, &out->micro, &out->macro);
  for (int k = 0; k < c; k++)
    {
      out->ap[k] = ts_average_precision (probs + k, targets + k, n, c);
      out->ap_voc07[k] = ts_average_precision_voc07 (probs + k, targets + k, n, c);
      if (!isnan (out->ap[k]))
        {
          out->map += out->ap[k];
          out->map_voc07 += out->ap_voc07[k];
          counted++;
        }
    }
  if (counted)
    {
      out->map /= counted;
      out->map_voc07 /= counted;
    }
  else
    out->map = out->map_voc07 = NAN;
  return TS_OK;
}
