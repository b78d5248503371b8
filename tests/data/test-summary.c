/* The summary: the structured result, its text, the CLI command, and the
 * real BCCD set (skipped without ../shared). */
#include <string.h>

#include "ts-image.h"
#include "ts-summary.h"
#include "ts-test.h"

static void
save_jpeg (const char *dir, const char *name, int w, int h)
{
  char *path = g_build_filename (dir, name, NULL);
  ts_image img = { g_malloc0 ((gsize) w * h * 3), w, h };

  for (int i = 0; i < w * h * 3; i++)
    img.pixels[i] = (uint8_t) (i * 13);
  if (ts_image_save_jpeg (&img, path, 90) != TS_OK)
    g_error ("%s", ts_last_error ());
  g_free (img.pixels);
  g_free (path);
}

/* A small set with one of most problems:
 *   line 2..7 good items (one without labels), 8 missing image, 9 bad split
 *   value, 10 duplicate, 11 stray whitespace (kept), 12 too few fields. */
static char *
make_set (void)
{
  char *dir = ts_test_tmpdir ();
  char *train = g_build_filename (dir, "train", NULL);
  char *csv = g_build_filename (dir, "train.csv", NULL);
  static const char text[] =
    "fname,labels,is_valid\n"
    "a.jpg,cat dog,False\n"
    "b.jpg,cat,False\n"
    "c.jpg,,False\n"
    "d.jpg,dog,True\n"
    "e.jpg,cat,True\n"
    "f.jpg,bird cat,False\n"
    "gone.jpg,dog,False\n"
    "g.jpg,dog,perhaps\n"
    "a.jpg,dog,True\n"
    "h.jpg,cat  dog,False\n"
    "i.jpg,cat\n";
  const char *names[] = { "a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg", "g.jpg",
                          "h.jpg", "i.jpg" };

  g_assert_cmpint (g_mkdir (train, 0755), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    save_jpeg (train, names[i], i == 5 ? 20 : 32, 24);
  g_assert_true (g_file_set_contents (csv, text, -1, NULL));
  g_free (train);
  g_free (csv);
  return dir;
}

static const ts_summary_step *
find_step (const ts_summary *s, const char *name)
{
  for (int i = 0; i < s->n_steps; i++)
    if (strcmp (s->steps[i].name, name) == 0)
      return &s->steps[i];
  for (int i = 0; i < s->n_tfm_steps; i++)
    if (strcmp (s->tfm_steps[i].name, name) == 0)
      return &s->tfm_steps[i];
  g_error ("no step %s", name);
  return NULL;
}

static void
test_generated (void)
{
  char *dir = make_set ();
  char *csv = g_build_filename (dir, "train.csv", NULL);
  ts_summary_options opt;
  ts_summary *s;
  char *text;

  ts_summary_options_init (&opt);
  g_assert_cmpint (ts_summary_run (csv, NULL, &opt, &s), ==, TS_OK);

  g_assert_cmpint (s->n_rows, ==, 11);
  g_assert_cmpint (s->n_items, ==, 7);
  g_assert_cmpint (s->n_train, ==, 5);
  g_assert_cmpint (s->n_valid, ==, 2);
  g_assert_cmpint (s->n_no_label_train, ==, 1);
  g_assert_cmpint (s->n_no_label_valid, ==, 0);
  g_assert_true (s->usable);
  g_assert_cmpint (s->n_vocab, ==, 3);
  g_assert_cmpstr (s->vocab[0], ==, "bird");
  g_assert_cmpstr (s->vocab[1], ==, "cat");
  g_assert_cmpstr (s->vocab[2], ==, "dog");
  /* cat: a b f h train, e valid; dog: a h train, d valid */
  g_assert_cmpint (s->classes[1].n_train, ==, 4);
  g_assert_cmpint (s->classes[1].n_valid, ==, 1);
  g_assert_cmpint (s->classes[2].n_train, ==, 2);
  g_assert_cmpint (s->classes[2].n_valid, ==, 1);
  g_assert_cmpint (s->classes[0].n_train, ==, 1);
  g_assert_cmpint (s->n_labels_total, ==, 9);

  g_assert_true (s->images_checked);
  g_assert_cmpint (s->n_shapes, ==, 2);
  g_assert_cmpint (s->shapes[0].count, ==, 6);
  g_assert_cmpint (s->shapes[0].width, ==, 32);
  g_assert_cmpstr (s->shapes[0].mode, ==, "RGB");

  g_assert_cmpint (s->problems[TS_PROBLEM_MISSING_FILE].count, ==, 1);
  g_assert_cmpint (s->problems[TS_PROBLEM_MISSING_FILE].example_lines[0], ==, 8);
  g_assert_cmpint (s->problems[TS_PROBLEM_BAD_SPLIT_VALUE].example_lines[0], ==, 9);
  g_assert_cmpint (s->problems[TS_PROBLEM_DUPLICATE_FNAME].example_lines[0], ==, 10);
  g_assert_cmpint (s->problems[TS_PROBLEM_LABEL_WHITESPACE].example_lines[0], ==, 11);
  g_assert_cmpint (s->problems[TS_PROBLEM_MALFORMED_ROW].example_lines[0], ==, 12);
  g_assert_cmpint (s->n_problem_rows, ==, 5);

  /* the first training item, traced */
  g_assert_cmpint (s->sample_line, ==, 2);
  g_assert_false (s->sample_is_valid);
  g_assert_cmpstr (find_step (s, "row")->value, ==,
                   "fname='a.jpg'  labels='cat dog'  is_valid='False'");
  g_assert_true (g_str_has_suffix (find_step (s, "path")->value, "/train/a.jpg"));
  g_assert_cmpstr (find_step (s, "image")->value, ==, "PILImage mode=RGB size=32x24 (jpeg)");
  g_assert_cmpstr (find_step (s, "labels")->value, ==, "['cat', 'dog']");
  g_assert_cmpstr (find_step (s, "indices")->value, ==, "TensorMultiCategory([1, 2])");
  g_assert_cmpstr (find_step (s, "one-hot")->value, ==, "TensorMultiCategory([0., 1., 1.])");
  g_assert_nonnull (strstr (find_step (s, "valid item")->value, "152x152"));
  g_assert_nonnull (strstr (find_step (s, "train item")->value, "35-100%"));

  text = ts_summary_render_text (s, 0);
  g_assert_nonnull (text);
  g_assert_nonnull (strstr (text, "7 of 11 rows usable (4 skipped"));
  g_assert_nonnull (strstr (text, "5 train, 2 valid"));
  g_assert_nonnull (strstr (text, "(3) bird cat dog"));
  g_assert_nonnull (strstr (text, "missing image files: 1 \u2014"));
  g_assert_nonnull (strstr (text, "line 8 "));
  g_assert_nonnull (strstr (text, "labels with stray whitespace: 1 \u2014"));
  g_assert_nonnull (strstr (text, "(no label)"));
  g_assert_nonnull (strstr (text, "6 RGB 32x24, 1 RGB 20x24"));
  g_assert_nonnull (strstr (text, "column \"labels\" split on a space, "));
  g_assert_null (strstr (text, "\033["));
  g_free (text);
  text = ts_summary_render_text (s, 1);
  g_assert_nonnull (strstr (text, "\033[1m"));
  g_free (text);
  ts_summary_free (s);

  /* without the image check: nothing opened, the missing file not found */
  opt.check_images = 0;
  opt.size = 224;
  g_assert_cmpint (ts_summary_run (csv, NULL, &opt, &s), ==, TS_OK);
  g_assert_false (s->images_checked);
  g_assert_cmpint (s->n_items, ==, 8);
  g_assert_cmpint (s->problems[TS_PROBLEM_MISSING_FILE].count, ==, 0);
  /* 224 + ceil(224 * 0.14 / 8) * 8 = 256 */
  g_assert_nonnull (strstr (find_step (s, "valid item")->value, "256x256"));
  ts_summary_free (s);

  g_free (csv);
  ts_test_rmdir (dir);
  g_free (dir);
}

static void
test_nothing_usable (void)
{
  char *dir = ts_test_tmpdir ();
  char *csv = g_build_filename (dir, "train.csv", NULL);
  ts_summary *s;
  char *text;

  /* rows fine, images all missing: a summary saying so, not a failure */
  g_assert_true (g_file_set_contents (csv, "fname,labels\nx.jpg,a\ny.jpg,b\n", -1, NULL));
  g_assert_cmpint (ts_summary_run (csv, NULL, NULL, &s), ==, TS_OK);
  g_assert_false (s->usable);
  g_assert_cmpint (s->n_items, ==, 0);
  g_assert_cmpint (s->sample_item, ==, -1);
  g_assert_cmpint (s->problems[TS_PROBLEM_MISSING_FILE].count, ==, 2);
  text = ts_summary_render_text (s, 0);
  g_assert_nonnull (strstr (text, "Nothing to train on"));
  g_assert_null (strstr (text, "no such folder"));
  g_assert_nonnull (strstr (text, "missing image files: 2 \u2014"));
  g_free (text);
  ts_summary_free (s);

  /* malformed rows: the text says what is wrong with each, not only where */
  g_assert_true (g_file_set_contents (csv, "fname,labels,is_valid\nx.jpg,a,False\n"
                                      "y.jpg,b\nz\xff.jpg,c,True\n\"w.jpg,d,True\n", -1, NULL));
  g_assert_cmpint (ts_summary_run (csv, NULL, NULL, &s), ==, TS_OK);
  text = ts_summary_render_text (s, 0);
  g_test_message ("%s", text);
  g_assert_nonnull (strstr (text, "line 3      wrong field count: 2 fields, but the columns "
                                  "used (\"fname\", \"labels\", \"is_valid\") need at least 3"));
  g_assert_nonnull (strstr (text, "line 4      invalid UTF-8 at line 4, column 2"));
  g_assert_nonnull (strstr (text, "line 5      unterminated quote: the quote at line 5, "
                                  "column 1 never closes"));
  g_free (text);
  ts_summary_free (s);

  g_free (csv);
  ts_test_rmdir (dir);
  g_free (dir);
}

static void
test_cli (void)
{
  char *dir = make_set ();
  char *csv = g_build_filename (dir, "train.csv", NULL);
  char *bad = g_build_filename (dir, "bad.csv", NULL);
  char *out, *err;

  {
    const char *const args[] = { "summary", csv, NULL };
    g_assert_cmpint (ts_test_exit_code (ts_test_run_cli (NULL, args, &out, &err)), ==, 0);
    g_assert_nonnull (strstr (out, "DataBlock summary"));
    g_assert_nonnull (strstr (out, "5 train, 2 valid"));
    g_assert_null (strstr (out, "\033["));   /* not a terminal */
    g_free (out);
    g_free (err);
  }
  {
    const char *const args[] = { "summary", csv, "--valid-pct", "0.5", "--seed", "3",
                                 "--labels-col", "labels", "--color", "always", NULL };
    g_assert_cmpint (ts_test_exit_code (ts_test_run_cli (NULL, args, &out, &err)), ==, 0);
    g_assert_nonnull (strstr (out, "random 50% (seed 3)"));
    g_assert_nonnull (strstr (out, "\033[1m"));
    g_free (out);
    g_free (err);
  }
  {
    const char *const args[] = { "summary", csv, "--labels-col", "tags", NULL };
    g_assert_cmpint (ts_test_exit_code (ts_test_run_cli (NULL, args, &out, &err)), ==, 1);
    g_assert_nonnull (strstr (err, "tagsight-cli summary: "));
    g_assert_nonnull (strstr (err, "no labels column \"tags\""));
    g_assert_nonnull (strstr (err, "\"fname\", \"labels\", \"is_valid\""));
    g_free (out);
    g_free (err);
  }
  {
    const char *const args[] = { "summary", csv, "--valid-pct", "2", NULL };
    g_assert_cmpint (ts_test_exit_code (ts_test_run_cli (NULL, args, &out, &err)), ==, 2);
    g_free (out);
    g_free (err);
  }
  {
    const char *const args[] = { "summary", csv, "--valid-pct", "0.2", "--no-split", NULL };
    g_assert_cmpint (ts_test_exit_code (ts_test_run_cli (NULL, args, &out, &err)), ==, 2);
    g_free (out);
    g_free (err);
  }
  {
    const char *const args[] = { "summary", NULL };
    g_assert_cmpint (ts_test_exit_code (ts_test_run_cli (NULL, args, &out, &err)), ==, 2);
    g_free (out);
    g_free (err);
  }
  {
    const char *const args[] = { "summary", "--help", NULL };
    g_assert_cmpint (ts_test_exit_code (ts_test_run_cli (NULL, args, &out, &err)), ==, 0);
    g_assert_nonnull (strstr (out, "--valid-pct"));
    g_free (out);
    g_free (err);
  }
  {
    const char *const args[] = { "summary", bad, NULL };
    g_assert_true (g_file_set_contents (bad, "fname,labels\nnope.jpg,x\n", -1, NULL));
    g_assert_cmpint (ts_test_exit_code (ts_test_run_cli (NULL, args, &out, &err)), ==, 1);
    g_assert_nonnull (strstr (out, "Nothing to train on"));
    g_free (out);
    g_free (err);
  }
  {
    /* --images is relative to the current directory, not the CSV's */
    const char *const args[] = { "summary", csv, "--images", "nowhere", NULL };
    g_assert_cmpint (ts_test_exit_code (ts_test_run_cli (NULL, args, &out, &err)), ==, 1);
    g_assert_nonnull (strstr (out, "/nowhere  (no such folder)"));
    {
      char *wrong = g_build_filename (dir, "nowhere", NULL);
      g_assert_null (strstr (out, wrong));
      g_free (wrong);
    }
    g_free (out);
    g_free (err);
  }
  {
    char *train = g_build_filename (dir, "train", NULL);
    const char *const args[] = { "summary", csv, "--images", train, "--no-check-images", NULL };
    g_assert_cmpint (ts_test_exit_code (ts_test_run_cli (NULL, args, &out, &err)), ==, 0);
    g_assert_nonnull (strstr (out, "images not checked"));
    g_free (train);
    g_free (out);
    g_free (err);
  }
  g_free (bad);
  g_free (csv);
  ts_test_rmdir (dir);
  g_free (dir);
}

static void
test_bccd (void)
{
  char *csv = ts_test_shared_path ("data/bccd/train.csv");
  ts_summary *s;
  char *text;

  if (csv == NULL)
    return;
  g_assert_cmpint (ts_summary_run (csv, NULL, NULL, &s), ==, TS_OK);
  g_assert_cmpint (s->n_rows, ==, 364);
  g_assert_cmpint (s->n_items, ==, 364);
  g_assert_cmpint (s->n_train, ==, 205);
  g_assert_cmpint (s->n_valid, ==, 159);
  g_assert_cmpint (s->n_vocab, ==, 3);
  g_assert_cmpstr (s->vocab[0], ==, "Platelets");
  g_assert_cmpstr (s->vocab[1], ==, "RBC");
  g_assert_cmpstr (s->vocab[2], ==, "WBC");
  /* counted independently with Python's csv module */
  g_assert_cmpint (s->classes[0].n_train, ==, 117);
  g_assert_cmpint (s->classes[0].n_valid, ==, 84);
  g_assert_cmpint (s->classes[1].n_train, ==, 197);
  g_assert_cmpint (s->classes[1].n_valid, ==, 152);
  g_assert_cmpint (s->classes[2].n_train, ==, 204);
  g_assert_cmpint (s->classes[2].n_valid, ==, 154);
  g_assert_cmpint (s->n_shapes, ==, 1);
  g_assert_cmpint (s->shapes[0].count, ==, 364);
  g_assert_cmpint (s->shapes[0].width, ==, 640);
  g_assert_cmpint (s->shapes[0].height, ==, 480);
  g_assert_cmpint (s->n_problem_rows, ==, 0);
  text = ts_summary_render_text (s, 0);
  g_assert_nonnull (strstr (text, "364 (every row usable)"));
  g_assert_nonnull (strstr (text, "205 train, 159 valid"));
  g_assert_nonnull (strstr (text, "Platelets RBC WBC"));
  g_assert_nonnull (strstr (text, "none found"));
  g_free (text);
  ts_summary_free (s);
  g_free (csv);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/summary/generated", test_generated);
  g_test_add_func ("/summary/nothing-usable", test_nothing_usable);
  g_test_add_func ("/summary/cli", test_cli);
  g_test_add_func ("/summary/bccd", test_bccd);
  return g_test_run ();
}
