/* ts-label-issues.h: a confident-learning label-issue finder for multi-label
 * data, run on out-of-sample predicted probabilities (validation predictions
 * or k-fold predictions for every item).
 *
 * Each class c is treated as its own binary problem, as confident learning
 * (Northcutt et al.) does for two classes:
 *   t_pos[c] = mean p[i][c] over items that carry c   (the typical confidence
 *              of the model on a true positive)
 *   t_neg[c] = mean p[i][c] over items that do not carry c
 * An item without c whose p >= t_pos[c] is as confident as a typical positive:
 * "probably missing label c".  An item with c whose p <= t_neg[c] looks like a
 * typical negative: "probably spurious label c".  (For an item given 0 the
 * confident-joint rule "p(1) >= t_1" is p >= t_pos; for an item given 1 the
 * rule "p(0) >= t_0", with t_0 = mean (1 - p) over items given 0, is
 * p <= t_neg.)  A class no item carries (or every item carries) has no
 * threshold for that side and flags nothing there.
 *
 * Ranking: by confident learning's self-confidence, the model's confidence
 * that the given label is wrong: p for a missing label, 1 - p for a spurious
 * one; ties broken by item, then class, so the order is deterministic.  (On
 * planted noise this put more of the flips at the top than ranking by the
 * normalised margin past the threshold, which each issue also carries:
 *   missing:  (p - t_pos) / (1 - t_pos)      spurious: (t_neg - p) / t_neg.) */
#pragma once

#include <stdint.h>

#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TS_LABEL_ISSUE_MISSING,    /* the item lacks the class but probably has it */
  TS_LABEL_ISSUE_SPURIOUS,   /* the item carries the class but probably should not */
} ts_label_issue_kind;

typedef struct {
  int item;                  /* row of the probability matrix */
  int cls;
  ts_label_issue_kind kind;
  float prob;                /* the model's probability of the class */
  double threshold;          /* t_pos or t_neg of the class */
  double score;              /* the ranking key: p (missing) or 1 - p (spurious) */
  double margin;             /* normalised margin past the threshold, in [0, 1] */
} ts_label_issue;

/* 2x2 counts of one class: given label (rows) against the model (columns). */
typedef struct {
  int64_t tp, fp, fn, tn;
} ts_label_counts;

typedef struct {
  int n_items, n_classes;
  double *thresh_pos;          /* [C]; NaN when no item carries the class */
  double *thresh_neg;          /* [C]; NaN when every item carries it */
  ts_label_counts *confusion;  /* [C]: prediction p > @decision_thresh */
  ts_label_counts *joint;      /* [C]: confident joint (tp/tn also count unflagged) */
  int64_t *cooccur;            /* [C*C]: items carrying both a and b (given labels);
                                  the diagonal counts items carrying a */
  double *item_loss;           /* [n]: mean binary cross-entropy of each item */
  ts_label_issue *issues;      /* ranked, best first */
  int n_issues;
} ts_label_report;

/* @probs and @given are [n][C] row-major; @given holds 0/1 (> 0.5 is 1).
 * Probabilities must be finite in [0, 1]; a bad value names its item and class. */
ts_status ts_label_issues_find (const float *probs, const float *given, int n, int n_classes,
                                double decision_thresh, ts_label_report *out);
void ts_label_report_clear (ts_label_report *r);

/* Item indices sorted by item_loss, highest first (fastai's top_losses);
 * malloc'ed, @n entries. */
int *ts_label_report_top_losses (const ts_label_report *r);

const char *ts_label_issue_kind_name (ts_label_issue_kind k);  /* "missing" / "spurious" */

#ifdef __cplusplus
}
#endif
