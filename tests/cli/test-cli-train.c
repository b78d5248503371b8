/* tagsight-cli train / lr-find on generated demo data: the table, the final
 * JSON line, the model file, and errors for bad input. */
#include <string.h>

#include "ts-config.h"
#include "ts-test.h"

static char *
make_demo (void)
{
  char *dir = ts_test_tmpdir ();
  char *args = g_strdup_printf ("demo-data %s --n 120 --size 48 --seed 3", dir);
  int status;
  char *out = ts_test_run_cli_line (args, &status);

  g_free (args);
  if (!g_spawn_check_wait_status (status, NULL))
    {
#ifdef TS_HAVE_CAIRO
      g_error ("demo-data failed, though Cairo was found at configure time:\n%s", out);
#endif
      g_free (out);
      g_test_skip ("demo-data is not available in this build");
      ts_test_rmdir (dir);
      g_free (dir);
      return NULL;
    }
  g_free (out);
  return dir;
}

static void
test_train (void)
{
  char *dir = make_demo ();
  char *model = g_build_filename (dir ? dir : ".", "m.safetensors", NULL);
  char *args, *out, *json;
  int status;

  if (!dir)
    {
      g_free (model);
      return;
    }
  args = g_strdup_printf ("train %s/train.csv --arch tiny --epochs 2 --freeze-epochs 1 --bs 16 "
                          "--size 32 --lr 1e-2 --threads 1 --seed 5 --out %s", dir, model);
  out = ts_test_run_cli_line (args, &status);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  /* two tables (frozen, unfrozen) with fastai's columns */
  g_assert_nonnull (strstr (out, "epoch    train_loss   valid_loss   accuracy_multi   time"));
  g_assert_nonnull (strstr (strstr (out, "train_loss") + 1, "train_loss"));
  g_assert_nonnull (strstr (out, "threshold sweep"));
  json = strstr (out, "{\"valid_loss\": ");
  g_assert_nonnull (json);
  for (const char *k = "accuracy_multi\0best_thresh\0mAP\0f1_micro\0f1_macro\0"
                       "all_negative_baseline\0epoch_times\0loader_wait_times\0valid_times\0"
                       "train_images_per_s\0";
       *k; k += strlen (k) + 1)
    {
      char *q = g_strdup_printf ("\"%s\": ", k);
      g_assert_nonnull (strstr (json, q));
      g_free (q);
    }
  g_assert_nonnull (strstr (json, "\"completed\": true"));
  g_assert_true (g_file_test (model, G_FILE_TEST_IS_REGULAR));
  g_free (args);

  /* the same seed gives the same final line */
  {
    char *again;
    args = g_strdup_printf ("train %s/train.csv --arch tiny --epochs 2 --freeze-epochs 1 "
                            "--bs 16 --size 32 --lr 1e-2 --threads 1 --seed 5", dir);
    again = ts_test_run_cli_line (args, &status);
    g_assert_true (g_spawn_check_wait_status (status, NULL));
    {
      char *a = strstr (again, "{\"valid_loss\": "), *b = g_strdup (json);
      char *ea = strstr (a, "\"epoch_times\""), *eb = strstr (b, "\"epoch_times\"");
      g_assert_cmpint (ea - a, ==, eb - b);
      g_assert_cmpmem (a, ea - a, b, eb - b);
      g_free (b);
    }
    g_free (again);

    /* the resample left to the backend (the CPU's here, as a GPU's would
     * be): the same draws, so the same training but for float rounding */
    g_setenv ("TS_DEVICE_RESAMPLE", "1", TRUE);
    again = ts_test_run_cli_line (args, &status);
    g_unsetenv ("TS_DEVICE_RESAMPLE");
    g_assert_true (g_spawn_check_wait_status (status, NULL));
    g_assert_nonnull (strstr (again, "augmentation and normalisation run on the device"));
    g_assert_null (strstr (out, "augmentation and normalisation run on the device"));
    {
      const char *a = strstr (again, "{\"valid_loss\": ");
      g_assert_nonnull (a);
      g_assert_cmpfloat_with_epsilon (g_ascii_strtod (a + 15, NULL),
                                      g_ascii_strtod (json + 15, NULL), 1e-4);
    }
    g_free (again);
    g_free (args);
  }
  g_free (out);

  /* predict with the saved model: one line per image, an error for a missing one */
  args = g_strdup_printf ("predict %s --thresh 0 %s/train/00000.jpg %s/train/00001.jpg "
                          "%s/nonexistent.jpg", model, dir, dir, dir);
  out = ts_test_run_cli_line (args, &status);
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out, "00000.jpg: "));
  g_assert_nonnull (strstr (out, "00001.jpg: "));
  g_assert_nonnull (strstr (out, "nonexistent.jpg"));
  g_free (out);
  g_free (args);

  /* lr-find prints the curve and the suggestions */
  args = g_strdup_printf ("lr-find %s/train.csv --arch tiny --bs 16 --size 32 --threads 1 "
                          "--num-it 40", dir);
  out = ts_test_run_cli_line (args, &status);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out, "smoothed_loss"));
  g_assert_nonnull (strstr (out, "suggestions: valley "));
  g_assert_nonnull (strstr (out, "{\"valley\": "));
  g_free (out);
  g_free (args);

  ts_test_rmdir (dir);
  g_free (model);
  g_free (dir);
}

/* tagsight-cli ARGS fails and says NEEDLE */
static void
assert_cli_fails_with (const char *args, const char *needle)
{
  int status;
  char *out = ts_test_run_cli_line (args, &status);

  g_assert_false (g_spawn_check_wait_status (status, NULL));
  if (strstr (out, needle) == NULL)
    g_test_message ("tagsight-cli %s said: %s", args, out);
  g_assert_nonnull (strstr (out, needle));
  g_free (out);
}

static void
test_bad_input (void)
{
  char *dir = make_demo (), *args, *out;
  int status;

  if (!dir)
    return;

  args = g_strdup_printf ("train %s/train.csv --arch nonsuch --bs 16 --size 32", dir);
  assert_cli_fails_with (args, "unknown architecture");
  g_free (args);

  args = g_strdup_printf ("train %s/missing.csv --arch tiny", dir);
  assert_cli_fails_with (args, "missing.csv");
  g_free (args);

  /* bf16 needs a GPU: refused by name on the CPU, and an unknown precision
   * names the choices */
  args = g_strdup_printf ("train %s/train.csv --arch tiny --bs 4 --size 32 --device cpu "
                          "--precision bf16", dir);
  assert_cli_fails_with (args, "bf16 precision needs a CUDA device");
  g_free (args);
  args = g_strdup_printf ("lr-find %s/train.csv --precision fp16", dir);
  assert_cli_fails_with (args, "'fp16' (fp32 or bf16)");
  g_free (args);

  args = g_strdup_printf ("train %s/train.csv --lr banana", dir);
  assert_cli_fails_with (args, "--lr");
  g_free (args);

  /* every row marked for validation: said so, not "use a smaller batch size" */
  {
    char *csv = g_build_filename (dir, "all-valid.csv", NULL);

    g_assert_true (g_file_set_contents (csv, "fname,labels,is_valid\na.jpg,x,True\n"
                                        "b.jpg,y,True\n", -1, NULL));
    args = g_strdup_printf ("train %s --arch tiny --bs 1", csv);
    out = ts_test_run_cli_line (args, &status);
    g_assert_false (g_spawn_check_wait_status (status, NULL));
    g_assert_nonnull (strstr (out, "no training images"));
    g_assert_null (strstr (out, "batch size"));
    g_free (out);
    g_free (args);
    g_free (csv);
  }

  ts_test_rmdir (dir);
  g_free (dir);
}

/* The CSV the app reads, the CLI reads: other column names found by
 * themselves (and said), or named with the DataBlock options summary has;
 * lr-find refuses the options that only training uses. */
static void
test_columns (void)
{
  char *dir = make_demo (), *args, *out, *text = NULL, *csv, **lines;
  GString *renamed;
  int status;

  if (!dir)
    return;
  renamed = g_string_new (NULL);
  csv = g_build_filename (dir, "train.csv", NULL);
  g_assert_true (g_file_get_contents (csv, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  g_free (csv);
  /* fname,labels,is_valid renamed */
  g_string_append (renamed, "Image ID,tags,valid\n");
  for (int i = 1; lines[i] != NULL && lines[i][0] != '\0'; i++)
    g_string_append_printf (renamed, "%s\n", lines[i]);
  csv = g_build_filename (dir, "renamed.csv", NULL);
  g_assert_true (g_file_set_contents (csv, renamed->str, -1, NULL));

  args = g_strdup_printf ("train %s --arch tiny --bs 16 --size 32 --threads 1 --epochs 1 "
                          "--freeze-epochs 0", csv);
  out = ts_test_run_cli_line (args, &status);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out, "file names 'Image ID', labels 'tags'"));
  g_assert_nonnull (strstr (out, "validation column 'valid'"));
  g_assert_nonnull (strstr (out, "\"completed\": true"));
  g_free (out);
  g_free (args);

  /* named: no detection; a wrong name is an error naming the column */
  args = g_strdup_printf ("lr-find %s --arch tiny --bs 16 --size 32 --threads 1 --num-it 8 "
                          "--fname-col 'Image ID' --labels-col nope --split-col valid", csv);
  out = ts_test_run_cli_line (args, &status);
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_null (strstr (out, "(detected"));
  g_assert_nonnull (strstr (out, "nope"));
  g_free (out);
  g_free (args);

  args = g_strdup_printf ("lr-find %s --arch tiny --bs 16 --size 32 --threads 1 --num-it 8 "
                          "--fname-col 'Image ID' --labels-col tags --valid-pct 0.25", csv);
  out = ts_test_run_cli_line (args, &status);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out, "{\"valley\": "));
  g_free (out);
  g_free (args);

  args = g_strdup_printf ("lr-find %s --valid-pct 0.2 --no-split", csv);
  assert_cli_fails_with (args, "use one of");
  g_free (args);

  for (int i = 0; i < 4; i++)
    {
      static const char *const train_only[] = { "--epochs 2", "--freeze-epochs 1", "--thresh 0.5",
                                                "--out x.safetensors" };
      args = g_strdup_printf ("lr-find %s %s", csv, train_only[i]);
      out = ts_test_run_cli_line (args, &status);
      g_assert_false (g_spawn_check_wait_status (status, NULL));
      g_assert_nonnull (strstr (out, "unrecognized option"));
      g_free (out);
      g_free (args);
    }
  out = ts_test_run_cli_line ("lr-find --help", &status);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_null (strstr (out, "--epochs"));
  g_assert_null (strstr (out, "--out"));
  g_assert_nonnull (strstr (out, "--labels-col"));
  g_free (out);

  g_strfreev (lines);
  g_string_free (renamed, TRUE);
  g_free (text);
  g_free (csv);
  ts_test_rmdir (dir);
  g_free (dir);
}

/* Images that cannot be read (a truncated JPEG, a file that is not there)
 * are left out of training, and the run says so: nothing is lost silently. */
static void
test_skipped_images (void)
{
  char *dir = make_demo (), *args, *out, *csv, *text = NULL, *img, *data = NULL;
  gsize len;
  int status;

  if (!dir)
    return;
  csv = g_build_filename (dir, "train.csv", NULL);
  g_assert_true (g_file_get_contents (csv, &text, NULL, NULL));
  {
    /* validation rows: every one is loaded (training drops the last partial
     * batch of a shuffled epoch, which may hold any row) */
    char *more = g_strconcat (text, "not-there.jpg,circle,True\n", NULL), *valid, *fname;

    g_assert_true (g_file_set_contents (csv, more, -1, NULL));
    g_free (more);
    valid = strstr (text, ",True\n");
    g_assert_nonnull (valid);
    while (valid > text && valid[-1] != '\n')
      valid--;
    fname = g_strndup (valid, (gsize) (strchr (valid, ',') - valid));
    img = g_build_filename (dir, "train", fname, NULL);
    g_free (fname);
  }
  g_assert_true (g_file_get_contents (img, &data, &len, NULL));
  g_assert_true (g_file_set_contents (img, data, (gssize) len / 2, NULL));

  args = g_strdup_printf ("train %s --arch tiny --bs 16 --size 32 --threads 1 --epochs 1 "
                          "--freeze-epochs 0", csv);
  out = ts_test_run_cli_line (args, &status);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out, "2 unreadable images skipped"));
  g_assert_true (strstr (out, "truncated") || strstr (out, "not-there.jpg"));
  g_free (out);
  g_free (args);
  /* the same when the run is recorded in a project */
  args = g_strdup_printf ("train %s --arch tiny --bs 16 --size 32 --threads 1 --epochs 1 "
                          "--freeze-epochs 0 --project %s/p.tagsight", csv, dir);
  out = ts_test_run_cli_line (args, &status);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out, "2 unreadable images skipped"));
  g_free (out);
  g_free (args);

  g_free (data);
  g_free (img);
  g_free (text);
  g_free (csv);
  ts_test_rmdir (dir);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/train/demo", test_train);
  g_test_add_func ("/cli/train/bad-input", test_bad_input);
  g_test_add_func ("/cli/train/columns", test_columns);
  g_test_add_func ("/cli/train/skipped-images", test_skipped_images);
  return g_test_run ();
}
