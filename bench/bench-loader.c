/* bench-loader: decode + augment throughput of the data pipeline, against a
 * bare TurboJPEG decode of the same files in the same run.
 *
 *   bench-loader [--files N] [--size 128] [--bs 64] [--consumer-ips R] [CSV]
 *
 * Without CSV it writes N synthetic 500x333 JPEGs (quality 90) to a temporary
 * folder.  Reported, all in images per second:
 *   bare        read + tjDecompress2 at full size, one thread
 *   pipeline    ts_image_load (DCT scaling) + RandomResizedCrop + aug_transforms
 *               + normalise, one thread (= per core)
 *   loader Nw   the threaded loader with N workers, consumer taking batches as
 *               fast as it can (cache off, so every image is decoded)
 *   cache warm  one worker, epochs after the first with the RAM cache holding
 *               every decoded image (what training sees from epoch 2 on)
 *   fed         a consumer that needs R images/s (busy work per batch) beside one
 *               worker: the share of its time spent waiting for a batch
 *   deferred    the loader with defer_resample (a GPU session's: the resample is
 *               the backend's), cold and cache warm, and the bytes per image
 *               a batch then carries against the float rows it replaces
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

#include "ts-clock.h"
#include "ts-datablock.h"
#include "ts-image.h"
#include "ts-loader.h"
#include "ts-rng.h"
#include "ts-transform.h"

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median3 (double v[3])
{
  qsort (v, 3, sizeof (double), cmp_double);
  return v[1];
}

/* A photo-like 500x333 picture: smooth shapes, texture and sensor noise. */
static void
synth (ts_image *img, int index)
{
  ts_rng rng;
  double fx[3], fy[3], ph[3];

  ts_rng_seed (&rng, 777, (uint64_t) index);
  for (int c = 0; c < 3; c++)
    {
      fx[c] = ts_rng_uniform_range (&rng, 0.005, 0.05);
      fy[c] = ts_rng_uniform_range (&rng, 0.005, 0.05);
      ph[c] = ts_rng_uniform_range (&rng, 0, 6.28);
    }
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      for (int c = 0; c < 3; c++)
        {
          double v = 128 + 70 * sin (fx[c] * x + ph[c]) * cos (fy[c] * y)
                     + 12 * sin (0.3 * x + 0.2 * y + c) + 4 * ts_rng_normal (&rng);
          img->pixels[((size_t) y * img->width + x) * 3 + c] =
            (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : v);
        }
}

static double
bare_decode (ts_datablock *db)
{
  tjhandle tj = tjInitDecompress ();
  uint8_t *rgb = malloc ((size_t) 4096 * 4096 * 3);
  double t0 = ts_now_seconds ();
  int n = 0;

  for (int i = 0; i < db->n_train; i++)
    {
      FILE *f = fopen (db->items[db->train_idx[i]].path, "rb");
      long len;
      uint8_t *buf;
      int w, h, ss, cs;

      if (f == NULL)
        continue;
      fseek (f, 0, SEEK_END);
      len = ftell (f);
      fseek (f, 0, SEEK_SET);
      buf = malloc ((size_t) len);
      if (fread (buf, 1, (size_t) len, f) == (size_t) len
          && tjDecompressHeader3 (tj, buf, (unsigned long) len, &w, &h, &ss, &cs) == 0
          && (size_t) w * h <= (size_t) 4096 * 4096
          && tjDecompress2 (tj, buf, (unsigned long) len, rgb, w, 0, h, TJPF_RGB, 0) == 0)
        n++;
      free (buf);
      fclose (f);
    }
  t0 = ts_now_seconds () - t0;
  free (rgb);
  tjDestroy (tj);
  return n / t0;
}

static double
pipeline_one_thread (ts_datablock *db, const ts_loader_config *cfg)
{
  float *x = malloc (sizeof (float) * 3 * cfg->size * cfg->size);
  int min_side = ts_tfm_decode_min_side (cfg, 0), n = 0;
  double t0 = ts_now_seconds ();

  for (int i = 0; i < db->n_train; i++)
    {
      ts_image img;
      ts_rng rng;
      if (ts_image_load (db->items[db->train_idx[i]].path, min_side, 2048, &img) != TS_OK)
        continue;
      ts_rng_seed (&rng, 1, (uint64_t) i);
      ts_tfm_item (&img, cfg, 0, &rng, x);
      ts_image_clear (&img);
      n++;
    }
  t0 = ts_now_seconds () - t0;
  free (x);
  return n / t0;
}

/* Images/s through the loader; with consumer_ips > 0 the consumer spins for
 * bs / consumer_ips seconds a batch and *wait_share gets its waiting share. */
static double
loader_run (ts_datablock *db, const ts_loader_config *base, int workers, int epochs,
            double consumer_ips, double *wait_share, int cached, int defer,
            double *bytes_per_image)
{
  ts_loader_config cfg = *base;
  ts_loader *l;
  double t0, waited = 0, bytes = 0;
  long n = 0;
  volatile double sink = 0;

  cfg.n_workers = workers;
  cfg.defer_resample = defer;
  cfg.cache_bytes = cached ? (size_t) 1 << 30 : 0;
  if (ts_loader_new (db, &cfg, 0, &l) != TS_OK)
    {
      fprintf (stderr, "bench-loader: %s\n", ts_last_error ());
      exit (1);
    }
  if (cached)
    {
      /* fill the cache first: what is timed is the epochs after the first */
      ts_batch *b;
      ts_loader_start_epoch (l, 0);
      while (ts_loader_next (l, &b) == TS_OK && b != NULL)
        ts_loader_release (l, b);
    }
  t0 = ts_now_seconds ();
  for (int e = cached; e < epochs + cached; e++)
    {
      ts_batch *b;
      ts_loader_start_epoch (l, e);
      for (;;)
        {
          double w0 = ts_now_seconds ();
          ts_loader_next (l, &b);
          if (e > cached || n > 0)
            waited += ts_now_seconds () - w0;  /* the first batch is a cold start */
          if (b == NULL)
            break;
          n += b->n;
          bytes += defer ? (double) b->src_bytes : sizeof (float) * 3.0 * cfg.size * cfg.size * b->n;
          if (consumer_ips > 0 && b->x)
            {
              double until = ts_now_seconds () + b->n / consumer_ips;
              while (ts_now_seconds () < until)
                sink += b->x[0];
            }
          ts_loader_release (l, b);
        }
    }
  t0 = ts_now_seconds () - t0;
  ts_loader_free (l);
  if (wait_share)
    *wait_share = waited / t0;
  if (bytes_per_image)
    *bytes_per_image = n ? bytes / n : 0;
  return n / t0;
}

int
main (int argc, char **argv)
{
  static const struct option opts[] = {
    { "files", required_argument, NULL, 'f' },
    { "size", required_argument, NULL, 's' },
    { "bs", required_argument, NULL, 'b' },
    { "consumer-ips", required_argument, NULL, 'c' },
    { NULL, 0, NULL, 0 },
  };
  int n_files = 256, c;
  double consumer_ips = 400;
  ts_loader_config cfg;
  ts_datablock *db = NULL, local;
  char dir[] = "/tmp/bench-loader-XXXXXX";
  int own_files = 0;
  double bare[3], pipe[3], l1[3], l2[3], lc[3], d1[3], dw[3], wait_share, fed;
  double float_bytes, src_bytes;
  long cores = sysconf (_SC_NPROCESSORS_ONLN);

  ts_loader_config_init (&cfg);
  while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1)
    switch (c)
      {
      case 'f': n_files = atoi (optarg); break;
      case 's': cfg.size = atoi (optarg); break;
      case 'b': cfg.batch_size = atoi (optarg); break;
      case 'c': consumer_ips = atof (optarg); break;
      default:
        fprintf (stderr, "usage: bench-loader [--files N] [--size S] [--bs B] "
                 "[--consumer-ips R] [CSV]\n");
        return 2;
      }

  if (optind < argc)
    {
      ts_datablock_config dc;
      ts_datablock_config_init (&dc);
      if (ts_datablock_load (argv[optind], &dc, &db) != TS_OK)
        {
          fprintf (stderr, "bench-loader: %s\n", ts_last_error ());
          return 1;
        }
    }
  else
    {
      static char *vocab[1] = { "x" };
      ts_image img = { malloc (500 * 333 * 3), 500, 333 };
      long bytes = 0;

      if (mkdtemp (dir) == NULL)
        return 1;
      own_files = 1;
      memset (&local, 0, sizeof local);
      local.items = calloc ((size_t) n_files, sizeof (ts_item));
      local.train_idx = calloc ((size_t) n_files, sizeof (int));
      local.n_items = local.n_train = n_files;
      local.vocab = vocab;
      local.n_vocab = 1;
      for (int i = 0; i < n_files; i++)
        {
          struct stat st;
          local.items[i].path = malloc (strlen (dir) + 32);
          sprintf (local.items[i].path, "%s/%04d.jpg", dir, i);
          synth (&img, i);
          if (ts_image_save_jpeg (&img, local.items[i].path, 90) != TS_OK)
            {
              fprintf (stderr, "bench-loader: %s\n", ts_last_error ());
              return 1;
            }
          stat (local.items[i].path, &st);
          bytes += st.st_size;
          local.train_idx[i] = i;
        }
      free (img.pixels);
      db = &local;
      printf ("files: %d synthetic 500x333 JPEGs, quality 90, %.0f KB on average\n", n_files,
              bytes / 1024.0 / n_files);
    }
  printf ("target %d px, batch %d, RandomResizedCrop(min_scale %.2f) + aug_transforms; "
          "%ld cores\n", cfg.size, cfg.batch_size, cfg.min_scale, cores);

  /* warm the page cache, then three interleaved rounds, medians reported */
  bare_decode (db);
  for (int r = 0; r < 3; r++)
    {
      bare[r] = bare_decode (db);
      pipe[r] = pipeline_one_thread (db, &cfg);
      l1[r] = loader_run (db, &cfg, 1, 2, 0, NULL, 0, 0, NULL);
      l2[r] = loader_run (db, &cfg, 2, 2, 0, NULL, 0, 0, NULL);
      lc[r] = loader_run (db, &cfg, 1, 2, 0, NULL, 1, 0, &float_bytes);
      d1[r] = loader_run (db, &cfg, 1, 2, 0, NULL, 0, 1, NULL);
      dw[r] = loader_run (db, &cfg, 1, 2, 0, NULL, 1, 1, &src_bytes);
    }
  fed = loader_run (db, &cfg, 1, 3, consumer_ips, &wait_share, 0, 0, NULL);

  printf ("bare tjDecompress2 (full size, 1 thread):   %7.0f images/s\n", median3 (bare));
  printf ("pipeline decode+augment (1 thread):         %7.0f images/s per core (%.2fx bare)\n",
          median3 (pipe), median3 (pipe) / median3 (bare));
  printf ("loader, 1 worker:                           %7.0f images/s\n", median3 (l1));
  printf ("loader, 2 workers:                          %7.0f images/s (%.0f per worker)\n",
          median3 (l2), median3 (l2) / 2);
  printf ("loader, 1 worker, RAM cache warm:          %7.0f images/s (augment only)\n",
          median3 (lc));
  printf ("deferred resample, 1 worker:                %7.0f images/s (%.2fx the loader)\n",
          median3 (d1), median3 (d1) / median3 (l1));
  printf ("deferred resample, 1 worker, cache warm:    %7.0f images/s (%.2fx the loader)\n",
          median3 (dw), median3 (dw) / median3 (lc));
  printf ("bytes per image in a batch:                 %7.0f deferred, %.0f as floats (%.2fx)\n",
          src_bytes, float_bytes, src_bytes / float_bytes);
  printf ("consumer needing %.0f images/s + 1 worker:  got %.0f images/s, "
          "waited %.1f%% of the time\n", consumer_ips, fed, 100 * wait_share);

  if (own_files)
    {
      for (int i = 0; i < n_files; i++)
        {
          unlink (local.items[i].path);
          free (local.items[i].path);
        }
      rmdir (dir);
      free (local.items);
      free (local.train_idx);
    }
  else
    ts_datablock_free (db);
  return 0;
}
