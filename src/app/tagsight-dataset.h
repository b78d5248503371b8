/* tagsight-dataset.h: an opened CSV as the app holds it: the datablock, its
 * summary and the column mapping that produced them.  Immutable once built,
 * so worker threads may read it while the UI does. */
#pragma once

#include <gio/gio.h>

#include "ts-columns.h"
#include "ts-datablock.h"
#include "ts-summary.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_DATASET (tagsight_dataset_get_type ())
G_DECLARE_FINAL_TYPE (TagsightDataset, tagsight_dataset, TAGSIGHT, DATASET, GObject)

/* The mapping the user chose; NULL strings mean "as detected". */
typedef struct {
  char *fname_col;
  char *labels_col;
  char *label_delim;
  char *image_dir;
  ts_split_kind split;       /* TS_SPLIT_AUTO: detected */
  char *split_col;
  double valid_pct;
  /* A folder the user granted (see tagsight_dataset_resolve_folder): the
   * load looks for the CSV and its images there, with @image_dir a hint. */
  char *data_folder;
} TagsightMapping;

void tagsight_mapping_clear (TagsightMapping *m);
void tagsight_mapping_copy (const TagsightMapping *src, TagsightMapping *dst);

/* Reads the header and a few rows, fills in what @mapping leaves open from
 * ts_columns_detect_csv, loads the datablock and builds the summary.
 * Blocking: call it from a worker thread.  Fails (NULL, @error) only when
 * the file cannot be read or is empty. */
TagsightDataset *tagsight_dataset_load (const char *csv_path, const TagsightMapping *mapping,
                                        GCancellable *cancellable, GError **error);
void tagsight_dataset_load_async (const char *csv_path, const TagsightMapping *mapping,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
TagsightDataset *tagsight_dataset_load_finish (GAsyncResult *result, GError **error);

const char *tagsight_dataset_get_path (TagsightDataset *self);
/* When the header was read but the mapping gives nothing usable (a missing
 * column, say), the dataset carries the columns and this message, and no
 * datablock or summary. */
const char *tagsight_dataset_get_error (TagsightDataset *self);
const ts_datablock *tagsight_dataset_get_datablock (TagsightDataset *self);
const ts_summary *tagsight_dataset_get_summary (TagsightDataset *self);
/* The header's columns and the mapping in effect (every field filled). */
const char *const *tagsight_dataset_get_columns (TagsightDataset *self);
const TagsightMapping *tagsight_dataset_get_mapping (TagsightDataset *self);

/* File access.  In a sandbox (Flatpak) a CSV opened through the file
 * chooser portal is a lone file under the document portal's mount, without
 * the images beside it; the user must grant the folder that holds them. */
gboolean tagsight_in_sandbox (void);
/* Whether @path lies under the document portal's mount ($XDG_RUNTIME_DIR/doc
 * or /run/flatpak/doc); *doc_id (when not NULL) gets the document's id. */
gboolean tagsight_is_portal_document (const char *path, char **doc_id);

/* Where a CSV and its images are once the user has granted @folder.  When
 * @folder holds a file named like the CSV, that copy is the CSV (*csv_out)
 * and the images are looked for beside it; otherwise *csv_out is @csv_path.
 * The image folder (*image_dir_out, absolute) is the first of these where
 * the most of @fnames (NULL-terminated, as written in the CSV) exist:
 * @image_dir (the mapping's, relative to the CSV's folder, or absolute, and
 * then rebased from the CSV's folder onto @folder), @folder/train (fastai's
 * layout), @folder itself.  Returns how many of @fnames exist there. */
int tagsight_dataset_resolve_folder (const char *folder, const char *csv_path,
                                     const char *image_dir, const char *const *fnames,
                                     char **csv_out, char **image_dir_out);

#define TAGSIGHT_DATASET_ERROR (tagsight_dataset_error_quark ())
GQuark tagsight_dataset_error_quark (void);

G_END_DECLS
