/* tagsight-runs-page.h: the Runs page: the project's training runs in a
 * table (status, dates, recipe, final metrics), newest first; the loss
 * curves of the selected runs overlaid on one chart (select two to compare).
 *
 * Actions (group "runs"): inspect (the selected run's labels), resume (the
 * selected run, unfinished with a checkpoint: killed, stopped or failed).
 * Signals: "inspect" (gint64 run id), "resume" (gint64 run id). */
#pragma once

#include <adwaita.h>

#include "tagsight-chart.h"
#include "tagsight-store.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_RUNS_PAGE (tagsight_runs_page_get_type ())
G_DECLARE_FINAL_TYPE (TagsightRunsPage, tagsight_runs_page, TAGSIGHT, RUNS_PAGE, GtkWidget)

/* @project NULL empties the page. */
void tagsight_runs_page_set_project (TagsightRunsPage *self, TagsightProject *project);
/* Reads the runs again, keeping the selection. */
void tagsight_runs_page_reload (TagsightRunsPage *self);

guint tagsight_runs_page_get_n_runs (TagsightRunsPage *self);
/* The run shown in table row @row (newest first). */
gint64 tagsight_runs_page_get_run_id (TagsightRunsPage *self, guint row);
/* The text of a cell (columns as shown: run, status, started, time, recipe,
 * device, epochs, train loss, valid loss, accuracy). */
char *tagsight_runs_page_dup_cell (TagsightRunsPage *self, guint row, guint column);
/* Selects the runs in @ids (and only those); the chart follows. */
void tagsight_runs_page_select_runs (TagsightRunsPage *self, const gint64 *ids, guint n);
/* The selected run ids, newest first (g_array_unref). */
GArray *tagsight_runs_page_get_selected (TagsightRunsPage *self);
TagsightChart *tagsight_runs_page_get_chart (TagsightRunsPage *self);

G_END_DECLS
