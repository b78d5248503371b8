/* tagsight-project-data.c: data sets, items, label edits (undo / redo) and
 * the export of corrected labels. */
#include "tagsight-project-private.h"

#include <errno.h>
#include <glib/gi18n-lib.h>
#include <string.h>

#include "ts-csv.h"

void
tagsight_dataset_free (TagsightDataset *d)
{
  if (!d)
    return;
  g_free (d->csv_path);
  g_free (d->fname_col);
  g_free (d->labels_col);
  g_free (d->valid_col);
  g_free (d->label_delim);
  g_free (d->image_dir);
  g_free (d);
}

void
tagsight_item_free (TagsightItem *it)
{
  if (!it)
    return;
  g_free (it->fname);
  g_free (it->labels);
  g_free (it->original_labels);
  g_free (it);
}

void
tagsight_label_edit_free (TagsightLabelEdit *e)
{
  if (!e)
    return;
  g_free (e->time);
  g_free (e->old_labels);
  g_free (e->new_labels);
  g_free (e->source);
  g_free (e->state);
  g_free (e);
}

static int
strv_cmp (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Split on @delim (spaces and tabs when it is blank), drop empties and
 * duplicates, sort: one canonical string per label set. */
static char *
normalize_labels (const char *labels, const char *delim)
{
  g_auto (GStrv) parts = NULL;
  g_autoptr (GPtrArray) keep = g_ptr_array_new ();
  GString *out = g_string_new (NULL);

  if (!delim || !*delim || g_ascii_isspace (*delim))
    {
      g_autofree char *tmp = g_strdup (labels ? labels : "");
      g_strdelimit (tmp, "\t\r\n", ' ');
      parts = g_strsplit (tmp, " ", -1);
    }
  else
    parts = g_strsplit (labels ? labels : "", delim, -1);
  for (int i = 0; parts[i]; i++)
    {
      g_strstrip (parts[i]);
      if (*parts[i])
        g_ptr_array_add (keep, parts[i]);
    }
  g_ptr_array_sort (keep, strv_cmp);
  for (guint i = 0; i < keep->len; i++)
    {
      if (i > 0 && strcmp (keep->pdata[i], keep->pdata[i - 1]) == 0)
        continue;
      if (out->len)
        g_string_append_c (out, ' ');
      g_string_append (out, keep->pdata[i]);
    }
  return g_string_free (out, FALSE);
}

static int
find_column (const ts_csv_record *rec, const char *name)
{
  for (int i = 0; i < rec->n_fields; i++)
    if (g_ascii_strcasecmp (rec->fields[i], name) == 0)
      return i;
  return -1;
}

static gboolean
parse_bool (const char *s)
{
  return g_ascii_strcasecmp (s, "true") == 0 || strcmp (s, "1") == 0
         || g_ascii_strcasecmp (s, "yes") == 0;
}

/* A data row that cannot be added: its defect in the data layer's words, or
 * too few fields for the file name and labels columns. */
static void
set_row_error (const ts_csv_record *rec, const char *csv, GError **error)
{
  char buf[256];

  if (rec->defect != TS_CSV_DEFECT_NONE)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s, line %d: %s"), csv,
                 rec->line, ts_csv_defect_describe (rec, buf, sizeof buf));
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                 _("%s, line %d: the row has too few fields"), csv, rec->line);
}

gboolean
tagsight_project_add_dataset (TagsightProject *self, const char *csv_path,
                              const char *fname_col, const char *labels_col,
                              const char *valid_col, const char *label_delim, gint64 *id,
                              GError **error)
{
  g_autofree char *abs = g_canonicalize_filename (csv_path, NULL);
  g_autofree char *now = tagsight_now_iso8601 ();
  const char *what = N_("adding a data set");
  ts_csv *csv = NULL;
  ts_csv_record rec;
  sqlite3_stmt *st = NULL;
  int cf, cl, cv = -1, row = 0, r;
  gboolean explicit_valid = valid_col != NULL;
  gint64 ds;

  fname_col = fname_col ? fname_col : "fname";
  labels_col = labels_col ? labels_col : "labels";
  valid_col = valid_col ? valid_col : "is_valid";
  label_delim = label_delim ? label_delim : " ";
  if (ts_csv_open (abs, &csv) != TS_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s", ts_last_error ());
      return FALSE;
    }
  if ((r = ts_csv_next (csv, &rec)) != 1)
    {
      if (r == 0)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s: the file is empty"), abs);
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s: %s"), abs,
                     ts_last_error ());
      goto fail;
    }
  cf = find_column (&rec, fname_col);
  cl = find_column (&rec, labels_col);
  cv = find_column (&rec, valid_col);
  if (cf < 0 || cl < 0 || (explicit_valid && cv < 0))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   /* TRANSLATORS: the CSV file, a line number, the column's name */
                   _("%s, line %d: no column \"%s\" in the header"), abs, rec.line,
                   cf < 0 ? fname_col : cl < 0 ? labels_col : valid_col);
      goto fail;
    }
  if (!tagsight_project_begin (self, what, error))
    goto fail;
  st = tagsight_project_prepare (self, "INSERT INTO datasets (csv_path, fname_col, labels_col, "
                                 "valid_col, label_delim, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                 what, error);
  if (!st)
    goto fail_tx;
  sqlite3_bind_text (st, 1, abs, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, 2, fname_col, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, 3, labels_col, -1, SQLITE_TRANSIENT);
  if (cv >= 0)
    sqlite3_bind_text (st, 4, valid_col, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, 5, label_delim, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, 6, now, -1, SQLITE_TRANSIENT);
  if (!tagsight_project_step_done (self, st, what, error))
    goto fail_tx;
  ds = sqlite3_last_insert_rowid (self->db);
  st = tagsight_project_prepare (self, "INSERT INTO items (dataset_id, row, fname, labels, "
                                 "original_labels, is_valid) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                 N_("adding items"), error);
  if (!st)
    goto fail_tx;
  while ((r = ts_csv_next (csv, &rec)) == 1)
    {
      g_autofree char *norm = NULL;
      int rc;

      if (rec.defect != TS_CSV_DEFECT_NONE || cf >= rec.n_fields || cl >= rec.n_fields)
        {
          set_row_error (&rec, abs, error);
          goto fail_tx;
        }
      norm = normalize_labels (rec.fields[cl], label_delim);
      sqlite3_reset (st);
      sqlite3_bind_int64 (st, 1, ds);
      sqlite3_bind_int (st, 2, row++);
      sqlite3_bind_text (st, 3, rec.fields[cf], -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (st, 4, norm, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (st, 5, rec.fields[cl], -1, SQLITE_TRANSIENT);
      sqlite3_bind_int (st, 6, cv >= 0 && cv < rec.n_fields && parse_bool (rec.fields[cv]));
      if ((rc = sqlite3_step (st)) != SQLITE_DONE)
        {
          tagsight_project_sql_error (self, rc, N_("adding items"), error);
          goto fail_tx;
        }
    }
  sqlite3_finalize (st);
  st = NULL;
  if (r < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("%s: %s"), abs, ts_last_error ());
      goto fail_tx;
    }
  if (!tagsight_project_commit (self, what, error))
    goto fail;
  ts_csv_free (csv);
  if (id)
    *id = ds;
  return TRUE;

fail_tx:
  sqlite3_finalize (st);
  tagsight_project_rollback (self);
fail:
  ts_csv_free (csv);
  return FALSE;
}

static TagsightDataset *
dataset_from_row (sqlite3_stmt *st)
{
  TagsightDataset *d = g_new0 (TagsightDataset, 1);

  d->id = sqlite3_column_int64 (st, 0);
  d->csv_path = tagsight_column_dup (st, 1);
  d->fname_col = tagsight_column_dup (st, 2);
  d->labels_col = tagsight_column_dup (st, 3);
  d->valid_col = tagsight_column_dup (st, 4);
  d->label_delim = tagsight_column_dup (st, 5);
  d->image_dir = tagsight_column_dup (st, 6);
  d->n_items = sqlite3_column_int (st, 7);
  return d;
}

#define DATASET_COLUMNS "id, csv_path, fname_col, labels_col, valid_col, label_delim, " \
  "image_dir, (SELECT count(*) FROM items WHERE dataset_id = datasets.id)"

GPtrArray *
tagsight_project_list_datasets (TagsightProject *self, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "SELECT " DATASET_COLUMNS
                                               " FROM datasets ORDER BY id",
                                               N_("listing data sets"), error);
  GPtrArray *out;
  int rc;

  if (!st)
    return NULL;
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) tagsight_dataset_free);
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    g_ptr_array_add (out, dataset_from_row (st));
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    {
      tagsight_project_sql_error (self, rc, N_("listing data sets"), error);
      g_ptr_array_unref (out);
      return NULL;
    }
  return out;
}

gint64
tagsight_project_find_or_add_dataset (TagsightProject *self, const char *csv_path,
                                      GError **error)
{
  g_autofree char *abs = g_canonicalize_filename (csv_path, NULL);
  sqlite3_stmt *st = tagsight_project_prepare (self, "SELECT id FROM datasets WHERE csv_path = ?1 "
                                               "ORDER BY id DESC LIMIT 1", N_("finding a data set"),
                                               error);
  gint64 id = 0;
  int rc;

  if (!st)
    return 0;
  sqlite3_bind_text (st, 1, abs, -1, SQLITE_TRANSIENT);
  rc = sqlite3_step (st);
  if (rc == SQLITE_ROW)
    id = sqlite3_column_int64 (st, 0);
  sqlite3_finalize (st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    {
      tagsight_project_sql_error (self, rc, N_("finding a data set"), error);
      return 0;
    }
  if (id == 0 && !tagsight_project_add_dataset (self, abs, NULL, NULL, NULL, NULL, &id, error))
    return 0;
  return id;
}

TagsightDataset *
tagsight_project_get_dataset (TagsightProject *self, gint64 id, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "SELECT " DATASET_COLUMNS
                                               " FROM datasets WHERE id = ?1",
                                               N_("reading a data set"), error);
  TagsightDataset *d = NULL;
  int rc;

  if (!st)
    return NULL;
  sqlite3_bind_int64 (st, 1, id);
  rc = sqlite3_step (st);
  if (rc == SQLITE_ROW)
    d = dataset_from_row (st);
  else if (rc == SQLITE_DONE)
    tagsight_project_set_not_found (self, TAGSIGHT_PROJECT_ROW_DATASET, id, error);
  else
    tagsight_project_sql_error (self, rc, N_("reading a data set"), error);
  sqlite3_finalize (st);
  return d;
}

gboolean
tagsight_project_relocate_dataset (TagsightProject *self, gint64 id, const char *new_csv_path,
                                   GError **error)
{
  g_autofree char *abs = g_canonicalize_filename (new_csv_path, NULL);
  sqlite3_stmt *st = tagsight_project_prepare (self, "UPDATE datasets SET csv_path = ?1 "
                                               "WHERE id = ?2", N_("relocating a data set"), error);
  if (st)
    {
      sqlite3_bind_text (st, 1, abs, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (st, 2, id);
    }
  return tagsight_project_update_one (self, st, N_("relocating a data set"),
                                      TAGSIGHT_PROJECT_ROW_DATASET, id, error);
}

/* --- items --- */

static TagsightItem *
item_from_row (sqlite3_stmt *st)
{
  TagsightItem *it = g_new0 (TagsightItem, 1);

  it->id = sqlite3_column_int64 (st, 0);
  it->row = sqlite3_column_int (st, 1);
  it->fname = tagsight_column_dup (st, 2);
  it->labels = tagsight_column_dup (st, 3);
  it->original_labels = tagsight_column_dup (st, 4);
  it->is_valid = sqlite3_column_int (st, 5);
  return it;
}

GPtrArray *
tagsight_project_list_items (TagsightProject *self, gint64 dataset_id, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "SELECT id, row, fname, labels, "
                                               "original_labels, is_valid FROM items WHERE "
                                               "dataset_id = ?1 ORDER BY row", N_("listing items"),
                                               error);
  GPtrArray *out;
  int rc;

  if (!st)
    return NULL;
  sqlite3_bind_int64 (st, 1, dataset_id);
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) tagsight_item_free);
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    g_ptr_array_add (out, item_from_row (st));
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    {
      tagsight_project_sql_error (self, rc, N_("listing items"), error);
      g_ptr_array_unref (out);
      return NULL;
    }
  return out;
}

TagsightItem *
tagsight_project_get_item (TagsightProject *self, gint64 dataset_id, int row, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "SELECT id, row, fname, labels, "
                                               "original_labels, is_valid FROM items WHERE "
                                               "dataset_id = ?1 AND row = ?2",
                                               N_("reading an item"), error);
  TagsightItem *it = NULL;
  int rc;

  if (!st)
    return NULL;
  sqlite3_bind_int64 (st, 1, dataset_id);
  sqlite3_bind_int (st, 2, row);
  rc = sqlite3_step (st);
  if (rc == SQLITE_ROW)
    it = item_from_row (st);
  else if (rc == SQLITE_DONE)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("%s: data set %lld has no row %d"),
                 self->path, (long long) dataset_id, row);
  else
    tagsight_project_sql_error (self, rc, N_("reading an item"), error);
  sqlite3_finalize (st);
  return it;
}

/* --- label edits --- */

static char *
item_labels (TagsightProject *self, gint64 item_id, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "SELECT labels FROM items WHERE id = ?1",
                                               N_("reading labels"), error);
  char *labels = NULL;
  int rc;

  if (!st)
    return NULL;
  sqlite3_bind_int64 (st, 1, item_id);
  rc = sqlite3_step (st);
  if (rc == SQLITE_ROW)
    labels = tagsight_column_dup (st, 0);
  else if (rc == SQLITE_DONE)
    tagsight_project_set_not_found (self, TAGSIGHT_PROJECT_ROW_ITEM, item_id, error);
  else
    tagsight_project_sql_error (self, rc, N_("reading labels"), error);
  sqlite3_finalize (st);
  return labels;
}

static gboolean
write_item_labels (TagsightProject *self, gint64 item_id, const char *labels, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "UPDATE items SET labels = ?1 WHERE id = ?2",
                                               N_("writing labels"), error);
  if (!st)
    return FALSE;
  sqlite3_bind_text (st, 1, labels, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (st, 2, item_id);
  return tagsight_project_step_done (self, st, N_("writing labels"), error);
}

static gboolean
exec_sql (TagsightProject *self, const char *sql, const char *what, GError **error)
{
  int rc = sqlite3_exec (self->db, sql, NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    {
      tagsight_project_sql_error (self, rc, what, error);
      return FALSE;
    }
  return TRUE;
}

/* Inside a transaction: the edit itself. */
static gboolean
apply_new_labels (TagsightProject *self, gint64 item_id, const char *new_norm,
                  const char *source, gint64 *edit_id, GError **error)
{
  g_autofree char *old = item_labels (self, item_id, error);
  g_autofree char *now = tagsight_now_iso8601 ();
  sqlite3_stmt *st;

  if (edit_id)
    *edit_id = 0;
  if (!old)
    return FALSE;
  if (strcmp (old, new_norm) == 0)
    return TRUE;
  /* a new edit ends the redo history, as in any editor; the rows stay */
  if (!exec_sql (self, "UPDATE label_edits SET state = 'dropped' WHERE state = 'undone'",
                 N_("editing labels"), error))
    return FALSE;
  st = tagsight_project_prepare (self, "INSERT INTO label_edits (item_id, time, old_labels, "
                                 "new_labels, source) VALUES (?1, ?2, ?3, ?4, ?5)",
                                 N_("editing labels"), error);
  if (!st)
    return FALSE;
  sqlite3_bind_int64 (st, 1, item_id);
  sqlite3_bind_text (st, 2, now, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, 3, old, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, 4, new_norm, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, 5, source ? source : "user", -1, SQLITE_TRANSIENT);
  if (!tagsight_project_step_done (self, st, N_("editing labels"), error))
    return FALSE;
  if (edit_id)
    *edit_id = sqlite3_last_insert_rowid (self->db);
  return write_item_labels (self, item_id, new_norm, error);
}

gboolean
tagsight_project_set_labels (TagsightProject *self, gint64 item_id, const char *labels,
                             const char *source, gint64 *edit_id, GError **error)
{
  g_autofree char *norm = normalize_labels (labels, " ");

  if (!tagsight_project_begin (self, N_("editing labels"), error))
    return FALSE;
  if (!apply_new_labels (self, item_id, norm, source, edit_id, error))
    {
      tagsight_project_rollback (self);
      return FALSE;
    }
  return tagsight_project_commit (self, N_("editing labels"), error);
}

gboolean
tagsight_project_toggle_label (TagsightProject *self, gint64 item_id, const char *label,
                               gboolean present, const char *source, gint64 *edit_id,
                               GError **error)
{
  g_autofree char *old = NULL, *joined = NULL, *norm = NULL;
  g_auto (GStrv) parts = NULL;
  GString *s;

  if (!label || !*label || strpbrk (label, " \t\r\n"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("a label must be one non-empty word, not \"%s\""), label ? label : "");
      return FALSE;
    }
  if (!tagsight_project_begin (self, N_("editing labels"), error))
    return FALSE;
  if (!(old = item_labels (self, item_id, error)))
    goto fail;
  parts = g_strsplit (old, " ", -1);
  s = g_string_new (NULL);
  for (int i = 0; parts[i]; i++)
    if (*parts[i] && strcmp (parts[i], label) != 0)
      g_string_append_printf (s, "%s ", parts[i]);
  if (present)
    g_string_append (s, label);
  joined = g_string_free (s, FALSE);
  norm = normalize_labels (joined, " ");
  if (!apply_new_labels (self, item_id, norm, source, edit_id, error))
    goto fail;
  return tagsight_project_commit (self, N_("editing labels"), error);

fail:
  tagsight_project_rollback (self);
  return FALSE;
}

static gint64
edit_in_state (TagsightProject *self, const char *sql)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, sql, N_("reading the edit history"), NULL);
  gint64 id = 0;

  if (!st)
    return 0;
  if (sqlite3_step (st) == SQLITE_ROW)
    id = sqlite3_column_int64 (st, 0);
  sqlite3_finalize (st);
  return id;
}

#define LAST_APPLIED "SELECT max(id) FROM label_edits WHERE state = 'applied'"
#define FIRST_UNDONE "SELECT min(id) FROM label_edits WHERE state = 'undone'"

gboolean
tagsight_project_can_undo (TagsightProject *self)
{
  return edit_in_state (self, LAST_APPLIED) > 0;
}

gboolean
tagsight_project_can_redo (TagsightProject *self)
{
  return edit_in_state (self, FIRST_UNDONE) > 0;
}

static gboolean
undo_redo (TagsightProject *self, gboolean undo, gint64 *item_id, GError **error)
{
  const char *what = undo ? N_("undoing a label edit") : N_("redoing a label edit");
  sqlite3_stmt *st;
  gint64 id, item = 0;
  g_autofree char *labels = NULL;
  int rc;

  if (item_id)
    *item_id = 0;
  if (!tagsight_project_begin (self, what, error))
    return FALSE;
  id = edit_in_state (self, undo ? LAST_APPLIED : FIRST_UNDONE);
  if (id == 0)
    {
      tagsight_project_rollback (self);
      return FALSE;
    }
  st = tagsight_project_prepare (self, undo ? "SELECT item_id, old_labels FROM label_edits "
                                 "WHERE id = ?1" : "SELECT item_id, new_labels FROM label_edits "
                                 "WHERE id = ?1", what, error);
  if (!st)
    goto fail;
  sqlite3_bind_int64 (st, 1, id);
  if ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      item = sqlite3_column_int64 (st, 0);
      labels = tagsight_column_dup (st, 1);
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_ROW)
    {
      tagsight_project_sql_error (self, rc, what, error);
      goto fail;
    }
  if (!write_item_labels (self, item, labels, error))
    goto fail;
  st = tagsight_project_prepare (self, "UPDATE label_edits SET state = ?1 WHERE id = ?2", what,
                                 error);
  if (!st)
    goto fail;
  sqlite3_bind_text (st, 1, undo ? "undone" : "applied", -1, SQLITE_STATIC);
  sqlite3_bind_int64 (st, 2, id);
  if (!tagsight_project_step_done (self, st, what, error))
    goto fail;
  if (!tagsight_project_commit (self, what, error))
    return FALSE;
  if (item_id)
    *item_id = item;
  return TRUE;

fail:
  tagsight_project_rollback (self);
  return FALSE;
}

gboolean
tagsight_project_undo (TagsightProject *self, gint64 *item_id, GError **error)
{
  return undo_redo (self, TRUE, item_id, error);
}

gboolean
tagsight_project_redo (TagsightProject *self, gint64 *item_id, GError **error)
{
  return undo_redo (self, FALSE, item_id, error);
}

GPtrArray *
tagsight_project_list_label_edits (TagsightProject *self, gint64 dataset_id, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "SELECT e.id, e.item_id, e.time, "
                                               "e.old_labels, e.new_labels, e.source, e.state "
                                               "FROM label_edits e JOIN items i ON i.id = "
                                               "e.item_id WHERE i.dataset_id = ?1 ORDER BY e.id",
                                               N_("listing label edits"), error);
  GPtrArray *out;
  int rc;

  if (!st)
    return NULL;
  sqlite3_bind_int64 (st, 1, dataset_id);
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) tagsight_label_edit_free);
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      TagsightLabelEdit *e = g_new0 (TagsightLabelEdit, 1);
      e->id = sqlite3_column_int64 (st, 0);
      e->item_id = sqlite3_column_int64 (st, 1);
      e->time = tagsight_column_dup (st, 2);
      e->old_labels = tagsight_column_dup (st, 3);
      e->new_labels = tagsight_column_dup (st, 4);
      e->source = tagsight_column_dup (st, 5);
      e->state = tagsight_column_dup (st, 6);
      g_ptr_array_add (out, e);
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    {
      tagsight_project_sql_error (self, rc, N_("listing label edits"), error);
      g_ptr_array_unref (out);
      return NULL;
    }
  return out;
}

/* --- export --- */

static void
append_field (GString *s, const char *f)
{
  if (strpbrk (f, ",\"\r\n") == NULL)
    {
      g_string_append (s, f);
      return;
    }
  g_string_append_c (s, '"');
  for (const char *p = f; *p; p++)
    {
      if (*p == '"')
        g_string_append_c (s, '"');
      g_string_append_c (s, *p);
    }
  g_string_append_c (s, '"');
}

gboolean
tagsight_project_export_labels_csv (TagsightProject *self, gint64 dataset_id,
                                    const char *out_path, GError **error)
{
  g_autoptr (TagsightDataset) ds = tagsight_project_get_dataset (self, dataset_id, error);
  g_autoptr (GPtrArray) items = NULL;
  GString *out;
  ts_csv *csv = NULL;
  ts_csv_record rec;
  int cl, row = 0, r;
  gboolean ok;

  if (!ds)
    return FALSE;
  if (!(items = tagsight_project_list_items (self, dataset_id, error)))
    return FALSE;
  if (ts_csv_open (ds->csv_path, &csv) != TS_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   /* TRANSLATORS: the reason the CSV could not be opened */
                   _("%s (moved? relocate the data set)"), ts_last_error ());
      return FALSE;
    }
  out = g_string_new (NULL);
  if (ts_csv_had_bom (csv))
    g_string_append (out, "\xef\xbb\xbf");
  if ((r = ts_csv_next (csv, &rec)) != 1 || (cl = find_column (&rec, ds->labels_col)) < 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("%s: the header has no column \"%s\" any more"), ds->csv_path,
                   ds->labels_col);
      goto fail;
    }
  for (;;)
    {
      for (int i = 0; i < rec.n_fields; i++)
        {
          if (i)
            g_string_append_c (out, ',');
          if (row > 0 && i == cl)
            {
              const TagsightItem *it = row - 1 < (int) items->len ? items->pdata[row - 1] : NULL;
              g_autofree char *lab = NULL;
              if (!it || it->row != row - 1)
                {
                  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                               _("%s, line %d: the CSV changed since it was added (row %d is "
                                 "not in the project)"), ds->csv_path, rec.line, row - 1);
                  goto fail;
                }
              lab = normalize_labels (it->original_labels, ds->label_delim);
              if (strcmp (lab, it->labels) == 0)
                {
                  /* unchanged: byte for byte as in the file */
                  append_field (out, it->original_labels);
                  continue;
                }
              g_free (lab);
              lab = g_strdup (it->labels);
              /* back to the file's own delimiter */
              if (ds->label_delim && *ds->label_delim && *ds->label_delim != ' ')
                {
                  g_auto (GStrv) parts = g_strsplit (lab, " ", -1);
                  g_free (lab);
                  lab = g_strjoinv (ds->label_delim, parts);
                }
              append_field (out, lab);
            }
          else
            append_field (out, rec.fields[i]);
        }
      g_string_append (out, "\n");
      row++;
      if ((r = ts_csv_next (csv, &rec)) != 1)
        break;
    }
  if (r < 0 || row - 1 != (int) items->len)
    {
      if (r < 0)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s: %s"), ds->csv_path,
                     ts_last_error ());
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     _("%s: the CSV changed since it was added (row count)"), ds->csv_path);
      goto fail;
    }
  ts_csv_free (csv);
  ok = g_file_set_contents (out_path, out->str, (gssize) out->len, error);
  g_string_free (out, TRUE);
  return ok;

fail:
  ts_csv_free (csv);
  g_string_free (out, TRUE);
  return FALSE;
}
