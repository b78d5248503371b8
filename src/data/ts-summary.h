/* ts-summary.h: what fastai's DataBlock.summary shows, as data the app can
 * lay out and as plain text for the command line: counts, split, vocab, one
 * sample traced through every pipeline step, per-class counts for train and
 * valid, and every problem found. */
#pragma once

#include "ts-datablock.h"
#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int size;           /* item transform output side: 128 */
  double min_scale;   /* RandomResizedCrop min_scale: 0.35 */
  int check_images;   /* probe every image (finds missing and unreadable ones): 1 */
  int sample;         /* item to trace; -1: the first training item */
} ts_summary_options;

void ts_summary_options_init (ts_summary_options *opt);

typedef struct {
  const char *name;   /* "row", "path", "image", "labels", "indices", "one-hot", ... */
  const char *what;   /* the step that produced it, fastai's name: "ColReader('fname')" */
  char *value;        /* the intermediate value, one line */
} ts_summary_step;

typedef struct {
  char *name;
  int n_train, n_valid;  /* items carrying the label */
} ts_summary_class;

typedef struct {
  char mode[8];
  int width, height;
  int count;
} ts_summary_shape;

typedef struct {
  char *csv_path;
  char *image_dir;
  int image_dir_exists;
  char *fname_col, *labels_col, *label_delim;
  char *split;               /* "column \"is_valid\"", "random 20% (seed 42)", "none" */
  ts_split_kind split_kind;

  int n_rows, n_items, n_train, n_valid;
  int n_no_label_train, n_no_label_valid;
  int n_labels_total;        /* label occurrences over all items */

  char **vocab;
  int n_vocab;
  ts_summary_class *classes; /* n_vocab of them, vocab order */

  int sample_item;           /* -1 when there is none */
  int sample_is_valid;
  int sample_line;
  ts_summary_step *steps;    /* from the CSV row to the one-hot target */
  int n_steps;
  ts_summary_step *tfm_steps;/* what the loader does next (descriptions) */
  int n_tfm_steps;

  int images_checked;
  ts_summary_shape *shapes;  /* distinct (mode, size), most common first */
  int n_shapes;

  ts_problem problems[TS_PROBLEM_N_KINDS];  /* copies; texts owned */
  int n_problem_rows;        /* sum of the counts */
  int usable;                /* at least one training item */
} ts_summary;

/* Builds the summary of @db; with opt->check_images it first runs
 * ts_datablock_check_images (which drops missing and unreadable items from
 * @db).  Fails only when out of memory: a data set with nothing usable gives
 * a summary with usable = 0 that explains why. */
ts_status ts_summary_build (ts_datablock *db, const ts_summary_options *opt, ts_summary **out);

/* Loads @csv_path and builds its summary: the one call the app and the CLI
 * make.  Fails (message naming file, line and column) when the CSV gives
 * nothing usable at all. */
ts_status ts_summary_run (const char *csv_path, const ts_datablock_config *cfg,
                          const ts_summary_options *opt, ts_summary **out);

void ts_summary_free (ts_summary *s);

/* The summary as text for a terminal (@color: ANSI bold and colour), newly
 * allocated, or NULL when out of memory. */
char *ts_summary_render_text (const ts_summary *s, int color);

#ifdef __cplusplus
}
#endif
