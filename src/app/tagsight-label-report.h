/* tagsight-label-report.h: what the label inspection view shows for one
 * run, without widgets: the run's recorded validation predictions tied to
 * the project's items (through the data set's datablock: prediction row ->
 * datablock item -> file name -> project item), the label-issue finder's
 * report on them (ts-label-issues.h: ranked suggestions, top losses, 2x2
 * counts per class, co-occurrence), each suggestion's state, and accepting
 * or rejecting one (a label edit in the project; a rejection is kept in the
 * project's settings). */
#pragma once

#include <glib.h>

#include "tagsight-store.h"
#include "ts-datablock.h"
#include "ts-label-issues.h"

G_BEGIN_DECLS

typedef enum {
  TAGSIGHT_SUGGESTION_OPEN,
  TAGSIGHT_SUGGESTION_ACCEPTED,   /* the item's labels now say what the suggestion says */
  TAGSIGHT_SUGGESTION_REJECTED,
} TagsightSuggestionState;

typedef struct {
  TagsightProject *project;
  gint64 run_id, dataset_id;
  int n, n_classes;
  int *rows;                   /* [n] datablock item of each prediction row */
  float *probs, *targets;      /* [n][n_classes] */
  char **vocab;                /* n_classes names */
  double thresh;               /* the run's decision threshold */
  ts_label_report report;
  int *top_losses;             /* [n] prediction rows, highest loss first */
  char **fnames;               /* [n] */
  gint64 *item_ids;            /* [n] project item, 0 when the project lacks it */
  char **labels;               /* [n] current labels (the project's, after edits) */
  GHashTable *rejected;        /* "fname\tclass\tkind" */
} TagsightLabelReport;

/* Reads run @run_id's predictions from @project and ties them to @db, the
 * run's data set as loaded now.  Fails when the run has no predictions or
 * the data set no longer matches them (another class count, fewer items). */
TagsightLabelReport *tagsight_label_report_new (TagsightProject *project, gint64 run_id,
                                                const ts_datablock *db, GError **error);
void tagsight_label_report_free (TagsightLabelReport *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TagsightLabelReport, tagsight_label_report_free)

/* Re-reads the items' current labels (after an edit, undo or redo). */
gboolean tagsight_label_report_refresh (TagsightLabelReport *r, GError **error);

TagsightSuggestionState tagsight_label_report_get_state (TagsightLabelReport *r, int issue);
/* Writes the suggestion as a label edit (source "label-issues"). */
gboolean tagsight_label_report_accept (TagsightLabelReport *r, int issue, GError **error);
/* Marks it rejected (or open again), kept in the project. */
gboolean tagsight_label_report_reject (TagsightLabelReport *r, int issue, gboolean rejected,
                                       GError **error);
/* Whether prediction row @row's current labels include class @cls. */
gboolean tagsight_label_report_has_label (TagsightLabelReport *r, int row, int cls);

G_END_DECLS
