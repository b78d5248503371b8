/* tagsight-project-runs.c: runs, their metrics, predictions and models. */
#include "tagsight-project-private.h"

#include <glib/gi18n-lib.h>
#include <math.h>
#include <string.h>

static const char *const status_names[] = { "running", "finished", "cancelled", "failed" };

const char *
tagsight_run_status_to_string (TagsightRunStatus s)
{
  return (unsigned) s < G_N_ELEMENTS (status_names) ? status_names[s] : "unknown";
}

static TagsightRunStatus
status_from_string (const char *s)
{
  for (guint i = 0; i < G_N_ELEMENTS (status_names); i++)
    if (g_strcmp0 (s, status_names[i]) == 0)
      return (TagsightRunStatus) i;
  return TAGSIGHT_RUN_FAILED;
}

void
tagsight_run_free (TagsightRun *r)
{
  if (!r)
    return;
  g_free (r->recipe);
  g_free (r->device);
  g_free (r->started);
  g_free (r->ended);
  g_free (r->message);
  g_free (r->checkpoint);
  g_free (r->model_path);
  g_free (r);
}

gboolean
tagsight_project_begin_run (TagsightProject *self, gint64 dataset_id, const char *recipe_json,
                            const char *device, gint64 *run_id, GError **error)
{
  g_autofree char *now = tagsight_now_iso8601 ();
  sqlite3_stmt *st = tagsight_project_prepare (self, "INSERT INTO runs (dataset_id, recipe, "
                                               "device, started) VALUES (?1, ?2, ?3, ?4)",
                                               N_("recording a run"), error);
  if (!st)
    return FALSE;
  if (dataset_id > 0)
    sqlite3_bind_int64 (st, 1, dataset_id);
  sqlite3_bind_text (st, 2, recipe_json ? recipe_json : "{}", -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, 3, device ? device : "cpu", -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, 4, now, -1, SQLITE_TRANSIENT);
  if (!tagsight_project_step_done (self, st, N_("recording a run"), error))
    return FALSE;
  *run_id = sqlite3_last_insert_rowid (self->db);
  return TRUE;
}

static gboolean
update_one_run (TagsightProject *self, sqlite3_stmt *st, gint64 run_id, const char *what,
                GError **error)
{
  return tagsight_project_update_one (self, st, what, TAGSIGHT_PROJECT_ROW_RUN, run_id, error);
}

gboolean
tagsight_project_set_run_checkpoint (TagsightProject *self, gint64 run_id, const char *path,
                                     GError **error)
{
  g_autofree char *abs = path ? g_canonicalize_filename (path, NULL) : NULL;
  sqlite3_stmt *st = tagsight_project_prepare (self, "UPDATE runs SET checkpoint = ?1 WHERE "
                                               "id = ?2", N_("recording a checkpoint"), error);
  if (st)
    {
      sqlite3_bind_text (st, 1, abs, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (st, 2, run_id);
    }
  return update_one_run (self, st, run_id, N_("recording a checkpoint"), error);
}

gboolean
tagsight_project_set_run_device (TagsightProject *self, gint64 run_id, const char *device,
                                 GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "UPDATE runs SET device = ?1 WHERE id = ?2",
                                               N_("recording the device"), error);
  if (st)
    {
      sqlite3_bind_text (st, 1, device ? device : "cpu", -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (st, 2, run_id);
    }
  return update_one_run (self, st, run_id, N_("recording the device"), error);
}

char *
tagsight_project_run_file (TagsightProject *self, gint64 run_id, const char *suffix)
{
  g_autofree char *base = g_strdup (tagsight_project_get_path (self));

  if (g_str_has_suffix (base, ".tagsight"))
    base[strlen (base) - strlen (".tagsight")] = '\0';
  return g_strdup_printf ("%s-run%" G_GINT64_FORMAT ".%s", base, run_id, suffix);
}

gboolean
tagsight_project_end_run (TagsightProject *self, gint64 run_id, TagsightRunStatus status,
                          const char *message, GError **error)
{
  g_autofree char *now = tagsight_now_iso8601 ();
  sqlite3_stmt *st = tagsight_project_prepare (self, "UPDATE runs SET status = ?1, ended = ?2, "
                                               "message = ?3 WHERE id = ?4", N_("ending a run"),
                                               error);
  if (st)
    {
      sqlite3_bind_text (st, 1, tagsight_run_status_to_string (status), -1, SQLITE_STATIC);
      if (status != TAGSIGHT_RUN_RUNNING)
        sqlite3_bind_text (st, 2, now, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (st, 3, message, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (st, 4, run_id);
    }
  return update_one_run (self, st, run_id, N_("ending a run"), error);
}

gboolean
tagsight_project_reopen_run (TagsightProject *self, gint64 run_id, int phase, int epoch,
                             GError **error)
{
  const char *what = N_("reopening a run");
  sqlite3_stmt *st;

  if (!tagsight_project_begin (self, what, error))
    return FALSE;
  st = tagsight_project_prepare (self, "UPDATE runs SET status = 'running', ended = NULL, "
                                 "message = NULL WHERE id = ?1", what, error);
  if (st)
    sqlite3_bind_int64 (st, 1, run_id);
  if (!update_one_run (self, st, run_id, what, error))
    goto fail;
  /* what follows the checkpoint is trained again: drop its old rows */
  for (int i = 0; i < 2; i++)
    {
      st = tagsight_project_prepare (self, i == 0
                                     ? "DELETE FROM epoch_metrics WHERE run_id = ?1 AND "
                                       "(phase > ?2 OR (phase = ?2 AND epoch >= ?3))"
                                     : "DELETE FROM batch_metrics WHERE run_id = ?1 AND "
                                       "(phase > ?2 OR (phase = ?2 AND epoch >= ?3))",
                                     what, error);
      if (!st)
        goto fail;
      sqlite3_bind_int64 (st, 1, run_id);
      sqlite3_bind_int (st, 2, phase);
      sqlite3_bind_int (st, 3, epoch);
      if (!tagsight_project_step_done (self, st, what, error))
        goto fail;
    }
  st = tagsight_project_prepare (self, "DELETE FROM predictions WHERE run_id = ?1", what, error);
  if (!st)
    goto fail;
  sqlite3_bind_int64 (st, 1, run_id);
  if (!tagsight_project_step_done (self, st, what, error))
    goto fail;
  return tagsight_project_commit (self, what, error);

fail:
  tagsight_project_rollback (self);
  return FALSE;
}

#define RUN_COLUMNS "r.id, r.dataset_id, r.recipe, r.device, r.started, r.ended, r.status, " \
  "r.message, r.checkpoint, " \
  "(SELECT count(*) FROM epoch_metrics e WHERE e.run_id = r.id), " \
  "(SELECT train_loss FROM epoch_metrics e WHERE e.run_id = r.id ORDER BY phase DESC, epoch DESC LIMIT 1), " \
  "(SELECT valid_loss FROM epoch_metrics e WHERE e.run_id = r.id ORDER BY phase DESC, epoch DESC LIMIT 1), " \
  "(SELECT accuracy FROM epoch_metrics e WHERE e.run_id = r.id ORDER BY phase DESC, epoch DESC LIMIT 1), " \
  "(SELECT path FROM models m WHERE m.run_id = r.id ORDER BY id DESC LIMIT 1)"

static double
column_double_or_nan (sqlite3_stmt *st, int col)
{
  return sqlite3_column_type (st, col) == SQLITE_NULL ? NAN : sqlite3_column_double (st, col);
}

static TagsightRun *
run_from_row (sqlite3_stmt *st)
{
  TagsightRun *r = g_new0 (TagsightRun, 1);

  r->id = sqlite3_column_int64 (st, 0);
  r->dataset_id = sqlite3_column_int64 (st, 1);
  r->recipe = tagsight_column_dup (st, 2);
  r->device = tagsight_column_dup (st, 3);
  r->started = tagsight_column_dup (st, 4);
  r->ended = tagsight_column_dup (st, 5);
  r->status = status_from_string ((const char *) sqlite3_column_text (st, 6));
  r->message = tagsight_column_dup (st, 7);
  r->checkpoint = tagsight_column_dup (st, 8);
  r->n_epochs_done = sqlite3_column_int (st, 9);
  r->last_train_loss = column_double_or_nan (st, 10);
  r->last_valid_loss = column_double_or_nan (st, 11);
  r->last_accuracy = column_double_or_nan (st, 12);
  r->model_path = tagsight_column_dup (st, 13);
  return r;
}

GPtrArray *
tagsight_project_list_runs (TagsightProject *self, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "SELECT " RUN_COLUMNS " FROM runs r "
                                               "ORDER BY r.id", N_("listing runs"), error);
  GPtrArray *out;
  int rc;

  if (!st)
    return NULL;
  out = g_ptr_array_new_with_free_func ((GDestroyNotify) tagsight_run_free);
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    g_ptr_array_add (out, run_from_row (st));
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    {
      tagsight_project_sql_error (self, rc, N_("listing runs"), error);
      g_ptr_array_unref (out);
      return NULL;
    }
  return out;
}

TagsightRun *
tagsight_project_get_run (TagsightProject *self, gint64 run_id, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "SELECT " RUN_COLUMNS " FROM runs r "
                                               "WHERE r.id = ?1", N_("reading a run"), error);
  TagsightRun *r = NULL;
  int rc;

  if (!st)
    return NULL;
  sqlite3_bind_int64 (st, 1, run_id);
  rc = sqlite3_step (st);
  if (rc == SQLITE_ROW)
    r = run_from_row (st);
  else if (rc == SQLITE_DONE)
    tagsight_project_set_not_found (self, TAGSIGHT_PROJECT_ROW_RUN, run_id, error);
  else
    tagsight_project_sql_error (self, rc, N_("reading a run"), error);
  sqlite3_finalize (st);
  return r;
}

gint64
tagsight_project_latest_unfinished_run (TagsightProject *self, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "SELECT max(id) FROM runs WHERE status "
                                               "!= 'finished'", N_("listing runs"), error);
  gint64 id = 0;
  int rc;

  if (!st)
    return 0;
  rc = sqlite3_step (st);
  if (rc == SQLITE_ROW)
    id = sqlite3_column_int64 (st, 0);
  else
    tagsight_project_sql_error (self, rc, N_("listing runs"), error);
  sqlite3_finalize (st);
  return id;
}

static void
bind_double_or_null (sqlite3_stmt *st, int i, double v)
{
  if (isfinite (v))
    sqlite3_bind_double (st, i, v);
  else
    sqlite3_bind_null (st, i);
}

gboolean
tagsight_project_add_epoch_metrics (TagsightProject *self, gint64 run_id, int phase, int epoch,
                                    double train_loss, double valid_loss, double accuracy,
                                    double seconds, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "INSERT OR REPLACE INTO epoch_metrics "
                                               "(run_id, phase, epoch, train_loss, valid_loss, "
                                               "accuracy, seconds) VALUES (?1, ?2, ?3, ?4, ?5, "
                                               "?6, ?7)", N_("recording epoch metrics"), error);
  if (!st)
    return FALSE;
  sqlite3_bind_int64 (st, 1, run_id);
  sqlite3_bind_int (st, 2, phase);
  sqlite3_bind_int (st, 3, epoch);
  bind_double_or_null (st, 4, train_loss);
  bind_double_or_null (st, 5, valid_loss);
  bind_double_or_null (st, 6, accuracy);
  bind_double_or_null (st, 7, seconds);
  return tagsight_project_step_done (self, st, N_("recording epoch metrics"), error);
}

gboolean
tagsight_project_add_batch_metrics (TagsightProject *self, gint64 run_id, int phase, int epoch,
                                    int batch, int step, double loss, double smooth_loss,
                                    double lr, double mom, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "INSERT OR REPLACE INTO batch_metrics "
                                               "(run_id, phase, epoch, batch, step, loss, "
                                               "smooth_loss, lr, mom) VALUES (?1, ?2, ?3, ?4, "
                                               "?5, ?6, ?7, ?8, ?9)", N_("recording batch metrics"),
                                               error);
  if (!st)
    return FALSE;
  sqlite3_bind_int64 (st, 1, run_id);
  sqlite3_bind_int (st, 2, phase);
  sqlite3_bind_int (st, 3, epoch);
  sqlite3_bind_int (st, 4, batch);
  sqlite3_bind_int (st, 5, step);
  bind_double_or_null (st, 6, loss);
  bind_double_or_null (st, 7, smooth_loss);
  bind_double_or_null (st, 8, lr);
  bind_double_or_null (st, 9, mom);
  return tagsight_project_step_done (self, st, N_("recording batch metrics"), error);
}

static void
read_epoch_row (sqlite3_stmt *st, void *row)
{
  TagsightEpochMetrics m = {
    sqlite3_column_int (st, 0), sqlite3_column_int (st, 1), column_double_or_nan (st, 2),
    column_double_or_nan (st, 3), column_double_or_nan (st, 4), column_double_or_nan (st, 5),
  };
  *(TagsightEpochMetrics *) row = m;
}

static void
read_batch_row (sqlite3_stmt *st, void *row)
{
  TagsightBatchMetrics m = {
    sqlite3_column_int (st, 0), sqlite3_column_int (st, 1), sqlite3_column_int (st, 2),
    sqlite3_column_int (st, 3), column_double_or_nan (st, 4), column_double_or_nan (st, 5),
    column_double_or_nan (st, 6), column_double_or_nan (st, 7),
  };
  *(TagsightBatchMetrics *) row = m;
}

/* Runs @sql (one parameter: the run id) and collects one @elem_size struct a
 * row, filled by @read_row; NULL with @error set when the query fails. */
static GArray *
get_run_rows (TagsightProject *self, gint64 run_id, const char *sql, const char *what,
              guint elem_size, void (*read_row) (sqlite3_stmt *st, void *row), GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, sql, what, error);
  g_autofree guint8 *row = g_malloc0 (elem_size);
  GArray *out;
  int rc;

  if (!st)
    return NULL;
  sqlite3_bind_int64 (st, 1, run_id);
  out = g_array_new (FALSE, FALSE, elem_size);
  while ((rc = sqlite3_step (st)) == SQLITE_ROW)
    {
      read_row (st, row);
      g_array_append_vals (out, row, 1);
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    {
      tagsight_project_sql_error (self, rc, what, error);
      g_array_unref (out);
      return NULL;
    }
  return out;
}

GArray *
tagsight_project_get_epoch_metrics (TagsightProject *self, gint64 run_id, GError **error)
{
  return get_run_rows (self, run_id,
                       "SELECT phase, epoch, train_loss, valid_loss, accuracy, seconds "
                       "FROM epoch_metrics WHERE run_id = ?1 ORDER BY phase, epoch",
                       N_("reading epoch metrics"), sizeof (TagsightEpochMetrics), read_epoch_row,
                       error);
}

GArray *
tagsight_project_get_batch_metrics (TagsightProject *self, gint64 run_id, GError **error)
{
  return get_run_rows (self, run_id,
                       "SELECT phase, epoch, batch, step, loss, smooth_loss, lr, mom "
                       "FROM batch_metrics WHERE run_id = ?1 ORDER BY phase, epoch, batch",
                       N_("reading batch metrics"), sizeof (TagsightBatchMetrics), read_batch_row,
                       error);
}

gboolean
tagsight_project_set_predictions (TagsightProject *self, gint64 run_id, int n, int n_classes,
                                  const int *rows, const float *probs, const float *targets,
                                  GError **error)
{
  g_autofree gint32 *r32 = g_new (gint32, n > 0 ? n : 1);
  sqlite3_stmt *st;
  gsize fsz = (gsize) n * n_classes * sizeof (float);

  if (n < 0 || n_classes < 1)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _("predictions: %d items of %d classes"), n, n_classes);
      return FALSE;
    }
  for (int i = 0; i < n; i++)
    r32[i] = rows ? rows[i] : i;
  st = tagsight_project_prepare (self, "INSERT OR REPLACE INTO predictions (run_id, n, "
                                 "n_classes, rows, probs, targets) VALUES (?1, ?2, ?3, ?4, ?5, "
                                 "?6)", N_("recording predictions"), error);
  if (!st)
    return FALSE;
  sqlite3_bind_int64 (st, 1, run_id);
  sqlite3_bind_int (st, 2, n);
  sqlite3_bind_int (st, 3, n_classes);
  sqlite3_bind_blob64 (st, 4, r32, (sqlite3_uint64) n * sizeof (gint32), SQLITE_TRANSIENT);
  sqlite3_bind_blob64 (st, 5, n ? (const void *) probs : "", fsz, SQLITE_TRANSIENT);
  sqlite3_bind_blob64 (st, 6, n ? (const void *) targets : "", fsz, SQLITE_TRANSIENT);
  return tagsight_project_step_done (self, st, N_("recording predictions"), error);
}

gboolean
tagsight_project_get_predictions (TagsightProject *self, gint64 run_id, int *n, int *n_classes,
                                  int **rows, float **probs, float **targets, GError **error)
{
  sqlite3_stmt *st = tagsight_project_prepare (self, "SELECT n, n_classes, rows, probs, "
                                               "targets FROM predictions WHERE run_id = ?1",
                                               N_("reading predictions"), error);
  int rc;

  *n = *n_classes = 0;
  *rows = NULL;
  *probs = *targets = NULL;
  if (!st)
    return FALSE;
  sqlite3_bind_int64 (st, 1, run_id);
  rc = sqlite3_step (st);
  if (rc == SQLITE_ROW)
    {
      int nn = sqlite3_column_int (st, 0), c = sqlite3_column_int (st, 1);
      gsize fsz = (gsize) nn * c * sizeof (float);
      if (nn < 0 || c < 1 || (gsize) sqlite3_column_bytes (st, 2) != (gsize) nn * sizeof (gint32)
          || (gsize) sqlite3_column_bytes (st, 3) != fsz
          || (gsize) sqlite3_column_bytes (st, 4) != fsz)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       _("%s: the predictions of run %lld have the wrong size"), self->path,
                       (long long) run_id);
          sqlite3_finalize (st);
          return FALSE;
        }
      *n = nn;
      *n_classes = c;
      *rows = g_new (int, nn > 0 ? nn : 1);
      for (int i = 0; i < nn; i++)
        (*rows)[i] = ((const gint32 *) sqlite3_column_blob (st, 2))[i];
      *probs = g_memdup2 (sqlite3_column_blob (st, 3), fsz ? fsz : 1);
      *targets = g_memdup2 (sqlite3_column_blob (st, 4), fsz ? fsz : 1);
      rc = SQLITE_DONE;
    }
  sqlite3_finalize (st);
  if (rc != SQLITE_DONE)
    {
      tagsight_project_sql_error (self, rc, N_("reading predictions"), error);
      return FALSE;
    }
  return TRUE;
}

gboolean
tagsight_project_add_model (TagsightProject *self, gint64 run_id, const char *path,
                            char **sha256, GError **error)
{
  g_autofree char *abs = g_canonicalize_filename (path, NULL);
  g_autofree char *now = tagsight_now_iso8601 ();
  g_autofree char *contents = NULL;
  g_autofree char *digest = NULL;
  gsize len = 0;
  sqlite3_stmt *st;

  if (sha256)
    *sha256 = NULL;
  if (!g_file_get_contents (abs, &contents, &len, error))
    return FALSE;
  digest = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, len);
  st = tagsight_project_prepare (self, "INSERT INTO models (run_id, path, sha256, created) "
                                 "VALUES (?1, ?2, ?3, ?4)", N_("recording a model"), error);
  if (!st)
    return FALSE;
  if (run_id > 0)
    sqlite3_bind_int64 (st, 1, run_id);
  sqlite3_bind_text (st, 2, abs, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, 3, digest, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (st, 4, now, -1, SQLITE_TRANSIENT);
  if (!tagsight_project_step_done (self, st, N_("recording a model"), error))
    return FALSE;
  if (sha256)
    *sha256 = g_steal_pointer (&digest);
  return TRUE;
}
