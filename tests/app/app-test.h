/* app-test.h: what the app tests share: a GTK set-up that touches nothing of
 * the user's (memory GSettings, scratch XDG folders, no accessibility bus),
 * a main-loop wait with a deadline, and a demo data set. */
#pragma once

#include <adwaita.h>

#include "ts-demo.h"
#include "ts-test.h"

/* g_test_init plus the environment; returns the scratch folder (free it with
 * ts_test_rmdir + g_free) and sets *have_display when GTK could start (a
 * failure when TS_TEST_REQUIRE_DISPLAY is set). */
static inline char *
app_test_init (int *argc, char ***argv, gboolean *have_display)
{
  char *tmp;

  g_setenv ("GTK_A11Y", "none", TRUE);
  g_setenv ("NO_AT_BRIDGE", "1", TRUE);
  g_setenv ("GSK_RENDERER", "cairo", FALSE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);
  g_test_init (argc, argv, NULL);
  tmp = ts_test_tmpdir ();
  /* recent files and epoch checkpoints go to the scratch folder, not the user's */
  g_setenv ("XDG_DATA_HOME", tmp, TRUE);
  g_setenv ("XDG_CACHE_HOME", tmp, TRUE);
  if (have_display != NULL)
    {
      *have_display = gtk_init_check ();
      /* scripts/test runs the suite under Xvfb: a display that fails to
       * start there must fail the tests, not skip them all quietly */
      if (!*have_display && g_getenv ("TS_TEST_REQUIRE_DISPLAY") != NULL)
        g_error ("TS_TEST_REQUIRE_DISPLAY is set but GTK cannot open a display");
      if (*have_display)
        adw_init ();
    }
  return tmp;
}

/* The end of a test program's main: g_test_run, then the scratch folder
 * @tmp (app_test_init's) removed, @tmp and @csv freed; g_test_run's result */
static inline int
app_test_run (char *tmp, char *csv)
{
  int rc = g_test_run ();

  ts_test_rmdir (tmp);
  g_free (tmp);
  g_free (csv);
  return rc;
}

/* Iterates the main context for @ms milliseconds, as app_test_wait_for
 * does (with a pause between iterations, so worker threads get the CPU). */
static inline void
app_test_iterate_for (int ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
}

/* Iterates the main context until @done (data) or @seconds pass. */
static inline gboolean
app_test_wait_for (gboolean (*done) (gpointer), gpointer data, int seconds)
{
  gint64 end = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;

  while (!done (data))
    {
      if (g_get_monotonic_time () > end)
        return FALSE;
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
  return TRUE;
}

/* @n demo images of @size px in @dir; returns the path of its train.csv. */
static inline char *
app_test_demo_csv (const char *dir, int n, int size)
{
  ts_demo_config cfg;

  ts_demo_config_init (&cfg);
  cfg.n = n;
  cfg.size = size;
  g_assert_cmpint (ts_demo_write (dir, &cfg, NULL), ==, TS_OK);
  return g_build_filename (dir, "train.csv", NULL);
}

/* For app_test_wait_for: the visible file chooser dialog into *(GtkWidget **)
 * @data.  Without a portal, GtkFileChooserNative shows a GtkFileChooserDialog
 * of its own, which a test can answer. */
static inline gboolean
app_test_find_file_chooser (gpointer data)
{
  GtkWidget **out = data;
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr (GtkWidget) w = g_list_model_get_item (toplevels, i);

      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      if (GTK_IS_FILE_CHOOSER_DIALOG (w) && gtk_widget_get_visible (w))
        {
          *out = w;
          return TRUE;
        }
      G_GNUC_END_IGNORE_DEPRECATIONS
    }
  return FALSE;
}

/* The first widget under @root (depth first, @root included) that @match
 * accepts with @data; NULL when none.  The finders below are this walk. */
static inline GtkWidget *
app_test_find (GtkWidget *root, gboolean (*match) (GtkWidget *w, gconstpointer data),
               gconstpointer data)
{
  if (match (root, data))
    return root;
  for (GtkWidget *c = gtk_widget_get_first_child (root); c; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found = app_test_find (c, match, data);
      if (found != NULL)
        return found;
    }
  return NULL;
}

static inline gboolean
app_test_has_action (GtkWidget *w, gconstpointer action)
{
  return GTK_IS_ACTIONABLE (w)
         && g_strcmp0 (gtk_actionable_get_action_name (GTK_ACTIONABLE (w)), action) == 0;
}

/* The first widget under @root whose action is @action, e.g. the button of
 * "train.start"; NULL when none. */
static inline GtkWidget *
app_test_find_actionable (GtkWidget *root, const char *action)
{
  return app_test_find (root, app_test_has_action, action);
}

static inline gboolean
app_test_is_of_type (GtkWidget *w, gconstpointer type)
{
  return g_type_is_a (G_OBJECT_TYPE (w), (GType) GPOINTER_TO_SIZE (type));
}

/* The first widget under @root of @type, e.g. the Train page's only
 * GtkSwitch; NULL when none. */
static inline GtkWidget *
app_test_find_widget_of_type (GtkWidget *root, GType type)
{
  return app_test_find (root, app_test_is_of_type, GSIZE_TO_POINTER (type));
}

static inline gboolean
app_test_is_button_labelled (GtkWidget *w, gconstpointer label)
{
  return GTK_IS_BUTTON (w) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (w)), label) == 0;
}

static inline gboolean
app_test_is_label_with (GtkWidget *w, gconstpointer text)
{
  return GTK_IS_LABEL (w) && strstr (gtk_label_get_text (GTK_LABEL (w)), text) != NULL;
}

/* The message dialog the app shows now (a question or an error), or NULL */
static inline AdwMessageDialog *
app_test_visible_message_dialog (void)
{
  GListModel *tops = gtk_window_get_toplevels ();   /* borrowed */

  for (guint i = 0; i < g_list_model_get_n_items (tops); i++)
    {
      g_autoptr (GObject) w = g_list_model_get_item (tops, i);

      if (ADW_IS_MESSAGE_DIALOG (w) && gtk_widget_get_visible (GTK_WIDGET (w)))
        return ADW_MESSAGE_DIALOG (w);
    }
  return NULL;
}

/* For app_test_wait_for: the GtkSwitch @data is on.  A switch flipped by
 * activation (a click on its row) turns on when its animation ends. */
static inline gboolean
app_test_switch_on (gpointer data)
{
  return gtk_switch_get_active (data);
}

/* Runs test @path of the program @self (its argv[0]) in a child whose
 * environment has @var=@value from its start, and fails unless the test
 * ran and passed; its output goes to this test's log.  Setting the
 * variable here would race: g_setenv may move the environment while GTK's
 * threads and the loader threads of earlier tests read it (18 threads are
 * up by the time test-train.c's test_stop runs). */
static inline void
app_test_run_with_env (const char *self, const char *path, const char *var, const char *value)
{
  g_auto (GStrv) envp = g_environ_setenv (g_get_environ (), var, value, TRUE);
  const char *argv[] = { self, "-p", path, NULL };
  g_autofree char *out = NULL, *err = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GError) error = NULL;
  int status;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
                               &err, &status, &error));
  g_assert_no_error (error);
  /* line by line: a child's "ok 1" must not read as this program's */
  lines = g_strsplit (out, "\n", -1);
  for (int i = 0; lines[i]; i++)
    if (lines[i][0])
      g_test_message ("%s=%s: %s", var, value, lines[i]);
  if (err[0])
    g_test_message ("%s=%s, stderr: %s", var, value, err);
  if (!g_spawn_check_wait_status (status, &error))
    g_error ("%s with %s=%s failed: %s", path, var, value, error->message);
  if (strstr (out, "# SKIP") != NULL || strstr (out, "ok 1 ") == NULL)
    g_error ("%s with %s=%s did not run", path, var, value);
}
