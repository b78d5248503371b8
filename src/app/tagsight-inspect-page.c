/* tagsight-inspect-page.c: label inspection of a run (see
 * tagsight-inspect-page.h). */
#include "tagsight-inspect-page.h"

#include <glib/gi18n.h>
#include <math.h>

#include "tagsight-item.h"
#include "tagsight-matrix.h"
#include "tagsight-thumbnailer.h"
#include "tagsight-file-chooser.h"

/* list rows are widgets: the best-ranked few are what a user works through */
#define MAX_ISSUES 200
#define MAX_LOSSES 100
#define THUMB_SIDE 64

typedef struct {
  int issue;
  AdwActionRow *row;
  GtkWidget *accept, *reject, *restore, *state;
} IssueRow;

typedef struct {
  int pred_row;
  AdwActionRow *row;
} LossRow;

struct _TagsightInspectPage
{
  GtkWidget parent_instance;

  GtkStack *stack;
  AdwStatusPage *empty_page;
  GtkWidget *open_data_button;
  GtkLabel *title_label;
  GtkWidget *read_only_note;
  GtkLabel *issues_note;
  GtkLabel *losses_note;
  GtkLabel *class_note;
  GtkListBox *issues_list;
  GtkListBox *losses_list;
  GtkGrid *class_grid;
  TagsightMatrix *matrix;

  TagsightProject *project;
  TagsightDataset *dataset;
  gint64 run_id;
  char *run_csv;               /* the run's data set, when it is not the open one */
  char *message;
  TagsightLabelReport *report;
  TagsightThumbnailer *thumbnailer;
  GArray *issue_rows;          /* IssueRow */
  GArray *loss_rows;           /* LossRow */
};

G_DEFINE_FINAL_TYPE (TagsightInspectPage, tagsight_inspect_page, GTK_TYPE_WIDGET)

enum { SIGNAL_OPEN_DATASET, SIGNAL_LABELS_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* --- states after an edit ------------------------------------------------ */

static char *
predicted_labels (TagsightLabelReport *r, int row)
{
  g_autoptr (GString) s = g_string_new (NULL);

  for (int k = 0; k < r->n_classes; k++)
    if (r->probs[(gsize) row * r->n_classes + k] > r->thresh)
      g_string_append_printf (s, "%s%s", s->len ? " " : "", r->vocab[k]);
  return g_strdup (s->len ? s->str : C_("labels", "(none)"));
}

/* Label edits are written to the project: a read-only one shows its edits
 * and everything that only reads (the lists, the table, the exported CSV,
 * written elsewhere), but takes no new ones; its copy (Save As) does. */
static gboolean
read_only (TagsightInspectPage *self)
{
  return self->project != NULL && tagsight_project_is_read_only (self->project);
}

static const char *
read_only_message (void)
{
  return _("Label edits need a writable copy of this read-only project: Save As makes one.");
}

static void
update_actions (TagsightInspectPage *self)
{
  GtkWidget *w = GTK_WIDGET (self);
  gboolean editable = self->project != NULL && !read_only (self);

  gtk_widget_action_set_enabled (w, "inspect.undo", editable
                                 && tagsight_project_can_undo (self->project));
  gtk_widget_action_set_enabled (w, "inspect.redo", editable
                                 && tagsight_project_can_redo (self->project));
  gtk_widget_action_set_enabled (w, "inspect.export", self->report != NULL);
}

static void
update_issue_row (TagsightInspectPage *self, IssueRow *ir)
{
  TagsightLabelReport *r = self->report;
  const ts_label_issue *is = &r->report.issues[ir->issue];
  TagsightSuggestionState state = tagsight_label_report_get_state (r, ir->issue);
  const char *labels = r->labels[is->item];
  g_autofree char *subtitle =
    g_strdup_printf (_("%s — probability %.2f, class threshold %.2f — labels now: %s"),
                     r->fnames[is->item], is->prob, is->threshold,
                     *labels ? labels : C_("labels", "(none)"));

  adw_action_row_set_subtitle (ir->row, subtitle);
  gtk_widget_set_visible (ir->accept, state == TAGSIGHT_SUGGESTION_OPEN);
  gtk_widget_set_visible (ir->reject, state == TAGSIGHT_SUGGESTION_OPEN);
  gtk_widget_set_visible (ir->restore, state == TAGSIGHT_SUGGESTION_REJECTED);
  gtk_widget_set_visible (ir->state, state != TAGSIGHT_SUGGESTION_OPEN);
  gtk_label_set_text (GTK_LABEL (ir->state), state == TAGSIGHT_SUGGESTION_ACCEPTED
                                             ? _("Accepted") : _("Rejected"));
  gtk_widget_remove_css_class (ir->state, "success");
  gtk_widget_remove_css_class (ir->state, "dim-label");
  gtk_widget_add_css_class (ir->state, state == TAGSIGHT_SUGGESTION_ACCEPTED ? "success"
                                                                             : "dim-label");
}

static void
update_loss_row (TagsightInspectPage *self, LossRow *lr)
{
  TagsightLabelReport *r = self->report;
  g_autofree char *pred = predicted_labels (r, lr->pred_row);
  const char *given = r->labels[lr->pred_row];
  g_autofree char *subtitle =
    g_strdup_printf (_("loss %.3f — predicted: %s — given: %s"),
                     r->report.item_loss[lr->pred_row], pred,
                     *given ? given : C_("labels", "(none)"));

  adw_action_row_set_subtitle (lr->row, subtitle);
}

static void
update_states (TagsightInspectPage *self)
{
  TagsightLabelReport *r = self->report;
  int accepted = 0, rejected = 0;
  g_autofree char *note = NULL;

  update_actions (self);
  if (r == NULL)
    return;
  for (guint i = 0; i < self->issue_rows->len; i++)
    update_issue_row (self, &g_array_index (self->issue_rows, IssueRow, i));
  for (guint i = 0; i < self->loss_rows->len; i++)
    update_loss_row (self, &g_array_index (self->loss_rows, LossRow, i));
  for (int j = 0; j < r->report.n_issues; j++)
    {
      TagsightSuggestionState s = tagsight_label_report_get_state (r, j);

      accepted += s == TAGSIGHT_SUGGESTION_ACCEPTED;
      rejected += s == TAGSIGHT_SUGGESTION_REJECTED;
    }
  if (r->report.n_issues == 0)
    note = g_strdup (_("No label looks wrong: every validation image’s labels agree with the "
                       "model’s confident predictions."));
  else
    {
      g_autofree char *found =
        g_strdup_printf (ngettext ("%d possible label issue among the validation images, "
                                   "best-ranked first (confident learning: the model is as sure "
                                   "as on a typical image of the class).",
                                   "%d possible label issues among the validation images, "
                                   "best-ranked first (confident learning: the model is as sure "
                                   "as on a typical image of the class).", r->report.n_issues),
                         r->report.n_issues);
      g_autofree char *done = g_strdup_printf (_("%d accepted, %d rejected."), accepted,
                                               rejected);
      g_autofree char *shown = r->report.n_issues > MAX_ISSUES
                               ? g_strdup_printf (_("The best %d are listed."), MAX_ISSUES)
                               : g_strdup ("");

      note = g_strjoin (" ", found, done, shown, NULL);
    }
  gtk_label_set_text (self->issues_note, note);
}

static void
edited (TagsightInspectPage *self, gboolean ok, GError *error)
{
  if (!ok && error != NULL)
    gtk_label_set_text (self->issues_note, error->message);
  update_states (self);
  g_signal_emit (self, signals[SIGNAL_LABELS_CHANGED], 0);
}

/* --- building the lists ------------------------------------------------------ */

static GtkWidget *
thumbnail (TagsightInspectPage *self, int pred_row)
{
  GtkWidget *frame = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *picture = gtk_picture_new ();
  g_autoptr (TagsightItem) item = tagsight_item_new (self->dataset,
                                                     self->report->rows[pred_row]);

  gtk_widget_add_css_class (frame, "thumbnail-frame");
  gtk_widget_set_size_request (frame, THUMB_SIDE, THUMB_SIDE);
  gtk_widget_set_valign (frame, GTK_ALIGN_CENTER);
  gtk_widget_set_margin_top (frame, 6);
  gtk_widget_set_margin_bottom (frame, 6);
  gtk_picture_set_can_shrink (GTK_PICTURE (picture), TRUE);
  gtk_picture_set_content_fit (GTK_PICTURE (picture), GTK_CONTENT_FIT_CONTAIN);
  gtk_widget_set_vexpand (picture, TRUE);
  gtk_box_append (GTK_BOX (frame), picture);
  /* the binding holds the item as long as the picture lives */
  g_object_bind_property (item, "thumbnail", picture, "paintable", G_BINDING_SYNC_CREATE);
  g_object_set_data_full (G_OBJECT (picture), "item", g_object_ref (item), g_object_unref);
  gtk_accessible_update_property (GTK_ACCESSIBLE (picture), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  tagsight_item_get_fname (item), -1);
  tagsight_thumbnailer_request (self->thumbnailer, item);
  return frame;
}

static void
on_accept (GtkButton *button, TagsightInspectPage *self)
{
  tagsight_inspect_page_accept (self, GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button),
                                                                          "issue")));
}

static void
on_reject (GtkButton *button, TagsightInspectPage *self)
{
  tagsight_inspect_page_reject (self, GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button),
                                                                          "issue")));
}

static void
on_restore (GtkButton *button, TagsightInspectPage *self)
{
  g_autoptr (GError) error = NULL;
  int issue = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "issue"));
  gboolean ok;

  if (read_only (self))
    return;
  ok = tagsight_label_report_reject (self->report, issue, FALSE, &error);
  edited (self, ok, error);
}

/* An edit button of a suggestion; greyed out, saying why, on a read-only
 * project. */
static GtkWidget *
suffix_button (const char *label, const char *tooltip, int issue, GCallback callback,
               TagsightInspectPage *self)
{
  GtkWidget *b = gtk_button_new_with_mnemonic (label);

  gtk_widget_set_valign (b, GTK_ALIGN_CENTER);
  gtk_widget_set_sensitive (b, !read_only (self));
  gtk_widget_set_tooltip_text (b, read_only (self) ? read_only_message () : tooltip);
  g_object_set_data (G_OBJECT (b), "issue", GINT_TO_POINTER (issue));
  g_signal_connect (b, "clicked", callback, self);
  return b;
}

static void
add_issue_row (TagsightInspectPage *self, int issue)
{
  TagsightLabelReport *r = self->report;
  const ts_label_issue *is = &r->report.issues[issue];
  GtkWidget *row = adw_action_row_new ();
  g_autofree char *title = is->kind == TS_LABEL_ISSUE_MISSING
    ? g_strdup_printf (_("%d. Probably missing “%s”"), issue + 1, r->vocab[is->cls])
    : g_strdup_printf (_("%d. Probably not “%s”"), issue + 1, r->vocab[is->cls]);
  IssueRow ir = { issue, ADW_ACTION_ROW (row), NULL, NULL, NULL, NULL };

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 2);
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), thumbnail (self, is->item));
  ir.accept = suffix_button (is->kind == TS_LABEL_ISSUE_MISSING ? _("_Add") : _("_Remove"),
                             is->kind == TS_LABEL_ISSUE_MISSING
                             ? _("Accept: add the label to this image")
                             : _("Accept: remove the label from this image"), issue,
                             G_CALLBACK (on_accept), self);
  gtk_widget_add_css_class (ir.accept, "suggested-action");
  ir.reject = suffix_button (_("_Keep"), _("Reject: the labels are right as they are"), issue,
                             G_CALLBACK (on_reject), self);
  ir.restore = suffix_button (_("_Reconsider"), _("Show the suggestion again"), issue,
                              G_CALLBACK (on_restore), self);
  gtk_widget_add_css_class (ir.restore, "flat");
  ir.state = gtk_label_new (NULL);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), ir.state);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), ir.restore);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), ir.reject);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), ir.accept);
  gtk_list_box_append (self->issues_list, row);
  g_array_append_val (self->issue_rows, ir);
}

static void
add_loss_row (TagsightInspectPage *self, int pred_row, int rank)
{
  GtkWidget *row = adw_action_row_new ();
  g_autofree char *title = g_strdup_printf ("%d. %s", rank + 1, self->report->fnames[pred_row]);
  LossRow lr = { pred_row, ADW_ACTION_ROW (row) };

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 2);
  adw_action_row_add_prefix (ADW_ACTION_ROW (row), thumbnail (self, pred_row));
  gtk_list_box_append (self->losses_list, row);
  g_array_append_val (self->loss_rows, lr);
}

static GtkWidget *
cell (const char *text, gboolean heading, float xalign)
{
  GtkWidget *l = gtk_label_new (text);

  gtk_label_set_xalign (GTK_LABEL (l), xalign);
  gtk_widget_add_css_class (l, heading ? "caption-heading" : "numeric");
  return l;
}

static void
fill_classes (TagsightInspectPage *self)
{
  TagsightLabelReport *r = self->report;
  static const char *const heads[] = { N_("Class"), N_("TP"), N_("FP"), N_("FN"), N_("TN"),
                                       N_("Missing?"), N_("Spurious?") };
  GtkWidget *child;
  g_autofree char *note = g_strdup_printf (_("Given labels against the model at threshold "
                                             "%.2f: TP both say yes, FP only the model, FN only "
                                             "the label, TN neither. Missing? and Spurious? "
                                             "count the suggestions."), r->thresh);

  gtk_label_set_text (self->class_note, note);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->class_grid))) != NULL)
    gtk_grid_remove (self->class_grid, child);
  for (guint c = 0; c < G_N_ELEMENTS (heads); c++)
    gtk_grid_attach (self->class_grid, cell (_(heads[c]), TRUE, c == 0 ? 0 : 1), c, 0, 1, 1);
  for (int k = 0; k < r->n_classes; k++)
    {
      const ts_label_counts *cm = &r->report.confusion[k];
      gint64 v[6] = { cm->tp, cm->fp, cm->fn, cm->tn, r->report.joint[k].fp,
                      r->report.joint[k].fn };

      gtk_grid_attach (self->class_grid, cell (r->vocab[k], FALSE, 0), 0, k + 1, 1, 1);
      for (int c = 0; c < 6; c++)
        {
          char buf[24];

          g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, v[c]);
          gtk_grid_attach (self->class_grid, cell (buf, FALSE, 1), c + 1, k + 1, 1, 1);
        }
    }
  tagsight_matrix_set_data (self->matrix, (const char *const *) r->vocab, r->n_classes,
                            r->report.cooccur);
}

static void
clear_lists (TagsightInspectPage *self)
{
  GtkWidget *child;

  g_array_set_size (self->issue_rows, 0);
  g_array_set_size (self->loss_rows, 0);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->issues_list))) != NULL)
    gtk_list_box_remove (self->issues_list, child);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->losses_list))) != NULL)
    gtk_list_box_remove (self->losses_list, child);
  tagsight_thumbnailer_reset (self->thumbnailer);
}

static void
show_empty (TagsightInspectPage *self, const char *message, const char *run_csv)
{
  g_free (self->message);
  self->message = g_strdup (message);
  g_free (self->run_csv);
  self->run_csv = g_strdup (run_csv);
  adw_status_page_set_description (self->empty_page, message);
  gtk_widget_set_visible (self->open_data_button, run_csv != NULL);
  gtk_stack_set_visible_child_name (self->stack, "empty");
  update_actions (self);
}

static gboolean
same_file (const char *a, const char *b)
{
  g_autofree char *ca = g_canonicalize_filename (a, NULL);
  g_autofree char *cb = g_canonicalize_filename (b, NULL);

  return g_strcmp0 (ca, cb) == 0;
}

static void
rebuild (TagsightInspectPage *self)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightRun) run = NULL;
  g_autoptr (TagsightStoreDataset) ds = NULL;
  const ts_datablock *db;
  g_autofree char *title = NULL;
  int n_losses;

  clear_lists (self);
  g_clear_pointer (&self->report, tagsight_label_report_free);
  if (self->project == NULL || self->run_id == 0)
    {
      show_empty (self, _("Pick a run on the Runs page: its validation predictions show which "
                          "labels are probably missing or wrong."), NULL);
      return;
    }
  if ((run = tagsight_project_get_run (self->project, self->run_id, &error)) == NULL
      || (run->dataset_id > 0
          && (ds = tagsight_project_get_dataset (self->project, run->dataset_id, &error)) == NULL))
    {
      show_empty (self, error->message, NULL);
      return;
    }
  if (ds == NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("Run %lld has no data set recorded."),
                                              (long long) self->run_id);
      show_empty (self, msg, NULL);
      return;
    }
  db = self->dataset != NULL ? tagsight_dataset_get_datablock (self->dataset) : NULL;
  if (db == NULL || !same_file (tagsight_dataset_get_path (self->dataset), ds->csv_path))
    {
      g_autofree char *msg = g_strdup_printf (_("Run %lld was trained on %s. Open that data set "
                                                "to see its images and fix its labels."),
                                              (long long) self->run_id, ds->csv_path);
      show_empty (self, msg, ds->csv_path);
      return;
    }
  if ((self->report = tagsight_label_report_new (self->project, self->run_id, db, &error)) == NULL)
    {
      show_empty (self, error->message, NULL);
      return;
    }
  g_clear_pointer (&self->message, g_free);
  title = g_strdup_printf (ngettext ("Run %lld: %d validation image, threshold %.2f",
                                     "Run %lld: %d validation images, threshold %.2f",
                                     self->report->n),
                           (long long) self->run_id, self->report->n, self->report->thresh);
  gtk_label_set_text (self->title_label, title);
  gtk_widget_set_visible (self->read_only_note, read_only (self));
  for (int j = 0; j < self->report->report.n_issues && j < MAX_ISSUES; j++)
    add_issue_row (self, j);
  n_losses = MIN (self->report->n, MAX_LOSSES);
  for (int i = 0; i < n_losses; i++)
    add_loss_row (self, self->report->top_losses[i], i);
  {
    g_autofree char *note =
      g_strdup_printf (_("The validation images the model got most wrong (mean binary "
                         "cross-entropy over the classes), highest loss first; %d of %d."),
                       n_losses, self->report->n);
    gtk_label_set_text (self->losses_note, note);
  }
  fill_classes (self);
  gtk_stack_set_visible_child_name (self->stack, "report");
  update_states (self);
}

/* --- the page's API and actions ------------------------------------------------ */

void
tagsight_inspect_page_set_project (TagsightInspectPage *self, TagsightProject *project)
{
  if (!g_set_object (&self->project, project))
    return;
  self->run_id = 0;
  rebuild (self);
}

void
tagsight_inspect_page_set_dataset (TagsightInspectPage *self, TagsightDataset *dataset)
{
  if (!g_set_object (&self->dataset, dataset))
    return;
  rebuild (self);
}

void
tagsight_inspect_page_set_run (TagsightInspectPage *self, gint64 run_id)
{
  self->run_id = run_id;
  rebuild (self);
}

gint64
tagsight_inspect_page_get_run (TagsightInspectPage *self)
{
  return self->run_id;
}

TagsightLabelReport *
tagsight_inspect_page_get_report (TagsightInspectPage *self)
{
  return self->report;
}

const char *
tagsight_inspect_page_get_message (TagsightInspectPage *self)
{
  return self->message;
}

int
tagsight_inspect_page_get_n_shown (TagsightInspectPage *self)
{
  return (int) self->issue_rows->len;
}

gboolean
tagsight_inspect_page_accept (TagsightInspectPage *self, int issue)
{
  g_autoptr (GError) error = NULL;
  gboolean ok;

  g_return_val_if_fail (self->report != NULL && issue >= 0
                        && issue < self->report->report.n_issues, FALSE);
  if (read_only (self))
    return FALSE;
  ok = tagsight_label_report_accept (self->report, issue, &error);
  edited (self, ok, error);
  return ok;
}

gboolean
tagsight_inspect_page_reject (TagsightInspectPage *self, int issue)
{
  g_autoptr (GError) error = NULL;
  gboolean ok;

  g_return_val_if_fail (self->report != NULL && issue >= 0
                        && issue < self->report->report.n_issues, FALSE);
  if (read_only (self))
    return FALSE;
  ok = tagsight_label_report_reject (self->report, issue, TRUE, &error);
  edited (self, ok, error);
  return ok;
}

static void
undo_redo (TagsightInspectPage *self, gboolean redo)
{
  g_autoptr (GError) error = NULL;
  gboolean ok;

  if (self->project == NULL || read_only (self))
    return;
  ok = redo ? tagsight_project_redo (self->project, NULL, &error)
            : tagsight_project_undo (self->project, NULL, &error);
  if (ok && self->report != NULL)
    ok = tagsight_label_report_refresh (self->report, &error);
  edited (self, ok || error == NULL, error);
}

static void
undo_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  undo_redo (TAGSIGHT_INSPECT_PAGE (widget), FALSE);
}

static void
redo_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  undo_redo (TAGSIGHT_INSPECT_PAGE (widget), TRUE);
}

static void
open_data_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TagsightInspectPage *self = TAGSIGHT_INSPECT_PAGE (widget);

  if (self->run_csv != NULL)
    g_signal_emit (self, signals[SIGNAL_OPEN_DATASET], 0, self->run_csv);
}

static void
on_export_chosen (const char *path, gpointer data)
{
  TagsightInspectPage *self = data;

  if (self->report != NULL)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *msg = NULL;

      if (path == NULL)
        msg = g_strdup (_("Only local files can be written"));
      else if (!tagsight_project_export_labels_csv (self->project, self->report->dataset_id,
                                                    path, &error))
        msg = g_strdup_printf (_("Could not export the labels: %s"), error->message);
      else
        msg = g_strdup_printf (_("Wrote %s"), path);
      gtk_label_set_text (self->issues_note, msg);
    }
}

static void
export_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TagsightInspectPage *self = TAGSIGHT_INSPECT_PAGE (widget);
  g_autofree char *csv = self->dataset != NULL
                         ? g_strdup (tagsight_dataset_get_path (self->dataset)) : NULL;
  g_autofree char *base = csv != NULL ? g_path_get_basename (csv) : g_strdup ("labels.csv");
  g_autofree char *name = NULL, *dir = NULL;

  if (self->report == NULL)
    return;
  if (g_str_has_suffix (base, ".csv"))
    base[strlen (base) - 4] = '\0';
  name = g_strdup_printf ("%s-corrected.csv", base);
  dir = csv != NULL ? g_path_get_dirname (csv) : NULL;
  {
    const TagsightChooser c = { _("Export the Corrected Labels"), GTK_FILE_CHOOSER_ACTION_SAVE,
                                _("_Export"), .folder = dir, .name = name, .suffix = ".csv" };

    tagsight_choose_file (widget, &c, on_export_chosen, g_object_ref (self), g_object_unref);
  }
}

static void
tagsight_inspect_page_dispose (GObject *object)
{
  TagsightInspectPage *self = TAGSIGHT_INSPECT_PAGE (object);

  if (self->thumbnailer != NULL)
    tagsight_thumbnailer_reset (self->thumbnailer);
  gtk_widget_dispose_template (GTK_WIDGET (self), TAGSIGHT_TYPE_INSPECT_PAGE);
  g_clear_pointer (&self->report, tagsight_label_report_free);
  g_clear_object (&self->thumbnailer);
  g_clear_object (&self->project);
  g_clear_object (&self->dataset);
  G_OBJECT_CLASS (tagsight_inspect_page_parent_class)->dispose (object);
}

static void
tagsight_inspect_page_finalize (GObject *object)
{
  TagsightInspectPage *self = TAGSIGHT_INSPECT_PAGE (object);

  g_array_unref (self->issue_rows);
  g_array_unref (self->loss_rows);
  g_free (self->run_csv);
  g_free (self->message);
  G_OBJECT_CLASS (tagsight_inspect_page_parent_class)->finalize (object);
}

static void
tagsight_inspect_page_class_init (TagsightInspectPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = tagsight_inspect_page_dispose;
  object_class->finalize = tagsight_inspect_page_finalize;
  g_type_ensure (TAGSIGHT_TYPE_MATRIX);
  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/tagsight/Tagsight/tagsight-inspect-page.ui");
  gtk_widget_class_bind_template_child (widget_class, TagsightInspectPage, stack);
  gtk_widget_class_bind_template_child (widget_class, TagsightInspectPage, empty_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightInspectPage, open_data_button);
  gtk_widget_class_bind_template_child (widget_class, TagsightInspectPage, title_label);
  gtk_widget_class_bind_template_child (widget_class, TagsightInspectPage, read_only_note);
  gtk_widget_class_bind_template_child (widget_class, TagsightInspectPage, issues_note);
  gtk_widget_class_bind_template_child (widget_class, TagsightInspectPage, losses_note);
  gtk_widget_class_bind_template_child (widget_class, TagsightInspectPage, class_note);
  gtk_widget_class_bind_template_child (widget_class, TagsightInspectPage, issues_list);
  gtk_widget_class_bind_template_child (widget_class, TagsightInspectPage, losses_list);
  gtk_widget_class_bind_template_child (widget_class, TagsightInspectPage, class_grid);
  gtk_widget_class_bind_template_child (widget_class, TagsightInspectPage, matrix);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);

  gtk_widget_class_install_action (widget_class, "inspect.undo", NULL, undo_action);
  gtk_widget_class_install_action (widget_class, "inspect.redo", NULL, redo_action);
  gtk_widget_class_install_action (widget_class, "inspect.export", NULL, export_action);
  gtk_widget_class_install_action (widget_class, "inspect.open-data", NULL, open_data_action);
  /* on the page, not the application: a text entry elsewhere keeps its own Ctrl+Z */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_z, GDK_CONTROL_MASK,
                                       "inspect.undo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_z,
                                       GDK_CONTROL_MASK | GDK_SHIFT_MASK, "inspect.redo", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Z,
                                       GDK_CONTROL_MASK | GDK_SHIFT_MASK, "inspect.redo", NULL);

  signals[SIGNAL_OPEN_DATASET] = g_signal_new ("open-dataset", G_TYPE_FROM_CLASS (klass),
                                               G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                               G_TYPE_NONE, 1, G_TYPE_STRING);
  signals[SIGNAL_LABELS_CHANGED] = g_signal_new ("labels-changed", G_TYPE_FROM_CLASS (klass),
                                                 G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                                 G_TYPE_NONE, 0);
}

static void
tagsight_inspect_page_init (TagsightInspectPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->issue_rows = g_array_new (FALSE, FALSE, sizeof (IssueRow));
  self->loss_rows = g_array_new (FALSE, FALSE, sizeof (LossRow));
  self->thumbnailer = tagsight_thumbnailer_new (THUMB_SIDE * 2, 400);
  rebuild (self);
}
