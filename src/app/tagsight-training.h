/* tagsight-training.h: the app's handle on one ts_session: training, the
 * LR finder, get_preds and saving run on a worker thread, one at a time; the
 * learner's events come back on the main context as signals.
 *
 * Signals (all on the main thread):
 *   "phase"    (const ts_phase_event *)
 *   "batch"    (const ts_batch_event *)
 *   "epoch"    (const ts_epoch_event *)
 *   "finished" (int ts_status, const char *message or NULL): the run ended;
 *              TS_ERR_CANCELLED after a stop, with the last completed epoch's
 *              weights put back when one completed. */
#pragma once

#include <gio/gio.h>

#include "ts-learner.h"
#include "ts-lr-find.h"
#include "ts-session.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_TRAINING (tagsight_training_get_type ())
G_DECLARE_FINAL_TYPE (TagsightTraining, tagsight_training, TAGSIGHT, TRAINING, GObject)

/* Everything a session is built from, with owned strings. */
typedef struct {
  char *csv, *arch, *pretrained, *model_file;
  char *fname_col, *labels_col, *label_delim, *image_dir, *split_col;
  char *device;                /* "auto" (NULL), "cpu", "cuda", "cuda:N" */
  /* the precision asked for (ts_precision): bf16 where the device has it,
   * float32 elsewhere (the CPU), so that it can be asked for on "auto" */
  int precision;
  int split;                   /* ts_split_kind */
  double valid_pct;
  int has_mapping;
  int epochs, freeze_epochs, bs, size, threads;
  double lr, min_scale, thresh;
  int aug;                     /* ts_aug_preset */
  guint64 seed;
} TagsightTrainSettings;

void tagsight_train_settings_init (TagsightTrainSettings *s);
void tagsight_train_settings_clear (TagsightTrainSettings *s);

/* Validation predictions, as get_preds gives them. */
typedef struct {
  int n, n_classes;
  float *probs, *targets;      /* [n, n_classes] */
  char **vocab;                /* n_classes names */
  double loss;
  double thresh;               /* the threshold training reported at */
} TagsightPreds;

void tagsight_preds_free (TagsightPreds *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TagsightPreds, tagsight_preds_free)

TagsightTraining *tagsight_training_new (void);

/* Whether a job runs (training, the LR finder, an evaluation, an open);
 * the "busy" property, notified when a job begins and when it ends. */
gboolean tagsight_training_get_busy (TagsightTraining *self);
/* Whether a session with a model is open (after a run, a stop or an open;
 * FALSE while a run or an open replaces it). */
gboolean tagsight_training_has_model (TagsightTraining *self);
/* What the last opened session computes on, e.g. "NVIDIA H200 (sm_90, ...)"
 * or "CPU (8 threads)", with " (bf16)" when its model stores activations in
 * bfloat16 (ts_session_describe_device); NULL before any.  Safe while a job
 * runs. */
char *tagsight_training_dup_device_name (TagsightTraining *self);
/* Main thread: how many of the last run's bfloat16 convolution calls ran
 * in float32 because cuDNN has no bfloat16 algorithm for their layer
 * (slower, not wrong; ts_backend_bf16_fallbacks); 0 before any run. */
long tagsight_training_get_bf16_fallbacks (TagsightTraining *self);
/* Whether that device also resizes and augments the images (a GPU, where the
 * loader threads then only decode). */
gboolean tagsight_training_get_device_resample (TagsightTraining *self);

/* Opens a fresh session from @settings and runs fine_tune; "finished" tells
 * the end.  Returns FALSE (and does nothing) when busy.  "starting"
 * (TagsightTrainSettings *) is emitted first, on the calling thread: a
 * handler may name where this run's checkpoints go
 * (tagsight_training_set_run_checkpoint). */
gboolean tagsight_training_start (TagsightTraining *self, const TagsightTrainSettings *settings);
/* The same, continuing from @checkpoint (an epoch-end checkpoint of a run
 * with the same settings, possibly on another device): the run skips the
 * phases and epochs done and ends as the uninterrupted run would. */
gboolean tagsight_training_resume (TagsightTraining *self, const TagsightTrainSettings *settings,
                                   const char *checkpoint);
/* For the run being started (call from a "starting" handler): write its
 * epoch checkpoints to @path, tagged with @run_id and @run_started (the
 * project's run: its number and start), and keep the file when the run
 * ends.  Without this call the checkpoints go to a scratch file.
 *
 * A resume checks whose checkpoint it continues from before anything
 * changes (ts_checkpoint_check_owner) and ends with "finished"
 * (TS_ERR_INVALID, a message naming the file) when it is not the run's:
 * the last run's own checkpoint (Continue) must name the run that wrote it,
 * any other (the Runs page's Resume) the run given here. */
void tagsight_training_set_run_checkpoint (TagsightTraining *self, const char *path,
                                           gint64 run_id, const char *run_started);
/* The checkpoint the last run left to continue from (it stopped or failed
 * after at least one epoch), NULL when none. */
char *tagsight_training_dup_resumable (TagsightTraining *self);
/* The project's run that checkpoint names (tagsight_training_set_run_checkpoint),
 * 0 when none: a run not recorded in a project. */
gint64 tagsight_training_get_resumable_run (TagsightTraining *self);
/* A copy of the settings of the last opened session (clear it after use);
 * FALSE when there is none or a job runs. */
gboolean tagsight_training_dup_last_settings (TagsightTraining *self, TagsightTrainSettings *out);
/* Asks the run to stop at the end of the current batch. */
void tagsight_training_stop (TagsightTraining *self);
/* Asks the run to stop once the current epoch has ended and its checkpoint
 * is written (nothing of the epoch is thrown away; Continue goes on from it). */
void tagsight_training_stop_after_epoch (TagsightTraining *self);
/* Asks the run started last to stop, as Stop does, once it has done @n
 * batches: decided on the training thread, so the stop lands on a known
 * batch however late the main loop hears of them (the tests' Stop). */
void tagsight_training_stop_at_batch (TagsightTraining *self, int n);
/* Makes the run started last fail once it has done @n batches, as when its
 * GPU is lost (out of memory, a launch failure): the backend records a
 * TS_ERR_DEVICE failure saying @message, and the run ends with it.  For the
 * tests of what the app does then; decided on the training thread, as
 * tagsight_training_stop_at_batch.  Call it once a run. */
void tagsight_training_fail_at_batch (TagsightTraining *self, int n, const char *message);

/* Opens a fresh session from @settings (a model file in settings->model_file,
 * or a fresh model) without training. */
void tagsight_training_open_async (TagsightTraining *self, const TagsightTrainSettings *settings,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer user_data);
gboolean tagsight_training_open_finish (TagsightTraining *self, GAsyncResult *result,
                                        GError **error);

/* Runs lr_find on a session of its own built from @settings (the open
 * session, a trained model say, is left alone); the result is a ts_lr_find_result * owned by the
 * GTask (valid until the callback returns). */
void tagsight_training_lr_find_async (TagsightTraining *self,
                                      const TagsightTrainSettings *settings,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data);
/* Returns a borrowed result or NULL with @error. */
const ts_lr_find_result *tagsight_training_lr_find_finish (TagsightTraining *self,
                                                           GAsyncResult *result,
                                                           GError **error);

/* get_preds on the validation set of the open session. */
void tagsight_training_get_preds_async (TagsightTraining *self, GCancellable *cancellable,
                                        GAsyncReadyCallback callback, gpointer user_data);
TagsightPreds *tagsight_training_get_preds_finish (TagsightTraining *self, GAsyncResult *result,
                                                   GError **error);

/* Writes the model file of the open session.  @best_thresh < 0: none;
 * @class_thresh: NULL or one per class (copied). */
void tagsight_training_save_async (TagsightTraining *self, const char *path, double best_thresh,
                                   const float *class_thresh, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
gboolean tagsight_training_save_finish (TagsightTraining *self, GAsyncResult *result,
                                        GError **error);

/* The same as an ONNX file (finish with tagsight_training_save_finish);
 * fails when the build has no ONNX export. */
gboolean tagsight_training_can_export_onnx (void);
void tagsight_training_export_onnx_async (TagsightTraining *self, const char *path,
                                          double best_thresh, const float *class_thresh,
                                          GCancellable *cancellable,
                                          GAsyncReadyCallback callback, gpointer user_data);

#define TAGSIGHT_TRAINING_ERROR (tagsight_training_error_quark ())
GQuark tagsight_training_error_quark (void);

G_END_DECLS
