/* test-app-emu.c: the app's GPU paths on the emulated GPU.
 *
 * This program is the app's library linked with tests/cuda/emu's backend
 * (the kernels as C++, the fake CUDA runtime, cuBLAS and cuDNN) instead of
 * the real one (tests/cuda/meson.build), so that what a user sees on the
 * Train page with CUDA runs on every CI machine: the CUDA button usable or
 * greyed out saying why, the device row of a run on the GPU (and "(bf16)"),
 * the status line's note on bf16 convolutions that ran in float32, and a
 * GPU lost mid-run followed by Continue on the CPU from the last epoch's
 * checkpoint.  The fake's switches are environment variables read by the
 * fake itself (tests/cuda/emu/fake-*.c): the tests that need one run in a
 * child that has it from its start (app_test_run_with_env).
 *
 * TS_TEST_EMU_CUDNN: the fake cuDNN is built (cudnn.h was found), which bf16
 * needs.  Needs a display (Xvfb in CI); skips without. */
#include "ts-config.h"

#include <stdlib.h>
#include <string.h>

#include "app-test-window.h"
#include "tagsight-settings.h"

/* the fake runtime's device (fake-cudart.c), as the backend describes it */
#define FAKE_DEVICE "emulated GPU (host) (sm_90, 1 GiB, cuda:0, "

static gboolean have_display;
static char *tmp;
static char *csv;
static const char *self;   /* this program (argv[0]) */

/* Whether the test runs here: with a display, and in a child that has
 * @var in its environment (else it starts one with @var=@value and the
 * child's result is this test's).  @var NULL: no child. */
static gboolean
here_with (const char *path, const char *var, const char *value)
{
  if (!have_display)
    {
      g_test_skip ("no display");
      return FALSE;
    }
  if (var != NULL && g_getenv (var) == NULL)
    {
      app_test_run_with_env (self, path, var, value);
      return FALSE;
    }
  return TRUE;
}

static gboolean
need_cudnn (void)
{
  if (!TS_TEST_EMU_CUDNN)
    g_test_skip ("bf16 needs cuDNN: the fake one is not built (no cudnn.h)");
  return TS_TEST_EMU_CUDNN;
}

/* The Train page's device button labelled @label ("CUDA", "CPU") */
static GtkWidget *
device_button (TagsightTrainPage *page, const char *label)
{
  GtkWidget *b = app_test_find (GTK_WIDGET (page), app_test_is_button_labelled, label);

  g_assert_true (GTK_IS_TOGGLE_BUTTON (b));
  return b;
}

static gboolean
toggle_on (gpointer button)
{
  return gtk_toggle_button_get_active (button);
}

/* A click on the device button @label, as a user's: the next run (and
 * Continue) asks for that device */
static void
choose_device (TagsightTrainPage *page, const char *label)
{
  GtkWidget *b = device_button (page, label);

  g_assert_true (gtk_widget_is_sensitive (b));
  gtk_widget_activate (b);
  g_assert_true (app_test_wait_for (toggle_on, b, 10));
}

/* Turns the bf16 switch on by activating its row, as in test-train.c's
 * test_precision (the page must be in view: an unmapped switch never
 * animates) */
static void
choose_bf16 (TagsightTrainPage *page)
{
  GtkWidget *sw = app_test_find_widget_of_type (GTK_WIDGET (page), GTK_TYPE_SWITCH);

  g_assert_nonnull (sw);
  adw_action_row_activate (ADW_ACTION_ROW (gtk_widget_get_ancestor (sw, ADW_TYPE_ACTION_ROW)));
  g_assert_true (app_test_wait_for (app_test_switch_on, sw, 10));
}

/* A window on the demo data, the Train page in view, CUDA chosen on it and
 * bf16 when @bf16; its page's "finished" into @f */
static TagsightWindow *
open_on_gpu (int epochs, int freeze_epochs, gboolean bf16, AppTestFinished *f)
{
  TagsightWindow *win = app_test_open_window (csv, epochs, freeze_epochs, 8);
  TagsightTrainPage *page = tagsight_window_get_train_page (win);

  tagsight_window_set_page (win, "train");
  choose_device (page, "CUDA");
  if (bf16)
    choose_bf16 (page);
  g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), f);
  return win;
}

/* Starts the page's run (Continue when @resume) and waits for its end,
 * which must be @status */
static void
run_to_end (TagsightTrainPage *page, gboolean resume, AppTestFinished *f, ts_status status)
{
  f->done = FALSE;
  if (resume)
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (page), "train.continue", NULL));
  else
    g_assert_true (tagsight_train_page_start (page));
  g_assert_true (app_test_wait_for (app_test_is_done, f, 240));
  g_test_message ("device row: %s; status line: %s", tagsight_train_page_get_device_text (page),
                  tagsight_train_page_get_status_text (page));
  g_assert_cmpint (f->status, ==, status);
}

/* The device row names the emulated GPU ("This run: emulated GPU (host)
 * (sm_90, ...)"), with " (bf16)" after it when @bf16, and says that it
 * also resizes the images (a GPU's backend does, as the loader's threads
 * on the CPU do) */
static void
assert_gpu_row (TagsightTrainPage *page, gboolean bf16)
{
  static const char resample[] = ", which also resizes and augments the images";
  g_autofree char *row = g_strdup (tagsight_train_page_get_device_text (page));

  g_assert_true (g_str_has_prefix (row, "This run: " FAKE_DEVICE));
  g_assert_true (g_str_has_suffix (row, resample));
  row[strlen (row) - strlen (resample)] = '\0';
  g_assert_cmpint (g_str_has_suffix (row, ") (bf16)"), ==, bf16);
}

/* The float32 note's N in the status line ("... N convolution calls ran
 * in float32: cuDNN has no bfloat16 algorithm for their layers."), 0 when
 * there is none */
static long
fallback_note (TagsightTrainPage *page)
{
  static const char tail[] = " convolution calls ran in float32: cuDNN has no bfloat16 "
                             "algorithm for their layers.";
  const char *text = tagsight_train_page_get_status_text (page);
  const char *note = strstr (text, tail), *start;

  if (note == NULL)
    {
      g_assert_null (strstr (text, "float32"));
      return 0;
    }
  g_assert_true (g_str_has_suffix (text, tail));
  for (start = note; start > text && g_ascii_isdigit (start[-1]); start--)
    ;
  g_assert_true (start < note);
  return strtol (start, NULL, 10);
}

/* CUDA chosen on the page: a run on the emulated GPU, then one in bf16;
 * the device row says which, the status line has no float32 note (cuDNN
 * has every bfloat16 algorithm).  The CUDA button stays usable: the
 * fake's device answers the page's probe, long done by a run's end. */
static void
test_gpu_runs (void)
{
  TagsightWindow *win;
  TagsightTrainPage *page;
  GtkWidget *cuda;
  AppTestFinished f = { 0 };

  if (!here_with (NULL, NULL, NULL))
    return;
  win = open_on_gpu (1, 1, FALSE, &f);
  page = tagsight_window_get_train_page (win);
  run_to_end (page, FALSE, &f, TS_OK);
  assert_gpu_row (page, FALSE);
  g_assert_cmpint (tagsight_train_page_get_n_epoch_rows (page), ==, 2);
  g_assert_cmpint (fallback_note (page), ==, 0);
  cuda = device_button (page, "CUDA");
  g_assert_true (gtk_widget_is_sensitive (cuda));
  g_assert_false (g_str_has_prefix (gtk_widget_get_tooltip_text (cuda), "Unavailable"));

  if (need_cudnn ())
    {
      g_assert_true (app_test_wait_for (app_test_not_busy, tagsight_train_page_get_training (page),
                                        60));
      choose_bf16 (page);
      run_to_end (page, FALSE, &f, TS_OK);
      assert_gpu_row (page, TRUE);
      g_assert_cmpint (fallback_note (page), ==, 0);
    }
  g_free (f.message);
  gtk_window_destroy (GTK_WINDOW (win));
}

static gboolean
insensitive (gpointer w)
{
  return !gtk_widget_is_sensitive (w);
}

/* Without the fake's device (TS_FAKE_CUDA_NO_DEVICE) the page's probe
 * greys the CUDA button out, its tooltip saying why, and a saved choice
 * of CUDA gives way to Automatic in the window: a run goes where Automatic
 * goes (the CPU: the suite pins it), not to the missing GPU */
static void
test_no_device (void)
{
  TagsightWindow *win;
  TagsightTrainPage *page;
  GtkWidget *cuda;
  AppTestFinished f = { 0 };

  if (!here_with ("/cuda/app/no-device", "TS_FAKE_CUDA_NO_DEVICE", "1"))
    return;
  tagsight_settings_set_string ("default-device", "cuda");
  win = app_test_open_window (csv, 1, 0, 8);
  page = tagsight_window_get_train_page (win);
  cuda = device_button (page, "CUDA");
  g_assert_true (app_test_wait_for (insensitive, cuda, 30));
  g_test_message ("the CUDA button's tooltip: %s", gtk_widget_get_tooltip_text (cuda));
  g_assert_true (g_str_has_prefix (gtk_widget_get_tooltip_text (cuda),
                                   "Unavailable: no CUDA device"));
  g_assert_false (gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (cuda)));
  g_assert_true (gtk_toggle_button_get_active (
    GTK_TOGGLE_BUTTON (app_test_find (GTK_WIDGET (page), app_test_is_button_labelled,
                                      "Automatic"))));
  g_signal_connect (page, "finished", G_CALLBACK (app_test_on_finished), &f);
  run_to_end (page, FALSE, &f, TS_OK);
  g_assert_true (g_str_has_prefix (tagsight_train_page_get_device_text (page), "This run: CPU"));
  g_free (f.message);
  gtk_window_destroy (GTK_WINDOW (win));
}

/* cuDNN without a bfloat16 algorithm for the stem (3 input channels,
 * TS_FAKE_CUDNN_NO_BF16), as a real one may be: the bf16 run finishes and
 * its status line says how many convolution calls ran in float32 */
static void
test_bf16_fallback (void)
{
  AppTestFinished f = { 0 };
  TagsightWindow *win;
  TagsightTrainPage *page;
  long n;

  if (!need_cudnn () || !here_with ("/cuda/app/bf16-fallback", "TS_FAKE_CUDNN_NO_BF16", "3"))
    return;
  win = open_on_gpu (1, 1, TRUE, &f);
  page = tagsight_window_get_train_page (win);
  run_to_end (page, FALSE, &f, TS_OK);
  assert_gpu_row (page, TRUE);
  n = fallback_note (page);
  g_assert_cmpint (n, >, 0);
  g_assert_true (g_str_has_prefix (tagsight_train_page_get_status_text (page),
                                   "Finished: 2 epochs. "));
  g_free (f.message);
  gtk_window_destroy (GTK_WINDOW (win));
}

static void
count_epoch (TagsightTraining *training, const ts_epoch_event *ev, int *n)
{
  (*n)++;
}

/* The GPU lost mid-run (TS_FAKE_CUDA_FAIL_AFTER: the Nth kernel launch or
 * copy of the process leaves cudaErrorLaunchFailure, sticky, as a kernel's
 * fault or an Xid does): the page says that training failed on the GPU,
 * with CUDA's error and the way on; the app keeps running; CPU chosen on
 * the page, Continue goes on from the last completed epoch's checkpoint
 * and finishes there, the table going on to every epoch.
 *
 * An unfrozen epoch of this run (32 training images in batches of 8, 8
 * validation images, 32 px) queues about 320 operations on the emulated
 * GPU, and the set-up with the frozen epoch about 470 (measured in bf16
 * through cuDNN: the 500th falls in the first unfrozen batch, the 2400th
 * in unfrozen epoch 6's): the run of 1 + 13 epochs ends near 4600, and the
 * 2000th falls in unfrozen epoch 4, mid-run, and still would with half or
 * twice the backend's work. */
#define EPOCHS 13
#define FAIL_AFTER "2000"
/* CUDA's error, then ts_device_error's advice for a lost context */
#define LOST "unspecified launch failure (cudaErrorLaunchFailure); the GPU cannot be used " \
  "again until the program is restarted"

static void
test_gpu_lost (void)
{
  TagsightWindow *win;
  TagsightTrainPage *page;
  TagsightTraining *training;
  AppTestFinished f = { 0 };
  const char *said;
  g_autofree char *finished = NULL;
  int done, epochs_after = 0;

  if (!here_with ("/cuda/app/gpu-lost", "TS_FAKE_CUDA_FAIL_AFTER", FAIL_AFTER))
    return;
  win = open_on_gpu (EPOCHS, 1, TS_TEST_EMU_CUDNN, &f);
  page = tagsight_window_get_train_page (win);
  training = tagsight_train_page_get_training (page);
  run_to_end (page, FALSE, &f, TS_ERR_DEVICE);
  assert_gpu_row (page, TS_TEST_EMU_CUDNN);
  said = tagsight_train_page_get_status_text (page);
  g_assert_true (g_str_has_prefix (said, "Training failed on the GPU: "));
  g_assert_nonnull (strstr (said, LOST));
  g_assert_nonnull (strstr (said, "Choose the CPU above and press Continue to go on from the "
                                  "last completed epoch"));
  /* mid-run: past the frozen epoch and the first unfrozen one, so that
   * Continue goes on from a GPU epoch's checkpoint; else FAIL_AFTER is no
   * longer mid-run (see above) */
  done = tagsight_train_page_get_n_epoch_rows (page);
  if (done < 2 || done >= EPOCHS + 1)
    g_error ("the GPU failed after %d of %d epochs: move FAIL_AFTER", done, EPOCHS + 1);
  g_assert_true (app_test_wait_for (app_test_not_busy, training, 60));
  /* no evaluation is tried on the lost GPU (it would fail again) */
  app_test_iterate_for (300);
  g_assert_null (tagsight_results_page_get_error (tagsight_window_get_results_page (win)));
  /* the app goes on: the page takes a new run or the continued one */
  g_assert_true (gtk_widget_is_sensitive (app_test_find_actionable (GTK_WIDGET (page),
                                                                    "train.continue")));
  g_assert_true (gtk_widget_is_sensitive (app_test_find_actionable (GTK_WIDGET (page),
                                                                    "train.start")));

  choose_device (page, "CPU");
  g_signal_connect (training, "epoch", G_CALLBACK (count_epoch), &epochs_after);
  run_to_end (page, TRUE, &f, TS_OK);
  g_assert_true (g_str_has_prefix (tagsight_train_page_get_device_text (page), "This run: CPU"));
  g_assert_null (strstr (tagsight_train_page_get_device_text (page), "bf16"));
  /* from the checkpoint: only the epochs the GPU had not completed ran */
  g_assert_cmpint (epochs_after, ==, EPOCHS + 1 - done);
  g_assert_cmpint (tagsight_train_page_get_n_epoch_rows (page), ==, EPOCHS + 1);
  /* the run's epochs, not those since Continue */
  finished = g_strdup_printf ("Finished: %d epochs", EPOCHS + 1);
  g_assert_true (g_str_has_prefix (tagsight_train_page_get_status_text (page), finished));
  g_signal_handlers_disconnect_by_data (training, &epochs_after);
  /* and the model is whole again: the Results page evaluates it on the CPU
   * (after the failure it could not, on the lost GPU) */
  g_assert_true (app_test_wait_for (app_test_results_shown, win, 60));
  gtk_window_destroy (GTK_WINDOW (win));
  g_free (f.message);
}

int
main (int argc, char **argv)
{
  tmp = app_test_init (&argc, &argv, &have_display);
  csv = app_test_demo_csv (tmp, 40, 48);
  self = argv[0];
  g_test_add_func ("/cuda/app/gpu-runs", test_gpu_runs);
  g_test_add_func ("/cuda/app/no-device", test_no_device);
  g_test_add_func ("/cuda/app/bf16-fallback", test_bf16_fallback);
  g_test_add_func ("/cuda/app/gpu-lost", test_gpu_lost);
  return app_test_run (tmp, csv);
}
