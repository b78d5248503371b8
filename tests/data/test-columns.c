/* test-columns.c: guessing the column mapping from a CSV header (ts-columns.h). */
#include <glib.h>
#include <string.h>

#include "ts-columns.h"
#include "ts-test.h"

static void
detect (const char *const *cols, int n_cols, const char *const *const *rows, int n_rows,
        ts_column_guess *g)
{
  memset (g, 0x55, sizeof *g);
  ts_columns_detect (cols, n_cols, rows, n_rows, g);
}

static void
test_fastai_layout (void)
{
  const char *cols[] = { "fname", "labels", "is_valid" };
  const char *r0[] = { "000005.jpg", "chair", "True" };
  const char *r1[] = { "000007.jpg", "car person", "False" };
  const char *const *rows[] = { r0, r1 };
  ts_column_guess g;

  detect (cols, 3, rows, 2, &g);
  g_assert_cmpint (g.fname, ==, 0);
  g_assert_cmpint (g.labels, ==, 1);
  g_assert_cmpint (g.split, ==, 2);
  g_assert_cmpstr (g.delim, ==, " ");
}

static void
test_other_names (void)
{
  /* reordered, differently spelt, a semicolon delimiter and an extra column */
  const char *cols[] = { "Tags", "notes", "Image ID", "valid" };
  const char *r0[] = { "traffic light;car", "x", "a.png", "0" };
  const char *r1[] = { "car", "y", "b.png", "1" };
  const char *const *rows[] = { r0, r1 };
  ts_column_guess g;

  detect (cols, 4, rows, 2, &g);
  g_assert_cmpint (g.fname, ==, 2);
  g_assert_cmpint (g.labels, ==, 0);
  g_assert_cmpint (g.split, ==, 3);
  g_assert_cmpstr (g.delim, ==, ";");
}

static void
test_by_content (void)
{
  /* no known names: the file names are found by their extension, the split
   * by its boolean values, and the labels are what is left */
  const char *cols[] = { "a", "b", "c" };
  const char *r0[] = { "yes", "cat|dog", "img/1.JPG" };
  const char *r1[] = { "no", "dog", "img/2.jpg" };
  const char *const *rows[] = { r0, r1 };
  ts_column_guess g;

  detect (cols, 3, rows, 2, &g);
  g_assert_cmpint (g.fname, ==, 2);
  g_assert_cmpint (g.labels, ==, 1);
  g_assert_cmpint (g.split, ==, 0);
  g_assert_cmpstr (g.delim, ==, "|");
}

static void
test_named_split_not_boolean (void)
{
  /* a "valid" column with values the datablock cannot read is no split:
   * a random split is safer than dropping every row */
  const char *cols[] = { "fname", "labels", "valid" };
  const char *r0[] = { "a.jpg", "x", "train" };
  const char *r1[] = { "b.jpg", "y", "test" };
  const char *const *rows[] = { r0, r1 };
  ts_column_guess g;

  detect (cols, 3, rows, 2, &g);
  g_assert_cmpint (g.split, ==, -1);
  g_assert_cmpint (g.labels, ==, 1);
}

static void
test_named_split_one_bad_value (void)
{
  /* mostly booleans: still the split; the bad row is the datablock's to report */
  const char *cols[] = { "fname", "labels", "is_valid" };
  const char *r0[] = { "a.jpg", "x", "True" };
  const char *r1[] = { "b.jpg", "y", "perhaps" };
  const char *r2[] = { "c.jpg", "y", "False" };
  const char *const *rows[] = { r0, r1, r2 };
  ts_column_guess g;

  detect (cols, 3, rows, 3, &g);
  g_assert_cmpint (g.split, ==, 2);
  g_assert_cmpint (g.labels, ==, 1);
}

static void
test_header_only (void)
{
  const char *cols[] = { "fname" };
  ts_column_guess g;

  detect (cols, 1, NULL, 0, &g);
  g_assert_cmpint (g.fname, ==, 0);
  g_assert_cmpint (g.labels, ==, -1);
  g_assert_cmpint (g.split, ==, -1);
  g_assert_cmpstr (g.delim, ==, " ");
}

static void
test_short_rows (void)
{
  /* a short row (NULL fields) must not crash the guess */
  const char *cols[] = { "fname", "labels", "is_valid" };
  const char *r0[] = { "a.jpg", NULL, NULL };
  const char *r1[] = { "b.jpg", "x,y", "False" };
  const char *const *rows[] = { r0, r1 };
  ts_column_guess g;

  detect (cols, 3, rows, 2, &g);
  g_assert_cmpint (g.labels, ==, 1);
  g_assert_cmpstr (g.delim, ==, ",");
  /* the short row has no split value: not every sample is boolean */
  g_assert_cmpint (g.split, ==, -1);
}

static void
test_is_boolean (void)
{
  g_assert_true (ts_columns_is_boolean ("True"));
  g_assert_true (ts_columns_is_boolean (" no "));
  g_assert_true (ts_columns_is_boolean ("0"));
  g_assert_false (ts_columns_is_boolean ("2"));
  g_assert_false (ts_columns_is_boolean (""));
  g_assert_false (ts_columns_is_boolean (NULL));
}

/* From a file: the header and sample rows read with the CSV reader. */
static void
test_from_csv (void)
{
  char *dir = ts_test_tmpdir ();
  char *path = g_build_filename (dir, "t.csv", NULL);
  char *empty = g_build_filename (dir, "empty.csv", NULL);
  ts_column_detection d;

  g_assert_true (g_file_set_contents (path, "\"Image ID\",notes,Tags,valid\n"
                                      "a.png,\"x, y\",\"car;traffic light\",0\n"
                                      "b.png,z,car,1\n", -1, NULL));
  g_assert_cmpint (ts_columns_detect_csv (path, &d), ==, TS_OK);
  g_assert_cmpint (d.n_columns, ==, 4);
  g_assert_cmpstr (d.columns[0], ==, "Image ID");
  g_assert_cmpint (d.guess.fname, ==, 0);
  g_assert_cmpint (d.guess.labels, ==, 2);
  g_assert_cmpint (d.guess.split, ==, 3);
  g_assert_cmpstr (d.guess.delim, ==, ";");
  ts_column_detection_clear (&d);

  g_assert_true (g_file_set_contents (empty, "", -1, NULL));
  g_assert_cmpint (ts_columns_detect_csv (empty, &d), ==, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (ts_last_error (), "empty"));
  ts_column_detection_clear (&d);
  g_assert_cmpint (ts_columns_detect_csv ("/nonexistent/x.csv", &d), !=, TS_OK);
  ts_column_detection_clear (&d);

  ts_test_rmdir (dir);
  g_free (empty);
  g_free (path);
  g_free (dir);
}

/* Sample rows the CSV reader flags as defective (a quote that never closes,
 * invalid UTF-8) are skipped by the datablock, so they must not sway the
 * guess: the commas of the lines an open quote swallowed are no delimiter. */
static void
test_defective_rows_ignored (void)
{
  char *dir = ts_test_tmpdir ();
  char *path = g_build_filename (dir, "t.csv", NULL);
  ts_column_detection d;

  g_assert_true (g_file_set_contents (path, "fname,labels,is_valid\n"
                                      "a.jpg,cat dog,False\n"
                                      "b.jpg,cat,True\n"
                                      "c.jpg,\"dog,False\n"
                                      "d.jpg,cat,False\n"
                                      "e.jpg,x\xff;y,False\n", -1, NULL));
  g_assert_cmpint (ts_columns_detect_csv (path, &d), ==, TS_OK);
  g_assert_cmpint (d.guess.fname, ==, 0);
  g_assert_cmpint (d.guess.labels, ==, 1);
  g_assert_cmpint (d.guess.split, ==, 2);
  g_assert_cmpstr (d.guess.delim, ==, " ");
  ts_column_detection_clear (&d);

  g_assert_true (g_file_set_contents (path, "fname,labels,is_valid\n"
                                      "a.jpg,cat dog,False\n"
                                      "e.jpg,x\xff;y,False\n", -1, NULL));
  g_assert_cmpint (ts_columns_detect_csv (path, &d), ==, TS_OK);
  g_assert_cmpstr (d.guess.delim, ==, " ");
  ts_column_detection_clear (&d);

  ts_test_rmdir (dir);
  g_free (path);
  g_free (dir);
}

/* Every delimiter detection can find has words for the messages; others
 * are quoted by the caller. */
static void
test_delimiter_name (void)
{
  static const char *const detectable[] = { " ", ";", ",", "|" };

  for (guint i = 0; i < G_N_ELEMENTS (detectable); i++)
    g_assert_nonnull (ts_columns_delimiter_name (detectable[i]));
  g_assert_cmpstr (ts_columns_delimiter_name (" "), ==, "a space");
  g_assert_cmpstr (ts_columns_delimiter_name ("|"), ==, "a vertical bar");
  g_assert_null (ts_columns_delimiter_name ("#"));
  g_assert_null (ts_columns_delimiter_name ("  "));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/data/columns/delimiter-name", test_delimiter_name);
  g_test_add_func ("/data/columns/fastai", test_fastai_layout);
  g_test_add_func ("/data/columns/other-names", test_other_names);
  g_test_add_func ("/data/columns/by-content", test_by_content);
  g_test_add_func ("/data/columns/named-split-not-boolean", test_named_split_not_boolean);
  g_test_add_func ("/data/columns/named-split-one-bad-value", test_named_split_one_bad_value);
  g_test_add_func ("/data/columns/header-only", test_header_only);
  g_test_add_func ("/data/columns/short-rows", test_short_rows);
  g_test_add_func ("/data/columns/is-boolean", test_is_boolean);
  g_test_add_func ("/data/columns/from-csv", test_from_csv);
  g_test_add_func ("/data/columns/defective-rows-ignored", test_defective_rows_ignored);
  return g_test_run ();
}
