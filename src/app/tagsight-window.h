/* tagsight-window.h: the main window: the pages in a view stack, the
 * window actions (open, save, demo, re-roll, train, stop, export) and drag and drop of
 * CSVs and projects. */
#pragma once

#include <adwaita.h>

#include "tagsight-batch-page.h"
#include "tagsight-data-page.h"
#include "tagsight-export-page.h"
#include "tagsight-inspect-page.h"
#include "tagsight-results-page.h"
#include "tagsight-runs-page.h"
#include "tagsight-store.h"
#include "tagsight-train-page.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_WINDOW (tagsight_window_get_type ())
G_DECLARE_FINAL_TYPE (TagsightWindow, tagsight_window, TAGSIGHT, WINDOW, AdwApplicationWindow)

TagsightWindow *tagsight_window_new (AdwApplication *app);
void tagsight_window_open_csv (TagsightWindow *self, const char *path);
/* The same with the images in @image_dir (NULL: beside the CSV, as found). */
void tagsight_window_open_csv_with_images (TagsightWindow *self, const char *path,
                                           const char *image_dir);
/* A CSV, or a project (*.tagsight) by its suffix. */
void tagsight_window_open (TagsightWindow *self, const char *path);
/* Generates the demo data set on first use (with progress), then opens it. */
void tagsight_window_open_demo (TagsightWindow *self);
/* Shows page @name ("start", "data", "batch", "train", "results", "export",
 * "runs", "labels");
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

/* --- projects (tagsight-window-project.c) --- */

/* Opens a project and restores where the user was in it (data set, page,
 * runs, inspected run); asks for the new place of a data set that moved. */
void tagsight_window_open_project (TagsightWindow *self, const char *path);
/* Save As: a new project at @path with the open data set, or a copy of the
 * open project that becomes the open one.  FALSE with a toast on failure. */
gboolean tagsight_window_save_project_as (TagsightWindow *self, const char *path);
/* The data set's CSV is now in @folder (what the "moved" dialog's folder
 * chooser answers): the project points there, keeping every run and edit,
 * and the data set is opened from there. */
gboolean tagsight_window_relocate_dataset (TagsightWindow *self, gint64 dataset_id,
                                           const char *folder, GError **error);
TagsightProject *tagsight_window_get_project (TagsightWindow *self);
TagsightRunsPage *tagsight_window_get_runs_page (TagsightWindow *self);
TagsightInspectPage *tagsight_window_get_inspect_page (TagsightWindow *self);
/* The run being recorded in the project, 0 when none. */
gint64 tagsight_window_get_recording_run (TagsightWindow *self);
/* FALSE, after a toast saying so (the banner's Save As is the way out), when
 * the open project is read-only: what starting a run, which would be
 * recorded in it, checks first.  TRUE with no project or a writable one. */
gboolean tagsight_window_check_project_writable (TagsightWindow *self);

/* Where the demo data set lives: user data dir/tagsight/demo. */
char *tagsight_demo_dir (void);

G_END_DECLS
