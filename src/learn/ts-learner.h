/* ts-learner.h: fastai's Learner: a model, its data, an optimizer and the
 * training loops (fit_one_cycle, fine_tune), validation and get_preds.
 *
 * Every loop reports through one ts_learner_events table, the interface the
 * CLI and the GTK app share.  Callbacks run on the training thread; the app
 * hands them to its main context itself. */
#pragma once

#include <stddef.h>   /* before ts-loader.h, which uses size_t without it */
#include <stdint.h>

#include "ts-loader.h"
#include "ts-model.h"
#include "ts-optimizer.h"
#include "ts-schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where batches come from: a ts_loader (ts_data_source_from_loader) or, in
 * tests, batches held in memory.  Batches use ts_loader's ts_batch. */
typedef struct {
  void *self;
  int (*n_batches) (void *self);
  int (*n_items) (void *self);
  ts_status (*start_epoch) (void *self, int epoch);
  ts_status (*next) (void *self, ts_batch **out);   /* *out = NULL at the end */
  void (*release) (void *self, ts_batch *b);
} ts_data_source;

void ts_data_source_from_loader (ts_loader *loader, ts_data_source *out);

typedef struct {
  int phase;                    /* 0-based fit number within fine_tune / lr_find */
  int epoch, n_epochs;          /* within the phase */
  int batch, n_batches;         /* within the epoch */
  int step;                     /* within the phase (the schedule's position) */
  int rows;                     /* images in this batch */
  double loss;                  /* this batch */
  double smooth_loss;           /* fastai's AvgSmoothLoss (beta 0.98, debiased) */
  int n_groups;
  double lr[TS_MAX_GROUPS];     /* per parameter group, used for this batch */
  double mom;
} ts_batch_event;

typedef struct {
  int phase;
  int epoch, n_epochs;
  double train_loss;            /* the smoothed loss at the end of the epoch, as fastai shows */
  double valid_loss;            /* NaN without a validation set */
  double accuracy_multi;        /* at the learner's threshold; NaN without a validation set */
  double seconds;               /* training + validation */
  double train_images_per_s;
  /* where the seconds went: training waiting for the loader's next batch
   * (> 0 when the loader cannot keep up), and the validation pass */
  double wait_seconds, valid_seconds;
} ts_epoch_event;

typedef struct {
  int phase, n_phases;
  const char *name;             /* "frozen", "unfrozen", "fit", "lr_find" */
  int n_epochs;
  int frozen;
} ts_phase_event;

typedef struct {
  void *user;
  void (*phase_begin) (void *user, const ts_phase_event *ev);
  void (*batch_end) (void *user, const ts_batch_event *ev);
  void (*epoch_end) (void *user, const ts_epoch_event *ev);
  /* the loop ended: TS_OK, or TS_ERR_CANCELLED after ts_learner_cancel */
  void (*finished) (void *user, ts_status status);
  /* the loop stopped on an error; @message is also ts_last_error () */
  void (*failed) (void *user, ts_status status, const char *message);
} ts_learner_events;

typedef struct {
  int batch_size;               /* largest batch either source yields */
  int height, width;
  double thresh;                /* accuracy_multi threshold (the chapter's 0.2) */
  ts_adam_config adam;
  /* 1 (the default): freeze and unfreeze zero Adam's averages and step
   * counts, as fastai does (Learner.freeze_to calls opt.clear_state()), so
   * fine_tune's unfrozen phase starts from a fresh optimizer state.  Issue 3's
   * text says the state is "kept"; fastai's code clears it and we follow
   * fastai.  0 keeps the state across the phases. */
  int clear_state_on_freeze;
} ts_learner_config;

void ts_learner_config_init (ts_learner_config *cfg);   /* bs 64, 128 px, thresh 0.2 */

typedef struct ts_learner ts_learner;

/* Borrows @model and the sources (@valid may be NULL).  Prepares the model's
 * buffers for cfg->batch_size and creates the optimizer. */
ts_status ts_learner_new (ts_model *model, const ts_data_source *train,
                          const ts_data_source *valid, const ts_learner_config *cfg,
                          ts_learner **out);
void ts_learner_free (ts_learner *l);

void ts_learner_set_events (ts_learner *l, const ts_learner_events *events);
ts_model *ts_learner_model (ts_learner *l);
ts_optimizer *ts_learner_optimizer (ts_learner *l);

/* Asks the running loop to stop at the end of the current batch.
 * Async-signal-safe: the CLI calls it from its SIGINT handler. */
void ts_learner_cancel (ts_learner *l);
int ts_learner_cancelled (const ts_learner *l);
void ts_learner_reset_cancel (ts_learner *l);

/* fastai's freeze / unfreeze (batch norm stays trainable). */
void ts_learner_freeze (ts_learner *l);
void ts_learner_unfreeze (ts_learner *l);

typedef struct {
  double pct_start;   /* 0.25 */
  double div;         /* 25 */
  double div_final;   /* 1e5 */
} ts_fit_options;

void ts_fit_options_init (ts_fit_options *o);

/* fit_one_cycle(n_epoch, lr_max, ...): @opts NULL gives fastai's defaults.
 * Returns TS_ERR_CANCELLED when cancelled (the weights are those of the last
 * finished batch) and TS_ERR_NUMERIC on a NaN/Inf loss or gradient (message
 * names the epoch and batch; the weights are those before that batch). */
ts_status ts_learner_fit_one_cycle (ts_learner *l, int n_epoch, ts_lr_slice lr,
                                    const ts_fit_options *opts);

/* fastai fine_tune(epochs, base_lr, freeze_epochs):
 *   freeze(); fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99)
 *   base_lr /= 2; unfreeze()
 *   fit_one_cycle(epochs, slice(base_lr/100, base_lr), pct_start=0.3, div=5) */
ts_status ts_learner_fine_tune (ts_learner *l, int epochs, double base_lr, int freeze_epochs);

/* Mean loss over the validation set (weighted by batch size, as fastai's
 * AvgLoss) and accuracy_multi at the learner's threshold. */
ts_status ts_learner_validate (ts_learner *l, double *loss, double *accuracy);

/* fastai get_preds: sigmoid probabilities and targets, [n, n_classes] each,
 * in the source's order (malloc'ed; free them).  @src NULL: the validation set.
 * @items (may be NULL) receives the datablock item index of each row.
 * ts_learner_cancel stops it (TS_ERR_CANCELLED, nothing returned); a cancel
 * left over from a stopped fit stops it too: ts_learner_reset_cancel first. */
ts_status ts_learner_get_preds (ts_learner *l, const ts_data_source *src, float **probs,
                                float **targets, int **items, int *n, double *loss);

/* Training images per second over the last fit (training batches only). */
double ts_learner_train_images_per_s (const ts_learner *l);

#ifdef __cplusplus
}
#endif
