/* tagsight-project.c: opening a project file safely, settings, helpers. */
#include "tagsight-project-private.h"

#include <glib/gstdio.h>

G_DEFINE_FINAL_TYPE (TagsightProject, tagsight_project, G_TYPE_OBJECT)

static void
tagsight_project_finalize (GObject *object)
{
  TagsightProject *self = TAGSIGHT_PROJECT (object);

  if (self->db)
    sqlite3_close_v2 (self->db);
  g_free (self->path);
  G_OBJECT_CLASS (tagsight_project_parent_class)->finalize (object);
}

static void
tagsight_project_class_init (TagsightProjectClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = tagsight_project_finalize;
}

static void
tagsight_project_init (TagsightProject *self)
{
}

/* --- helpers --- */

void
tagsight_project_sql_error (TagsightProject *self, int rc, const char *what, GError **error)
{
  tagsight_sqlite_error (error, self->db, rc, self->path, what);
}

sqlite3_stmt *
tagsight_project_prepare (TagsightProject *self, const char *sql, const char *what,
                          GError **error)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2 (self->db, sql, -1, &st, NULL);

  if (rc != SQLITE_OK)
    {
      tagsight_project_sql_error (self, rc, what, error);
      return NULL;
    }
  return st;
}

gboolean
tagsight_project_step_done (TagsightProject *self, sqlite3_stmt *st, const char *what,
                            GError **error)
{
  int rc = sqlite3_step (st);

  sqlite3_finalize (st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    {
      tagsight_project_sql_error (self, rc, what, error);
      return FALSE;
    }
  return TRUE;
}

gboolean
tagsight_project_update_one (TagsightProject *self, sqlite3_stmt *st, const char *what,
                             const char *kind, gint64 id, GError **error)
{
  if (!st || !tagsight_project_step_done (self, st, what, error))
    return FALSE;
  if (sqlite3_changes (self->db) == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: no %s %" G_GINT64_FORMAT,
                   self->path, kind, id);
      return FALSE;
    }
  return TRUE;
}

gboolean
tagsight_project_begin (TagsightProject *self, const char *what, GError **error)
{
  /* IMMEDIATE takes the write lock now, so a busy file fails before any work */
  int rc = sqlite3_exec (self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

  if (rc != SQLITE_OK)
    {
      tagsight_project_sql_error (self, rc, what, error);
      return FALSE;
    }
  return TRUE;
}

gboolean
tagsight_project_commit (TagsightProject *self, const char *what, GError **error)
{
  int rc = sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL);

  if (rc != SQLITE_OK)
    {
      tagsight_project_sql_error (self, rc, what, error);
      tagsight_project_rollback (self);
      return FALSE;
    }
  return TRUE;
}

void
tagsight_project_rollback (TagsightProject *self)
{
  if (!sqlite3_get_autocommit (self->db))
    sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
}

char *
tagsight_now_iso8601 (void)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();
  return g_date_time_format (now, "%Y-%m-%dT%H:%M:%S.%fZ");
}

char *
tagsight_column_dup (sqlite3_stmt *st, int col)
{
  const unsigned char *s = sqlite3_column_text (st, col);
  return s ? g_strdup ((const char *) s) : NULL;
}

/* --- opening --- */

/* Looks at an existing file without writing to it: a corrupt file, a SQLite
 * file that is not a project and a newer schema are refused here, before the
 * read-write open (which would switch the journal mode). */
static gboolean
inspect_existing (const char *path, GError **error)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int rc, version = 0, app_id = 0, n_tables = 0;
  gboolean ok = FALSE;

  rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL);
  if (rc != SQLITE_OK)
    {
      tagsight_sqlite_error (error, db, rc, path, "opening");
      goto out;
    }
  sqlite3_busy_timeout (db, 2000);
  rc = sqlite3_prepare_v2 (db, "SELECT (SELECT user_version FROM pragma_user_version),"
                           " (SELECT application_id FROM pragma_application_id),"
                           " (SELECT count(*) FROM sqlite_schema)", -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step (st);
  if (rc != SQLITE_ROW)
    {
      tagsight_sqlite_error (error, db, rc, path, "opening");
      goto out;
    }
  version = sqlite3_column_int (st, 0);
  app_id = sqlite3_column_int (st, 1);
  n_tables = sqlite3_column_int (st, 2);
  if (app_id != TAGSIGHT_PROJECT_APPLICATION_ID && (app_id != 0 || n_tables > 0))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "%s: a SQLite database, but not a Tagsight project; it was not modified",
                   path);
      goto out;
    }
  if (version > TAGSIGHT_PROJECT_SCHEMA_VERSION)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "%s: the project was written by a newer Tagsight (schema version %d; this "
                   "one reads up to %d); it was not modified", path, version,
                   TAGSIGHT_PROJECT_SCHEMA_VERSION);
      goto out;
    }
  ok = TRUE;

out:
  sqlite3_finalize (st);
  sqlite3_close_v2 (db);
  return ok;
}

static gboolean
exec_pragma (sqlite3 *db, const char *path, const char *sql, GError **error)
{
  int rc = sqlite3_exec (db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      tagsight_sqlite_error (error, db, rc, path, "opening");
      return FALSE;
    }
  return TRUE;
}

TagsightProject *
tagsight_project_open_full (const char *path, TagsightProjectOpenFlags flags,
                            int busy_timeout_ms, GError **error)
{
  g_autoptr (TagsightProject) self = NULL;
  const TagsightMigration *steps;
  int n_steps, rc, oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX;
  sqlite3_stmt *st;
  char *mode = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      /* SQLite would only say "disk I/O error" */
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY, "%s: is a folder, not a project "
                   "file", path);
      return NULL;
    }
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    {
      if (!inspect_existing (path, error))
        return NULL;
    }
  else if (!(flags & TAGSIGHT_PROJECT_OPEN_CREATE))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: no such project file", path);
      return NULL;
    }
  else
    oflags |= SQLITE_OPEN_CREATE;

  self = g_object_new (TAGSIGHT_TYPE_PROJECT, NULL);
  self->path = g_canonicalize_filename (path, NULL);
  rc = sqlite3_open_v2 (path, &self->db, oflags, NULL);
  if (rc != SQLITE_OK)
    {
      tagsight_sqlite_error (error, self->db, rc, path, "opening");
      return NULL;
    }
  sqlite3_extended_result_codes (self->db, 1);
  sqlite3_busy_timeout (self->db, busy_timeout_ms);
  /* WAL: readers never block the writer and a killed writer leaves a WAL that
   * the next open rolls back or forward; NORMAL sync is safe against a process
   * crash (only a power loss may lose the latest commits, never the file) */
  if (!exec_pragma (self->db, path, "PRAGMA foreign_keys = ON", error)
      || !exec_pragma (self->db, path, "PRAGMA synchronous = NORMAL", error))
    return NULL;
  rc = sqlite3_prepare_v2 (self->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step (st)) == SQLITE_ROW)
    mode = g_ascii_strdown ((const char *) sqlite3_column_text (st, 0), -1);
  sqlite3_finalize (st);
  if (rc != SQLITE_ROW)
    {
      tagsight_sqlite_error (error, self->db, rc, path, "switching to WAL");
      g_free (mode);
      return NULL;
    }
  if (g_strcmp0 (mode, "wal") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "%s: the file system does not support SQLite's WAL journal (mode %s)",
                   path, mode);
      g_free (mode);
      return NULL;
    }
  g_free (mode);
  steps = tagsight_schema_migrations (&n_steps);
  if (!tagsight_schema_migrate (self->db, self->path, steps, n_steps, NULL, error))
    return NULL;
  self->schema_version = n_steps;
  return g_steal_pointer (&self);
}

TagsightProject *
tagsight_project_open (const char *path, TagsightProjectOpenFlags flags, GError **error)
{
  return tagsight_project_open_full (path, flags, 5000, error);
}

const char *
tagsight_project_get_path (TagsightProject *self)
{
  return self->path;
}

int
tagsight_project_get_schema_version (TagsightProject *self)
{
  return self->schema_version;
}

gboolean
tagsight_project_check_integrity (TagsightProject *self, char **report, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "PRAGMA integrity_check", "checking",
                                               error);
  GString *s = g_string_new (NULL);
  gboolean ok;
  int rc;

  if (!st)
    {
      g_string_free (s, TRUE);
      return FALSE;
    }
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      if (s->len)
        g_string_append_c (s, '\n');
      g_string_append (s, (const char *) sqlite3_column_text (st, 0));
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    {
      tagsight_project_sql_error (self, rc, "checking", error);
      g_string_free (s, TRUE);
      return FALSE;
    }
  ok = g_strcmp0 (s->str, "ok") == 0;
  if (report)
    *report = g_string_free (s, FALSE);
  else
    g_string_free (s, TRUE);
  return ok;
}

gboolean
tagsight_project_set_setting (TagsightProject *self, const char *key, const char *value,
                              GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "INSERT INTO settings (key, value) "
                                               "VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE "
                                               "SET value = excluded.value", "saving a setting",
                                               error);
  if (!st)
    return FALSE;
  sqlite3_bind_text (st, 1, key, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, 2, value, -1, SQLITE_TRANSIENT);
  return tagsight_project_step_done (self, st, "saving a setting", error);
}

char *
tagsight_project_dup_setting (TagsightProject *self, const char *key)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "SELECT value FROM settings WHERE key = ?1",
                                               "reading a setting", NULL);
  char *v = NULL;

  if (!st)
    return NULL;
  sqlite3_bind_text (st, 1, key, -1, SQLITE_TRANSIENT);
  if (sqlite3_step (st) == SQLITE_ROW)
    v = tagsight_column_dup (st, 0);
  sqlite3_finalize (st);
  return v;
}
