/* tagsight-window.h: the main window: the pages in a view stack, the
 * window actions (open, demo, re-roll, train, stop, export) and drag and drop of CSVs. */
#pragma once

#include <adwaita.h>

#include "tagsight-batch-page.h"
#include "tagsight-data-page.h"
#include "tagsight-export-page.h"
#include "tagsight-results-page.h"
#include "tagsight-train-page.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_WINDOW (tagsight_window_get_type ())
G_DECLARE_FINAL_TYPE (TagsightWindow, tagsight_window, TAGSIGHT, WINDOW, AdwApplicationWindow)

TagsightWindow *tagsight_window_new (AdwApplication *app);
void tagsight_window_open_csv (TagsightWindow *self, const char *path);
/* Generates the demo data set on first use (with progress), then opens it. */
void tagsight_window_open_demo (TagsightWindow *self);
/* Shows page @name ("start", "data", "batch", "train", "results", "export");
 * a page that is not available yet is shown as soon as it is (data loaded,
 * results in). */
void tagsight_window_set_page (TagsightWindow *self, const char *name);
const char *tagsight_window_get_page (TagsightWindow *self);
TagsightDataPage *tagsight_window_get_data_page (TagsightWindow *self);
TagsightBatchPage *tagsight_window_get_batch_page (TagsightWindow *self);
TagsightTrainPage *tagsight_window_get_train_page (TagsightWindow *self);
TagsightResultsPage *tagsight_window_get_results_page (TagsightWindow *self);
TagsightExportPage *tagsight_window_get_export_page (TagsightWindow *self);
/* Saves the model with the thresholds chosen on Results (a toast tells how it went). */
/* Starts training (with the Train page's settings) as soon as data is open. */
void tagsight_window_set_autostart (TagsightWindow *self, gboolean autostart);
/* Runs the LR finder as soon as data is open (instead of training). */
void tagsight_window_set_auto_lr_find (TagsightWindow *self, gboolean lr_find);
/* Predicts @images on the Export page once the first results are in. */
void tagsight_window_set_auto_predict (TagsightWindow *self, const char *const *images);
void tagsight_window_export (TagsightWindow *self, const char *path);
void tagsight_window_toast (TagsightWindow *self, const char *message);

/* Where the demo data set lives: user data dir/tagsight/demo. */
char *tagsight_demo_dir (void);

G_END_DECLS
