#include "ts-datablock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "ts-csv.h"
#include "ts-i18n.h"
#include "ts-image.h"
#include "ts-rng.h"

/* What load keeps beside the public items so that check_images can drop
 * items and rebuild the vocab from the labels as written. */
typedef struct {
  char **names;   /* trimmed, sorted, unique */
  int n;
} raw_labels;

typedef struct {
  int known;
  int width, height;
  char mode[8];
} image_info;

struct ts_datablock_priv {
  raw_labels *raw;    /* parallel to items */
  image_info *img;    /* parallel to items; NULL until check_images */
  int items_cap;
};

#define RANDOM_SPLIT_STREAM 0x53504c4954ULL   /* "SPLIT": its own RNG stream */

void
ts_datablock_config_init (ts_datablock_config *cfg)
{
  memset (cfg, 0, sizeof *cfg);
  cfg->split = TS_SPLIT_AUTO;
  cfg->valid_pct = 0.2;
  cfg->seed = 42;
}

const char *
ts_problem_kind_name (ts_problem_kind kind)
{
  switch (kind)
    {
    case TS_PROBLEM_MISSING_FILE: return TS_("missing image files");
    case TS_PROBLEM_UNREADABLE_IMAGE: return TS_("unreadable images");
    case TS_PROBLEM_BAD_SPLIT_VALUE: return TS_("bad split values");
    case TS_PROBLEM_DUPLICATE_FNAME: return TS_("duplicate file names");
    case TS_PROBLEM_LABEL_WHITESPACE: return TS_("labels with stray whitespace");
    case TS_PROBLEM_EMPTY_FNAME: return TS_("empty file names");
    case TS_PROBLEM_MALFORMED_ROW: return TS_("malformed rows");
    case TS_PROBLEM_INVALID_UTF8: return TS_("rows with invalid UTF-8");
    case TS_PROBLEM_UNKNOWN_LABEL: return TS_("validation labels not in the training set");
    case TS_PROBLEM_N_KINDS: break;
    }
  return TS_("unknown problem");
}

const char *
ts_problem_kind_action (ts_problem_kind kind)
{
  switch (kind)
    {
    case TS_PROBLEM_MISSING_FILE:
    case TS_PROBLEM_UNREADABLE_IMAGE:
    case TS_PROBLEM_MALFORMED_ROW:
    case TS_PROBLEM_INVALID_UTF8:
    case TS_PROBLEM_EMPTY_FNAME:
      return TS_("these rows are skipped");
    case TS_PROBLEM_BAD_SPLIT_VALUE:
      return TS_("these rows are skipped: neither train nor valid is a safe guess");
    case TS_PROBLEM_DUPLICATE_FNAME:
      return TS_("the first row of each file is used, the later ones are skipped");
    case TS_PROBLEM_LABEL_WHITESPACE:
      return TS_("the labels were trimmed and empty ones dropped; the rows are used");
    case TS_PROBLEM_UNKNOWN_LABEL:
      return TS_("these labels are left out of the items' targets");
    case TS_PROBLEM_N_KINDS:
      break;
    }
  return "";
}

const char *
ts_split_kind_name (ts_split_kind kind)
{
  switch (kind)
    {
    case TS_SPLIT_AUTO: return "auto";
    case TS_SPLIT_COLUMN: return "column";
    case TS_SPLIT_RANDOM: return "random";
    case TS_SPLIT_NONE: return "none";
    }
  return "unknown";
}

/* Records one occurrence, keeping the examples with the smallest line numbers
 * (duplicates are found out of order). */
static void
problem_add (ts_datablock *db, ts_problem_kind kind, int line, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));

static void
problem_add (ts_datablock *db, ts_problem_kind kind, int line, const char *fmt, ...)
{
  ts_problem *p = &db->problems[kind];
  char text[512];
  va_list ap;
  int pos = 0;

  p->kind = kind;
  p->count++;
  while (pos < p->n_examples && p->example_lines[pos] <= line)
    pos++;
  if (pos >= TS_PROBLEM_MAX_EXAMPLES)
    return;
  if (p->n_examples == TS_PROBLEM_MAX_EXAMPLES)
    {
      free (p->example_text[TS_PROBLEM_MAX_EXAMPLES - 1]);
      p->n_examples--;
    }
  for (int i = p->n_examples; i > pos; i--)
    {
      p->example_lines[i] = p->example_lines[i - 1];
      p->example_text[i] = p->example_text[i - 1];
    }
  va_start (ap, fmt);
  vsnprintf (text, sizeof text, fmt, ap);
  va_end (ap);
  p->example_lines[pos] = line;
  p->example_text[pos] = strdup (text);
  p->n_examples++;
}

static void
problem_clear (ts_problem *p)
{
  ts_problem_kind kind = p->kind;

  for (int i = 0; i < p->n_examples; i++)
    free (p->example_text[i]);
  memset (p, 0, sizeof *p);
  p->kind = kind;
}

static int
is_space (int c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* A newly allocated copy of @s[0..n) without surrounding whitespace. */
static char *
strndup_trimmed (const char *s, size_t n)
{
  while (n > 0 && is_space ((unsigned char) *s))
    s++, n--;
  while (n > 0 && is_space ((unsigned char) s[n - 1]))
    n--;
  return strndup (s, n);
}

/* -1: not a boolean */
static int
parse_bool (const char *s)
{
  static const char *const truthy[] = { "true", "1", "yes" };
  static const char *const falsy[] = { "false", "0", "no" };
  char *t = strndup_trimmed (s, strlen (s));
  int v = -1;

  if (t == NULL)
    return -1;
  for (int i = 0; i < 3; i++)
    {
      if (strcasecmp (t, truthy[i]) == 0)
        v = 1;
      if (strcasecmp (t, falsy[i]) == 0)
        v = 0;
    }
  free (t);
  return v;
}

static int
cmp_str (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static int
cmp_int (const void *a, const void *b)
{
  int x = *(const int *) a, y = *(const int *) b;
  return (x > y) - (x < y);
}

static void
raw_labels_clear (raw_labels *r)
{
  for (int i = 0; i < r->n; i++)
    free (r->names[i]);
  free (r->names);
  r->names = NULL;
  r->n = 0;
}

/* Splits a labels field like fastai's ColReader(label_delim) but drops the
 * empty labels that str.split makes of doubled delimiters, and trims
 * whitespace; *why says what was wrong ("" when nothing). */
static ts_status
split_labels (const char *field, const char *delim, raw_labels *out, char *why, size_t why_size)
{
  size_t dlen = strlen (delim);
  const char *p = field;
  int n_empty = 0, n_trimmed = 0, n_control = 0;
  int cap = 0;

  out->names = NULL;
  out->n = 0;
  why[0] = '\0';
  if (field[0] == '\0')
    return TS_OK;

  for (;;)
    {
      const char *end = strstr (p, delim);
      size_t len = end ? (size_t) (end - p) : strlen (p);
      char *name = strndup_trimmed (p, len);

      if (name == NULL)
        goto nomem;
      if (name[0] == '\0')
        {
          n_empty++;
          free (name);
        }
      else
        {
          if (strlen (name) != len)
            n_trimmed++;
          for (const char *c = name; *c; c++)
            if ((unsigned char) *c < 0x20)
              {
                n_control++;
                break;
              }
          if (out->n == cap)
            {
              char **names = realloc (out->names, (size_t) (cap = cap ? 2 * cap : 4)
                                      * sizeof *names);
              if (names == NULL)
                {
                  free (name);
                  goto nomem;
                }
              out->names = names;
            }
          out->names[out->n++] = name;
        }
      if (end == NULL)
        break;
      p = end + dlen;
    }

  /* duplicates in a row collapse, as MultiCategorize's set does */
  if (out->n > 1)
    qsort (out->names, (size_t) out->n, sizeof *out->names, cmp_str);
  {
    int k = 0;
    for (int i = 0; i < out->n; i++)
      {
        if (k > 0 && strcmp (out->names[k - 1], out->names[i]) == 0)
          free (out->names[i]);
        else
          out->names[k++] = out->names[i];
      }
    out->n = k;
  }

  if (out->n == 0)
    snprintf (why, why_size, TS_("labels field \"%s\" has only whitespace or delimiters"), field);
  else if (n_empty > 0 || n_trimmed > 0 || n_control > 0)
    snprintf (why, why_size, TS_("labels \"%s\": %s%s%s"), field,
              n_empty ? TS_("empty label from a doubled, leading or trailing delimiter") : "",
              /* TRANSLATORS: between the items of a list of problems */
              n_empty && (n_trimmed || n_control) ? TS_("; ") : "",
              n_control ? TS_("tab or line break inside a label")
                        : n_trimmed ? TS_("whitespace around a label") : "");
  return TS_OK;

nomem:
  raw_labels_clear (out);
  return ts_error (TS_ERR_NOMEM, "out of memory");
}

static char *
dir_of (const char *path)
{
  const char *slash = strrchr (path, '/');

  if (slash == NULL)
    return strdup (".");
  if (slash == path)
    return strdup ("/");
  return strndup (path, (size_t) (slash - path));
}

/* dir/name, without a leading "./"; an absolute name stays as it is, like
 * pathlib's path / name. */
static char *
join_path (const char *dir, const char *name)
{
  size_t n;
  char *s;

  if (name[0] == '/' || strcmp (dir, ".") == 0)
    return strdup (name);
  n = strlen (dir) + strlen (name) + 2;
  s = malloc (n);
  if (s != NULL)
    snprintf (s, n, "%s%s%s", dir, dir[strlen (dir) - 1] == '/' ? "" : "/", name);
  return s;
}

static int
is_dir (const char *path)
{
  struct stat st;
  return stat (path, &st) == 0 && S_ISDIR (st.st_mode);
}

static ts_status
resolve_config (ts_datablock *db, const ts_datablock_config *cfg)
{
  char *csv_dir = dir_of (db->csv_path);

  if (csv_dir == NULL)
    return ts_error (TS_ERR_NOMEM, "out of memory");
  db->cfg = *cfg;
  db->cfg.fname_col = strdup (cfg->fname_col ? cfg->fname_col : "fname");
  db->cfg.labels_col = strdup (cfg->labels_col ? cfg->labels_col : "labels");
  db->cfg.label_delim = strdup (cfg->label_delim ? cfg->label_delim : " ");
  db->cfg.split_col = strdup (cfg->split_col ? cfg->split_col : "is_valid");
  if (cfg->image_dir != NULL)
    db->image_dir = cfg->image_dir[0] == '/' ? strdup (cfg->image_dir)
                                             : join_path (csv_dir, cfg->image_dir);
  else
    {
      char *train = join_path (csv_dir, "train");
      if (train != NULL && is_dir (train))
        db->image_dir = train;
      else
        {
          free (train);
          db->image_dir = strdup (csv_dir);
        }
    }
  free (csv_dir);
  db->cfg.image_dir = db->image_dir ? strdup (db->image_dir) : NULL;
  if (!db->cfg.fname_col || !db->cfg.labels_col || !db->cfg.label_delim || !db->cfg.split_col
      || !db->image_dir || !db->cfg.image_dir)
    return ts_error (TS_ERR_NOMEM, "out of memory");
  if (db->cfg.label_delim[0] == '\0')
    return ts_error (TS_ERR_INVALID, "the label delimiter is empty");
  if (cfg->split == TS_SPLIT_RANDOM && !(cfg->valid_pct >= 0.0 && cfg->valid_pct <= 1.0))
    return ts_error (TS_ERR_INVALID, "valid_pct %g is not between 0 and 1", cfg->valid_pct);
  return TS_OK;
}

static void append (char *buf, size_t size, size_t *len, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));

/* Appends to @buf, which holds @len bytes and is cut at @size. */
static void
append (char *buf, size_t size, size_t *len, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (*len >= size)
    return;
  va_start (ap, fmt);
  n = vsnprintf (buf + *len, size - *len, fmt, ap);
  va_end (ap);
  if (n > 0)
    *len += (size_t) n;
}

/* The names of the header's columns @cols (NULL: all of them), quoted and
 * comma-separated, for messages. */
static void
columns_quoted (const ts_datablock *db, const int *cols, int n, char *out, size_t size)
{
  size_t len = 0;

  out[0] = '\0';
  for (int i = 0; i < n; i++)
    append (out, size, &len,
            /* TRANSLATORS: a column's name in your language's quotation marks */
            i == 0 ? TS_("\"%s\"")
                   /* TRANSLATORS: the same, after the name of another column */
                   : TS_(", \"%s\""),
            db->columns[cols ? cols[i] : i]);
}

static void
columns_found (const ts_datablock *db, char *found, size_t size)
{
  columns_quoted (db, NULL, db->n_columns, found, size);
}

/* The columns the DataBlock reads, for the messages about them. */
typedef enum { COLUMN_FNAME, COLUMN_LABELS, COLUMN_SPLIT } column_role;

/* The message for a missing column: which one, what there is, and the
 * likely intended one when only case or whitespace differ.  One whole
 * sentence per column, so that translations need not fit a column's name
 * into their grammar. */
static ts_status
missing_column (const ts_datablock *db, column_role role, const char *name)
{
  char found[1024], msg[2048];
  const char *guess = NULL;

  columns_found (db, found, sizeof found);
  for (int i = 0; i < db->n_columns && guess == NULL; i++)
    {
      char *t = strndup_trimmed (db->columns[i], strlen (db->columns[i]));
      if (t != NULL && strcasecmp (t, name) == 0)
        guess = db->columns[i];
      free (t);
    }
  switch (role)
    {
    case COLUMN_FNAME:
      ts_error (TS_ERR_FORMAT, "%s, line 1: no file name column \"%s\" (columns found: %s)",
                db->csv_path, name, found);
      break;
    case COLUMN_LABELS:
      ts_error (TS_ERR_FORMAT, "%s, line 1: no labels column \"%s\" (columns found: %s)",
                db->csv_path, name, found);
      break;
    case COLUMN_SPLIT:
      ts_error (TS_ERR_FORMAT, "%s, line 1: no split column \"%s\" (columns found: %s)",
                db->csv_path, name, found);
      break;
    }
  if (guess == NULL)
    return TS_ERR_FORMAT;
  snprintf (msg, sizeof msg, "%s", ts_last_error ());
  /* TRANSLATORS: the message about the missing column, then the column the
     user probably meant */
  return ts_error (TS_ERR_FORMAT, "%s; did you mean \"%s\"?", msg, guess);
}

static int
find_column (const ts_datablock *db, const char *name)
{
  for (int i = 0; i < db->n_columns; i++)
    if (strcmp (db->columns[i], name) == 0)
      return i;
  return -1;
}

static ts_status
add_item (ts_datablock *db, const char *fname, int line, int is_valid, raw_labels *labels)
{
  struct ts_datablock_priv *pv = db->priv;
  ts_item *it;

  if (db->n_items == pv->items_cap)
    {
      int cap = pv->items_cap ? 2 * pv->items_cap : 256;
      ts_item *items = realloc (db->items, (size_t) cap * sizeof *items);
      raw_labels *raw;

      if (items == NULL)
        return ts_error (TS_ERR_NOMEM, "out of memory");
      db->items = items;
      raw = realloc (pv->raw, (size_t) cap * sizeof *raw);
      if (raw == NULL)
        return ts_error (TS_ERR_NOMEM, "out of memory");
      pv->raw = raw;
      pv->items_cap = cap;
    }
  it = &db->items[db->n_items];
  memset (it, 0, sizeof *it);
  it->fname = strdup (fname);
  it->path = join_path (db->image_dir, fname);
  it->is_valid = is_valid;
  it->csv_line = line;
  pv->raw[db->n_items] = *labels;
  db->n_items++;
  memset (labels, 0, sizeof *labels);
  if (it->fname == NULL || it->path == NULL)
    return ts_error (TS_ERR_NOMEM, "out of memory");
  return TS_OK;
}

static void
item_clear (ts_item *it)
{
  free (it->fname);
  free (it->path);
  free (it->labels);
}

/* Keeps the items with keep[i] set, in order. */
static void
compact_items (ts_datablock *db, const unsigned char *keep)
{
  struct ts_datablock_priv *pv = db->priv;
  int k = 0;

  for (int i = 0; i < db->n_items; i++)
    {
      if (!keep[i])
        {
          item_clear (&db->items[i]);
          raw_labels_clear (&pv->raw[i]);
          continue;
        }
      db->items[k] = db->items[i];
      pv->raw[k] = pv->raw[i];
      if (pv->img != NULL)
        pv->img[k] = pv->img[i];
      k++;
    }
  db->n_items = k;
}

typedef struct {
  const char *fname;
  int line;
  int index;
} fname_ref;

static int
cmp_fname_ref (const void *a, const void *b)
{
  const fname_ref *x = a, *y = b;
  int c = strcmp (x->fname, y->fname);

  return c ? c : (x->line > y->line) - (x->line < y->line);
}

static ts_status
drop_duplicates (ts_datablock *db)
{
  fname_ref *refs = malloc ((size_t) (db->n_items ? db->n_items : 1) * sizeof *refs);
  unsigned char *keep = malloc ((size_t) (db->n_items ? db->n_items : 1));
  int first = 0;

  if (refs == NULL || keep == NULL)
    {
      free (refs);
      free (keep);
      return ts_error (TS_ERR_NOMEM, "out of memory");
    }
  for (int i = 0; i < db->n_items; i++)
    {
      refs[i] = (fname_ref) { db->items[i].fname, db->items[i].csv_line, i };
      keep[i] = 1;
    }
  qsort (refs, (size_t) db->n_items, sizeof *refs, cmp_fname_ref);
  for (int i = 1; i < db->n_items; i++)
    {
      if (strcmp (refs[first].fname, refs[i].fname) != 0)
        {
          first = i;
          continue;
        }
      keep[refs[i].index] = 0;
      problem_add (db, TS_PROBLEM_DUPLICATE_FNAME, refs[i].line,
                   TS_("\"%s\" was already listed on line %d"), refs[i].fname, refs[first].line);
    }
  compact_items (db, keep);
  free (refs);
  free (keep);
  return TS_OK;
}

static void
random_split (ts_datablock *db)
{
  int n = db->n_items;
  int cut = (int) (db->cfg.valid_pct * n);
  int *perm = malloc ((size_t) (n ? n : 1) * sizeof *perm);
  ts_rng rng;

  if (perm == NULL)
    return;
  for (int i = 0; i < n; i++)
    perm[i] = i;
  ts_rng_seed (&rng, db->cfg.seed, RANDOM_SPLIT_STREAM);
  ts_rng_shuffle (&rng, perm, n);
  for (int i = 0; i < n; i++)
    db->items[perm[i]].is_valid = i < cut;
  free (perm);
}

static int
bsearch_vocab (const ts_datablock *db, const char *name)
{
  int lo = 0, hi = db->n_vocab - 1;

  while (lo <= hi)
    {
      int mid = (lo + hi) / 2;
      int c = strcmp (db->vocab[mid], name);
      if (c == 0)
        return mid;
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid - 1;
    }
  return -1;
}

/* Builds the vocab from the training items' labels, each item's indices,
 * and the two index lists. */
static ts_status
finalize (ts_datablock *db)
{
  struct ts_datablock_priv *pv = db->priv;
  int n_train = 0, total = 0, k = 0;
  char **names;

  for (int i = 0; i < db->n_vocab; i++)
    free (db->vocab[i]);
  free (db->vocab);
  db->vocab = NULL;
  db->n_vocab = 0;
  free (db->train_idx);
  free (db->valid_idx);
  db->train_idx = db->valid_idx = NULL;
  db->n_train = db->n_valid = 0;
  problem_clear (&db->problems[TS_PROBLEM_UNKNOWN_LABEL]);

  for (int i = 0; i < db->n_items; i++)
    n_train += !db->items[i].is_valid;
  for (int i = 0; i < db->n_items; i++)
    if (!db->items[i].is_valid || n_train == 0)
      total += pv->raw[i].n;

  names = malloc ((size_t) (total ? total : 1) * sizeof *names);
  db->train_idx = malloc ((size_t) (db->n_items ? db->n_items : 1) * sizeof (int));
  db->valid_idx = malloc ((size_t) (db->n_items ? db->n_items : 1) * sizeof (int));
  if (names == NULL || db->train_idx == NULL || db->valid_idx == NULL)
    {
      free (names);
      return ts_error (TS_ERR_NOMEM, "out of memory");
    }
  for (int i = 0; i < db->n_items; i++)
    if (!db->items[i].is_valid || n_train == 0)
      for (int j = 0; j < pv->raw[i].n; j++)
        names[k++] = pv->raw[i].names[j];
  qsort (names, (size_t) total, sizeof *names, cmp_str);
  db->vocab = malloc ((size_t) (total ? total : 1) * sizeof *db->vocab);
  if (db->vocab == NULL)
    {
      free (names);
      return ts_error (TS_ERR_NOMEM, "out of memory");
    }
  for (int i = 0; i < total; i++)
    if (i == 0 || strcmp (names[i], names[i - 1]) != 0)
      {
        if ((db->vocab[db->n_vocab] = strdup (names[i])) == NULL)
          {
            free (names);
            return ts_error (TS_ERR_NOMEM, "out of memory");
          }
        db->n_vocab++;
      }
  free (names);

  for (int i = 0; i < db->n_items; i++)
    {
      ts_item *it = &db->items[i];
      const raw_labels *r = &pv->raw[i];

      free (it->labels);
      it->labels = malloc ((size_t) (r->n ? r->n : 1) * sizeof *it->labels);
      it->n_labels = 0;
      if (it->labels == NULL)
        return ts_error (TS_ERR_NOMEM, "out of memory");
      for (int j = 0; j < r->n; j++)
        {
          int v = bsearch_vocab (db, r->names[j]);
          if (v >= 0)
            it->labels[it->n_labels++] = v;
          else
            problem_add (db, TS_PROBLEM_UNKNOWN_LABEL, it->csv_line,
                         TS_("\"%s\" (validation item %s) is on no training item"), r->names[j],
                         it->fname);
        }
      qsort (it->labels, (size_t) it->n_labels, sizeof *it->labels, cmp_int);
      if (it->is_valid)
        db->valid_idx[db->n_valid++] = i;
      else
        db->train_idx[db->n_train++] = i;
    }
  return TS_OK;
}

/* "no usable rows (malformed rows: 3, first on line 2 [wrong field count: 2
 * fields, but the columns used (...) need at least 3]; ...)": the first
 * example names the defect, so a failed load says what to fix without a
 * separate summary run.  @images: no image could be read, else no row. */
static ts_status
nothing_usable (const ts_datablock *db, ts_status status, int images)
{
  char details[1024] = "";
  size_t len = 0;
  int n = 0;

  for (int k = 0; k < TS_PROBLEM_N_KINDS; k++)
    if (db->problems[k].count > 0)
      {
        const ts_problem *p = &db->problems[k];
        const char *why = p->n_examples > 0 && p->example_text[0] ? p->example_text[0] : "";

        if (n++ > 0)
          /* TRANSLATORS: between the items of a list of problems */
          append (details, sizeof details, &len, "%s", TS_("; "));
        if (why[0])
          /* TRANSLATORS: a kind of problem, how many rows have it, the first
             one's line and (in brackets) what is wrong with it */
          append (details, sizeof details, &len, TS_("%s: %d, first on line %d [%s]"),
                  ts_problem_kind_name (k), p->count, p->example_lines[0], why);
        else
          append (details, sizeof details, &len, TS_("%s: %d, first on line %d"),
                  ts_problem_kind_name (k), p->count, p->example_lines[0]);
      }
  if (images)
    return n > 0 ? ts_error (status, "%s: no usable images (%s)", db->csv_path, details)
                 : ts_error (status, "%s: no usable images", db->csv_path);
  return n > 0 ? ts_error (status, "%s: no usable rows (%s)", db->csv_path, details)
               : ts_error (status, "%s: no usable rows", db->csv_path);
}

static ts_status
read_rows (ts_datablock *db, ts_csv *csv)
{
  ts_csv_record rec;
  int col_fname, col_labels, col_split = -1, needed;
  char why[1200], used_names[300];
  int r;

  r = ts_csv_next (csv, &rec);
  if (r < 0)
    return TS_ERR_NOMEM;
  if (r == 0)
    return ts_error (TS_ERR_FORMAT, "%s: the file is empty (expected a header line such as "
                     "\"fname,labels,is_valid\")", db->csv_path);
  if (rec.defect != TS_CSV_DEFECT_NONE)
    return ts_error (TS_ERR_FORMAT, "%s: header: %s", db->csv_path,
                     ts_csv_defect_describe (&rec, why, sizeof why));
  db->columns = calloc ((size_t) rec.n_fields, sizeof *db->columns);
  if (db->columns == NULL)
    return ts_error (TS_ERR_NOMEM, "out of memory");
  for (int i = 0; i < rec.n_fields; i++)
    if ((db->columns[db->n_columns++] = strdup (rec.fields[i])) == NULL)
      return ts_error (TS_ERR_NOMEM, "out of memory");

  col_fname = find_column (db, db->cfg.fname_col);
  if (col_fname < 0)
    return missing_column (db, COLUMN_FNAME, db->cfg.fname_col);
  col_labels = find_column (db, db->cfg.labels_col);
  if (col_labels < 0)
    return missing_column (db, COLUMN_LABELS, db->cfg.labels_col);
  if (col_labels == col_fname)
    {
      char found[1024];

      columns_found (db, found, sizeof found);
      return ts_error (TS_ERR_FORMAT, "%s, line 1: \"%s\" is both the file name and the labels "
                       "column (columns found: %s)", db->csv_path, db->cfg.fname_col, found);
    }
  if (db->cfg.split == TS_SPLIT_COLUMN || db->cfg.split == TS_SPLIT_AUTO)
    {
      col_split = find_column (db, db->cfg.split_col);
      if (col_split < 0 && db->cfg.split == TS_SPLIT_COLUMN)
        return missing_column (db, COLUMN_SPLIT, db->cfg.split_col);
      db->cfg.split = col_split >= 0 ? TS_SPLIT_COLUMN : TS_SPLIT_NONE;
    }
  /* a row may stop before the columns that are not read: pandas fills them
   * with NaN (a header with a trailing comma has an empty last column) */
  needed = col_fname > col_labels ? col_fname : col_labels;
  needed = (col_split > needed ? col_split : needed) + 1;
  {
    const int used[3] = { col_fname, col_labels, col_split };
    columns_quoted (db, used, col_split >= 0 ? 3 : 2, used_names, sizeof used_names);
  }

  while ((r = ts_csv_next (csv, &rec)) > 0)
    {
      raw_labels labels;
      const char *fname;
      int is_valid = 0;
      ts_status st;

      db->n_rows++;
      if (rec.defect == TS_CSV_DEFECT_BAD_UTF8)
        {
          problem_add (db, TS_PROBLEM_INVALID_UTF8, rec.line, "%s",
                       ts_csv_defect_describe (&rec, why, sizeof why));
          continue;
        }
      if (rec.defect != TS_CSV_DEFECT_NONE)
        {
          problem_add (db, TS_PROBLEM_MALFORMED_ROW, rec.line, "%s",
                       ts_csv_defect_describe (&rec, why, sizeof why));
          continue;
        }
      if (rec.n_fields > db->n_columns)
        {
          /* TRANSLATORS: the row's number of fields, the header's number of columns */
          problem_add (db, TS_PROBLEM_MALFORMED_ROW, rec.line,
                       TS_NG ("wrong field count: %d field, more than the header's %d columns",
                              "wrong field count: %d fields, more than the header's %d columns",
                              rec.n_fields),
                       rec.n_fields, db->n_columns);
          continue;
        }
      if (rec.n_fields < needed)
        {
          /* TRANSLATORS: the row's number of fields, the quoted names of the
           * columns read (file name, labels, split) and the fields they need */
          problem_add (db, TS_PROBLEM_MALFORMED_ROW, rec.line,
                       TS_NG ("wrong field count: %d field, but the columns used (%s) need at "
                              "least %d",
                              "wrong field count: %d fields, but the columns used (%s) need at "
                              "least %d", rec.n_fields),
                       rec.n_fields, used_names, needed);
          continue;
        }
      fname = rec.fields[col_fname];
      if (fname[0] == '\0')
        {
          problem_add (db, TS_PROBLEM_EMPTY_FNAME, rec.line, TS_("the %s field is empty"),
                       db->cfg.fname_col);
          continue;
        }
      if (col_split >= 0)
        {
          is_valid = parse_bool (rec.fields[col_split]);
          if (is_valid < 0)
            {
              problem_add (db, TS_PROBLEM_BAD_SPLIT_VALUE, rec.line,
                           TS_("%s is \"%.100s\", not True/False/1/0/yes/no"), db->cfg.split_col,
                           rec.fields[col_split]);
              continue;
            }
        }
      st = split_labels (rec.fields[col_labels], db->cfg.label_delim, &labels, why, sizeof why);
      if (st != TS_OK)
        return st;
      if (why[0])
        problem_add (db, TS_PROBLEM_LABEL_WHITESPACE, rec.line, "%s", why);
      st = add_item (db, fname, rec.line, is_valid, &labels);
      if (st != TS_OK)
        {
          raw_labels_clear (&labels);
          return st;
        }
    }
  if (r < 0)
    return TS_ERR_NOMEM;
  return TS_OK;
}

ts_status
ts_datablock_load (const char *csv_path, const ts_datablock_config *cfg, ts_datablock **out)
{
  ts_datablock_config defaults;
  ts_datablock *db;
  ts_csv *csv = NULL;
  ts_status st;

  *out = NULL;
  if (cfg == NULL)
    {
      ts_datablock_config_init (&defaults);
      cfg = &defaults;
    }
  db = calloc (1, sizeof *db);
  if (db == NULL || (db->priv = calloc (1, sizeof *db->priv)) == NULL
      || (db->csv_path = strdup (csv_path)) == NULL)
    {
      ts_datablock_free (db);
      return ts_error (TS_ERR_NOMEM, "out of memory");
    }
  for (int k = 0; k < TS_PROBLEM_N_KINDS; k++)
    db->problems[k].kind = (ts_problem_kind) k;

  st = resolve_config (db, cfg);
  if (st == TS_OK)
    st = ts_csv_open (csv_path, &csv);
  if (st == TS_OK)
    st = read_rows (db, csv);
  ts_csv_free (csv);
  if (st == TS_OK)
    st = drop_duplicates (db);
  if (st == TS_OK && db->n_items == 0)
    st = db->n_rows == 0
           ? ts_error (TS_ERR_FORMAT, "%s: no data rows after the header", csv_path)
           : nothing_usable (db, TS_ERR_FORMAT, 0);
  if (st == TS_OK)
    {
      if (db->cfg.split == TS_SPLIT_RANDOM)
        random_split (db);
      st = finalize (db);
    }
  if (st != TS_OK)
    {
      ts_datablock_free (db);
      return st;
    }
  *out = db;
  return TS_OK;
}

ts_status
ts_datablock_check_images (ts_datablock *db)
{
  struct ts_datablock_priv *pv = db->priv;
  unsigned char *keep;

  /* A second run re-checks the items left; the problems found by the first
   * stay, since their rows stay dropped. */
  free (pv->img);
  pv->img = calloc ((size_t) (pv->items_cap ? pv->items_cap : 1), sizeof *pv->img);
  keep = malloc ((size_t) (db->n_items ? db->n_items : 1));
  if (pv->img == NULL || keep == NULL)
    {
      free (keep);
      return ts_error (TS_ERR_NOMEM, "out of memory");
    }

  for (int i = 0; i < db->n_items; i++)
    {
      const ts_item *it = &db->items[i];
      ts_image_info info;
      struct stat st;

      keep[i] = 0;
      if (stat (it->path, &st) != 0)
        {
          int err = errno;   /* before gettext's look-up */

          problem_add (db, err == ENOENT || err == ENOTDIR ? TS_PROBLEM_MISSING_FILE
                                                           : TS_PROBLEM_UNREADABLE_IMAGE,
                       it->csv_line,
                       /* TRANSLATORS: an image's path, then why it cannot be read */
                       TS_("%s: %s"), it->path, strerror (err));
          continue;
        }
      if (S_ISDIR (st.st_mode))
        {
          problem_add (db, TS_PROBLEM_UNREADABLE_IMAGE, it->csv_line, TS_("%s: is a folder"),
                       it->path);
          continue;
        }
      if (ts_image_probe (it->path, &info) != TS_OK)
        {
          problem_add (db, TS_PROBLEM_UNREADABLE_IMAGE, it->csv_line, "%s", ts_last_error ());
          continue;
        }
      keep[i] = 1;
      pv->img[i].known = 1;
      pv->img[i].width = info.width;
      pv->img[i].height = info.height;
      snprintf (pv->img[i].mode, sizeof pv->img[i].mode, "%s", info.mode ? info.mode : "?");
    }
  compact_items (db, keep);
  free (keep);
  db->images_checked = 1;
  if (finalize (db) != TS_OK)
    return TS_ERR_NOMEM;
  if (db->n_items == 0)
    return nothing_usable (db, TS_ERR_IO, 1);
  ts_clear_error ();
  return TS_OK;
}

int
ts_datablock_image_info (const ts_datablock *db, int item, int *width, int *height,
                         const char **mode)
{
  const image_info *info;

  if (db->priv == NULL || db->priv->img == NULL || item < 0 || item >= db->n_items
      || !db->priv->img[item].known)
    return 0;
  info = &db->priv->img[item];
  if (width)
    *width = info->width;
  if (height)
    *height = info->height;
  if (mode)
    *mode = info->mode;
  return 1;
}

void
ts_datablock_onehot (const ts_datablock *db, int item, float *out)
{
  const ts_item *it = &db->items[item];

  memset (out, 0, (size_t) db->n_vocab * sizeof *out);
  for (int j = 0; j < it->n_labels; j++)
    out[it->labels[j]] = 1.0f;
}

void
ts_datablock_free (ts_datablock *db)
{
  if (db == NULL)
    return;
  for (int i = 0; i < db->n_items; i++)
    {
      item_clear (&db->items[i]);
      if (db->priv != NULL && db->priv->raw != NULL)
        raw_labels_clear (&db->priv->raw[i]);
    }
  free (db->items);
  if (db->priv != NULL)
    {
      free (db->priv->raw);
      free (db->priv->img);
      free (db->priv);
    }
  for (int i = 0; i < db->n_vocab; i++)
    free (db->vocab[i]);
  free (db->vocab);
  for (int i = 0; i < db->n_columns; i++)
    free (db->columns[i]);
  free (db->columns);
  free (db->train_idx);
  free (db->valid_idx);
  for (int k = 0; k < TS_PROBLEM_N_KINDS; k++)
    problem_clear (&db->problems[k]);
  free ((char *) db->cfg.fname_col);
  free ((char *) db->cfg.labels_col);
  free ((char *) db->cfg.label_delim);
  free ((char *) db->cfg.split_col);
  free ((char *) db->cfg.image_dir);
  free (db->image_dir);
  free (db->csv_path);
  free (db);
}
