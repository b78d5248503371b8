/* test-file-chooser.c: tagsight_choose_file with the chooser GTK shows when
 * there is no portal: it starts in the folder and with the name asked for,
 * carries the filters, adds a missing suffix to the answer, and frees the
 * caller's data once whether the user accepts or cancels.  Needs a display
 * (Xvfb in CI); skips without. */
#include <adwaita.h>

#include "tagsight-file-chooser.h"
#include "app-test.h"

static gboolean have_display;
static char *tmp;

typedef struct {
  char *path;
  int n_done, n_destroyed;
} Answer;

static void
on_chosen (const char *path, gpointer data)
{
  Answer *a = data;

  a->n_done++;
  g_free (a->path);
  a->path = g_strdup (path);
}

static void
on_destroy (gpointer data)
{
  ((Answer *) data)->n_destroyed++;
}

static gboolean
answered (gpointer data)
{
  return ((Answer *) data)->n_destroyed > 0;
}

/* the dialog takes its folder once it has read it */
static gboolean
in_tmp (gpointer chooser)
{
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  g_autoptr (GFile) folder = gtk_file_chooser_get_current_folder (chooser);
  G_GNUC_END_IGNORE_DEPRECATIONS
  g_autofree char *path = folder != NULL ? g_file_get_path (folder) : NULL;

  return g_strcmp0 (path, tmp) == 0;
}

static GtkWidget *
show (Answer *a)
{
  static const char *const onnx[] = { "*.onnx", NULL };
  static const char *const all[] = { "*", NULL };
  const TagsightChooserFilter filters[] = { { "ONNX", onnx }, { "All", all }, { NULL } };
  const TagsightChooser c = { "Save", GTK_FILE_CHOOSER_ACTION_SAVE, "_Save", tmp, "model",
                              ".onnx", filters };
  GtkWidget *chooser = NULL;

  tagsight_choose_file (NULL, &c, on_chosen, a, on_destroy);
  g_assert_true (app_test_wait_for (app_test_find_file_chooser, &chooser, 20));
  return chooser;
}

static void
test_accept_and_cancel (void)
{
  Answer a = { 0 };
  GtkWidget *chooser;
  g_autofree char *want = NULL;

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  chooser = show (&a);
  g_assert_true (app_test_wait_for (in_tmp, chooser, 20));
  {
    g_autoptr (GListModel) filters = gtk_file_chooser_get_filters (GTK_FILE_CHOOSER (chooser));
    g_autofree char *name = gtk_file_chooser_get_current_name (GTK_FILE_CHOOSER (chooser));

    g_assert_cmpstr (name, ==, "model");
    g_assert_cmpuint (g_list_model_get_n_items (filters), ==, 2);
  }
  gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_ACCEPT);
  G_GNUC_END_IGNORE_DEPRECATIONS
  g_assert_true (app_test_wait_for (answered, &a, 20));
  want = g_build_filename (tmp, "model.onnx", NULL);
  g_assert_cmpint (a.n_done, ==, 1);
  g_assert_cmpint (a.n_destroyed, ==, 1);
  g_assert_cmpstr (a.path, ==, want);

  /* cancelled: no answer, the data freed all the same */
  a.n_done = a.n_destroyed = 0;
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  chooser = show (&a);
  gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_CANCEL);
  G_GNUC_END_IGNORE_DEPRECATIONS
  g_assert_true (app_test_wait_for (answered, &a, 20));
  g_assert_cmpint (a.n_done, ==, 0);
  g_assert_cmpint (a.n_destroyed, ==, 1);
  g_free (a.path);
}

int
main (int argc, char **argv)
{
  int rc;

  tmp = app_test_init (&argc, &argv, &have_display);
  g_test_add_func ("/app/file-chooser/accept-and-cancel", test_accept_and_cancel);
  rc = g_test_run ();
  ts_test_rmdir (tmp);
  g_free (tmp);
  return rc;
}
