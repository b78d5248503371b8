/* ts-preds.h: a model's predictions over a CSV's items, as fastai's
 * get_preds on a DataLoader of the validation transform: what the CLI's
 * thresholds and label-issues commands share.  The CSV's labels are matched
 * to the model's vocab by name (a CSV may lack classes or add some), and
 * images that cannot be read are skipped and counted. */
#pragma once

#include "ts-datablock.h"
#include "ts-model.h"
#include "ts-modelfile.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TS_PREDS_AUTO,    /* the validation items when there are any, else every item */
  TS_PREDS_VALID,   /* the validation items; an error when there are none */
  TS_PREDS_ALL,     /* every item (training ones are in-sample) */
} ts_preds_rows;

typedef struct {
  int n, n_classes;        /* rows; the model's classes */
  int *items;              /* datablock item of each row */
  float *probs;            /* [n, n_classes] sigmoid probabilities, the model's order */
  float *targets;          /* [n, n_classes] the CSV's labels in the model's vocab */
  double loss;             /* mean BCE with logits over n * n_classes */
  int valid_rows;          /* 1: the rows are the validation items; 0: every item */
  int n_unknown_classes;   /* classes of the CSV the model does not have (ignored) */
  int n_unmatched_labels;  /* labels of those classes the rows carry */
  int n_skipped;           /* images that could not be read */
  char skip_message[256];  /* the first of those errors ("" when none) */
} ts_preds;

/* Runs @m (loaded with @meta, square input) over @db's items chosen by @rows,
 * @bs images a batch, @threads decoding workers.  @cancel (may be NULL) is
 * polled between batches: non-zero stops with TS_ERR_CANCELLED.  Fails when no
 * image could be read.  Clear @out with ts_preds_clear (also after a failure). */
ts_status ts_model_get_preds (ts_model *m, const ts_modelfile_meta *meta, const ts_datablock *db,
                              ts_preds_rows rows, int bs, int threads, const volatile int *cancel,
                              ts_preds *out);
void ts_preds_clear (ts_preds *p);

#ifdef __cplusplus
}
#endif
