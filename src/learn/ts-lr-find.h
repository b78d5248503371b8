/* ts-lr-find.h: fastai's lr_find (LRFinder callback) and its suggestions. */
#pragma once

#include "ts-learner.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  double start_lr;   /* 1e-7 */
  double end_lr;     /* 10 */
  int num_it;        /* 100 (at least 6, as fastai) */
  int stop_div;      /* 1: stop when the smoothed loss exceeds 4x its minimum */
} ts_lr_find_config;

void ts_lr_find_config_init (ts_lr_find_config *cfg);

typedef struct {
  int n;             /* recorded points */
  double *lrs;       /* the last group's lr at each step (all groups share it) */
  double *losses;    /* smoothed loss at each step */
  double valley;     /* fastai's default suggestion; NaN when too few points */
  int valley_idx;    /* index into lrs/losses */
  double steep;
  int steep_idx;
  int diverged;      /* stopped because the loss blew up */
} ts_lr_find_result;

/* Trains with an exponentially growing lr (SchedExp(start_lr, end_lr) at
 * pos = step / num_it), recording the smoothed loss; stops after num_it steps
 * or on divergence; then puts the weights, BN statistics and optimizer state
 * back as they were.  Batch events have phase 0 and phase name "lr_find". */
ts_status ts_learner_lr_find (ts_learner *l, const ts_lr_find_config *cfg,
                              ts_lr_find_result *out);
void ts_lr_find_result_clear (ts_lr_find_result *r);

/* The suggestions on a recorded curve, as fastai computes them on
 * lrs[num_it//10 : -5] and losses[num_it//10 : -5] cut at the first NaN.
 * Indices are into the full arrays.  Returns 0 when too few points remain. */
int ts_lr_suggest (const double *lrs, const double *losses, int n, int num_it,
                   double *valley, int *valley_idx, double *steep, int *steep_idx);

/* fastai's valley (longest decreasing run, 2/3 down it... its exact index rule)
 * and steep (steepest descent in log lr) on arrays already sliced. */
int ts_lr_valley (const double *lrs, const double *losses, int n);
int ts_lr_steep (const double *lrs, const double *losses, int n);

#ifdef __cplusplus
}
#endif
