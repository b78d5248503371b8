/* tagsight-schema.h: the project schema and its forward migrations.
 *
 * Step i migrates a file of user_version i to i + 1; a file is brought to the
 * latest version in one transaction, so a failed or interrupted migration
 * leaves it at its old version, untouched. */
#pragma once

#include <glib.h>
#include <sqlite3.h>

G_BEGIN_DECLS

typedef struct {
  const char *description;   /* an N_() phrase, translated when shown */
  const char *sql;       /* run with sqlite3_exec inside the transaction */
} TagsightMigration;

/* The migrations of this Tagsight: its schema version is their number. */
const TagsightMigration *tagsight_schema_migrations (int *n_steps);

/* Brings @db from its user_version to @n_steps with @steps, in one
 * IMMEDIATE transaction.  A version above @n_steps is refused
 * (G_IO_ERROR_NOT_SUPPORTED) without writing anything.  *@from (may be NULL)
 * receives the version found. */
gboolean tagsight_schema_migrate (sqlite3 *db, const char *path,
                                  const TagsightMigration *steps, int n_steps, int *from,
                                  GError **error);

/* "@path: @what" in the user's language, @what an N_() phrase saying what
 * was being done ("saving a setting"), translated here; @path alone when
 * @what is NULL.  The store's error messages start with it. */
char *tagsight_error_context (const char *path, const char *what);

/* Maps a SQLite result code to a GIOErrorEnum and sets @error to
 * "@path: @what: the reason", translated (see tagsight_error_context): the
 * store's own words for a locked or corrupt file, else SQLite's message. */
void tagsight_sqlite_error (GError **error, sqlite3 *db, int rc, const char *path,
                            const char *what);

/* Sets @error (G_IO_ERROR_NOT_SUPPORTED): @path has schema @version, from a
 * newer Tagsight; this one reads up to @latest. */
void tagsight_schema_set_too_new (GError **error, const char *path, int version, int latest);

G_END_DECLS
