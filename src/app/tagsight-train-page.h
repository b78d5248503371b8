/* tagsight-train-page.h: the Train page: fine_tune settings, the LR finder,
 * a live chart of the losses and the metric, fastai's epoch table and a
 * progress bar.  Training runs in a TagsightTraining, on a worker thread.
 *
 * Actions (group "train"): start, stop, continue (the last run from its last
 * completed epoch, after a stop or a failure, on the device chosen now),
 * lr-find, choose-weights, clear-weights.
 * Signals: "finished" (int ts_status, const char *message or NULL), after
 * the table and chart show the run's last epoch; "continue-run" (gint64
 * run id, const char *checkpoint; returns gboolean): Continue was pressed
 * for a run recorded in a project (its checkpoints name it); a handler that
 * continues it there, as the Runs page's Resume does, returns TRUE, else the
 * page continues it itself. */
#pragma once

#include <adwaita.h>

#include "tagsight-chart.h"
#include "tagsight-dataset.h"
#include "tagsight-training.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_TRAIN_PAGE (tagsight_train_page_get_type ())
G_DECLARE_FINAL_TYPE (TagsightTrainPage, tagsight_train_page, TAGSIGHT, TRAIN_PAGE, GtkWidget)

void tagsight_train_page_set_dataset (TagsightTrainPage *self, TagsightDataset *dataset);
TagsightTraining *tagsight_train_page_get_training (TagsightTrainPage *self);
/* Why no run may start or continue here (shown on the page, Start and
 * Continue greyed out), or NULL: a read-only project cannot record one. */
void tagsight_train_page_set_refusal (TagsightTrainPage *self, const char *why);

/* The settings shown (@out is cleared first), and back into the widgets
 * (csv and the mapping come from the dataset and are not shown). */
void tagsight_train_page_get_settings (TagsightTrainPage *self, TagsightTrainSettings *out);
void tagsight_train_page_set_settings (TagsightTrainPage *self,
                                       const TagsightTrainSettings *settings);
void tagsight_train_page_set_pretrained (TagsightTrainPage *self, const char *path);

gboolean tagsight_train_page_start (TagsightTrainPage *self);
/* Continues a run of @settings from @checkpoint (the Runs page's Resume),
 * on the device chosen on this page. */
gboolean tagsight_train_page_resume (TagsightTrainPage *self,
                                     const TagsightTrainSettings *settings,
                                     const char *checkpoint);
/* Stops this page's training or LR finder (not another page's evaluation). */
void tagsight_train_page_stop (TagsightTrainPage *self);
gboolean tagsight_train_page_get_busy (TagsightTrainPage *self);
/* Whether a run or the LR finder started here goes on (what Stop stops;
 * not an evaluation or an open, which end by themselves). */
gboolean tagsight_train_page_get_running (TagsightTrainPage *self);

/* For tests and the report: the epoch table, the charts, the frame times
 * measured while the last run trained, from its first batch on
 * (milliseconds between frame clock ticks). */
int tagsight_train_page_get_n_epoch_rows (TagsightTrainPage *self);
const char *tagsight_train_page_get_epoch_cell (TagsightTrainPage *self, int row, int column);
/* The device row's subtitle: the device of the run in progress or last run. */
const char *tagsight_train_page_get_device_text (TagsightTrainPage *self);
/* The status line under the controls: what the page last said of a run. */
const char *tagsight_train_page_get_status_text (TagsightTrainPage *self);
TagsightChart *tagsight_train_page_get_chart (TagsightTrainPage *self);
TagsightChart *tagsight_train_page_get_lr_chart (TagsightTrainPage *self);
double tagsight_train_page_get_lr (TagsightTrainPage *self);
void tagsight_train_page_get_frame_times (TagsightTrainPage *self, int *n_frames,
                                          double *mean_ms, double *max_ms);
/* The longest the main loop took to run a 10 ms timeout during the last run,
 * in milliseconds (10 when it never stalled). */
double tagsight_train_page_get_max_main_loop_gap (TagsightTrainPage *self);

G_END_DECLS
