/* tagsight-project.c: opening a project file safely, settings, helpers. */
#include "tagsight-project-private.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <unistd.h>

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

static void
set_read_only_error (TagsightProject *self, const char *what, GError **error)
{
  g_autofree char *where = tagsight_error_context (self->path, what);

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_READ_ONLY,
               /* TRANSLATORS: the project file (and what was being done), then why it is
                * read-only (e.g. "its folder cannot be written") */
               _("%s: the project is read-only (%s); save a copy where you can write (Save "
                 "Project As in the app, or copy the file) to change it"), where,
               tagsight_project_get_read_only_reason (self));
}

void
tagsight_project_set_not_found (TagsightProject *self, TagsightProjectRow row, gint64 id,
                                GError **error)
{
  /* one sentence a kind of row: "no %s" with a translated "run" pasted in
   * would not agree in gender or case */
  switch (row)
    {
    case TAGSIGHT_PROJECT_ROW_RUN:
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("%s: no run %lld"), self->path,
                   (long long) id);
      break;
    case TAGSIGHT_PROJECT_ROW_DATASET:
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("%s: no data set %lld"),
                   self->path, (long long) id);
      break;
    case TAGSIGHT_PROJECT_ROW_ITEM:
    default:
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("%s: no item %lld"), self->path,
                   (long long) id);
    }
}

void
tagsight_project_sql_error (TagsightProject *self, int rc, const char *what, GError **error)
{
  /* a write on a read-only project: why, and the way out, not SQLite's words */
  if ((rc & 0xff) == SQLITE_READONLY && self->access != TAGSIGHT_PROJECT_WRITABLE)
    set_read_only_error (self, what, error);
  else
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
                             TagsightProjectRow row, gint64 id, GError **error)
{
  if (!st || !tagsight_project_step_done (self, st, what, error))
    return FALSE;
  if (sqlite3_changes (self->db) == 0)
    {
      tagsight_project_set_not_found (self, row, id, error);
      return FALSE;
    }
  return TRUE;
}

gboolean
tagsight_project_begin (TagsightProject *self, const char *what, GError **error)
{
  int rc;

  if (self->access != TAGSIGHT_PROJECT_WRITABLE)
    {
      set_read_only_error (self, what, error);
      return FALSE;
    }
  /* IMMEDIATE takes the write lock now, so a busy file fails before any work */
  rc = sqlite3_exec (self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
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

/* Reads the header of an open file: a corrupt file, a SQLite file that is
 * not a project and a newer schema are refused here, before anything is
 * written (the read-write open switches the journal mode).  *@version
 * receives the schema version. */
static gboolean
inspect_existing (sqlite3 *db, const char *path, int *version, GError **error)
{
  sqlite3_stmt *st = NULL;
  int rc, app_id = 0, n_tables = 0;
  gboolean ok = FALSE;

  sqlite3_busy_timeout (db, 2000);
  rc = sqlite3_prepare_v2 (db, "SELECT (SELECT user_version FROM pragma_user_version),"
                           " (SELECT application_id FROM pragma_application_id),"
                           " (SELECT count(*) FROM sqlite_schema)", -1, &st, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_step (st);
  if (rc != SQLITE_ROW)
    {
      tagsight_sqlite_error (error, db, rc, path, N_("opening"));
      goto out;
    }
  *version = sqlite3_column_int (st, 0);
  app_id = sqlite3_column_int (st, 1);
  n_tables = sqlite3_column_int (st, 2);
  if (app_id != TAGSIGHT_PROJECT_APPLICATION_ID && (app_id != 0 || n_tables > 0))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("%s: a SQLite database, but not a Tagsight project; it was not modified"),
                   path);
      goto out;
    }
  if (*version > TAGSIGHT_PROJECT_SCHEMA_VERSION)
    {
      tagsight_schema_set_too_new (error, path, *version, TAGSIGHT_PROJECT_SCHEMA_VERSION);
      goto out;
    }
  ok = TRUE;

out:
  sqlite3_finalize (st);
  return ok;
}

static gboolean
exec_pragma (sqlite3 *db, const char *path, const char *sql, GError **error)
{
  int rc = sqlite3_exec (db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      tagsight_sqlite_error (error, db, rc, path, N_("opening"));
      return FALSE;
    }
  return TRUE;
}

static gboolean
file_has_content (const char *path)
{
  GStatBuf sb;

  return g_stat (path, &sb) == 0 && sb.st_size > 0;
}

/* How @path can be opened: read-only when asked, or when SQLite could not
 * write the file or the journal files it keeps beside it.  access(2) also
 * answers for a read-only mount (EROFS, even to root). */
static TagsightProjectAccess
find_access (const char *path, TagsightProjectOpenFlags flags)
{
  g_autofree char *dir = g_path_get_dirname (path);

  if (flags & TAGSIGHT_PROJECT_OPEN_READ_ONLY)
    return TAGSIGHT_PROJECT_READ_ONLY_ASKED;
  if (g_access (path, W_OK) != 0)
    return TAGSIGHT_PROJECT_READ_ONLY_FILE;
  if (g_access (dir, W_OK) != 0)
    return TAGSIGHT_PROJECT_READ_ONLY_FOLDER;
  return TAGSIGHT_PROJECT_WRITABLE;
}

/* The read-only connection.  With commits in P-wal (a process has the
 * project open, or one was killed), SQLite's mode=ro reads them through
 * P-wal and P-shm.  Without (every commit is in the file), immutable=1 as
 * well: SQLite reads the file alone, takes no locks and creates nothing
 * beside it.  mode=ro alone would make P-wal and P-shm, which fails in a
 * folder that cannot be written, and in one that can leaves them with the
 * file's read-only mode, which breaks the project for its owner later. */
static gboolean
open_read_only (TagsightProject *self, int busy_timeout_ms, GError **error)
{
  g_autofree char *wal = g_strconcat (self->path, "-wal", NULL);
  g_autofree char *shm = g_strconcat (self->path, "-shm", NULL);
  g_autofree char *escaped = g_uri_escape_string (self->path, "/", FALSE);
  gboolean journal = file_has_content (wal)
    || (g_file_test (wal, G_FILE_TEST_EXISTS) && g_file_test (shm, G_FILE_TEST_EXISTS));
  g_autofree char *uri = g_strdup_printf ("file:%s?mode=ro%s", escaped,
                                          journal ? "" : "&immutable=1");
  int rc, version = 0;

  rc = sqlite3_open_v2 (uri, &self->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI
                        | SQLITE_OPEN_FULLMUTEX, NULL);
  if (rc != SQLITE_OK)
    {
      tagsight_sqlite_error (error, self->db, rc, self->path, N_("opening"));
      return FALSE;
    }
  sqlite3_extended_result_codes (self->db, 1);
  if (!inspect_existing (self->db, self->path, &version, error))
    {
      /* SQLite needs to make P-shm to read P-wal, and cannot */
      if (journal && g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        {
          g_clear_error (error);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_READ_ONLY,
                       /* TRANSLATORS: the project file, its -wal file, its -shm file */
                       _("%s: changes to the project are still in %s, and reading them needs "
                         "%s, which cannot be created there; copy the project with that file "
                         "to a folder you can write, and open the copy"), self->path, wal, shm);
        }
      return FALSE;
    }
  if (version < TAGSIGHT_PROJECT_SCHEMA_VERSION)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   /* TRANSLATORS: the project file, why it is read-only (e.g. "its folder
                    * cannot be written"), its schema version, this Tagsight's */
                   _("%s: the project is read-only (%s) and needs an update this Tagsight "
                     "cannot write (schema version %d to %d); copy it to a folder you can "
                     "write, and open the copy"), self->path,
                   tagsight_project_get_read_only_reason (self), version,
                   TAGSIGHT_PROJECT_SCHEMA_VERSION);
      return FALSE;
    }
  sqlite3_busy_timeout (self->db, busy_timeout_ms);
  self->schema_version = version;
  return TRUE;
}

/* The read-write connection: WAL, foreign keys, migrations.  Returns
 * SQLite's code when it could not write (the caller opens read-only then),
 * SQLITE_OK otherwise, with @error set when something else failed. */
static int
open_read_write (TagsightProject *self, int oflags, int busy_timeout_ms, GError **error)
{
  const TagsightMigration *steps;
  int n_steps, rc;
  sqlite3_stmt *st;
  g_autofree char *mode = NULL;

  rc = sqlite3_open_v2 (self->path, &self->db, oflags, NULL);
  if (rc != SQLITE_OK)
    {
      tagsight_sqlite_error (error, self->db, rc, self->path, N_("opening"));
      return SQLITE_OK;
    }
  /* a file that cannot be written is opened read-only without a word */
  if (sqlite3_db_readonly (self->db, "main") == 1)
    return SQLITE_READONLY;
  sqlite3_extended_result_codes (self->db, 1);
  sqlite3_busy_timeout (self->db, busy_timeout_ms);
  /* WAL: readers never block the writer and a killed writer leaves a WAL that
   * the next open rolls back or forward; NORMAL sync is safe against a process
   * crash (only a power loss may lose the latest commits, never the file) */
  if (!exec_pragma (self->db, self->path, "PRAGMA foreign_keys = ON", error)
      || !exec_pragma (self->db, self->path, "PRAGMA synchronous = NORMAL", error))
    return SQLITE_OK;
  rc = sqlite3_prepare_v2 (self->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
  if (rc == SQLITE_OK && (rc = sqlite3_step (st)) == SQLITE_ROW)
    mode = g_ascii_strdown ((const char *) sqlite3_column_text (st, 0), -1);
  sqlite3_finalize (st);
  /* the journal files could not be made beside it (a folder access(2) calls
   * writable, on some FUSE file systems) */
  if ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY
      || (rc & 0xff) == SQLITE_PERM)
    return rc;
  if (rc != SQLITE_ROW)
    {
      tagsight_sqlite_error (error, self->db, rc, self->path, N_("switching to WAL"));
      return SQLITE_OK;
    }
  if (g_strcmp0 (mode, "wal") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   /* TRANSLATORS: the project file, the journal mode SQLite chose instead */
                   _("%s: the file system does not support SQLite's WAL journal (mode %s)"),
                   self->path, mode);
      return SQLITE_OK;
    }
  steps = tagsight_schema_migrations (&n_steps);
  if (tagsight_schema_migrate (self->db, self->path, steps, n_steps, NULL, error))
    self->schema_version = n_steps;
  return SQLITE_OK;
}

TagsightProject *
tagsight_project_open_full (const char *path, TagsightProjectOpenFlags flags,
                            int busy_timeout_ms, GError **error)
{
  g_autoptr (TagsightProject) self = NULL;
  g_autoptr (GError) local_error = NULL;
  int oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, rc;
  gboolean exists;

  g_return_val_if_fail (path != NULL, NULL);
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      /* SQLite would only say "disk I/O error" */
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_IS_DIRECTORY,
                   _("%s: is a folder, not a project file"), path);
      return NULL;
    }
  self = g_object_new (TAGSIGHT_TYPE_PROJECT, NULL);
  self->path = g_canonicalize_filename (path, NULL);
  exists = g_file_test (path, G_FILE_TEST_EXISTS);
  if (!exists && (!(flags & TAGSIGHT_PROJECT_OPEN_CREATE)
                  || (flags & TAGSIGHT_PROJECT_OPEN_READ_ONLY)))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("%s: no such project file"), path);
      return NULL;
    }
  if (!exists)
    {
      g_autofree char *dir = g_path_get_dirname (self->path);

      if (g_file_test (dir, G_FILE_TEST_IS_DIR) && g_access (dir, W_OK) != 0)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_READ_ONLY,
                       _("%s: cannot create the project: the folder %s cannot be written"),
                       path, dir);
          return NULL;
        }
      oflags |= SQLITE_OPEN_CREATE;
    }
  self->access = exists ? find_access (self->path, flags) : TAGSIGHT_PROJECT_WRITABLE;
  if (self->access != TAGSIGHT_PROJECT_WRITABLE)
    return open_read_only (self, busy_timeout_ms, error) ? g_steal_pointer (&self) : NULL;
  if (exists)
    {
      sqlite3 *db = NULL;
      int version = 0;
      gboolean ok = FALSE;

      rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL);
      if (rc != SQLITE_OK)
        tagsight_sqlite_error (error, db, rc, path, N_("opening"));
      else
        ok = inspect_existing (db, path, &version, error);
      sqlite3_close_v2 (db);
      if (!ok)
        return NULL;
    }
  rc = open_read_write (self, oflags, busy_timeout_ms, &local_error);
  if (rc != SQLITE_OK && exists)
    {
      /* it could not be written after all: read it */
      g_clear_pointer (&self->db, sqlite3_close_v2);
      self->access = (rc & 0xff) == SQLITE_CANTOPEN ? TAGSIGHT_PROJECT_READ_ONLY_FOLDER
                                                    : TAGSIGHT_PROJECT_READ_ONLY_FILE;
      return open_read_only (self, busy_timeout_ms, error) ? g_steal_pointer (&self) : NULL;
    }
  if (local_error != NULL || rc != SQLITE_OK)
    {
      if (local_error == NULL)
        tagsight_sqlite_error (&local_error, self->db, rc, path, N_("opening"));
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
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

TagsightProjectAccess
tagsight_project_get_access (TagsightProject *self)
{
  return self->access;
}

gboolean
tagsight_project_is_read_only (TagsightProject *self)
{
  return self->access != TAGSIGHT_PROJECT_WRITABLE;
}

const char *
tagsight_project_get_read_only_reason (TagsightProject *self)
{
  switch (self->access)
    {
    case TAGSIGHT_PROJECT_READ_ONLY_ASKED:
      /* TRANSLATORS: why a project is read-only, in "%s is read-only (%s)" */
      return _("opened read-only");
    case TAGSIGHT_PROJECT_READ_ONLY_FILE:
      return _("the file cannot be written");
    case TAGSIGHT_PROJECT_READ_ONLY_FOLDER:
      return _("its folder cannot be written");
    case TAGSIGHT_PROJECT_WRITABLE:
    default:
      return NULL;
    }
}

gboolean
tagsight_project_check_writable (TagsightProject *self, GError **error)
{
  if (self->access == TAGSIGHT_PROJECT_WRITABLE)
    return TRUE;
  set_read_only_error (self, NULL, error);
  return FALSE;
}

int
tagsight_project_get_schema_version (TagsightProject *self)
{
  return self->schema_version;
}

gboolean
tagsight_project_check_integrity (TagsightProject *self, char **report, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "PRAGMA integrity_check",
                                               N_("checking the project"), error);
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
      tagsight_project_sql_error (self, rc, N_("checking the project"), error);
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
                                               "SET value = excluded.value", N_("saving a setting"),
                                               error);
  if (!st)
    return FALSE;
  sqlite3_bind_text (st, 1, key, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, 2, value, -1, SQLITE_TRANSIENT);
  return tagsight_project_step_done (self, st, N_("saving a setting"), error);
}

char *
tagsight_project_dup_setting (TagsightProject *self, const char *key)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "SELECT value FROM settings WHERE key = ?1",
                                               N_("reading a setting"), NULL);
  char *v = NULL;

  if (!st)
    return NULL;
  sqlite3_bind_text (st, 1, key, -1, SQLITE_TRANSIENT);
  if (sqlite3_step (st) == SQLITE_ROW)
    v = tagsight_column_dup (st, 0);
  sqlite3_finalize (st);
  return v;
}
