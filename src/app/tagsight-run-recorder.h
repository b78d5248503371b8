/* tagsight-run-recorder.h: records the app's training runs in a project the
 * way `tagsight-cli train --project` does: the recipe (the options and the
 * equivalent command-line arguments) and the device (the session's name for
 * it, e.g. "CPU (8 threads)") when the run begins,
 * one row per batch and per epoch as they arrive, and at the end the final
 * validation predictions, the model file (P-runN.safetensors beside the
 * project) and the status.
 *
 * It listens to the Train page's TagsightTraining.  A run begins when a
 * fine_tune starts ("starting") while a project is set, with its epoch
 * checkpoints beside the project (P-runN.ckpt) so that it can be resumed;
 * the window hands the run's end to tagsight_run_recorder_finish_async,
 * which fetches the predictions (and returns them, for the Results page).
 *
 * Signals: "run-changed" (gint64 run id): a run began, or its end was
 * recorded. */
#pragma once

#include <adwaita.h>

#include "tagsight-dataset.h"
#include "tagsight-store.h"
#include "tagsight-train-page.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_RUN_RECORDER (tagsight_run_recorder_get_type ())
G_DECLARE_FINAL_TYPE (TagsightRunRecorder, tagsight_run_recorder, TAGSIGHT, RUN_RECORDER,
                      GObject)

TagsightRunRecorder *tagsight_run_recorder_new (TagsightTrainPage *page);

/* Where the next runs go: @project (NULL: not recorded) and the data set
 * @dataset (the app's) is recorded as @dataset_id. */
void tagsight_run_recorder_set_target (TagsightRunRecorder *self, TagsightProject *project,
                                       gint64 dataset_id, TagsightDataset *dataset);
/* The run being recorded, until its end is written; 0 when none. */
gint64 tagsight_run_recorder_get_run (TagsightRunRecorder *self);
/* The next run that starts continues run @run_id of the project from its
 * checkpoint's position (@phase, @epoch) instead of beginning a new one; the
 * run is reopened there at the continued run's first event, so a resume
 * refused before it (a checkpoint that does not load) changes nothing.
 * 0 cancels a continuation that did not start. */
void tagsight_run_recorder_continue_run (TagsightRunRecorder *self, gint64 run_id, int phase,
                                         int epoch);

/* The training run ended with @status (a ts_status) and @message.  Returns
 * FALSE, doing nothing, when no project is set; otherwise records the end
 * and calls @callback with the validation predictions. */
gboolean tagsight_run_recorder_finish_async (TagsightRunRecorder *self, int status,
                                             const char *message, GAsyncReadyCallback callback,
                                             gpointer user_data);
/* The predictions (the caller owns them), NULL with @error when there are
 * none (no validation set, no model, a failed run). */
TagsightPreds *tagsight_run_recorder_finish_finish (TagsightRunRecorder *self,
                                                    GAsyncResult *result, GError **error);

/* Fills @s from a recorded run's recipe (its "args": the app's or the
 * CLI's train options); FALSE with @error for an option the app does not
 * know.  Clear @s after use. */
gboolean tagsight_train_settings_from_recipe (const char *recipe_json, TagsightTrainSettings *s,
                                              GError **error);
/* The recipe JSON of @s (also used by the tests). */
char *tagsight_run_recipe_json (const TagsightTrainSettings *s);

G_END_DECLS
