/* test-columns.c: guessing the column mapping from a CSV header. */
#include <glib.h>
#include <string.h>

#include "tagsight-columns.h"

static void
detect (const char *const *cols, int n_cols, const char *const *const *rows, int n_rows,
        TagsightColumnGuess *g)
{
  memset (g, 0x55, sizeof *g);
  tagsight_columns_detect (cols, n_cols, rows, n_rows, g);
}

static void
test_fastai_layout (void)
{
  const char *cols[] = { "fname", "labels", "is_valid" };
  const char *r0[] = { "000005.jpg", "chair", "True" };
  const char *r1[] = { "000007.jpg", "car person", "False" };
  const char *const *rows[] = { r0, r1 };
  TagsightColumnGuess g;

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
  TagsightColumnGuess g;

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
  TagsightColumnGuess g;

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
  TagsightColumnGuess g;

  detect (cols, 3, rows, 2, &g);
  g_assert_cmpint (g.split, ==, -1);
  g_assert_cmpint (g.labels, ==, 1);
}

static void
test_header_only (void)
{
  const char *cols[] = { "fname" };
  TagsightColumnGuess g;

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
  TagsightColumnGuess g;

  detect (cols, 3, rows, 2, &g);
  g_assert_cmpint (g.labels, ==, 1);
  g_assert_cmpstr (g.delim, ==, ",");
  /* the short row has no split value: not every sample is boolean */
  g_assert_cmpint (g.split, ==, -1);
}

static void
test_is_boolean (void)
{
  g_assert_true (tagsight_columns_is_boolean ("True"));
  g_assert_true (tagsight_columns_is_boolean (" no "));
  g_assert_true (tagsight_columns_is_boolean ("0"));
  g_assert_false (tagsight_columns_is_boolean ("2"));
  g_assert_false (tagsight_columns_is_boolean (""));
  g_assert_false (tagsight_columns_is_boolean (NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/app/columns/fastai", test_fastai_layout);
  g_test_add_func ("/app/columns/other-names", test_other_names);
  g_test_add_func ("/app/columns/by-content", test_by_content);
  g_test_add_func ("/app/columns/named-split-not-boolean", test_named_split_not_boolean);
  g_test_add_func ("/app/columns/header-only", test_header_only);
  g_test_add_func ("/app/columns/short-rows", test_short_rows);
  g_test_add_func ("/app/columns/is-boolean", test_is_boolean);
  return g_test_run ();
}
