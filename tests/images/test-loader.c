/* test-loader.c: coverage, ordering, determinism across thread counts,
 * drop_last, one-hot targets, skipped corrupt items, the bounded cache and
 * batches whose resample is left to a backend.
 * The datablock is filled in by hand so that only the loader is tested. */
#include <math.h>
#include <string.h>

#include "ts-image.h"
#include "ts-loader.h"
#include "ts-test.h"

#define N_ITEMS 23
#define N_VOCAB 3
#define BATCH 4

typedef struct {
  char *dir;
  ts_datablock db;
} fixture;

static void
corrupt_item (fixture *f, int item)
{
  g_assert_true (g_file_set_contents (f->db.items[item].path, "\xff\xd8\xff garbage", 12, NULL));
}

/* 23 items, 17 training (one of them a corrupt file when @corrupt) and 6
 * validation; item i is a 40x30 JPEG of flat colour i*10. */
static void
fixture_init (fixture *f, int corrupt)
{
  static char *vocab[N_VOCAB] = { "a", "b", "c" };
  ts_datablock *db = &f->db;

  memset (f, 0, sizeof *f);
  f->dir = ts_test_tmpdir ();
  db->items = g_new0 (ts_item, N_ITEMS);
  db->n_items = N_ITEMS;
  db->vocab = vocab;
  db->n_vocab = N_VOCAB;
  db->train_idx = g_new0 (int, N_ITEMS);
  db->valid_idx = g_new0 (int, N_ITEMS);
  for (int i = 0; i < N_ITEMS; i++)
    {
      ts_item *it = &db->items[i];
      ts_image img = { g_malloc (40 * 30 * 3), 40, 30 };

      it->fname = g_strdup_printf ("%02d.jpg", i);
      it->path = g_build_filename (f->dir, it->fname, NULL);
      memset (img.pixels, i * 10, 40 * 30 * 3);
      g_assert_cmpint (ts_image_save_jpeg (&img, it->path, 95), ==, TS_OK);
      g_free (img.pixels);
      /* labels: bit pattern of i over the vocab */
      it->labels = g_new0 (int, N_VOCAB);
      for (int v = 0; v < N_VOCAB; v++)
        if (i & (1 << v))
          it->labels[it->n_labels++] = v;
      it->is_valid = i % 4 == 3 || i == 22;
      if (it->is_valid)
        db->valid_idx[db->n_valid++] = i;
      else
        db->train_idx[db->n_train++] = i;
    }
  g_assert_cmpint (db->n_train, ==, 17);
  g_assert_cmpint (db->n_valid, ==, 6);
  if (corrupt)
    corrupt_item (f, 5);
}

static void
fixture_clear (fixture *f)
{
  for (int i = 0; i < N_ITEMS; i++)
    {
      g_free (f->db.items[i].fname);
      g_free (f->db.items[i].path);
      g_free (f->db.items[i].labels);
    }
  g_free (f->db.items);
  g_free (f->db.train_idx);
  g_free (f->db.valid_idx);
  ts_test_rmdir (f->dir);
  g_free (f->dir);
}

static void
small_config (ts_loader_config *cfg, int workers)
{
  ts_loader_config_init (cfg);
  cfg->size = 16;
  cfg->batch_size = BATCH;
  cfg->n_workers = workers;
  cfg->seed = 1234;
}

/* All batches of one epoch (BATCH items each): bytes of x and y, and the
 * item order.  Every item up to the end of a batch is in it, in a batch
 * before it, or counted by it as left out. */
static GByteArray *
run_epoch (ts_loader *l, int epoch, GArray *order)
{
  GByteArray *bytes = g_byte_array_new ();
  ts_batch *b;
  int expect_index = 0, covered = 0;

  g_assert_cmpint (ts_loader_start_epoch (l, epoch), ==, TS_OK);
  for (;;)
    {
      g_assert_cmpint (ts_loader_next (l, &b), ==, TS_OK);
      if (b == NULL)
        break;
      g_assert_cmpint (b->index, >=, expect_index);
      expect_index = b->index + 1;
      covered += b->n + b->n_skipped;
      g_assert_cmpint (covered, ==, MIN (expect_index * BATCH, ts_loader_n_items (l)));
      g_assert_cmpint (b->n_skipped > 0, ==, b->skip_message[0] != '\0');
      if (b->x != NULL)   /* NULL when the resample is deferred */
        g_byte_array_append (bytes, (const guint8 *) b->x, sizeof (float) * b->n * 3 * 16 * 16);
      g_byte_array_append (bytes, (const guint8 *) b->y, sizeof (float) * b->n * N_VOCAB);
      if (order)
        g_array_append_vals (order, b->items, b->n);
      ts_loader_release (l, b);
    }
  return bytes;
}

static void
test_coverage (void)
{
  fixture f;
  ts_loader_config cfg;
  ts_loader *l;
  GArray *order = g_array_new (FALSE, FALSE, sizeof (int));
  GByteArray *bytes;
  int seen[N_ITEMS];

  fixture_init (&f, 0);
  small_config (&cfg, 2);
  cfg.drop_last = 0;
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &l), ==, TS_OK);
  g_assert_cmpint (ts_loader_n_batches (l), ==, 5);
  g_assert_cmpint (ts_loader_n_items (l), ==, 17);
  for (int epoch = 0; epoch < 3; epoch++)
    {
      g_array_set_size (order, 0);
      bytes = run_epoch (l, epoch, order);
      g_byte_array_unref (bytes);
      g_assert_cmpint (order->len, ==, 17);
      memset (seen, 0, sizeof seen);
      for (guint i = 0; i < order->len; i++)
        seen[g_array_index (order, int, i)]++;
      for (int i = 0; i < N_ITEMS; i++)
        g_assert_cmpint (seen[i], ==, f.db.items[i].is_valid ? 0 : 1);
    }
  ts_loader_free (l);

  /* drop_last: 17 / 4 = 4 full batches, 16 distinct training items */
  cfg.drop_last = 1;
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &l), ==, TS_OK);
  g_assert_cmpint (ts_loader_n_batches (l), ==, 4);
  g_array_set_size (order, 0);
  g_byte_array_unref (run_epoch (l, 0, order));
  g_assert_cmpint (order->len, ==, 16);
  memset (seen, 0, sizeof seen);
  for (guint i = 0; i < order->len; i++)
    {
      int it = g_array_index (order, int, i);
      g_assert_false (f.db.items[it].is_valid);
      g_assert_cmpint (++seen[it], ==, 1);
    }
  ts_loader_free (l);

  /* validation: every item once, in order, last batch short */
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 1, &l), ==, TS_OK);
  g_assert_cmpint (ts_loader_n_batches (l), ==, 2);
  g_array_set_size (order, 0);
  g_byte_array_unref (run_epoch (l, 0, order));
  g_assert_cmpint (order->len, ==, 6);
  for (int i = 0; i < 6; i++)
    g_assert_cmpint (g_array_index (order, int, i), ==, f.db.valid_idx[i]);
  /* every validation epoch is the same bytes, prefetched or not */
  {
    GByteArray *a = run_epoch (l, 0, NULL), *b = run_epoch (l, 0, NULL);
    GByteArray *c = run_epoch (l, 7, NULL);
    g_assert_cmpmem (a->data, a->len, b->data, b->len);
    g_assert_cmpmem (a->data, a->len, c->data, c->len);
    g_byte_array_unref (a);
    g_byte_array_unref (b);
    g_byte_array_unref (c);
  }
  ts_loader_free (l);
  g_array_unref (order);
  fixture_clear (&f);
}

static void
test_determinism (void)
{
  fixture f;
  ts_loader_config cfg;
  ts_loader *l1, *l3;
  GArray *o1 = g_array_new (FALSE, FALSE, sizeof (int));
  GArray *o2 = g_array_new (FALSE, FALSE, sizeof (int));

  fixture_init (&f, 0);
  small_config (&cfg, 1);
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &l1), ==, TS_OK);
  cfg.n_workers = 3;
  cfg.prefetch = 2;
  cfg.cache_bytes = 0;
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &l3), ==, TS_OK);
  for (int epoch = 0; epoch < 2; epoch++)
    {
      GByteArray *a = run_epoch (l1, epoch, NULL), *b = run_epoch (l3, epoch, NULL);
      g_assert_cmpmem (a->data, a->len, b->data, b->len);
      g_byte_array_unref (a);
      g_byte_array_unref (b);
    }
  /* epoch 1 prefetched at the end of epoch 0 equals epoch 1 started cold */
  {
    ts_loader *cold;
    GByteArray *a, *b;
    cfg.n_workers = 2;
    g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &cold), ==, TS_OK);
    g_byte_array_unref (run_epoch (l1, 0, NULL));
    a = run_epoch (l1, 1, NULL);
    b = run_epoch (cold, 1, NULL);
    g_assert_cmpmem (a->data, a->len, b->data, b->len);
    g_byte_array_unref (a);
    g_byte_array_unref (b);
    ts_loader_free (cold);
  }
  /* epochs differ in order; an epoch repeats on its own */
  g_byte_array_unref (run_epoch (l1, 0, o1));
  g_byte_array_unref (run_epoch (l1, 1, o2));
  g_assert_true (memcmp (o1->data, o2->data, o1->len * sizeof (int)) != 0);
  g_array_set_size (o2, 0);
  g_byte_array_unref (run_epoch (l1, 0, o2));
  g_assert_cmpmem (o1->data, o1->len * sizeof (int), o2->data, o2->len * sizeof (int));
  /* after the end, next keeps saying so until the next start_epoch */
  {
    ts_batch *b = (ts_batch *) 1;
    g_assert_cmpint (ts_loader_next (l1, &b), ==, TS_OK);
    g_assert_null (b);
  }
  /* starting a new epoch in the middle of one is allowed */
  {
    ts_batch *b;
    g_assert_cmpint (ts_loader_start_epoch (l3, 4), ==, TS_OK);
    g_assert_cmpint (ts_loader_next (l3, &b), ==, TS_OK);
    g_assert_nonnull (b);
    ts_loader_release (l3, b);
  }
  ts_loader_free (l1);
  ts_loader_free (l3);
  g_array_unref (o1);
  g_array_unref (o2);
  fixture_clear (&f);
}

static void
test_targets_and_pixels (void)
{
  fixture f;
  ts_loader_config cfg;
  ts_loader *l;
  ts_batch *b;
  int rows = 0;

  fixture_init (&f, 0);
  small_config (&cfg, 2);
  cfg.mean[0] = cfg.mean[1] = cfg.mean[2] = 0.0f;
  cfg.std[0] = cfg.std[1] = cfg.std[2] = 1.0f;
  ts_aug_params_preset (&cfg.aug, TS_AUG_NONE);
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &l), ==, TS_OK);
  ts_loader_start_epoch (l, 0);
  while (ts_loader_next (l, &b) == TS_OK && b != NULL)
    {
      for (int r = 0; r < b->n; r++)
        {
          int item = b->items[r];
          float *y = b->y + r * N_VOCAB, *x = b->x + (size_t) r * 3 * 16 * 16;
          for (int v = 0; v < N_VOCAB; v++)
            g_assert_cmpfloat (y[v], ==, (item & (1 << v)) ? 1.0f : 0.0f);
          /* a flat image stays flat through crop and resample */
          g_assert_cmpfloat (fabsf (x[100] * 255.0f - item * 10), <, 3.0f);
          g_assert_cmpfloat (fabsf (x[2 * 256 + 17] * 255.0f - item * 10), <, 3.0f);
          rows++;
        }
      ts_loader_release (l, b);
    }
  g_assert_cmpint (rows, ==, 16);
  ts_loader_free (l);
  fixture_clear (&f);
}

/* A counting allocator standing in for a GPU's page-locked memory; the
 * workers call it too (a deferred batch's bytes grow), hence the lock. */
typedef struct {
  int allocs, frees;
  size_t bytes;
} counting;

G_LOCK_DEFINE_STATIC (counting);

static void *
counting_alloc (size_t bytes, void *ud)
{
  counting *c = ud;

  G_LOCK (counting);
  c->allocs++;
  c->bytes = bytes;
  G_UNLOCK (counting);
  return g_malloc (bytes);
}

static void
counting_free (void *ptr, void *ud)
{
  counting *c = ud;

  G_LOCK (counting);
  c->frees++;
  G_UNLOCK (counting);
  g_free (ptr);
}

/* the batches' pixels come from the caller's allocator, one buffer a slot,
 * each given back to it; the batches themselves are as with malloc */
static void
test_host_allocator (void)
{
  fixture f;
  ts_loader_config cfg;
  ts_loader *l;
  ts_batch *b;
  counting c = { 0 };
  int rows = 0;

  fixture_init (&f, 0);
  small_config (&cfg, 2);
  cfg.prefetch = 3;
  cfg.host_alloc = counting_alloc;
  cfg.host_free = counting_free;
  cfg.host_ud = &c;
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &l), ==, TS_OK);
  g_assert_cmpint (c.allocs, ==, 3);
  g_assert_cmpuint (c.bytes, ==, sizeof (float) * 3 * 16 * 16 * 4);
  ts_loader_start_epoch (l, 0);
  while (ts_loader_next (l, &b) == TS_OK && b != NULL)
    {
      rows += b->n;
      ts_loader_release (l, b);
    }
  g_assert_cmpint (rows, ==, 16);
  ts_loader_free (l);
  g_assert_cmpint (c.frees, ==, 3);

  /* half a pair is ignored: malloc, and nothing handed to the lone hook */
  c.allocs = c.frees = 0;
  cfg.host_free = NULL;
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &l), ==, TS_OK);
  ts_loader_free (l);
  g_assert_cmpint (c.allocs, ==, 0);
  fixture_clear (&f);
}

static void
test_skipped (void)
{
  fixture f;
  ts_loader_config cfg;
  ts_loader *l;
  GArray *order = g_array_new (FALSE, FALSE, sizeof (int));

  fixture_init (&f, 1);
  small_config (&cfg, 2);
  cfg.drop_last = 0;
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &l), ==, TS_OK);
  for (int epoch = 0; epoch < 2; epoch++)
    {
      g_array_set_size (order, 0);
      g_byte_array_unref (run_epoch (l, epoch, order));
      g_assert_cmpint (order->len, ==, 16);
      for (guint i = 0; i < order->len; i++)
        g_assert_cmpint (g_array_index (order, int, i), !=, 5);
      /* counted once, however many epochs */
      g_assert_cmpint (ts_loader_n_skipped (l), ==, 1);
    }
  g_test_message ("skip message: %s", ts_loader_skip_message (l));
  g_assert_nonnull (strstr (ts_loader_skip_message (l), "05.jpg"));
  ts_loader_free (l);
  g_array_unref (order);
  fixture_clear (&f);
}

static void
test_cache_bounded (void)
{
  fixture f;
  ts_loader_config cfg;
  ts_loader *cached, *plain;

  fixture_init (&f, 0);
  small_config (&cfg, 2);
  /* room for three decoded 40x30 images */
  cfg.cache_bytes = 3 * 40 * 30 * 3 + 100;
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &cached), ==, TS_OK);
  cfg.cache_bytes = 0;
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &plain), ==, TS_OK);
  for (int epoch = 0; epoch < 3; epoch++)
    {
      GByteArray *a = run_epoch (cached, epoch, NULL), *b = run_epoch (plain, epoch, NULL);
      g_assert_cmpmem (a->data, a->len, b->data, b->len);
      g_byte_array_unref (a);
      g_byte_array_unref (b);
      g_assert_cmpuint (ts_loader_cache_bytes (cached), ==, 3 * 40 * 30 * 3);
      g_assert_cmpuint (ts_loader_cache_bytes (plain), ==, 0);
    }
  ts_loader_free (cached);
  ts_loader_free (plain);
  fixture_clear (&f);
}

static void
test_bad_config (void)
{
  fixture f;
  ts_loader_config cfg;
  ts_loader *l = (ts_loader *) 1;

  fixture_init (&f, 0);
  small_config (&cfg, 1);
  cfg.batch_size = 0;
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &l), ==, TS_ERR_INVALID);
  g_assert_null (l);
  small_config (&cfg, 1);
  cfg.min_scale = 0;
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &l), ==, TS_ERR_INVALID);
  small_config (&cfg, 1);
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &l), ==, TS_OK);
  {
    ts_batch *b;
    /* next before start_epoch is an error, not a hang */
    g_assert_cmpint (ts_loader_next (l, &b), ==, TS_ERR_INVALID);
  }
  ts_loader_free (l);
  fixture_clear (&f);
}

/* The out-of-memory message counts the slots really asked for: with
 * prefetch 0 that is two per worker, not "0 slots".  Sanitizer allocators
 * abort on such requests instead of returning NULL, so not under them. */
static void
test_oom_message (void)
{
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
#define TS_TEST_SANITIZED_ALLOCATOR 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__) || \
    defined(TS_TEST_SANITIZED_ALLOCATOR)
  g_test_skip ("sanitizer allocators abort on impossible requests");
#else
  fixture f;
  ts_loader_config cfg;
  ts_loader *l = (ts_loader *) 1;

  fixture_init (&f, 0);
  small_config (&cfg, 1);
  cfg.prefetch = 0;
  cfg.n_workers = 1;
  cfg.size = 4096;
  cfg.batch_size = 1 << 22; /* 4096 x 4096 x 3 floats x 4 M rows per slot: 800 TB */
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 0, &l), ==, TS_ERR_NOMEM);
  g_assert_null (l);
  g_assert_cmpstr (ts_last_error (), ==,
                   "loader: out of memory for 2 slots of 4194304 images");
  fixture_clear (&f);
#endif
}

/* Overwrites every image of @f with a texture (the flat colours would hide a
 * resample at the wrong place). */
static void
fixture_texture (fixture *f)
{
  for (int i = 0; i < N_ITEMS; i++)
    {
      ts_image img = { g_malloc (40 * 30 * 3), 40, 30 };

      for (int y = 0; y < 30; y++)
        for (int x = 0; x < 40; x++)
          for (int c = 0; c < 3; c++)
            img.pixels[(y * 40 + x) * 3 + c] = (uint8_t) (i * 10 + x * 6 + (y * y) % 50 + c * 70);
      g_assert_cmpint (ts_image_save_jpeg (&img, f->db.items[i].path, 95), ==, TS_OK);
      g_free (img.pixels);
    }
}

/* With defer_resample the batches carry each image's region and plan instead
 * of x; resampling them gives the rows the undeferred loader makes (the same
 * draws from the same seeds), and the buffers come from the host allocator. */
static void
test_deferred (void)
{
  fixture f;
  counting c = { 0 };

  fixture_init (&f, 0);
  fixture_texture (&f);
  for (int valid = 0; valid <= 1; valid++)
    {
      ts_loader_config cfg, dcfg;
      ts_loader *l, *dl;
      ts_batch *b, *db;
      int rows = 0;
      double max_err = 0.0;

      small_config (&cfg, 2);
      dcfg = cfg;
      dcfg.defer_resample = 1;
      dcfg.host_alloc = counting_alloc;
      dcfg.host_free = counting_free;
      dcfg.host_ud = &c;
      g_assert_cmpint (ts_loader_new (&f.db, &cfg, valid, &l), ==, TS_OK);
      g_assert_cmpint (ts_loader_new (&f.db, &dcfg, valid, &dl), ==, TS_OK);
      g_assert_cmpint (ts_loader_start_epoch (l, 1), ==, TS_OK);
      g_assert_cmpint (ts_loader_start_epoch (dl, 1), ==, TS_OK);
      while (ts_loader_next (l, &b) == TS_OK && b != NULL)
        {
          size_t end = 0;

          g_assert_cmpint (ts_loader_next (dl, &db), ==, TS_OK);
          g_assert_nonnull (db);
          g_assert_null (db->x);
          g_assert_cmpint (db->n, ==, b->n);
          g_assert_cmpmem (db->items, sizeof (int) * db->n, b->items, sizeof (int) * b->n);
          g_assert_cmpmem (db->y, sizeof (float) * db->n * N_VOCAB, b->y,
                           sizeof (float) * b->n * N_VOCAB);
          for (int r = 0; r < db->n; r++)
            {
              const ts_resample_item *it = &db->resample[r];
              float out[3 * 16 * 16];

              /* regions packed one after another, never past the bytes filled */
              g_assert_cmpint (it->offset, ==, (int64_t) end);
              end += (size_t) it->width * it->height * 3;
              g_assert_cmpuint (end, <=, db->src_bytes);
              g_assert_cmpint (it->width, <=, 40);
              g_assert_cmpint (it->height, <=, 30);
              ts_resample_image (db->src + it->offset, it, cfg.mean, cfg.std, out);
              for (int k = 0; k < 3 * 16 * 16; k++)
                max_err = fmax (max_err, fabs (out[k] - b->x[r * 3 * 16 * 16 + k]));
            }
          g_assert_cmpuint (end, ==, db->src_bytes);
          rows += b->n;
          ts_loader_release (l, b);
          ts_loader_release (dl, db);
        }
      g_assert_cmpint (ts_loader_next (dl, &db), ==, TS_OK);
      g_assert_null (db);
      g_assert_cmpint (rows, ==, valid ? 6 : 16);
      /* the region's coordinates are the whole image's less whole pixels:
       * float rounding only */
      g_test_message ("%s: max |deferred - loader| %.3g", valid ? "valid" : "train", max_err);
      g_assert_cmpfloat (max_err, <, 1e-4);
      ts_loader_free (l);
      ts_loader_free (dl);
      g_assert_cmpint (c.allocs, >, 0);
      g_assert_cmpint (c.frees, ==, c.allocs);
      c.allocs = c.frees = 0;
    }
  fixture_clear (&f);
}

/* an allocator that refuses more than one page: a deferred batch has room
 * for about one 40x30 image's region */
static void *
one_page_alloc (size_t bytes, void *ud)
{
  return bytes > 4096 ? NULL : g_malloc (bytes);
}

static void
plain_free (void *ptr, void *ud)
{
  g_free (ptr);
}

/* Items a batch had no memory for are left out and tried again; each counts
 * once in ts_loader_n_skipped however many epochs leave it out.  Validation
 * batches: the same items and crops every epoch, including the epoch the
 * workers begin on their own at the end of one. */
static void
test_skipped_no_memory (void)
{
  fixture f;
  ts_loader_config cfg;
  ts_loader *l;
  GArray *order = g_array_new (FALSE, FALSE, sizeof (int));
  guint kept = 0;

  fixture_init (&f, 0);
  small_config (&cfg, 2);
  cfg.defer_resample = 1;
  cfg.host_alloc = one_page_alloc;
  cfg.host_free = plain_free;
  g_assert_cmpint (ts_loader_new (&f.db, &cfg, 1, &l), ==, TS_OK);
  for (int epoch = 0; epoch < 3; epoch++)
    {
      g_array_set_size (order, 0);
      g_byte_array_unref (run_epoch (l, epoch, order));
      if (epoch == 0)
        kept = order->len;
      /* some of the 6 fit, not all: a region is up to 3,600 bytes */
      g_assert_cmpuint (order->len, ==, kept);
      g_assert_cmpuint (kept, >, 0);
      g_assert_cmpuint (kept, <, 6);
      g_assert_cmpint (ts_loader_n_skipped (l), ==, 6 - (int) kept);
    }
  g_test_message ("%u of 6 left out; skip message: %s", 6 - kept, ts_loader_skip_message (l));
  g_assert_nonnull (strstr (ts_loader_skip_message (l), "out of memory"));
  ts_loader_free (l);
  g_array_unref (order);
  fixture_clear (&f);
}

/* Each batch counts and names the items it left out, whichever of the two
 * workers reached its unreadable image first, and again in later epochs,
 * when the loader no longer tries them (no fresh error); the items of an
 * empty batch are the next batch's to count.  The validation batches are
 * [3 7 11 15] [19 22]. */
static void
test_batch_skips (void)
{
  static const struct {
    int corrupt[5], n_corrupt;
    int n_batches, index[2], rows[2], skipped[2];
    const char *first[2];
  } cases[] = {
    { { 7, 15, 22 }, 3, 2, { 0, 1 }, { 2, 1 }, { 2, 1 }, { "07.jpg", "22.jpg" } },
    { { 3, 7, 11, 15, 22 }, 5, 1, { 1 }, { 1 }, { 5 }, { "03.jpg" } },
  };

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      fixture f;
      ts_loader_config cfg;
      ts_loader *l;

      fixture_init (&f, 0);
      for (int i = 0; i < cases[c].n_corrupt; i++)
        corrupt_item (&f, cases[c].corrupt[i]);
      small_config (&cfg, 2);
      g_assert_cmpint (ts_loader_new (&f.db, &cfg, 1, &l), ==, TS_OK);
      for (int epoch = 0; epoch < 3; epoch++)
        {
          ts_batch *b;
          int k = 0;

          g_assert_cmpint (ts_loader_start_epoch (l, epoch), ==, TS_OK);
          while (ts_loader_next (l, &b) == TS_OK && b != NULL)
            {
              g_test_message ("case %u epoch %d batch %d: %d skipped: %s", c, epoch, b->index,
                              b->n_skipped, b->skip_message);
              g_assert_cmpint (k, <, cases[c].n_batches);
              g_assert_cmpint (b->index, ==, cases[c].index[k]);
              g_assert_cmpint (b->n, ==, cases[c].rows[k]);
              g_assert_cmpint (b->n_skipped, ==, cases[c].skipped[k]);
              g_assert_nonnull (strstr (b->skip_message, cases[c].first[k]));
              ts_loader_release (l, b);
              k++;
            }
          g_assert_cmpint (k, ==, cases[c].n_batches);
          g_assert_cmpint (ts_loader_n_skipped (l), ==, cases[c].n_corrupt);
        }
      ts_loader_free (l);
      fixture_clear (&f);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/loader/coverage", test_coverage);
  g_test_add_func ("/loader/determinism", test_determinism);
  g_test_add_func ("/loader/targets-and-pixels", test_targets_and_pixels);
  g_test_add_func ("/loader/skipped", test_skipped);
  g_test_add_func ("/loader/skipped-no-memory", test_skipped_no_memory);
  g_test_add_func ("/loader/batch-skips", test_batch_skips);
  g_test_add_func ("/loader/host-allocator", test_host_allocator);
  g_test_add_func ("/loader/cache-bounded", test_cache_bounded);
  g_test_add_func ("/loader/bad-config", test_bad_config);
  g_test_add_func ("/loader/oom-message", test_oom_message);
  g_test_add_func ("/loader/deferred", test_deferred);
  return g_test_run ();
}
