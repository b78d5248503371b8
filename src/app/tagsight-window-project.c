/* tagsight-window-project.c: the window's project (see tagsight-window.h):
 * Open / Save / Save As, what is recorded as the user works (the data set,
 * the training runs, the page, the inspected run), restoring it on open,
 * and asking for the new place of a data set that moved. */
#include "tagsight-window-private.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <string.h>

#include "tagsight-settings.h"
#include "tagsight-file-chooser.h"
#include "ts-checkpoint.h"

/* where the user was, in the project's settings table */
#define KEY_PAGE "page"
#define KEY_DATASET "dataset"
#define KEY_INSPECT_RUN "inspect.run"

static void ask_relocation (TagsightWindow *self, gint64 dataset_id, const char *old_csv);

static gboolean
read_only (TagsightWindow *self)
{
  return self->project != NULL && tagsight_project_is_read_only (self->project);
}

/* The project runs are recorded in: none while the open one is read-only,
 * so that nothing tries to write to it. */
static TagsightProject *
recording_project (TagsightWindow *self)
{
  return read_only (self) ? NULL : self->project;
}

static void
set_setting (TagsightWindow *self, const char *key, const char *value)
{
  g_autoptr (GError) error = NULL;

  /* losing the page or the selection is not worth interrupting the user;
   * a read-only project cannot keep them (its banner says so) */
  if (self->project != NULL && !read_only (self)
      && !tagsight_project_set_setting (self->project, key, value, &error))
    g_warning ("%s", error->message);
}

static void
set_setting_int (TagsightWindow *self, const char *key, gint64 value)
{
  char buf[32];

  g_snprintf (buf, sizeof buf, "%" G_GINT64_FORMAT, value);
  set_setting (self, key, buf);
}

static gint64
get_setting_int (TagsightWindow *self, const char *key)
{
  g_autofree char *v = tagsight_project_dup_setting (self->project, key);

  return v != NULL ? g_ascii_strtoll (v, NULL, 10) : 0;
}

static void
add_recent (const char *path)
{
  g_autofree char *uri = g_filename_to_uri (path, NULL, NULL);
  g_autofree char *folder = g_path_get_dirname (path);

  if (uri != NULL)
    gtk_recent_manager_add_item (gtk_recent_manager_get_default (), uri);
  tagsight_settings_set_string ("last-folder", folder);
}

/* "project.tagsight — Tagsight", the data set under it */
static void
update_title (TagsightWindow *self)
{
  g_autofree char *base = NULL, *title = NULL, *subtitle = NULL;
  TagsightDataset *ds = tagsight_data_page_get_dataset (self->data_page);

  if (self->project == NULL)
    return;
  base = g_path_get_basename (tagsight_project_get_path (self->project));
  title = g_strdup_printf ("%s — %s", base, _("Tagsight"));
  gtk_window_set_title (GTK_WINDOW (self), title);
  if (ds != NULL)
    {
      g_autofree char *csv = g_path_get_basename (tagsight_dataset_get_path (ds));

      subtitle = g_strdup_printf ("%s · %s", base, csv);
    }
  adw_view_switcher_title_set_subtitle (self->switcher_title, subtitle != NULL ? subtitle : base);
}

/* --- the data set ------------------------------------------------------------- */

/* The data set's id in the project: the one recorded for this CSV with the
 * same columns, or a new one. */
static gint64
find_or_add_dataset (TagsightWindow *self, TagsightDataset *dataset, GError **error)
{
  const TagsightMapping *m = tagsight_dataset_get_mapping (dataset);
  g_autofree char *csv = g_canonicalize_filename (tagsight_dataset_get_path (dataset), NULL);
  g_autoptr (GPtrArray) all = tagsight_project_list_datasets (self->project, error);
  const char *valid_col = m->split == TS_SPLIT_COLUMN ? m->split_col : NULL;
  gint64 id = 0;

  if (all == NULL)
    return 0;
  /* newest first: a data set re-added with other columns wins */
  for (guint i = all->len; i-- > 0;)
    {
      TagsightStoreDataset *d = all->pdata[i];

      if (g_strcmp0 (d->csv_path, csv) == 0 && g_strcmp0 (d->fname_col, m->fname_col) == 0
          && g_strcmp0 (d->labels_col, m->labels_col) == 0
          && g_strcmp0 (d->label_delim, m->label_delim != NULL ? m->label_delim : " ") == 0)
        return d->id;
    }
  /* a data set a read-only project does not have stays unrecorded */
  if (tagsight_project_is_read_only (self->project))
    return 0;
  if (!tagsight_project_add_dataset (self->project, csv, m->fname_col, m->labels_col, valid_col,
                                     m->label_delim, &id, error))
    return 0;
  return id;
}

/* The image folder when it is not the default one (beside the CSV, or its
 * train/ folder): that is the one worth keeping in the project. */
static char *
custom_image_dir (TagsightDataset *dataset)
{
  const TagsightMapping *m = tagsight_dataset_get_mapping (dataset);
  g_autofree char *csv_dir = g_path_get_dirname (tagsight_dataset_get_path (dataset));
  g_autofree char *dir = NULL, *train = NULL, *csv_abs = NULL;

  if (m->image_dir == NULL)
    return NULL;
  csv_abs = g_canonicalize_filename (csv_dir, NULL);
  dir = g_canonicalize_filename (m->image_dir, csv_abs);
  train = g_build_filename (csv_abs, "train", NULL);
  if (g_strcmp0 (dir, csv_abs) == 0 || g_strcmp0 (dir, train) == 0)
    return NULL;
  return g_steal_pointer (&dir);
}

static void
record_dataset (TagsightWindow *self, TagsightDataset *dataset)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *image_dir = NULL;
  g_autoptr (TagsightStoreDataset) recorded = NULL;

  self->dataset_id = 0;
  if (dataset != NULL && (self->dataset_id = find_or_add_dataset (self, dataset, &error)) == 0
      && error != NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("Could not record the data set in the project: "
                                                "%s"), error->message);
      tagsight_window_toast (self, msg);
    }
  tagsight_run_recorder_set_target (self->recorder, recording_project (self), self->dataset_id,
                                    self->dataset_id > 0 ? dataset : NULL);
  if (self->dataset_id == 0 || read_only (self))
    return;
  set_setting_int (self, KEY_DATASET, self->dataset_id);
  /* a folder the user chose for the images is kept, for the next open */
  image_dir = custom_image_dir (dataset);
  recorded = tagsight_project_get_dataset (self->project, self->dataset_id, NULL);
  if (image_dir != NULL && recorded != NULL && g_strcmp0 (recorded->image_dir, image_dir) != 0
      && !tagsight_project_set_dataset_image_dir (self->project, self->dataset_id, image_dir,
                                                  &error))
    g_warning ("%s", error->message);
}

void
tagsight_window_project_dataset_changed (TagsightWindow *self, TagsightDataset *dataset)
{
  tagsight_inspect_page_set_dataset (self->inspect_page, dataset);
  if (self->project == NULL)
    return;
  record_dataset (self, dataset);
  update_title (self);
  if (dataset != NULL && self->restore_model != NULL)
    {
      /* reopened on Results or Export: the run's model, evaluated again */
      tagsight_results_page_open_model (self->results_page, self->restore_model);
      g_clear_pointer (&self->restore_model, g_free);
    }
}

/* Opens a data set of the project, with the image folder the user chose for
 * it while that folder exists (else the Data page finds or asks again). */
static void
open_recorded_dataset (TagsightWindow *self, const TagsightStoreDataset *d)
{
  gboolean have_dir = d->image_dir != NULL && g_file_test (d->image_dir, G_FILE_TEST_IS_DIR);

  tagsight_window_open_csv_with_images (self, d->csv_path, have_dir ? d->image_dir : NULL);
}

/* --- the project -------------------------------------------------------------- */

static void
on_run_changed (TagsightRunRecorder *recorder, gint64 run_id, TagsightWindow *self)
{
  tagsight_runs_page_reload (self->runs_page);
}

static const char *
read_only_message (void)
{
  return _("This project is read-only. Save a copy to train or edit labels.");
}

/* Why the project is read-only, for the banner's tooltip: the store's
 * reason, which its errors and the CLI give too. */
static char *
read_only_reason (TagsightProject *project)
{
  /* TRANSLATORS: the project file, why it is read-only (e.g. "its folder
   * cannot be written") */
  return g_strdup_printf (_("%s is read-only (%s)."), tagsight_project_get_path (project),
                          tagsight_project_get_read_only_reason (project));
}

static void
update_read_only_bar (TagsightWindow *self)
{
  g_autofree char *reason = read_only (self) ? read_only_reason (self->project) : NULL;

  gtk_action_bar_set_revealed (self->read_only_bar, read_only (self));
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->read_only_label), reason);
  tagsight_train_page_set_refusal (self->train_page,
                                   read_only (self) ? read_only_message () : NULL);
}

gboolean
tagsight_window_check_project_writable (TagsightWindow *self)
{
  if (!read_only (self))
    return TRUE;
  tagsight_window_toast (self, read_only_message ());
  return FALSE;
}

static void
set_project (TagsightWindow *self, TagsightProject *project)
{
  TagsightDataset *ds = tagsight_data_page_get_dataset (self->data_page);
  gboolean open = project != NULL;

  g_set_object (&self->project, project);
  self->dataset_id = 0;
  tagsight_run_recorder_set_target (self->recorder, recording_project (self), 0, NULL);
  update_read_only_bar (self);
  tagsight_runs_page_set_project (self->runs_page, project);
  tagsight_inspect_page_set_project (self->inspect_page, project);
  adw_view_stack_page_set_visible (self->runs_stack_page, open);
  adw_view_stack_page_set_visible (self->inspect_stack_page, open);
  tagsight_window_refresh_switcher (self);
  if (project == NULL)
    return;
  /* the data set open now belongs to the project when it has none: a new
   * project (Save As) starts with what the user was working on */
  if (ds != NULL && tagsight_dataset_get_datablock (ds) != NULL)
    {
      g_autoptr (GPtrArray) all = tagsight_project_list_datasets (project, NULL);

      if (all != NULL && all->len == 0)
        record_dataset (self, ds);
    }
  update_title (self);
}

/* Where the user was: the data set (opened, or asked for when it moved), the
 * page, the inspected run and, on Results or Export, the run's model. */
static void
restore (TagsightWindow *self)
{
  g_autofree char *page = tagsight_project_dup_setting (self->project, KEY_PAGE);
  gint64 ds_id = get_setting_int (self, KEY_DATASET);
  gint64 run_id = get_setting_int (self, KEY_INSPECT_RUN);
  g_autoptr (TagsightStoreDataset) d = NULL;
  g_autoptr (GPtrArray) runs = tagsight_project_list_runs (self->project, NULL);

  if (ds_id == 0)
    {
      g_autoptr (GPtrArray) all = tagsight_project_list_datasets (self->project, NULL);

      if (all != NULL && all->len > 0)
        ds_id = ((TagsightStoreDataset *) all->pdata[all->len - 1])->id;
    }
  if (run_id == 0 && runs != NULL && runs->len > 0)
    run_id = ((TagsightRun *) runs->pdata[runs->len - 1])->id;
  if (run_id > 0)
    tagsight_inspect_page_set_run (self->inspect_page, run_id);
  if (page != NULL && (g_strcmp0 (page, "results") == 0 || g_strcmp0 (page, "export") == 0)
      && runs != NULL)
    for (guint i = runs->len; i-- > 0;)
      {
        TagsightRun *r = runs->pdata[i];

        if (r->model_path != NULL && g_file_test (r->model_path, G_FILE_TEST_EXISTS))
          {
            g_free (self->restore_model);
            self->restore_model = g_strdup (r->model_path);
            break;
          }
      }
  d = ds_id > 0 ? tagsight_project_get_dataset (self->project, ds_id, NULL) : NULL;
  tagsight_window_set_page (self, page != NULL && g_strcmp0 (page, "start") != 0 ? page
                                  : d != NULL ? "data" : "runs");
  if (d == NULL)
    return;
  if (g_file_test (d->csv_path, G_FILE_TEST_IS_REGULAR))
    open_recorded_dataset (self, d);
  else
    ask_relocation (self, d->id, d->csv_path);
}

void
tagsight_window_open_project (TagsightWindow *self, const char *path)
{
  tagsight_window_open_project_full (self, path, 0);
}

void
tagsight_window_open_project_full (TagsightWindow *self, const char *path,
                                   TagsightProjectOpenFlags flags)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightProject) project = NULL;

  if (tagsight_run_recorder_get_run (self->recorder) != 0)
    {
      tagsight_window_toast (self, _("A run is being recorded: stop training before opening "
                                     "another project"));
      return;
    }
  if ((project = tagsight_project_open (path, flags, &error)) == NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("Could not open the project: %s"),
                                              error->message);
      tagsight_window_toast (self, msg);
      return;
    }
  add_recent (tagsight_project_get_path (project));
  set_project (self, project);
  restore (self);
}

void
tagsight_window_open (TagsightWindow *self, const char *path)
{
  if (g_str_has_suffix (path, ".tagsight"))
    tagsight_window_open_project (self, path);
  else
    tagsight_window_open_csv (self, path);
}

gboolean
tagsight_window_save_project_as (TagsightWindow *self, const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightProject) project = NULL;
  g_autofree char *abs = g_canonicalize_filename (path, NULL);
  g_autofree char *base = g_path_get_basename (abs);
  g_autofree char *msg = NULL;
  /* a copy holds the same runs: the one inspected stays, its labels now
   * editable when the project was read-only */
  gint64 inspected = self->project != NULL ? tagsight_inspect_page_get_run (self->inspect_page)
                                           : 0;

  if (self->project != NULL && g_strcmp0 (abs, tagsight_project_get_path (self->project)) == 0)
    {
      tagsight_window_toast (self, _("The project is saved: every change is written as it "
                                     "happens"));
      return TRUE;
    }
  if (tagsight_run_recorder_get_run (self->recorder) != 0)
    {
      tagsight_window_toast (self, _("A run is being recorded: wait for it to end, or stop it, "
                                     "before saving the project elsewhere"));
      return FALSE;
    }
  /* the file chooser asked before replacing a file; SQLite's side files go
   * with it, or the new project would inherit a stale journal */
  if (g_file_test (abs, G_FILE_TEST_EXISTS))
    {
      static const char *const side[] = { "", "-wal", "-shm", "-journal" };

      for (guint i = 0; i < G_N_ELEMENTS (side); i++)
        {
          g_autofree char *f = g_strconcat (abs, side[i], NULL);

          g_unlink (f);
        }
    }
  if (self->project != NULL && !tagsight_project_save_copy (self->project, abs, &error))
    project = NULL;
  else
    project = tagsight_project_open (abs, self->project == NULL ? TAGSIGHT_PROJECT_OPEN_CREATE : 0,
                                     &error);
  if (project == NULL)
    {
      msg = g_strdup_printf (_("Could not save the project: %s"), error->message);
      tagsight_window_toast (self, msg);
      return FALSE;
    }
  set_project (self, project);
  if (inspected > 0)
    tagsight_inspect_page_set_run (self->inspect_page, inspected);
  /* a copy holds the open data set under the same id */
  if (self->dataset_id == 0 && tagsight_data_page_get_dataset (self->data_page) != NULL
      && tagsight_dataset_get_datablock (tagsight_data_page_get_dataset (self->data_page)))
    record_dataset (self, tagsight_data_page_get_dataset (self->data_page));
  set_setting (self, KEY_PAGE, tagsight_window_get_page (self));
  add_recent (abs);
  msg = g_strdup_printf (_("Saved as %s"), base);
  tagsight_window_toast (self, msg);
  return TRUE;
}

TagsightProject *
tagsight_window_get_project (TagsightWindow *self)
{
  return self->project;
}

TagsightRunsPage *
tagsight_window_get_runs_page (TagsightWindow *self)
{
  return self->runs_page;
}

TagsightInspectPage *
tagsight_window_get_inspect_page (TagsightWindow *self)
{
  return self->inspect_page;
}

gint64
tagsight_window_get_recording_run (TagsightWindow *self)
{
  return tagsight_run_recorder_get_run (self->recorder);
}

/* --- training runs -------------------------------------------------------------- */

static void
on_recorded (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (TagsightWindow) self = data;
  g_autoptr (GError) error = NULL;
  TagsightPreds *preds = tagsight_run_recorder_finish_finish (TAGSIGHT_RUN_RECORDER (source),
                                                              result, &error);
  TagsightTraining *training = tagsight_train_page_get_training (self->train_page);

  if (self->runs_page == NULL)
    {
      tagsight_preds_free (preds);
      return;   /* the window was closed meanwhile */
    }
  tagsight_runs_page_reload (self->runs_page);
  if (preds != NULL)
    {
      gint64 newest = tagsight_runs_page_get_run_id (self->runs_page, 0);

      tagsight_results_page_set_preds (self->results_page, preds);
      /* the run just trained is the one to inspect and to look at */
      tagsight_inspect_page_set_run (self->inspect_page, newest);
      set_setting_int (self, KEY_INSPECT_RUN, newest);
      tagsight_runs_page_select_runs (self->runs_page, &newest, 1);
    }
  else if (tagsight_training_has_model (training))
    {
      g_autofree char *msg = g_strdup_printf (_("Could not predict the validation set: %s"),
                                              error->message);
      tagsight_window_toast (self, msg);
    }
}

gboolean
tagsight_window_project_train_finished (TagsightWindow *self, int status, const char *message)
{
  g_object_ref (self);
  if (tagsight_run_recorder_finish_async (self->recorder, status, message, on_recorded, self))
    return TRUE;
  g_object_unref (self);
  return FALSE;
}

static void
on_inspect (TagsightRunsPage *page, gint64 run_id, TagsightWindow *self)
{
  tagsight_inspect_page_set_run (self->inspect_page, run_id);
  set_setting_int (self, KEY_INSPECT_RUN, run_id);
  tagsight_window_set_page (self, "labels");
}

/* Points @s at where the run's data set is now (the project follows a
 * moved CSV; the recipe keeps the path it was trained from). */
static void
follow_dataset (TagsightProject *project, gint64 dataset_id, TagsightTrainSettings *s)
{
  g_autoptr (TagsightStoreDataset) d = dataset_id > 0
    ? tagsight_project_get_dataset (project, dataset_id, NULL) : NULL;
  g_autofree char *old_dir = NULL, *new_dir = NULL;

  if (d == NULL || g_strcmp0 (d->csv_path, s->csv) == 0)
    return;
  old_dir = g_path_get_dirname (s->csv);
  new_dir = g_path_get_dirname (d->csv_path);
  g_free (s->csv);
  s->csv = g_strdup (d->csv_path);
  if (d->image_dir != NULL)
    {
      g_free (s->image_dir);
      s->image_dir = g_strdup (d->image_dir);
    }
  else if (s->image_dir != NULL && g_str_has_prefix (s->image_dir, old_dir))
    {
      char *moved = g_strconcat (new_dir, s->image_dir + strlen (old_dir), NULL);

      g_free (s->image_dir);
      s->image_dir = moved;
    }
}

/* Continues an unfinished run of the project (the app or the CLI was
 * killed, it was stopped, or it failed: a lost GPU) from its last epoch
 * checkpoint, recorded in the same run, on the device chosen on the Train
 * page.  Whose checkpoint it is, the training checks before anything
 * changes (ts_checkpoint_check_owner: the run's number and start), and a
 * refusal leaves the run as it was (the recorder reopens it at the first
 * event only). */
static void
resume_run (TagsightWindow *self, gint64 run_id)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightRun) run = NULL;
  TagsightTrainSettings s;
  ts_checkpoint_pos pos;

  if (tagsight_train_page_get_busy (self->train_page))
    {
      tagsight_window_toast (self, _("A run is in progress: stop it before resuming another"));
      return;
    }
  if (!tagsight_window_check_project_writable (self))
    return;
  if (self->project == NULL
      || (run = tagsight_project_get_run (self->project, run_id, &error)) == NULL
      || run->checkpoint == NULL)
    {
      tagsight_window_toast (self, error != NULL ? error->message
                                                 : _("This run has no checkpoint to resume from"));
      return;
    }
  /* where the run is reopened */
  if (ts_checkpoint_read_pos (run->checkpoint, &pos, NULL, NULL) != TS_OK)
    {
      tagsight_window_toast (self, ts_last_error ());
      return;
    }
  if (!tagsight_train_settings_from_recipe (run->recipe, &s, &error))
    {
      tagsight_window_toast (self, error->message);
      return;
    }
  follow_dataset (self->project, run->dataset_id, &s);
  /* the run is reopened once its checkpoint has loaded (the recorder) */
  tagsight_run_recorder_continue_run (self->recorder, run_id, pos.phase, pos.epoch);
  tagsight_window_set_page (self, "train");
  if (!tagsight_train_page_resume (self->train_page, &s, run->checkpoint))
    tagsight_run_recorder_continue_run (self->recorder, 0, 0, 0);
  tagsight_train_settings_clear (&s);
}

static void
on_resume (TagsightRunsPage *page, gint64 run_id, TagsightWindow *self)
{
  resume_run (self, run_id);
}

/* The Train page's Continue, for the run it last trained: when that is a
 * run of this project, it goes on in the same run, as Resume does (a new
 * run would start its epochs mid-way and leave this one stopped). */
static gboolean
on_continue_run (TagsightTrainPage *page, gint64 run_id, const char *checkpoint,
                 TagsightWindow *self)
{
  g_autoptr (TagsightRun) run = NULL;

  /* the checkpoint names the run's number: the path tells the project */
  if (recording_project (self) == NULL
      || (run = tagsight_project_get_run (self->project, run_id, NULL)) == NULL
      || g_strcmp0 (run->checkpoint, checkpoint) != 0)
    return FALSE;
  resume_run (self, run_id);
  return TRUE;
}

static void
on_open_dataset (TagsightInspectPage *page, const char *csv, TagsightWindow *self)
{
  g_autoptr (GPtrArray) all = NULL;

  if (self->project != NULL && (all = tagsight_project_list_datasets (self->project, NULL)) != NULL)
    for (guint i = 0; i < all->len; i++)
      {
        TagsightStoreDataset *d = all->pdata[i];

        if (g_strcmp0 (d->csv_path, csv) != 0)
          continue;
        if (!g_file_test (csv, G_FILE_TEST_IS_REGULAR))
          ask_relocation (self, d->id, csv);
        else
          open_recorded_dataset (self, d);
        return;
      }
  tagsight_window_open_csv (self, csv);
}

static void
on_page_changed (AdwViewStack *stack, GParamSpec *pspec, TagsightWindow *self)
{
  const char *page = adw_view_stack_get_visible_child_name (stack);

  if (self->project != NULL && page != NULL && g_strcmp0 (page, "start") != 0)
    set_setting (self, KEY_PAGE, page);
}

/* --- a data set that moved ------------------------------------------------------ */

typedef struct {
  TagsightWindow *self;
  gint64 dataset_id;
  char *old_csv;
} Relocation;

static Relocation *
relocation_new (TagsightWindow *self, gint64 dataset_id, const char *old_csv)
{
  Relocation *r = g_new0 (Relocation, 1);

  r->self = g_object_ref (self);
  r->dataset_id = dataset_id;
  r->old_csv = g_strdup (old_csv);
  return r;
}

static void
relocation_free (Relocation *r)
{
  g_object_unref (r->self);
  g_free (r->old_csv);
  g_free (r);
}

static void
relocation_closure_free (gpointer data, GClosure *closure)
{
  relocation_free (data);
}

gboolean
tagsight_window_relocate_dataset (TagsightWindow *self, gint64 dataset_id, const char *folder,
                                  GError **error)
{
  g_autoptr (TagsightStoreDataset) d = NULL;
  g_autofree char *base = NULL, *csv = NULL;

  if (self->project == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED, _("No project is open"));
      return FALSE;
    }
  if ((d = tagsight_project_get_dataset (self->project, dataset_id, error)) == NULL)
    return FALSE;
  base = g_path_get_basename (d->csv_path);
  csv = g_build_filename (folder, base, NULL);
  if (!g_file_test (csv, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("There is no %s in %s"), base,
                   folder);
      return FALSE;
    }
  if (read_only (self))
    {
      /* nothing can be recorded: the data set is opened from there for now */
      g_free (d->csv_path);
      d->csv_path = g_steal_pointer (&csv);
      open_recorded_dataset (self, d);
      return TRUE;
    }
  if (!tagsight_project_relocate_dataset (self->project, dataset_id, csv, error))
    return FALSE;
  /* images that moved with the CSV are found beside it again; a folder of
   * their own that is gone is forgotten (the Data page asks for it) */
  if (d->image_dir != NULL && !g_file_test (d->image_dir, G_FILE_TEST_IS_DIR)
      && !tagsight_project_set_dataset_image_dir (self->project, dataset_id, NULL, error))
    return FALSE;
  g_clear_pointer (&d, tagsight_dataset_free);
  if ((d = tagsight_project_get_dataset (self->project, dataset_id, error)) == NULL)
    return FALSE;
  open_recorded_dataset (self, d);
  return TRUE;
}

static void
on_relocation_folder (const char *folder, gpointer data)
{
  Relocation *r = data;
  TagsightWindow *self = r->self;
  g_autoptr (GError) error = NULL;

  if (folder != NULL && !tagsight_window_relocate_dataset (self, r->dataset_id, folder, &error))
    {
      tagsight_window_toast (self, error->message);
      /* asked again: the project is of little use without its data */
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        ask_relocation (self, r->dataset_id, r->old_csv);
    }
}

static void
on_relocation_response (AdwMessageDialog *dialog, const char *response, Relocation *r)
{
  g_autofree char *parent = NULL;

  /* @r belongs to the dialog's handler: the chooser gets its own */
  if (g_strcmp0 (response, "choose") != 0)
    return;
  /* start where the CSV was, or as near to it as still exists */
  parent = g_path_get_dirname (r->old_csv);
  while (!g_file_test (parent, G_FILE_TEST_IS_DIR) && strlen (parent) > 1)
    {
      char *up = g_path_get_dirname (parent);

      g_free (parent);
      parent = up;
    }
  {
    const TagsightChooser c = { _("Choose the Data Set’s Folder"),
                                GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER, _("_Select"),
                                .folder = parent };

    tagsight_choose_file (GTK_WIDGET (r->self), &c, on_relocation_folder,
                          relocation_new (r->self, r->dataset_id, r->old_csv),
                          (GDestroyNotify) relocation_free);
  }
}

static void
ask_relocation (TagsightWindow *self, gint64 dataset_id, const char *old_csv)
{
  g_autofree char *base = g_path_get_basename (old_csv);
  g_autofree char *folder = g_path_get_dirname (old_csv);
  g_autofree char *body =
    g_strdup_printf (_("“%s” is no longer in %s. Choose the folder it is in now: the project’s "
                       "runs and label edits are kept."), base, folder);
  GtkWidget *dialog = adw_message_dialog_new (GTK_WINDOW (self), _("Where Is the Data Set Now?"),
                                              body);
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog), "cancel", _("_Not Now"),
                                    "choose", _("_Choose Folder…"), NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "choose",
                                              ADW_RESPONSE_SUGGESTED);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "choose");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  /* freed with the dialog, however it goes away */
  g_signal_connect_data (dialog, "response", G_CALLBACK (on_relocation_response),
                         relocation_new (self, dataset_id, old_csv), relocation_closure_free, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* --- actions -------------------------------------------------------------------- */

static void
on_save_as_chosen (const char *path, gpointer self)
{
  if (path != NULL)
    tagsight_window_save_project_as (self, path);
  else
    tagsight_window_toast (self, _("Only local files can be written"));
}

static void
save_as_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  static const char *const projects[] = { "*.tagsight", NULL };
  TagsightWindow *self = TAGSIGHT_WINDOW (widget);
  TagsightDataset *ds = tagsight_data_page_get_dataset (self->data_page);
  g_autofree char *folder = tagsight_settings_dup_string ("last-folder", "");
  g_autofree char *name = NULL;

  /* named after the data set, in its folder: where a user looks for it */
  if (self->project != NULL)
    {
      g_autofree char *base = g_path_get_basename (tagsight_project_get_path (self->project));

      if (g_str_has_suffix (base, ".tagsight"))
        base[strlen (base) - strlen (".tagsight")] = '\0';
      name = g_strdup_printf (_("%s copy.tagsight"), base);
    }
  else if (ds != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (tagsight_dataset_get_path (ds));
      g_autofree char *dir_base = g_path_get_basename (dir);

      name = g_strdup_printf ("%s.tagsight", dir_base);
      g_free (folder);
      folder = g_steal_pointer (&dir);
    }
  else
    name = g_strdup_printf ("%s.tagsight", _("Untitled"));
  {
    const TagsightChooserFilter filters[] = { { _("Tagsight projects"), projects }, { NULL } };
    const TagsightChooser c = { _("Save the Project"), GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"),
                                folder, name, ".tagsight", filters };

    tagsight_choose_file (widget, &c, on_save_as_chosen, g_object_ref (self), g_object_unref);
  }
}

static void
save_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TagsightWindow *self = TAGSIGHT_WINDOW (widget);

  /* a project is written as the user works (one transaction per change):
   * Save only has something to do when there is no project yet, or when it
   * is read-only (a copy, as an editor does with a read-only file) */
  if (self->project == NULL || read_only (self))
    {
      save_as_action (widget, action_name, parameter);
      return;
    }
  set_setting (self, KEY_PAGE, tagsight_window_get_page (self));
  tagsight_window_toast (self, _("The project is saved: every change is written as it "
                                 "happens"));
}

/* --- boilerplate ---------------------------------------------------------------- */

void
tagsight_window_project_class_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, read_only_bar);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, read_only_label);
  gtk_widget_class_install_action (widget_class, "win.save", NULL, save_action);
  gtk_widget_class_install_action (widget_class, "win.save-as", NULL, save_as_action);
}

void
tagsight_window_project_init (TagsightWindow *self)
{
  self->recorder = tagsight_run_recorder_new (self->train_page);
  g_signal_connect (self->recorder, "run-changed", G_CALLBACK (on_run_changed), self);
  g_signal_connect (self->runs_page, "inspect", G_CALLBACK (on_inspect), self);
  g_signal_connect (self->runs_page, "resume", G_CALLBACK (on_resume), self);
  g_signal_connect (self->train_page, "continue-run", G_CALLBACK (on_continue_run), self);
  g_signal_connect (self->inspect_page, "open-dataset", G_CALLBACK (on_open_dataset), self);
  g_signal_connect (self->stack, "notify::visible-child-name", G_CALLBACK (on_page_changed),
                    self);
}

void
tagsight_window_project_dispose (TagsightWindow *self)
{
  if (self->recorder != NULL)
    g_signal_handlers_disconnect_by_data (self->recorder, self);
  g_clear_object (&self->recorder);
  g_clear_object (&self->project);
  g_clear_pointer (&self->restore_model, g_free);
}
