/* bench-ops.c: conv2d and batch norm forward/backward on resnet18's shapes
 * (batch 64, 128 px by default), the numbers bench_ops.py gives for PyTorch.
 *
 *   bench-ops [--threads N] [--batch N] [--size PX] [--reps R]
 * Prints per layer the median milliseconds of forward and of backward (dx + dw)
 * and the resnet18 total weighted by how often each shape occurs. */
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
  clock_gettime (CLOCK_MONOTONIC, &ts);
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

int
main (int argc, char **argv)
{
  int threads = 2, batch = 64, size = 128, reps = 5;
  static const struct option opts[] = {
    { "threads", required_argument, NULL, 't' },
    { "batch", required_argument, NULL, 'b' },
    { "size", required_argument, NULL, 's' },
    { "reps", required_argument, NULL, 'r' },
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
      default:
        fprintf (stderr, "usage: bench-ops [--threads N] [--batch N] [--size PX] [--reps R]\n");
        return 2;
      }
  ts_rng_seed (&rng, 1, 0);
  ts_backend *be = ts_backend_cpu_new (threads);
  printf ("conv2d, batch %d, %d px, %d threads, median of %d (ms)\n", batch, size,
          be->n_threads, reps);
  printf ("%-14s %9s %9s %9s %9s\n", "layer", "fwd", "bwd", "fwd GF/s", "bwd GF/s");
  for (size_t li = 0; li < sizeof resnet18 / sizeof resnet18[0]; li++)
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
      double tf[64], tb[64];
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
          tf[r] = t1 - t0;
          tb[r] = t2 - t1;
        }
      double mf = median (tf, reps), mb = median (tb, reps);
      double bflop = s->cin == 3 ? flop : 2 * flop;
      printf ("%-14s %9.2f %9.2f %9.1f %9.1f  x%d\n", s->name, mf * 1e3, mb * 1e3,
              flop / mf * 1e-9, bflop / mb * 1e-9, s->count);
      tot_f += mf * s->count;
      tot_b += mb * s->count;
      tot_flop += (flop + bflop) * s->count;
      ts_tensor_free (x); ts_tensor_free (w); ts_tensor_free (y);
      ts_tensor_free (dx); ts_tensor_free (dw);
    }
  printf ("resnet18 convs: forward %.1f ms, backward %.1f ms, total %.1f ms, %.1f GFLOP/s\n",
          tot_f * 1e3, tot_b * 1e3, (tot_f + tot_b) * 1e3, tot_flop / (tot_f + tot_b) * 1e-9);
  ts_backend_free (be);
  return 0;
}
