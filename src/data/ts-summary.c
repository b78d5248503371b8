#include "ts-summary.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ts-columns.h"
#include "ts-csv.h"
#include "ts-i18n.h"
#include "ts-image.h"

/* A growing string; after a failed allocation it stays failed. */
typedef struct {
  char *s;
  size_t len, cap;
  int failed;
} sbuf;

static void sb_printf (sbuf *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
sb_printf (sbuf *b, const char *fmt, ...)
{
  va_list ap;
  int n;

  if (b->failed)
    return;
  va_start (ap, fmt);
  n = vsnprintf (NULL, 0, fmt, ap);
  va_end (ap);
  if (n < 0)
    return;
  if (b->len + (size_t) n + 1 > b->cap)
    {
      size_t cap = b->cap ? b->cap : 256;
      char *s;
      while (cap < b->len + (size_t) n + 1)
        cap *= 2;
      s = realloc (b->s, cap);
      if (s == NULL)
        {
          b->failed = 1;
          return;
        }
      b->s = s;
      b->cap = cap;
    }
  va_start (ap, fmt);
  vsnprintf (b->s + b->len, b->cap - b->len, fmt, ap);
  va_end (ap);
  b->len += (size_t) n;
}

/* Takes the string (NULL after a failure). */
static char *
sb_steal (sbuf *b)
{
  if (b->failed || b->s == NULL)
    {
      free (b->s);
      return b->failed ? NULL : strdup ("");
    }
  return b->s;
}

/* A Python-style quoted string, long values shortened. */
static void
sb_quoted (sbuf *b, const char *s, size_t max)
{
  size_t n = strlen (s);

  sb_printf (b, "'");
  for (size_t i = 0; i < n && i < max; i++)
    {
      unsigned char c = (unsigned char) s[i];
      if (c == '\'' || c == '\\')
        sb_printf (b, "\\%c", c);
      else if (c == '\n')
        sb_printf (b, "\\n");
      else if (c == '\r')
        sb_printf (b, "\\r");
      else if (c == '\t')
        sb_printf (b, "\\t");
      else if (c < 0x20)
        sb_printf (b, "\\x%02x", c);
      else
        sb_printf (b, "%c", c);
    }
  sb_printf (b, n > max ? "...'" : "'");
}

void
ts_summary_options_init (ts_summary_options *opt)
{
  opt->size = 128;
  opt->min_scale = 0.35;
  opt->check_images = 1;
  opt->sample = -1;
}

static int
add_step (ts_summary_step **steps, int *n, const char *name, const char *what, sbuf *value)
{
  ts_summary_step *s = realloc (*steps, (size_t) (*n + 1) * sizeof *s);
  char *v = sb_steal (value);

  memset (value, 0, sizeof *value);
  if (s == NULL || v == NULL)
    {
      if (s != NULL)
        *steps = s;
      free (v);
      return -1;
    }
  *steps = s;
  s[*n].name = name;
  s[*n].what = what;
  s[*n].value = v;
  (*n)++;
  return 0;
}

/* The CSV record on @line, as "col='value'  col='value'". */
static void
row_text (const ts_datablock *db, int line, sbuf *b)
{
  ts_csv *csv;
  ts_csv_record rec;
  int r;

  if (ts_csv_open (db->csv_path, &csv) != TS_OK)
    {
      sb_printf (b, TS_("(cannot reread the CSV: %s)"), ts_last_error ());
      return;
    }
  while ((r = ts_csv_next (csv, &rec)) > 0 && rec.line < line)
    ;
  if (r > 0 && rec.line == line)
    for (int i = 0; i < rec.n_fields && i < db->n_columns; i++)
      {
        sb_printf (b, "%s%s=", i ? "  " : "", db->columns[i]);
        sb_quoted (b, rec.fields[i], 60);
      }
  else
    sb_printf (b, TS_("(line %d not found)"), line);
  ts_csv_free (csv);
}

static int
val_size (int size)
{
  /* fastai's val_xtra: 0.14 of the size rounded up to a multiple of 8 */
  int xtra = (size * 14 + 799) / 800 * 8;
  return size + xtra;
}

static int
trace_sample (ts_summary *s, const ts_datablock *db, const ts_summary_options *opt)
{
  const ts_item *it = &db->items[s->sample_item];
  sbuf b = { 0 };
  ts_image_info info;
  int have_info = 0, w = 0, h = 0;
  struct stat st;
  float *onehot;

  row_text (db, it->csv_line, &b);
  if (add_step (&s->steps, &s->n_steps, TS_("row"), TS_("the CSV record"), &b))
    return -1;

  sb_printf (&b, "%s%s", it->path, stat (it->path, &st) != 0 ? TS_("  (missing)") : "");
  if (add_step (&s->steps, &s->n_steps, TS_("path"),
                TS_("ColReader (fname column, prefixed with the image folder)"), &b))
    return -1;

  if (ts_image_probe (it->path, &info) == TS_OK)
    {
      have_info = 1;
      w = info.width;
      h = info.height;
      sb_printf (&b, "PILImage mode=%s size=%dx%d (%s%s)", info.mode ? info.mode : "?",
                 info.width, info.height, info.format ? info.format : TS_("image"),
                 info.orientation > 1 ? TS_(", EXIF-rotated on load") : "");
    }
  else
    sb_printf (&b, TS_("cannot read it: %s"), ts_last_error ());
  if (add_step (&s->steps, &s->n_steps, TS_("image"), "PILImage.create", &b))
    return -1;

  sb_printf (&b, "[");
  for (int j = 0; j < it->n_labels; j++)
    {
      sb_printf (&b, "%s", j ? ", " : "");
      sb_quoted (&b, db->vocab[it->labels[j]], 40);
    }
  sb_printf (&b, "]%s", it->n_labels ? "" : TS_("  (no label: an all-zero target)"));
  if (add_step (&s->steps, &s->n_steps, TS_("labels"),
                TS_("ColReader (labels column, split on the delimiter)"), &b))
    return -1;

  sb_printf (&b, "TensorMultiCategory([");
  for (int j = 0; j < it->n_labels; j++)
    sb_printf (&b, "%s%d", j ? ", " : "", it->labels[j]);
  sb_printf (&b, "])");
  if (add_step (&s->steps, &s->n_steps, TS_("indices"),
                TS_("MultiCategorize (positions in the vocab)"), &b))
    return -1;

  onehot = calloc ((size_t) (db->n_vocab ? db->n_vocab : 1), sizeof *onehot);
  if (onehot == NULL)
    return -1;
  ts_datablock_onehot (db, s->sample_item, onehot);
  sb_printf (&b, "TensorMultiCategory([");
  for (int j = 0; j < db->n_vocab && j < 24; j++)
    sb_printf (&b, "%s%g.", j ? ", " : "", onehot[j]);
  if (db->n_vocab > 24)
    sb_printf (&b, TS_(", ... (%d values)"), db->n_vocab);
  sb_printf (&b, "])");
  free (onehot);
  if (add_step (&s->steps, &s->n_steps, TS_("one-hot"),
                TS_("OneHotEncode (one float per vocab entry)"), &b))
    return -1;

  if (have_info)
    sb_printf (&b, TS_("random crop of %.0f-100%% of the %dx%d area, aspect 3/4 to 4/3, "
                       "resized to %dx%d"), opt->min_scale * 100, w, h, opt->size, opt->size);
  else
    sb_printf (&b, TS_("random crop of %.0f-100%% of the area, aspect 3/4 to 4/3, "
                       "resized to %dx%d"), opt->min_scale * 100, opt->size, opt->size);
  if (add_step (&s->tfm_steps, &s->n_tfm_steps, TS_("train item"),
                TS_("RandomResizedCrop (item transform, a new crop every epoch)"), &b))
    return -1;
  sb_printf (&b, TS_("the whole image squished to %dx%d (aspect ratio not kept), "
                     "centre crop %dx%d"),
             val_size (opt->size), val_size (opt->size), opt->size, opt->size);
  if (add_step (&s->tfm_steps, &s->n_tfm_steps, TS_("valid item"),
                TS_("RandomResizedCrop on the validation set (fastai's val_xtra)"), &b))
    return -1;
  sb_printf (&b, TS_("x float32 [bs, 3, %d, %d] in [0, 1], augmented (training only), "
                     "normalised; y float32 [bs, %d]"), opt->size, opt->size, db->n_vocab);
  if (add_step (&s->tfm_steps, &s->n_tfm_steps, TS_("batch"),
                "IntToFloatTensor, aug_transforms, Normalize", &b))
    return -1;
  return 0;
}

static int
cmp_shape (const void *a, const void *b)
{
  const ts_summary_shape *x = a, *y = b;
  if (x->count != y->count)
    return y->count - x->count;
  if (x->width != y->width)
    return x->width - y->width;
  return x->height - y->height;
}

static int
collect_shapes (ts_summary *s, const ts_datablock *db)
{
  s->shapes = calloc ((size_t) (db->n_items ? db->n_items : 1), sizeof *s->shapes);
  if (s->shapes == NULL)
    return -1;
  for (int i = 0; i < db->n_items; i++)
    {
      const char *mode;
      int w, h, k;

      if (!ts_datablock_image_info (db, i, &w, &h, &mode))
        continue;
      for (k = 0; k < s->n_shapes; k++)
        if (s->shapes[k].width == w && s->shapes[k].height == h
            && strcmp (s->shapes[k].mode, mode) == 0)
          break;
      if (k == s->n_shapes)
        {
          /* many distinct sizes: stop distinguishing after 1000 */
          if (s->n_shapes == 1000)
            continue;
          snprintf (s->shapes[k].mode, sizeof s->shapes[k].mode, "%s", mode);
          s->shapes[k].width = w;
          s->shapes[k].height = h;
          s->n_shapes++;
        }
      s->shapes[k].count++;
    }
  qsort (s->shapes, (size_t) s->n_shapes, sizeof *s->shapes, cmp_shape);
  return 0;
}

ts_status
ts_summary_build (ts_datablock *db, const ts_summary_options *opt, ts_summary **out)
{
  ts_summary_options defaults;
  ts_summary *s;
  sbuf b = { 0 };

  *out = NULL;
  if (opt == NULL)
    {
      ts_summary_options_init (&defaults);
      opt = &defaults;
    }
  if (opt->check_images)
    {
      ts_status st = ts_datablock_check_images (db);
      /* nothing usable is a result to show, not a failure of the summary */
      if (st == TS_ERR_NOMEM)
        return st;
    }

  s = calloc (1, sizeof *s);
  if (s == NULL)
    return ts_error (TS_ERR_NOMEM, "out of memory");
  s->csv_path = strdup (db->csv_path);
  s->image_dir = strdup (db->image_dir);
  {
    struct stat st;
    s->image_dir_exists = stat (db->image_dir, &st) == 0 && S_ISDIR (st.st_mode);
  }
  s->fname_col = strdup (db->cfg.fname_col);
  s->labels_col = strdup (db->cfg.labels_col);
  s->label_delim = strdup (db->cfg.label_delim);
  s->split_kind = db->cfg.split;
  if (db->cfg.split == TS_SPLIT_COLUMN)
    sb_printf (&b, TS_("column \"%s\""), db->cfg.split_col);
  else if (db->cfg.split == TS_SPLIT_RANDOM)
    sb_printf (&b, TS_("random %g%% (seed %llu)"), db->cfg.valid_pct * 100,
               (unsigned long long) db->cfg.seed);
  else
    sb_printf (&b, TS_("none (every item trains)"));
  s->split = sb_steal (&b);

  s->n_rows = db->n_rows;
  s->n_items = db->n_items;
  s->n_train = db->n_train;
  s->n_valid = db->n_valid;
  s->usable = db->n_train > 0;
  s->n_vocab = db->n_vocab;
  s->vocab = calloc ((size_t) (db->n_vocab ? db->n_vocab : 1), sizeof *s->vocab);
  s->classes = calloc ((size_t) (db->n_vocab ? db->n_vocab : 1), sizeof *s->classes);
  if (!s->csv_path || !s->image_dir || !s->fname_col || !s->labels_col || !s->label_delim
      || !s->split || !s->vocab || !s->classes)
    goto nomem;
  for (int v = 0; v < db->n_vocab; v++)
    if ((s->vocab[v] = strdup (db->vocab[v])) == NULL
        || (s->classes[v].name = strdup (db->vocab[v])) == NULL)
      goto nomem;
  for (int i = 0; i < db->n_items; i++)
    {
      const ts_item *it = &db->items[i];
      if (it->n_labels == 0)
        {
          if (it->is_valid)
            s->n_no_label_valid++;
          else
            s->n_no_label_train++;
        }
      s->n_labels_total += it->n_labels;
      for (int j = 0; j < it->n_labels; j++)
        {
          if (it->is_valid)
            s->classes[it->labels[j]].n_valid++;
          else
            s->classes[it->labels[j]].n_train++;
        }
    }

  s->images_checked = db->images_checked;
  if (db->images_checked && collect_shapes (s, db))
    goto nomem;

  for (int k = 0; k < TS_PROBLEM_N_KINDS; k++)
    {
      const ts_problem *p = &db->problems[k];
      s->problems[k] = *p;
      s->problems[k].kind = (ts_problem_kind) k;
      for (int e = 0; e < p->n_examples; e++)
        s->problems[k].example_text[e] = p->example_text[e] ? strdup (p->example_text[e]) : NULL;
      s->n_problem_rows += p->count;
    }

  s->sample_item = -1;
  if (opt->sample >= 0 && opt->sample < db->n_items)
    s->sample_item = opt->sample;
  else if (db->n_train > 0)
    s->sample_item = db->train_idx[0];
  else if (db->n_items > 0)
    s->sample_item = 0;
  if (s->sample_item >= 0)
    {
      s->sample_is_valid = db->items[s->sample_item].is_valid;
      s->sample_line = db->items[s->sample_item].csv_line;
      if (trace_sample (s, db, opt))
        goto nomem;
    }
  *out = s;
  return TS_OK;

nomem:
  ts_summary_free (s);
  return ts_error (TS_ERR_NOMEM, "out of memory building the summary");
}

ts_status
ts_summary_run (const char *csv_path, const ts_datablock_config *cfg,
                const ts_summary_options *opt, ts_summary **out)
{
  ts_datablock *db;
  ts_status st;

  *out = NULL;
  st = ts_datablock_load (csv_path, cfg, &db);
  if (st != TS_OK)
    return st;
  st = ts_summary_build (db, opt, out);
  ts_datablock_free (db);
  return st;
}

static void
free_steps (ts_summary_step *steps, int n)
{
  for (int i = 0; i < n; i++)
    free (steps[i].value);
  free (steps);
}

void
ts_summary_free (ts_summary *s)
{
  if (s == NULL)
    return;
  free (s->csv_path);
  free (s->image_dir);
  free (s->fname_col);
  free (s->labels_col);
  free (s->label_delim);
  free (s->split);
  for (int v = 0; v < s->n_vocab; v++)
    {
      if (s->vocab)
        free (s->vocab[v]);
      if (s->classes)
        free (s->classes[v].name);
    }
  free (s->vocab);
  free (s->classes);
  free_steps (s->steps, s->n_steps);
  free_steps (s->tfm_steps, s->n_tfm_steps);
  free (s->shapes);
  for (int k = 0; k < TS_PROBLEM_N_KINDS; k++)
    for (int e = 0; e < s->problems[k].n_examples; e++)
      free (s->problems[k].example_text[e]);
  free (s);
}

/* ---- text ---- */

typedef struct {
  const char *bold, *dim, *red, *green, *yellow, *reset;
} palette;

/* Display width of UTF-8 text, one column a code point (enough for labels). */
static int
text_width (const char *s)
{
  int w = 0;
  for (; *s; s++)
    w += ((unsigned char) *s & 0xC0) != 0x80;
  return w;
}

static void
sb_pad (sbuf *b, const char *s, int width)
{
  sb_printf (b, "%s%*s", s, width > text_width (s) ? width - text_width (s) : 0, "");
}

/* A bar of @frac (0..1) over @width cells, in eighths. */
static void
sb_bar (sbuf *b, double frac, int width)
{
  static const char *const part[] = { "", "▏", "▎", "▍", "▌", "▋", "▊", "▉" };
  int eighths = (int) (frac * width * 8 + 0.5);
  int cells = 0;

  if (eighths > width * 8)
    eighths = width * 8;
  for (; eighths >= 8; eighths -= 8, cells++)
    sb_printf (b, "█");
  if (eighths > 0)
    {
      sb_printf (b, "%s", part[eighths]);
      cells++;
    }
  sb_printf (b, "%*s", width - cells, "");
}

static void
render_counts (sbuf *b, const ts_summary *s, const palette *c)
{
  int name_w = 10;
  const int bar_w = 16;

  for (int v = 0; v < s->n_vocab; v++)
    if (text_width (s->classes[v].name) > name_w)
      name_w = text_width (s->classes[v].name);
  if (text_width (TS_("(no label)")) > name_w)
    name_w = text_width (TS_("(no label)"));
  if (name_w > 32)
    name_w = 32;

  double top = 0;

  /* bars scaled to the largest share, so rare classes stay visible */
  for (int v = 0; v <= s->n_vocab; v++)
    {
      int nt = v < s->n_vocab ? s->classes[v].n_train : s->n_no_label_train;
      int nv = v < s->n_vocab ? s->classes[v].n_valid : s->n_no_label_valid;
      if (s->n_train && (double) nt / s->n_train > top)
        top = (double) nt / s->n_train;
      if (s->n_valid && (double) nv / s->n_valid > top)
        top = (double) nv / s->n_valid;
    }
  if (top <= 0)
    top = 1;

  sb_printf (b, TS_("\n%sItems per label%s (count and share of the split's items)\n"), c->bold,
             c->reset);
  sb_printf (b, "  %*s  ", name_w, "");
  sb_pad (b, TS_("train"), bar_w + 12);
  sb_printf (b, "  %s\n", TS_("valid"));
  for (int v = 0; v <= s->n_vocab; v++)
    {
      const char *name = v < s->n_vocab ? s->classes[v].name : TS_("(no label)");
      int nt = v < s->n_vocab ? s->classes[v].n_train : s->n_no_label_train;
      int nv = v < s->n_vocab ? s->classes[v].n_valid : s->n_no_label_valid;
      double ft = s->n_train ? (double) nt / s->n_train : 0;
      double fv = s->n_valid ? (double) nv / s->n_valid : 0;

      sb_printf (b, "  ");
      if (v == s->n_vocab)
        sb_printf (b, "%s", c->dim);
      sb_pad (b, name, name_w);
      sb_printf (b, "  ");
      sb_bar (b, ft / top, bar_w);
      sb_printf (b, " %5d %4.0f%%  ", nt, ft * 100);
      if (s->n_valid > 0)
        {
          sb_bar (b, fv / top, bar_w);
          sb_printf (b, " %5d %4.0f%%", nv, fv * 100);
        }
      else
        sb_printf (b, "-");
      if (v == s->n_vocab)
        sb_printf (b, "%s", c->reset);
      sb_printf (b, "\n");
    }
}

static void
render_problems (sbuf *b, const ts_summary *s, const palette *c)
{
  int kinds = 0;
  char found[64];

  for (int k = 0; k < TS_PROBLEM_N_KINDS; k++)
    kinds += s->problems[k].count > 0;
  if (kinds == 0)
    {
      sb_printf (b, TS_("\n%sProblems%s: %snone found%s%s\n"), c->bold, c->reset, c->green,
                 c->reset, s->images_checked ? "" : TS_(" (images not checked)"));
      return;
    }
  /* TRANSLATORS: how many rows have a problem, in "Problems: 3 found, of 2 kinds"
     (its own plural form: the kinds choose the sentence's) */
  snprintf (found, sizeof found, TS_NG ("%d found", "%d found", s->n_problem_rows),
            s->n_problem_rows);
  /* TRANSLATORS: %4$s is "3 found" (rows); the plural is for "%5$d kinds" */
  sb_printf (b, TS_NG ("\n%1$sProblems%2$s: %3$s%4$s, of %5$d kind%6$s\n",
                       "\n%1$sProblems%2$s: %3$s%4$s, of %5$d kinds%6$s\n", kinds),
             c->bold, c->reset, c->yellow, found, kinds, c->reset);
  for (int k = 0; k < TS_PROBLEM_N_KINDS; k++)
    {
      const ts_problem *p = &s->problems[k];
      if (p->count == 0)
        continue;
      /* TRANSLATORS: the colour's start, a kind of problem, how many rows
         have it, the colour's end, then what to do about it */
      sb_printf (b, TS_("  %s%s: %d%s — %s\n"), c->yellow,
                 ts_problem_kind_name ((ts_problem_kind) k), p->count, c->reset,
                 ts_problem_kind_action ((ts_problem_kind) k));
      for (int e = 0; e < p->n_examples; e++)
        {
          char line[32];

          snprintf (line, sizeof line, TS_("line %d"), p->example_lines[e]);
          sb_printf (b, "    ");
          sb_pad (b, line, 11);
          sb_printf (b, " %s\n", p->example_text[e] ? p->example_text[e] : "");
        }
      if (p->count > p->n_examples)
        sb_printf (b, TS_("    %s... and %d more%s\n"), c->dim, p->count - p->n_examples,
                   c->reset);
    }
}

char *
ts_summary_render_text (const ts_summary *s, int color)
{
  static const palette plain = { "", "", "", "", "", "" };
  static const palette ansi = { "\033[1m", "\033[2m", "\033[31m", "\033[32m", "\033[33m",
                                "\033[0m" };
  const palette *c = color ? &ansi : &plain;
  const char *delim_name;
  const char *labels[] = { TS_("Items"), TS_("Split"), TS_("Images"), TS_("Labels"),
                           TS_("No label"), TS_("Vocab") };
  enum { L_ITEMS, L_SPLIT, L_IMAGES, L_LABELS, L_NO_LABEL, L_VOCAB, L_N };
  sbuf b = { 0 };
  int label_w = 9;
  int n_no_label = s->n_no_label_train + s->n_no_label_valid;

  /* the row titles line up however long their translations are */
  for (int i = 0; i < L_N; i++)
    if (text_width (labels[i]) > label_w)
      label_w = text_width (labels[i]);

  sb_printf (&b, TS_("%sDataBlock summary%s of %s\n\n"), c->bold, c->reset, s->csv_path);
  sb_printf (&b, "  ");
  sb_pad (&b, labels[L_ITEMS], label_w);
  if (s->n_items == s->n_rows)
    sb_printf (&b, TS_(" %d (every row usable)"), s->n_items);
  else
    {
      int n_skipped = s->n_rows - s->n_items;
      char skipped[64];

      /* TRANSLATORS: rows left out, in " 7 of 11 rows usable (4 skipped, see
         Problems)" (its own plural form: the rows choose the sentence's) */
      snprintf (skipped, sizeof skipped, TS_NG ("%d skipped", "%d skipped", n_skipped),
                n_skipped);
      /* TRANSLATORS: usable rows, rows, the colour's start, "4 skipped", the
         colour's end */
      sb_printf (&b, TS_NG (" %d of %d row usable (%s%s, see Problems%s)",
                            " %d of %d rows usable (%s%s, see Problems%s)", s->n_rows),
                 s->n_items, s->n_rows, c->yellow, skipped, c->reset);
    }
  sb_printf (&b, "\n  ");
  sb_pad (&b, labels[L_SPLIT], label_w);
  sb_printf (&b, TS_(" %s%d train%s, %s%d valid%s  (split: %s"), c->bold, s->n_train, c->reset,
             c->bold, s->n_valid, c->reset, s->split);
  if (s->n_items > 0 && s->n_valid > 0)
    sb_printf (&b, TS_(", %.1f%% valid"), 100.0 * s->n_valid / s->n_items);
  sb_printf (&b, ")\n  ");
  sb_pad (&b, labels[L_IMAGES], label_w);
  sb_printf (&b, " %s%s%s%s\n", s->image_dir, s->image_dir_exists ? "" : c->red,
             s->image_dir_exists ? "" : TS_("  (no such folder)"),
             s->image_dir_exists ? "" : c->reset);
  if (s->images_checked)
    {
      sb_printf (&b, "  %-*s ", label_w, "");
      if (s->n_shapes == 0)
        sb_printf (&b, "%s", TS_("none readable"));
      for (int k = 0; k < s->n_shapes && k < 3; k++)
        sb_printf (&b, "%s%d %s %dx%d", k ? ", " : "", s->shapes[k].count, s->shapes[k].mode,
                   s->shapes[k].width, s->shapes[k].height);
      if (s->n_shapes > 3)
        {
          int rest = 0;
          for (int k = 3; k < s->n_shapes; k++)
            rest += s->shapes[k].count;
          sb_printf (&b, TS_(", %d of other sizes"), rest);
        }
      sb_printf (&b, "\n");
    }
  else
    sb_printf (&b, TS_("  %-*s %simages not checked: missing or unreadable ones are not found%s\n"),
               label_w, "", c->dim, c->reset);
  sb_printf (&b, "  ");
  sb_pad (&b, labels[L_LABELS], label_w);
  sb_printf (&b, TS_(" column \"%s\" split on "), s->labels_col);
  if ((delim_name = ts_columns_delimiter_name (s->label_delim)) != NULL)
    sb_printf (&b, "%s", delim_name);
  else
    sb_quoted (&b, s->label_delim, 10);
  if (s->n_items > 0)
    sb_printf (&b, TS_(", %.2f labels per item on average"),
               (double) s->n_labels_total / s->n_items);
  sb_printf (&b, "\n  ");
  sb_pad (&b, labels[L_NO_LABEL], label_w);
  sb_printf (&b, TS_NG (" %d item (%d train, %d valid): all-zero targets\n",
                        " %d items (%d train, %d valid): all-zero targets\n", n_no_label),
             n_no_label, s->n_no_label_train, s->n_no_label_valid);
  sb_printf (&b, "  ");
  sb_pad (&b, labels[L_VOCAB], label_w);
  sb_printf (&b, " %s(%d)%s", c->dim, s->n_vocab, c->reset);
  {
    int col = label_w + 4 + 2 + (s->n_vocab > 9) + (s->n_vocab > 99);
    for (int v = 0; v < s->n_vocab; v++)
      {
        int w = text_width (s->vocab[v]) + 1;
        if (col + w > 96 && v > 0)
          {
            sb_printf (&b, "\n  %-*s", label_w + 4, "");
            col = label_w + 6;
          }
        sb_printf (&b, " %s", s->vocab[v]);
        col += w;
      }
  }
  sb_printf (&b, "\n");
  if (!s->usable)
    sb_printf (&b, TS_("\n  %sNothing to train on: no usable training item.%s\n"), c->red,
               c->reset);

  if (s->sample_item >= 0)
    {
      int name_w = 0;
      for (int i = 0; i < s->n_steps; i++)
        if (text_width (s->steps[i].name) > name_w)
          name_w = text_width (s->steps[i].name);
      for (int i = 0; i < s->n_tfm_steps; i++)
        if (text_width (s->tfm_steps[i].name) > name_w)
          name_w = text_width (s->tfm_steps[i].name);

      sb_printf (&b, s->sample_is_valid
                     ? TS_("\n%sBuilding one sample%s (validation item, CSV line %d)\n")
                     : TS_("\n%sBuilding one sample%s (training item, CSV line %d)\n"),
                 c->bold, c->reset, s->sample_line);
      for (int i = 0; i < s->n_steps; i++)
        {
          sb_printf (&b, "  %s", c->bold);
          sb_pad (&b, s->steps[i].name, name_w);
          sb_printf (&b, "%s %s\n", c->reset, s->steps[i].value);
          if (i + 1 < s->n_steps)
            sb_printf (&b, "  %*s %s| %s%s\n", name_w, "", c->dim, s->steps[i + 1].what,
                       c->reset);
        }
      sb_printf (&b, TS_("\n%sThen, in the data loader%s\n"), c->bold, c->reset);
      for (int i = 0; i < s->n_tfm_steps; i++)
        {
          sb_printf (&b, "  %s", c->bold);
          sb_pad (&b, s->tfm_steps[i].name, name_w);
          sb_printf (&b, "%s %s%s%s\n  %*s %s\n", c->reset, c->dim, s->tfm_steps[i].what,
                     c->reset, name_w, "", s->tfm_steps[i].value);
        }
    }

  if (s->n_items > 0)
    render_counts (&b, s, c);
  render_problems (&b, s, c);
  return sb_steal (&b);
}
