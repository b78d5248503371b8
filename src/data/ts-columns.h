/* ts-columns.h: guessing the column mapping of a CSV from its header and a
 * few rows (file names, labels, a boolean validation column, the label
 * delimiter), so the app and the CLI open the common layouts with no
 * options, and read them the same way. */
#pragma once

#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int fname;        /* column index of the file names */
  int labels;       /* column of the labels; -1 when none fits */
  int split;        /* boolean validation column; -1: split at random */
  char delim[4];    /* label delimiter: " ", ";", ",", "|" */
} ts_column_guess;

/* @rows: @n_rows sample rows of @n_columns fields each (NULL entries allowed
 * for short rows). */
void ts_columns_detect (const char *const *columns, int n_columns,
                        const char *const *const *rows, int n_rows, ts_column_guess *out);

/* True/False/1/0/yes/no in any case, surrounding blanks allowed */
int ts_columns_is_boolean (const char *value);
const char *ts_columns_guess_delimiter (const char *const *samples, int n_samples);

/* The label delimiter in words for messages ("a space", translated), NULL
 * for one without a name (quote it instead).  A quoted space is unreadable
 * in languages that put spaces inside their quotes (French: « ␣ »). */
const char *ts_columns_delimiter_name (const char *delim);

/* How many data rows ts_columns_detect_csv samples */
#define TS_COLUMNS_SAMPLE_ROWS 20

typedef struct {
  char **columns;   /* the header's names (malloc'ed) */
  int n_columns;
  ts_column_guess guess;
} ts_column_detection;

/* Reads the header and the first TS_COLUMNS_SAMPLE_ROWS rows of @csv_path (less
 * those the CSV reader finds defective, which the datablock skips) and
 * guesses.  Fails when the file cannot be read, or with TS_ERR_FORMAT (and
 * only then) when it is empty.  Clear @out with ts_column_detection_clear
 * (also after a failure). */
ts_status ts_columns_detect_csv (const char *csv_path, ts_column_detection *out);
void ts_column_detection_clear (ts_column_detection *d);

#ifdef __cplusplus
}
#endif
