/* tagsight-dataset.c: loading a CSV off the main thread (see tagsight-dataset.h). */
#include "tagsight-dataset.h"

#include <glib/gi18n.h>


struct _TagsightDataset
{
  GObject parent_instance;

  char *path;
  ts_datablock *db;
  ts_summary *summary;
  GStrv columns;
  TagsightMapping mapping;
  char *error;
};

G_DEFINE_FINAL_TYPE (TagsightDataset, tagsight_dataset, G_TYPE_OBJECT)
G_DEFINE_QUARK (tagsight-dataset-error-quark, tagsight_dataset_error)

void
tagsight_mapping_clear (TagsightMapping *m)
{
  g_clear_pointer (&m->fname_col, g_free);
  g_clear_pointer (&m->labels_col, g_free);
  g_clear_pointer (&m->label_delim, g_free);
  g_clear_pointer (&m->image_dir, g_free);
  g_clear_pointer (&m->split_col, g_free);
}

void
tagsight_mapping_copy (const TagsightMapping *src, TagsightMapping *dst)
{
  dst->fname_col = g_strdup (src->fname_col);
  dst->labels_col = g_strdup (src->labels_col);
  dst->label_delim = g_strdup (src->label_delim);
  dst->image_dir = g_strdup (src->image_dir);
  dst->split = src->split;
  dst->split_col = g_strdup (src->split_col);
  dst->valid_pct = src->valid_pct;
}

static void
tagsight_dataset_finalize (GObject *object)
{
  TagsightDataset *self = TAGSIGHT_DATASET (object);

  g_free (self->path);
  g_clear_pointer (&self->summary, ts_summary_free);
  g_clear_pointer (&self->db, ts_datablock_free);
  g_strfreev (self->columns);
  g_free (self->error);
  tagsight_mapping_clear (&self->mapping);
  G_OBJECT_CLASS (tagsight_dataset_parent_class)->finalize (object);
}

static void
tagsight_dataset_class_init (TagsightDatasetClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = tagsight_dataset_finalize;
}

static void
tagsight_dataset_init (TagsightDataset *self)
{
}

static gboolean
set_ts_error (GError **error, ts_status st)
{
  g_set_error_literal (error, TAGSIGHT_DATASET_ERROR, st, ts_last_error ());
  return FALSE;
}

/* Header and sample rows, then the guess for every field the user left open. */
static gboolean
detect (TagsightDataset *self, GError **error)
{
  ts_column_detection d;
  ts_column_guess guess;
  ts_status st;

  if ((st = ts_columns_detect_csv (self->path, &d)) != TS_OK)
    {
      ts_column_detection_clear (&d);
      if (st != TS_ERR_FORMAT)
        return set_ts_error (error, st);
      g_set_error (error, TAGSIGHT_DATASET_ERROR, TS_ERR_FORMAT, _("%s: the file is empty"),
                   self->path);
      return FALSE;
    }
  guess = d.guess;
  self->columns = g_new0 (char *, d.n_columns + 1);
  for (int i = 0; i < d.n_columns; i++)
    self->columns[i] = g_strdup (d.columns[i]);
  ts_column_detection_clear (&d);

  if (self->mapping.fname_col == NULL)
    self->mapping.fname_col = g_strdup (self->columns[guess.fname]);
  if (self->mapping.labels_col == NULL && guess.labels >= 0)
    self->mapping.labels_col = g_strdup (self->columns[guess.labels]);
  if (self->mapping.label_delim == NULL)
    self->mapping.label_delim = g_strdup (guess.delim);
  if (self->mapping.split == TS_SPLIT_AUTO)
    {
      self->mapping.split = guess.split >= 0 ? TS_SPLIT_COLUMN : TS_SPLIT_RANDOM;
      if (guess.split >= 0 && self->mapping.split_col == NULL)
        self->mapping.split_col = g_strdup (self->columns[guess.split]);
    }
  if (self->mapping.valid_pct <= 0 || self->mapping.valid_pct >= 1)
    self->mapping.valid_pct = 0.2;
  return TRUE;
}

TagsightDataset *
tagsight_dataset_load (const char *csv_path, const TagsightMapping *mapping,
                       GCancellable *cancellable, GError **error)
{
  g_autoptr (TagsightDataset) self = g_object_new (TAGSIGHT_TYPE_DATASET, NULL);
  ts_datablock_config cfg;
  ts_summary_options opt;
  ts_status st;

  self->path = g_strdup (csv_path);
  tagsight_mapping_copy (mapping, &self->mapping);
  if (!detect (self, error))
    return NULL;
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  ts_datablock_config_init (&cfg);
  cfg.fname_col = self->mapping.fname_col;
  cfg.labels_col = self->mapping.labels_col;
  cfg.label_delim = self->mapping.label_delim;
  cfg.image_dir = self->mapping.image_dir;
  cfg.split = self->mapping.split;
  cfg.split_col = self->mapping.split_col;
  cfg.valid_pct = self->mapping.valid_pct;
  st = ts_datablock_load (csv_path, &cfg, &self->db);
  if (st != TS_OK)
    {
      /* the header is known: the user can fix the mapping from here */
      self->error = g_strdup (ts_last_error ());
      return g_steal_pointer (&self);
    }
  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  ts_summary_options_init (&opt);
  st = ts_summary_build (self->db, &opt, &self->summary);
  if (st != TS_OK)
    return set_ts_error (error, st), NULL;
  if (self->mapping.image_dir == NULL)
    self->mapping.image_dir = g_strdup (self->db->image_dir);
  return g_steal_pointer (&self);
}

typedef struct {
  char *path;
  TagsightMapping mapping;
} LoadData;

static void
load_data_free (LoadData *d)
{
  g_free (d->path);
  tagsight_mapping_clear (&d->mapping);
  g_free (d);
}

static void
load_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  LoadData *d = task_data;
  GError *error = NULL;
  TagsightDataset *ds = tagsight_dataset_load (d->path, &d->mapping, cancellable, &error);

  if (ds == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, ds, g_object_unref);
}

void
tagsight_dataset_load_async (const char *csv_path, const TagsightMapping *mapping,
                             GCancellable *cancellable, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_autoptr (GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  LoadData *d = g_new0 (LoadData, 1);

  d->path = g_strdup (csv_path);
  tagsight_mapping_copy (mapping, &d->mapping);
  g_task_set_task_data (task, d, (GDestroyNotify) load_data_free);
  g_task_set_source_tag (task, tagsight_dataset_load_async);
  g_task_run_in_thread (task, load_thread);
}

TagsightDataset *
tagsight_dataset_load_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

const char *
tagsight_dataset_get_path (TagsightDataset *self)
{
  return self->path;
}

const ts_datablock *
tagsight_dataset_get_datablock (TagsightDataset *self)
{
  return self->db;
}

const ts_summary *
tagsight_dataset_get_summary (TagsightDataset *self)
{
  return self->summary;
}

const char *const *
tagsight_dataset_get_columns (TagsightDataset *self)
{
  return (const char *const *) self->columns;
}

const char *
tagsight_dataset_get_error (TagsightDataset *self)
{
  return self->error;
}

const TagsightMapping *
tagsight_dataset_get_mapping (TagsightDataset *self)
{
  return &self->mapping;
}
