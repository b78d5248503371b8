/* test-project.c: projects in the window, on a small demo data set and the
 * tiny network: Save As makes a project holding the open data set; training
 * from the app records the run as the CLI does (recipe, device, metrics per
 * epoch and batch, validation predictions, model, status); the Runs page
 * lists the runs and overlays two; reopening the project restores the data
 * set and the page; accepting a label-issue suggestion writes a label edit,
 * Undo reverts it, Redo applies it again, a rejection is kept; a project
 * whose data set moved is pointed at the new folder and keeps its runs and
 * edits; a run's precision is recorded and resumed.  Needs a display (Xvfb
 * in CI); skips without. */
#include <adwaita.h>
#include <glib/gstdio.h>
#include <string.h>

#include "app-test-window.h"
#include "ts-backend-select.h"
#include "tagsight-window-private.h"

static gboolean have_display;
static char *tmp;
static char *data_dir;
static char *csv;
static char *project_path;

static TagsightWindow *
new_window (void)
{
  TagsightWindow *win = tagsight_window_new (NULL);

  gtk_window_set_default_size (GTK_WINDOW (win), 1200, 800);
  gtk_window_present (GTK_WINDOW (win));
  return win;
}

static void
set_tiny (TagsightWindow *win, int epochs)
{
  app_test_set_tiny (tagsight_window_get_train_page (win), epochs, 1, 8, 1);
}

static guint want_runs;

/* the run's end is recorded (predictions, model, status) and shown */
static gboolean
run_recorded (gpointer data)
{
  TagsightWindow *win = data;

  return tagsight_window_get_recording_run (win) == 0
         && tagsight_runs_page_get_n_runs (tagsight_window_get_runs_page (win)) == want_runs
         && tagsight_results_page_has_results (tagsight_window_get_results_page (win))
         && !tagsight_train_page_get_busy (tagsight_window_get_train_page (win));
}

static void
train_once (TagsightWindow *win, int epochs)
{
  set_tiny (win, epochs);
  want_runs++;
  g_assert_true (tagsight_train_page_start (tagsight_window_get_train_page (win)));
  g_assert_true (app_test_wait_for (run_recorded, win, 120));
}

static void
test_record_runs (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) runs = NULL, datasets = NULL;
  g_autoptr (GArray) em = NULL, bm = NULL, selected = NULL;
  TagsightWindow *win;
  TagsightProject *p;
  const ts_datablock *db;
  TagsightRunsPage *runs_page;
  int n, c, *rows;
  float *probs, *targets;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  win = new_window ();
  tagsight_window_open_csv (win, csv);
  g_assert_true (app_test_wait_for (app_test_data_loaded, win, 60));
  db = tagsight_dataset_get_datablock (tagsight_data_page_get_dataset (
         tagsight_window_get_data_page (win)));
  g_assert_null (tagsight_window_get_project (win));

  /* Save As with no project: a new one, holding the open data set */
  g_assert_true (tagsight_window_save_project_as (win, project_path));
  p = tagsight_window_get_project (win);
  g_assert_nonnull (p);
  datasets = tagsight_project_list_datasets (p, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (datasets->len, ==, 1);
  g_assert_cmpint (((TagsightStoreDataset *) datasets->pdata[0])->n_items, ==, db->n_items);

  train_once (win, 1);
  train_once (win, 2);

  runs = tagsight_project_list_runs (p, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (runs->len, ==, 2);
  for (guint i = 0; i < runs->len; i++)
    {
      TagsightRun *r = runs->pdata[i];

      g_assert_cmpint (r->status, ==, TAGSIGHT_RUN_FINISHED);
      /* the session's own name for it, e.g. "CPU (1 thread)" */
      g_assert_true (g_str_has_prefix (r->device, "CPU"));
      g_assert_nonnull (strstr (r->recipe, "\"source\": \"app\""));
      g_assert_nonnull (strstr (r->recipe, "\"arch\": \"tiny\""));
      g_assert_cmpint (r->dataset_id, ==, ((TagsightStoreDataset *) datasets->pdata[0])->id);
      /* frozen 1 + unfrozen 1 or 2 */
      g_assert_cmpint (r->n_epochs_done, ==, 2 + (int) i);
      g_assert_nonnull (r->ended);
      g_assert_nonnull (r->model_path);
      g_assert_true (g_file_test (r->model_path, G_FILE_TEST_IS_REGULAR));
      em = tagsight_project_get_epoch_metrics (p, r->id, &error);
      bm = tagsight_project_get_batch_metrics (p, r->id, &error);
      g_assert_cmpuint (em->len, ==, 2 + i);
      /* every batch of every epoch, one row each */
      g_assert_cmpuint (bm->len, ==, (2 + i) * (db->n_train / 8));
      g_clear_pointer (&em, g_array_unref);
      g_clear_pointer (&bm, g_array_unref);
      g_assert_true (tagsight_project_get_predictions (p, r->id, &n, &c, &rows, &probs, &targets,
                                                       &error));
      g_assert_cmpint (n, ==, db->n_valid);
      g_assert_cmpint (c, ==, db->n_vocab);
      g_assert_cmpint (rows[0], ==, db->valid_idx[0]);
      g_free (rows);
      g_free (probs);
      g_free (targets);
    }

  /* the Runs page: newest first, with its metrics; two selected overlay */
  runs_page = tagsight_window_get_runs_page (win);
  g_assert_cmpuint (tagsight_runs_page_get_n_runs (runs_page), ==, 2);
  g_assert_cmpint (tagsight_runs_page_get_run_id (runs_page, 0), ==,
                   ((TagsightRun *) runs->pdata[1])->id);
  {
    g_autofree char *status = tagsight_runs_page_dup_cell (runs_page, 0, 1);
    g_autofree char *epochs = tagsight_runs_page_dup_cell (runs_page, 0, 6);
    g_autofree char *valid = tagsight_runs_page_dup_cell (runs_page, 0, 8);

    g_assert_cmpstr (status, ==, "Finished");
    g_assert_cmpstr (epochs, ==, "3");
    g_assert_cmpstr (valid, !=, "—");
  }
  {
    gint64 both[2] = { ((TagsightRun *) runs->pdata[0])->id,
                       ((TagsightRun *) runs->pdata[1])->id };

    tagsight_runs_page_select_runs (runs_page, both, 2);
  }
  selected = tagsight_runs_page_get_selected (runs_page);
  g_assert_cmpuint (selected->len, ==, 2);
  /* a training curve and a validation curve per run */
  g_assert_cmpuint (tagsight_chart_get_n_series (tagsight_runs_page_get_chart (runs_page)), ==, 4);
  /* the newest run is the one to inspect */
  g_assert_cmpint (tagsight_inspect_page_get_run (tagsight_window_get_inspect_page (win)), ==,
                   ((TagsightRun *) runs->pdata[1])->id);
  g_assert_nonnull (tagsight_inspect_page_get_report (tagsight_window_get_inspect_page (win)));
  tagsight_window_set_page (win, "runs");
  gtk_window_destroy (GTK_WINDOW (win));
}

static GPtrArray *
edits (TagsightProject *p)
{
  g_autoptr (GError) error = NULL;
  GPtrArray *all = tagsight_project_list_label_edits (p, 1, &error);

  g_assert_no_error (error);
  return all;
}

static void
test_reopen_and_inspect (void)
{
  g_autoptr (GPtrArray) e = NULL;
  TagsightWindow *win;
  TagsightInspectPage *page;
  TagsightLabelReport *r;
  TagsightProject *p;
  const ts_label_issue *is;
  g_autofree char *before = NULL;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_true (g_file_test (project_path, G_FILE_TEST_EXISTS));
  win = new_window ();
  tagsight_window_open_project (win, project_path);
  p = tagsight_window_get_project (win);
  g_assert_nonnull (p);
  /* where the user was: the data set opened again, on the Runs page */
  g_assert_true (app_test_wait_for (app_test_data_loaded, win, 60));
  g_assert_cmpstr (tagsight_window_get_page (win), ==, "runs");
  g_assert_cmpuint (tagsight_runs_page_get_n_runs (tagsight_window_get_runs_page (win)), ==, 2);
  page = tagsight_window_get_inspect_page (win);
  r = tagsight_inspect_page_get_report (page);
  g_assert_nonnull (r);
  g_assert_cmpint (r->n, >, 0);
  g_assert_cmpint (r->report.n_issues, >, 1);
  g_assert_cmpint (tagsight_inspect_page_get_n_shown (page), ==, MIN (r->report.n_issues, 200));

  /* Accept: one label edit, from the label-issue finder */
  is = &r->report.issues[0];
  before = g_strdup (r->labels[is->item]);
  g_assert_cmpint (tagsight_label_report_get_state (r, 0), ==, TAGSIGHT_SUGGESTION_OPEN);
  g_assert_true (tagsight_inspect_page_accept (page, 0));
  r = tagsight_inspect_page_get_report (page);
  g_assert_cmpint (tagsight_label_report_get_state (r, 0), ==, TAGSIGHT_SUGGESTION_ACCEPTED);
  g_assert_cmpint (tagsight_label_report_has_label (r, is->item, is->cls), ==,
                   is->kind == TS_LABEL_ISSUE_MISSING);
  e = edits (p);
  g_assert_cmpuint (e->len, ==, 1);
  g_assert_cmpstr (((TagsightLabelEdit *) e->pdata[0])->source, ==, "label-issues");
  g_assert_cmpstr (((TagsightLabelEdit *) e->pdata[0])->state, ==, "applied");
  g_assert_cmpstr (((TagsightLabelEdit *) e->pdata[0])->old_labels, ==, before);
  g_clear_pointer (&e, g_ptr_array_unref);

  /* Undo (Ctrl+Z's action) reverts it; Redo applies it again */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "inspect.undo", NULL));
  g_assert_cmpstr (r->labels[is->item], ==, before);
  g_assert_cmpint (tagsight_label_report_get_state (r, 0), ==, TAGSIGHT_SUGGESTION_OPEN);
  e = edits (p);
  g_assert_cmpstr (((TagsightLabelEdit *) e->pdata[0])->state, ==, "undone");
  g_clear_pointer (&e, g_ptr_array_unref);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "inspect.redo", NULL));
  g_assert_cmpint (tagsight_label_report_get_state (r, 0), ==, TAGSIGHT_SUGGESTION_ACCEPTED);
  e = edits (p);
  g_assert_cmpstr (((TagsightLabelEdit *) e->pdata[0])->state, ==, "applied");

  /* Reject is kept in the project */
  g_assert_true (tagsight_inspect_page_reject (page, 1));
  g_assert_cmpint (tagsight_label_report_get_state (r, 1), ==, TAGSIGHT_SUGGESTION_REJECTED);
  tagsight_window_set_page (win, "labels");
  gtk_window_destroy (GTK_WINDOW (win));

  win = new_window ();
  tagsight_window_open_project (win, project_path);
  g_assert_true (app_test_wait_for (app_test_data_loaded, win, 60));
  g_assert_cmpstr (tagsight_window_get_page (win), ==, "labels");
  r = tagsight_inspect_page_get_report (tagsight_window_get_inspect_page (win));
  g_assert_nonnull (r);
  g_assert_cmpint (tagsight_label_report_get_state (r, 0), ==, TAGSIGHT_SUGGESTION_ACCEPTED);
  g_assert_cmpint (tagsight_label_report_get_state (r, 1), ==, TAGSIGHT_SUGGESTION_REJECTED);
  gtk_window_destroy (GTK_WINDOW (win));
}

static gboolean
dialog_shown (gpointer data)
{
  return app_test_visible_message_dialog () != NULL;
}

static TagsightRun *
get_run (TagsightProject *p, gint64 id)
{
  g_autoptr (GError) error = NULL;
  TagsightRun *r = tagsight_project_get_run (p, id, &error);

  g_assert_no_error (error);
  return r;
}

/* A run stopped after its first epoch is resumed from the Runs page, in the
 * same run, and ends exactly as the uninterrupted run 2 (the same recipe). */
static void
test_resume (void)
{
  g_autoptr (GArray) em2 = NULL, em3 = NULL;
  g_autoptr (TagsightRun) r3 = NULL;
  g_autoptr (GError) error = NULL;
  TagsightWindow *win;
  TagsightProject *p;
  TagsightRunsPage *runs_page;
  TagsightTraining *training;
  gint64 id3;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  win = new_window ();
  tagsight_window_open_project (win, project_path);
  p = tagsight_window_get_project (win);
  /* the data set is back where run 2 trained on it (test_moved moved it) */
  g_assert_true (app_test_wait_for (dialog_shown, NULL, 10));
  gtk_window_destroy (GTK_WINDOW (app_test_visible_message_dialog ()));
  g_assert_true (tagsight_window_relocate_dataset (win, 1, data_dir, &error));
  g_assert_true (app_test_wait_for (app_test_data_loaded, win, 60));
  runs_page = tagsight_window_get_runs_page (win);
  want_runs = tagsight_runs_page_get_n_runs (runs_page);
  g_assert_cmpuint (want_runs, ==, 2);

  /* run 3: the recipe of run 2, stopped once its first epoch has ended */
  training = tagsight_train_page_get_training (tagsight_window_get_train_page (win));
  set_tiny (win, 2);
  want_runs++;
  g_assert_true (tagsight_train_page_start (tagsight_window_get_train_page (win)));
  tagsight_training_stop_after_epoch (training);
  g_assert_true (app_test_wait_for (run_recorded, win, 120));
  id3 = tagsight_runs_page_get_run_id (runs_page, 0);
  r3 = get_run (p, id3);
  g_assert_cmpint (r3->status, ==, TAGSIGHT_RUN_CANCELLED);
  g_assert_nonnull (r3->checkpoint);
  g_assert_true (g_file_test (r3->checkpoint, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpint (r3->n_epochs_done, ==, 1);
  g_clear_pointer (&r3, tagsight_run_free);

  /* a resume that fails before its first epoch (here its CSV is gone)
   * leaves the stopped run as it was: status, epochs, predictions */
  {
    g_autofree char *aside = g_strconcat (csv, ".aside", NULL);
    int n_before = 0, n_after = 0, k;
    int *rows;
    float *probs, *targets;

    g_assert_true (tagsight_project_get_predictions (p, id3, &n_before, &k, &rows, &probs,
                                                     &targets, &error));
    g_free (rows), g_free (probs), g_free (targets);
    g_assert_cmpint (n_before, >, 0);
    AppTestFinished f = { 0 };
    TagsightTrainPage *train_page = tagsight_window_get_train_page (win);
    gulong id = g_signal_connect (train_page, "finished", G_CALLBACK (app_test_on_finished), &f);

    g_assert_cmpint (g_rename (csv, aside), ==, 0);
    tagsight_runs_page_select_runs (runs_page, &id3, 1);
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (runs_page), "runs.resume", NULL));
    /* it did start, and failed for the CSV */
    g_assert_true (tagsight_train_page_get_busy (train_page));
    g_assert_true (app_test_wait_for (app_test_is_done, &f, 60));
    g_assert_cmpint (f.status, !=, TS_OK);
    g_assert_nonnull (strstr (f.message, "train.csv"));
    g_signal_handler_disconnect (train_page, id);
    g_free (f.message);
    g_assert_true (app_test_wait_for (app_test_not_busy, training, 60));
    g_assert_cmpint (g_rename (aside, csv), ==, 0);
    r3 = get_run (p, id3);
    g_assert_cmpint (r3->status, ==, TAGSIGHT_RUN_CANCELLED);
    g_assert_cmpint (r3->n_epochs_done, ==, 1);
    g_assert_nonnull (r3->ended);
    g_clear_pointer (&r3, tagsight_run_free);
    g_assert_true (tagsight_project_get_predictions (p, id3, &n_after, &k, &rows, &probs,
                                                     &targets, &error));
    g_free (rows), g_free (probs), g_free (targets);
    g_assert_cmpint (n_after, ==, n_before);
    g_assert_cmpint (tagsight_window_get_recording_run (win), ==, 0);
  }

  /* Resume: enabled for the stopped run only */
  tagsight_runs_page_select_runs (runs_page, &id3, 1);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (runs_page), "runs.resume", NULL));
  g_assert_true (tagsight_train_page_get_busy (tagsight_window_get_train_page (win)));
  g_assert_true (app_test_wait_for (run_recorded, win, 120));
  g_assert_cmpuint (tagsight_runs_page_get_n_runs (runs_page), ==, 3);
  r3 = get_run (p, id3);
  g_assert_cmpint (r3->status, ==, TAGSIGHT_RUN_FINISHED);
  g_assert_cmpint (r3->n_epochs_done, ==, 3);
  g_assert_true (g_str_has_prefix (r3->device, "CPU"));

  /* bit for bit the uninterrupted run's epochs (CPU, one thread) */
  em2 = tagsight_project_get_epoch_metrics (p, 2, &error);
  em3 = tagsight_project_get_epoch_metrics (p, id3, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (em3->len, ==, 3);
  g_assert_cmpuint (em2->len, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      TagsightEpochMetrics *a = &g_array_index (em2, TagsightEpochMetrics, i);
      TagsightEpochMetrics *b = &g_array_index (em3, TagsightEpochMetrics, i);

      g_assert_cmpint (a->phase, ==, b->phase);
      g_assert_cmpint (a->epoch, ==, b->epoch);
      g_assert_cmpfloat (a->train_loss, ==, b->train_loss);
      g_assert_cmpfloat (a->valid_loss, ==, b->valid_loss);
    }
  gtk_window_destroy (GTK_WINDOW (win));
}

/* In a new window, a new project at @path holding the data set, and its
 * run 1 stopped once its first epoch (and checkpoint) ended. */
static TagsightWindow *
stopped_run_in_new_project (const char *path)
{
  TagsightWindow *win = new_window ();
  TagsightTrainPage *page = tagsight_window_get_train_page (win);

  tagsight_window_open_csv (win, csv);
  g_assert_true (app_test_wait_for (app_test_data_loaded, win, 60));
  g_assert_true (tagsight_window_save_project_as (win, path));
  set_tiny (win, 2);
  want_runs = 1;
  g_assert_true (tagsight_train_page_start (page));
  tagsight_training_stop_after_epoch (tagsight_train_page_get_training (page));
  g_assert_true (app_test_wait_for (run_recorded, win, 120));
  return win;
}

/* Resumes the selected run 1 of @win and waits for the Train page's end. */
static void
resume_run_1 (TagsightWindow *win, AppTestFinished *f)
{
  TagsightTrainPage *page = tagsight_window_get_train_page (win);
  gulong id = g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), f);
  gint64 one = 1;

  tagsight_runs_page_select_runs (tagsight_window_get_runs_page (win), &one, 1);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (tagsight_window_get_runs_page (win)),
                                             "runs.resume", NULL));
  g_assert_true (app_test_wait_for (app_test_is_done, f, 120));
  g_signal_handler_disconnect (page, id);
  g_assert_true (app_test_wait_for (run_recorded, win, 120));
}

/* A project's P-run1.ckpt left by another project of the same name (or by
 * a deleted run 1) has the run's number but not its start: Resume refuses
 * it by name and leaves it as it is, and the run as it was; the run's own
 * checkpoint is taken. */
static void
test_foreign_checkpoint (void)
{
  g_autofree char *a_dir = g_build_filename (tmp, "a", NULL);
  g_autofree char *b_dir = g_build_filename (tmp, "b", NULL);
  g_autofree char *a_path = g_build_filename (a_dir, "p.tagsight", NULL);
  g_autofree char *b_path = g_build_filename (b_dir, "p.tagsight", NULL);
  g_autofree char *a_ckpt = NULL, *foreign = NULL, *own = NULL, *after = NULL;
  g_autoptr (TagsightRun) r = NULL;
  gsize foreign_len, own_len, after_len;
  AppTestFinished f = { 0 };
  TagsightWindow *win;
  TagsightProject *p;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_cmpint (g_mkdir (a_dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (b_dir, 0755), ==, 0);
  win = stopped_run_in_new_project (a_path);
  r = get_run (tagsight_window_get_project (win), 1);
  a_ckpt = g_strdup (r->checkpoint);
  g_clear_pointer (&r, tagsight_run_free);
  gtk_window_destroy (GTK_WINDOW (win));
  g_assert_true (g_file_get_contents (a_ckpt, &foreign, &foreign_len, NULL));

  win = stopped_run_in_new_project (b_path);
  p = tagsight_window_get_project (win);
  r = get_run (p, 1);
  g_assert_cmpstr (strrchr (r->checkpoint, '/'), ==, strrchr (a_ckpt, '/'));
  g_assert_true (g_file_get_contents (r->checkpoint, &own, &own_len, NULL));
  g_assert_true (g_file_set_contents (r->checkpoint, foreign, (gssize) foreign_len, NULL));

  resume_run_1 (win, &f);
  g_test_message ("%s", f.message);
  g_assert_cmpint (f.status, ==, TS_ERR_INVALID);
  g_assert_nonnull (strstr (f.message, r->checkpoint));
  g_assert_nonnull (strstr (f.message, "another run"));
  g_assert_true (g_file_get_contents (r->checkpoint, &after, &after_len, NULL));
  g_assert_cmpmem (after, after_len, foreign, foreign_len);
  g_clear_pointer (&r, tagsight_run_free);
  r = get_run (p, 1);
  g_assert_cmpint (r->status, ==, TAGSIGHT_RUN_CANCELLED);
  g_assert_cmpint (r->n_epochs_done, ==, 1);
  /* a refused checkpoint is not offered to Continue either */
  g_assert_null (tagsight_training_dup_resumable (
                   tagsight_train_page_get_training (tagsight_window_get_train_page (win))));

  /* its own checkpoint back: taken, and the run ends */
  g_assert_true (g_file_set_contents (r->checkpoint, own, (gssize) own_len, NULL));
  g_clear_pointer (&f.message, g_free);
  f.done = FALSE;
  resume_run_1 (win, &f);
  g_assert_cmpint (f.status, ==, TS_OK);
  g_clear_pointer (&r, tagsight_run_free);
  r = get_run (p, 1);
  g_assert_cmpint (r->status, ==, TAGSIGHT_RUN_FINISHED);
  g_assert_cmpint (r->n_epochs_done, ==, 3);
  g_free (f.message);
  gtk_window_destroy (GTK_WINDOW (win));
}

static gboolean
not_busy_window (gpointer win)
{
  return !tagsight_train_page_get_busy (tagsight_window_get_train_page (win));
}

/* The Train page's Continue after a Stop, with a project: the same run goes
 * on, from its checkpoint, to its end (as the Runs page's Resume), and the
 * page's table and chart go on with it; one refused (a damaged checkpoint)
 * leaves the run as it was, and no other. */
static void
test_continue (void)
{
  g_autofree char *dir = g_build_filename (tmp, "c", NULL);
  g_autofree char *path = g_build_filename (dir, "p.tagsight", NULL);
  g_autofree char *ckpt = NULL;
  g_autoptr (GPtrArray) runs = NULL;
  g_autoptr (GArray) em = NULL, bm = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightRun) r = NULL;
  AppTestFinished f = { 0 };
  TagsightWindow *win;
  TagsightTrainPage *page;
  TagsightProject *p;
  const ts_datablock *db;
  int n_batches;
  gulong id;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  win = stopped_run_in_new_project (path);
  page = tagsight_window_get_train_page (win);
  p = tagsight_window_get_project (win);
  db = tagsight_dataset_get_datablock (tagsight_data_page_get_dataset (
         tagsight_window_get_data_page (win)));
  n_batches = db->n_train / 8;
  g_assert_cmpint (tagsight_train_page_get_n_epoch_rows (page), ==, 1);

  /* refused: its checkpoint does not load */
  r = get_run (p, 1);
  {
    g_autofree char *own = NULL;
    gsize own_len;

    g_assert_true (g_file_get_contents (r->checkpoint, &own, &own_len, NULL));
    g_assert_true (g_file_set_contents (r->checkpoint, "not a checkpoint", -1, NULL));
    /* Continue is offered and pressed (the window refuses the damaged
     * checkpoint before any training starts) */
    g_assert_true (gtk_widget_get_sensitive (
      app_test_find_actionable (GTK_WIDGET (page), "train.continue")));
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "train.continue", NULL));
    g_assert_true (app_test_wait_for (not_busy_window, win, 60));
    app_test_iterate_for (100);
    g_assert_cmpint (tagsight_window_get_recording_run (win), ==, 0);
    runs = tagsight_project_list_runs (p, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (runs->len, ==, 1);
    g_clear_pointer (&runs, g_ptr_array_unref);
    g_clear_pointer (&r, tagsight_run_free);
    r = get_run (p, 1);
    g_assert_cmpint (r->status, ==, TAGSIGHT_RUN_CANCELLED);
    g_assert_cmpint (r->n_epochs_done, ==, 1);
    g_assert_true (g_file_set_contents (r->checkpoint, own, (gssize) own_len, NULL));
  }
  g_clear_pointer (&r, tagsight_run_free);

  id = g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), &f);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "train.continue", NULL));
  g_assert_true (tagsight_train_page_get_busy (page));
  g_assert_true (app_test_wait_for (app_test_is_done, &f, 120));
  g_signal_handler_disconnect (page, id);
  g_assert_cmpint (f.status, ==, TS_OK);
  g_assert_true (app_test_wait_for (run_recorded, win, 120));

  runs = tagsight_project_list_runs (p, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (runs->len, ==, 1);
  r = get_run (p, 1);
  g_assert_cmpint (r->status, ==, TAGSIGHT_RUN_FINISHED);
  g_assert_cmpint (r->n_epochs_done, ==, 3);
  g_assert_nonnull (r->model_path);
  /* frozen 0, then unfrozen 0 and 1: each once, in order */
  em = tagsight_project_get_epoch_metrics (p, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (em->len, ==, 3);
  for (guint i = 0; i < em->len; i++)
    {
      TagsightEpochMetrics *m = &g_array_index (em, TagsightEpochMetrics, i);

      g_assert_cmpint (m->phase, ==, i > 0);
      g_assert_cmpint (m->epoch, ==, i > 0 ? (int) i - 1 : 0);
    }
  bm = tagsight_project_get_batch_metrics (p, 1, &error);
  g_assert_cmpuint (bm->len, ==, 3 * n_batches);
  /* the page shows the whole run: the stopped epoch's row and batches kept */
  g_assert_cmpint (tagsight_train_page_get_n_epoch_rows (page), ==, 3);
  g_assert_cmpuint (tagsight_chart_get_series_length (tagsight_train_page_get_chart (page), 0),
                    ==, 3 * n_batches);
  g_assert_cmpuint (tagsight_chart_get_n_markers (tagsight_train_page_get_chart (page)), ==, 1);
  g_free (f.message);
  gtk_window_destroy (GTK_WINDOW (win));
}

static void
test_moved (void)
{
  g_autofree char *moved = g_build_filename (tmp, "moved-data", NULL);
  g_autofree char *moved_csv = g_build_filename (moved, "train.csv", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) runs = NULL, e = NULL;
  g_autoptr (TagsightStoreDataset) d = NULL;
  TagsightWindow *win;
  TagsightProject *p;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_cmpint (g_rename (data_dir, moved), ==, 0);
  win = new_window ();
  tagsight_window_open_project (win, project_path);
  p = tagsight_window_get_project (win);
  /* asked where the data set is now */
  g_assert_true (app_test_wait_for (dialog_shown, NULL, 10));
  gtk_window_destroy (GTK_WINDOW (app_test_visible_message_dialog ()));
  g_assert_false (tagsight_window_relocate_dataset (win, 1, tmp, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_true (tagsight_window_relocate_dataset (win, 1, moved, &error));
  g_assert_no_error (error);
  g_assert_true (app_test_wait_for (app_test_data_loaded, win, 60));
  g_assert_cmpstr (tagsight_dataset_get_path (tagsight_data_page_get_dataset (
                     tagsight_window_get_data_page (win))), ==, moved_csv);
  /* everything else kept */
  d = tagsight_project_get_dataset (p, 1, &error);
  g_assert_cmpstr (d->csv_path, ==, moved_csv);
  runs = tagsight_project_list_runs (p, &error);
  g_assert_cmpuint (runs->len, ==, 2);
  e = edits (p);
  g_assert_cmpuint (e->len, ==, 1);
  g_assert_nonnull (tagsight_inspect_page_get_report (tagsight_window_get_inspect_page (win)));
  gtk_window_destroy (GTK_WINDOW (win));
  g_assert_cmpint (g_rename (moved, data_dir), ==, 0);
}

/* The images live in a folder of their own, recorded in the project: a
 * reopened project opens the data set with that folder, every image found. */
static void
test_image_dir_reopened (void)
{
  g_autofree char *images = g_build_filename (data_dir, "train", NULL);
  g_autofree char *elsewhere = g_build_filename (tmp, "images-elsewhere", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightProject) p = NULL;
  TagsightWindow *win;
  TagsightDataset *ds;
  const ts_summary *sum;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_cmpint (g_rename (images, elsewhere), ==, 0);
  p = tagsight_project_open (project_path, 0, &error);
  g_assert_no_error (error);
  g_assert_true (tagsight_project_set_dataset_image_dir (p, 1, elsewhere, &error));
  g_clear_object (&p);

  win = new_window ();
  tagsight_window_open_project (win, project_path);
  g_assert_true (app_test_wait_for (app_test_data_loaded, win, 60));
  ds = tagsight_data_page_get_dataset (tagsight_window_get_data_page (win));
  sum = tagsight_dataset_get_summary (ds);
  g_assert_nonnull (sum);
  g_assert_cmpstr (sum->image_dir, ==, elsewhere);
  g_assert_true (sum->image_dir_exists);
  g_assert_cmpint (sum->problems[TS_PROBLEM_MISSING_FILE].count, ==, 0);
  g_assert_cmpint (sum->n_items, ==, 40);
  gtk_window_destroy (GTK_WINDOW (win));
  g_assert_cmpint (g_rename (elsewhere, images), ==, 0);
}

/* The Train page's Start button follows its action's state. */
static gboolean
train_start_enabled (TagsightWindow *win)
{
  GtkWidget *start = app_test_find_actionable (GTK_WIDGET (tagsight_window_get_train_page (win)),
                                               "train.start");

  g_assert_nonnull (start);
  return gtk_widget_get_sensitive (start);
}

/* The buttons labelled @label (with its mnemonic) under @root, into @out. */
static void
find_buttons (GtkWidget *root, const char *label, GPtrArray *out)
{
  if (GTK_IS_BUTTON (root) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (root)), label) == 0)
    g_ptr_array_add (out, root);
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    find_buttons (c, label, out);
}

/* Whether the Inspect page takes label edits: its Keep buttons (one per
 * open suggestion) and Undo follow; the header's line says when not. */
static gboolean
inspect_editable (TagsightInspectPage *page)
{
  g_autoptr (GPtrArray) keep = g_ptr_array_new ();
  GtkWidget *note = app_test_find (GTK_WIDGET (page), app_test_is_label_with, "writable copy");
  GtkWidget *undo = app_test_find_actionable (GTK_WIDGET (page), "inspect.undo");
  gboolean editable;

  find_buttons (GTK_WIDGET (page), "_Keep", keep);
  g_assert_cmpuint (keep->len, >, 0);
  g_assert_nonnull (note);
  g_assert_nonnull (undo);
  editable = gtk_widget_get_sensitive (keep->pdata[0]);
  for (guint i = 0; i < keep->len; i++)
    g_assert_cmpint (gtk_widget_get_sensitive (keep->pdata[i]), ==, editable);
  /* there are edits to undo (reopen-and-inspect made them) */
  g_assert_cmpint (gtk_widget_get_sensitive (undo), ==, editable);
  g_assert_cmpint (gtk_widget_get_visible (note), ==, !editable);
  return editable;
}

static gboolean
file_exists (gpointer path)
{
  return g_file_test (path, G_FILE_TEST_IS_REGULAR);
}

/* the chooser shows @data's folder (it reads it first) */
static gboolean
chooser_in (gpointer data)
{
  GtkWidget **chooser = data;
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  g_autoptr (GFile) folder = gtk_file_chooser_get_current_folder (GTK_FILE_CHOOSER (*chooser));
  G_GNUC_END_IGNORE_DEPRECATIONS
  g_autofree char *path = folder != NULL ? g_file_get_path (folder) : NULL;

  return g_strcmp0 (path, tmp) == 0;
}

/* Export Corrected CSV through its button's chooser, into @path (in tmp). */
static void
export_corrected (TagsightInspectPage *page, const char *path)
{
  g_autoptr (GFile) folder = g_file_new_for_path (tmp);
  g_autofree char *base = g_path_get_basename (path);
  GtkWidget *chooser = NULL;

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "inspect.export", NULL));
  g_assert_true (app_test_wait_for (app_test_find_file_chooser, &chooser, 20));
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  g_assert_true (gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser), folder, NULL));
  g_assert_true (app_test_wait_for (chooser_in, &chooser, 20));
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), base);
  gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_ACCEPT);
  G_GNUC_END_IGNORE_DEPRECATIONS
  g_assert_true (app_test_wait_for (file_exists, (gpointer) path, 20));
}

/* A project that cannot be written (opened read-only here, as a shared or
 * mounted folder's opens: root, which runs CI, ignores file modes; the
 * store's tests check those) opens with its runs and data set, shows the
 * read-only bar, refuses what would write with its message instead of an
 * SQLite error, and changes nothing; Save As gives a writable copy the
 * window goes on in. */
static void
test_read_only (void)
{
  g_autofree char *copy = g_build_filename (tmp, "read-only-copy.tagsight", NULL);
  g_autofree char *exported = g_build_filename (tmp, "read-only-corrected.csv", NULL);
  gint64 inspected;
  g_autofree char *before = NULL, *after = NULL;
  g_autoptr (GError) error = NULL;
  gsize n_before, n_after;
  TagsightWindow *win;
  TagsightProject *p;
  guint n_runs;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_true (g_file_get_contents (project_path, &before, &n_before, NULL));
  win = new_window ();
  tagsight_window_open_project_full (win, project_path, TAGSIGHT_PROJECT_OPEN_READ_ONLY);
  p = tagsight_window_get_project (win);
  g_assert_nonnull (p);
  g_assert_true (tagsight_project_is_read_only (p));
  g_assert_true (app_test_wait_for (app_test_data_loaded, win, 60));
  inspected = tagsight_inspect_page_get_run (tagsight_window_get_inspect_page (win));
  n_runs = tagsight_runs_page_get_n_runs (tagsight_window_get_runs_page (win));
  g_assert_cmpuint (n_runs, >, 0);
  g_assert_true (gtk_action_bar_get_revealed (win->read_only_bar));
  g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (GTK_WIDGET (win->read_only_label)),
                            project_path));
  /* the Inspect page shows the run's suggestions and the edits made; it
   * says that edits need a copy instead of trying and failing, and its
   * corrected CSV (written elsewhere) is exported all the same */
  {
    TagsightInspectPage *page = tagsight_window_get_inspect_page (win);
    TagsightLabelReport *r = tagsight_inspect_page_get_report (page);
    g_autofree char *contents = NULL;
    g_auto (GStrv) lines = NULL;
    int open = 0;

    g_assert_nonnull (r);
    g_assert_false (inspect_editable (page));
    while (open < r->report.n_issues
           && tagsight_label_report_get_state (r, open) != TAGSIGHT_SUGGESTION_OPEN)
      open++;
    g_assert_cmpint (open, <, r->report.n_issues);
    g_assert_false (tagsight_inspect_page_accept (page, open));
    g_assert_false (tagsight_inspect_page_reject (page, open));
    g_assert_cmpint (tagsight_label_report_get_state (r, open), ==, TAGSIGHT_SUGGESTION_OPEN);
    export_corrected (page, exported);
    g_assert_true (g_file_get_contents (exported, &contents, NULL, NULL));
    lines = g_strsplit (g_strchomp (contents), "\n", -1);
    /* the header and every image */
    g_assert_cmpuint (g_strv_length (lines), ==, 41);
    g_unlink (exported);
  }
  /* training and Resume would record in it: refused before anything starts
   * (a failed write would be a fatal warning here) */
  g_assert_false (tagsight_window_check_project_writable (win));
  g_assert_false (train_start_enabled (win));
  g_assert_false (tagsight_train_page_start (tagsight_window_get_train_page (win)));
  g_assert_false (tagsight_train_page_get_busy (tagsight_window_get_train_page (win)));
  /* choosing runs to compare is not kept either (a failed write would warn) */
  {
    gint64 first = tagsight_runs_page_get_run_id (tagsight_window_get_runs_page (win), 0);

    tagsight_runs_page_select_runs (tagsight_window_get_runs_page (win), NULL, 0);
    tagsight_runs_page_select_runs (tagsight_window_get_runs_page (win), &first, 1);
    app_test_iterate_for (50);
  }
  g_signal_emit_by_name (tagsight_window_get_runs_page (win), "resume", (gint64) 1);
  g_assert_false (tagsight_train_page_get_busy (tagsight_window_get_train_page (win)));
  g_assert_cmpint (tagsight_window_get_recording_run (win), ==, 0);
  tagsight_window_set_page (win, "runs");
  tagsight_window_set_page (win, "data");
  app_test_iterate_for (100);

  g_assert_true (tagsight_window_save_project_as (win, copy));
  p = tagsight_window_get_project (win);
  g_assert_cmpstr (tagsight_project_get_path (p), ==, copy);
  g_assert_false (tagsight_project_is_read_only (p));
  g_assert_true (tagsight_window_check_project_writable (win));
  g_assert_true (train_start_enabled (win));
  g_assert_false (gtk_action_bar_get_revealed (win->read_only_bar));
  g_assert_cmpuint (tagsight_runs_page_get_n_runs (tagsight_window_get_runs_page (win)), ==,
                    n_runs);
  /* the copy's Inspect page goes on with the same run, and takes edits */
  {
    TagsightInspectPage *page = tagsight_window_get_inspect_page (win);

    g_assert_cmpint (tagsight_inspect_page_get_run (page), ==, inspected);
    g_assert_nonnull (tagsight_inspect_page_get_report (page));
    g_assert_true (inspect_editable (page));
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "inspect.undo", NULL));
    g_assert_true (tagsight_project_can_redo (p));
  }
  gtk_window_destroy (GTK_WINDOW (win));
  g_assert_true (g_file_get_contents (project_path, &after, &n_after, NULL));
  g_assert_cmpmem (before, n_before, after, n_after);
  g_unlink (copy);
}

/* A run with the precision switch on records the request in its recipe
 * (--precision bf16 among the arguments, which the CLI's resume reads too)
 * and what ran as its device: on the CPU float32, so no "(bf16)".  Resume
 * asks for the recorded precision, whatever the switch shows now, and goes
 * on in float32 on the CPU again. */
static void
test_precision (void)
{
  g_autofree char *dir = g_build_filename (tmp, "bf16", NULL);
  g_autofree char *path = g_build_filename (dir, "p.tagsight", NULL);
  g_autoptr (TagsightRun) r = NULL;
  TagsightTrainSettings s;
  AppTestFinished f = { 0 };
  TagsightWindow *win;
  TagsightTrainPage *page;
  GtkSwitch *sw;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  if (!ts_backend_have_cuda ())
    {
      g_test_skip ("no CUDA backend: the precision switch is off for good");
      return;
    }
  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  win = new_window ();
  page = tagsight_window_get_train_page (win);
  sw = GTK_SWITCH (app_test_find_widget_of_type (GTK_WIDGET (page), GTK_TYPE_SWITCH));
  tagsight_window_open_csv (win, csv);
  g_assert_true (app_test_wait_for (app_test_data_loaded, win, 60));
  g_assert_true (tagsight_window_save_project_as (win, path));
  gtk_switch_set_active (sw, TRUE);
  set_tiny (win, 2);
  want_runs = 1;
  g_assert_true (tagsight_train_page_start (page));
  tagsight_training_stop_after_epoch (tagsight_train_page_get_training (page));
  g_assert_true (app_test_wait_for (run_recorded, win, 120));
  r = get_run (tagsight_window_get_project (win), 1);
  g_assert_nonnull (strstr (r->recipe, "\"--precision\", \"bf16\""));
  g_assert_nonnull (strstr (r->recipe, "\"precision\": \"bf16\""));
  g_assert_true (g_str_has_prefix (r->device, "CPU"));
  g_assert_null (strstr (r->device, "bf16"));
  g_clear_pointer (&r, tagsight_run_free);

  gtk_switch_set_active (sw, FALSE);
  resume_run_1 (win, &f);
  g_assert_cmpint (f.status, ==, TS_OK);
  g_assert_true (tagsight_training_dup_last_settings (tagsight_train_page_get_training (page),
                                                      &s));
  g_assert_cmpint (s.precision, ==, TS_PRECISION_BF16);
  tagsight_train_settings_clear (&s);
  r = get_run (tagsight_window_get_project (win), 1);
  g_assert_cmpint (r->status, ==, TAGSIGHT_RUN_FINISHED);
  g_assert_null (strstr (r->device, "bf16"));
  g_free (f.message);
  gtk_window_destroy (GTK_WINDOW (win));
}

int
main (int argc, char **argv)
{
  int rc;

  tmp = app_test_init (&argc, &argv, &have_display);
  data_dir = g_build_filename (tmp, "data", NULL);
  csv = app_test_demo_csv (data_dir, 40, 48);
  project_path = g_build_filename (tmp, "p.tagsight", NULL);

  /* in order: each uses the project the one before left */
  g_test_add_func ("/app/project/record-runs", test_record_runs);
  g_test_add_func ("/app/project/reopen-and-inspect", test_reopen_and_inspect);
  g_test_add_func ("/app/project/image-dir-reopened", test_image_dir_reopened);
  g_test_add_func ("/app/project/moved", test_moved);
  g_test_add_func ("/app/project/resume", test_resume);
  g_test_add_func ("/app/project/foreign-checkpoint", test_foreign_checkpoint);
  g_test_add_func ("/app/project/continue", test_continue);
  g_test_add_func ("/app/project/read-only", test_read_only);
  g_test_add_func ("/app/project/precision", test_precision);
  rc = g_test_run ();
  ts_test_rmdir (tmp);
  g_free (tmp);
  g_free (data_dir);
  g_free (csv);
  g_free (project_path);
  return rc;
}
