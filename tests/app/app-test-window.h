/* app-test-window.h: what the app tests that drive a whole window share:
 * waiting for the Data page's load, for the Train page's "finished", and
 * the tiny network's settings that keep a run to seconds. */
#pragma once

#include "tagsight-window.h"
#include "app-test.h"

typedef struct {
  gboolean done;
  int status;
  char *message;   /* g_free it */
} AppTestFinished;

/* For app_test_wait_for: the window @data has a data set loaded. */
static inline gboolean
app_test_data_loaded (gpointer data)
{
  TagsightDataPage *page = tagsight_window_get_data_page (data);

  return !tagsight_data_page_get_busy (page) && tagsight_data_page_get_dataset (page) != NULL;
}

/* A "finished" handler (the Train page's or the training object's) into an
 * AppTestFinished. */
static inline void
app_test_on_finished (gpointer source, int status, const char *message, AppTestFinished *f)
{
  f->done = TRUE;
  f->status = status;
  g_free (f->message);
  f->message = g_strdup (message);
}

/* For app_test_wait_for: @data (an AppTestFinished) has seen "finished". */
static inline gboolean
app_test_is_done (gpointer data)
{
  return ((AppTestFinished *) data)->done;
}

/* For app_test_wait_for: the TagsightTraining @training runs no job. */
static inline gboolean
app_test_not_busy (gpointer training)
{
  return !tagsight_training_get_busy (training);
}

/* For app_test_wait_for: the window @data shows the Results of its model,
 * evaluated, and no job runs. */
static inline gboolean
app_test_results_shown (gpointer data)
{
  TagsightResultsPage *page = tagsight_window_get_results_page (data);

  return tagsight_results_page_has_results (page)
         && !tagsight_training_get_busy (tagsight_train_page_get_training (
              tagsight_window_get_train_page (data)));
}

/* The tiny network at 32 px on the Train page, with @threads threads. */
static inline void
app_test_set_tiny (TagsightTrainPage *page, int epochs, int freeze_epochs, int bs, int threads)
{
  TagsightTrainSettings s;

  tagsight_train_page_get_settings (page, &s);
  g_free (s.arch);
  s.arch = g_strdup ("tiny");
  s.epochs = epochs;
  s.freeze_epochs = freeze_epochs;
  s.bs = bs;
  s.size = 32;
  s.threads = threads;
  tagsight_train_page_set_settings (page, &s);
  tagsight_train_settings_clear (&s);
}

/* A window of @csv's data set, loaded, in view, with the tiny network's
 * settings (@epochs after @freeze_epochs frozen ones, batches of @bs, two
 * threads) on its Train page. */
static inline TagsightWindow *
app_test_open_window (const char *csv, int epochs, int freeze_epochs, int bs)
{
  TagsightWindow *win = tagsight_window_new (NULL);

  gtk_window_set_default_size (GTK_WINDOW (win), 1200, 800);
  gtk_window_present (GTK_WINDOW (win));
  tagsight_window_open_csv (win, csv);
  g_assert_true (app_test_wait_for (app_test_data_loaded, win, 60));
  app_test_set_tiny (tagsight_window_get_train_page (win), epochs, freeze_epochs, bs, 2);
  return win;
}
