/* tagsight-runs-page.c: the Runs page (see tagsight-runs-page.h). */
#include "tagsight-runs-page.h"

#include <glib/gi18n.h>
#include <math.h>

#include "ts-json.h"

#define MAX_OVERLAID 4

/* --- one table row: a recorded run ----------------------------------------- */

#define TAGSIGHT_TYPE_RUN_ROW (tagsight_run_row_get_type ())
G_DECLARE_FINAL_TYPE (TagsightRunRow, tagsight_run_row, TAGSIGHT, RUN_ROW, GObject)

struct _TagsightRunRow
{
  GObject parent_instance;
  TagsightRun *run;
  char *recipe;       /* "tiny, 1 + 1 epochs, 64 px" */
};

G_DEFINE_FINAL_TYPE (TagsightRunRow, tagsight_run_row, G_TYPE_OBJECT)

static void
tagsight_run_row_finalize (GObject *object)
{
  TagsightRunRow *self = TAGSIGHT_RUN_ROW (object);

  tagsight_run_free (self->run);
  g_free (self->recipe);
  G_OBJECT_CLASS (tagsight_run_row_parent_class)->finalize (object);
}

static void
tagsight_run_row_class_init (TagsightRunRowClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = tagsight_run_row_finalize;
}

static void
tagsight_run_row_init (TagsightRunRow *self)
{
}

static double
json_number (const ts_json *recipe, const char *key, double fallback)
{
  const ts_json *v = ts_json_get (recipe, key);

  return v != NULL && v->type == TS_JSON_NUMBER ? v->number : fallback;
}

/* The recipe in a few words; the CLI and the app write the same keys. */
static char *
describe_recipe (const char *json)
{
  ts_json *recipe = NULL;
  const ts_json *arch;
  GString *s;

  if (json == NULL || ts_json_parse (json, strlen (json), "recipe", &recipe) != TS_OK)
    return g_strdup ("—");
  s = g_string_new (NULL);
  arch = ts_json_get (recipe, "arch");
  g_string_append (s, arch != NULL && arch->type == TS_JSON_STRING ? arch->string : "?");
  if (ts_json_get (recipe, "epochs") != NULL)
    {
      int frozen = (int) json_number (recipe, "freeze_epochs", 0);
      int epochs = (int) json_number (recipe, "epochs", 0);

      /* TRANSLATORS: frozen + unfrozen epochs of fine_tune */
      g_string_append_printf (s, _(", %d + %d epochs"), frozen, epochs);
    }
  if (ts_json_get (recipe, "size") != NULL)
    g_string_append_printf (s, _(", %d px"), (int) json_number (recipe, "size", 0));
  ts_json_free (recipe);
  return g_string_free (s, FALSE);
}

static TagsightRunRow *
tagsight_run_row_new (TagsightRun *run)
{
  TagsightRunRow *self = g_object_new (TAGSIGHT_TYPE_RUN_ROW, NULL);

  self->run = run;
  self->recipe = describe_recipe (run->recipe);
  return self;
}

/* --- the page ---------------------------------------------------------------- */

enum {
  COL_RUN, COL_STATUS, COL_STARTED, COL_TIME, COL_RECIPE, COL_DEVICE, COL_EPOCHS,
  COL_TRAIN_LOSS, COL_VALID_LOSS, COL_ACCURACY, N_COLUMNS
};

struct _TagsightRunsPage
{
  GtkWidget parent_instance;

  GtkStack *stack;
  AdwStatusPage *empty_page;
  GtkColumnView *column_view;
  GtkLabel *hint_label;
  TagsightChart *chart;

  TagsightProject *project;
  GListStore *store;
  GtkMultiSelection *selection;
  gboolean restoring;          /* selection set from code: not saved back */
};

G_DEFINE_FINAL_TYPE (TagsightRunsPage, tagsight_runs_page, GTK_TYPE_WIDGET)

enum { SIGNAL_INSPECT, SIGNAL_RESUME, N_SIGNALS };
static guint signals[N_SIGNALS];

static char *
local_time (const char *iso)
{
  g_autoptr (GDateTime) utc = iso != NULL ? g_date_time_new_from_iso8601 (iso, NULL) : NULL;
  g_autoptr (GDateTime) local = utc != NULL ? g_date_time_to_local (utc) : NULL;

  return local != NULL ? g_date_time_format (local, "%Y-%m-%d %H:%M") : g_strdup ("—");
}

static char *
duration (const TagsightRun *run)
{
  g_autoptr (GDateTime) a = run->started ? g_date_time_new_from_iso8601 (run->started, NULL)
                                         : NULL;
  g_autoptr (GDateTime) b = run->ended ? g_date_time_new_from_iso8601 (run->ended, NULL) : NULL;
  gint64 s;

  if (a == NULL || b == NULL)
    return g_strdup ("—");
  s = g_date_time_difference (b, a) / G_USEC_PER_SEC;
  if (s < 60)
    return g_strdup_printf (_("%d s"), (int) s);
  if (s < 3600)
    return g_strdup_printf (_("%d min %02d s"), (int) (s / 60), (int) (s % 60));
  return g_strdup_printf (_("%d h %02d min"), (int) (s / 3600), (int) (s / 60 % 60));
}

static const char *
status_text (TagsightRunStatus status)
{
  switch (status)
    {
    case TAGSIGHT_RUN_RUNNING: return _("Running");
    case TAGSIGHT_RUN_FINISHED: return _("Finished");
    case TAGSIGHT_RUN_CANCELLED: return _("Stopped");
    case TAGSIGHT_RUN_FAILED: return _("Failed");
    default: return "?";
    }
}

static char *
number (double v, int digits)
{
  return isnan (v) ? g_strdup ("—") : g_strdup_printf ("%.*f", digits, v);
}

static char *
cell_text (TagsightRunRow *row, guint column)
{
  const TagsightRun *r = row->run;

  switch (column)
    {
    case COL_RUN: return g_strdup_printf ("%" G_GINT64_FORMAT, r->id);
    case COL_STATUS: return g_strdup (status_text (r->status));
    case COL_STARTED: return local_time (r->started);
    case COL_TIME: return duration (r);
    case COL_RECIPE: return g_strdup (row->recipe);
    case COL_DEVICE: return g_strdup (r->device != NULL ? r->device : "—");
    case COL_EPOCHS: return g_strdup_printf ("%d", r->n_epochs_done);
    case COL_TRAIN_LOSS: return number (r->last_train_loss, 4);
    case COL_VALID_LOSS: return number (r->last_valid_loss, 4);
    case COL_ACCURACY: return number (r->last_accuracy, 4);
    default: return g_strdup ("");
    }
}

static void
setup_cell (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer data)
{
  guint column = GPOINTER_TO_UINT (data);
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (label), column == COL_RECIPE || column == COL_STATUS
                                           || column == COL_STARTED || column == COL_DEVICE
                                           ? 0.0f : 1.0f);
  if (column >= COL_TRAIN_LOSS || column == COL_RUN || column == COL_EPOCHS)
    gtk_widget_add_css_class (label, "numeric");
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_list_item_set_child (item, label);
}

static void
bind_cell (GtkSignalListItemFactory *factory, GtkListItem *item, gpointer data)
{
  guint column = GPOINTER_TO_UINT (data);
  TagsightRunRow *row = gtk_list_item_get_item (item);
  GtkWidget *label = gtk_list_item_get_child (item);
  g_autofree char *text = cell_text (row, column);

  gtk_label_set_text (GTK_LABEL (label), text);
  /* why a run failed or stopped, where there is room for it */
  gtk_widget_set_tooltip_text (label, column == COL_STATUS ? row->run->message : NULL);
  if (column == COL_STATUS)
    {
      gtk_widget_remove_css_class (label, "error");
      gtk_widget_remove_css_class (label, "success");
      if (row->run->status == TAGSIGHT_RUN_FAILED)
        gtk_widget_add_css_class (label, "error");
    }
}

static void
add_column (TagsightRunsPage *self, guint column, const char *title, gboolean expand)
{
  GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
  GtkColumnViewColumn *col;

  g_signal_connect (factory, "setup", G_CALLBACK (setup_cell), GUINT_TO_POINTER (column));
  g_signal_connect (factory, "bind", G_CALLBACK (bind_cell), GUINT_TO_POINTER (column));
  col = gtk_column_view_column_new (title, factory);
  gtk_column_view_column_set_expand (col, expand);
  gtk_column_view_column_set_resizable (col, TRUE);
  gtk_column_view_append_column (self->column_view, col);
  g_object_unref (col);
}

/* --- the chart ------------------------------------------------------------------ */

static const char *const run_colors[MAX_OVERLAID][2] = {
  /* training loss (light), validation loss (dark) */
  { "#62a0ea", "#1a5fb4" },
  { "#ffa348", "#c64600" },
  { "#57e389", "#26a269" },
  { "#c061cb", "#613583" },
};

/* One run's curves on an epoch axis: batch b of an epoch of nb batches at
 * e + (b + 1) / nb, the validation loss at the end of each epoch, so runs
 * with different batch counts line up. */
static void
add_run_curves (TagsightRunsPage *self, gint64 run_id, guint k)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) bm = tagsight_project_get_batch_metrics (self->project, run_id, &error);
  g_autoptr (GArray) em = bm != NULL ? tagsight_project_get_epoch_metrics (self->project, run_id,
                                                                           &error) : NULL;
  g_autoptr (GArray) x = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr (GArray) y = g_array_new (FALSE, FALSE, sizeof (double));
  g_autofree char *train_name = g_strdup_printf (_("run %lld train"), (long long) run_id);
  g_autofree char *valid_name = g_strdup_printf (_("run %lld valid"), (long long) run_id);
  GdkRGBA light, dark;
  int e = -1, last_phase = -1, last_epoch = -1, nb = 1;

  if (em == NULL)
    {
      g_warning ("run %" G_GINT64_FORMAT ": %s", run_id, error->message);
      return;
    }
  gdk_rgba_parse (&light, run_colors[k][0]);
  gdk_rgba_parse (&dark, run_colors[k][1]);
  for (guint i = 0; i < bm->len; i++)
    {
      const TagsightBatchMetrics *b = &g_array_index (bm, TagsightBatchMetrics, i);
      double xv;

      if (b->phase != last_phase || b->epoch != last_epoch)
        {
          e++;
          last_phase = b->phase;
          last_epoch = b->epoch;
          /* an epoch's batch count is its last batch + 1; an epoch cut
           * short (a stop) keeps the count of the epoch before */
          {
            guint j = i;
            int count;

            while (j + 1 < bm->len
                   && g_array_index (bm, TagsightBatchMetrics, j + 1).phase == b->phase
                   && g_array_index (bm, TagsightBatchMetrics, j + 1).epoch == b->epoch)
              j++;
            count = g_array_index (bm, TagsightBatchMetrics, j).batch + 1;
            if (!(j + 1 == bm->len && (guint) e >= em->len && e > 0))
              nb = MAX (count, 1);
          }
        }
      if (!isfinite (b->smooth_loss))
        continue;
      xv = e + (b->batch + 1.0) / nb;
      g_array_append_val (x, xv);
      g_array_append_val (y, b->smooth_loss);
    }
  tagsight_chart_add_line (self->chart, train_name, (double *) x->data, (double *) y->data, x->len,
                           &light, 1.5);
  g_array_set_size (x, 0);
  g_array_set_size (y, 0);
  for (guint i = 0; i < em->len; i++)
    {
      const TagsightEpochMetrics *m = &g_array_index (em, TagsightEpochMetrics, i);
      double xv = i + 1.0;

      if (!isfinite (m->valid_loss))
        continue;
      g_array_append_val (x, xv);
      g_array_append_val (y, m->valid_loss);
    }
  if (x->len > 0)
    tagsight_chart_add_line (self->chart, valid_name, (double *) x->data, (double *) y->data,
                             x->len, &dark, 3.0);
}

/* The one selected run when it can continue: not finished, and its last
 * epoch checkpoint is on disk (killed, stopped or failed after an epoch). */
static gint64
selected_resumable (TagsightRunsPage *self)
{
  GtkBitset *sel = gtk_selection_model_get_selection (GTK_SELECTION_MODEL (self->selection));
  gint64 id = 0;

  if (gtk_bitset_get_size (sel) == 1)
    {
      g_autoptr (TagsightRunRow) row = g_list_model_get_item (G_LIST_MODEL (self->store),
                                                              gtk_bitset_get_nth (sel, 0));

      if (row != NULL && row->run->status != TAGSIGHT_RUN_FINISHED
          && row->run->checkpoint != NULL
          && g_file_test (row->run->checkpoint, G_FILE_TEST_IS_REGULAR))
        id = row->run->id;
    }
  gtk_bitset_unref (sel);
  return id;
}

static void
update_chart (TagsightRunsPage *self)
{
  g_autoptr (GArray) ids = tagsight_runs_page_get_selected (self);
  guint shown = MIN (ids->len, MAX_OVERLAID);
  g_autofree char *hint = NULL;

  tagsight_chart_clear (self->chart);
  /* oldest first, so the colours keep to the runs' order */
  for (guint i = 0; i < shown; i++)
    add_run_curves (self, g_array_index (ids, gint64, shown - 1 - i), i);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "runs.inspect", ids->len == 1);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "runs.resume",
                                 selected_resumable (self) != 0);
  if (ids->len == 0)
    hint = g_strdup (_("Select a run to see its loss curves; Ctrl+click a second one to compare "
                       "them."));
  else if (ids->len == 1)
    hint = g_strdup (_("Ctrl+click another run to overlay its loss curves."));
  else if (ids->len <= MAX_OVERLAID)
    hint = g_strdup_printf (ngettext ("%u run overlaid: smoothed training loss per batch "
                                      "(thin) and validation loss per epoch (thick).",
                                      "%u runs overlaid: smoothed training loss per batch "
                                      "(thin) and validation loss per epoch (thick).", ids->len),
                            ids->len);
  else
    hint = g_strdup_printf (_("The first %d of the selected runs are overlaid."), MAX_OVERLAID);
  gtk_label_set_text (self->hint_label, hint);
}

static void
save_selection (TagsightRunsPage *self)
{
  g_autoptr (GArray) ids = tagsight_runs_page_get_selected (self);
  g_autoptr (GString) s = g_string_new (NULL);
  g_autoptr (GError) error = NULL;

  /* a read-only project is only looked at: the selection is not kept */
  if (self->project == NULL || tagsight_project_is_read_only (self->project))
    return;
  for (guint i = 0; i < ids->len; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? "," : "", g_array_index (ids, gint64, i));
  /* where the user was, for the next time the project is opened */
  if (!tagsight_project_set_setting (self->project, "runs.selected", s->str, &error))
    g_warning ("%s", error->message);
}

static void
on_selection_changed (GtkSelectionModel *model, guint position, guint n, TagsightRunsPage *self)
{
  update_chart (self);
  if (!self->restoring)
    save_selection (self);
}

GArray *
tagsight_runs_page_get_selected (TagsightRunsPage *self)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->store));

  for (guint i = 0; i < n; i++)
    if (gtk_selection_model_is_selected (GTK_SELECTION_MODEL (self->selection), i))
      {
        g_autoptr (TagsightRunRow) row = g_list_model_get_item (G_LIST_MODEL (self->store), i);

        g_array_append_val (ids, row->run->id);
      }
  return ids;
}

void
tagsight_runs_page_select_runs (TagsightRunsPage *self, const gint64 *ids, guint n_ids)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->store));
  g_autoptr (GtkBitset) selected = gtk_bitset_new_empty ();
  g_autoptr (GtkBitset) mask = gtk_bitset_new_range (0, n);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr (TagsightRunRow) row = g_list_model_get_item (G_LIST_MODEL (self->store), i);

      for (guint j = 0; j < n_ids; j++)
        if (row->run->id == ids[j])
          gtk_bitset_add (selected, i);
    }
  gtk_selection_model_set_selection (GTK_SELECTION_MODEL (self->selection), selected, mask);
  /* an unchanged selection emits nothing: draw anyway */
  update_chart (self);
}

/* The selection saved in the project, or the newest run. */
static void
restore_selection (TagsightRunsPage *self)
{
  g_autofree char *saved = self->project != NULL
                           ? tagsight_project_dup_setting (self->project, "runs.selected") : NULL;
  g_auto (GStrv) parts = saved != NULL ? g_strsplit (saved, ",", -1) : NULL;
  g_autoptr (GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));

  for (int i = 0; parts != NULL && parts[i] != NULL; i++)
    {
      gint64 id = g_ascii_strtoll (parts[i], NULL, 10);

      if (id > 0)
        g_array_append_val (ids, id);
    }
  if (ids->len == 0 && g_list_model_get_n_items (G_LIST_MODEL (self->store)) > 0)
    {
      g_autoptr (TagsightRunRow) row = g_list_model_get_item (G_LIST_MODEL (self->store), 0);

      g_array_append_val (ids, row->run->id);
    }
  self->restoring = TRUE;
  tagsight_runs_page_select_runs (self, (gint64 *) ids->data, ids->len);
  self->restoring = FALSE;
}

void
tagsight_runs_page_reload (TagsightRunsPage *self)
{
  g_autoptr (GArray) keep = tagsight_runs_page_get_selected (self);
  g_autoptr (GPtrArray) runs = NULL;
  g_autoptr (GError) error = NULL;
  gboolean first = g_list_model_get_n_items (G_LIST_MODEL (self->store)) == 0;

  self->restoring = TRUE;
  g_list_store_remove_all (self->store);
  self->restoring = FALSE;
  if (self->project != NULL && (runs = tagsight_project_list_runs (self->project, &error)) == NULL)
    adw_status_page_set_description (self->empty_page, error->message);
  if (runs != NULL)
    {
      /* newest first: the run just trained is at the top */
      for (guint i = runs->len; i-- > 0;)
        {
          g_autoptr (TagsightRunRow) row = tagsight_run_row_new (g_steal_pointer (&runs->pdata[i]));

          g_list_store_append (self->store, row);
        }
    }
  gtk_stack_set_visible_child_name (self->stack, runs != NULL && runs->len > 0 ? "runs" : "empty");
  if (first || keep->len == 0)
    restore_selection (self);
  else
    {
      self->restoring = TRUE;
      tagsight_runs_page_select_runs (self, (gint64 *) keep->data, keep->len);
      self->restoring = FALSE;
    }
}

void
tagsight_runs_page_set_project (TagsightRunsPage *self, TagsightProject *project)
{
  if (!g_set_object (&self->project, project))
    return;
  self->restoring = TRUE;
  g_list_store_remove_all (self->store);
  self->restoring = FALSE;
  tagsight_runs_page_reload (self);
}

guint
tagsight_runs_page_get_n_runs (TagsightRunsPage *self)
{
  return g_list_model_get_n_items (G_LIST_MODEL (self->store));
}

gint64
tagsight_runs_page_get_run_id (TagsightRunsPage *self, guint row)
{
  g_autoptr (TagsightRunRow) r = g_list_model_get_item (G_LIST_MODEL (self->store), row);

  return r != NULL ? r->run->id : 0;
}

char *
tagsight_runs_page_dup_cell (TagsightRunsPage *self, guint row, guint column)
{
  g_autoptr (TagsightRunRow) r = g_list_model_get_item (G_LIST_MODEL (self->store), row);

  return r != NULL && column < N_COLUMNS ? cell_text (r, column) : NULL;
}

TagsightChart *
tagsight_runs_page_get_chart (TagsightRunsPage *self)
{
  return self->chart;
}

static void
inspect_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TagsightRunsPage *self = TAGSIGHT_RUNS_PAGE (widget);
  g_autoptr (GArray) ids = tagsight_runs_page_get_selected (self);

  if (ids->len > 0)
    g_signal_emit (self, signals[SIGNAL_INSPECT], 0, g_array_index (ids, gint64, 0));
}

static void
resume_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TagsightRunsPage *self = TAGSIGHT_RUNS_PAGE (widget);
  gint64 id = selected_resumable (self);

  if (id != 0)
    g_signal_emit (self, signals[SIGNAL_RESUME], 0, id);
}

static void
on_activate (GtkColumnView *view, guint position, TagsightRunsPage *self)
{
  gint64 id = tagsight_runs_page_get_run_id (self, position);

  if (id > 0)
    g_signal_emit (self, signals[SIGNAL_INSPECT], 0, id);
}

static void
tagsight_runs_page_dispose (GObject *object)
{
  TagsightRunsPage *self = TAGSIGHT_RUNS_PAGE (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), TAGSIGHT_TYPE_RUNS_PAGE);
  g_clear_object (&self->selection);
  g_clear_object (&self->project);
  G_OBJECT_CLASS (tagsight_runs_page_parent_class)->dispose (object);
}

static void
tagsight_runs_page_class_init (TagsightRunsPageClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = tagsight_runs_page_dispose;
  g_type_ensure (TAGSIGHT_TYPE_CHART);
  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/tagsight/Tagsight/tagsight-runs-page.ui");
  gtk_widget_class_bind_template_child (widget_class, TagsightRunsPage, stack);
  gtk_widget_class_bind_template_child (widget_class, TagsightRunsPage, empty_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightRunsPage, column_view);
  gtk_widget_class_bind_template_child (widget_class, TagsightRunsPage, hint_label);
  gtk_widget_class_bind_template_child (widget_class, TagsightRunsPage, chart);
  gtk_widget_class_install_action (widget_class, "runs.inspect", NULL, inspect_action);
  gtk_widget_class_install_action (widget_class, "runs.resume", NULL, resume_action);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  signals[SIGNAL_INSPECT] = g_signal_new ("inspect", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
  signals[SIGNAL_RESUME] = g_signal_new ("resume", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                         0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
}

static void
tagsight_runs_page_init (TagsightRunsPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->store = g_list_store_new (TAGSIGHT_TYPE_RUN_ROW);
  /* the selection model owns the store */
  self->selection = gtk_multi_selection_new (G_LIST_MODEL (self->store));
  gtk_column_view_set_model (self->column_view, GTK_SELECTION_MODEL (self->selection));
  add_column (self, COL_RUN, _("Run"), FALSE);
  add_column (self, COL_STATUS, _("Status"), FALSE);
  add_column (self, COL_STARTED, _("Started"), FALSE);
  add_column (self, COL_TIME, _("Time"), FALSE);
  add_column (self, COL_RECIPE, _("Recipe"), TRUE);
  add_column (self, COL_DEVICE, _("Device"), FALSE);
  add_column (self, COL_EPOCHS, _("Epochs"), FALSE);
  add_column (self, COL_TRAIN_LOSS, _("Train loss"), FALSE);
  add_column (self, COL_VALID_LOSS, _("Valid loss"), FALSE);
  add_column (self, COL_ACCURACY, _("accuracy_multi"), FALSE);
  g_signal_connect (self->selection, "selection-changed", G_CALLBACK (on_selection_changed), self);
  g_signal_connect (self->column_view, "activate", G_CALLBACK (on_activate), self);
  tagsight_chart_set_axis_titles (self->chart, _("epoch"), _("loss"));
  /* from zero on both axes: runs compared by eye need a common origin */
  tagsight_chart_set_x_range (self->chart, 0, NAN);
  tagsight_chart_set_y_range (self->chart, 0, NAN);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->chart), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Loss curves of the selected runs: smoothed training loss "
                                    "per batch and validation loss per epoch"), -1);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "runs.inspect", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "runs.resume", FALSE);
  update_chart (self);
}
