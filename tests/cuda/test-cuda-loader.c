/* test-cuda-loader.c: the data pipeline as a GPU session runs it.  A loader
 * with defer_resample hands its batches (decoded regions and plans, in the
 * backend's page-locked memory) to ts_batch_to_tensor on the CUDA backend;
 * the tensors must match what the CPU loader makes on its own threads from
 * the same JPEGs, seed and epoch, with every batch staged on the device
 * ahead of its turn (ts-cuda-stage.c).  Built against the real backend (skipped
 * without a GPU) and against its host emulation (runs everywhere). */
#include <math.h>
#include <string.h>

#include "cuda-test.h"
#include "ts-backend-cuda.h"
#include "ts-image.h"
#include "ts-loader.h"
#include "ts-test.h"

#define N_ITEMS 14
#define SIZE 32
#define BS 4

static ts_backend *gpu;
static char skip_reason[512];

/* @n textured JPEGs, landscape and portrait, the last three for validation */
static void
make_set (const char *dir, ts_datablock *db)
{
  static char *vocab[2] = { "a", "b" };

  memset (db, 0, sizeof *db);
  db->items = g_new0 (ts_item, N_ITEMS);
  db->train_idx = g_new0 (int, N_ITEMS);
  db->valid_idx = g_new0 (int, N_ITEMS);
  db->n_items = N_ITEMS;
  db->vocab = vocab;
  db->n_vocab = 2;
  for (int i = 0; i < N_ITEMS; i++)
    {
      ts_item *it = &db->items[i];
      int w = i % 3 ? 120 : 70, h = i % 3 ? 80 : 110;
      ts_image img = { g_malloc ((size_t) w * h * 3), w, h };

      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
          for (int c = 0; c < 3; c++)
            img.pixels[((size_t) y * w + x) * 3 + c] =
              (uint8_t) (i * 17 + x * 5 + (y * y) % 61 + c * 80);
      it->fname = g_strdup_printf ("%02d.jpg", i);
      it->path = g_build_filename (dir, it->fname, NULL);
      g_assert_cmpint (ts_image_save_jpeg (&img, it->path, 92), ==, TS_OK);
      g_free (img.pixels);
      it->labels = g_new0 (int, 1);
      it->labels[it->n_labels++] = i % 2;
      if (i >= N_ITEMS - 3)
        db->valid_idx[db->n_valid++] = i;
      else
        db->train_idx[db->n_train++] = i;
    }
}

static void
free_set (ts_datablock *db)
{
  for (int i = 0; i < db->n_items; i++)
    {
      g_free (db->items[i].fname);
      g_free (db->items[i].path);
      g_free (db->items[i].labels);
    }
  g_free (db->items);
  g_free (db->train_idx);
  g_free (db->valid_idx);
}

static void
test_deferred_on_gpu (void)
{
  char *dir;
  ts_datablock db;
  ts_tensor *x;
  float *host;
#ifndef __FP_FAST_FMAF
  const int exact = ts_cuda_test_emulated ();
#else
  const int exact = 0;
#endif

  if (gpu == NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  dir = ts_test_tmpdir ();
  make_set (dir, &db);
  x = ts_tensor_new_4d (gpu, BS, 3, SIZE, SIZE);
  host = g_new (float, BS * 3 * SIZE * SIZE);
  g_assert_nonnull (x);
  for (int valid = 0; valid <= 1; valid++)
    {
      ts_loader_config cfg, dcfg;
      ts_loader *cpu_loader, *gpu_loader;
      ts_batch *a, *b;
      double max_err = 0.0, sum_err = 0.0;
      long n_values = 0, staged0 = ts_backend_cuda_staged_batches (gpu);
      int n_batches = 0;

      ts_loader_config_init (&cfg);
      cfg.size = SIZE;
      cfg.batch_size = BS;
      cfg.n_workers = 2;
      cfg.seed = 7;
      dcfg = cfg;
      /* what a GPU session sets up: page-locked batches, the resample deferred */
      ts_loader_config_feed (&dcfg, gpu);
      g_assert_true (dcfg.defer_resample);
      g_assert_nonnull (dcfg.host_alloc);
      g_assert_cmpint (ts_loader_new (&db, &cfg, valid, &cpu_loader), ==, TS_OK);
      g_assert_cmpint (ts_loader_new (&db, &dcfg, valid, &gpu_loader), ==, TS_OK);
      /* epoch 2: the RAM cache serves the images, as in every epoch after the first */
      for (int epoch = 1; epoch <= 2; epoch++)
        {
          g_assert_cmpint (ts_loader_start_epoch (cpu_loader, epoch), ==, TS_OK);
          g_assert_cmpint (ts_loader_start_epoch (gpu_loader, epoch), ==, TS_OK);
          while (ts_loader_next (cpu_loader, &a) == TS_OK && a != NULL)
            {
              ts_tensor xv = *x;

              g_assert_cmpint (ts_loader_next (gpu_loader, &b), ==, TS_OK);
              g_assert_nonnull (b);
              g_assert_null (b->x);
              /* every batch's bytes crossed to the device while the one
               * before it was being used: ready when it came up, or staged
               * when the one before it was taken */
              g_assert_nonnull (b->stage);
              g_assert_cmpint (b->n, ==, a->n);
              g_assert_cmpmem (b->items, sizeof (int) * b->n, a->items, sizeof (int) * a->n);
              xv.shape[0] = b->n;
              xv.numel = (int64_t) b->n * 3 * SIZE * SIZE;
              xv.owns_data = 0;
              g_assert_cmpint (ts_batch_to_tensor (b, &xv), ==, TS_OK);
              g_assert_cmpint (ts_tensor_to_host (&xv, host, xv.numel), ==, TS_OK);
              for (int64_t k = 0; k < xv.numel; k++)
                {
                  double e = fabs ((double) host[k] - a->x[k]);
                  max_err = fmax (max_err, e);
                  sum_err += e;
                  n_values++;
                }
              ts_loader_release (cpu_loader, a);
              ts_loader_release (gpu_loader, b);
              n_batches++;
            }
        }
      g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
      /* and the resample read each one's staged copy */
      g_assert_cmpint (ts_backend_cuda_staged_batches (gpu) - staged0, ==, n_batches);
      g_test_message ("%s: max |gpu - cpu| %.3g, mean %.3g over %ld values",
                      valid ? "validation" : "training", max_err, sum_err / n_values, n_values);
      /* the CPU interpolates lighting in a table, the GPU computes it (up to
       * 2.0e-3 apart after Normalize near black and white, tests/engine/
       * test-resample.c; measured 1.8e-4, mean 4.7e-7); without lighting
       * (validation) only float rounding separates them: FMA contraction on
       * a GPU, none in the host emulation of a build without FMAs, where
       * the kernel's arithmetic is the CPU loader's (tests/cuda/
       * test-cuda-ops.c) */
      if (valid && exact)
        g_assert_cmpfloat (max_err, ==, 0.0);
      g_assert_cmpfloat (max_err, <, valid ? 1e-4 : 2.5e-3);
      g_assert_cmpfloat (sum_err / n_values, <, valid ? 1e-6 : 2e-5);
      g_assert_cmpint (n_values, ==, (long) 2 * 3 * SIZE * SIZE * (valid ? 3 : 8));
      ts_loader_free (cpu_loader);
      ts_loader_free (gpu_loader);
    }
  ts_tensor_free (x);
  g_free (host);
  free_set (&db);
  ts_test_rmdir (dir);
  g_free (dir);
}

/* @n rows of [3, SIZE, SIZE] resampled by @be from @src, to the host */
static float *
resample_to_host (ts_backend *be, const uint8_t *src, size_t bytes, void *stage,
                  const ts_batch *b)
{
  ts_tensor *x = ts_tensor_new_4d (be, b->n, 3, SIZE, SIZE);
  float *host = g_new (float, (gsize) x->numel);

  g_assert_cmpint (ts_backend_resample_batch (be, src, bytes, stage, b->resample, b->n, b->mean,
                                              b->std, x), ==, TS_OK);
  g_assert_cmpint (ts_tensor_to_host (x, host, x->numel), ==, TS_OK);
  ts_tensor_free (x);
  return host;
}

/* The stage's rule (ts_backend_i.stage_upload): it may be filled again once
 * the resample reading it is queued, and that resample still reads the old
 * bytes.  Two sources of one batch's layout (its bytes, then inverted),
 * each staged and resampled into its own tensor with no wait between, then
 * both read back: each equals the CPU's resample of its own source.  (In
 * the emulation the second copy runs before the first resample unless that
 * resample's "consumed" event orders it after.) */
static void
test_stage_refilled (void)
{
  char *dir;
  ts_datablock db;
  ts_loader_config cfg;
  ts_loader *loader;
  ts_backend *cpu;
  ts_batch *b;
  uint8_t *src[2];
  void *stage;
  ts_tensor *x[2];
  float *want, *got;

  if (gpu == NULL)
    {
      g_test_skip (skip_reason);
      return;
    }
  dir = ts_test_tmpdir ();
  make_set (dir, &db);
  cpu = ts_backend_cpu_new (1);
  ts_loader_config_init (&cfg);
  cfg.size = SIZE;
  cfg.batch_size = BS;
  cfg.n_workers = 1;
  ts_loader_config_feed (&cfg, gpu);
  g_assert_cmpint (ts_loader_new (&db, &cfg, 0, &loader), ==, TS_OK);
  g_assert_cmpint (ts_loader_start_epoch (loader, 0), ==, TS_OK);
  g_assert_cmpint (ts_loader_next (loader, &b), ==, TS_OK);
  g_assert_nonnull (b);
  for (int k = 0; k < 2; k++)
    {
      src[k] = gpu->i->host_alloc (b->src_bytes);
      for (size_t i = 0; i < b->src_bytes; i++)
        src[k][i] = (uint8_t) (k ? 255 - b->src[i] : b->src[i]);
    }
  stage = gpu->i->stage_new (16);   /* grown at the first upload */
  g_assert_nonnull (stage);
  for (int k = 0; k < 2; k++)
    {
      x[k] = ts_tensor_new_4d (gpu, b->n, 3, SIZE, SIZE);
      g_assert_true (gpu->i->stage_upload (stage, src[k], b->src_bytes));
      g_assert_cmpint (ts_backend_resample_batch (gpu, src[k], b->src_bytes, stage, b->resample,
                                                  b->n, b->mean, b->std, x[k]), ==, TS_OK);
    }
  gpu->i->stage_wait (stage);
  for (int k = 0; k < 2; k++)
    {
      want = resample_to_host (cpu, src[k], b->src_bytes, NULL, b);
      got = g_new (float, (gsize) x[k]->numel);
      g_assert_cmpint (ts_tensor_to_host (x[k], got, x[k]->numel), ==, TS_OK);
      for (int64_t i = 0; i < x[k]->numel; i++)
        g_assert_cmpfloat (fabsf (got[i] - want[i]), <, 2.5e-3f);
      g_free (want);
      g_free (got);
      ts_tensor_free (x[k]);
    }
  g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
  gpu->i->stage_free (stage);
  for (int k = 0; k < 2; k++)
    gpu->i->host_free (src[k]);
  ts_loader_release (loader, b);
  ts_loader_free (loader);
  ts_backend_free (cpu);
  free_set (&db);
  ts_test_rmdir (dir);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  g_unsetenv ("TS_DEVICE_RESAMPLE");   /* the GPU session's default is under test */
  gpu = ts_backend_cuda_new (0, skip_reason, sizeof skip_reason);
  g_test_add_func ("/cuda/loader/deferred-resample", test_deferred_on_gpu);
  g_test_add_func ("/cuda/loader/stage-refilled", test_stage_refilled);
  rc = g_test_run ();
  ts_backend_free (gpu);
  return rc;
}
