/* test-demo.c: the demo data set (determinism, label distribution) and the
 * show-batch grid, through the library and through tagsight-cli. */
#include <string.h>

#include "ts-demo.h"
#include "ts-showbatch.h"
#include "ts-test.h"

static void
demo_config (ts_demo_config *cfg, int n, int size, uint64_t seed)
{
  ts_demo_config_init (cfg);
  cfg->n = n;
  cfg->size = size;
  cfg->seed = seed;
}

static char *
read_text (const char *dir, const char *name)
{
  char *path = g_build_filename (dir, name, NULL), *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_free (path);
  return text;
}

static void
test_deterministic (void)
{
  char *a = ts_test_tmpdir (), *b = ts_test_tmpdir (), *c = ts_test_tmpdir ();
  ts_demo_config cfg;
  ts_demo_summary sum;
  char *csv_a, *csv_b, *csv_c;

  demo_config (&cfg, 24, 48, 7);
  g_assert_cmpint (ts_demo_write (a, &cfg, &sum), ==, TS_OK);
  g_assert_cmpint (sum.n_images, ==, 24);
  g_assert_cmpint (ts_demo_write (b, &cfg, NULL), ==, TS_OK);
  cfg.seed = 8;
  g_assert_cmpint (ts_demo_write (c, &cfg, NULL), ==, TS_OK);
  csv_a = read_text (a, "train.csv");
  csv_b = read_text (b, "train.csv");
  csv_c = read_text (c, "train.csv");
  g_assert_cmpstr (csv_a, ==, csv_b);
  g_assert_cmpstr (csv_a, !=, csv_c);
  g_assert_true (g_str_has_prefix (csv_a, "fname,labels,is_valid\n00000.jpg,"));
  for (int i = 0; i < 24; i++)
    {
      char name[32];
      char *ja, *jb;
      gsize la, lb;
      char *pa, *pb;
      g_snprintf (name, sizeof name, "train/%05d.jpg", i);
      pa = g_build_filename (a, name, NULL);
      pb = g_build_filename (b, name, NULL);
      g_assert_true (g_file_get_contents (pa, &ja, &la, NULL));
      g_assert_true (g_file_get_contents (pb, &jb, &lb, NULL));
      g_assert_cmpmem (ja, la, jb, lb);
      g_free (ja);
      g_free (jb);
      g_free (pa);
      g_free (pb);
    }
  g_free (csv_a);
  g_free (csv_b);
  g_free (csv_c);
  ts_test_rmdir (a);
  ts_test_rmdir (b);
  ts_test_rmdir (c);
  g_free (a);
  g_free (b);
  g_free (c);
}

static void
test_distribution (void)
{
  ts_demo_config cfg;
  int n = 400, empty = 0, valid = 0, per_class[TS_DEMO_N_CLASSES] = { 0 }, multi = 0;

  demo_config (&cfg, n, 32, 42);
  for (int i = 0; i < n; i++)
    {
      ts_image img;
      unsigned mask;
      int is_valid, bits = 0;
      g_assert_cmpint (ts_demo_render (&cfg, i, &img, &mask, &is_valid), ==, TS_OK);
      g_assert_cmpint (img.width, ==, 32);
      ts_image_clear (&img);
      empty += mask == 0;
      valid += is_valid;
      for (int c = 0; c < TS_DEMO_N_CLASSES; c++)
        if (mask & (1u << c))
          {
            per_class[c]++;
            bits++;
          }
      multi += bits >= 2;
    }
  g_test_message ("empty %d valid %d multi %d of %d", empty, valid, multi, n);
  /* ~15% without labels, ~20% validation, every class well represented */
  g_assert_cmpint (empty, >=, n * 10 / 100);
  g_assert_cmpint (empty, <=, n * 20 / 100);
  g_assert_cmpint (valid, >=, n * 15 / 100);
  g_assert_cmpint (valid, <=, n * 25 / 100);
  g_assert_cmpint (multi, >=, n * 40 / 100);
  for (int c = 0; c < TS_DEMO_N_CLASSES; c++)
    g_assert_cmpint (per_class[c], >=, n / 16);
  /* vocab order is sorted */
  for (int c = 1; c < TS_DEMO_N_CLASSES; c++)
    g_assert_cmpint (strcmp (ts_demo_classes[c - 1], ts_demo_classes[c]), <, 0);
}

static void
png_size (const char *path, int *w, int *h)
{
  gchar *data;
  gsize len;
  const guint8 *d;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_cmpuint (len, >, 24);
  d = (const guint8 *) data;
  g_assert_cmpmem (d, 8, "\x89PNG\r\n\x1a\n", 8);
  *w = (int) ((guint32) d[16] << 24 | d[17] << 16 | d[18] << 8 | d[19]);
  *h = (int) ((guint32) d[20] << 24 | d[21] << 16 | d[22] << 8 | d[23]);
  g_free (data);
}

static void
test_cli_show_batch (void)
{
  char *dir = ts_test_tmpdir ();
  char *csv = g_build_filename (dir, "train.csv", NULL);
  char *png = g_build_filename (dir, "batch.png", NULL);
  char *png_u = g_build_filename (dir, "unique.png", NULL);
  char *out = NULL, *err = NULL;
  int status, w, h, ew, eh, cols;
  GError *error = NULL;
  const char *argv_demo[] = { ts_test_cli (), "demo-data", dir, "--n", "20", "--size", "64",
                              "--seed", "3", NULL };
  const char *argv_show[] = { ts_test_cli (), "show-batch", csv, "--out", png, "--n", "6",
                              "--size", "48", "--seed", "2", NULL };
  const char *argv_uniq[] = { ts_test_cli (), "show-batch", csv, "--out", png_u, "--n", "4",
                              "--size", "40", "--unique", "--aug", "flip", NULL };
  const char *argv_bad[] = { ts_test_cli (), "show-batch", csv, "--out", png, "--aug", "lots",
                             NULL };

  g_spawn_sync (NULL, (char **) argv_demo, NULL, 0, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  g_test_message ("demo-data: %s%s", out, err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (out, "wrote 20 images"));
  g_free (out);
  g_free (err);

  g_spawn_sync (NULL, (char **) argv_show, NULL, 0, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  g_test_message ("show-batch: %s%s", out, err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  png_size (png, &w, &h);
  ts_showbatch_layout (6, 48, &cols, NULL, &ew, &eh);
  g_assert_cmpint (cols, ==, 3);
  g_assert_cmpint (w, ==, ew);
  g_assert_cmpint (h, ==, eh);
  g_assert_cmpint (w, >=, 3 * 48);
  g_assert_cmpint (h, >=, 2 * 48);
  g_free (out);
  g_free (err);

  g_spawn_sync (NULL, (char **) argv_uniq, NULL, 0, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  png_size (png_u, &w, &h);
  ts_showbatch_layout (4, 40, NULL, NULL, &ew, &eh);
  g_assert_cmpint (w, ==, ew);
  g_assert_cmpint (h, ==, eh);
  g_free (out);
  g_free (err);

  g_spawn_sync (NULL, (char **) argv_bad, NULL, 0, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  g_assert_false (g_spawn_check_wait_status (status, NULL));
  g_assert_nonnull (strstr (err, "--aug"));
  g_free (out);
  g_free (err);

  g_free (csv);
  g_free (png);
  g_free (png_u);
  ts_test_rmdir (dir);
  g_free (dir);
}

static void
test_unique_grid (void)
{
  char *dir = ts_test_tmpdir ();
  char *csv = g_build_filename (dir, "train.csv", NULL);
  ts_demo_config dc;
  ts_datablock_config dbc;
  ts_datablock *db;
  ts_loader_config cfg;
  ts_showbatch *g;
  int differ = 0;

  demo_config (&dc, 12, 64, 5);
  g_assert_cmpint (ts_demo_write (dir, &dc, NULL), ==, TS_OK);
  ts_datablock_config_init (&dbc);
  g_assert_cmpint (ts_datablock_load (csv, &dbc, &db), ==, TS_OK);
  ts_loader_config_init (&cfg);
  cfg.size = 32;
  g_assert_cmpint (ts_showbatch_collect (db, &cfg, 5, 1, 0, &g), ==, TS_OK);
  g_assert_cmpint (g->n, ==, 5);
  for (int i = 1; i < g->n; i++)
    {
      /* one item, augmented differently in each cell */
      g_assert_cmpint (g->items[i], ==, g->items[0]);
      g_assert_cmpstr (g->labels[i], ==, g->labels[0]);
      differ += memcmp (g->pixels[i], g->pixels[0], 32 * 32 * 3) != 0;
    }
  g_assert_cmpint (differ, >=, 3);
  ts_showbatch_free (g);
  ts_datablock_free (db);
  g_free (csv);
  ts_test_rmdir (dir);
  g_free (dir);
}

/* Cut @path to half its length: a truncated JPEG. */
static void
truncate_half (const char *path)
{
  gchar *data;
  gsize len;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_true (g_file_set_contents (path, data, (gssize) len / 2, NULL));
  g_free (data);
}

/* Images the loader cannot read are left out of the grid and reported: the
 * grid says how many and why the first one was (the CLI prints it). */
static void
test_skipped_reported (void)
{
  char *dir = ts_test_tmpdir ();
  char *csv = g_build_filename (dir, "train.csv", NULL);
  char *png = g_build_filename (dir, "batch.png", NULL);
  ts_demo_config dc;
  ts_datablock_config dbc;
  ts_datablock *db;
  ts_loader_config cfg;
  ts_showbatch *g;
  char *out = NULL, *err = NULL;
  int status, n;
  GError *error = NULL;

  demo_config (&dc, 12, 64, 5);
  g_assert_cmpint (ts_demo_write (dir, &dc, NULL), ==, TS_OK);
  ts_datablock_config_init (&dbc);
  g_assert_cmpint (ts_datablock_load (csv, &dbc, &db), ==, TS_OK);
  n = db->n_train;
  g_assert_cmpint (n, >=, 4);
  truncate_half (db->items[db->train_idx[0]].path);
  truncate_half (db->items[db->train_idx[2]].path);
  ts_loader_config_init (&cfg);
  cfg.size = 32;
  g_assert_cmpint (ts_showbatch_collect (db, &cfg, n, 0, 0, &g), ==, TS_OK);
  g_assert_cmpint (g->n, ==, n - 2);
  g_assert_cmpint (g->n_skipped, ==, 2);
  g_assert_nonnull (strstr (g->skip_message, "truncated"));
  ts_showbatch_free (g);
  /* nothing unreadable: nothing reported */
  g_assert_cmpint (ts_showbatch_collect (db, &cfg, n, 0, 1, &g), ==, TS_OK);
  g_assert_cmpint (g->n_skipped, ==, 0);
  g_assert_cmpstr (g->skip_message, ==, "");
  ts_showbatch_free (g);

  {
    char *n_arg = g_strdup_printf ("%d", n);
    const char *argv_show[] = { ts_test_cli (), "show-batch", csv, "--out", png, "--n", n_arg,
                                "--size", "32", NULL };

    g_spawn_sync (NULL, (char **) argv_show, NULL, 0, NULL, NULL, &out, &err, &status, &error);
    g_assert_no_error (error);
    g_test_message ("show-batch: %s%s", out, err);
    g_assert_true (g_spawn_check_wait_status (status, NULL));
    g_assert_nonnull (strstr (err, "2 unreadable images skipped"));
    g_assert_nonnull (strstr (err, "truncated"));
    g_free (out);
    g_free (err);
    g_free (n_arg);
  }
  ts_datablock_free (db);
  g_free (csv);
  g_free (png);
  ts_test_rmdir (dir);
  g_free (dir);
}

/* The grid's note names an image the grid left out, never one of the next
 * batch, which the loader's other worker fills at the same time and may
 * find unreadable first.  The validation set keeps the CSV's order: the
 * grid is its first 4 items, the last of them unreadable, and the 5th, the
 * next batch's first, too; the three before the unreadable one take time to
 * decode. */
static void
test_skipped_names_shown_batch (void)
{
  char *dir = ts_test_tmpdir ();
  char *csv = g_build_filename (dir, "train.csv", NULL);
  ts_demo_config dc;
  ts_datablock_config dbc;
  ts_datablock *db;
  ts_loader_config cfg;
  const ts_item *left_out, *next;

  demo_config (&dc, 60, 512, 9);
  dc.valid_pct = 0.5;
  g_assert_cmpint (ts_demo_write (dir, &dc, NULL), ==, TS_OK);
  ts_datablock_config_init (&dbc);
  g_assert_cmpint (ts_datablock_load (csv, &dbc, &db), ==, TS_OK);
  g_assert_cmpint (db->n_valid, >=, 8);
  left_out = &db->items[db->valid_idx[3]];
  next = &db->items[db->valid_idx[4]];
  truncate_half (left_out->path);
  truncate_half (next->path);
  ts_loader_config_init (&cfg);
  cfg.size = 128;
  for (int run = 0; run < 5; run++)
    {
      ts_showbatch *g;

      g_assert_cmpint (ts_showbatch_collect (db, &cfg, 4, 0, 1, &g), ==, TS_OK);
      g_test_message ("run %d: %d skipped: %s", run, g->n_skipped, g->skip_message);
      g_assert_cmpint (g->n, ==, 3);
      g_assert_cmpint (g->n_skipped, ==, 1);
      g_assert_nonnull (strstr (g->skip_message, left_out->fname));
      ts_showbatch_free (g);
    }
  ts_datablock_free (db);
  g_free (csv);
  ts_test_rmdir (dir);
  g_free (dir);
}

static void
test_bccd_unique (void)
{
  char *csv = ts_test_shared_path ("data/bccd/train.csv");
  char *dir;
  ts_datablock_config dbc;
  ts_datablock *db;
  ts_loader_config cfg;
  ts_showbatch *g;
  char *png;
  int w, h, ew, eh;

  if (csv == NULL)
    return;
  dir = ts_test_tmpdir ();
  png = g_build_filename (dir, "bccd.png", NULL);
  ts_datablock_config_init (&dbc);
  g_assert_cmpint (ts_datablock_load (csv, &dbc, &db), ==, TS_OK);
  ts_loader_config_init (&cfg);
  cfg.seed = 1;
  g_assert_cmpint (ts_showbatch_collect (db, &cfg, 9, 1, 0, &g), ==, TS_OK);
  g_assert_cmpint (g->n, ==, 9);
  g_assert_cmpstr (g->labels[0], !=, "");
  g_assert_cmpint (ts_showbatch_write_png (g, png), ==, TS_OK);
  png_size (png, &w, &h);
  ts_showbatch_layout (9, 128, NULL, NULL, &ew, &eh);
  g_assert_cmpint (w, ==, ew);
  g_assert_cmpint (h, ==, eh);
  ts_showbatch_free (g);
  ts_datablock_free (db);
  g_free (png);
  ts_test_rmdir (dir);
  g_free (dir);
  g_free (csv);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/demo/deterministic", test_deterministic);
  g_test_add_func ("/demo/distribution", test_distribution);
  g_test_add_func ("/showbatch/unique-grid", test_unique_grid);
  g_test_add_func ("/showbatch/cli", test_cli_show_batch);
  g_test_add_func ("/showbatch/skipped-reported", test_skipped_reported);
  g_test_add_func ("/showbatch/skipped-names-shown-batch", test_skipped_names_shown_batch);
  g_test_add_func ("/showbatch/bccd-unique", test_bccd_unique);
  return g_test_run ();
}
