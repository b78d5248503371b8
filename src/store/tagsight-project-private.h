/* tagsight-project-private.h: what the project's files share. */
#pragma once

#include <sqlite3.h>

#include "tagsight-project.h"
#include "tagsight-schema.h"

struct _TagsightProject {
  GObject parent_instance;
  char *path;
  sqlite3 *db;
  int schema_version;
  TagsightProjectAccess access;
};

/* The functions below that take @what name in their errors what was being
 * done with an N_() phrase ("saving a setting"), translated when shown. */

/* The kinds of row an id names, for "not found" errors. */
typedef enum {
  TAGSIGHT_PROJECT_ROW_RUN,
  TAGSIGHT_PROJECT_ROW_DATASET,
  TAGSIGHT_PROJECT_ROW_ITEM,
} TagsightProjectRow;

/* Sets @error (G_IO_ERROR_NOT_FOUND): the project has no @row @id. */
void tagsight_project_set_not_found (TagsightProject *self, TagsightProjectRow row, gint64 id,
                                     GError **error);

/* Prepares @sql; on failure sets @error naming @what. */
sqlite3_stmt *tagsight_project_prepare (TagsightProject *self, const char *sql,
                                        const char *what, GError **error);
/* Steps @st to SQLITE_DONE and finalizes it. */
gboolean tagsight_project_step_done (TagsightProject *self, sqlite3_stmt *st,
                                     const char *what, GError **error);
/* Steps an UPDATE of one row (prepared into @st; NULL: preparing failed and
 * @error is set): FALSE with G_IO_ERROR_NOT_FOUND naming the @row kind and
 * @id when no row changed. */
gboolean tagsight_project_update_one (TagsightProject *self, sqlite3_stmt *st, const char *what,
                                      TagsightProjectRow row, gint64 id, GError **error);
gboolean tagsight_project_begin (TagsightProject *self, const char *what, GError **error);
gboolean tagsight_project_commit (TagsightProject *self, const char *what, GError **error);
void tagsight_project_rollback (TagsightProject *self);
void tagsight_project_sql_error (TagsightProject *self, int rc, const char *what,
                                 GError **error);

/* Current UTC time as ISO 8601 with milliseconds. */
char *tagsight_now_iso8601 (void);
/* A column as a new string (NULL for NULL). */
char *tagsight_column_dup (sqlite3_stmt *st, int col);
