/* tagsight-dataset.c: loading a CSV off the main thread (see tagsight-dataset.h). */
#include "tagsight-dataset.h"

#include <glib/gi18n.h>
#include <string.h>

#include "ts-csv.h"

/* File names sampled from the CSV to tell which folder holds the images */
#define RESOLVE_SAMPLES 16

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
  g_clear_pointer (&m->data_folder, g_free);
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
  dst->data_folder = g_strdup (src->data_folder);
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

gboolean
tagsight_in_sandbox (void)
{
  return g_file_test ("/.flatpak-info", G_FILE_TEST_EXISTS);
}

/* @path's part below @dir ("." when equal), or NULL when it is not inside. */
static const char *
path_below (const char *path, const char *dir)
{
  size_t n = strlen (dir);

  while (n > 1 && dir[n - 1] == G_DIR_SEPARATOR)
    n--;
  if (strncmp (path, dir, n) != 0)
    return NULL;
  if (path[n] == '\0')
    return ".";
  if (path[n] != G_DIR_SEPARATOR)
    return NULL;
  while (path[n] == G_DIR_SEPARATOR)
    n++;
  return path[n] != '\0' ? path + n : ".";
}

gboolean
tagsight_is_portal_document (const char *path, char **doc_id)
{
  g_autofree char *user_mount = g_build_filename (g_get_user_runtime_dir (), "doc", NULL);
  const char *mounts[] = { user_mount, "/run/flatpak/doc" };

  for (guint i = 0; i < G_N_ELEMENTS (mounts); i++)
    {
      const char *rest = path_below (path, mounts[i]);
      const char *slash;

      if (rest == NULL || strcmp (rest, ".") == 0)
        continue;
      /* DOC_ID/NAME: the id alone is the portal's folder, not a document */
      slash = strchr (rest, G_DIR_SEPARATOR);
      if (slash == NULL || slash[1] == '\0')
        continue;
      if (doc_id != NULL)
        *doc_id = g_strndup (rest, slash - rest);
      return TRUE;
    }
  return FALSE;
}

static int
count_existing (const char *dir, const char *const *fnames)
{
  int n = 0;

  for (int i = 0; fnames != NULL && fnames[i] != NULL; i++)
    {
      g_autofree char *path = g_path_is_absolute (fnames[i])
                              ? g_strdup (fnames[i])
                              : g_build_filename (dir, fnames[i], NULL);

      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        n++;
    }
  return n;
}

int
tagsight_dataset_resolve_folder (const char *folder, const char *csv_path,
                                 const char *image_dir, const char *const *fnames,
                                 char **csv_out, char **image_dir_out)
{
  g_autofree char *csv_dir = g_path_get_dirname (csv_path);
  g_autofree char *base = g_path_get_basename (csv_path);
  g_autofree char *copy = g_build_filename (folder, base, NULL);
  g_autoptr (GPtrArray) candidates = g_ptr_array_new_with_free_func (g_free);
  int best = -1, best_count = 0;

  g_return_val_if_fail (folder != NULL && csv_path != NULL, 0);

  if (image_dir != NULL && image_dir[0] != '\0')
    {
      if (!g_path_is_absolute (image_dir))
        g_ptr_array_add (candidates, g_canonicalize_filename (image_dir, folder));
      else
        {
          /* a path into the CSV's old folder, which the sandbox cannot
           * read, is looked for at the same place in the granted one */
          const char *rel = path_below (image_dir, csv_dir);

          if (rel != NULL)
            g_ptr_array_add (candidates, g_canonicalize_filename (rel, folder));
          g_ptr_array_add (candidates, g_canonicalize_filename (image_dir, NULL));
        }
    }
  g_ptr_array_add (candidates, g_canonicalize_filename ("train", folder));
  g_ptr_array_add (candidates, g_canonicalize_filename (folder, NULL));
  for (guint i = 0; i < candidates->len; i++)
    {
      int n = count_existing (candidates->pdata[i], fnames);

      if (n > best_count)
        {
          best = (int) i;
          best_count = n;
        }
    }
  /* nothing found anywhere: the folder the user chose, so the summary
   * reports the images missing where they were asked to be */
  if (best < 0)
    best = (int) candidates->len - 1;
  *csv_out = g_file_test (copy, G_FILE_TEST_IS_REGULAR) ? g_steal_pointer (&copy)
                                                        : g_strdup (csv_path);
  *image_dir_out = g_strdup (candidates->pdata[best]);
  return best_count;
}

/* The first RESOLVE_SAMPLES file names of @fname_col (NULL-terminated). */
static GStrv
sample_fnames (const char *csv_path, const char *fname_col)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  ts_csv *csv = NULL;
  ts_csv_record rec;
  int col = -1;

  if (ts_csv_open (csv_path, &csv) != TS_OK)
    return g_new0 (char *, 1);
  if (ts_csv_next (csv, &rec) == 1)
    for (int i = 0; i < rec.n_fields; i++)
      if (g_strcmp0 (rec.fields[i], fname_col) == 0)
        col = i;
  while (col >= 0 && names->len < RESOLVE_SAMPLES && ts_csv_next (csv, &rec) == 1)
    if (rec.defect == TS_CSV_DEFECT_NONE && col < rec.n_fields && rec.fields[col][0] != '\0')
      g_ptr_array_add (names, g_strstrip (g_strdup (rec.fields[col])));
  ts_csv_free (csv);
  g_ptr_array_add (names, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&names), FALSE);
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
  if (self->mapping.data_folder != NULL)
    {
      g_auto (GStrv) fnames = sample_fnames (self->path, self->mapping.fname_col);
      char *resolved_csv = NULL, *resolved_dir = NULL;

      tagsight_dataset_resolve_folder (self->mapping.data_folder, self->path,
                                       self->mapping.image_dir, (const char *const *) fnames,
                                       &resolved_csv, &resolved_dir);
      g_free (self->path);
      self->path = resolved_csv;
      g_free (self->mapping.image_dir);
      self->mapping.image_dir = resolved_dir;
    }

  ts_datablock_config_init (&cfg);
  cfg.fname_col = self->mapping.fname_col;
  cfg.labels_col = self->mapping.labels_col;
  cfg.label_delim = self->mapping.label_delim;
  cfg.image_dir = self->mapping.image_dir;
  cfg.split = self->mapping.split;
  cfg.split_col = self->mapping.split_col;
  cfg.valid_pct = self->mapping.valid_pct;
  st = ts_datablock_load (self->path, &cfg, &self->db);
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
