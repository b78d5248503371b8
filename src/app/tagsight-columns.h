/* tagsight-columns.h: guessing the column mapping of a CSV from its header
 * and a few rows, so opening a file needs no typing in the common cases. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  int fname;        /* column index of the file names */
  int labels;       /* column of the labels; -1 when none fits */
  int split;        /* boolean validation column; -1: split at random */
  char delim[4];    /* label delimiter: " ", ";", ",", "|" */
} TagsightColumnGuess;

/* @rows: @n_rows sample rows of @n_columns fields each (NULL entries allowed
 * for short rows). */
void tagsight_columns_detect (const char *const *columns, int n_columns,
                              const char *const *const *rows, int n_rows,
                              TagsightColumnGuess *out);

gboolean tagsight_columns_is_boolean (const char *value);
const char *tagsight_columns_guess_delimiter (const char *const *samples, int n_samples);

G_END_DECLS
