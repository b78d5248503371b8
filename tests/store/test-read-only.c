/* test-read-only.c: a project that cannot be written (asked for, a
 * read-only file, a read-only folder) opens, reads everything, refuses every
 * write naming the file, and changes nothing on disk, not even beside it. */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tagsight-project.h"
#include "ts-test.h"
#include "ts-test-as-user.h"

/* A project with a data set (from a two-row CSV in @dir), a setting and a
 * finished run with metrics and predictions. */
static char *
make_project (const char *dir, const char *name)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autofree char *csv = g_build_filename (dir, "train.csv", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightProject) p = NULL;
  int rows[2] = { 0, 1 };
  float probs[2] = { 0.25f, 0.75f }, targets[2] = { 0, 1 };
  gint64 ds = 0, run = 0;

  g_assert_true (g_file_set_contents (csv, "fname,labels,is_valid\na.jpg,cat,True\n"
                                      "b.jpg,dog,True\n", -1, NULL));
  p = tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_CREATE, &error);
  g_assert_no_error (error);
  g_assert_true (tagsight_project_add_dataset (p, csv, NULL, NULL, NULL, NULL, &ds, &error));
  g_assert_true (tagsight_project_set_setting (p, "page", "runs", &error));
  g_assert_true (tagsight_project_begin_run (p, ds, "{}", "cpu", &run, &error));
  g_assert_true (tagsight_project_add_epoch_metrics (p, run, 0, 0, 0.5, 0.4, 0.9, 1, &error));
  g_assert_true (tagsight_project_set_predictions (p, run, 2, 1, rows, probs, targets, &error));
  g_assert_true (tagsight_project_end_run (p, run, TAGSIGHT_RUN_FINISHED, NULL, &error));
  return path;
}

static void
assert_no_side_files (const char *path)
{
  static const char *const side[] = { "-wal", "-shm", "-journal" };

  for (guint i = 0; i < G_N_ELEMENTS (side); i++)
    {
      g_autofree char *f = g_strconcat (path, side[i], NULL);

      if (g_file_test (f, G_FILE_TEST_EXISTS))
        g_error ("%s was created beside a read-only project", f);
    }
}

static void
assert_read_only_error (GError **error, TagsightProject *p)
{
  g_assert_error (*error, G_IO_ERROR, G_IO_ERROR_READ_ONLY);
  g_assert_nonnull (strstr ((*error)->message, tagsight_project_get_path (p)));
  g_assert_nonnull (strstr ((*error)->message, "read-only"));
  g_assert_nonnull (strstr ((*error)->message, "copy"));
  g_clear_error (error);
}

/* Everything reads; every kind of write is refused with the read-only error. */
static void
check_read_only (TagsightProject *p, TagsightProjectAccess access)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) runs = NULL, datasets = NULL, items = NULL;
  g_autoptr (GArray) em = NULL;
  g_autofree char *page = NULL, *report = NULL;
  g_autofree int *rows = NULL;
  g_autofree float *probs = NULL, *targets = NULL;
  int n = 0, n_classes = 0;
  gint64 id = 0;

  g_assert_cmpint (tagsight_project_get_access (p), ==, access);
  g_assert_true (tagsight_project_is_read_only (p));
  runs = tagsight_project_list_runs (p, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (runs->len, ==, 1);
  g_assert_cmpint (((TagsightRun *) runs->pdata[0])->status, ==, TAGSIGHT_RUN_FINISHED);
  em = tagsight_project_get_epoch_metrics (p, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (em->len, ==, 1);
  g_assert_true (tagsight_project_get_predictions (p, 1, &n, &n_classes, &rows, &probs, &targets,
                                                   &error));
  g_assert_cmpint (n, ==, 2);
  datasets = tagsight_project_list_datasets (p, &error);
  g_assert_cmpuint (datasets->len, ==, 1);
  items = tagsight_project_list_items (p, 1, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (items->len, ==, 2);
  page = tagsight_project_dup_setting (p, "page");
  g_assert_cmpstr (page, ==, "runs");
  g_assert_true (tagsight_project_check_integrity (p, &report, &error));

  g_assert_false (tagsight_project_check_writable (p, &error));
  assert_read_only_error (&error, p);
  g_assert_false (tagsight_project_set_setting (p, "page", "data", &error));
  assert_read_only_error (&error, p);
  g_assert_false (tagsight_project_begin_run (p, 1, "{}", "cpu", &id, &error));
  assert_read_only_error (&error, p);
  g_assert_false (tagsight_project_add_epoch_metrics (p, 1, 0, 1, 1, 1, 1, 1, &error));
  assert_read_only_error (&error, p);
  g_assert_false (tagsight_project_end_run (p, 1, TAGSIGHT_RUN_FAILED, NULL, &error));
  assert_read_only_error (&error, p);
  g_assert_false (tagsight_project_set_labels (p, ((TagsightItem *) items->pdata[0])->id, "dog",
                                               "user", NULL, &error));
  assert_read_only_error (&error, p);
  g_assert_false (tagsight_project_set_dataset_image_dir (p, 1, "/", &error));
  assert_read_only_error (&error, p);
  g_assert_false (tagsight_project_add_dataset (p, ((TagsightDataset *) datasets->pdata[0])
                                                ->csv_path, NULL, NULL, NULL, NULL, &id, &error));
  assert_read_only_error (&error, p);
  /* nothing changed */
  g_clear_pointer (&page, g_free);
  page = tagsight_project_dup_setting (p, "page");
  g_assert_cmpstr (page, ==, "runs");
}

static char *
file_bytes (const char *path, gsize *len)
{
  char *bytes = NULL;

  g_assert_true (g_file_get_contents (path, &bytes, len, NULL));
  return bytes;
}

/* Asked for: every read, no write, nothing written or made beside it; Save
 * As is the way out and gives a writable copy. */
static void
test_asked (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = make_project (dir, "p.tagsight");
  g_autofree char *copy = g_build_filename (dir, "copy.tagsight", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.tagsight", NULL);
  g_autofree char *before = NULL, *after = NULL;
  g_autoptr (GError) error = NULL;
  TagsightProject *p;
  gsize n_before, n_after;

  before = file_bytes (path, &n_before);
  p = tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  check_read_only (p, TAGSIGHT_PROJECT_READ_ONLY_ASKED);
  assert_no_side_files (path);
  g_assert_true (tagsight_project_save_copy (p, copy, &error));
  g_assert_no_error (error);
  g_object_unref (p);
  after = file_bytes (path, &n_after);
  g_assert_cmpmem (before, n_before, after, n_after);
  assert_no_side_files (path);

  p = tagsight_project_open (copy, 0, &error);
  g_assert_no_error (error);
  g_assert_false (tagsight_project_is_read_only (p));
  g_assert_true (tagsight_project_check_writable (p, &error));
  g_assert_true (tagsight_project_set_setting (p, "page", "data", &error));
  g_object_unref (p);

  /* read-only never creates */
  g_assert_null (tagsight_project_open (missing, TAGSIGHT_PROJECT_OPEN_CREATE
                                        | TAGSIGHT_PROJECT_OPEN_READ_ONLY, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_false (g_file_test (missing, G_FILE_TEST_EXISTS));
  ts_test_rmdir (dir);
}

/* Opened read-only while another process writes it (its commits still in
 * P-wal): the reader sees them, and the ones that follow. */
static void
test_live_writer (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = make_project (dir, "p.tagsight");
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightProject) writer = tagsight_project_open (path, 0, &error);
  g_autoptr (TagsightProject) reader = NULL;
  g_autofree char *v1 = NULL, *v2 = NULL;

  g_assert_no_error (error);
  g_assert_true (tagsight_project_set_setting (writer, "page", "labels", &error));
  reader = tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  v1 = tagsight_project_dup_setting (reader, "page");
  g_assert_cmpstr (v1, ==, "labels");
  g_assert_true (tagsight_project_set_setting (writer, "page", "train", &error));
  v2 = tagsight_project_dup_setting (reader, "page");
  g_assert_cmpstr (v2, ==, "train");
  ts_test_rmdir (dir);
}

typedef struct {
  char *ro_dir_project;    /* in a folder that cannot be written */
  char *ro_file_project;   /* a read-only file in a folder that can */
  char *new_in_ro_dir;
} Modes;

static void
check_modes (gpointer data)
{
  Modes *m = data;
  g_autoptr (GError) error = NULL;
  TagsightProject *p;

  /* the folder: SQLite cannot make P-wal and P-shm there */
  p = tagsight_project_open (m->ro_dir_project, 0, &error);
  g_assert_no_error (error);
  check_read_only (p, TAGSIGHT_PROJECT_READ_ONLY_FOLDER);
  g_object_unref (p);
  assert_no_side_files (m->ro_dir_project);

  /* the file: SQLite could make P-shm, with the file's read-only mode, which
   * would stop its owner writing the project later */
  p = tagsight_project_open (m->ro_file_project, TAGSIGHT_PROJECT_OPEN_CREATE, &error);
  g_assert_no_error (error);
  check_read_only (p, TAGSIGHT_PROJECT_READ_ONLY_FILE);
  g_object_unref (p);
  assert_no_side_files (m->ro_file_project);

  g_assert_null (tagsight_project_open (m->new_in_ro_dir, TAGSIGHT_PROJECT_OPEN_CREATE, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_READ_ONLY);
  g_assert_nonnull (strstr (error->message, "cannot be written"));
  g_assert_false (g_file_test (m->new_in_ro_dir, G_FILE_TEST_EXISTS));
}

/* What a user meets: a shared or mounted folder, a file without write
 * permission.  Opening picks read-only by itself. */
static void
test_file_modes (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *ro_dir = g_build_filename (dir, "shared", NULL);
  g_autofree char *rw_dir = g_build_filename (dir, "mine", NULL);
  Modes m;

  g_assert_cmpint (g_mkdir (ro_dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (rw_dir, 0755), ==, 0);
  m.ro_dir_project = make_project (ro_dir, "p.tagsight");
  m.ro_file_project = make_project (rw_dir, "p.tagsight");
  m.new_in_ro_dir = g_build_filename (ro_dir, "new.tagsight", NULL);
  /* in "shared" only the folder cannot be written, in "mine" only the file
   * (by nobody too, when this runs as root) */
  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  g_assert_cmpint (g_chmod (m.ro_dir_project, 0666), ==, 0);
  g_assert_cmpint (g_chmod (ro_dir, 0555), ==, 0);
  g_assert_cmpint (g_chmod (rw_dir, 0777), ==, 0);
  g_assert_cmpint (g_chmod (m.ro_file_project, 0444), ==, 0);
  ts_test_run_as_user (dir, check_modes, &m);
  g_chmod (ro_dir, 0755);
  g_free (m.ro_dir_project);
  g_free (m.ro_file_project);
  g_free (m.new_in_ro_dir);
  ts_test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/store/read-only/asked", test_asked);
  g_test_add_func ("/store/read-only/live-writer", test_live_writer);
  g_test_add_func ("/store/read-only/file-modes", test_file_modes);
  return g_test_run ();
}
