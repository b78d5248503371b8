/* ts-metrics.h: multi-label metrics on probabilities, with fastai's and
 * scikit-learn's definitions.
 *
 * Inputs are host arrays: @probs [n, c] row-major scores (probabilities, or
 * logits where a function takes @sigmoid), @targets [n, c] of 0/1. */
#pragma once

#include <stdint.h>

#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* fastai accuracy_multi: mean of ((sigmoid(x) if sigmoid else x) > thresh) == targ. */
double ts_accuracy_multi (const float *scores, const float *targets, int n, int c,
                          double thresh, int sigmoid);
/* fraction of wrong labels at @thresh (= 1 - accuracy_multi on probabilities). */
double ts_hamming_loss (const float *probs, const float *targets, int n, int c, double thresh);
/* accuracy of predicting no label at all: the fraction of zero targets. */
double ts_all_negative_baseline (const float *targets, int n, int c);

typedef struct {
  int64_t tp, fp, fn, support;   /* support = tp + fn */
  double precision, recall, f1;  /* 0 where the denominator is 0 (sklearn zero_division=0) */
} ts_prf;

/* Per class (@per_class: c entries, may be NULL), micro (pooled counts) and
 * macro (unweighted mean over classes of the per-class values) at @thresh. */
void ts_prf_at (const float *probs, const float *targets, int n, int c, double thresh,
                ts_prf *per_class, ts_prf *micro, ts_prf *macro);

/* scikit-learn average_precision_score for one column (element i at
 * scores[i * stride]): sum over distinct score thresholds, highest first, of
 * (R_k - R_{k-1}) * P_k.  NaN when the column has no positive. */
double ts_average_precision (const float *scores, const float *targets, int n, int stride);
/* PASCAL VOC2007 11-point AP: mean over t = 0, 0.1, ..., 1 of the best
 * precision at recall >= t, on the same points.  NaN with no positive. */
double ts_average_precision_voc07 (const float *scores, const float *targets, int n, int stride);

typedef struct {
  int n, n_classes;
  double thresh;
  double accuracy_multi;
  double hamming_loss;
  double all_negative_baseline;
  ts_prf micro, macro;
  ts_prf *per_class;        /* [n_classes] */
  double *ap;               /* [n_classes], NaN for a class without positives */
  double *ap_voc07;         /* [n_classes] */
  double map;               /* mean of ap over classes that have positives */
  double map_voc07;
} ts_metrics_report;

ts_status ts_metrics_compute (const float *probs, const float *targets, int n, int c,
                              double thresh, ts_metrics_report *out);
void ts_metrics_report_clear (ts_metrics_report *r);

#ifdef __cplusplus
}
#endif
