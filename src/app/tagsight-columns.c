/* tagsight-columns.c: column mapping detection (see tagsight-columns.h). */
#include "tagsight-columns.h"

#include <string.h>

/* Lower-cased, with everything but letters and digits dropped, so that
 * "Image ID", "image_id" and "imageId" compare equal. */
static char *
normalize (const char *name)
{
  GString *s = g_string_new (NULL);

  for (const char *p = name; p != NULL && *p != '\0'; p++)
    if (g_ascii_isalnum (*p))
      g_string_append_c (s, g_ascii_tolower (*p));
  return g_string_free (s, FALSE);
}

static int
find_named (const char *const *columns, int n_columns, const char *const *names, int skip1,
            int skip2)
{
  /* the order of @names is the preference order */
  for (int k = 0; names[k] != NULL; k++)
    for (int i = 0; i < n_columns; i++)
      {
        g_autofree char *norm = NULL;

        if (i == skip1 || i == skip2)
          continue;
        norm = normalize (columns[i]);
        if (strcmp (norm, names[k]) == 0)
          return i;
      }
  return -1;
}

gboolean
tagsight_columns_is_boolean (const char *value)
{
  static const char *const ok[] = { "true", "false", "1", "0", "yes", "no", NULL };
  g_autofree char *v = NULL;

  if (value == NULL)
    return FALSE;
  v = g_ascii_strdown (value, -1);
  return g_strv_contains (ok, g_strstrip (v));
}

static gboolean
looks_like_image (const char *value)
{
  static const char *const ext[] = { ".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG", NULL };

  for (int k = 0; value != NULL && ext[k] != NULL; k++)
    if (g_str_has_suffix (value, ext[k]))
      return TRUE;
  return FALSE;
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
       gboolean (*pred) (const char *))
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
tagsight_columns_guess_delimiter (const char *const *samples, int n_samples)
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

void
tagsight_columns_detect (const char *const *columns, int n_columns,
                         const char *const *const *rows, int n_rows, TagsightColumnGuess *out)
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
  g_autoptr (GPtrArray) samples = g_ptr_array_new ();

  out->fname = find_named (columns, n_columns, fname_names, -1, -1);
  if (out->fname < 0)
    for (int i = 0; i < n_columns && out->fname < 0; i++)
      if (n_rows > 0 && share (rows, n_rows, i, n_columns, looks_like_image) > 0.5)
        out->fname = i;
  if (out->fname < 0)
    out->fname = 0;

  out->split = find_named (columns, n_columns, split_names, out->fname, -1);
  if (out->split >= 0 && n_rows > 0
      && share (rows, n_rows, out->split, n_columns, tagsight_columns_is_boolean) < 1.0)
    out->split = -1;

  out->labels = find_named (columns, n_columns, label_names, out->fname, out->split);
  if (out->labels < 0)
    for (int i = 0; i < n_columns && out->labels < 0; i++)
      if (i != out->fname && i != out->split
          && (n_rows == 0 || share (rows, n_rows, i, n_columns, tagsight_columns_is_boolean) < 1.0))
        out->labels = i;

  /* an unnamed boolean column is the split when nothing else claimed it */
  if (out->split < 0)
    for (int i = 0; i < n_columns && out->split < 0; i++)
      if (i != out->fname && i != out->labels && n_rows > 0
          && share (rows, n_rows, i, n_columns, tagsight_columns_is_boolean) == 1.0)
        out->split = i;

  for (int r = 0; r < n_rows; r++)
    g_ptr_array_add (samples, (gpointer) cell (rows, r, out->labels, n_columns));
  g_strlcpy (out->delim,
             tagsight_columns_guess_delimiter ((const char *const *) samples->pdata,
                                               (int) samples->len),
             sizeof out->delim);
}
