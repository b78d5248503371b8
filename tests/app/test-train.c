/* test-train.c: the Train, Results and Export pages driven through the
 * window's actions on a small demo data set (40 images of 48 px, the tiny
 * network): a fine_tune run fills the epoch table and the chart, the Results
 * page shows the threshold curves and the per-class table, dragging the
 * threshold updates the values shown, the chosen thresholds go into the
 * exported model, Predict labels images; Stop keeps a usable model; the LR
 * finder plots its suggestions.  Needs a display (Xvfb in CI); skips without. */
#define _GNU_SOURCE   /* memmem */
#include <adwaita.h>
#include <math.h>
#include <string.h>

#include "ts-backend-select.h"
#include "ts-metrics.h"
#include "ts-modelfile.h"
#include "app-test-window.h"

static gboolean have_display;
static char *tmp;
static char *csv;
static const char *self;   /* this program (argv[0]) */

typedef struct {
  gboolean done;
  GError *error;
  int n_points;
} LrDone;

static void
on_lr_done (GObject *source, GAsyncResult *result, gpointer data)
{
  LrDone *d = data;
  const ts_lr_find_result *r =
    tagsight_training_lr_find_finish (TAGSIGHT_TRAINING (source), result, &d->error);

  d->n_points = r != NULL ? r->n : -1;
  d->done = TRUE;
}

static gboolean
lr_done (gpointer data)
{
  return ((LrDone *) data)->done;
}

static TagsightWindow *
open_window (int epochs, int freeze_epochs, int bs)
{
  return app_test_open_window (csv, epochs, freeze_epochs, bs);
}

/* The metrics the Results page shows, computed here from the library. */
static void
check_values (TagsightResultsPage *page, const TagsightPreds *p, double thresh)
{
  TagsightResultValues v;
  ts_prf micro, macro;

  tagsight_results_page_get_values (page, &v);
  ts_prf_at (p->probs, p->targets, p->n, p->n_classes, thresh, NULL, &micro, &macro);
  g_assert_cmpfloat_with_epsilon (v.accuracy_multi,
                                  ts_accuracy_multi (p->probs, p->targets, p->n, p->n_classes,
                                                     thresh, 0), 1e-9);
  g_assert_cmpfloat_with_epsilon (v.precision, micro.precision, 1e-9);
  g_assert_cmpfloat_with_epsilon (v.recall, micro.recall, 1e-9);
  g_assert_cmpfloat_with_epsilon (v.f1, micro.f1, 1e-9);
}

static TagsightPreds *last_preds;

static void
on_preds (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (GError) error = NULL;

  last_preds = tagsight_training_get_preds_finish (TAGSIGHT_TRAINING (source), result, &error);
  g_assert_no_error (error);
}

static gboolean
have_preds (gpointer data)
{
  return last_preds != NULL;
}

typedef struct {
  gboolean done, ok;
} Saved;

static void
on_saved (TagsightExportPage *page, gboolean ok, const char *message, Saved *s)
{
  s->done = TRUE;
  s->ok = ok;
  g_test_message ("saved: %s", message);
}

static gboolean
saved (gpointer data)
{
  return ((Saved *) data)->done;
}

static gboolean
predicted (gpointer data)
{
  return tagsight_export_page_get_n_predictions (data) >= 2;
}

/* A page that has trained one whole run (batches of 4), and what that run
 * ended with: the tests of a run interrupted in its second epoch and
 * continued compare its end with this one's (same settings, same threads:
 * the CPU's sums are then deterministic). */
typedef struct {
  TagsightWindow *win;
  TagsightTrainPage *page;
  TagsightTraining *training;
  AppTestFinished f;
  int n_rows;                  /* its epochs (rows of the table) */
  char *last_loss;             /* the last row's validation loss, as shown */
  gsize n_points;              /* its batches (points of the chart) */
} WholeRun;

static void
whole_run (WholeRun *r, int epochs, int freeze_epochs)
{
  memset (r, 0, sizeof *r);
  r->win = open_window (epochs, freeze_epochs, 4);
  r->page = tagsight_window_get_train_page (r->win);
  r->training = tagsight_train_page_get_training (r->page);
  g_signal_connect (r->page, "finished", G_CALLBACK (app_test_on_finished), &r->f);
  g_assert_true (tagsight_train_page_start (r->page));
  g_assert_true (app_test_wait_for (app_test_is_done, &r->f, 120));
  g_assert_cmpint (r->f.status, ==, TS_OK);
  /* the Results page evaluates each run: wait until it is done */
  g_assert_true (app_test_wait_for (app_test_results_shown, r->win, 60));
  r->n_rows = tagsight_train_page_get_n_epoch_rows (r->page);
  g_assert_cmpint (r->n_rows, ==, epochs + freeze_epochs);
  r->last_loss = g_strdup (tagsight_train_page_get_epoch_cell (r->page, r->n_rows - 1, 3));
  r->n_points = tagsight_chart_get_series_length (tagsight_train_page_get_chart (r->page), 0);
  /* a finished run leaves nothing to continue */
  g_assert_null (tagsight_training_dup_resumable (r->training));
  r->f.done = FALSE;
}

/* The second epoch's second batch: where the tests interrupt the run
 * (the first phase is one epoch) */
static int
second_epoch_batch (const WholeRun *r)
{
  return (int) (r->n_points / (gsize) r->n_rows) + 2;
}

/* After the run started again was interrupted (@status) in its second
 * epoch: it left the first epoch's checkpoint, and Continue goes on from it
 * to the whole run's end; the page's table and chart go on, the interrupted
 * epoch's batches replaced.  Closes the window. */
static void
continue_to_the_end (WholeRun *r, ts_status status)
{
  g_autofree char *ckpt = NULL, *finished = NULL;

  g_assert_true (app_test_wait_for (app_test_is_done, &r->f, 120));
  g_assert_cmpint (r->f.status, ==, status);
  if (status == TS_ERR_DEVICE)
    {
      /* the model on the failed GPU is gone: nothing is evaluated there */
      g_assert_true (app_test_wait_for (app_test_not_busy, r->training, 60));
      g_assert_false (tagsight_training_has_model (r->training));
      app_test_iterate_for (300);
      g_assert_null (tagsight_results_page_get_error (tagsight_window_get_results_page (r->win)));
    }
  else
    g_assert_true (app_test_wait_for (app_test_results_shown, r->win, 60));
  g_assert_cmpint (tagsight_train_page_get_n_epoch_rows (r->page), ==, 1);
  /* the first epoch's batches and at least two of the interrupted one's */
  g_assert_cmpuint (tagsight_chart_get_series_length (tagsight_train_page_get_chart (r->page), 0),
                    >, r->n_points / (gsize) r->n_rows + 1);
  ckpt = tagsight_training_dup_resumable (r->training);
  g_assert_nonnull (ckpt);
  g_assert_true (g_file_test (ckpt, G_FILE_TEST_IS_REGULAR));

  r->f.done = FALSE;
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (r->page), "train.continue", NULL));
  g_assert_true (app_test_wait_for (app_test_is_done, &r->f, 120));
  g_assert_cmpint (r->f.status, ==, TS_OK);
  /* the table goes on: the first epoch, then the ones after it, the last
   * as in the whole run */
  g_assert_cmpint (tagsight_train_page_get_n_epoch_rows (r->page), ==, r->n_rows);
  g_assert_cmpstr (tagsight_train_page_get_epoch_cell (r->page, r->n_rows - 1, 3), ==,
                   r->last_loss);
  /* every batch once */
  g_assert_cmpuint (tagsight_chart_get_series_length (tagsight_train_page_get_chart (r->page), 0),
                    ==, r->n_points);
  g_assert_null (tagsight_training_dup_resumable (r->training));
  /* the run's epochs, not those since Continue */
  finished = g_strdup_printf ("Finished: %d epochs", r->n_rows);
  g_assert_cmpstr (tagsight_train_page_get_status_text (r->page), ==, finished);
  g_free (r->f.message);
  g_free (r->last_loss);
  /* closed while the Results page still evaluates the run: the page's late
   * answer must not reach the gone window (it crashed once) */
  gtk_window_destroy (GTK_WINDOW (r->win));
}

/* A run stopped in its second epoch goes on with Continue from its
 * checkpoint (the end of the first) and ends as the uninterrupted run. */
static void
test_continue (void)
{
  WholeRun r;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  whole_run (&r, 3, 1);
  g_assert_true (tagsight_train_page_start (r.page));
  /* decided on the training thread: a Stop from the main loop could come
   * after the epoch had ended on a busy machine */
  tagsight_training_stop_at_batch (r.training, second_epoch_batch (&r));
  continue_to_the_end (&r, TS_ERR_CANCELLED);
}

/* A run whose GPU fails in its second epoch (an out-of-memory or a lost
 * device, as the backend records them) ends with the device's error and
 * what to do about it; the app keeps running, and Continue goes on from the
 * first epoch's checkpoint in a fresh session (on the CPU, as the message
 * advises) to the end the uninterrupted run reaches. */
static void
test_device_failure (void)
{
  WholeRun r;
  const char *said;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  whole_run (&r, 1, 1);
  g_assert_true (tagsight_train_page_start (r.page));
  tagsight_training_fail_at_batch (r.training, second_epoch_batch (&r),
                                   "CUDA out of memory (a test's)");
  g_assert_true (app_test_wait_for (app_test_is_done, &r.f, 120));
  said = tagsight_train_page_get_status_text (r.page);
  g_test_message ("the page says: %s", said);
  g_assert_nonnull (strstr (said, "Training failed on the GPU"));
  g_assert_nonnull (strstr (said, "CUDA out of memory (a test's)"));
  g_assert_nonnull (strstr (said, "press Continue to go on from the last completed epoch"));
  continue_to_the_end (&r, TS_ERR_DEVICE);
}

static gboolean
open_failed (gpointer data)
{
  return tagsight_results_page_get_error (data) != NULL;
}

static void
test_fine_tune (void)
{
  TagsightWindow *win;
  TagsightTrainPage *page;
  TagsightResultsPage *results;
  TagsightChart *chart;
  AppTestFinished f = { 0 };
  Saved sv = { 0 };
  const ts_datablock *db;
  int n_batches, n_vocab;
  double thresh, px;
  g_autofree char *model = NULL;
  ts_modelfile_meta meta = { 0 };
  ts_backend *be;
  ts_model *m = NULL;
  int n_ct;
  const float *ct;
  const char *images[3];
  g_autofree char *img0 = NULL, *img1 = NULL;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  win = open_window (1, 1, 8);
  page = tagsight_window_get_train_page (win);
  results = tagsight_window_get_results_page (win);
  db = tagsight_dataset_get_datablock (
    tagsight_data_page_get_dataset (tagsight_window_get_data_page (win)));
  g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), &f);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (win), "win.train", NULL));
  g_assert_cmpstr (tagsight_window_get_page (win), ==, "train");
  g_assert_true (tagsight_train_page_get_busy (page));
  g_assert_true (app_test_wait_for (app_test_is_done, &f, 120));
  g_assert_cmpint (f.status, ==, TS_OK);
  /* on the CPU the loader threads resize and augment; the page names the device only */
  g_assert_true (g_str_has_prefix (tagsight_train_page_get_device_text (page), "This run: CPU"));
  g_assert_null (strstr (tagsight_train_page_get_device_text (page), "augments"));

  /* fastai's table: one frozen and one unfrozen epoch, each counted from 0 */
  g_assert_cmpint (tagsight_train_page_get_n_epoch_rows (page), ==, 2);
  g_assert_cmpstr (tagsight_train_page_get_epoch_cell (page, 0, 0), ==, "0");
  g_assert_cmpstr (tagsight_train_page_get_epoch_cell (page, 0, 1), ==, "frozen");
  g_assert_cmpstr (tagsight_train_page_get_epoch_cell (page, 1, 0), ==, "0");
  g_assert_cmpstr (tagsight_train_page_get_epoch_cell (page, 1, 1), ==, "unfrozen");
  for (int r = 0; r < 2; r++)
    for (int c = 2; c <= 4; c++)
      {
        double v = g_ascii_strtod (tagsight_train_page_get_epoch_cell (page, r, c), NULL);

        g_assert_true (isfinite (v) && v >= 0);
      }

  /* the chart: raw and smoothed loss per batch, valid loss and the metric per epoch */
  chart = tagsight_train_page_get_chart (page);
  n_batches = db->n_train / 8;   /* the training loader drops the last partial batch */
  g_assert_cmpuint (tagsight_chart_get_n_series (chart), ==, 4);
  g_assert_cmpuint (tagsight_chart_get_series_length (chart, 0), >=, 2 * (gsize) n_batches);
  g_assert_cmpuint (tagsight_chart_get_series_length (chart, 0), <=, 2 * (gsize) n_batches + 2);
  g_assert_cmpuint (tagsight_chart_get_series_length (chart, 1), ==,
                    tagsight_chart_get_series_length (chart, 0));
  g_assert_cmpuint (tagsight_chart_get_series_length (chart, 2), ==, 2);
  g_assert_cmpuint (tagsight_chart_get_series_length (chart, 3), ==, 2);
  g_assert_cmpuint (tagsight_chart_get_n_markers (chart), ==, 1);   /* unfrozen */


  /* Results follow on their own */
  g_assert_true (app_test_wait_for (app_test_results_shown, win, 60));
  /* a job the Train page did not start (another page's evaluation, here
   * the LR finder asked of the training directly) disables Start, Continue
   * and the LR finder while it runs, and gives them back when it ends */
  {
    GtkWidget *start = app_test_find_actionable (GTK_WIDGET (page), "train.start");
    GtkWidget *lr = app_test_find_actionable (GTK_WIDGET (page), "train.lr-find");
    TagsightTrainSettings s;
    LrDone d = { 0 };

    g_assert_true (gtk_widget_get_sensitive (start));
    tagsight_train_page_get_settings (page, &s);
    tagsight_training_lr_find_async (tagsight_train_page_get_training (page), &s, NULL,
                                     on_lr_done, &d);
    g_assert_false (gtk_widget_get_sensitive (start));
    g_assert_false (gtk_widget_get_sensitive (lr));
    /* ... and Stop, its button or Ctrl+. (win.stop), is for the page's own
     * jobs: the other job runs to its end */
    g_assert_false (gtk_widget_get_sensitive (
      app_test_find_actionable (GTK_WIDGET (page), "train.stop")));
    gtk_widget_activate_action (GTK_WIDGET (win), "win.stop", NULL);
    g_assert_true (app_test_wait_for (lr_done, &d, 120));
    g_assert_no_error (d.error);
    g_assert_true (gtk_widget_get_sensitive (start));
    g_assert_true (gtk_widget_get_sensitive (lr));
    g_clear_error (&d.error);
    tagsight_train_settings_clear (&s);
  }
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (win), "win.page", "s", "results"));
  g_assert_cmpstr (tagsight_window_get_page (win), ==, "results");
  g_assert_cmpint (tagsight_results_page_get_n_class_rows (results), ==, db->n_vocab);
  for (int k = 0; k < db->n_vocab; k++)
    g_assert_cmpstr (tagsight_results_page_get_class_cell (results, k, 0), ==, db->vocab[k]);
  g_assert_cmpfloat (tagsight_results_page_get_threshold (results), ==,
                     tagsight_results_page_get_best_threshold (results));

  /* the same predictions, to check what the page shows */
  tagsight_training_get_preds_async (tagsight_train_page_get_training (page), NULL, on_preds,
                                     NULL);
  g_assert_true (app_test_wait_for (have_preds, NULL, 60));
  g_assert_cmpint (last_preds->n, ==, db->n_valid);
  check_values (results, last_preds, tagsight_results_page_get_threshold (results));
  for (int k = 0; k < db->n_vocab; k++)
    {
      ts_prf *prf = g_new0 (ts_prf, db->n_vocab);
      ts_prf micro, macro;
      g_autofree char *support = NULL;

      ts_prf_at (last_preds->probs, last_preds->targets, last_preds->n, db->n_vocab, 0.5, prf,
                 &micro, &macro);
      support = g_strdup_printf ("%" G_GINT64_FORMAT, (gint64) prf[k].support);
      g_assert_cmpstr (tagsight_results_page_get_class_cell (results, k, 5), ==, support);
      g_free (prf);
    }

  /* dragging: a pixel on the chart -> a threshold -> the values at it */
  chart = tagsight_results_page_get_chart (results);
  px = tagsight_chart_x_to_pixel (chart, 0.3);
  thresh = tagsight_chart_pixel_to_x (chart, px);
  g_assert_cmpfloat_with_epsilon (thresh, 0.3, 1e-9);
  g_signal_emit_by_name (chart, "threshold-changed", thresh);
  g_assert_cmpfloat_with_epsilon (tagsight_results_page_get_threshold (results), 0.3, 1e-9);
  g_assert_cmpfloat_with_epsilon (tagsight_chart_get_threshold (chart), 0.3, 1e-9);
  check_values (results, last_preds, 0.3);
  g_assert_nonnull (strstr (tagsight_results_page_get_values_text (results),
                            "accuracy_multi"));
  /* the spin button moves the line */
  tagsight_results_page_set_threshold (results, 0.45);
  g_assert_cmpfloat_with_epsilon (tagsight_chart_get_threshold (chart), 0.45, 1e-9);
  check_values (results, last_preds, 0.45);

  /* per-class thresholds: each class at its own best F1 */
  tagsight_results_page_set_per_class (results, TRUE);
  ct = tagsight_results_page_get_class_thresholds (results, &n_ct);
  g_assert_nonnull (ct);
  g_assert_cmpint (n_ct, ==, db->n_vocab);
  {
    g_autofree double *th = g_new (double, n_ct);
    TagsightResultValues want, got;

    for (int k = 0; k < n_ct; k++)
      th[k] = ct[k];
    tagsight_results_values_at (last_preds->probs, last_preds->targets, last_preds->n, n_ct, th,
                                &want);
    tagsight_results_page_get_values (results, &got);
    g_assert_cmpfloat (got.accuracy_multi, ==, want.accuracy_multi);
    g_assert_cmpfloat (got.f1, ==, want.f1);
  }

  /* the chosen thresholds go into the exported model */
  model = g_build_filename (tmp, "model.safetensors", NULL);
  g_signal_connect (tagsight_window_get_export_page (win), "saved", G_CALLBACK (on_saved), &sv);
  tagsight_window_export (win, model);
  g_assert_true (app_test_wait_for (saved, &sv, 60));
  g_assert_true (sv.ok);
  be = ts_backend_cpu_new (1);
  g_assert_cmpint (ts_modelfile_load (model, be, &m, &meta), ==, TS_OK);
  g_assert_cmpint (meta.n_vocab, ==, db->n_vocab);
  g_assert_true (meta.has_best_threshold);
  g_assert_cmpfloat_with_epsilon (meta.best_threshold, 0.45, 1e-6);
  g_assert_nonnull (meta.class_thresholds);
  for (int k = 0; k < n_ct; k++)
    g_assert_cmpfloat (meta.class_thresholds[k], ==, ct[k]);
  ts_modelfile_meta_clear (&meta);
  ts_model_free (m);
  ts_backend_free (be);

  /* ONNX, when the build has it */
  if (tagsight_training_can_export_onnx ())
    {
      g_autofree char *onnx = g_build_filename (tmp, "model.onnx", NULL);
      g_autofree char *bytes = NULL;
      gsize len = 0;

      sv.done = FALSE;
      tagsight_export_page_save_onnx (tagsight_window_get_export_page (win), onnx);
      g_assert_true (app_test_wait_for (saved, &sv, 60));
      g_assert_true (sv.ok);
      g_assert_true (g_file_get_contents (onnx, &bytes, &len, NULL));
      g_assert_cmpuint (len, >, 1000);
      /* the vocab travels in the metadata */
      g_assert_nonnull (memmem (bytes, len, db->vocab[0], strlen (db->vocab[0])));
    }

  /* Predict: two images, decoded and run off the main thread */
  img0 = g_strdup (db->items[db->valid_idx[0]].path);
  img1 = g_strdup (db->items[db->valid_idx[1]].path);
  images[0] = img0;
  images[1] = img1;
  images[2] = NULL;
  tagsight_export_page_predict (tagsight_window_get_export_page (win), images);
  g_assert_true (app_test_wait_for (predicted, tagsight_window_get_export_page (win), 60));
  {
    g_autofree char *base = g_path_get_basename (img0);
    const char *text = tagsight_export_page_get_prediction (tagsight_window_get_export_page (win),
                                                            0);

    g_test_message ("predicted: %s", text);
    g_assert_true (g_str_has_prefix (text, base));
  }
  g_clear_pointer (&last_preds, tagsight_preds_free);
  g_free (f.message);
  n_vocab = db->n_vocab;   /* db goes with the window */
  gtk_window_destroy (GTK_WINDOW (win));

  /* a model file and a data set, without training: Results evaluate it */
  win = open_window (1, 1, 8);
  results = tagsight_window_get_results_page (win);
  g_assert_false (tagsight_results_page_has_results (results));
  tagsight_results_page_open_model (results, model);
  g_assert_true (app_test_wait_for (app_test_results_shown, win, 60));
  g_assert_cmpint (tagsight_results_page_get_n_class_rows (results), ==, n_vocab);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (win), "win.page", "s", "export"));
  g_assert_cmpstr (tagsight_window_get_page (win), ==, "export");
  gtk_window_destroy (GTK_WINDOW (win));

  /* a file that is no model: the reason is shown, nothing breaks */
  win = open_window (1, 1, 8);
  results = tagsight_window_get_results_page (win);
  tagsight_results_page_open_model (results, csv);
  g_assert_true (app_test_wait_for (open_failed, results, 60));
  g_test_message ("not a model: %s", tagsight_results_page_get_error (results));
  g_assert_nonnull (strstr (tagsight_results_page_get_error (results), "train.csv"));
  gtk_window_destroy (GTK_WINDOW (win));
}

static gboolean
one_epoch (gpointer data)
{
  return tagsight_train_page_get_n_epoch_rows (data) >= 1;
}

static gboolean
a_second_passed (gpointer data)
{
  return g_get_monotonic_time () > *(gint64 *) data;
}

static void
test_stop (void)
{
  TagsightWindow *win;
  TagsightTrainPage *page;
  AppTestFinished f = { 0 };
  int n_frames;
  double mean_ms, max_ms;
  gint64 until;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  /* the resample left to the backend, as on a GPU (here the CPU's): the
   * page says so, and the Results page's evaluation goes the same way */
  if (g_strcmp0 (g_getenv ("TS_DEVICE_RESAMPLE"), "1") != 0)
    {
      app_test_run_with_env (self, "/app/train/stop", "TS_DEVICE_RESAMPLE", "1");
      return;
    }
  /* long enough that Stop comes first */
  win = open_window (2000, 0, 4);
  page = tagsight_window_get_train_page (win);
  g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), &f);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (win), "win.train", NULL));
  g_assert_true (app_test_wait_for (one_epoch, page, 120));
  /* a second of training with the window drawing: how responsive it stays */
  until = g_get_monotonic_time () + G_USEC_PER_SEC;
  g_assert_true (app_test_wait_for (a_second_passed, &until, 10));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (win), "win.stop", NULL));
  g_assert_true (app_test_wait_for (app_test_is_done, &f, 60));
  g_assert_cmpint (f.status, ==, TS_ERR_CANCELLED);
  g_assert_nonnull (strstr (tagsight_train_page_get_device_text (page),
                            ", which also resizes and augments the images"));
  g_assert_cmpint (tagsight_train_page_get_n_epoch_rows (page), <, 2000);
  tagsight_train_page_get_frame_times (page, &n_frames, &mean_ms, &max_ms);
  g_test_message ("frame times while training: %d frames, mean %.1f ms, max %.1f ms; longest "
                  "main loop stall %.1f ms", n_frames, mean_ms, max_ms,
                  tagsight_train_page_get_max_main_loop_gap (page));
  /* training is on a worker: the main loop keeps running its 10 ms timeout */
  g_assert_cmpfloat (tagsight_train_page_get_max_main_loop_gap (page), >, 0);
  g_assert_cmpfloat (tagsight_train_page_get_max_main_loop_gap (page), <, 1000);
  g_assert_true (tagsight_training_has_model (tagsight_train_page_get_training (page)));
  /* the app stays usable: Results evaluate the kept weights, those of the
   * last completed epoch, whose validation loss the table shows */
  g_assert_true (app_test_wait_for (app_test_results_shown, win, 60));
  tagsight_training_get_preds_async (tagsight_train_page_get_training (page), NULL, on_preds,
                                     NULL);
  g_assert_true (app_test_wait_for (have_preds, NULL, 60));
  {
    int last = tagsight_train_page_get_n_epoch_rows (page) - 1;
    double want = g_ascii_strtod (tagsight_train_page_get_epoch_cell (page, last, 3), NULL);

    g_test_message ("stopped after %d epochs: valid loss %.6f, table %.6f", last + 1,
                    last_preds->loss, want);
    g_assert_cmpfloat_with_epsilon (last_preds->loss, want, 2e-6);
  }
  g_clear_pointer (&last_preds, tagsight_preds_free);
  g_free (f.message);
  gtk_window_destroy (GTK_WINDOW (win));
}

static gboolean
lr_found (gpointer data)
{
  TagsightTrainPage *page = data;

  return !tagsight_train_page_get_busy (page)
         && tagsight_chart_get_n_series (tagsight_train_page_get_lr_chart (page)) > 0;
}

static void
test_lr_find (void)
{
  TagsightWindow *win;
  TagsightTrainPage *page;
  TagsightChart *chart;
  AppTestFinished f = { 0 };

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  win = open_window (1, 1, 4);
  page = tagsight_window_get_train_page (win);
  /* a trained model first: the LR finder must leave it alone */
  g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), &f);
  g_assert_true (tagsight_train_page_start (page));
  g_assert_true (app_test_wait_for (app_test_is_done, &f, 120));
  g_assert_cmpint (f.status, ==, TS_OK);
  g_assert_true (app_test_wait_for (app_test_results_shown, win, 60));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "train.lr-find", NULL));
  g_assert_true (app_test_wait_for (lr_found, page, 120));
  chart = tagsight_train_page_get_lr_chart (page);
  g_assert_cmpuint (tagsight_chart_get_series_length (chart, 0), >, 5);
  /* the suggestions are marked and the valley is taken */
  g_assert_cmpuint (tagsight_chart_get_n_markers (chart), >=, 1);
  g_assert_cmpfloat_with_epsilon (tagsight_train_page_get_lr (page),
                                  tagsight_chart_get_threshold (chart),
                                  tagsight_chart_get_threshold (chart) * 1e-3 + 1e-6);
  /* clicking the plot picks a learning rate */
  g_signal_emit_by_name (chart, "threshold-changed", 0.01);
  g_assert_cmpfloat_with_epsilon (tagsight_train_page_get_lr (page), 0.01, 1e-6);
  g_assert_true (tagsight_training_has_model (tagsight_train_page_get_training (page)));
  g_assert_cmpint (tagsight_train_page_get_n_epoch_rows (page), ==, 2);
  g_free (f.message);
  gtk_window_destroy (GTK_WINDOW (win));
}

static void
test_bad_settings (void)
{
  TagsightWindow *win;
  TagsightTrainPage *page;
  AppTestFinished f = { 0 };

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  /* a batch larger than the training set: reported, not fatal */
  win = open_window (1, 1, 500);
  page = tagsight_window_get_train_page (win);
  g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), &f);
  g_assert_true (tagsight_train_page_start (page));
  g_assert_true (app_test_wait_for (app_test_is_done, &f, 60));
  g_assert_cmpint (f.status, !=, TS_OK);
  g_assert_nonnull (f.message);
  g_assert_nonnull (strstr (f.message, "batch size"));
  g_assert_false (tagsight_train_page_get_busy (page));
  g_free (f.message);
  gtk_window_destroy (GTK_WINDOW (win));
}

/* Pretrained weights chosen on the page (a TFLite MobileNetV2 from
 * ../shared): the model is built as the file says and trains; the LR
 * finder runs on the frozen body.  Skips without ../shared. */
static void
test_pretrained (void)
{
  g_autofree char *weights = NULL;
  TagsightWindow *win;
  TagsightTrainPage *page;
  TagsightTrainSettings s;
  AppTestFinished f = { 0 };

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  weights = ts_test_shared_path ("weights/mobilenet_v2/mobilenet_v2_1.0_224_quant.tflite");
  if (weights == NULL)
    return;
  win = open_window (1, 1, 8);
  page = tagsight_window_get_train_page (win);
  tagsight_train_page_get_settings (page, &s);
  g_free (s.arch);
  s.arch = g_strdup ("mobilenet_v2");
  tagsight_train_page_set_settings (page, &s);
  tagsight_train_settings_clear (&s);
  tagsight_train_page_set_pretrained (page, weights);
  g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), &f);
  g_assert_true (tagsight_train_page_start (page));
  g_assert_true (app_test_wait_for (app_test_is_done, &f, 240));
  g_assert_cmpint (f.status, ==, TS_OK);
  g_assert_cmpint (tagsight_train_page_get_n_epoch_rows (page), ==, 2);
  g_assert_true (app_test_wait_for (app_test_results_shown, win, 60));
  g_free (f.message);
  gtk_window_destroy (GTK_WINDOW (win));
}

/* Stop and a cancelled GCancellable end the LR finder too (no display needed):
 * both asked for before its first step, so it cannot finish first. */
static void
test_lr_find_stop (void)
{
  g_autoptr (TagsightTraining) training = tagsight_training_new ();
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  TagsightTrainSettings s;
  LrDone d = { 0 };

  tagsight_train_settings_init (&s);
  s.csv = g_strdup (csv);
  g_free (s.arch);
  s.arch = g_strdup ("tiny");
  s.bs = 8;
  s.size = 32;
  s.threads = 1;

  tagsight_training_lr_find_async (training, &s, NULL, on_lr_done, &d);
  g_assert_true (tagsight_training_get_busy (training));
  tagsight_training_stop (training);
  g_assert_true (app_test_wait_for (lr_done, &d, 60));
  g_assert_error (d.error, TAGSIGHT_TRAINING_ERROR, TS_ERR_CANCELLED);
  g_assert_false (tagsight_training_get_busy (training));
  g_clear_error (&d.error);

  /* a stop belongs to its job: the next one runs to the end */
  memset (&d, 0, sizeof d);
  tagsight_training_lr_find_async (training, &s, NULL, on_lr_done, &d);
  g_assert_true (app_test_wait_for (lr_done, &d, 120));
  g_assert_no_error (d.error);
  g_assert_cmpint (d.n_points, >, 5);

  memset (&d, 0, sizeof d);
  tagsight_training_lr_find_async (training, &s, cancellable, on_lr_done, &d);
  g_cancellable_cancel (cancellable);
  /* the job stops at its next step (within the deadline); GTask reports it
   * as cancelled */
  g_assert_true (app_test_wait_for (lr_done, &d, 60));
  g_assert_error (d.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (tagsight_training_get_busy (training));
  g_clear_error (&d.error);
  tagsight_train_settings_clear (&s);
}

/* The values-at-threshold math on a hand-made case (no display needed). */
static void
test_values_math (void)
{
  /* 3 items x 2 classes */
  const float probs[] = { 0.9f, 0.2f, 0.4f, 0.6f, 0.1f, 0.05f };
  const float targets[] = { 1, 0, 1, 1, 0, 0 };
  const double half[] = { 0.5, 0.5 }, per[] = { 0.3, 0.5 };
  TagsightResultValues v;

  tagsight_results_values_at (probs, targets, 3, 2, half, &v);
  /* predicted: (1,0) (0,1) (0,0): right 5 of 6; tp 2, fp 0, fn 1 */
  g_assert_cmpfloat_with_epsilon (v.accuracy_multi, 5.0 / 6, 1e-12);
  g_assert_cmpfloat_with_epsilon (v.precision, 1.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (v.recall, 2.0 / 3, 1e-12);
  g_assert_cmpfloat_with_epsilon (v.f1, 0.8, 1e-12);
  tagsight_results_values_at (probs, targets, 3, 2, per, &v);
  /* class 0 at 0.3: (1) (1) (0): all right */
  g_assert_cmpfloat_with_epsilon (v.accuracy_multi, 1.0, 1e-12);
  g_assert_cmpfloat_with_epsilon (v.f1, 1.0, 1e-12);
}

/* The Train page's precision switch: greyed out, saying why, in a build
 * without CUDA; with CUDA, activating its row turns it on and the run asks
 * for bf16, which on the CPU (the suite pins it) goes on in float32: the
 * device shown says what ran (no "(bf16)"), the run's settings keep the
 * request (Continue asks for it again). */
static void
test_precision (void)
{
  TagsightWindow *win;
  TagsightTrainPage *page;
  TagsightTrainSettings s;
  AppTestFinished f = { 0 };
  GtkWidget *sw, *row;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  win = open_window (1, 0, 8);
  page = tagsight_window_get_train_page (win);
  /* in view, as when a user clicks it: an unmapped switch never animates */
  tagsight_window_set_page (win, "train");
  sw = app_test_find_widget_of_type (GTK_WIDGET (page), GTK_TYPE_SWITCH);
  g_assert_nonnull (sw);
  row = gtk_widget_get_ancestor (sw, ADW_TYPE_ACTION_ROW);
  g_assert_nonnull (row);
  g_assert_false (gtk_switch_get_active (GTK_SWITCH (sw)));
  if (!ts_backend_have_cuda ())
    {
      g_assert_false (gtk_widget_is_sensitive (sw));
      g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (row), "CUDA"));
      tagsight_train_page_get_settings (page, &s);
      g_assert_cmpint (s.precision, ==, TS_PRECISION_F32);
      tagsight_train_settings_clear (&s);
      gtk_window_destroy (GTK_WINDOW (win));
      return;
    }
  g_assert_true (gtk_widget_is_sensitive (sw));
  /* a click anywhere on the row flips it (once its animation ends) */
  adw_action_row_activate (ADW_ACTION_ROW (row));
  g_assert_true (app_test_wait_for (app_test_switch_on, sw, 10));
  tagsight_train_page_get_settings (page, &s);
  g_assert_cmpint (s.precision, ==, TS_PRECISION_BF16);
  tagsight_train_settings_clear (&s);

  g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), &f);
  g_assert_true (tagsight_train_page_start (page));
  g_assert_true (app_test_wait_for (app_test_is_done, &f, 120));
  g_assert_cmpint (f.status, ==, TS_OK);
  g_assert_true (g_str_has_prefix (tagsight_train_page_get_device_text (page), "This run: CPU"));
  g_assert_null (strstr (tagsight_train_page_get_device_text (page), "bf16"));
  g_assert_true (app_test_wait_for (app_test_not_busy, tagsight_train_page_get_training (page),
                                    60));
  g_assert_true (tagsight_training_dup_last_settings (tagsight_train_page_get_training (page),
                                                      &s));
  g_assert_cmpint (s.precision, ==, TS_PRECISION_BF16);
  tagsight_train_settings_clear (&s);
  g_free (f.message);
  gtk_window_destroy (GTK_WINDOW (win));
}

int
main (int argc, char **argv)
{
  self = argv[0];
  tmp = app_test_init (&argc, &argv, &have_display);
  csv = app_test_demo_csv (tmp, 40, 48);

  g_test_add_func ("/app/results/values-math", test_values_math);
  g_test_add_func ("/app/train/fine-tune-results-export", test_fine_tune);
  g_test_add_func ("/app/train/stop", test_stop);
  g_test_add_func ("/app/train/continue", test_continue);
  g_test_add_func ("/app/train/device-failure", test_device_failure);
  g_test_add_func ("/app/train/lr-find", test_lr_find);
  g_test_add_func ("/app/train/lr-find-stop", test_lr_find_stop);
  g_test_add_func ("/app/train/bad-settings", test_bad_settings);
  g_test_add_func ("/app/train/precision", test_precision);
  g_test_add_func ("/app/train/pretrained-tflite", test_pretrained);
  return app_test_run (tmp, csv);
}
