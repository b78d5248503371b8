/* tagsight-project.h: a Tagsight project file (*.tagsight, SQLite).
 *
 * One project holds data sets (a CSV and how to read it), their items, every
 * label edit (with undo and redo), training runs (recipe, device, times,
 * status, checkpoint), per-epoch and per-batch metrics, the final validation
 * predictions of each run and the exported models (path and SHA-256).
 *
 * Guarantees (docs/projects.md): WAL journal, foreign keys on, a busy
 * timeout; every call that writes is one transaction, so a SIGKILL at any
 * moment loses at most the call in flight and never corrupts the file; the
 * schema is versioned with PRAGMA user_version and migrated forward in one
 * transaction on open; a file from a newer Tagsight, a corrupt file or a
 * SQLite file that is not a project is refused without being modified; a
 * project whose file or folder cannot be written opens read-only, and then
 * nothing is written to it or created beside it.
 *
 * Not thread-safe: use a project from one thread at a time (the app hands
 * training events to its main context, the CLI is single-threaded). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define TAGSIGHT_PROJECT_SCHEMA_VERSION 1
/* PRAGMA application_id: "TgSt" */
#define TAGSIGHT_PROJECT_APPLICATION_ID 0x54675374

#define TAGSIGHT_TYPE_PROJECT (tagsight_project_get_type ())
G_DECLARE_FINAL_TYPE (TagsightProject, tagsight_project, TAGSIGHT, PROJECT, GObject)

typedef enum {
  TAGSIGHT_PROJECT_OPEN_CREATE = 1 << 0,   /* create the file when it does not exist */
  TAGSIGHT_PROJECT_OPEN_READ_ONLY = 1 << 1,   /* never write to it (see below) */
} TagsightProjectOpenFlags;

/* Why a project is read-only (docs/projects.md, "Read-only projects"). */
typedef enum {
  TAGSIGHT_PROJECT_WRITABLE,
  TAGSIGHT_PROJECT_READ_ONLY_ASKED,    /* opened with TAGSIGHT_PROJECT_OPEN_READ_ONLY */
  TAGSIGHT_PROJECT_READ_ONLY_FILE,     /* the file cannot be written */
  TAGSIGHT_PROJECT_READ_ONLY_FOLDER,   /* its folder cannot be written (SQLite's journal
                                        * files live beside the project) */
} TagsightProjectAccess;

/* Errors: G_IO_ERROR_NOT_FOUND (no such file), G_IO_ERROR_INVALID_DATA (corrupt,
 * or not a Tagsight project), G_IO_ERROR_NOT_SUPPORTED (newer schema, or an
 * older one that a read-only project cannot be updated from),
 * G_IO_ERROR_BUSY (locked by another process), G_IO_ERROR_READ_ONLY (a new
 * project in a folder that cannot be written), G_IO_ERROR_FAILED (others).
 * A file or folder that cannot be written opens read-only by itself, as
 * TAGSIGHT_PROJECT_OPEN_READ_ONLY does: every read works, every call that
 * writes fails with G_IO_ERROR_READ_ONLY naming the file, nothing is
 * written to the file or created beside it.
 * @busy_timeout_ms: how long a write waits for another process's lock
 * (tagsight_project_open uses 5000). */
TagsightProject *tagsight_project_open_full (const char *path, TagsightProjectOpenFlags flags,
                                             int busy_timeout_ms, GError **error);
TagsightProject *tagsight_project_open (const char *path, TagsightProjectOpenFlags flags,
                                        GError **error);
const char *tagsight_project_get_path (TagsightProject *self);
TagsightProjectAccess tagsight_project_get_access (TagsightProject *self);
gboolean tagsight_project_is_read_only (TagsightProject *self);
/* Why the project is read-only, for people, in their language ("its folder
 * cannot be written"); NULL when it can be written.  The store's read-only
 * errors, the CLI and the app all say it in these words. */
const char *tagsight_project_get_read_only_reason (TagsightProject *self);
/* TRUE when the project can be written; else FALSE with G_IO_ERROR_READ_ONLY
 * naming the file, why, and the way out (a copy): what a caller that is
 * about to write checks first, before any work. */
gboolean tagsight_project_check_writable (TagsightProject *self, GError **error);
int tagsight_project_get_schema_version (TagsightProject *self);

/* Runs PRAGMA integrity_check; TRUE when it says "ok". */
gboolean tagsight_project_check_integrity (TagsightProject *self, char **report,
                                           GError **error);

/* Save As: writes a compacted copy of the project to @path, which must not
 * exist (G_IO_ERROR_EXISTS).  The open project stays as it is; open the copy
 * to continue there.  Works on a read-only project too: the way to change one. */
gboolean tagsight_project_save_copy (TagsightProject *self, const char *path, GError **error);

/* Key/value settings (where the user was: page, selected run, ...). */
gboolean tagsight_project_set_setting (TagsightProject *self, const char *key,
                                       const char *value, GError **error);
char *tagsight_project_dup_setting (TagsightProject *self, const char *key);

/* --- data sets and items --- */

typedef struct {
  gint64 id;
  char *csv_path;          /* absolute */
  char *fname_col, *labels_col, *valid_col;   /* valid_col may be NULL */
  char *label_delim;
  char *image_dir;         /* may be NULL: beside the CSV */
  int n_items;
} TagsightDataset;

void tagsight_dataset_free (TagsightDataset *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TagsightDataset, tagsight_dataset_free)

/* Reads the CSV (fastai's fname,labels,is_valid layout by default: @fname_col,
 * @labels_col NULL mean "fname" and "labels"; @valid_col NULL means
 * "is_valid" when present) and records every row as an item, in one
 * transaction.  *@id receives the data set's id. */
gboolean tagsight_project_add_dataset (TagsightProject *self, const char *csv_path,
                                       const char *fname_col, const char *labels_col,
                                       const char *valid_col, const char *label_delim,
                                       gint64 *id, GError **error);
/* The data set recorded for @csv_path (canonicalised; the newest when there
 * are several), or a new one added with fastai's default columns.  Returns
 * its id, 0 on error. */
gint64 tagsight_project_find_or_add_dataset (TagsightProject *self, const char *csv_path,
                                             GError **error);
/* The data sets, oldest first (a GPtrArray of TagsightDataset). */
GPtrArray *tagsight_project_list_datasets (TagsightProject *self, GError **error);
TagsightDataset *tagsight_project_get_dataset (TagsightProject *self, gint64 id,
                                               GError **error);
/* The CSV moved: point the data set at its new location, keeping everything. */
gboolean tagsight_project_relocate_dataset (TagsightProject *self, gint64 id,
                                            const char *new_csv_path, GError **error);
/* The images moved, or live in another folder than the default: @image_dir
 * (made absolute) becomes the data set's image folder; NULL means the
 * default again (beside the CSV).  Keeps everything else. */
gboolean tagsight_project_set_dataset_image_dir (TagsightProject *self, gint64 id,
                                                 const char *image_dir, GError **error);

typedef struct {
  gint64 id;
  int row;                 /* 0-based data row of the CSV */
  char *fname;
  char *labels;            /* current labels, space-separated, sorted */
  char *original_labels;   /* as in the CSV */
  gboolean is_valid;
} TagsightItem;

void tagsight_item_free (TagsightItem *it);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TagsightItem, tagsight_item_free)

GPtrArray *tagsight_project_list_items (TagsightProject *self, gint64 dataset_id,
                                        GError **error);
TagsightItem *tagsight_project_get_item (TagsightProject *self, gint64 dataset_id, int row,
                                         GError **error);

/* --- label edits --- */

/* Sets an item's labels (normalised: split on spaces, deduplicated, sorted)
 * and records the edit with its time, old and new labels and @source
 * ("user", "suggestion", ...).  Forgets the redo history, like any editor.
 * *@edit_id (may be NULL) receives the edit's id; a no-op change records nothing
 * and gives 0. */
gboolean tagsight_project_set_labels (TagsightProject *self, gint64 item_id,
                                      const char *labels, const char *source,
                                      gint64 *edit_id, GError **error);
/* Adds or removes one label (what accepting a label-issue suggestion does). */
gboolean tagsight_project_toggle_label (TagsightProject *self, gint64 item_id,
                                        const char *label, gboolean present,
                                        const char *source, gint64 *edit_id, GError **error);
gboolean tagsight_project_can_undo (TagsightProject *self);
gboolean tagsight_project_can_redo (TagsightProject *self);
/* Undoes the latest applied edit; *@item_id (may be NULL) receives its item.
 * Returns FALSE without error when there is nothing to undo. */
gboolean tagsight_project_undo (TagsightProject *self, gint64 *item_id, GError **error);
gboolean tagsight_project_redo (TagsightProject *self, gint64 *item_id, GError **error);

typedef struct {
  gint64 id, item_id;
  char *time;              /* ISO 8601, UTC */
  char *old_labels, *new_labels;
  char *source;
  char *state;             /* "applied", "undone", "dropped" (undone, then a new edit) */
} TagsightLabelEdit;

void tagsight_label_edit_free (TagsightLabelEdit *e);
GPtrArray *tagsight_project_list_label_edits (TagsightProject *self, gint64 dataset_id,
                                              GError **error);

/* Writes the data set's CSV with its current labels: every other column,
 * the header and the row order as in the original file (RFC 4180 quoting
 * where a field needs it).  Written atomically. */
gboolean tagsight_project_export_labels_csv (TagsightProject *self, gint64 dataset_id,
                                             const char *out_path, GError **error);

/* --- runs --- */

typedef enum {
  TAGSIGHT_RUN_RUNNING,
  TAGSIGHT_RUN_FINISHED,
  TAGSIGHT_RUN_CANCELLED,
  TAGSIGHT_RUN_FAILED,
} TagsightRunStatus;

const char *tagsight_run_status_to_string (TagsightRunStatus s);

typedef struct {
  gint64 id;
  gint64 dataset_id;       /* 0: none */
  char *recipe;            /* JSON */
  char *device;
  char *started, *ended;   /* ISO 8601 UTC; ended NULL while running */
  TagsightRunStatus status;
  char *message;           /* why it failed / was cancelled; may be NULL */
  char *checkpoint;        /* path of its latest checkpoint; may be NULL */
  int n_epochs_done;       /* epoch rows recorded */
  double last_train_loss, last_valid_loss, last_accuracy;   /* NaN when none */
  char *model_path;        /* latest exported model; may be NULL */
} TagsightRun;

void tagsight_run_free (TagsightRun *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TagsightRun, tagsight_run_free)

gboolean tagsight_project_begin_run (TagsightProject *self, gint64 dataset_id,
                                     const char *recipe_json, const char *device,
                                     gint64 *run_id, GError **error);
gboolean tagsight_project_set_run_checkpoint (TagsightProject *self, gint64 run_id,
                                              const char *path, GError **error);
/* What the run computes on, once known (the session's name for it). */
gboolean tagsight_project_set_run_device (TagsightProject *self, gint64 run_id,
                                          const char *device, GError **error);
/* A file of run @run_id beside the project: "dir/P.tagsight" gives
 * "dir/P-runN.@suffix" (the model "safetensors", the checkpoint "ckpt"). */
char *tagsight_project_run_file (TagsightProject *self, gint64 run_id, const char *suffix);
/* Ends a run; @message may be NULL. */
gboolean tagsight_project_end_run (TagsightProject *self, gint64 run_id,
                                   TagsightRunStatus status, const char *message,
                                   GError **error);
/* Marks a run running again (resume) and deletes the metrics recorded after
 * (@phase, @epoch), the checkpoint's position: they will be recomputed. */
gboolean tagsight_project_reopen_run (TagsightProject *self, gint64 run_id, int phase,
                                      int epoch, GError **error);
GPtrArray *tagsight_project_list_runs (TagsightProject *self, GError **error);
TagsightRun *tagsight_project_get_run (TagsightProject *self, gint64 run_id, GError **error);
/* The latest run that is not finished (for resume); 0 when none. */
gint64 tagsight_project_latest_unfinished_run (TagsightProject *self, GError **error);

gboolean tagsight_project_add_epoch_metrics (TagsightProject *self, gint64 run_id, int phase,
                                             int epoch, double train_loss, double valid_loss,
                                             double accuracy, double seconds, GError **error);
gboolean tagsight_project_add_batch_metrics (TagsightProject *self, gint64 run_id, int phase,
                                             int epoch, int batch, int step, double loss,
                                             double smooth_loss, double lr, double mom,
                                             GError **error);

typedef struct {
  int phase, epoch;
  double train_loss, valid_loss, accuracy, seconds;
} TagsightEpochMetrics;

/* GArray of TagsightEpochMetrics, in training order. */
GArray *tagsight_project_get_epoch_metrics (TagsightProject *self, gint64 run_id,
                                            GError **error);

typedef struct {
  int phase, epoch, batch, step;
  double loss, smooth_loss, lr, mom;
} TagsightBatchMetrics;

/* GArray of TagsightBatchMetrics (the loss curve), in training order. */
GArray *tagsight_project_get_batch_metrics (TagsightProject *self, gint64 run_id,
                                            GError **error);

/* The final validation predictions of a run: @n rows of @n_classes
 * probabilities and given labels; @rows are the items' CSV data rows.
 * Replaces earlier predictions of the run. */
gboolean tagsight_project_set_predictions (TagsightProject *self, gint64 run_id, int n,
                                           int n_classes, const int *rows, const float *probs,
                                           const float *targets, GError **error);
/* Reads them back (g_free the arrays); *@n = 0 when the run has none. */
gboolean tagsight_project_get_predictions (TagsightProject *self, gint64 run_id, int *n,
                                           int *n_classes, int **rows, float **probs,
                                           float **targets, GError **error);

/* Records an exported model: its path (made absolute) and the SHA-256 of its
 * bytes, computed here.  *@sha256 (may be NULL) receives the hex digest. */
gboolean tagsight_project_add_model (TagsightProject *self, gint64 run_id, const char *path,
                                     char **sha256, GError **error);

G_END_DECLS
