/* tagsight-inspect-page.h: label inspection for one run: the label-issue
 * suggestions of its validation predictions, ranked, each with Accept /
 * Reject (a label edit in the project, undoable with Ctrl+Z / Ctrl+Shift+Z);
 * the validation images by loss (top losses) with their predicted and given
 * labels; per-class 2x2 counts; the label co-occurrence matrix; Export
 * Corrected CSV.  On a read-only project everything is shown and the CSV
 * can be exported, but the edit buttons, Undo and Redo are greyed out and
 * a line in the header says that edits need a writable copy.
 *
 * Actions (group "inspect"): undo, redo, export, open-data.
 * Signals: "open-dataset" (const char *csv): the run's data set is not the
 * one open; "labels-changed" (): an edit, undo or redo. */
#pragma once

#include <adwaita.h>

#include "tagsight-dataset.h"
#include "tagsight-label-report.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_INSPECT_PAGE (tagsight_inspect_page_get_type ())
G_DECLARE_FINAL_TYPE (TagsightInspectPage, tagsight_inspect_page, TAGSIGHT, INSPECT_PAGE,
                      GtkWidget)

void tagsight_inspect_page_set_project (TagsightInspectPage *self, TagsightProject *project);
/* The data set open in the app (its datablock ties predictions to images). */
void tagsight_inspect_page_set_dataset (TagsightInspectPage *self, TagsightDataset *dataset);
void tagsight_inspect_page_set_run (TagsightInspectPage *self, gint64 run_id);
gint64 tagsight_inspect_page_get_run (TagsightInspectPage *self);

/* The report shown, NULL when none (no run, no predictions, another data set). */
TagsightLabelReport *tagsight_inspect_page_get_report (TagsightInspectPage *self);
/* Why there is none (NULL when there is one). */
const char *tagsight_inspect_page_get_message (TagsightInspectPage *self);
/* How many suggestions are listed (the best-ranked ones). */
int tagsight_inspect_page_get_n_shown (TagsightInspectPage *self);
/* What the Accept and Reject buttons of suggestion @issue do (FALSE,
 * changing nothing, on a read-only project). */
gboolean tagsight_inspect_page_accept (TagsightInspectPage *self, int issue);
gboolean tagsight_inspect_page_reject (TagsightInspectPage *self, int issue);

G_END_DECLS
