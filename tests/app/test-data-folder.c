/* test-data-folder.c: portal-only file access.  A CSV opened through the
 * file chooser portal is a lone copy under the document portal's mount; the
 * images come only once the user grants the data folder.  Checks where
 * tagsight_dataset_resolve_folder finds the CSV and the images for each kind
 * of granted folder (no portal or display needed), then the Data page's
 * flow under a display: the lone CSV loads, the page offers the folder
 * chooser, and the folder chosen in it makes every image readable. */
#include <adwaita.h>
#include <glib/gstdio.h>

#include "tagsight-data-page.h"
#include "tagsight-resources.h"
#include "app-test.h"

#define N_IMAGES 24

static gboolean have_display;
static char *tmp;
static char *data_dir;    /* the data set: train.csv and train/ */
static char *lone_csv;    /* train.csv alone, as the portal exports it */
static char **fnames;     /* the first file names of the CSV */

static void
copy_file (const char *from, const char *to)
{
  g_autofree char *contents = NULL;
  gsize size;

  g_assert_true (g_file_get_contents (from, &contents, &size, NULL));
  g_assert_true (g_file_set_contents (to, contents, size, NULL));
}

static void
setup_data (void)
{
  g_autofree char *csv = NULL;
  g_autofree char *lone_dir = g_build_filename (tmp, "exported", "1a2b3c4d", NULL);
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;

  data_dir = g_build_filename (tmp, "voc", NULL);
  csv = app_test_demo_csv (data_dir, N_IMAGES, 32);
  g_assert_cmpint (g_mkdir_with_parents (lone_dir, 0755), ==, 0);
  lone_csv = g_build_filename (lone_dir, "train.csv", NULL);
  copy_file (csv, lone_csv);

  /* fname is the first column of the demo's CSV */
  g_assert_true (g_file_get_contents (csv, &contents, NULL, NULL));
  lines = g_strsplit (contents, "\n", 6);
  fnames = g_new0 (char *, 5);
  for (int i = 0; i < 4; i++)
    {
      g_auto (GStrv) fields = g_strsplit (lines[i + 1], ",", 2);

      fnames[i] = g_strdup (fields[0]);
    }
}

static void
test_resolve_csv_folder (void)
{
  g_autofree char *want_csv = g_build_filename (data_dir, "train.csv", NULL);
  g_autofree char *want_dir = g_build_filename (data_dir, "train", NULL);
  g_autofree char *old_dir = g_path_get_dirname (lone_csv);
  g_autofree char *old_images = g_build_filename (old_dir, "train", NULL);
  const char *hints[] = { NULL, "", "train", ".", old_images };

  /* granted the CSV's own folder: whatever the mapping said, the copy
   * there is the CSV and train/ beside it holds the images */
  for (guint i = 0; i < G_N_ELEMENTS (hints); i++)
    {
      g_autofree char *csv_out = NULL;
      g_autofree char *dir_out = NULL;

      g_test_message ("hint %s", hints[i] != NULL ? hints[i] : "(null)");
      g_assert_cmpint (tagsight_dataset_resolve_folder (data_dir, lone_csv, hints[i],
                                                        (const char *const *) fnames,
                                                        &csv_out, &dir_out), ==, 4);
      g_assert_cmpstr (csv_out, ==, want_csv);
      g_assert_cmpstr (dir_out, ==, want_dir);
    }
}

static void
test_resolve_image_folder (void)
{
  g_autofree char *images = g_build_filename (data_dir, "train", NULL);
  g_autofree char *images_slash = g_strconcat (images, "/", NULL);
  g_autofree char *csv_out = NULL;
  g_autofree char *dir_out = NULL;

  /* granted the image folder itself: the lone CSV stays the CSV */
  g_assert_cmpint (tagsight_dataset_resolve_folder (images_slash, lone_csv, NULL,
                                                    (const char *const *) fnames,
                                                    &csv_out, &dir_out), ==, 4);
  g_assert_cmpstr (csv_out, ==, lone_csv);
  g_assert_cmpstr (dir_out, ==, images);
}

static void
test_resolve_subfolder_names (void)
{
  g_auto (GStrv) prefixed = g_new0 (char *, 3);
  g_autofree char *csv_out = NULL;
  g_autofree char *dir_out = NULL;

  /* file names with their folder in them ("train/00001.jpg") resolve
   * against the granted folder, not its train/ */
  prefixed[0] = g_build_filename ("train", fnames[0], NULL);
  prefixed[1] = g_build_filename ("train", fnames[1], NULL);
  g_assert_cmpint (tagsight_dataset_resolve_folder (data_dir, lone_csv, NULL,
                                                    (const char *const *) prefixed,
                                                    &csv_out, &dir_out), ==, 2);
  g_assert_cmpstr (dir_out, ==, data_dir);
}

static void
test_resolve_nothing_there (void)
{
  g_autofree char *empty = g_build_filename (tmp, "empty", NULL);
  g_autofree char *csv_out = NULL;
  g_autofree char *dir_out = NULL;

  g_assert_cmpint (g_mkdir_with_parents (empty, 0755), ==, 0);
  g_assert_cmpint (tagsight_dataset_resolve_folder (empty, lone_csv, "train",
                                                    (const char *const *) fnames,
                                                    &csv_out, &dir_out), ==, 0);
  /* the folder the user chose, so the summary says where nothing was found */
  g_assert_cmpstr (csv_out, ==, lone_csv);
  g_assert_cmpstr (dir_out, ==, empty);
}

static void
test_portal_document (void)
{
  g_autofree char *doc = g_build_filename (g_get_user_runtime_dir (), "doc", "f00d", "a.csv",
                                           NULL);
  g_autofree char *doc_folder = g_build_filename (g_get_user_runtime_dir (), "doc", "f00d",
                                                  NULL);
  g_autofree char *id = NULL;

  g_assert_true (tagsight_is_portal_document (doc, &id));
  g_assert_cmpstr (id, ==, "f00d");
  g_clear_pointer (&id, g_free);
  g_assert_true (tagsight_is_portal_document ("/run/flatpak/doc/beef/voc/train.csv", &id));
  g_assert_cmpstr (id, ==, "beef");
  g_assert_false (tagsight_is_portal_document (doc_folder, NULL));
  g_assert_false (tagsight_is_portal_document ("/run/flatpak/document/x/y.csv", NULL));
  g_assert_false (tagsight_is_portal_document (lone_csv, NULL));
}

/* --- the Data page flow ---------------------------------------------- */

static gboolean
page_idle (gpointer data)
{
  return !tagsight_data_page_get_busy (data);
}

static gboolean
chooser_in_data_dir (gpointer data)
{
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  g_autoptr (GFile) file = gtk_file_chooser_get_file (data);
  G_GNUC_END_IGNORE_DEPRECATIONS
  g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

  return g_strcmp0 (path, data_dir) == 0;
}

static gboolean
all_readable (gpointer data)
{
  TagsightDataset *ds = tagsight_data_page_get_dataset (data);

  return page_idle (data) && ds != NULL && tagsight_dataset_get_datablock (ds) != NULL
         && tagsight_dataset_get_datablock (ds)->n_items == N_IMAGES;
}

static void
test_page_flow (void)
{
  g_autofree char *want_csv = g_build_filename (data_dir, "train.csv", NULL);
  g_autofree char *want_images = g_build_filename (data_dir, "train", NULL);
  GtkWidget *window, *button, *chooser = NULL;
  TagsightDataPage *page;
  TagsightDataset *ds;
  g_autoptr (GFile) folder = g_file_new_for_path (data_dir);

  if (!have_display)
    {
      g_test_skip ("no display");
      return;
    }
  window = gtk_window_new ();
  page = g_object_new (TAGSIGHT_TYPE_DATA_PAGE, NULL);
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (page));
  gtk_window_set_default_size (GTK_WINDOW (window), 1000, 700);
  gtk_window_present (GTK_WINDOW (window));

  /* the lone CSV reads, but none of its images do */
  tagsight_data_page_open (page, lone_csv);
  g_assert_true (app_test_wait_for (page_idle, page, 60));
  ds = tagsight_data_page_get_dataset (page);
  g_assert_nonnull (ds);
  g_assert_cmpint (tagsight_dataset_get_summary (ds)->problems[TS_PROBLEM_MISSING_FILE].count,
                   ==, N_IMAGES);
  button = app_test_find_actionable (GTK_WIDGET (page), "data.choose-folder");
  g_assert_nonnull (button);
  g_assert_true (gtk_widget_is_visible (button));

  /* the button's chooser, answered with the data folder */
  gtk_widget_activate (button);
  g_assert_true (app_test_wait_for (app_test_find_file_chooser, &chooser, 20));
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  g_assert_cmpint (gtk_file_chooser_get_action (GTK_FILE_CHOOSER (chooser)), ==,
                   GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER);
  g_assert_true (gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser), folder, NULL));
  G_GNUC_END_IGNORE_DEPRECATIONS
  /* with nothing selected, a folder chooser answers its current folder,
   * once it has moved there */
  g_assert_true (app_test_wait_for (chooser_in_data_dir, chooser, 20));
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_dialog_response (GTK_DIALOG (chooser), GTK_RESPONSE_ACCEPT);
  G_GNUC_END_IGNORE_DEPRECATIONS

  g_assert_true (app_test_wait_for (all_readable, page, 60));
  ds = tagsight_data_page_get_dataset (page);
  g_assert_cmpstr (tagsight_data_page_get_data_folder (page), ==, data_dir);
  g_assert_cmpstr (tagsight_dataset_get_path (ds), ==, want_csv);
  g_assert_cmpstr (tagsight_dataset_get_mapping (ds)->image_dir, ==, want_images);
  g_assert_cmpint (tagsight_dataset_get_summary (ds)->problems[TS_PROBLEM_MISSING_FILE].count,
                   ==, 0);
  g_assert_false (gtk_widget_is_visible (button));
  gtk_window_destroy (GTK_WINDOW (window));
}

int
main (int argc, char **argv)
{
  int rc;

  tmp = app_test_init (&argc, &argv, &have_display);
  /* the page's template, registered by the linked-in resource object */
  (void) tagsight_get_resource ();
  setup_data ();
  g_test_add_func ("/app/data-folder/resolve-csv-folder", test_resolve_csv_folder);
  g_test_add_func ("/app/data-folder/resolve-image-folder", test_resolve_image_folder);
  g_test_add_func ("/app/data-folder/resolve-subfolder-names", test_resolve_subfolder_names);
  g_test_add_func ("/app/data-folder/resolve-nothing-there", test_resolve_nothing_there);
  g_test_add_func ("/app/data-folder/portal-document", test_portal_document);
  g_test_add_func ("/app/data-folder/page-flow", test_page_flow);
  rc = g_test_run ();
  g_strfreev (fnames);
  g_free (lone_csv);
  g_free (data_dir);
  ts_test_rmdir (tmp);
  g_free (tmp);
  return rc;
}
