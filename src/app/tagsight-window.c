/* tagsight-window.c: the main window (see tagsight-window.h). */
#include "tagsight-window-private.h"

#include <glib/gi18n.h>
#include <errno.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "tagsight-batch-page.h"
#include "tagsight-data-page.h"
#include "tagsight-export-page.h"
#include "tagsight-resources.h"
#include "tagsight-results-page.h"
#include "tagsight-settings.h"
#include "tagsight-start-page.h"
#include "tagsight-train-page.h"
#include "tagsight-file-chooser.h"
#include "ts-demo.h"

G_DEFINE_FINAL_TYPE (TagsightWindow, tagsight_window, ADW_TYPE_APPLICATION_WINDOW)

char *
tagsight_demo_dir (void)
{
  return g_build_filename (g_get_user_data_dir (), "tagsight", "demo", NULL);
}

void
tagsight_window_toast (TagsightWindow *self, const char *message)
{
  AdwToast *toast = adw_toast_new (message);

  adw_toast_set_timeout (toast, 6);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

void
tagsight_window_set_page (TagsightWindow *self, const char *name)
{
  char *wanted = g_strdup (name);  /* @name may be self->wanted_page itself */
  GtkWidget *child;

  g_free (self->wanted_page);
  self->wanted_page = wanted;
  /* a page that is not visible yet is shown when its data arrives */
  child = adw_view_stack_get_child_by_name (self->stack, wanted);
  if (child != NULL
      && adw_view_stack_page_get_visible (adw_view_stack_get_page (self->stack, child)))
    adw_view_stack_set_visible_child (self->stack, child);
}

/* AdwViewSwitcherTitle 1.2 keeps showing the plain title when pages turn
 * visible after it was laid out; switching it off and on re-measures it. */
void
tagsight_window_refresh_switcher (TagsightWindow *self)
{
  adw_view_switcher_title_set_view_switcher_enabled (self->switcher_title, FALSE);
  adw_view_switcher_title_set_view_switcher_enabled (self->switcher_title, TRUE);
  gtk_widget_queue_resize (GTK_WIDGET (self->switcher_title));
}

void
tagsight_window_open_csv (TagsightWindow *self, const char *path)
{
  tagsight_window_open_csv_with_images (self, path, NULL);
}

void
tagsight_window_open_csv_with_images (TagsightWindow *self, const char *path,
                                      const char *image_dir)
{
  g_autofree char *uri = g_filename_to_uri (path, NULL, NULL);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *title = g_strdup_printf ("%s — %s", base, _("Tagsight"));

  g_autofree char *folder = g_path_get_dirname (path);

  if (uri != NULL)
    gtk_recent_manager_add_item (gtk_recent_manager_get_default (), uri);
  tagsight_settings_set_string ("last-folder", folder);
  gtk_window_set_title (GTK_WINDOW (self), title);
  /* shown in the header when the window is too narrow for the switcher */
  adw_view_switcher_title_set_subtitle (self->switcher_title, base);
  adw_view_stack_page_set_visible (self->data_stack_page, TRUE);
  tagsight_window_refresh_switcher (self);
  if (self->wanted_page == NULL || g_strcmp0 (self->wanted_page, "start") == 0)
    tagsight_window_set_page (self, "data");
  else
    tagsight_window_set_page (self, self->wanted_page);
  tagsight_data_page_open_with_images (self->data_page, path, image_dir);
}

static void
on_dataset_changed (TagsightDataPage *page, TagsightDataset *dataset, TagsightWindow *self)
{
  gboolean usable = dataset != NULL && tagsight_dataset_get_datablock (dataset) != NULL;

  adw_view_stack_page_set_visible (self->batch_stack_page, dataset != NULL);
  adw_view_stack_page_set_visible (self->train_stack_page, usable);
  tagsight_window_refresh_switcher (self);
  tagsight_batch_page_set_dataset (self->batch_page, dataset);
  tagsight_train_page_set_dataset (self->train_page, usable ? dataset : NULL);
  tagsight_results_page_set_dataset (self->results_page, usable ? dataset : NULL);
  tagsight_window_project_dataset_changed (self, usable ? dataset : NULL);
  if (usable && self->auto_lr_find)
    {
      self->auto_lr_find = FALSE;
      gtk_widget_activate_action (GTK_WIDGET (self->train_page), "train.lr-find", NULL);
    }
  else if (usable && self->autostart)
    {
      self->autostart = FALSE;
      tagsight_train_page_start (self->train_page);
    }
  if (self->wanted_page != NULL)
    tagsight_window_set_page (self, self->wanted_page);
}

static void
on_data_failed (TagsightDataPage *page, const char *message, TagsightWindow *self)
{
  tagsight_window_toast (self, message);
}

/* --- the demo ---------------------------------------------------------- */

static void
demo_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  const char *part = task_data;
  ts_demo_config cfg;
  ts_demo_summary summary;

  ts_demo_config_init (&cfg);
  if (ts_demo_write (part, &cfg, &summary) != TS_OK)
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", ts_last_error ());
  else
    g_task_return_boolean (task, TRUE);
}

/* ts_demo_write has no progress callback: counting the images it has
 * written so far is the progress. */
static gboolean
demo_progress (gpointer data)
{
  TagsightWindow *self = data;
  g_autofree char *train = g_build_filename (self->demo_part, "train", NULL);
  g_autoptr (GDir) dir = g_dir_open (train, 0, NULL);
  g_autofree char *text = NULL;
  int n = 0;

  if (dir != NULL)
    while (g_dir_read_name (dir) != NULL)
      n++;
  text = g_strdup_printf (_("Drawing demo images: %d of %d"), n, self->demo_n);
  tagsight_start_page_set_progress (self->start_page, text, (double) n / MAX (self->demo_n, 1));
  return G_SOURCE_CONTINUE;
}

static void
on_demo_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TagsightWindow) self = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = tagsight_demo_dir ();
  g_autofree char *csv = g_build_filename (dir, "train.csv", NULL);

  self->generating = FALSE;
  g_clear_handle_id (&self->progress_id, g_source_remove);
  if (self->start_page == NULL)
    return;  /* the window was closed meanwhile */
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.demo", TRUE);
  tagsight_start_page_set_progress (self->start_page, NULL, 0);
  if (g_task_propagate_boolean (G_TASK (result), &error) && g_rename (self->demo_part, dir) != 0)
    g_set_error (&error, G_IO_ERROR, g_io_error_from_errno (errno),
                 _("Could not move %s to %s: %s"), self->demo_part, dir, g_strerror (errno));
  g_clear_pointer (&self->demo_part, g_free);
  if (error != NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("Could not make the demo data: %s"),
                                              error->message);

      tagsight_window_toast (self, msg);
      return;
    }
  tagsight_window_open_csv (self, csv);
}

void
tagsight_window_open_demo (TagsightWindow *self)
{
  g_autofree char *dir = tagsight_demo_dir ();
  g_autofree char *csv = g_build_filename (dir, "train.csv", NULL);
  g_autofree char *parent = NULL;
  g_autoptr (GTask) task = NULL;
  g_autoptr (GError) error = NULL;
  ts_demo_config cfg;

  if (g_file_test (csv, G_FILE_TEST_EXISTS))
    {
      tagsight_window_open_csv (self, csv);
      return;
    }
  if (self->generating)
    return;
  /* written into a scratch folder and renamed at the end, so an
   * interrupted run never leaves a half demo that looks complete */
  parent = g_path_get_dirname (dir);
  if (g_mkdir_with_parents (parent, 0755) != 0)
    {
      g_autofree char *msg = g_strdup_printf (_("Could not create %s: %s"), parent,
                                              g_strerror (errno));
      tagsight_window_toast (self, msg);
      return;
    }
  g_free (self->demo_part);
  self->demo_part = g_strdup_printf ("%s.part-%d", dir, (int) getpid ());
  ts_demo_config_init (&cfg);
  self->demo_n = cfg.n;
  self->generating = TRUE;
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.demo", FALSE);
  tagsight_start_page_set_progress (self->start_page, _("Drawing demo images…"), 0);
  self->progress_id = g_timeout_add (150, demo_progress, self);
  task = g_task_new (NULL, NULL, on_demo_written, g_object_ref (self));
  g_task_set_task_data (task, g_strdup (self->demo_part), g_free);
  g_task_run_in_thread (task, demo_thread);
}

/* --- actions ----------------------------------------------------------- */

static void
on_open_chosen (const char *path, gpointer self)
{
  if (path != NULL)
    tagsight_window_open (self, path);
  else
    tagsight_window_toast (self, _("Only local files can be opened"));
}

static void
open_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  static const char *const both[] = { "text/csv", "*.csv", "*.tagsight", NULL };
  static const char *const projects[] = { "*.tagsight", NULL };
  static const char *const csvs[] = { "text/csv", "*.csv", NULL };
  g_autofree char *folder = tagsight_settings_dup_string ("last-folder", "");
  const TagsightChooserFilter filters[] = {
    { _("CSV files and Tagsight projects"), both },
    { _("Tagsight projects"), projects },
    { _("CSV files"), csvs },
    { NULL } };
  const TagsightChooser c = { _("Open a Data Set or a Project"), GTK_FILE_CHOOSER_ACTION_OPEN,
                              _("_Open"), .folder = folder, .filters = filters };

  tagsight_choose_file (widget, &c, on_open_chosen, g_object_ref (widget), g_object_unref);
}

static void
open_path_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  tagsight_window_open (TAGSIGHT_WINDOW (widget), g_variant_get_string (parameter, NULL));
}

static void
demo_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  tagsight_window_open_demo (TAGSIGHT_WINDOW (widget));
}

static void
reroll_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TagsightWindow *self = TAGSIGHT_WINDOW (widget);

  tagsight_batch_page_reroll (self->batch_page);
}

static void
page_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  tagsight_window_set_page (TAGSIGHT_WINDOW (widget), g_variant_get_string (parameter, NULL));
}

static void
train_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TagsightWindow *self = TAGSIGHT_WINDOW (widget);

  if (!adw_view_stack_page_get_visible (self->train_stack_page))
    {
      tagsight_window_toast (self, _("Open a data set first"));
      return;
    }
  tagsight_window_set_page (self, "train");
  tagsight_train_page_start (self->train_page);
}

static void
stop_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TagsightWindow *self = TAGSIGHT_WINDOW (widget);

  if (tagsight_train_page_get_busy (self->train_page))
    tagsight_train_page_stop (self->train_page);
}

static void
on_export_chosen (const char *path, gpointer self)
{
  if (path != NULL)
    tagsight_window_export (self, path);
  else
    tagsight_window_toast (self, _("Only local files can be written"));
}

static void
export_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  static const char *const models[] = { "*.safetensors", NULL };
  TagsightWindow *self = TAGSIGHT_WINDOW (widget);
  g_autofree char *folder = tagsight_settings_dup_string ("last-folder", "");
  const TagsightChooserFilter filters[] = {
    { _("Tagsight models (.safetensors)"), models }, { NULL } };
  const TagsightChooser c = { _("Export the Model"), GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"),
                              folder, "model.safetensors", ".safetensors", filters };

  if (!tagsight_training_has_model (tagsight_train_page_get_training (self->train_page)))
    {
      tagsight_window_toast (self, _("No model to export yet: train one first"));
      return;
    }
  tagsight_choose_file (widget, &c, on_export_chosen, g_object_ref (self), g_object_unref);
}

void
tagsight_window_set_autostart (TagsightWindow *self, gboolean autostart)
{
  self->autostart = autostart;
}

void
tagsight_window_set_auto_lr_find (TagsightWindow *self, gboolean lr_find)
{
  self->auto_lr_find = lr_find;
}

void
tagsight_window_set_auto_predict (TagsightWindow *self, const char *const *images)
{
  g_strfreev (self->auto_predict);
  self->auto_predict = g_strdupv ((char **) images);
}

void
tagsight_window_export (TagsightWindow *self, const char *path)
{
  tagsight_export_page_save (self->export_page, path);
}

/* --- training, results and export talk through the window --------------- */

static void
on_train_finished (TagsightTrainPage *page, int status, const char *message,
                   TagsightWindow *self)
{
  TagsightTraining *training = tagsight_train_page_get_training (page);
  /* with a project open, the run's end is recorded and its predictions
   * come from there */
  gboolean recorded = tagsight_window_project_train_finished (self, status, message);

  if (status != TS_OK && status != TS_ERR_CANCELLED)
    {
      g_autofree char *msg = g_strdup_printf (_("Training failed: %s"),
                                              message != NULL ? message : "");
      tagsight_window_toast (self, msg);
    }
  else if (message != NULL)
    tagsight_window_toast (self, message);
  if (!tagsight_training_has_model (training))
    return;
  adw_view_stack_page_set_visible (self->results_stack_page, TRUE);
  adw_view_stack_page_set_visible (self->export_stack_page, TRUE);
  tagsight_window_refresh_switcher (self);
  if (!recorded)
    tagsight_results_page_refresh (self->results_page);
}

static void
on_thresholds_changed (TagsightResultsPage *page, TagsightWindow *self)
{
  int n = 0;
  const float *ct = tagsight_results_page_get_class_thresholds (page, &n);

  tagsight_export_page_set_thresholds (self->export_page,
                                       tagsight_results_page_get_threshold (page), ct, n,
                                       tagsight_results_page_get_per_class (page));
}

static void
on_results_ready (TagsightResultsPage *page, gboolean ok, TagsightWindow *self)
{
  if (!ok && tagsight_results_page_get_error (page) != NULL)
    tagsight_window_toast (self, tagsight_results_page_get_error (page));
  if (ok)
    {
      /* a model opened on the Results page can be exported and used too */
      adw_view_stack_page_set_visible (self->results_stack_page, TRUE);
      adw_view_stack_page_set_visible (self->export_stack_page, TRUE);
      tagsight_window_refresh_switcher (self);
      if (self->wanted_page != NULL)
        tagsight_window_set_page (self, self->wanted_page);
      if (self->auto_predict != NULL)
        {
          tagsight_export_page_predict (self->export_page,
                                        (const char *const *) self->auto_predict);
          g_clear_pointer (&self->auto_predict, g_strfreev);
        }
    }
}

static void
on_export_saved (TagsightExportPage *page, gboolean ok, const char *message,
                 TagsightWindow *self)
{
  if (message != NULL)
    tagsight_window_toast (self, message);
}

/* --- closing while a run goes on ---------------------------------------- */

/* Nothing runs on the training thread and the run's end (status, predictions,
 * model) is in the project. */
static gboolean
quit_ready (TagsightWindow *self)
{
  return !tagsight_train_page_get_busy (self->train_page)
         && tagsight_window_get_recording_run (self) == 0;
}

static gboolean
close_when_ready (gpointer data)
{
  TagsightWindow *self = data;

  self->quit_idle = 0;
  if (quit_ready (self))
    gtk_window_close (GTK_WINDOW (self));
  return G_SOURCE_REMOVE;
}

/* Looked at once the signal's other handlers ran: the end of a run starts
 * more work on the thread (its predictions, its model file, Results). */
static void
on_quit_progress (TagsightWindow *self)
{
  if (self->quit_idle == 0)
    self->quit_idle = g_idle_add (close_when_ready, self);
}

static void
stop_and_quit (TagsightWindow *self)
{
  TagsightTraining *training = tagsight_train_page_get_training (self->train_page);

  self->quitting = TRUE;
  g_signal_connect_swapped (training, "notify::busy", G_CALLBACK (on_quit_progress), self);
  g_signal_connect_swapped (self->recorder, "run-changed", G_CALLBACK (on_quit_progress), self);
  tagsight_train_page_stop (self->train_page);
  on_quit_progress (self);
}

static void
on_quit_response (AdwMessageDialog *dialog, const char *response, TagsightWindow *self)
{
  if (g_strcmp0 (response, "stop") == 0)
    stop_and_quit (self);
}

/* A run killed with the process would leave it "running" in the project
 * and its thread cut mid-step: ask, then stop it as Stop does. */
static void
ask_to_quit (TagsightWindow *self)
{
  AdwMessageDialog *d;
  gboolean kept = self->project != NULL && tagsight_window_get_recording_run (self) != 0;

  if (self->quit_dialog != NULL)
    {
      gtk_window_present (GTK_WINDOW (self->quit_dialog));
      return;
    }
  d = ADW_MESSAGE_DIALOG (adw_message_dialog_new (GTK_WINDOW (self),
                                                  _("Stop Training and Quit?"), NULL));
  adw_message_dialog_set_body (d, kept ? _("The run stops at the end of the current batch. "
                                           "It is kept in the project and can be continued "
                                           "later from its last checkpoint.")
                                       : _("Training stops at the end of the current batch. "
                                           "It is not recorded in a project, so it cannot be "
                                           "continued after quitting."));
  adw_message_dialog_add_responses (d, "cancel", _("_Cancel"), "stop", _("_Stop and Quit"),
                                    NULL);
  adw_message_dialog_set_response_appearance (d, "stop", ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (d, "cancel");
  adw_message_dialog_set_close_response (d, "cancel");
  g_signal_connect (d, "response", G_CALLBACK (on_quit_response), self);
  self->quit_dialog = d;
  g_object_add_weak_pointer (G_OBJECT (d), (gpointer *) &self->quit_dialog);
  gtk_window_present (GTK_WINDOW (d));
}

/* --- window size --------------------------------------------------------- */

static gboolean
on_close_request (GtkWindow *window, gpointer data)
{
  TagsightWindow *self = TAGSIGHT_WINDOW (window);
  int w, h;

  if (self->quitting ? !quit_ready (self) : tagsight_train_page_get_running (self->train_page))
    {
      if (!self->quitting)
        ask_to_quit (self);
      return TRUE;
    }
  gtk_window_get_default_size (window, &w, &h);
  tagsight_settings_set_int ("window-width", w);
  tagsight_settings_set_int ("window-height", h);
  tagsight_settings_set_boolean ("window-is-maximized", gtk_window_is_maximized (window));
  return FALSE;
}

/* --- drag and drop ----------------------------------------------------- */

static gboolean
on_drop (GtkDropTarget *target, const GValue *value, double x, double y, TagsightWindow *self)
{
  GFile *file = g_value_get_object (value);
  g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

  if (path == NULL)
    {
      tagsight_window_toast (self, _("Only local files can be opened"));
      return FALSE;
    }
  if (!g_str_has_suffix (path, ".csv") && !g_str_has_suffix (path, ".CSV")
      && !g_str_has_suffix (path, ".tagsight"))
    {
      g_autofree char *base = g_path_get_basename (path);
      g_autofree char *msg = g_strdup_printf (_("“%s” is not a CSV file or a Tagsight project"),
                                              base);

      tagsight_window_toast (self, msg);
      return FALSE;
    }
  tagsight_window_open (self, path);
  return TRUE;
}

/* --- boilerplate ------------------------------------------------------- */

static void
tagsight_window_dispose (GObject *object)
{
  TagsightWindow *self = TAGSIGHT_WINDOW (object);

  gpointer pages[] = { self->train_page, self->results_page, self->export_page,
                      self->data_page, self->runs_page, self->inspect_page };

  g_clear_handle_id (&self->progress_id, g_source_remove);
  g_clear_handle_id (&self->quit_idle, g_source_remove);
  if (self->quit_dialog != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->quit_dialog, self);
      g_object_remove_weak_pointer (G_OBJECT (self->quit_dialog), (gpointer *) &self->quit_dialog);
      self->quit_dialog = NULL;
    }
  if (self->train_page != NULL)
    g_signal_handlers_disconnect_by_data (tagsight_train_page_get_training (self->train_page),
                                          self);
  if (self->recorder != NULL)
    g_signal_handlers_disconnect_by_data (self->recorder, self);
  /* a page can outlive the window a moment (a job it started holds a
   * reference) and must not call back into it once its pointers are gone */
  for (guint i = 0; i < G_N_ELEMENTS (pages); i++)
    if (pages[i] != NULL)
      g_signal_handlers_disconnect_by_data (pages[i], self);
  tagsight_window_project_dispose (self);
  gtk_widget_dispose_template (GTK_WIDGET (self), TAGSIGHT_TYPE_WINDOW);
  G_OBJECT_CLASS (tagsight_window_parent_class)->dispose (object);
}

static void
tagsight_window_finalize (GObject *object)
{
  TagsightWindow *self = TAGSIGHT_WINDOW (object);

  g_free (self->wanted_page);
  g_free (self->demo_part);
  g_strfreev (self->auto_predict);
  G_OBJECT_CLASS (tagsight_window_parent_class)->finalize (object);
}

static void
tagsight_window_class_init (TagsightWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = tagsight_window_dispose;
  object_class->finalize = tagsight_window_finalize;

  /* pulls the resource object (and its registration) out of the static library */
  (void) tagsight_get_resource ();
  g_type_ensure (TAGSIGHT_TYPE_START_PAGE);
  g_type_ensure (TAGSIGHT_TYPE_DATA_PAGE);
  g_type_ensure (TAGSIGHT_TYPE_BATCH_PAGE);
  g_type_ensure (TAGSIGHT_TYPE_TRAIN_PAGE);
  g_type_ensure (TAGSIGHT_TYPE_RESULTS_PAGE);
  g_type_ensure (TAGSIGHT_TYPE_EXPORT_PAGE);
  g_type_ensure (TAGSIGHT_TYPE_RUNS_PAGE);
  g_type_ensure (TAGSIGHT_TYPE_INSPECT_PAGE);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               "/io/github/tagsight/Tagsight/tagsight-window.ui");
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, switcher_title);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, data_stack_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, batch_stack_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, start_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, data_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, batch_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, train_stack_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, results_stack_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, export_stack_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, train_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, results_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, export_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, runs_stack_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, inspect_stack_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, runs_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightWindow, inspect_page);

  gtk_widget_class_install_action (widget_class, "win.open", NULL, open_action);
  gtk_widget_class_install_action (widget_class, "win.open-path", "s", open_path_action);
  gtk_widget_class_install_action (widget_class, "win.demo", NULL, demo_action);
  gtk_widget_class_install_action (widget_class, "win.reroll", NULL, reroll_action);
  gtk_widget_class_install_action (widget_class, "win.page", "s", page_action);
  gtk_widget_class_install_action (widget_class, "win.train", NULL, train_action);
  gtk_widget_class_install_action (widget_class, "win.stop", NULL, stop_action);
  gtk_widget_class_install_action (widget_class, "win.export", NULL, export_action);
  tagsight_window_project_class_init (widget_class);
}

static void
tagsight_window_init (TagsightWindow *self)
{
  GtkDropTarget *drop = gtk_drop_target_new (G_TYPE_FILE, GDK_ACTION_COPY);

  TagsightTraining *training;

  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_window_set_default_size (GTK_WINDOW (self),
                               tagsight_settings_get_int ("window-width", 1280),
                               tagsight_settings_get_int ("window-height", 820));
  if (tagsight_settings_get_boolean ("window-is-maximized", FALSE))
    gtk_window_maximize (GTK_WINDOW (self));
  g_signal_connect (self, "close-request", G_CALLBACK (on_close_request), NULL);
  /* one session behind Train, Results and Export */
  training = tagsight_train_page_get_training (self->train_page);
  tagsight_results_page_set_training (self->results_page, training);
  tagsight_export_page_set_training (self->export_page, training);
  g_signal_connect (self->train_page, "finished", G_CALLBACK (on_train_finished), self);
  g_signal_connect (self->results_page, "thresholds-changed",
                    G_CALLBACK (on_thresholds_changed), self);
  g_signal_connect (self->results_page, "ready", G_CALLBACK (on_results_ready), self);
  g_signal_connect (self->export_page, "saved", G_CALLBACK (on_export_saved), self);
  g_signal_connect (self->data_page, "dataset-changed", G_CALLBACK (on_dataset_changed), self);
  g_signal_connect (self->data_page, "failed", G_CALLBACK (on_data_failed), self);
  g_signal_connect (drop, "drop", G_CALLBACK (on_drop), self);
  tagsight_window_project_init (self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));
}

const char *
tagsight_window_get_page (TagsightWindow *self)
{
  return adw_view_stack_get_visible_child_name (self->stack);
}

TagsightDataPage *
tagsight_window_get_data_page (TagsightWindow *self)
{
  return self->data_page;
}

TagsightBatchPage *
tagsight_window_get_batch_page (TagsightWindow *self)
{
  return self->batch_page;
}

TagsightTrainPage *
tagsight_window_get_train_page (TagsightWindow *self)
{
  return self->train_page;
}

TagsightResultsPage *
tagsight_window_get_results_page (TagsightWindow *self)
{
  return self->results_page;
}

TagsightExportPage *
tagsight_window_get_export_page (TagsightWindow *self)
{
  return self->export_page;
}

TagsightWindow *
tagsight_window_new (AdwApplication *app)
{
  return g_object_new (TAGSIGHT_TYPE_WINDOW, "application", app, NULL);
}
