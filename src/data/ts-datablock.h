/* ts-datablock.h: a CSV of (file name, labels, split) turned into items, a
 * vocab and train/valid splits, with fastai's DataBlock semantics
 * (MultiCategoryBlock + ColReader + ColSplitter / RandomSplitter).
 */
#pragma once

#include <stdint.h>

#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TS_SPLIT_AUTO,    /* "is_valid" column when present, else none */
  TS_SPLIT_COLUMN,  /* boolean column: True/False/1/0/yes/no, any case */
  TS_SPLIT_RANDOM,  /* valid_pct of the items, drawn with seed */
  TS_SPLIT_NONE,    /* everything trains; no validation set */
} ts_split_kind;

typedef struct {
  const char *fname_col;   /* NULL: "fname" */
  const char *labels_col;  /* NULL: "labels" */
  const char *label_delim; /* NULL: " " */
  const char *image_dir;   /* NULL: train/ beside the CSV when it exists, else the CSV's folder;
                              relative paths are relative to the CSV's folder */
  ts_split_kind split;
  const char *split_col;   /* NULL: "is_valid" */
  double valid_pct;        /* TS_SPLIT_RANDOM: 0.2 like fastai */
  uint64_t seed;
} ts_datablock_config;

void ts_datablock_config_init (ts_datablock_config *cfg);

typedef struct {
  char *fname;      /* as written in the CSV */
  char *path;       /* image_dir/fname */
  int *labels;      /* sorted vocab indices, no duplicates */
  int n_labels;     /* 0: the no-label ("None") item, all-zero target */
  int is_valid;
  int csv_line;     /* 1-based physical line where the record starts */
} ts_item;

typedef enum {
  TS_PROBLEM_MISSING_FILE,
  TS_PROBLEM_UNREADABLE_IMAGE,
  TS_PROBLEM_BAD_SPLIT_VALUE,
  TS_PROBLEM_DUPLICATE_FNAME,
  TS_PROBLEM_LABEL_WHITESPACE,
  TS_PROBLEM_EMPTY_FNAME,
  TS_PROBLEM_MALFORMED_ROW,  /* wrong field count, a quote that never closes, a NUL byte */
  TS_PROBLEM_INVALID_UTF8,   /* a row that is not UTF-8 (skipped) */
  TS_PROBLEM_UNKNOWN_LABEL,  /* a validation label no training item has (dropped from its
                                target: fastai's vocab comes from the training set) */
  TS_PROBLEM_N_KINDS
} ts_problem_kind;

#define TS_PROBLEM_MAX_EXAMPLES 5

typedef struct {
  ts_problem_kind kind;
  int count;
  int n_examples;
  int example_lines[TS_PROBLEM_MAX_EXAMPLES];   /* CSV lines */
  char *example_text[TS_PROBLEM_MAX_EXAMPLES];  /* what was wrong, one line each */
} ts_problem;

typedef struct ts_datablock {
  char *csv_path;
  char *image_dir;
  ts_datablock_config cfg;    /* with the defaults resolved; strings owned */
  char **columns;             /* header */
  int n_columns;

  ts_item *items;             /* every row that yielded a usable item */
  int n_items;
  char **vocab;               /* sorted (byte order, like Python's sorted) */
  int n_vocab;
  int *train_idx, n_train;    /* indices into items */
  int *valid_idx, n_valid;

  ts_problem problems[TS_PROBLEM_N_KINDS];
  int n_rows;                 /* data rows read from the CSV */

  int images_checked;         /* ts_datablock_check_images has run */
  struct ts_datablock_priv *priv;
} ts_datablock;

/* Reads and validates the CSV.  Fails (NULL, message naming the file, line and
 * column) only when nothing is usable: missing columns (the message lists the
 * columns found), one column named for both file names and labels, unreadable
 * file, no rows.  Row-level problems are recorded
 * in ->problems and the row is skipped or kept as fastai would.
 *
 * Decisions where fastai would crash or guess:
 * - a row with more fields than the header or too few to reach a column that
 *   is read (fewer are fine, as pandas fills them with NaN), invalid UTF-8, an
 *   empty file name or a split value that is not True/False/1/0/yes/no is
 *   skipped (putting it on either side could leak validation images into
 *   training);
 * - a file name seen before is skipped: the first row wins;
 * - empty labels from doubled, leading or trailing delimiters are dropped and
 *   whitespace around a label is trimmed, both recorded as LABEL_WHITESPACE;
 * - the vocab is built from the training items, like fastai's; a validation
 *   label outside it is dropped from that item and recorded (fastai raises);
 *   with no training items at all it comes from every item;
 * - TS_SPLIT_RANDOM: the first int(valid_pct * n) of a seeded permutation
 *   are validation, as fastai's RandomSplitter; both index lists ascending. */
ts_status ts_datablock_load (const char *csv_path, const ts_datablock_config *cfg,
                             ts_datablock **out);
/* Stats every image file and decodes its header; records missing and
 * unreadable images as problems and drops those items (the split of the
 * others is kept; the vocab is rebuilt).  Slow on big sets.  Returns an error
 * only when no item is left; @db stays valid either way. */
ts_status ts_datablock_check_images (ts_datablock *db);
/* After ts_datablock_check_images: the item's stored size and PIL mode
 * ("RGB", "L", ...).  Returns 0 when unknown. */
int ts_datablock_image_info (const ts_datablock *db, int item, int *width, int *height,
                             const char **mode);
void ts_datablock_free (ts_datablock *db);

/* Writes the n_vocab-long one-hot target of an item. */
void ts_datablock_onehot (const ts_datablock *db, int item, float *out);

/* Short plural name ("missing files") and one sentence on what was done. */
const char *ts_problem_kind_name (ts_problem_kind kind);
const char *ts_problem_kind_action (ts_problem_kind kind);
/* What the split rule resolved to, e.g. "column is_valid", "random 20% (seed 42)". */
const char *ts_split_kind_name (ts_split_kind kind);

#ifdef __cplusplus
}
#endif
