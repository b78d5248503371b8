/* test-project.c: the project file: schema, migrations, refusals, label
 * edits with undo/redo, export, runs, metrics, predictions, models. */
#include <math.h>
#include <sqlite3.h>
#include <string.h>

#include "tagsight-project.h"
#include "tagsight-schema.h"
#include "ts-test.h"

static char *
write_csv (const char *dir)
{
  char *csv = g_build_filename (dir, "train.csv", NULL);
  const char *text =
    "fname,labels,is_valid,note\n"
    "a.jpg,dog cat,False,first\n"
    "b.jpg,cat,True,\"with, comma\"\n"
    "c.jpg,,False,empty labels\n"
    "d.jpg,person,True,\"quote \"\"here\"\"\"\n";
  g_assert_true (g_file_set_contents (csv, text, -1, NULL));
  return csv;
}

static char *
pragma_text (const char *path, const char *sql)
{
  sqlite3 *db;
  sqlite3_stmt *st;
  char *v = NULL;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &st, NULL), ==, SQLITE_OK);
  if (sqlite3_step (st) == SQLITE_ROW)
    v = g_strdup ((const char *) sqlite3_column_text (st, 0));
  sqlite3_finalize (st);
  sqlite3_close (db);
  return v;
}

static void
test_create_and_schema (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "p.tagsight", NULL);
  g_autoptr (GError) error = NULL;
  TagsightProject *p;
  g_autofree char *mode = NULL, *ver = NULL, *app = NULL, *fk = NULL, *report = NULL;

  p = tagsight_project_open (path, 0, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_null (p);
  g_clear_error (&error);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));

  p = tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_CREATE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (tagsight_project_get_schema_version (p), ==, TAGSIGHT_PROJECT_SCHEMA_VERSION);
  g_assert_true (tagsight_project_check_integrity (p, &report, &error));
  g_assert_cmpstr (report, ==, "ok");
  g_assert_true (tagsight_project_set_setting (p, "page", "results", &error));
  g_assert_true (tagsight_project_set_setting (p, "page", "train", &error));
  g_object_unref (p);

  mode = pragma_text (path, "PRAGMA journal_mode");
  ver = pragma_text (path, "PRAGMA user_version");
  app = pragma_text (path, "PRAGMA application_id");
  g_assert_cmpstr (mode, ==, "wal");
  g_assert_cmpint (atoi (ver), ==, TAGSIGHT_PROJECT_SCHEMA_VERSION);
  g_assert_cmpint (atoi (app), ==, TAGSIGHT_PROJECT_APPLICATION_ID);

  /* reopening an up-to-date file migrates nothing and keeps the data */
  p = tagsight_project_open (path, 0, &error);
  g_assert_no_error (error);
  {
    g_autofree char *page = tagsight_project_dup_setting (p, "page");
    g_assert_cmpstr (page, ==, "train");
  }
  /* foreign keys are enforced on the project's connection */
  g_assert_false (tagsight_project_add_epoch_metrics (p, 999, 0, 0, 1, 1, 1, 1, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_object_unref (p);
  (void) fk;
  ts_test_rmdir (dir);
}

static GBytes *
read_bytes (const char *path)
{
  char *data;
  gsize len;
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  return g_bytes_new_take (data, len);
}

static void
make_plain_db (const char *path, const char *sql)
{
  sqlite3 *db;
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
}

static void
test_refusals (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *newer = g_build_filename (dir, "newer.tagsight", NULL);
  g_autofree char *corrupt = g_build_filename (dir, "corrupt.tagsight", NULL);
  g_autofree char *other = g_build_filename (dir, "other.sqlite", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) before = NULL, after = NULL;
  char *sql;

  /* a file from a newer Tagsight: refused, byte for byte unchanged */
  sql = g_strdup_printf ("PRAGMA application_id = %d; PRAGMA user_version = %d;"
                         "CREATE TABLE future (x); INSERT INTO future VALUES (42);",
                         TAGSIGHT_PROJECT_APPLICATION_ID, TAGSIGHT_PROJECT_SCHEMA_VERSION + 1);
  make_plain_db (newer, sql);
  g_free (sql);
  before = read_bytes (newer);
  g_assert_null (tagsight_project_open (newer, TAGSIGHT_PROJECT_OPEN_CREATE, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (error->message, "newer Tagsight"));
  g_clear_error (&error);
  after = read_bytes (newer);
  g_assert_true (g_bytes_equal (before, after));
  g_clear_pointer (&before, g_bytes_unref);
  g_clear_pointer (&after, g_bytes_unref);

  /* a corrupt file */
  {
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
      junk[i] = (char) (i * 7 + 3);
    memcpy (junk, "SQLite format 3", 16);   /* a plausible header, garbage after */
    g_assert_true (g_file_set_contents (corrupt, junk, sizeof junk, NULL));
  }
  before = read_bytes (corrupt);
  g_assert_null (tagsight_project_open (corrupt, 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, corrupt));
  g_clear_error (&error);
  after = read_bytes (corrupt);
  g_assert_true (g_bytes_equal (before, after));
  g_clear_pointer (&before, g_bytes_unref);
  g_clear_pointer (&after, g_bytes_unref);
  /* plain text */
  g_assert_true (g_file_set_contents (corrupt, "fname,labels\n", -1, NULL));
  g_assert_null (tagsight_project_open (corrupt, 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);

  /* someone else's SQLite database */
  make_plain_db (other, "CREATE TABLE contacts (name TEXT);");
  before = read_bytes (other);
  g_assert_null (tagsight_project_open (other, 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "not a Tagsight project"));
  g_clear_error (&error);
  after = read_bytes (other);
  g_assert_true (g_bytes_equal (before, after));
  ts_test_rmdir (dir);
}

static void
test_locked (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "p.tagsight", NULL);
  g_autoptr (GError) error = NULL;
  TagsightProject *p, *q;
  sqlite3 *holder;
  gint64 run = 0;

  p = tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_CREATE, &error);
  g_assert_no_error (error);
  g_assert_cmpint (sqlite3_open (path, &holder), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (holder, "BEGIN EXCLUSIVE", NULL, NULL, NULL), ==, SQLITE_OK);
  /* a write while another process holds the lock: reported, not a crash */
  g_assert_false (tagsight_project_begin_run (p, 0, "{}", "cpu", &run, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, "locked"));
  g_clear_error (&error);
  g_object_unref (p);
  /* opening while locked: the migration transaction cannot start */
  q = tagsight_project_open_full (path, 0, 100, &error);
  g_assert_null (q);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_BUSY);
  g_clear_error (&error);
  sqlite3_exec (holder, "ROLLBACK", NULL, NULL, NULL);
  sqlite3_close (holder);
  p = tagsight_project_open_full (path, 0, 100, &error);
  g_assert_no_error (error);
  g_assert_true (tagsight_project_begin_run (p, 0, "{}", "cpu", &run, &error));
  g_object_unref (p);
  ts_test_rmdir (dir);
}

/* The runner with a made-up history: v0 (an old layout), v1, v2. */
static void
test_migrations (void)
{
  static const TagsightMigration fake[] = {
    { "v1: runs", "CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT);"
                  "INSERT INTO runs (name) SELECT name FROM old_runs; DROP TABLE old_runs;" },
    { "v2: a status column", "ALTER TABLE runs ADD COLUMN status TEXT NOT NULL DEFAULT 'done';" },
    { "v3: broken", "CREATE TABLE metrics (x); INSERT INTO no_such_table VALUES (1);" },
  };
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "old.db", NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *v = NULL, *n = NULL, *status = NULL, *metrics = NULL;
  sqlite3 *db;
  int from = -1;

  make_plain_db (path, "CREATE TABLE old_runs (name TEXT);"
                 "INSERT INTO old_runs VALUES ('first'), ('second');");
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_true (tagsight_schema_migrate (db, path, fake, 2, &from, &error));
  g_assert_no_error (error);
  g_assert_cmpint (from, ==, 0);
  sqlite3_close (db);
  v = pragma_text (path, "PRAGMA user_version");
  n = pragma_text (path, "SELECT count(*) FROM runs");
  status = pragma_text (path, "SELECT group_concat(name || ':' || status) FROM runs");
  g_assert_cmpstr (v, ==, "2");
  g_assert_cmpstr (n, ==, "2");
  g_assert_cmpstr (status, ==, "first:done,second:done");

  /* a failing step rolls the whole migration back: still version 2, no metrics table */
  g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
  g_assert_false (tagsight_schema_migrate (db, path, fake, 3, &from, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "from schema version 2 to 3"));
  g_clear_error (&error);
  g_assert_cmpint (from, ==, 2);
  /* and a newer file is refused by an older table of migrations */
  g_assert_false (tagsight_schema_migrate (db, path, fake, 1, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  sqlite3_close (db);
  g_clear_pointer (&v, g_free);
  v = pragma_text (path, "PRAGMA user_version");
  metrics = pragma_text (path, "SELECT count(*) FROM sqlite_schema WHERE name = 'metrics'");
  g_assert_cmpstr (v, ==, "2");
  g_assert_cmpstr (metrics, ==, "0");

  /* the real table: an empty (version 0) file becomes a version 1 project */
  {
    g_autofree char *empty = g_build_filename (dir, "empty.tagsight", NULL);
    TagsightProject *p;
    g_assert_true (g_file_set_contents (empty, "", 0, NULL));
    p = tagsight_project_open (empty, 0, &error);
    g_assert_no_error (error);
    g_assert_cmpint (tagsight_project_get_schema_version (p), ==, 1);
    g_object_unref (p);
  }
  ts_test_rmdir (dir);
}

static void
test_labels (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "p.tagsight", NULL);
  g_autofree char *csv = write_csv (dir);
  g_autofree char *out = g_build_filename (dir, "fixed.csv", NULL);
  g_autofree char *moved = g_build_filename (dir, "moved.csv", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) items = NULL, edits = NULL;
  g_autofree char *exported = NULL;
  TagsightProject *p;
  gint64 ds = 0, edit = 0, item = 0;
  TagsightItem *a, *c;

  p = tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_CREATE, &error);
  g_assert_no_error (error);
  g_assert_true (tagsight_project_add_dataset (p, csv, NULL, NULL, NULL, NULL, &ds, &error));
  g_assert_no_error (error);
  items = tagsight_project_list_items (p, ds, &error);
  g_assert_cmpuint (items->len, ==, 4);
  a = items->pdata[0];
  c = items->pdata[2];
  g_assert_cmpstr (a->fname, ==, "a.jpg");
  g_assert_cmpstr (a->labels, ==, "cat dog");   /* normalised */
  g_assert_cmpstr (a->original_labels, ==, "dog cat");
  g_assert_false (a->is_valid);
  g_assert_true (((TagsightItem *) items->pdata[1])->is_valid);
  g_assert_cmpstr (c->labels, ==, "");

  g_assert_false (tagsight_project_can_undo (p));
  g_assert_true (tagsight_project_toggle_label (p, c->id, "bird", TRUE, "suggestion", &edit,
                                                &error));
  g_assert_cmpint (edit, >, 0);
  g_assert_true (tagsight_project_toggle_label (p, a->id, "dog", FALSE, "user", &edit, &error));
  g_assert_true (tagsight_project_set_labels (p, a->id, "cat", "user", &edit, &error));
  g_assert_cmpint (edit, ==, 0);   /* no change, no edit */
  {
    g_autoptr (TagsightItem) a2 = tagsight_project_get_item (p, ds, 0, &error);
    g_assert_cmpstr (a2->labels, ==, "cat");
  }
  /* undo twice, redo once, then a new edit drops the remaining redo */
  g_assert_true (tagsight_project_undo (p, &item, &error));
  g_assert_cmpint (item, ==, a->id);
  g_assert_true (tagsight_project_undo (p, &item, &error));
  g_assert_cmpint (item, ==, c->id);
  g_assert_false (tagsight_project_undo (p, &item, &error));
  g_assert_no_error (error);
  {
    g_autoptr (TagsightItem) a2 = tagsight_project_get_item (p, ds, 0, &error);
    g_autoptr (TagsightItem) c2 = tagsight_project_get_item (p, ds, 2, &error);
    g_assert_cmpstr (a2->labels, ==, "cat dog");
    g_assert_cmpstr (c2->labels, ==, "");
  }
  g_assert_true (tagsight_project_redo (p, &item, &error));
  g_assert_cmpint (item, ==, c->id);
  g_assert_true (tagsight_project_can_redo (p));
  g_assert_true (tagsight_project_set_labels (p, items->pdata[3] ? ((TagsightItem *)
                                              items->pdata[3])->id : 0, "person  car person",
                                              NULL, &edit, &error));
  g_assert_false (tagsight_project_can_redo (p));
  edits = tagsight_project_list_label_edits (p, ds, &error);
  g_assert_cmpuint (edits->len, ==, 3);
  g_assert_cmpstr (((TagsightLabelEdit *) edits->pdata[0])->state, ==, "applied");
  g_assert_cmpstr (((TagsightLabelEdit *) edits->pdata[1])->state, ==, "dropped");
  g_assert_cmpstr (((TagsightLabelEdit *) edits->pdata[2])->new_labels, ==, "car person");
  g_assert_cmpstr (((TagsightLabelEdit *) edits->pdata[0])->source, ==, "suggestion");

  /* export: the original format, only the edited labels differ */
  g_assert_true (tagsight_project_export_labels_csv (p, ds, out, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (out, &exported, NULL, NULL));
  g_assert_cmpstr (exported, ==,
                   "fname,labels,is_valid,note\n"
                   "a.jpg,dog cat,False,first\n"
                   "b.jpg,cat,True,\"with, comma\"\n"
                   "c.jpg,bird,False,empty labels\n"
                   "d.jpg,car person,True,\"quote \"\"here\"\"\"\n");

  /* the CSV moved: exporting says so; relocating keeps every edit */
  g_assert_cmpint (g_rename (csv, moved), ==, 0);
  g_assert_false (tagsight_project_export_labels_csv (p, ds, out, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);
  g_assert_true (tagsight_project_relocate_dataset (p, ds, moved, &error));
  g_assert_true (tagsight_project_export_labels_csv (p, ds, out, &error));
  g_assert_no_error (error);

  /* by path: the relocated set is found (through a relative, uncanonical
   * path too); an unknown CSV is added once; a missing one is an error */
  {
    g_autofree char *cwd = g_get_current_dir ();
    g_autofree char *rel = NULL, *csv2 = NULL;
    gint64 other;

    g_assert_cmpint (tagsight_project_find_or_add_dataset (p, moved, &error), ==, ds);
    g_assert_cmpint (g_chdir (dir), ==, 0);
    rel = g_strdup ("./sub/../moved.csv");
    g_assert_cmpint (tagsight_project_find_or_add_dataset (p, rel, &error), ==, ds);
    g_assert_cmpint (g_chdir (cwd), ==, 0);
    g_assert_no_error (error);
    csv2 = g_build_filename (dir, "second.csv", NULL);
    g_assert_true (g_file_set_contents (csv2, "fname,labels\nx.jpg,cat\n", -1, NULL));
    other = tagsight_project_find_or_add_dataset (p, csv2, &error);
    g_assert_no_error (error);
    g_assert_cmpint (other, >, ds);
    g_assert_cmpint (tagsight_project_find_or_add_dataset (p, csv2, &error), ==, other);
    g_clear_pointer (&items, g_ptr_array_unref);
    items = tagsight_project_list_datasets (p, &error);
    g_assert_cmpuint (items->len, ==, 2);
    g_assert_cmpint (tagsight_project_find_or_add_dataset (p, "/nonexistent/none.csv", &error),
                     ==, 0);
    g_assert_nonnull (error);
    g_clear_error (&error);
  }
  g_object_unref (p);
  ts_test_rmdir (dir);
}

static void
test_runs (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "p.tagsight", NULL);
  g_autofree char *model = g_build_filename (dir, "m.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) runs = NULL;
  g_autoptr (GArray) em = NULL, bm = NULL;
  g_autofree char *sha = NULL;
  TagsightProject *p;
  gint64 r1 = 0, r2 = 0;
  int rows[3] = { 5, 7, 9 }, n, c, *rows2;
  float probs[6] = { 0.1f, 0.9f, 0.2f, 0.8f, 0.3f, 0.7f }, targets[6] = { 0, 1, 0, 1, 1, 0 };
  float *probs2, *targets2;

  p = tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_CREATE, &error);
  g_assert_no_error (error);
  g_assert_true (tagsight_project_begin_run (p, 0, "{\"arch\": \"tiny\"}", "cpu", &r1, &error));
  for (int e = 0; e < 3; e++)
    {
      for (int b = 0; b < 4; b++)
        g_assert_true (tagsight_project_add_batch_metrics (p, r1, e < 1 ? 0 : 1, e, b, e * 4 + b,
                                                           1.0 / (1 + b), 0.5, 1e-3, 0.9,
                                                           &error));
      g_assert_true (tagsight_project_add_epoch_metrics (p, r1, e < 1 ? 0 : 1, e, 0.5 - e * 0.1,
                                                         0.6 - e * 0.1, 0.7 + e * 0.05, 1.5,
                                                         &error));
    }
  g_assert_true (tagsight_project_set_run_checkpoint (p, r1, "run1.ckpt", &error));
  g_assert_cmpint (tagsight_project_latest_unfinished_run (p, &error), ==, r1);
  /* resume from phase 1, epoch 2: that epoch's rows go */
  g_assert_true (tagsight_project_reopen_run (p, r1, 1, 2, &error));
  em = tagsight_project_get_epoch_metrics (p, r1, &error);
  bm = tagsight_project_get_batch_metrics (p, r1, &error);
  g_assert_cmpuint (em->len, ==, 2);
  g_assert_cmpuint (bm->len, ==, 8);
  g_assert_cmpfloat (g_array_index (em, TagsightEpochMetrics, 1).valid_loss, ==, 0.5);
  g_assert_true (tagsight_project_set_predictions (p, r1, 3, 2, rows, probs, targets, &error));
  g_assert_true (tagsight_project_get_predictions (p, r1, &n, &c, &rows2, &probs2, &targets2,
                                                   &error));
  g_assert_cmpint (n, ==, 3);
  g_assert_cmpint (c, ==, 2);
  g_assert_cmpint (rows2[2], ==, 9);
  g_assert_cmpmem (probs2, sizeof probs, probs, sizeof probs);
  g_assert_cmpmem (targets2, sizeof targets, targets, sizeof targets);
  g_free (rows2);
  g_free (probs2);
  g_free (targets2);
  g_assert_true (g_file_set_contents (model, "abc", 3, NULL));
  g_assert_true (tagsight_project_add_model (p, r1, model, &sha, &error));
  g_assert_cmpstr (sha, ==, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  g_assert_true (tagsight_project_end_run (p, r1, TAGSIGHT_RUN_FINISHED, NULL, &error));
  g_assert_true (tagsight_project_begin_run (p, 0, "{}", "cpu", &r2, &error));
  g_assert_true (tagsight_project_end_run (p, r2, TAGSIGHT_RUN_CANCELLED, "SIGINT", &error));
  g_assert_false (tagsight_project_end_run (p, 99, TAGSIGHT_RUN_FAILED, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  runs = tagsight_project_list_runs (p, &error);
  g_assert_cmpuint (runs->len, ==, 2);
  {
    TagsightRun *a = runs->pdata[0], *b = runs->pdata[1];
    g_assert_cmpint (a->status, ==, TAGSIGHT_RUN_FINISHED);
    g_assert_cmpint (a->n_epochs_done, ==, 2);
    g_assert_cmpfloat_with_epsilon (a->last_accuracy, 0.75, 1e-12);
    g_assert_nonnull (a->ended);
    g_assert_true (g_str_has_suffix (a->checkpoint, "run1.ckpt"));
    g_assert_cmpstr (a->model_path, ==, model);
    g_assert_cmpint (b->status, ==, TAGSIGHT_RUN_CANCELLED);
    g_assert_cmpstr (b->message, ==, "SIGINT");
    g_assert_true (isnan (b->last_valid_loss));
  }
  g_assert_cmpint (tagsight_project_latest_unfinished_run (p, &error), ==, r2);
  g_object_unref (p);
  ts_test_rmdir (dir);
}

/* The images moved; Save As writes a copy that opens with every row. */
static void
test_image_dir_and_copy (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "p.tagsight", NULL);
  g_autofree char *copy = g_build_filename (dir, "copy.tagsight", NULL);
  g_autofree char *images = g_build_filename (dir, "pictures", NULL);
  g_autofree char *csv = write_csv (dir);
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightDataset) d = NULL;
  g_autoptr (GPtrArray) items = NULL;
  g_autoptr (GPtrArray) runs = NULL;
  g_autoptr (TagsightItem) b = NULL;
  TagsightProject *p, *q;
  gint64 ds = 0, run = 0, edit = 0;

  p = tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_CREATE, &error);
  g_assert_no_error (error);
  g_assert_true (tagsight_project_add_dataset (p, csv, NULL, NULL, NULL, NULL, &ds, &error));
  b = tagsight_project_get_item (p, ds, 1, &error);
  g_assert_true (tagsight_project_toggle_label (p, b->id, "dog", TRUE, "user", &edit, &error));
  g_assert_true (tagsight_project_begin_run (p, ds, "{}", "cpu", &run, &error));
  g_assert_true (tagsight_project_set_setting (p, "page", "runs", &error));

  g_assert_true (tagsight_project_set_dataset_image_dir (p, ds, images, &error));
  d = tagsight_project_get_dataset (p, ds, &error);
  g_assert_cmpstr (d->image_dir, ==, images);
  g_assert_cmpint (d->n_items, ==, 4);
  g_clear_pointer (&d, tagsight_dataset_free);
  g_assert_true (tagsight_project_set_dataset_image_dir (p, ds, NULL, &error));
  d = tagsight_project_get_dataset (p, ds, &error);
  g_assert_null (d->image_dir);
  g_assert_false (tagsight_project_set_dataset_image_dir (p, 99, images, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  g_assert_true (tagsight_project_save_copy (p, copy, &error));
  g_assert_no_error (error);
  /* never over an existing file, nor over the project itself */
  g_assert_false (tagsight_project_save_copy (p, copy, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_false (tagsight_project_save_copy (p, path, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);
  g_object_unref (p);

  q = tagsight_project_open (copy, 0, &error);
  g_assert_no_error (error);
  items = tagsight_project_list_items (q, ds, &error);
  g_assert_cmpuint (items->len, ==, 4);
  g_assert_cmpstr (((TagsightItem *) items->pdata[1])->labels, ==, "cat dog");
  g_assert_true (tagsight_project_can_undo (q));
  runs = tagsight_project_list_runs (q, &error);
  g_assert_cmpuint (runs->len, ==, 1);
  {
    g_autofree char *page = tagsight_project_dup_setting (q, "page");
    g_assert_cmpstr (page, ==, "runs");
  }
  g_object_unref (q);
  ts_test_rmdir (dir);
}

/* @dir holds exactly the NULL-terminated @names, nothing else (no temporary
 * file, no partial copy) */
static void
assert_dir_holds (const char *dir, ...)
{
  g_autoptr (GPtrArray) want = g_ptr_array_new ();
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;
  va_list ap;
  guint n = 0;

  va_start (ap, dir);
  while ((name = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (want, (char *) name);
  va_end (ap);
  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      gboolean known = FALSE;
      for (guint i = 0; i < want->len && !known; i++)
        known = strcmp (name, want->pdata[i]) == 0;
      if (!known)
        g_error ("%s: unexpected file %s", dir, name);
      n++;
    }
  g_dir_close (d);
  g_assert_cmpuint (n, ==, want->len);
}

/* Save As and the corrected CSV on a full disk: the error names the file,
 * an existing export is byte for byte the same, nothing is left behind (a
 * partial or empty copy would make the next Save As to that name fail with
 * "the file exists"), and the same name works once there is room. */
static void
test_disk_full (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "p.tagsight", NULL);
  g_autofree char *copy = g_build_filename (dir, "copy.tagsight", NULL);
  g_autofree char *out = g_build_filename (dir, "out.csv", NULL);
  g_autofree char *csv = write_csv (dir);
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightItem) b = NULL;
  g_autoptr (GBytes) before = NULL, after = NULL;
  g_autoptr (GPtrArray) items = NULL;
  TagsightProject *p, *q;
  gint64 ds = 0, edit = 0;

  p = tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_CREATE, &error);
  g_assert_no_error (error);
  g_assert_true (tagsight_project_add_dataset (p, csv, NULL, NULL, NULL, NULL, &ds, &error));
  b = tagsight_project_get_item (p, ds, 1, &error);
  g_assert_true (tagsight_project_toggle_label (p, b->id, "dog", TRUE, "user", &edit, &error));
  g_assert_true (g_file_set_contents (out, "an earlier export\n", -1, NULL));
  before = read_bytes (out);

  ts_test_limit_file_size (32);
  g_assert_false (tagsight_project_export_labels_csv (p, ds, out, &error));
  ts_test_unlimit_file_size ();
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, out));
  g_clear_error (&error);
  after = read_bytes (out);
  g_assert_true (g_bytes_equal (before, after));
  assert_dir_holds (dir, "p.tagsight", "p.tagsight-wal", "p.tagsight-shm", "train.csv",
                    "out.csv", NULL);

  ts_test_limit_file_size (8192);
  g_assert_false (tagsight_project_save_copy (p, copy, &error));
  ts_test_unlimit_file_size ();
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, copy));
  g_clear_error (&error);
  assert_dir_holds (dir, "p.tagsight", "p.tagsight-wal", "p.tagsight-shm", "train.csv",
                    "out.csv", NULL);

  g_assert_true (tagsight_project_save_copy (p, copy, &error));
  g_assert_no_error (error);
  assert_dir_holds (dir, "p.tagsight", "p.tagsight-wal", "p.tagsight-shm", "train.csv",
                    "out.csv", "copy.tagsight", NULL);
  g_assert_true (tagsight_project_export_labels_csv (p, ds, out, &error));
  g_assert_no_error (error);
  g_object_unref (p);
  q = tagsight_project_open (copy, 0, &error);
  g_assert_no_error (error);
  items = tagsight_project_list_items (q, ds, &error);
  g_assert_cmpuint (items->len, ==, 4);
  g_assert_cmpstr (((TagsightItem *) items->pdata[1])->labels, ==, "cat dog");
  g_object_unref (q);
  ts_test_rmdir (dir);
}

/* A folder given as the project: named as one, not "disk I/O error". */
static void
test_directory (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "folder.tagsight", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
  g_assert_null (tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_CREATE, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "is a folder"));
  ts_test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/store/project/create", test_create_and_schema);
  g_test_add_func ("/store/project/refusals", test_refusals);
  g_test_add_func ("/store/project/locked", test_locked);
  g_test_add_func ("/store/project/migrations", test_migrations);
  g_test_add_func ("/store/project/labels", test_labels);
  g_test_add_func ("/store/project/runs", test_runs);
  g_test_add_func ("/store/project/image-dir-and-copy", test_image_dir_and_copy);
  g_test_add_func ("/store/project/disk-full", test_disk_full);
  g_test_add_func ("/store/project/directory", test_directory);
  return g_test_run ();
}
