/* tagsight-project-files.c: where a project's files are: the image folder
 * of a data set that moved, and a copy of the project itself (Save As). */
#include "tagsight-project-private.h"

gboolean
tagsight_project_set_dataset_image_dir (TagsightProject *self, gint64 id, const char *image_dir,
                                        GError **error)
{
  g_autofree char *abs = image_dir ? g_canonicalize_filename (image_dir, NULL) : NULL;
  sqlite3_stmt *st = tagsight_project_prepare (self, "UPDATE datasets SET image_dir = ?1 "
                                               "WHERE id = ?2", "moving a data set's images",
                                               error);
  if (st)
    {
      if (abs)
        sqlite3_bind_text (st, 1, abs, -1, SQLITE_TRANSIENT);
      else
        sqlite3_bind_null (st, 1);
      sqlite3_bind_int64 (st, 2, id);
    }
  return tagsight_project_update_one (self, st, "moving a data set's images", "data set", id,
                                      error);
}

gboolean
tagsight_project_save_copy (TagsightProject *self, const char *path, GError **error)
{
  g_autofree char *abs = g_canonicalize_filename (path, NULL);
  sqlite3_stmt *st;

  /* VACUUM INTO refuses an existing file; an empty one it would overwrite is
   * refused too, so a copy never lands on something the user did not mean */
  if (g_file_test (abs, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "%s: the file exists", abs);
      return FALSE;
    }
  if (g_strcmp0 (abs, self->path) == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "%s: that is the project "
                   "itself", abs);
      return FALSE;
    }
  /* one consistent snapshot, written by SQLite itself: the copy has the same
   * schema version, application id and every row, WAL folded in */
  st = tagsight_project_prepare (self, "VACUUM INTO ?1", "saving a copy", error);
  if (!st)
    return FALSE;
  sqlite3_bind_text (st, 1, abs, -1, SQLITE_TRANSIENT);
  return tagsight_project_step_done (self, st, "saving a copy", error);
}
