/* test-options.c: the app's command-line options reach the Train page, 0
 * included (GApplication leaves an int option of 0 out of its dictionary,
 * which once made --freeze-epochs=0 a no-op), --pretrained too, and a bad
 * number or a missing weights file is refused. */
#include <glib/gstdio.h>

#include "app-test.h"
#include "tagsight-application.h"
#include "tagsight-train-page.h"
#include "tagsight-window.h"

static gboolean have_display;

typedef struct {
  TagsightTrainSettings s;
  gboolean seen;
} seen_settings;

/* The first window's Train page settings, read once the window is up; then quit. */
static gboolean
read_and_quit (gpointer data)
{
  GApplication *app = data;
  GtkWindow *win = gtk_application_get_active_window (GTK_APPLICATION (app));
  seen_settings *out = g_object_get_data (G_OBJECT (app), "seen");

  if (win == NULL)
    return G_SOURCE_CONTINUE;
  tagsight_train_page_get_settings (tagsight_window_get_train_page (TAGSIGHT_WINDOW (win)),
                                    &out->s);
  out->seen = TRUE;
  g_application_quit (app);
  return G_SOURCE_REMOVE;
}

static int
run_app (const char *const *args, seen_settings *out)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  TagsightApplication *app = tagsight_application_new ();
  guint poll;
  int rc;

  g_ptr_array_add (argv, (gpointer) "tagsight");
  for (int i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  /* a second instance of the test binary must not find this one on a bus */
  g_application_set_flags (G_APPLICATION (app),
                           g_application_get_flags (G_APPLICATION (app))
                           | G_APPLICATION_NON_UNIQUE);
  g_object_set_data (G_OBJECT (app), "seen", out);
  /* removed after the run: a run refused before a window shows never calls
   * it, and it must not fire later on a freed application */
  poll = g_timeout_add (50, read_and_quit, app);
  rc = g_application_run (G_APPLICATION (app), (int) argv->len - 1, (char **) argv->pdata);
  if (!out->seen)
    g_source_remove (poll);
  g_object_unref (app);
  return rc;
}

static void
test_zero_reaches_train_page (void)
{
  const char *args[] = { "--page=train", "--freeze-epochs=0", "--epochs=3", "--batch-size=16",
                         "--image-size=96", NULL };
  seen_settings got = { 0 };

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_cmpint (run_app (args, &got), ==, 0);
  g_assert_true (got.seen);
  g_assert_cmpint (got.s.freeze_epochs, ==, 0);
  g_assert_cmpint (got.s.epochs, ==, 3);
  g_assert_cmpint (got.s.bs, ==, 16);
  g_assert_cmpint (got.s.size, ==, 96);
  tagsight_train_settings_clear (&got.s);
}

/* --pretrained reaches the Train page as the weights file it shows */
static void
test_pretrained_reaches_train_page (void)
{
  g_autofree char *path = g_build_filename (g_get_tmp_dir (), "tagsight-test-weights.tflite",
                                            NULL);
  g_autofree char *arg = g_strdup_printf ("--pretrained=%s", path);
  const char *args[] = { "--page=train", "--arch=mobilenet_v2", arg, NULL };
  seen_settings got = { 0 };

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  g_assert_true (g_file_set_contents (path, "weights", -1, NULL));
  g_assert_cmpint (run_app (args, &got), ==, 0);
  g_unlink (path);
  g_assert_true (got.seen);
  g_assert_cmpstr (got.s.arch, ==, "mobilenet_v2");
  g_assert_cmpstr (got.s.pretrained, ==, path);
  tagsight_train_settings_clear (&got.s);
}

static void
test_bad_number_refused (void)
{
  const char *bad[][2] = { { "--freeze-epochs=abc", NULL }, { "--batch-size=0", NULL },
                           { "--epochs=-1", NULL }, { "--image-size=99999", NULL },
                           { "--pretrained=/nonexistent/weights.safetensors", NULL } };

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      seen_settings got = { 0 };
      g_assert_cmpint (run_app (bad[i], &got), ==, 2);
      g_assert_false (got.seen);
    }
}

int
main (int argc, char **argv)
{
  char *tmp = app_test_init (&argc, &argv, &have_display);
  int rc;

  g_test_add_func ("/app/options/zero-reaches-train-page", test_zero_reaches_train_page);
  g_test_add_func ("/app/options/pretrained-reaches-train-page",
                   test_pretrained_reaches_train_page);
  g_test_add_func ("/app/options/bad-number-refused", test_bad_number_refused);
  rc = g_test_run ();
  ts_test_rmdir (tmp);
  g_free (tmp);
  return rc;
}
