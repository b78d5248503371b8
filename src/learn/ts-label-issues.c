/* ts-label-issues.c: confident learning, one binary problem per class. */
#include "ts-label-issues.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *
ts_label_issue_kind_name (ts_label_issue_kind k)
{
  return k == TS_LABEL_ISSUE_MISSING ? "missing" : "spurious";
}

void
ts_label_report_clear (ts_label_report *r)
{
  free (r->thresh_pos);
  free (r->thresh_neg);
  free (r->confusion);
  free (r->joint);
  free (r->cooccur);
  free (r->item_loss);
  free (r->issues);
  memset (r, 0, sizeof *r);
}

static int
issue_cmp (const void *a, const void *b)
{
  const ts_label_issue *x = a, *y = b;

  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  if (x->item != y->item)
    return x->item < y->item ? -1 : 1;
  return (x->cls > y->cls) - (x->cls < y->cls);
}

ts_status
ts_label_issues_find (const float *probs, const float *given, int n, int n_classes,
                      double decision_thresh, ts_label_report *out)
{
  const int c = n_classes;
  double *sum_pos = NULL, *sum_neg = NULL;
  int64_t *n_pos = NULL;
  int cap = 0;

  memset (out, 0, sizeof *out);
  if (n < 0 || c < 1)
    return ts_error (TS_ERR_INVALID, "label issues: %d items of %d classes", n, c);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < c; k++)
      {
        float p = probs[(int64_t) i * c + k];
        if (!(p >= 0.0f && p <= 1.0f))
          return ts_error (TS_ERR_INVALID, "label issues: item %d, class %d: probability %g is "
                           "not in [0, 1]", i, k, (double) p);
      }
  out->n_items = n;
  out->n_classes = c;
  out->thresh_pos = calloc ((size_t) c, sizeof (double));
  out->thresh_neg = calloc ((size_t) c, sizeof (double));
  out->confusion = calloc ((size_t) c, sizeof (ts_label_counts));
  out->joint = calloc ((size_t) c, sizeof (ts_label_counts));
  out->cooccur = calloc ((size_t) c * c, sizeof (int64_t));
  out->item_loss = calloc ((size_t) (n > 0 ? n : 1), sizeof (double));
  sum_pos = calloc ((size_t) c, sizeof (double));
  sum_neg = calloc ((size_t) c, sizeof (double));
  n_pos = calloc ((size_t) c, sizeof (int64_t));
  if (!out->thresh_pos || !out->thresh_neg || !out->confusion || !out->joint || !out->cooccur
      || !out->item_loss || !sum_pos || !sum_neg || !n_pos)
    goto nomem;

  for (int i = 0; i < n; i++)
    {
      const float *p = probs + (int64_t) i * c, *g = given + (int64_t) i * c;
      double loss = 0.0;
      for (int k = 0; k < c; k++)
        {
          int y = g[k] > 0.5f, pred = p[k] > (float) decision_thresh;
          /* torch's BCE clamps the log at -100 */
          double lp = fmax (log ((double) p[k]), -100.0), lq = fmax (log1p (-(double) p[k]), -100.0);
          loss -= y ? lp : lq;
          if (y)
            {
              sum_pos[k] += p[k];
              n_pos[k]++;
              for (int j = 0; j < c; j++)
                if (g[j] > 0.5f)
                  out->cooccur[(int64_t) k * c + j]++;
            }
          else
            sum_neg[k] += p[k];
          if (y && pred)
            out->confusion[k].tp++;
          else if (y)
            out->confusion[k].fn++;
          else if (pred)
            out->confusion[k].fp++;
          else
            out->confusion[k].tn++;
        }
      out->item_loss[i] = loss / c;
    }
  for (int k = 0; k < c; k++)
    {
      out->thresh_pos[k] = n_pos[k] > 0 ? sum_pos[k] / n_pos[k] : NAN;
      out->thresh_neg[k] = n - n_pos[k] > 0 ? sum_neg[k] / (n - n_pos[k]) : NAN;
    }

  for (int i = 0; i < n; i++)
    for (int k = 0; k < c; k++)
      {
        double p = probs[(int64_t) i * c + k];
        double tp = out->thresh_pos[k], tn = out->thresh_neg[k];
        int y = given[(int64_t) i * c + k] > 0.5f;
        ts_label_issue is = { i, k, TS_LABEL_ISSUE_MISSING, (float) p, 0.0, 0.0, 0.0 };

        if (!y && !isnan (tp) && p >= tp)
          {
            is.threshold = tp;
            /* p == t_pos == 1 still flags: a perfect positive, with the smallest margin */
            is.margin = tp < 1.0 ? (p - tp) / (1.0 - tp) : 0.0;
            is.score = p;
            out->joint[k].fp++;
          }
        else if (y && !isnan (tn) && p <= tn)
          {
            is.kind = TS_LABEL_ISSUE_SPURIOUS;
            is.threshold = tn;
            is.margin = tn > 0.0 ? (tn - p) / tn : 0.0;
            is.score = 1.0 - p;
            out->joint[k].fn++;
          }
        else
          {
            if (y)
              out->joint[k].tp++;
            else
              out->joint[k].tn++;
            continue;
          }
        if (out->n_issues == cap)
          {
            int ncap = cap ? 2 * cap : 64;
            ts_label_issue *ni = realloc (out->issues, (size_t) ncap * sizeof *ni);
            if (!ni)
              goto nomem;
            out->issues = ni;
            cap = ncap;
          }
        out->issues[out->n_issues++] = is;
      }
  if (out->n_issues > 1)
    qsort (out->issues, (size_t) out->n_issues, sizeof *out->issues, issue_cmp);
  free (sum_pos);
  free (sum_neg);
  free (n_pos);
  return TS_OK;

nomem:
  free (sum_pos);
  free (sum_neg);
  free (n_pos);
  ts_label_report_clear (out);
  return ts_error (TS_ERR_NOMEM, "label issues: out of memory for %d items", n);
}

typedef struct {
  double loss;
  int item;
} loss_entry;

static int
loss_cmp (const void *a, const void *b)
{
  const loss_entry *x = a, *y = b;
  if (x->loss != y->loss)
    return x->loss > y->loss ? -1 : 1;
  return (x->item > y->item) - (x->item < y->item);
}

int *
ts_label_report_top_losses (const ts_label_report *r)
{
  size_t n = (size_t) (r->n_items > 0 ? r->n_items : 1);
  loss_entry *e = malloc (n * sizeof *e);
  int *idx = malloc (n * sizeof (int));

  if (!e || !idx)
    {
      free (e);
      free (idx);
      return NULL;
    }
  for (int i = 0; i < r->n_items; i++)
    e[i] = (loss_entry) { r->item_loss[i], i };
  qsort (e, (size_t) r->n_items, sizeof *e, loss_cmp);
  for (int i = 0; i < r->n_items; i++)
    idx[i] = e[i].item;
  free (e);
  return idx;
}
