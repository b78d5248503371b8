/* DataBlock: columns, split rules, vocab, one-hot, no-label items, and every
 * row-level problem with its CSV lines. */
#include <string.h>

#include "ts-datablock.h"
#include "ts-image.h"
#include "ts-test.h"

typedef struct {
  char *dir;
  char *csv;
} fixture;

static void
fixture_setup (fixture *f, gconstpointer data)
{
  f->dir = ts_test_tmpdir ();
  f->csv = g_build_filename (f->dir, "train.csv", NULL);
}

static void
fixture_teardown (fixture *f, gconstpointer data)
{
  ts_test_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->csv);
}

static void
write_csv (fixture *f, const char *text)
{
  g_assert_true (g_file_set_contents (f->csv, text, -1, NULL));
}

static ts_datablock *
load_ok (fixture *f, const ts_datablock_config *cfg)
{
  ts_datablock *db = NULL;
  ts_status st = ts_datablock_load (f->csv, cfg, &db);

  if (st != TS_OK)
    g_error ("load failed: %s", ts_last_error ());
  g_assert_nonnull (db);
  return db;
}

static char *
load_error (fixture *f, const ts_datablock_config *cfg, ts_status expected)
{
  ts_datablock *db = (ts_datablock *) 0x1;

  g_assert_cmpint (ts_datablock_load (f->csv, cfg, &db), ==, expected);
  g_assert_null (db);
  return g_strdup (ts_last_error ());
}

static char *
item_labels (const ts_datablock *db, int i)
{
  GString *s = g_string_new (NULL);
  for (int j = 0; j < db->items[i].n_labels; j++)
    g_string_append_printf (s, "%s%s", j ? ";" : "", db->vocab[db->items[i].labels[j]]);
  return g_string_free (s, FALSE);
}

static char *
vocab_text (const ts_datablock *db)
{
  GString *s = g_string_new (NULL);
  for (int v = 0; v < db->n_vocab; v++)
    g_string_append_printf (s, "%s%s", v ? " " : "", db->vocab[v]);
  return g_string_free (s, FALSE);
}

static void
assert_problem (const ts_datablock *db, ts_problem_kind kind, int count, const int *lines,
                int n_lines)
{
  const ts_problem *p = &db->problems[kind];

  g_assert_cmpint (p->kind, ==, kind);
  g_assert_cmpint (p->count, ==, count);
  g_assert_cmpint (p->n_examples, ==, MIN (count, TS_PROBLEM_MAX_EXAMPLES));
  for (int i = 0; i < n_lines; i++)
    {
      g_assert_cmpint (p->example_lines[i], ==, lines[i]);
      g_assert_nonnull (p->example_text[i]);
    }
}

static void
test_basic (fixture *f, gconstpointer data)
{
  ts_datablock *db;
  char *dir = g_build_filename (f->dir, "train", NULL);
  char *s;
  float onehot[8];

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  write_csv (f, "fname,labels,is_valid\n"
                "a.jpg,dog cat,False\n"
                "b.jpg,cat,True\n"
                "c.jpg,,false\n"
                "d.jpg,person dog dog,FALSE\n"
                "e.jpg,Zebra apple,0\n");
  db = load_ok (f, NULL);

  g_assert_cmpint (db->n_rows, ==, 5);
  g_assert_cmpint (db->n_items, ==, 5);
  g_assert_cmpint (db->n_columns, ==, 3);
  g_assert_cmpstr (db->columns[2], ==, "is_valid");
  g_assert_cmpint (db->cfg.split, ==, TS_SPLIT_COLUMN);
  g_assert_cmpstr (db->image_dir, ==, dir);

  /* sorted like Python's sorted(): byte order, capitals first */
  s = vocab_text (db);
  g_assert_cmpstr (s, ==, "Zebra apple cat dog person");
  g_free (s);

  g_assert_cmpint (db->n_train, ==, 4);
  g_assert_cmpint (db->n_valid, ==, 1);
  g_assert_cmpint (db->valid_idx[0], ==, 1);
  g_assert_cmpint (db->train_idx[0], ==, 0);
  g_assert_cmpint (db->train_idx[3], ==, 4);

  g_assert_cmpstr (db->items[0].fname, ==, "a.jpg");
  s = g_build_filename (dir, "a.jpg", NULL);
  g_assert_cmpstr (db->items[0].path, ==, s);
  g_free (s);
  g_assert_cmpint (db->items[0].csv_line, ==, 2);
  g_assert_cmpint (db->items[4].csv_line, ==, 6);

  s = item_labels (db, 0);
  g_assert_cmpstr (s, ==, "cat;dog");
  g_free (s);
  /* duplicates within a row collapse, silently */
  s = item_labels (db, 3);
  g_assert_cmpstr (s, ==, "dog;person");
  g_free (s);
  g_assert_cmpint (db->problems[TS_PROBLEM_LABEL_WHITESPACE].count, ==, 0);

  /* the empty labels field: a no-label item with an all-zero target */
  g_assert_cmpint (db->items[2].n_labels, ==, 0);
  memset (onehot, 0x7f, sizeof onehot);
  ts_datablock_onehot (db, 2, onehot);
  for (int v = 0; v < db->n_vocab; v++)
    g_assert_cmpfloat (onehot[v], ==, 0.0f);

  ts_datablock_onehot (db, 0, onehot);
  g_assert_cmpfloat (onehot[0], ==, 0.0f);
  g_assert_cmpfloat (onehot[1], ==, 0.0f);
  g_assert_cmpfloat (onehot[2], ==, 1.0f);
  g_assert_cmpfloat (onehot[3], ==, 1.0f);
  g_assert_cmpfloat (onehot[4], ==, 0.0f);

  for (int k = 0; k < TS_PROBLEM_N_KINDS; k++)
    g_assert_cmpint (db->problems[k].count, ==, 0);
  ts_datablock_free (db);
  g_free (dir);
}

static void
test_image_dir (fixture *f, gconstpointer data)
{
  ts_datablock_config cfg;
  ts_datablock *db;
  char *expect;

  write_csv (f, "fname,labels\nx/a.png,a\n/abs/b.png,b\n");
  /* no train/ folder: the CSV's own folder */
  db = load_ok (f, NULL);
  g_assert_cmpstr (db->image_dir, ==, f->dir);
  expect = g_build_filename (f->dir, "x", "a.png", NULL);
  g_assert_cmpstr (db->items[0].path, ==, expect);
  g_free (expect);
  /* an absolute file name stays, like pathlib's path / name */
  g_assert_cmpstr (db->items[1].path, ==, "/abs/b.png");
  /* no is_valid column: everything trains */
  g_assert_cmpint (db->cfg.split, ==, TS_SPLIT_NONE);
  g_assert_cmpint (db->n_train, ==, 2);
  g_assert_cmpint (db->n_valid, ==, 0);
  ts_datablock_free (db);

  /* a relative folder is relative to the CSV's */
  ts_datablock_config_init (&cfg);
  cfg.image_dir = "pics";
  db = load_ok (f, &cfg);
  expect = g_build_filename (f->dir, "pics", NULL);
  g_assert_cmpstr (db->image_dir, ==, expect);
  g_free (expect);
  ts_datablock_free (db);

  cfg.image_dir = "/data/images";
  db = load_ok (f, &cfg);
  g_assert_cmpstr (db->items[0].path, ==, "/data/images/x/a.png");
  ts_datablock_free (db);
}

static void
test_missing_columns (fixture *f, gconstpointer data)
{
  ts_datablock_config cfg;
  char *msg;

  write_csv (f, "fname,Labels,is_valid\na.jpg,x,True\n");
  msg = load_error (f, NULL, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (msg, f->csv));
  g_assert_nonnull (strstr (msg, "line 1"));
  g_assert_nonnull (strstr (msg, "no labels column \"labels\""));
  g_assert_nonnull (strstr (msg, "columns found: \"fname\", \"Labels\", \"is_valid\""));
  g_assert_nonnull (strstr (msg, "did you mean \"Labels\""));
  g_free (msg);

  ts_datablock_config_init (&cfg);
  cfg.fname_col = "image";
  cfg.labels_col = "Labels";
  msg = load_error (f, &cfg, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (msg, "no file name column \"image\""));
  g_assert_null (strstr (msg, "did you mean"));
  g_free (msg);

  /* an explicit split column must exist; the automatic one may not */
  ts_datablock_config_init (&cfg);
  cfg.labels_col = "Labels";
  cfg.split = TS_SPLIT_COLUMN;
  cfg.split_col = "valid";
  msg = load_error (f, &cfg, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (msg, "no split column \"valid\""));
  g_free (msg);

  /* no file name column at all: the CLI's column guess then falls back to the
   * first one, here the labels; reading labels as file names would only
   * report every row as a missing image */
  write_csv (f, "labels,is_valid\ncat,False\ndog,True\n");
  ts_datablock_config_init (&cfg);
  cfg.fname_col = "labels";
  msg = load_error (f, &cfg, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (msg, f->csv));
  g_assert_nonnull (strstr (msg, "line 1"));
  g_assert_nonnull (strstr (msg, "\"labels\" is both the file name and the labels column"));
  g_assert_nonnull (strstr (msg, "columns found: \"labels\", \"is_valid\""));
  g_free (msg);
}

static void
test_empty_files (fixture *f, gconstpointer data)
{
  char *msg;

  write_csv (f, "");
  msg = load_error (f, NULL, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (msg, "empty"));
  g_free (msg);

  write_csv (f, "fname,labels\n\n");
  msg = load_error (f, NULL, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (msg, "no data rows"));
  g_free (msg);

  write_csv (f, "fname,labels\n\xFF\n");
  msg = load_error (f, NULL, TS_ERR_FORMAT);
  g_free (msg);

  write_csv (f, "fn\xFFme,labels\na,b\n");
  msg = load_error (f, NULL, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (msg, "header"));
  g_assert_nonnull (strstr (msg, "invalid UTF-8 at line 1, column 3"));
  g_free (msg);

  g_remove (f->csv);
  msg = load_error (f, NULL, TS_ERR_IO);
  g_assert_nonnull (strstr (msg, f->csv));
  g_free (msg);
}

static void
test_nothing_usable (fixture *f, gconstpointer data)
{
  char *msg;

  write_csv (f, "fname,labels,is_valid\na.jpg,x\nb.jpg,y,maybe\n");
  msg = load_error (f, NULL, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (msg, "no usable rows"));
  /* each kind names its first defect, not just where it is */
  g_assert_nonnull (strstr (msg, "malformed rows: 1, first on line 2 [wrong field count: "
                                 "2 fields, but the columns used (\"fname\", \"labels\", "
                                 "\"is_valid\") need at least 3]"));
  g_assert_nonnull (strstr (msg, "bad split values: 1, first on line 3 ["));
  g_free (msg);

  write_csv (f, "fname,labels,is_valid\n\"a.jpg,x,False\nb.jpg,y,False\n");
  msg = load_error (f, NULL, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (msg, "malformed rows: 1, first on line 2 [unterminated quote: the "
                                 "quote at line 2, column 1 never closes"));
  g_free (msg);

  write_csv (f, "fname,labels,is_valid\nb\xe9.jpg,x,False\n");
  msg = load_error (f, NULL, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (msg, "first on line 2 [invalid UTF-8 at line 2, column 2"));
  g_free (msg);
}

static void
test_split_values (fixture *f, gconstpointer data)
{
  static const int bad_lines[] = { 15, 16, 17 };
  ts_datablock *db;

  write_csv (f, "fname,labels,is_valid\n"
                "1,a,True\n2,a,true\n3,a,TRUE\n4,a,1\n5,a,yes\n6,a,YeS\n7,a, True \n"
                "8,a,False\n9,a,false\n10,a,0\n11,a,no\n12,a,NO\n13,a,fAlSe\n"
                "14,a,maybe\n15,a,\n16,a,2\n");
  db = load_ok (f, NULL);
  g_assert_cmpint (db->n_rows, ==, 16);
  g_assert_cmpint (db->n_items, ==, 13);
  g_assert_cmpint (db->n_valid, ==, 7);
  g_assert_cmpint (db->n_train, ==, 6);
  for (int i = 0; i < 7; i++)
    g_assert_true (db->items[i].is_valid);
  for (int i = 7; i < 13; i++)
    g_assert_false (db->items[i].is_valid);
  /* a bad value skips the row: neither side is a safe guess */
  assert_problem (db, TS_PROBLEM_BAD_SPLIT_VALUE, 3, bad_lines, 3);
  g_assert_nonnull (strstr (db->problems[TS_PROBLEM_BAD_SPLIT_VALUE].example_text[0],
                            "\"maybe\""));
  ts_datablock_free (db);
}

static void
test_split_column_named (fixture *f, gconstpointer data)
{
  ts_datablock_config cfg;
  ts_datablock *db;

  write_csv (f, "file,tags,valid,is_valid\na,x;y,no,yes\nb,y,yes,no\n");
  ts_datablock_config_init (&cfg);
  cfg.fname_col = "file";
  cfg.labels_col = "tags";
  cfg.label_delim = ";";
  cfg.split = TS_SPLIT_COLUMN;
  cfg.split_col = "valid";
  db = load_ok (f, &cfg);
  g_assert_cmpint (db->n_items, ==, 2);
  g_assert_false (db->items[0].is_valid);
  g_assert_true (db->items[1].is_valid);
  g_assert_cmpint (db->items[0].n_labels, ==, 2);
  g_assert_cmpint (db->n_vocab, ==, 2);
  ts_datablock_free (db);

  cfg.split = TS_SPLIT_NONE;
  db = load_ok (f, &cfg);
  g_assert_cmpint (db->n_train, ==, 2);
  g_assert_cmpint (db->n_valid, ==, 0);
  ts_datablock_free (db);
}

static void
test_split_random (fixture *f, gconstpointer data)
{
  GString *text = g_string_new ("fname,labels,is_valid\n");
  ts_datablock_config cfg;
  ts_datablock *a, *b, *c;
  int same = 1;

  for (int i = 0; i < 50; i++)
    g_string_append_printf (text, "img%02d.jpg,l%d,True\n", i, i % 3);
  write_csv (f, text->str);
  g_string_free (text, TRUE);

  ts_datablock_config_init (&cfg);
  cfg.split = TS_SPLIT_RANDOM;
  cfg.valid_pct = 0.2;
  cfg.seed = 7;
  a = load_ok (f, &cfg);
  b = load_ok (f, &cfg);
  cfg.seed = 8;
  c = load_ok (f, &cfg);

  /* fastai's RandomSplitter: int(valid_pct * n) validation items; the
   * is_valid column is ignored */
  g_assert_cmpint (a->n_valid, ==, 10);
  g_assert_cmpint (a->n_train, ==, 40);
  g_assert_cmpint (c->n_valid, ==, 10);
  for (int i = 0; i < 10; i++)
    {
      g_assert_cmpint (a->valid_idx[i], ==, b->valid_idx[i]);
      if (a->valid_idx[i] != c->valid_idx[i])
        same = 0;
      if (i > 0)
        g_assert_cmpint (a->valid_idx[i], >, a->valid_idx[i - 1]);
    }
  g_assert_false (same);
  /* a partition of the items */
  {
    int seen[50] = { 0 };
    for (int i = 0; i < a->n_train; i++)
      seen[a->train_idx[i]]++;
    for (int i = 0; i < a->n_valid; i++)
      seen[a->valid_idx[i]]++;
    for (int i = 0; i < 50; i++)
      g_assert_cmpint (seen[i], ==, 1);
  }
  ts_datablock_free (a);
  ts_datablock_free (b);
  ts_datablock_free (c);

  cfg.valid_pct = 0.13;   /* int(6.5) = 6 */
  a = load_ok (f, &cfg);
  g_assert_cmpint (a->n_valid, ==, 6);
  ts_datablock_free (a);
  cfg.valid_pct = 0.0;
  a = load_ok (f, &cfg);
  g_assert_cmpint (a->n_valid, ==, 0);
  ts_datablock_free (a);

  cfg.valid_pct = 1.5;
  g_free (load_error (f, &cfg, TS_ERR_INVALID));
}

static void
test_label_whitespace (fixture *f, gconstpointer data)
{
  static const int lines[] = { 3, 4, 5, 6, 7 };
  ts_datablock_config cfg;
  ts_datablock *db;
  char *s;

  write_csv (f, "fname,labels\n"
                "ok.jpg,a b\n"
                "double.jpg,a  b\n"
                "lead.jpg, a\n"
                "trail.jpg,b \n"
                "tab.jpg,a\tb\n"
                "blank.jpg,   \n");
  db = load_ok (f, NULL);
  g_assert_cmpint (db->n_items, ==, 6);
  assert_problem (db, TS_PROBLEM_LABEL_WHITESPACE, 5, lines, 5);
  g_assert_nonnull (strstr (db->problems[TS_PROBLEM_LABEL_WHITESPACE].example_text[0],
                            "doubled"));
  s = vocab_text (db);
  /* no "" label (fastai's str.split would make one) */
  g_assert_cmpstr (s, ==, "a a\tb b");
  g_free (s);
  s = item_labels (db, 1);
  g_assert_cmpstr (s, ==, "a;b");
  g_free (s);
  g_assert_cmpint (db->items[5].n_labels, ==, 0);
  ts_datablock_free (db);

  ts_datablock_config_init (&cfg);
  cfg.label_delim = ";";
  write_csv (f, "fname,labels\n1,dining table;person\n2,person; car\n3,car;;person\n4,car;\n");
  db = load_ok (f, &cfg);
  s = vocab_text (db);
  g_assert_cmpstr (s, ==, "car dining table person");
  g_free (s);
  g_assert_cmpint (db->problems[TS_PROBLEM_LABEL_WHITESPACE].count, ==, 3);
  g_assert_cmpint (db->problems[TS_PROBLEM_LABEL_WHITESPACE].example_lines[0], ==, 3);
  ts_datablock_free (db);

  /* a multi-character delimiter */
  cfg.label_delim = ", ";
  write_csv (f, "fname,labels\n1,\"a, b\"\n");
  db = load_ok (f, &cfg);
  g_assert_cmpint (db->items[0].n_labels, ==, 2);
  ts_datablock_free (db);
}

static void
test_duplicates_and_malformed (fixture *f, gconstpointer data)
{
  static const int dup_lines[] = { 4, 7 };
  static const int bad_lines[] = { 5, 6, 11 };
  ts_datablock *db;
  const ts_problem *p;

  write_csv (f, "fname,labels,is_valid\n"
                "a.jpg,x,False\n"
                "b.jpg,y,True\n"
                "a.jpg,z,True\n"
                "c.jpg,x\n"
                "d.jpg,x,False,extra\n"
                "b.jpg,x,False\n"
                "\"e\n.jpg\",x,False\n"
                ",x,False\n"
                "f.jpg,\"x,False\n"
                "g.jpg,x,False\n");
  db = load_ok (f, NULL);
  g_assert_cmpint (db->n_rows, ==, 9);
  g_assert_cmpint (db->n_items, ==, 3);
  g_assert_cmpstr (db->items[0].fname, ==, "a.jpg");
  g_assert_cmpstr (db->items[1].fname, ==, "b.jpg");
  g_assert_cmpstr (db->items[2].fname, ==, "e\n.jpg");
  g_assert_cmpint (db->items[2].csv_line, ==, 8);
  /* the first row of a file wins */
  g_assert_true (db->items[1].is_valid);

  assert_problem (db, TS_PROBLEM_DUPLICATE_FNAME, 2, dup_lines, 2);
  p = &db->problems[TS_PROBLEM_DUPLICATE_FNAME];
  g_assert_nonnull (strstr (p->example_text[0], "\"a.jpg\" was already listed on line 2"));
  g_assert_nonnull (strstr (p->example_text[1], "\"b.jpg\" was already listed on line 3"));

  assert_problem (db, TS_PROBLEM_MALFORMED_ROW, 3, bad_lines, 3);
  p = &db->problems[TS_PROBLEM_MALFORMED_ROW];
  g_assert_cmpstr (p->example_text[0], ==,
                   "wrong field count: 2 fields, but the columns used (\"fname\", \"labels\", "
                   "\"is_valid\") need at least 3");
  g_assert_nonnull (strstr (p->example_text[1], "4 fields, more than the header's 3 columns"));
  g_assert_nonnull (strstr (p->example_text[2], "unterminated quote"));
  g_assert_cmpint (db->problems[TS_PROBLEM_EMPTY_FNAME].count, ==, 1);
  g_assert_cmpint (db->problems[TS_PROBLEM_EMPTY_FNAME].example_lines[0], ==, 10);
  ts_datablock_free (db);
}

/* A row may stop before columns the datablock does not read, as pandas
 * fills them with NaN: a header with a trailing comma (an empty last
 * column) must not turn every row into a malformed one.  A row missing a
 * column that is read, or with more fields than the header, still is. */
static void
test_short_rows_unused_columns (fixture *f, gconstpointer data)
{
  static const int bad_lines[] = { 5, 6 };
  ts_datablock *db;

  write_csv (f, "fname,labels,is_valid,\n"
                "a.jpg,x,False\n"
                "b.jpg,y,True,\n"
                "c.jpg,x y,False\n"
                "d.jpg,x\n"
                "e.jpg,x,False,,\n");
  db = load_ok (f, NULL);
  g_assert_cmpint (db->n_rows, ==, 5);
  g_assert_cmpint (db->n_items, ==, 3);
  g_assert_cmpint (db->n_train, ==, 2);
  g_assert_cmpint (db->n_valid, ==, 1);
  assert_problem (db, TS_PROBLEM_MALFORMED_ROW, 2, bad_lines, 2);
  /* what is really required: the columns read, not the header's 4 */
  g_assert_cmpstr (db->problems[TS_PROBLEM_MALFORMED_ROW].example_text[0], ==,
                   "wrong field count: 2 fields, but the columns used (\"fname\", \"labels\", "
                   "\"is_valid\") need at least 3");
  g_assert_cmpstr (db->problems[TS_PROBLEM_MALFORMED_ROW].example_text[1], ==,
                   "wrong field count: 5 fields, more than the header's 4 columns");
  ts_datablock_free (db);

  write_csv (f, "notes,fname,labels\nn,a.jpg,x\n,b.jpg\n");
  db = load_ok (f, NULL);
  g_assert_cmpint (db->n_items, ==, 1);
  g_assert_cmpint (db->problems[TS_PROBLEM_MALFORMED_ROW].count, ==, 1);
  /* without a split column it is not named */
  g_assert_cmpstr (db->problems[TS_PROBLEM_MALFORMED_ROW].example_text[0], ==,
                   "wrong field count: 2 fields, but the columns used (\"fname\", \"labels\") "
                   "need at least 3");
  ts_datablock_free (db);
}

static void
test_invalid_utf8 (fixture *f, gconstpointer data)
{
  ts_datablock *db;
  const ts_problem *p;
  GString *text = g_string_new ("\xEF\xBB\xBF" "fname,labels,is_valid\r\n");

  g_string_append (text, "ok.jpg,x,False\r\n");
  for (int i = 0; i < 7; i++)
    g_string_append_printf (text, "bad%d.jpg,\xE9t\xE9,False\r\n", i);
  g_string_append (text, "\xC3\xA9t\xC3\xA9.jpg,\xC3\xA9t\xC3\xA9,False\r\n");
  write_csv (f, text->str);
  g_string_free (text, TRUE);

  db = load_ok (f, NULL);
  g_assert_cmpstr (db->columns[0], ==, "fname");
  g_assert_cmpint (db->n_items, ==, 2);
  g_assert_cmpint (db->items[1].csv_line, ==, 10);
  p = &db->problems[TS_PROBLEM_INVALID_UTF8];
  g_assert_cmpint (p->count, ==, 7);
  g_assert_cmpint (p->n_examples, ==, TS_PROBLEM_MAX_EXAMPLES);
  for (int i = 0; i < TS_PROBLEM_MAX_EXAMPLES; i++)
    g_assert_cmpint (p->example_lines[i], ==, 3 + i);
  g_assert_nonnull (strstr (p->example_text[0], "line 3, column 10"));
  ts_datablock_free (db);
}

static void
test_unknown_valid_label (fixture *f, gconstpointer data)
{
  ts_datablock_config cfg;
  ts_datablock *db;
  char *s;

  write_csv (f, "fname,labels,is_valid\na,x,False\nb,x y,True\nc,z,True\n");
  db = load_ok (f, NULL);
  /* fastai's vocab comes from the training set */
  s = vocab_text (db);
  g_assert_cmpstr (s, ==, "x");
  g_free (s);
  g_assert_cmpint (db->items[1].n_labels, ==, 1);
  g_assert_cmpint (db->items[2].n_labels, ==, 0);
  g_assert_cmpint (db->problems[TS_PROBLEM_UNKNOWN_LABEL].count, ==, 2);
  g_assert_cmpint (db->problems[TS_PROBLEM_UNKNOWN_LABEL].example_lines[0], ==, 3);
  g_assert_nonnull (strstr (db->problems[TS_PROBLEM_UNKNOWN_LABEL].example_text[0], "\"y\""));
  ts_datablock_free (db);

  ts_datablock_config_init (&cfg);
  cfg.split = TS_SPLIT_NONE;
  db = load_ok (f, &cfg);
  s = vocab_text (db);
  g_assert_cmpstr (s, ==, "x y z");
  g_free (s);
  g_assert_cmpint (db->problems[TS_PROBLEM_UNKNOWN_LABEL].count, ==, 0);
  ts_datablock_free (db);
}

static void
save_jpeg (const char *path, int w, int h)
{
  ts_image img = { g_malloc0 ((gsize) w * h * 3), w, h };

  for (int i = 0; i < w * h * 3; i++)
    img.pixels[i] = (uint8_t) (i * 7);
  if (ts_image_save_jpeg (&img, path, 90) != TS_OK)
    g_error ("%s", ts_last_error ());
  g_free (img.pixels);
}

static void
test_check_images (fixture *f, gconstpointer data)
{
  char *train = g_build_filename (f->dir, "train", NULL);
  char *path;
  ts_datablock *db;
  const char *mode;
  int w, h;

  g_assert_cmpint (g_mkdir (train, 0755), ==, 0);
  path = g_build_filename (train, "a.jpg", NULL);
  save_jpeg (path, 24, 16);
  g_free (path);
  path = g_build_filename (train, "b.jpg", NULL);
  save_jpeg (path, 10, 12);
  g_free (path);
  path = g_build_filename (train, "junk.jpg", NULL);
  g_assert_true (g_file_set_contents (path, "this is not a JPEG", -1, NULL));
  g_free (path);
  path = g_build_filename (train, "folder.jpg", NULL);
  g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
  g_free (path);

  write_csv (f, "fname,labels,is_valid\n"
                "a.jpg,x,False\n"
                "missing.jpg,y,False\n"
                "junk.jpg,x,True\n"
                "b.jpg,x z,True\n"
                "folder.jpg,x,True\n");
  db = load_ok (f, NULL);
  g_assert_cmpint (db->n_items, ==, 5);
  g_assert_cmpint (db->n_vocab, ==, 2);
  g_assert_false (ts_datablock_image_info (db, 0, &w, &h, &mode));
  g_assert_cmpint (ts_datablock_check_images (db), ==, TS_OK);
  g_assert_true (db->images_checked);
  g_assert_cmpint (db->n_items, ==, 2);
  g_assert_cmpstr (db->items[0].fname, ==, "a.jpg");
  g_assert_cmpstr (db->items[1].fname, ==, "b.jpg");
  g_assert_cmpint (db->n_train, ==, 1);
  g_assert_cmpint (db->n_valid, ==, 1);
  g_assert_cmpint (db->valid_idx[0], ==, 1);
  /* the vocab is rebuilt: "y" was only on the missing image; "z" is only on
   * a validation item */
  g_assert_cmpint (db->n_vocab, ==, 1);
  g_assert_cmpstr (db->vocab[0], ==, "x");
  g_assert_cmpint (db->problems[TS_PROBLEM_UNKNOWN_LABEL].count, ==, 1);

  g_assert_cmpint (db->problems[TS_PROBLEM_MISSING_FILE].count, ==, 1);
  g_assert_cmpint (db->problems[TS_PROBLEM_MISSING_FILE].example_lines[0], ==, 3);
  g_assert_nonnull (strstr (db->problems[TS_PROBLEM_MISSING_FILE].example_text[0],
                            "missing.jpg"));
  g_assert_cmpint (db->problems[TS_PROBLEM_UNREADABLE_IMAGE].count, ==, 2);
  g_assert_cmpint (db->problems[TS_PROBLEM_UNREADABLE_IMAGE].example_lines[0], ==, 4);
  g_assert_nonnull (strstr (db->problems[TS_PROBLEM_UNREADABLE_IMAGE].example_text[0],
                            "junk.jpg"));
  g_assert_cmpint (db->problems[TS_PROBLEM_UNREADABLE_IMAGE].example_lines[1], ==, 6);

  g_assert_true (ts_datablock_image_info (db, 0, &w, &h, &mode));
  g_assert_cmpint (w, ==, 24);
  g_assert_cmpint (h, ==, 16);
  g_assert_cmpstr (mode, ==, "RGB");
  g_assert_true (ts_datablock_image_info (db, 1, &w, &h, NULL));
  g_assert_cmpint (w, ==, 10);

  /* running it again finds the same (no double counting) */
  g_assert_cmpint (ts_datablock_check_images (db), ==, TS_OK);
  g_assert_cmpint (db->problems[TS_PROBLEM_MISSING_FILE].count, ==, 1);
  ts_datablock_free (db);

  /* nothing left: an error, and the datablock still describes why */
  write_csv (f, "fname,labels\nmissing.jpg,x\njunk.jpg,x\n");
  db = load_ok (f, NULL);
  g_assert_cmpint (ts_datablock_check_images (db), ==, TS_ERR_IO);
  g_assert_nonnull (strstr (ts_last_error (), "no usable images"));
  g_assert_nonnull (strstr (ts_last_error (), "missing image files: 1, first on line 2"));
  g_assert_cmpint (db->n_items, ==, 0);
  g_assert_cmpint (db->n_vocab, ==, 0);
  ts_datablock_free (db);
  g_free (train);
}

static void
test_names (void)
{
  for (int k = 0; k < TS_PROBLEM_N_KINDS; k++)
    {
      g_assert_cmpstr (ts_problem_kind_name ((ts_problem_kind) k), !=, "unknown problem");
      g_assert_cmpstr (ts_problem_kind_action ((ts_problem_kind) k), !=, "");
    }
  g_assert_cmpstr (ts_split_kind_name (TS_SPLIT_RANDOM), ==, "random");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(name, fn) g_test_add ("/datablock/" name, fixture, NULL, fixture_setup, fn, \
                                  fixture_teardown)
  ADD ("basic", test_basic);
  ADD ("image-dir", test_image_dir);
  ADD ("missing-columns", test_missing_columns);
  ADD ("empty-files", test_empty_files);
  ADD ("nothing-usable", test_nothing_usable);
  ADD ("split-values", test_split_values);
  ADD ("split-column-named", test_split_column_named);
  ADD ("split-random", test_split_random);
  ADD ("label-whitespace", test_label_whitespace);
  ADD ("duplicates-and-malformed", test_duplicates_and_malformed);
  ADD ("short-rows-unused-columns", test_short_rows_unused_columns);
  ADD ("invalid-utf8", test_invalid_utf8);
  ADD ("unknown-valid-label", test_unknown_valid_label);
  ADD ("check-images", test_check_images);
#undef ADD
  g_test_add_func ("/datablock/names", test_names);
  return g_test_run ();
}
