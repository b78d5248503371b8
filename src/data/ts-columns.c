/* ts-columns.c: column mapping detection (see ts-columns.h). */
#include "ts-columns.h"

#include <stdlib.h>
#include <string.h>

#include "ts-csv.h"
#include "ts-i18n.h"

static int
is_alnum (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static char
to_lower (char c)
{
  return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

/* Compares @name lower-cased, with everything but letters and digits
 * dropped, to @want, so that "Image ID", "image_id" and "imageId" all match
 * "imageid". */
static int
name_is (const char *name, const char *want)
{
  for (const char *p = name; p != NULL && *p != '\0'; p++)
    if (is_alnum (*p))
      {
        if (*want == '\0' || to_lower (*p) != *want)
          return 0;
        want++;
      }
  return name != NULL && *want == '\0';
}

static int
find_named (const char *const *columns, int n_columns, const char *const *names, int skip1,
            int skip2)
{
  /* the order of @names is the preference order */
  for (int k = 0; names[k] != NULL; k++)
    for (int i = 0; i < n_columns; i++)
      if (i != skip1 && i != skip2 && name_is (columns[i], names[k]))
        return i;
  return -1;
}

int
ts_columns_is_boolean (const char *value)
{
  static const char *const ok[] = { "true", "false", "1", "0", "yes", "no", NULL };
  const char *start, *end;
  size_t len;

  if (value == NULL)
    return 0;
  for (start = value; *start == ' ' || *start == '\t' || *start == '\r' || *start == '\n';)
    start++;
  end = start + strlen (start);
  while (end > start && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
    end--;
  len = (size_t) (end - start);
  for (int k = 0; ok[k] != NULL; k++)
    {
      size_t i;

      if (strlen (ok[k]) != len)
        continue;
      for (i = 0; i < len && to_lower (start[i]) == ok[k][i]; i++)
        ;
      if (i == len)
        return 1;
    }
  return 0;
}

static int
has_suffix (const char *s, const char *suffix)
{
  size_t n = strlen (s), m = strlen (suffix);

  return n >= m && memcmp (s + n - m, suffix, m) == 0;
}

static int
looks_like_image (const char *value)
{
  static const char *const ext[] = { ".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG", NULL };

  for (int k = 0; value != NULL && ext[k] != NULL; k++)
    if (has_suffix (value, ext[k]))
      return 1;
  return 0;
}

static const char *
cell (const char *const *const *rows, int r, int c, int n_columns)
{
  if (c < 0 || c >= n_columns || rows[r] == NULL)
    return NULL;
  return rows[r][c];
}

/* Share of the sample rows where column @c satisfies @pred. */
static double
share (const char *const *const *rows, int n_rows, int c, int n_columns,
       int (*pred) (const char *))
{
  int hits = 0;

  if (n_rows == 0)
    return 0;
  for (int r = 0; r < n_rows; r++)
    if (pred (cell (rows, r, c, n_columns)))
      hits++;
  return (double) hits / n_rows;
}

const char *
ts_columns_guess_delimiter (const char *const *samples, int n_samples)
{
  /* a separator other than space wins as soon as any sample uses it: labels
   * with spaces inside ("traffic light") are why people pick one */
  static const char *const seps[] = { ";", "|", ",", NULL };

  for (int k = 0; seps[k] != NULL; k++)
    for (int i = 0; i < n_samples; i++)
      if (samples[i] != NULL && strstr (samples[i], seps[k]) != NULL)
        return seps[k];
  return " ";
}

const char *
ts_columns_delimiter_name (const char *delim)
{
  if (strcmp (delim, " ") == 0)
    return TS_("a space");
  if (strcmp (delim, "\t") == 0)
    return TS_("a tab");
  if (strcmp (delim, ";") == 0)
    return TS_("a semicolon");
  if (strcmp (delim, ",") == 0)
    return TS_("a comma");
  if (strcmp (delim, "|") == 0)
    return TS_("a vertical bar");
  return NULL;
}

void
ts_columns_detect (const char *const *columns, int n_columns,
                   const char *const *const *rows, int n_rows, ts_column_guess *out)
{
  static const char *const fname_names[] = {
    "fname", "filename", "file", "imagename", "image", "img", "imagepath", "path",
    "imagefile", "imageid", "id", "name", NULL
  };
  static const char *const label_names[] = {
    "labels", "label", "tags", "tag", "classes", "class", "categories", "category",
    "targets", "target", "y", NULL
  };
  static const char *const split_names[] = {
    "isvalid", "valid", "isval", "isvalidation", "validation", "val", NULL
  };
  const char **samples;
  const char *delim;

  out->fname = find_named (columns, n_columns, fname_names, -1, -1);
  if (out->fname < 0)
    for (int i = 0; i < n_columns && out->fname < 0; i++)
      if (n_rows > 0 && share (rows, n_rows, i, n_columns, looks_like_image) > 0.5)
        out->fname = i;
  if (out->fname < 0)
    out->fname = 0;

  /* a column named like a split is one when most of its values are booleans:
   * the odd bad value is a data problem the datablock reports by line, but a
   * column of other values ("train", "test") would drop every row */
  out->split = find_named (columns, n_columns, split_names, out->fname, -1);
  if (out->split >= 0 && n_rows > 0
      && share (rows, n_rows, out->split, n_columns, ts_columns_is_boolean) <= 0.5)
    out->split = -1;

  out->labels = find_named (columns, n_columns, label_names, out->fname, out->split);
  if (out->labels < 0)
    for (int i = 0; i < n_columns && out->labels < 0; i++)
      if (i != out->fname && i != out->split
          && (n_rows == 0 || share (rows, n_rows, i, n_columns, ts_columns_is_boolean) < 1.0))
        out->labels = i;

  /* an unnamed boolean column is the split when nothing else claimed it */
  if (out->split < 0)
    for (int i = 0; i < n_columns && out->split < 0; i++)
      if (i != out->fname && i != out->labels && n_rows > 0
          && share (rows, n_rows, i, n_columns, ts_columns_is_boolean) == 1.0)
        out->split = i;

  /* no memory for the samples: the default delimiter, as with no rows */
  samples = malloc ((size_t) (n_rows > 0 ? n_rows : 1) * sizeof *samples);
  for (int r = 0; samples != NULL && r < n_rows; r++)
    samples[r] = cell (rows, r, out->labels, n_columns);
  delim = samples != NULL ? ts_columns_guess_delimiter (samples, n_rows) : " ";
  free (samples);
  memset (out->delim, 0, sizeof out->delim);
  strncpy (out->delim, delim, sizeof out->delim - 1);
}

static void
free_rows (char ***rows, int n_rows, int n_columns)
{
  for (int r = 0; r < n_rows; r++)
    {
      for (int i = 0; rows[r] != NULL && i < n_columns; i++)
        free (rows[r][i]);
      free (rows[r]);
    }
}

static char *
dup_or_null (const char *s, int *failed)
{
  char *d = s ? strdup (s) : NULL;

  if (s && !d)
    *failed = 1;
  return d;
}

ts_status
ts_columns_detect_csv (const char *csv_path, ts_column_detection *out)
{
  char **rows[TS_COLUMNS_SAMPLE_ROWS] = { 0 };
  ts_csv_record rec;
  ts_csv *csv = NULL;
  ts_status st;
  int n_rows = 0, failed = 0, next;

  memset (out, 0, sizeof *out);
  if ((st = ts_csv_open (csv_path, &csv)) != TS_OK)
    return st;
  if ((next = ts_csv_next (csv, &rec)) != 1)
    {
      ts_csv_free (csv);
      return next < 0 ? TS_ERR_NOMEM : ts_error (TS_ERR_FORMAT, "%s: the file is empty", csv_path);
    }
  out->columns = calloc ((size_t) rec.n_fields + 1, sizeof (char *));
  if (out->columns == NULL)
    failed = 1;
  else
    out->n_columns = rec.n_fields;
  for (int i = 0; i < out->n_columns; i++)
    out->columns[i] = dup_or_null (rec.fields[i], &failed);
  while (!failed && n_rows < TS_COLUMNS_SAMPLE_ROWS && ts_csv_next (csv, &rec) == 1)
    {
      char **row;

      /* the datablock skips a defective record; its text (the rest of the
       * file after a quote that never closes, say) would only mislead */
      if (rec.defect != TS_CSV_DEFECT_NONE)
        continue;
      row = calloc ((size_t) out->n_columns + 1, sizeof (char *));
      if (row == NULL)
        {
          failed = 1;
          break;
        }
      for (int i = 0; i < out->n_columns && i < rec.n_fields; i++)
        row[i] = dup_or_null (rec.fields[i], &failed);
      rows[n_rows++] = row;
    }
  ts_csv_free (csv);
  if (!failed)
    ts_columns_detect ((const char *const *) out->columns, out->n_columns,
                       (const char *const *const *) rows, n_rows, &out->guess);
  free_rows (rows, n_rows, out->n_columns);
  return failed ? ts_error (TS_ERR_NOMEM, "%s: out of memory", csv_path) : TS_OK;
}

void
ts_column_detection_clear (ts_column_detection *d)
{
  for (int i = 0; d->columns != NULL && i < d->n_columns; i++)
    free (d->columns[i]);
  free (d->columns);
  memset (d, 0, sizeof *d);
}
