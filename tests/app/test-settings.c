/* test-settings.c: GSettings in the app with the real schema (compiled into
 * a scratch folder, memory backend): the window opens at the saved size and
 * saves its size on close; the Train page takes the saved thread count and
 * keeps its precision switch and its device in the settings.
 * Without the schema the app runs on defaults (every other app test runs so).
 * Needs a display and glib-compile-schemas; skips without them. */
#include <adwaita.h>

#include "tagsight-settings.h"
#include "ts-backend-select.h"
#include "tagsight-window.h"
#include "app-test.h"

static void
test_window_size (void)
{
  TagsightWindow *win;
  TagsightTrainSettings s;
  int w, h;

  g_assert_nonnull (tagsight_settings_get ());
  tagsight_settings_set_int ("window-width", 900);
  tagsight_settings_set_int ("window-height", 700);
  tagsight_settings_set_int ("threads", 3);

  win = tagsight_window_new (NULL);
  gtk_window_get_default_size (GTK_WINDOW (win), &w, &h);
  g_assert_cmpint (w, ==, 900);
  g_assert_cmpint (h, ==, 700);
  tagsight_train_page_get_settings (tagsight_window_get_train_page (win), &s);
  g_assert_cmpint (s.threads, ==, 3);
  tagsight_train_settings_clear (&s);

  gtk_window_present (GTK_WINDOW (win));
  gtk_window_set_default_size (GTK_WINDOW (win), 1000, 650);
  gtk_window_close (GTK_WINDOW (win));
  g_assert_cmpint (tagsight_settings_get_int ("window-width", 0), ==, 1000);
  g_assert_cmpint (tagsight_settings_get_int ("window-height", 0), ==, 650);
  g_assert_false (tagsight_settings_get_boolean ("window-is-maximized", TRUE));
  /* a key the schema lacks falls back instead of aborting */
  g_assert_cmpint (tagsight_settings_get_int ("no-such-key", 7), ==, 7);
}

static GtkSwitch *
precision_switch (TagsightWindow *win)
{
  return GTK_SWITCH (app_test_find_widget_of_type (
    GTK_WIDGET (tagsight_window_get_train_page (win)), GTK_TYPE_SWITCH));
}

/* The Train page's precision switch writes "precision", and the next
 * window starts from it; without a CUDA backend it stays off and leaves the
 * setting alone. */
static void
test_precision (void)
{
  TagsightWindow *win;
  GtkSwitch *sw;
  g_autofree char *after_on = NULL, *after_off = NULL;

  tagsight_settings_set_string ("precision", "fp32");
  win = tagsight_window_new (NULL);
  sw = precision_switch (win);
  gtk_switch_set_active (sw, TRUE);
  after_on = tagsight_settings_dup_string ("precision", NULL);
  gtk_window_destroy (GTK_WINDOW (win));
  if (!ts_backend_have_cuda ())
    {
      g_assert_cmpstr (after_on, ==, "fp32");
      return;
    }
  g_assert_cmpstr (after_on, ==, "bf16");

  win = tagsight_window_new (NULL);
  sw = precision_switch (win);
  g_assert_true (gtk_switch_get_active (sw));
  gtk_switch_set_active (sw, FALSE);
  after_off = tagsight_settings_dup_string ("precision", NULL);
  g_assert_cmpstr (after_off, ==, "fp32");
  gtk_window_destroy (GTK_WINDOW (win));
}

static GtkToggleButton *
button_labelled (TagsightWindow *win, const char *label)
{
  return GTK_TOGGLE_BUTTON (app_test_find (GTK_WIDGET (tagsight_window_get_train_page (win)),
                                           app_test_is_button_labelled, label));
}

static gboolean
insensitive (gpointer widget)
{
  return !gtk_widget_get_sensitive (widget);
}

/* A saved choice of CUDA on a machine where no GPU can be used (this
 * build without CUDA, or CI's machines without the NVIDIA driver): the
 * CUDA button is greyed out saying why, the page runs on Automatic, and
 * the setting stays for when a GPU is back.  With a GPU: CUDA, chosen. */
static void
test_cuda_unavailable (void)
{
  TagsightWindow *win;
  GtkToggleButton *cuda, *automatic;
  char why[512];
  g_autofree char *after = NULL;
  const char *tip;

  tagsight_settings_set_string ("default-device", "cuda");
  /* a window closed before its page has heard (criticals are fatal here) */
  gtk_window_destroy (GTK_WINDOW (tagsight_window_new (NULL)));
  app_test_iterate_for (300);
  win = tagsight_window_new (NULL);
  cuda = button_labelled (win, "CUDA");
  automatic = button_labelled (win, "Automatic");
  g_assert_nonnull (cuda);
  g_assert_nonnull (automatic);
  if (ts_backend_cuda_usable (why, sizeof why))
    {
      app_test_iterate_for (200);
      g_assert_true (gtk_toggle_button_get_active (cuda));
      g_assert_true (gtk_widget_get_sensitive (GTK_WIDGET (cuda)));
    }
  else
    {
      g_test_message ("no GPU: %s", why);
      g_assert_true (app_test_wait_for (insensitive, cuda, 30));
      tip = gtk_widget_get_tooltip_text (GTK_WIDGET (cuda));
      g_test_message ("its tooltip: %s", tip);
      g_assert_nonnull (strstr (tip, ts_backend_have_cuda () ? why : "no CUDA backend"));
      g_assert_true (gtk_toggle_button_get_active (automatic));
      g_assert_false (gtk_toggle_button_get_active (cuda));
    }
  after = tagsight_settings_dup_string ("default-device", NULL);
  g_assert_cmpstr (after, ==, "cuda");
  gtk_window_destroy (GTK_WINDOW (win));
}

static const char *skip_reason;

static void
test_skip (void)
{
  g_test_skip (skip_reason);
}

int
main (int argc, char **argv)
{
  g_autofree char *tmp = NULL;
  g_autofree char *data = NULL;
  g_autofree char *cmd = NULL;
  const char *why = NULL;
  int rc, status = -1;

  /* GTK starts after the schemas are in place */
  tmp = app_test_init (&argc, &argv, NULL);
  data = g_test_build_filename (G_TEST_DIST, "..", "data", NULL);
  cmd = g_strdup_printf ("glib-compile-schemas --targetdir='%s' '%s'", tmp, data);
  if (!g_spawn_command_line_sync (cmd, NULL, NULL, &status, NULL) || status != 0)
    why = "glib-compile-schemas failed or is missing";
  g_setenv ("GSETTINGS_SCHEMA_DIR", tmp, TRUE);
  if (why == NULL && !gtk_init_check ())
    why = "no display";
  if (why == NULL)
    {
      adw_init ();
      g_test_add_func ("/app/settings/window-size", test_window_size);
      g_test_add_func ("/app/settings/precision", test_precision);
      g_test_add_func ("/app/settings/cuda-unavailable", test_cuda_unavailable);
    }
  else
    {
      skip_reason = why;
      g_test_add_func ("/app/settings/window-size", test_skip);
      g_test_add_func ("/app/settings/precision", test_skip);
      g_test_add_func ("/app/settings/cuda-unavailable", test_skip);
    }
  rc = g_test_run ();
  ts_test_rmdir (tmp);
  return rc;
}
