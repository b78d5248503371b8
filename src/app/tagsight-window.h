/* tagsight-window.h: the main window: the pages in a view stack, the
 * window actions (open, demo, re-roll) and drag and drop of CSVs. */
#pragma once

#include <adwaita.h>

#include "tagsight-batch-page.h"
#include "tagsight-data-page.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_WINDOW (tagsight_window_get_type ())
G_DECLARE_FINAL_TYPE (TagsightWindow, tagsight_window, TAGSIGHT, WINDOW, AdwApplicationWindow)

TagsightWindow *tagsight_window_new (AdwApplication *app);
void tagsight_window_open_csv (TagsightWindow *self, const char *path);
/* Generates the demo data set on first use (with progress), then opens it. */
void tagsight_window_open_demo (TagsightWindow *self);
/* Shows page @name ("start", "data", "batch"); a data page is shown as soon
 * as data is loaded. */
void tagsight_window_set_page (TagsightWindow *self, const char *name);
const char *tagsight_window_get_page (TagsightWindow *self);
TagsightDataPage *tagsight_window_get_data_page (TagsightWindow *self);
TagsightBatchPage *tagsight_window_get_batch_page (TagsightWindow *self);
void tagsight_window_toast (TagsightWindow *self, const char *message);

/* Where the demo data set lives: user data dir/tagsight/demo. */
char *tagsight_demo_dir (void);

G_END_DECLS
