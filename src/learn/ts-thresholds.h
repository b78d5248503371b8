/* ts-thresholds.h: decision-threshold sweeps (the chapter's linspace(0.05, ...)
 * plot) with the best threshold per metric, globally and per class. */
#pragma once

#include "ts-metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TS_SWEEP_COARSE_N 29   /* linspace(0.05, 0.99, 29) */
#define TS_SWEEP_FINE_N 99     /* linspace(0.01, 0.99, 99) */

/* numpy.linspace(lo, hi, n) */
void ts_linspace (double lo, double hi, int n, double *out);
void ts_sweep_coarse (double *out);   /* TS_SWEEP_COARSE_N values */
void ts_sweep_fine (double *out);     /* TS_SWEEP_FINE_N values */

typedef struct {
  double thresh;
  double value;
} ts_best;

typedef struct {
  int n_thresh, n_classes;
  double *thresh;          /* [n_thresh] */
  double *accuracy;        /* accuracy_multi, [n_thresh] */
  double *f1_micro;        /* [n_thresh] */
  double *f1_macro;        /* [n_thresh] */
  double *class_f1;        /* [n_thresh * n_classes], row = threshold */
  double *class_accuracy;  /* [n_thresh * n_classes] */

  /* the first (lowest) threshold reaching the maximum, like numpy.argmax */
  ts_best best_accuracy, best_f1_micro, best_f1_macro;
  ts_best *best_class_f1;        /* [n_classes] */
  ts_best *best_class_accuracy;  /* [n_classes] */
} ts_threshold_sweep;

ts_status ts_threshold_sweep_run (const float *probs, const float *targets, int n, int c,
                                  const double *thresh, int n_thresh, ts_threshold_sweep *out);
void ts_threshold_sweep_clear (ts_threshold_sweep *s);

#ifdef __cplusplus
}
#endif
