/* tagsight-project-files.c: where a project's files are: the image folder
 * of a data set that moved, and a copy of the project itself (Save As). */
#include "tagsight-project-private.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "ts-atomic-write.h"

gboolean
tagsight_project_set_dataset_image_dir (TagsightProject *self, gint64 id, const char *image_dir,
                                        GError **error)
{
  g_autofree char *abs = image_dir ? g_canonicalize_filename (image_dir, NULL) : NULL;
  sqlite3_stmt *st = tagsight_project_prepare (self, "UPDATE datasets SET image_dir = ?1 "
                                               "WHERE id = ?2", N_("moving a data set's images"),
                                               error);
  if (st)
    {
      if (abs)
        sqlite3_bind_text (st, 1, abs, -1, SQLITE_TRANSIENT);
      else
        sqlite3_bind_null (st, 1);
      sqlite3_bind_int64 (st, 2, id);
    }
  return tagsight_project_update_one (self, st, N_("moving a data set's images"),
                                      TAGSIGHT_PROJECT_ROW_DATASET, id, error);
}

/* "@path: @what: the system's reason" (see tagsight_error_context) */
static void
set_errno_error (GError **error, int err, const char *path, const char *what)
{
  g_autofree char *where = tagsight_error_context (path, what);

  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), _("%s: %s"), where,
               g_strerror (err));
}

/* the copy's name is taken: found before writing, or when linking it */
static void
set_exists_error (GError **error, const char *path)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, _("%s: the file exists"), path);
}

gboolean
tagsight_project_save_copy (TagsightProject *self, const char *path, GError **error)
{
  g_autofree char *abs = g_canonicalize_filename (path, NULL);
  g_autofree char *tmp = NULL;
  const char *what = N_("saving a copy");
  sqlite3_stmt *st;
  gboolean ok = FALSE;
  int fd, rc;

  /* VACUUM INTO refuses an existing file; an empty one it would overwrite is
   * refused too, so a copy never lands on something the user did not mean */
  if (g_file_test (abs, G_FILE_TEST_EXISTS))
    {
      set_exists_error (error, abs);
      return FALSE;
    }
  if (g_strcmp0 (abs, self->path) == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("%s: that is the project itself"), abs);
      return FALSE;
    }
  /* VACUUM INTO writes in place and, when it fails (a full disk), leaves an
   * empty or partial file under the name; it does not fsync either.  So the
   * copy is written to an empty temporary file beside it, fsynced, and only
   * then linked under its name (link, like VACUUM INTO, never replaces a file) */
  tmp = g_strconcat (abs, ".tmp-XXXXXX", NULL);
  fd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, 0666);
  if (fd < 0)
    {
      set_errno_error (error, errno, abs, N_("creating a temporary file"));
      return FALSE;
    }
  close (fd);
  /* one consistent snapshot, written by SQLite itself: the copy has the same
   * schema version, application id and every row, WAL folded in */
  st = tagsight_project_prepare (self, "VACUUM INTO ?1", what, error);
  if (!st)
    goto out;
  sqlite3_bind_text (st, 1, tmp, -1, SQLITE_TRANSIENT);
  rc = sqlite3_step (st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    {
      tagsight_sqlite_error (error, self->db, rc, abs, what);
      sqlite3_finalize (st);
      goto out;
    }
  sqlite3_finalize (st);
  fd = open (tmp, O_RDWR | O_CLOEXEC);
  if (fd < 0 || fsync (fd) != 0)
    {
      set_errno_error (error, errno, abs, what);
      if (fd >= 0)
        close (fd);
      goto out;
    }
  close (fd);
  if (link (tmp, abs) != 0)
    {
      int err = errno;

      /* a file system without hard links (FAT, some network mounts): rename,
       * after checking again that nothing appeared under the name */
      if ((err == EPERM || err == ENOTSUP || err == ENOSYS || err == EMLINK)
          && !g_file_test (abs, G_FILE_TEST_EXISTS) && g_rename (tmp, abs) == 0)
        err = 0;
      if (err == EEXIST)
        {
          set_exists_error (error, abs);
          goto out;
        }
      if (err != 0)
        {
          set_errno_error (error, err, abs, what);
          goto out;
        }
    }
  ts_sync_parent_dir (abs);
  ok = TRUE;

out:
  g_unlink (tmp);
  return ok;
}
