/* test-lifetime.c: work that ends after what started it is gone, or after
 * the user moved on.  A stopped run's scratch checkpoint goes with the
 * training; the thumbnailer hands its results to the main thread only;
 * another project opened, or the project saved elsewhere, while a run's end
 * is still being recorded; the window closed while that recording, a model
 * save, Predict, training, the LR finder or the Data page's load run;
 * another CSV opened mid-run.  Each case must end without a crash, a
 * critical or a use-after-free (run it under -Db_sanitize=address).  Tiny
 * network, 40 images of 48 px.  The first test needs no display; the others
 * skip without one (Xvfb in CI). */
#include <adwaita.h>
#include <glib/gstdio.h>

#include "tagsight-application.h"
#include "tagsight-thumbnailer.h"
#include "app-test-window.h"

static gboolean have_display;
static char *tmp;
static char *csv;
static char *csv2;

static gboolean
is_null (gpointer data)
{
  return *(gpointer *) data == NULL;
}

static gboolean
has_epoch (gpointer page)
{
  return tagsight_train_page_get_n_epoch_rows (page) >= 1;
}

static TagsightWindow *
open_window (const char *path, int epochs)
{
  TagsightWindow *win = tagsight_window_new (NULL);

  gtk_window_set_default_size (GTK_WINDOW (win), 1000, 700);
  gtk_window_present (GTK_WINDOW (win));
  tagsight_window_open_csv (win, path);
  g_assert_true (app_test_wait_for (app_test_data_loaded, win, 60));
  app_test_set_tiny (tagsight_window_get_train_page (win), epochs, 0, 8, 1);
  return win;
}

/* Trains one epoch and waits for its end (and for Results' evaluation). */
static void
train_one (TagsightWindow *win)
{
  TagsightTrainPage *page = tagsight_window_get_train_page (win);
  AppTestFinished f = { 0 };
  gulong id = g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), &f);

  g_assert_true (tagsight_train_page_start (page));
  g_assert_true (app_test_wait_for (app_test_is_done, &f, 120));
  g_assert_cmpint (f.status, ==, TS_OK);
  g_signal_handler_disconnect (page, id);
  g_assert_true (app_test_wait_for (app_test_not_busy, tagsight_train_page_get_training (page), 60));
  g_free (f.message);
}

/* Destroys @win and waits until everything it started let go of it. */
static void
close_and_wait (TagsightWindow *win, gpointer watched)
{
  gpointer weak = watched;

  g_object_add_weak_pointer (G_OBJECT (watched), &weak);
  gtk_window_destroy (GTK_WINDOW (win));
  g_assert_true (app_test_wait_for (is_null, &weak, 60));
}

/* With a project open, the end of a run is recorded (predictions, model)
 * after "finished"; the window closed meanwhile is kept until that is done,
 * then freed. */
static void
test_close_while_recording (void)
{
  g_autofree char *project = g_build_filename (tmp, "lifetime.tagsight", NULL);
  TagsightWindow *win;
  TagsightTrainPage *page;
  AppTestFinished f = { 0 };

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  win = open_window (csv, 1);
  g_assert_true (tagsight_window_save_project_as (win, project));
  page = tagsight_window_get_train_page (win);
  g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), &f);
  g_assert_true (tagsight_train_page_start (page));
  g_assert_true (app_test_wait_for (app_test_is_done, &f, 120));
  g_assert_cmpint (f.status, ==, TS_OK);
  /* the recording has begun (a job on the training's thread) */
  g_assert_true (tagsight_training_get_busy (tagsight_train_page_get_training (page)));
  close_and_wait (win, win);
  g_free (f.message);
}

/* Export: the window closed before the model file is written. */
static void
test_close_while_saving (void)
{
  g_autofree char *model = g_build_filename (tmp, "closed.safetensors", NULL);
  TagsightWindow *win;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  win = open_window (csv, 1);
  train_one (win);
  tagsight_window_export (win, model);
  close_and_wait (win, tagsight_window_get_export_page (win));
  g_assert_true (g_file_test (model, G_FILE_TEST_IS_REGULAR));
}

/* Predict: the window closed while the snapshot is saved and read back. */
static void
test_close_while_predicting (void)
{
  TagsightWindow *win;
  const ts_datablock *db;
  const char *images[3];

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  win = open_window (csv, 1);
  train_one (win);
  db = tagsight_dataset_get_datablock (
    tagsight_data_page_get_dataset (tagsight_window_get_data_page (win)));
  images[0] = db->items[0].path;
  images[1] = db->items[1].path;
  images[2] = NULL;
  tagsight_export_page_predict (tagsight_window_get_export_page (win), images);
  close_and_wait (win, tagsight_window_get_export_page (win));
}

/* Training, the LR finder and the Data page's load, each cut short by
 * closing the window; the training ends on its own and is freed. */
static void
test_close_while_running (void)
{
  TagsightWindow *win;
  TagsightTrainPage *page;
  TagsightTraining *training;
  gpointer weak;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  /* mid-training, with epoch rows and batch events still queued */
  win = open_window (csv, 500);
  page = tagsight_window_get_train_page (win);
  training = g_object_ref (tagsight_train_page_get_training (page));
  g_assert_true (tagsight_train_page_start (page));
  g_assert_true (app_test_wait_for (has_epoch, page, 120));
  close_and_wait (win, page);
  g_assert_true (app_test_wait_for (app_test_not_busy, training, 60));
  weak = training;
  g_object_add_weak_pointer (G_OBJECT (training), &weak);
  g_object_unref (training);
  g_assert_true (app_test_wait_for (is_null, &weak, 30));

  /* mid-LR finder */
  win = open_window (csv, 1);
  page = tagsight_window_get_train_page (win);
  training = g_object_ref (tagsight_train_page_get_training (page));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "train.lr-find", NULL));
  g_assert_true (tagsight_training_get_busy (training));
  app_test_iterate_for (500);
  close_and_wait (win, page);
  g_assert_true (app_test_wait_for (app_test_not_busy, training, 60));
  g_object_unref (training);

  /* mid-load: the Data page, the Batch page's render, the thumbnails */
  win = tagsight_window_new (NULL);
  gtk_window_present (GTK_WINDOW (win));
  tagsight_window_open_csv (win, csv);
  close_and_wait (win, tagsight_window_get_data_page (win));
}

/* Another CSV opened while a run uses the first: the run goes on with its
 * own copy, ends, and Results evaluate it. */
static void
test_open_other_mid_run (void)
{
  TagsightWindow *win;
  TagsightTrainPage *page;
  AppTestFinished f = { 0 };

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  win = open_window (csv, 500);
  page = tagsight_window_get_train_page (win);
  g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), &f);
  g_assert_true (tagsight_train_page_start (page));
  g_assert_true (app_test_wait_for (has_epoch, page, 120));
  tagsight_window_open_csv (win, csv2);
  g_assert_true (app_test_wait_for (app_test_data_loaded, win, 60));
  g_assert_cmpstr (tagsight_dataset_get_path (tagsight_data_page_get_dataset (
                     tagsight_window_get_data_page (win))), ==, csv2);
  tagsight_train_page_stop (page);
  g_assert_true (app_test_wait_for (app_test_is_done, &f, 60));
  g_assert_cmpint (f.status, ==, TS_ERR_CANCELLED);
  g_assert_true (app_test_wait_for (app_test_not_busy, tagsight_train_page_get_training (page), 60));
  close_and_wait (win, win);
  g_free (f.message);
}

/* Another project opened, or the project saved elsewhere, as soon as a run
 * ends, while that run's end (predictions, model, status) is still being
 * written: either the window refuses, or the end lands whole where it
 * belongs and the other project is left as it was. */
typedef struct {
  const char *path;
  gint64 run_id;
} RunRef;

static gboolean
run_ended (gpointer data)
{
  RunRef *r = data;
  g_autoptr (TagsightProject) p = tagsight_project_open (r->path, 0, NULL);
  g_autoptr (TagsightRun) run = p != NULL ? tagsight_project_get_run (p, r->run_id, NULL) : NULL;

  return run != NULL && run->status == TAGSIGHT_RUN_FINISHED && run->model_path != NULL;
}

/* Trains one epoch in a new project at @first; returns when "finished"
 * came, with the run's end being recorded; *run_id is the run's. */
static TagsightWindow *
train_in_project (const char *first, gint64 *run_id)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightProject) p = NULL;
  g_autoptr (GPtrArray) runs = NULL;
  TagsightWindow *win = open_window (csv, 1);
  TagsightTrainPage *page = tagsight_window_get_train_page (win);
  AppTestFinished f = { 0 };
  gulong id;

  g_assert_true (tagsight_window_save_project_as (win, first));
  id = g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), &f);
  g_assert_true (tagsight_train_page_start (page));
  g_assert_true (app_test_wait_for (app_test_is_done, &f, 120));
  g_signal_handler_disconnect (page, id);
  g_assert_cmpint (f.status, ==, TS_OK);
  /* the recording goes on: predictions on the training's thread */
  g_assert_true (tagsight_training_get_busy (tagsight_train_page_get_training (page)));
  p = tagsight_project_open (first, 0, &error);
  g_assert_no_error (error);
  runs = tagsight_project_list_runs (p, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (runs->len, ==, 1);
  *run_id = ((TagsightRun *) runs->pdata[0])->id;
  g_free (f.message);
  return win;
}

/* Waits for the end of run @run_id in @path and for the window to settle. */
static void
wait_recorded (TagsightWindow *win, const char *path, gint64 run_id)
{
  RunRef ref = { path, run_id };

  g_assert_true (app_test_wait_for (run_ended, &ref, 60));
  g_assert_true (app_test_wait_for (app_test_not_busy, tagsight_train_page_get_training (
                                      tagsight_window_get_train_page (win)), 60));
  app_test_iterate_for (500);
}

static void
test_open_project_while_recording (void)
{
  g_autofree char *first = g_build_filename (tmp, "first.tagsight", NULL);
  g_autofree char *second = g_build_filename (tmp, "second.tagsight", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightProject) p2 = NULL;
  g_autofree char *inspect = NULL;
  TagsightWindow *win;
  gint64 run_id;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  p2 = tagsight_project_open (second, TAGSIGHT_PROJECT_OPEN_CREATE, &error);
  g_assert_no_error (error);
  g_clear_object (&p2);
  win = train_in_project (first, &run_id);
  tagsight_window_open_project (win, second);
  wait_recorded (win, first, run_id);

  /* the second project is not told about the first one's run */
  p2 = tagsight_project_open (second, 0, &error);
  g_assert_no_error (error);
  inspect = tagsight_project_dup_setting (p2, "inspect.run");
  g_assert_null (inspect);
  if (g_strcmp0 (tagsight_project_get_path (tagsight_window_get_project (win)), second) == 0)
    g_assert_cmpint (tagsight_inspect_page_get_run (tagsight_window_get_inspect_page (win)), ==,
                     0);
  else
    g_assert_cmpint (tagsight_inspect_page_get_run (tagsight_window_get_inspect_page (win)), ==,
                     run_id);
  gtk_window_destroy (GTK_WINDOW (win));
}

static void
test_save_as_while_recording (void)
{
  g_autofree char *first = g_build_filename (tmp, "orig.tagsight", NULL);
  g_autofree char *copy = g_build_filename (tmp, "copy.tagsight", NULL);
  TagsightWindow *win;
  gint64 run_id;
  gboolean saved;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  win = train_in_project (first, &run_id);
  saved = tagsight_window_save_project_as (win, copy);
  wait_recorded (win, first, run_id);
  if (saved)
    {
      /* a copy holds the run's end too */
      RunRef ref = { copy, run_id };

      g_assert_true (run_ended (&ref));
    }
  else
    g_assert_cmpstr (tagsight_project_get_path (tagsight_window_get_project (win)), ==, first);
  gtk_window_destroy (GTK_WINDOW (win));
}

static GThread *main_thread;

static void
on_thumbnail (TagsightItem *item, GParamSpec *pspec, int *n)
{
  /* GTK objects are the main thread's */
  g_assert_true (g_thread_self () == main_thread);
  if (tagsight_item_get_thumbnail (item) != NULL)
    (*n)++;
}

static gboolean
all_delivered (gpointer data)
{
  GPtrArray *items = data;

  for (guint i = 0; i < items->len; i++)
    if (tagsight_item_get_thumbnail_pending (items->pdata[i]))
      return FALSE;
  return TRUE;
}

/* The thumbnailer's results reach the items on the main thread, when its
 * loop runs, also while no thread owns the main context (as between the
 * iterations of these tests, or after g_application_run returned). */
static void
test_thumbnails_on_main_thread (void)
{
  TagsightMapping m = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightDataset) ds = tagsight_dataset_load (csv, &m, NULL, &error);
  g_autoptr (GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
  TagsightThumbnailer *thumbs;
  int n_set = 0;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_no_error (error);
  main_thread = g_thread_self ();
  thumbs = tagsight_thumbnailer_new (64, 16);
  for (int i = 0; i < 8; i++)
    {
      TagsightItem *item = tagsight_item_new (ds, i);

      g_signal_connect (item, "notify::thumbnail", G_CALLBACK (on_thumbnail), &n_set);
      g_ptr_array_add (items, item);
      tagsight_thumbnailer_request (thumbs, item);
    }
  /* the last reference goes while jobs are queued */
  g_object_unref (thumbs);
  /* time for the workers to decode them all, without iterating */
  g_usleep (G_USEC_PER_SEC);
  g_assert_cmpint (n_set, ==, 0);
  g_assert_true (app_test_wait_for (all_delivered, items, 30));
  g_assert_cmpint (n_set, ==, (int) items->len);
}

typedef struct {
  gboolean done, ok;
} JobDone;

static void
on_job_done (GObject *source, GAsyncResult *result, gpointer data)
{
  JobDone *d = data;

  /* either job's result: both are boolean tasks */
  d->ok = g_task_propagate_boolean (G_TASK (result), NULL);
  d->done = TRUE;
}

static gboolean
job_done (gpointer data)
{
  return ((JobDone *) data)->done;
}

/* A stopped run keeps its scratch checkpoint for Continue, also when
 * opening other data is refused as busy; the training removes it when it goes (closing the window, quitting), and names the
 * right file when it does.  No display needed. */
static void
test_scratch_checkpoint_removed (void)
{
  TagsightTraining *training = tagsight_training_new ();
  TagsightTrainSettings s;
  AppTestFinished d = { 0 };
  g_autofree char *ckpt = NULL, *resumable = NULL;
  gpointer weak = training;
  JobDone lr_done = { 0 }, open_done = { 0 };

  tagsight_train_settings_init (&s);
  s.csv = g_strdup (csv);
  g_free (s.arch);
  s.arch = g_strdup ("tiny");
  s.epochs = 3;
  s.freeze_epochs = 0;
  s.bs = 8;
  s.size = 32;
  s.threads = 1;
  g_signal_connect (training, "finished", G_CALLBACK (app_test_on_finished), &d);
  g_assert_true (tagsight_training_start (training, &s));
  tagsight_training_stop_after_epoch (training);
  g_assert_true (app_test_wait_for (app_test_is_done, &d, 120));
  g_assert_cmpint (d.status, ==, TS_ERR_CANCELLED);
  ckpt = tagsight_training_dup_resumable (training);
  g_assert_nonnull (ckpt);
  g_assert_true (g_file_test (ckpt, G_FILE_TEST_IS_REGULAR));
  /* opening another data set while a job runs is refused, and leaves the
   * checkpoint to Continue from (it was dropped before the refusal) */
  tagsight_training_lr_find_async (training, &s, NULL, on_job_done, &lr_done);
  tagsight_training_open_async (training, &s, NULL, on_job_done, &open_done);
  g_assert_true (app_test_wait_for (job_done, &lr_done, 120));
  g_assert_true (app_test_wait_for (job_done, &open_done, 10));
  g_assert_false (open_done.ok);
  resumable = tagsight_training_dup_resumable (training);
  g_assert_cmpstr (resumable, ==, ckpt);
  g_object_add_weak_pointer (G_OBJECT (training), &weak);
  g_object_unref (training);
  g_assert_null (weak);
  g_assert_false (g_file_test (ckpt, G_FILE_TEST_EXISTS));
  tagsight_train_settings_clear (&s);
  g_free (d.message);
}

/* --- quitting while a run goes on ---------------------------------------- */

typedef struct {
  char *project;
  int step;
  int rows;                     /* epoch rows when Cancel was answered */
  TagsightTraining *training;   /* a reference, taken with the run */
  gpointer window;              /* weak */
  gboolean timed_out;
} QuitRun;

/* The button of @dialog labelled @label, as the user presses it. */
static void
press (AdwMessageDialog *dialog, const char *label)
{
  GtkWidget *button = app_test_find (GTK_WIDGET (dialog), app_test_is_button_labelled, label);

  g_assert_nonnull (button);
  g_signal_emit_by_name (button, "clicked");
}

static void
quit_app (GApplication *app)
{
  g_action_group_activate_action (G_ACTION_GROUP (app), "quit", NULL);
}

/* The test's steps, as the main loop of g_application_run turns. */
static gboolean
quit_step (gpointer data)
{
  GApplication *app = data;
  QuitRun *q = g_object_get_data (G_OBJECT (app), "quit-run");
  GtkWindow *active = gtk_application_get_active_window (GTK_APPLICATION (app));
  TagsightTrainPage *page = NULL;
  AdwMessageDialog *dialog = app_test_visible_message_dialog ();

  if (q->window != NULL)
    page = tagsight_window_get_train_page (q->window);
  switch (q->step)
    {
    case 0:   /* a project, and a long run in it */
      if (active == NULL || !TAGSIGHT_IS_WINDOW (active) || !app_test_data_loaded (active))
        return G_SOURCE_CONTINUE;
      q->window = active;
      g_object_add_weak_pointer (G_OBJECT (active), &q->window);
      page = tagsight_window_get_train_page (q->window);
      g_assert_true (tagsight_window_save_project_as (q->window, q->project));
      app_test_set_tiny (page, 500, 0, 8, 1);
      g_assert_true (tagsight_train_page_start (page));
      q->training = g_object_ref (tagsight_train_page_get_training (page));
      q->step++;
      break;
    case 1:   /* Ctrl+Q once an epoch (and its checkpoint) is done */
      if (!has_epoch (page))
        return G_SOURCE_CONTINUE;
      quit_app (app);
      q->step++;
      break;
    case 2:
      if (dialog == NULL)
        return G_SOURCE_CONTINUE;
      g_assert_true (tagsight_train_page_get_running (page));
      q->rows = tagsight_train_page_get_n_epoch_rows (page);
      press (dialog, "_Cancel");
      q->step++;
      break;
    case 3:   /* Cancel: the dialog goes and training goes on */
      if (dialog != NULL || tagsight_train_page_get_n_epoch_rows (page) <= q->rows)
        return G_SOURCE_CONTINUE;
      g_assert_true (tagsight_train_page_get_running (page));
      gtk_window_close (GTK_WINDOW (q->window));   /* the close button, this time */
      q->step++;
      break;
    case 4:
      if (dialog == NULL)
        return G_SOURCE_CONTINUE;
      press (dialog, "_Stop and Quit");
      q->step++;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
quit_watchdog (gpointer data)
{
  QuitRun *q = g_object_get_data (G_OBJECT (data), "quit-run");

  q->timed_out = TRUE;
  g_application_quit (data);
  return G_SOURCE_REMOVE;
}

/* Ctrl+Q or the close button while a run goes on ask first; Cancel keeps
 * it going; Stop and Quit stops it, waits (the main loop turning) until its
 * end is recorded in the project (stopped, its checkpoint kept to continue
 * from) and its thread joined, then the application ends. */
static void
test_quit_while_training (void)
{
  g_autoptr (TagsightApplication) app = NULL;
  g_autoptr (TagsightProject) p = NULL;
  g_autoptr (TagsightRun) run = NULL;
  g_autoptr (GError) error = NULL;
  QuitRun q = { 0 };
  const char *argv[] = { "tagsight", csv, NULL };
  guint watchdog_id;
  gpointer weak;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  q.project = g_build_filename (tmp, "quit.tagsight", NULL);
  app = tagsight_application_new ();
  g_application_set_flags (G_APPLICATION (app), g_application_get_flags (G_APPLICATION (app))
                                                | G_APPLICATION_NON_UNIQUE);
  g_object_set_data (G_OBJECT (app), "quit-run", &q);
  g_timeout_add (20, quit_step, app);   /* removes itself at its last step */
  watchdog_id = g_timeout_add_seconds (120, quit_watchdog, app);
  g_assert_cmpint (g_application_run (G_APPLICATION (app), 2, (char **) argv), ==, 0);
  g_assert_false (q.timed_out);
  g_source_remove (watchdog_id);
  g_assert_cmpint (q.step, ==, 5);
  g_assert_null (q.window);

  /* the run's thread is done: nothing runs and the training can go */
  g_assert_false (tagsight_training_get_busy (q.training));
  weak = q.training;
  g_object_add_weak_pointer (G_OBJECT (q.training), &weak);
  g_object_unref (q.training);
  g_assert_true (app_test_wait_for (is_null, &weak, 30));

  p = tagsight_project_open (q.project, 0, &error);
  g_assert_no_error (error);
  run = tagsight_project_get_run (p, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpint (run->status, ==, TAGSIGHT_RUN_CANCELLED);
  g_assert_nonnull (run->ended);
  g_assert_cmpint (run->n_epochs_done, >=, 2);
  g_assert_true (g_file_test (run->checkpoint, G_FILE_TEST_IS_REGULAR));
  g_free (q.project);
}

int
main (int argc, char **argv)
{
  g_autofree char *dir2 = NULL;
  int rc;

  tmp = app_test_init (&argc, &argv, &have_display);
  csv = app_test_demo_csv (tmp, 40, 48);
  dir2 = g_build_filename (tmp, "other", NULL);
  g_mkdir_with_parents (dir2, 0755);
  csv2 = app_test_demo_csv (dir2, 24, 40);

  g_test_add_func ("/app/lifetime/scratch-checkpoint-removed", test_scratch_checkpoint_removed);
  g_test_add_func ("/app/lifetime/thumbnails-on-main-thread", test_thumbnails_on_main_thread);
  g_test_add_func ("/app/lifetime/close-while-recording", test_close_while_recording);
  g_test_add_func ("/app/lifetime/open-project-while-recording",
                   test_open_project_while_recording);
  g_test_add_func ("/app/lifetime/save-as-while-recording", test_save_as_while_recording);
  g_test_add_func ("/app/lifetime/close-while-saving", test_close_while_saving);
  g_test_add_func ("/app/lifetime/close-while-predicting", test_close_while_predicting);
  g_test_add_func ("/app/lifetime/close-while-running", test_close_while_running);
  g_test_add_func ("/app/lifetime/open-other-mid-run", test_open_other_mid_run);
  g_test_add_func ("/app/lifetime/quit-while-training", test_quit_while_training);
  rc = g_test_run ();
  ts_test_rmdir (tmp);
  g_free (tmp);
  g_free (csv);
  g_free (csv2);
  return rc;
}
