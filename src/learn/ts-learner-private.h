/* ts-learner-private.h: what lr_find shares with the Learner's loops. */
#pragma once

#include <stdatomic.h>

#include "ts-clock.h"
#include "ts-learner.h"

struct ts_learner {
  ts_model *model;
  ts_backend *be;
  ts_data_source train, valid;
  int has_valid;
  ts_learner_config cfg;
  ts_optimizer *opt;
  ts_learner_events events;
  atomic_int cancel;

  int n_classes;
  ts_tensor *x, *y, *dlogits;   /* [bs,3,H,W], [bs,C], [bs,C] on the backend */
  float *host_logits;           /* [bs,C] */
  ts_tensor **buffer_mirror;    /* copies of the BN buffers before each step */
  ts_tensor **buffer_live;      /* the BN buffers themselves, for ts_backend_copy_many */
  const ts_tensor **check;      /* the step's trainable gradients, for the finite check */
  int *check_param;             /* their parameter indices */
  int epochs_seen;              /* epochs handed to the train source so far (shuffle seeds) */
  double train_images, train_seconds;
  /* A resume point set by ts_checkpoint_apply (ts-checkpoint.c): the next
   * fit skips whole phases before resume_phase and starts that phase at
   * resume_epoch, with the smoothed loss and the Adam state it had there
   * (the state is put back here, after fine_tune's freeze/unfreeze). */
  int resume_set, resume_phase, resume_epoch;
  double resume_smooth_val;
  int resume_smooth_count;
  struct ts_optimizer_snapshot *resume_opt;   /* borrowed */
};

/* fastai's AvgSmoothLoss: val = lerp(loss, val, beta); value = val / (1 - beta^count). */
typedef struct {
  double beta, val;
  int count;
} ts_smooth_loss;

static inline void
ts_smooth_loss_reset (ts_smooth_loss *s)
{
  s->beta = 0.98;
  s->val = 0.0;
  s->count = 0;
}

double ts_smooth_loss_add (ts_smooth_loss *s, double loss);

/* BCEWithLogits of @logits against @y, then the backward pass from @dlogits
 * (its gradient, written here); *loss receives the loss.  With a backend that
 * can queue the loss (a GPU), the backward pass is queued before the loss is
 * read back, so the device never waits for the host in between; then a
 * non-finite loss is reported after the backward pass, whose gradients must
 * not be used.  TS_ERR_NUMERIC for a NaN or infinite loss. */
ts_status ts_loss_and_backward (ts_model *m, ts_tensor *logits, const ts_tensor *y,
                                ts_tensor *dlogits, float *loss);

/* One training step (forward, BCE, backward, finite checks, Adam) on @b with
 * the optimizer's current lrs; *loss receives the batch loss.  On a non-finite
 * loss or gradient nothing is updated and the BN running statistics are put back. */
ts_status ts_learner_train_step (ts_learner *l, const ts_batch *b, double *loss);

/* Host copies of every parameter and buffer, to put a model back (lr_find). */
typedef struct ts_model_snapshot ts_model_snapshot;
ts_status ts_model_snapshot_new (ts_model *m, ts_model_snapshot **out);
ts_status ts_model_snapshot_restore (ts_model *m, const ts_model_snapshot *s);
void ts_model_snapshot_free (ts_model_snapshot *s);

void ts_learner_emit_failed (ts_learner *l, ts_status st);
