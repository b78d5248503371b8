/* bench-ops.c: conv2d and batch norm forward/backward on resnet18's shapes
 * (batch 64, 128 px by default), the numbers bench_ops.py gives for PyTorch.
 *
 *   bench-ops [--threads N] [--batch N] [--size PX] [--reps R] [--other-only]
 * Prints per layer the median milliseconds of forward, of backward (dx + dw) and
 * of the weight gradient alone (dw; dx is about bwd - dw), and the resnet18
 * total weighted by how often each shape occurs; then batch norm, relu, max
 * pool and mobilenet_v2's depthwise convs. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ts-backend.h"
#include "ts-rng.h"

typedef struct {
  const char *name;
  int cin, cout, k, stride, pad, size_div, count;
} conv_shape;

/* size_div: input size = image size / size_div */
static const conv_shape resnet18[] = {
  { "stem 7x7/2", 3, 64, 7, 2, 3, 1, 1 },
  { "l1 3x3", 64, 64, 3, 1, 1, 4, 4 },
  { "l2 3x3/2", 64, 128, 3, 2, 1, 4, 1 },
  { "l2 3x3", 128, 128, 3, 1, 1, 8, 3 },
  { "l2 ds 1x1/2", 64, 128, 1, 2, 0, 4, 1 },
  { "l3 3x3/2", 128, 256, 3, 2, 1, 8, 1 },
  { "l3 3x3", 256, 256, 3, 1, 1, 16, 3 },
  { "l3 ds 1x1/2", 128, 256, 1, 2, 0, 8, 1 },
  { "l4 3x3/2", 256, 512, 3, 2, 1, 16, 1 },
  { "l4 3x3", 512, 512, 3, 1, 1, 32, 3 },
  { "l4 ds 1x1/2", 256, 512, 1, 2, 0, 16, 1 },
};

static double
now (void)
{
  struct timespec ts;
#ifdef BENCH_CPU_TIME
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
#else
  clock_gettime (CLOCK_MONOTONIC, &ts);
#endif
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static double
median (double *v, int n)
{
  qsort (v, (size_t) n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void
fill_random (ts_tensor *t, ts_rng *r)
{
  for (int64_t i = 0; i < t->numel; i++)
    t->data[i] = (float) ts_rng_uniform_range (r, -1, 1);
}

/* batch norm, relu, max pool and mobilenet_v2's depthwise convs */
static void
bench_other (ts_backend *be, int batch, int size, int reps, ts_rng *rng)
{
  static const struct { const char *name; int c, div, stride; } dws[] = {
    { "dw 32 s1", 32, 2, 1 }, { "dw 96 s2", 96, 2, 2 }, { "dw 144 s1", 144, 4, 1 },
    { "dw 384 s1", 384, 16, 1 }, { "dw 960 s1", 960, 32, 1 },
  };
  int h = size / 2;
  ts_tensor *x = ts_tensor_new_4d (be, batch, 64, h, h), *y = ts_tensor_new_4d (be, batch, 64, h, h);
  ts_tensor *dx = ts_tensor_new_4d (be, batch, 64, h, h);
  ts_tensor *g = ts_tensor_new_1d (be, 64), *b = ts_tensor_new_1d (be, 64);
  ts_tensor *rm = ts_tensor_new_1d (be, 64), *rv = ts_tensor_new_1d (be, 64);
  ts_tensor *sm = ts_tensor_new_1d (be, 64), *si = ts_tensor_new_1d (be, 64);
  ts_tensor *dg = ts_tensor_new_1d (be, 64), *db = ts_tensor_new_1d (be, 64);
  ts_tensor *py = ts_tensor_new_4d (be, batch, 64, h / 2, h / 2);
  int32_t *am = malloc ((size_t) py->numel * sizeof (int32_t));
  ts_pool2d_params pp = { 3, 3, 2, 2, 1, 1 };
  double t[6][64];

  fill_random (x, rng);
  be->i->fill (be, g, 1.0f);
  be->i->fill (be, rv, 1.0f);
  printf ("\n%-22s %9s %9s   (ms, [%d, 64, %d, %d])\n", "op", "fwd", "bwd", batch, h, h);
  for (int r = 0; r < reps + 1 && r < 64; r++)
    {
      double t0 = now ();
      be->i->batchnorm_forward_train (be, x, g, b, rm, rv, 0.1f, 1e-5f, y, sm, si);
      double t1 = now ();
      be->i->batchnorm_backward (be, x, g, sm, si, y, dx, dg, db);
      double t2 = now ();
      be->i->activation_forward (be, TS_ACT_RELU, y, y);
      double t3 = now ();
      be->i->activation_backward (be, TS_ACT_RELU, y, dx, dx);
      double t4 = now ();
      be->i->maxpool2d_forward (be, &pp, x, py, am);
      double t5 = now ();
      be->i->maxpool2d_backward (be, &pp, am, py, dx);
      double t6 = now ();
      t[0][r] = t1 - t0; t[1][r] = t2 - t1; t[2][r] = t3 - t2;
      t[3][r] = t4 - t3; t[4][r] = t5 - t4; t[5][r] = t6 - t5;
    }
  /* the first run is the warm-up */
  printf ("%-22s %9.2f %9.2f\n", "batchnorm (train)", median (t[0] + 1, reps) * 1e3,
          median (t[1] + 1, reps) * 1e3);
  printf ("%-22s %9.2f %9.2f\n", "relu (in place)", median (t[2] + 1, reps) * 1e3,
          median (t[3] + 1, reps) * 1e3);
  printf ("%-22s %9.2f %9.2f\n", "maxpool 3x3/2", median (t[4] + 1, reps) * 1e3,
          median (t[5] + 1, reps) * 1e3);
  free (am);
  ts_tensor *all[] = { x, y, dx, g, b, rm, rv, sm, si, dg, db, py };
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    ts_tensor_free (all[i]);

  for (size_t i = 0; i < sizeof dws / sizeof dws[0]; i++)
    {
      int hh = size / dws[i].div, c = dws[i].c, s = dws[i].stride;
      int oh = (hh + 2 - 3) / s + 1;
      ts_conv2d_params p = { s, s, 1, 1, 1, 1, c };
      ts_tensor *dx2 = ts_tensor_new_4d (be, batch, c, hh, hh);
      ts_tensor *x2 = ts_tensor_new_4d (be, batch, c, hh, hh);
      ts_tensor *w2 = ts_tensor_new_4d (be, c, 1, 3, 3), *dw2 = ts_tensor_new_4d (be, c, 1, 3, 3);
      ts_tensor *y2 = ts_tensor_new_4d (be, batch, c, oh, oh);
      fill_random (x2, rng);
      fill_random (w2, rng);
      for (int r = 0; r < reps + 1 && r < 64; r++)
        {
          double t0 = now ();
          be->i->conv2d_forward (be, &p, x2, w2, NULL, y2);
          double t1 = now ();
          be->i->conv2d_backward (be, &p, x2, w2, y2, dx2, dw2, NULL);
          double t2 = now ();
          t[0][r] = t1 - t0;
          t[1][r] = t2 - t1;
        }
      printf ("%-12s [%d,%d] %9.2f %9.2f\n", dws[i].name, hh, hh, median (t[0] + 1, reps) * 1e3,
              median (t[1] + 1, reps) * 1e3);
      ts_tensor_free (x2); ts_tensor_free (w2); ts_tensor_free (dw2); ts_tensor_free (y2);
      ts_tensor_free (dx2);
    }
}

int
main (int argc, char **argv)
{
  int other_only = 0;
  int threads = 2, batch = 64, size = 128, reps = 5;
  static const struct option opts[] = {
    { "threads", required_argument, NULL, 't' },
    { "batch", required_argument, NULL, 'b' },
    { "size", required_argument, NULL, 's' },
    { "reps", required_argument, NULL, 'r' },
    { "other-only", no_argument, NULL, 'o' },
    { NULL, 0, NULL, 0 },
  };
  int c;
  ts_rng rng;
  double tot_f = 0, tot_b = 0, tot_flop = 0;

  while ((c = getopt_long (argc, argv, "t:b:s:r:", opts, NULL)) != -1)
    switch (c)
      {
      case 't': threads = atoi (optarg); break;
      case 'b': batch = atoi (optarg); break;
      case 's': size = atoi (optarg); break;
      case 'r': reps = atoi (optarg); break;
      case 'o': other_only = 1; break;
      default:
        fprintf (stderr, "usage: bench-ops [--threads N] [--batch N] [--size PX] [--reps R] [--other-only]\n");
        return 2;
      }
  ts_rng_seed (&rng, 1, 0);
  ts_backend *be = ts_backend_cpu_new (threads);
  printf ("conv2d, batch %d, %d px, %d threads, median of %d (ms)\n", batch, size,
          be->n_threads, reps);
  printf ("%-14s %9s %9s %9s %9s %9s\n", "layer", "fwd", "bwd", "dw", "fwd GF/s", "bwd GF/s");
  for (size_t li = 0; !other_only && li < sizeof resnet18 / sizeof resnet18[0]; li++)
    {
      const conv_shape *s = &resnet18[li];
      int h = size / s->size_div;
      int oh = (h + 2 * s->pad - s->k) / s->stride + 1;
      ts_conv2d_params p = { s->stride, s->stride, s->pad, s->pad, s->pad, s->pad, 1 };
      ts_tensor *x = ts_tensor_new_4d (be, batch, s->cin, h, h);
      ts_tensor *w = ts_tensor_new_4d (be, s->cout, s->cin, s->k, s->k);
      ts_tensor *y = ts_tensor_new_4d (be, batch, s->cout, oh, oh);
      ts_tensor *dx = ts_tensor_new_4d (be, batch, s->cin, h, h);
      ts_tensor *dw = ts_tensor_new_4d (be, s->cout, s->cin, s->k, s->k);
      double tf[64], tb[64], tw[64];
      double flop = 2.0 * batch * s->cout * oh * oh * (double) s->cin * s->k * s->k;
      fill_random (x, &rng);
      fill_random (w, &rng);
      /* warm-up: scratch reaches its high-water mark */
      be->i->conv2d_forward (be, &p, x, w, NULL, y);
      be->i->conv2d_backward (be, &p, x, w, y, s->cin == 3 ? NULL : dx, dw, NULL);
      for (int r = 0; r < reps && r < 64; r++)
        {
          double t0 = now ();
          be->i->conv2d_forward (be, &p, x, w, NULL, y);
          double t1 = now ();
          /* the stem needs no dx, as in training */
          be->i->conv2d_backward (be, &p, x, w, y, s->cin == 3 ? NULL : dx, dw, NULL);
          double t2 = now ();
          be->i->conv2d_backward (be, &p, x, w, y, NULL, dw, NULL);
          tf[r] = t1 - t0;
          tb[r] = t2 - t1;
          tw[r] = now () - t2;
        }
      double mf = median (tf, reps), mb = median (tb, reps), mw = median (tw, reps);
      double bflop = s->cin == 3 ? flop : 2 * flop;
      printf ("%-14s %9.2f %9.2f %9.2f %9.1f %9.1f  x%d\n", s->name, mf * 1e3, mb * 1e3,
              mw * 1e3, flop / mf * 1e-9, bflop / mb * 1e-9, s->count);
      tot_f += mf * s->count;
      tot_b += mb * s->count;
      tot_flop += (flop + bflop) * s->count;
      ts_tensor_free (x); ts_tensor_free (w); ts_tensor_free (y);
      ts_tensor_free (dx); ts_tensor_free (dw);
    }
  printf ("resnet18 convs: forward %.1f ms, backward %.1f ms, total %.1f ms, %.1f GFLOP/s\n",
          tot_f * 1e3, tot_b * 1e3, (tot_f + tot_b) * 1e3, tot_flop / (tot_f + tot_b) * 1e-9);
  bench_other (be, batch, size, reps, &rng);
  ts_backend_free (be);
  return 0;
}
