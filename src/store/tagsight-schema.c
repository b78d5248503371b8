/* tagsight-schema.c: schema version 1 and the migration runner. */
#include "tagsight-schema.h"

#include <gio/gio.h>
#include <glib/gi18n-lib.h>

#include "tagsight-project.h"

/* Version 1.  Labels are stored as one space-separated, sorted string: that is
 * what the CSV holds, and it keeps an edit one row. */
static const char schema_v1[] =
  "PRAGMA application_id = 1416057716;"   /* TAGSIGHT_PROJECT_APPLICATION_ID */
  "CREATE TABLE settings ("
  "  key TEXT PRIMARY KEY,"
  "  value TEXT);"
  "CREATE TABLE datasets ("
  "  id INTEGER PRIMARY KEY,"
  "  csv_path TEXT NOT NULL,"
  "  fname_col TEXT NOT NULL,"
  "  labels_col TEXT NOT NULL,"
  "  valid_col TEXT,"
  "  label_delim TEXT NOT NULL DEFAULT ' ',"
  "  image_dir TEXT,"
  "  created TEXT NOT NULL);"
  "CREATE TABLE items ("
  "  id INTEGER PRIMARY KEY,"
  "  dataset_id INTEGER NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,"
  "  row INTEGER NOT NULL,"
  "  fname TEXT NOT NULL,"
  "  labels TEXT NOT NULL,"
  "  original_labels TEXT NOT NULL,"
  "  is_valid INTEGER NOT NULL DEFAULT 0,"
  "  UNIQUE (dataset_id, row));"
  "CREATE TABLE label_edits ("
  "  id INTEGER PRIMARY KEY,"
  "  item_id INTEGER NOT NULL REFERENCES items (id) ON DELETE CASCADE,"
  "  time TEXT NOT NULL,"
  "  old_labels TEXT NOT NULL,"
  "  new_labels TEXT NOT NULL,"
  "  source TEXT NOT NULL DEFAULT 'user',"
  "  state TEXT NOT NULL DEFAULT 'applied'"
  "    CHECK (state IN ('applied', 'undone', 'dropped')));"
  "CREATE INDEX label_edits_state ON label_edits (state, id);"
  "CREATE TABLE runs ("
  "  id INTEGER PRIMARY KEY,"
  "  dataset_id INTEGER REFERENCES datasets (id) ON DELETE SET NULL,"
  "  recipe TEXT NOT NULL,"
  "  device TEXT NOT NULL,"
  "  started TEXT NOT NULL,"
  "  ended TEXT,"
  "  status TEXT NOT NULL DEFAULT 'running'"
  "    CHECK (status IN ('running', 'finished', 'cancelled', 'failed')),"
  "  message TEXT,"
  "  checkpoint TEXT);"
  "CREATE TABLE epoch_metrics ("
  "  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
  "  phase INTEGER NOT NULL,"
  "  epoch INTEGER NOT NULL,"
  "  train_loss REAL, valid_loss REAL, accuracy REAL, seconds REAL,"
  "  PRIMARY KEY (run_id, phase, epoch));"
  "CREATE TABLE batch_metrics ("
  "  run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,"
  "  phase INTEGER NOT NULL,"
  "  epoch INTEGER NOT NULL,"
  "  batch INTEGER NOT NULL,"
  "  step INTEGER NOT NULL,"
  "  loss REAL, smooth_loss REAL, lr REAL, mom REAL,"
  "  PRIMARY KEY (run_id, phase, epoch, batch));"
  "CREATE TABLE predictions ("
  "  run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,"
  "  n INTEGER NOT NULL,"
  "  n_classes INTEGER NOT NULL,"
  "  rows BLOB NOT NULL,"      /* int32, native order */
  "  probs BLOB NOT NULL,"     /* float32 [n][n_classes] */
  "  targets BLOB NOT NULL);"
  "CREATE TABLE models ("
  "  id INTEGER PRIMARY KEY,"
  "  run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,"
  "  path TEXT NOT NULL,"
  "  sha256 TEXT NOT NULL,"
  "  created TEXT NOT NULL);";

static const TagsightMigration migrations[] = {
  { N_("create the version 1 schema"), schema_v1 },
};

const TagsightMigration *
tagsight_schema_migrations (int *n_steps)
{
  *n_steps = G_N_ELEMENTS (migrations);
  return migrations;
}

/* The GIOErrorEnum of a SQLite result code whose message is SQLite's own. */
static GIOErrorEnum
sqlite_io_error (int rc)
{
  switch (rc & 0xff)
    {
    case SQLITE_CANTOPEN:
      return G_IO_ERROR_NOT_FOUND;
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return G_IO_ERROR_PERMISSION_DENIED;
    case SQLITE_FULL:
      return G_IO_ERROR_NO_SPACE;
    default:
      return G_IO_ERROR_FAILED;
    }
}

char *
tagsight_error_context (const char *path, const char *what)
{
  if (what == NULL)
    return g_strdup (path);
  /* TRANSLATORS: a place, then what happened there; here the project file,
   * then what was being done (e.g. "saving a setting") */
  return g_strdup_printf (_("%s: %s"), path, _(what));
}

void
tagsight_sqlite_error (GError **error, sqlite3 *db, int rc, const char *path, const char *what)
{
  g_autofree char *where = tagsight_error_context (path, what);

  switch (rc & 0xff)
    {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                   _("%s: the project is locked by another process (is it open elsewhere?)"),
                   where);
      return;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("%s: the file is corrupt or not a Tagsight project"), where);
      return;
    /* SQLite's own words stay as it gives them: it has no translations */
    default:
      g_set_error (error, G_IO_ERROR, sqlite_io_error (rc), _("%s: %s"), where,
                   db ? sqlite3_errmsg (db) : sqlite3_errstr (rc));
    }
}

void
tagsight_schema_set_too_new (GError **error, const char *path, int version, int latest)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
               _("%s: the project was written by a newer Tagsight (schema version %d; this one "
                 "reads up to %d); it was not modified"), path, version, latest);
}

static int
user_version (sqlite3 *db, int *out)
{
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2 (db, "PRAGMA user_version", -1, &st, NULL);

  if (rc != SQLITE_OK)
    return rc;
  rc = sqlite3_step (st);
  if (rc == SQLITE_ROW)
    {
      *out = sqlite3_column_int (st, 0);
      rc = SQLITE_OK;
    }
  sqlite3_finalize (st);
  return rc;
}

gboolean
tagsight_schema_migrate (sqlite3 *db, const char *path, const TagsightMigration *steps,
                         int n_steps, int *from, GError **error)
{
  int rc, v = 0;
  char *errmsg = NULL;

  /* IMMEDIATE: two processes opening an old file at once migrate it once */
  if ((rc = sqlite3_exec (db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
    {
      tagsight_sqlite_error (error, db, rc, path, N_("opening"));
      return FALSE;
    }
  if ((rc = user_version (db, &v)) != SQLITE_OK)
    {
      tagsight_sqlite_error (error, db, rc, path, N_("reading the schema version"));
      goto fail;
    }
  if (from)
    *from = v;
  if (v > n_steps)
    {
      tagsight_schema_set_too_new (error, path, v, n_steps);
      goto fail;
    }
  for (int i = v; i < n_steps; i++)
    {
      rc = sqlite3_exec (db, steps[i].sql, NULL, NULL, &errmsg);
      if (rc != SQLITE_OK)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                       /* TRANSLATORS: the project file, the two schema versions, the step
                        * (e.g. "create the version 1 schema"), SQLite's message (English) */
                       _("%s: migrating from schema version %d to %d (%s): %s"), path, i,
                       i + 1, _(steps[i].description), errmsg ? errmsg : sqlite3_errstr (rc));
          sqlite3_free (errmsg);
          goto fail;
        }
    }
  if (v < n_steps)
    {
      char *sql = g_strdup_printf ("PRAGMA user_version = %d", n_steps);
      rc = sqlite3_exec (db, sql, NULL, NULL, NULL);
      g_free (sql);
      if (rc != SQLITE_OK)
        {
          tagsight_sqlite_error (error, db, rc, path, N_("writing the schema version"));
          goto fail;
        }
    }
  if ((rc = sqlite3_exec (db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
    {
      tagsight_sqlite_error (error, db, rc, path, N_("migrating the schema"));
      goto fail;
    }
  return TRUE;

fail:
  sqlite3_exec (db, "ROLLBACK", NULL, NULL, NULL);
  return FALSE;
}
