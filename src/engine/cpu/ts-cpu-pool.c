/* ts-cpu-pool.c: max pool and adaptive average / max pool, forward and backward.
 * argmax holds, for each output element, the winning index inside its own
 * input [H,W] plane (iy*W + ix), so it fits int32 for any batch size.
 * Work is split over the N*C planes. */
#include "ts-cpu-private.h"

#include <math.h>
#include <string.h>

typedef struct {
  const ts_pool2d_params *p;
  int64_t planes, h, w, oh, ow;
  const float *x, *dy;
  float *y, *dx;
  int32_t *argmax;
  const int32_t *argmax_in;
} pool_args;

static int
pool_dims (const char *op, const ts_tensor *x, const ts_tensor *y, pool_args *a)
{
  char bx[96], by[96];

  if (x->ndim != 4 || y->ndim != 4 || x->shape[0] != y->shape[0] || x->shape[1] != y->shape[1])
    {
      ts_error (TS_ERR_SHAPE, "%s: input %s and output %s do not fit", op,
                ts_tensor_shape_str (x, bx, sizeof bx), ts_tensor_shape_str (y, by, sizeof by));
      return 0;
    }
  a->planes = x->shape[0] * x->shape[1];
  a->h = x->shape[2];
  a->w = x->shape[3];
  a->oh = y->shape[2];
  a->ow = y->shape[3];
  return 1;
}

static inline int64_t
bin_start (int64_t i, int64_t in, int64_t out)
{
  return i * in / out;
}

static inline int64_t
bin_end (int64_t i, int64_t in, int64_t out)
{
  return ((i + 1) * in + out - 1) / out;
}

/* One tap of the window for n output columns; xs points at the tap of the first,
 * base is that tap's index in the plane.  Written so that GCC vectorises it
 * (restrict, a zero-based count, unconditional loads, int32 candidates). */
static inline __attribute__ ((always_inline)) void
max_taps (const float *restrict xs, float *restrict yr, int32_t *restrict ar, int64_t n,
          int sw, int32_t base)
{
  for (int64_t i = 0; i < n; i++)
    {
      float v = xs[sw * i];
      float b = yr[i];
      int32_t a = ar[i];
      int32_t cand = base + sw * (int32_t) i;
      /* v != v lets a NaN in; b != b (b stays) keeps it: NaN is never hidden */
      int take = ((v > b) | (v != v)) & (b == b);
      yr[i] = take ? v : b;
      ar[i] = take ? cand : a;
    }
}

/* Stride-2 taps from a row split into its even and odd columns: unit-stride
 * loads (measured: the strided loads made ResNet's 3x3/2 max pool cost as much
 * as six ReLUs over its input). */
static inline __attribute__ ((always_inline)) void
max_taps_split (const float *restrict xs, float *restrict yr, int32_t *restrict ar, int64_t n,
                int32_t base)
{
  for (int64_t i = 0; i < n; i++)
    {
      float v = xs[i];
      float b = yr[i];
      int32_t a = ar[i];
      int32_t cand = base + 2 * (int32_t) i;
      int take = ((v > b) | (v != v)) & (b == b);
      yr[i] = take ? v : b;
      ar[i] = take ? cand : a;
    }
}

#define SPLIT_MAX_W 1024

static void
maxpool_forward_task (void *arg, int tid, int nt)
{
  pool_args *a = arg;
  const ts_pool2d_params *p = a->p;
  int64_t q0, q1;
  float split[2][SPLIT_MAX_W / 2 + 1];
  int split_rows = p->stride_w == 2 && a->w <= SPLIT_MAX_W;

  ts_cpu_range (a->planes, tid, nt, &q0, &q1);
  for (int64_t q = q0; q < q1; q++)
    {
      const float *x = a->x + q * a->h * a->w;
      float *y = a->y + q * a->oh * a->ow;
      int32_t *am = a->argmax + q * a->oh * a->ow;
      for (int64_t oy = 0; oy < a->oh; oy++)
        {
          float *yr = y + oy * a->ow;
          int32_t *ar = am + oy * a->ow;
          for (int64_t ox = 0; ox < a->ow; ox++)
            {
              yr[ox] = -INFINITY;
              ar[ox] = -1;
            }
          /* taps outside, output columns inside: the select vectorises and never
           * mispredicts on random data.  Taps in PyTorch's order with a strict >
           * keep its tie rule (first maximum); !(v <= b) lets a NaN in, and b == b
           * keeps it, so a NaN is never hidden (as in PyTorch). */
          for (int64_t ky = 0; ky < p->kernel_h; ky++)
            {
              int64_t iy = oy * p->stride_h - p->pad_h + ky;
              if (iy < 0 || iy >= a->h)
                continue;
              if (split_rows)
                {
                  const float *row = x + iy * a->w;
                  for (int64_t j = 0; 2 * j < a->w; j++)
                    split[0][j] = row[2 * j];
                  for (int64_t j = 0; 2 * j + 1 < a->w; j++)
                    split[1][j] = row[2 * j + 1];
                }
              for (int64_t kx = 0; kx < p->kernel_w; kx++)
                {
                  int64_t lo = p->pad_w - kx, hi = a->w - 1 + p->pad_w - kx;
                  int64_t ox0 = lo <= 0 ? 0 : (lo + p->stride_w - 1) / p->stride_w;
                  int64_t ox1 = hi < 0 ? 0 : hi / p->stride_w + 1;
                  int64_t base = iy * a->w - p->pad_w + kx;
                  if (ox1 > a->ow)
                    ox1 = a->ow;
                  /* a constant stride lets the loop vectorise */
                  const float *xs = x + base + ox0 * p->stride_w;
                  int32_t b0 = (int32_t) (base + ox0 * p->stride_w);
                  if (ox1 <= ox0)
                    continue;
                  if (split_rows)
                    {
                      /* input column of the first output: 2*ox0 - pad + kx */
                      int64_t c0 = 2 * ox0 - p->pad_w + kx;
                      max_taps_split (split[c0 & 1] + (c0 >> 1), yr + ox0, ar + ox0, ox1 - ox0,
                                      b0);
                    }
                  else if (p->stride_w == 2)
                    max_taps (xs, yr + ox0, ar + ox0, ox1 - ox0, 2, b0);
                  else if (p->stride_w == 1)
                    max_taps (xs, yr + ox0, ar + ox0, ox1 - ox0, 1, b0);
                  else
                    max_taps (xs, yr + ox0, ar + ox0, ox1 - ox0, p->stride_w, b0);
                }
            }
          /* a window of -inf only: its first valid element, as PyTorch */
          for (int64_t ox = 0; ox < a->ow; ox++)
            if (ar[ox] < 0)
              {
                int64_t iy = oy * p->stride_h - p->pad_h, ix = ox * p->stride_w - p->pad_w;
                iy = iy < 0 ? 0 : iy;
                ix = ix < 0 ? 0 : ix;
                if (iy < a->h && ix < a->w)
                  {
                    ar[ox] = (int32_t) (iy * a->w + ix);
                    yr[ox] = x[ar[ox]];
                  }
                else
                  yr[ox] = 0.0f;
              }
        }
    }
}

void
ts_cpu_maxpool2d_forward (ts_backend *be, const ts_pool2d_params *p, const ts_tensor *x,
                          ts_tensor *y, int32_t *argmax)
{
  pool_args a = { .p = p, .x = x->data, .y = y->data, .argmax = argmax };
  char bx[96], by[96];

  if (!pool_dims ("maxpool2d", x, y, &a))
    return;
  if (p->stride_h < 1 || p->stride_w < 1
      || a.oh != (a.h + 2 * p->pad_h - p->kernel_h) / p->stride_h + 1
      || a.ow != (a.w + 2 * p->pad_w - p->kernel_w) / p->stride_w + 1)
    {
      ts_error (TS_ERR_SHAPE, "maxpool2d: %dx%d stride %d pad %d does not take %s to %s",
                p->kernel_h, p->kernel_w, p->stride_h, p->pad_h,
                ts_tensor_shape_str (x, bx, sizeof bx), ts_tensor_shape_str (y, by, sizeof by));
      return;
    }
  ts_cpu_parallel_sized (be, maxpool_forward_task, &a, x->numel);
}

/* shared by max pool and adaptive max pool: scatter dy to the recorded winners */
static TS_CPU_CLONES void
argmax_backward_task (void *arg, int tid, int nt)
{
  pool_args *a = arg;
  int64_t q0, q1, hw = a->h * a->w, ohw = a->oh * a->ow;

  ts_cpu_range (a->planes, tid, nt, &q0, &q1);
  for (int64_t q = q0; q < q1; q++)
    {
      float *dx = a->dx + q * hw;
      const float *dy = a->dy + q * ohw;
      const int32_t *am = a->argmax_in + q * ohw;
      memset (dx, 0, (size_t) hw * sizeof (float));
      for (int64_t i = 0; i < ohw; i++)
        if (am[i] >= 0)
          dx[am[i]] += dy[i];
    }
}

void
ts_cpu_maxpool2d_backward (ts_backend *be, const ts_pool2d_params *p, const int32_t *argmax,
                           const ts_tensor *dy, ts_tensor *dx)
{
  pool_args a = { .p = p, .dy = dy->data, .dx = dx->data, .argmax_in = argmax };

  if (!pool_dims ("maxpool2d backward", dx, dy, &a))
    return;
  ts_cpu_parallel_sized (be, argmax_backward_task, &a, dx->numel);
}

static void
adaptive_avg_task (void *arg, int tid, int nt)
{
  pool_args *a = arg;
  int64_t q0, q1;

  ts_cpu_range (a->planes, tid, nt, &q0, &q1);
  for (int64_t q = q0; q < q1; q++)
    {
      const float *x = a->x + q * a->h * a->w;
      float *y = a->y + q * a->oh * a->ow;
      for (int64_t oy = 0; oy < a->oh; oy++)
        {
          int64_t ys = bin_start (oy, a->h, a->oh), ye = bin_end (oy, a->h, a->oh);
          for (int64_t ox = 0; ox < a->ow; ox++)
            {
              int64_t xs = bin_start (ox, a->w, a->ow), xe = bin_end (ox, a->w, a->ow);
              float s = 0.0f;
              for (int64_t iy = ys; iy < ye; iy++)
                for (int64_t ix = xs; ix < xe; ix++)
                  s += x[iy * a->w + ix];
              y[oy * a->ow + ox] = s / (float) ((ye - ys) * (xe - xs));
            }
        }
    }
}

void
ts_cpu_adaptive_avgpool2d_forward (ts_backend *be, const ts_tensor *x, ts_tensor *y)
{
  pool_args a = { .x = x->data, .y = y->data };

  if (!pool_dims ("adaptive_avgpool2d", x, y, &a))
    return;
  ts_cpu_parallel_sized (be, adaptive_avg_task, &a, x->numel);
}

static void
adaptive_avg_backward_task (void *arg, int tid, int nt)
{
  pool_args *a = arg;
  int64_t q0, q1;

  ts_cpu_range (a->planes, tid, nt, &q0, &q1);
  for (int64_t q = q0; q < q1; q++)
    {
      float *dx = a->dx + q * a->h * a->w;
      const float *dy = a->dy + q * a->oh * a->ow;
      memset (dx, 0, (size_t) (a->h * a->w) * sizeof (float));
      for (int64_t oy = 0; oy < a->oh; oy++)
        {
          int64_t ys = bin_start (oy, a->h, a->oh), ye = bin_end (oy, a->h, a->oh);
          for (int64_t ox = 0; ox < a->ow; ox++)
            {
              int64_t xs = bin_start (ox, a->w, a->ow), xe = bin_end (ox, a->w, a->ow);
              float g = dy[oy * a->ow + ox] / (float) ((ye - ys) * (xe - xs));
              for (int64_t iy = ys; iy < ye; iy++)
                for (int64_t ix = xs; ix < xe; ix++)
                  dx[iy * a->w + ix] += g;
            }
        }
    }
}

void
ts_cpu_adaptive_avgpool2d_backward (ts_backend *be, const ts_tensor *dy, ts_tensor *dx)
{
  pool_args a = { .dy = dy->data, .dx = dx->data };

  if (!pool_dims ("adaptive_avgpool2d backward", dx, dy, &a))
    return;
  ts_cpu_parallel_sized (be, adaptive_avg_backward_task, &a, dx->numel);
}

static void
adaptive_max_task (void *arg, int tid, int nt)
{
  pool_args *a = arg;
  int64_t q0, q1;

  ts_cpu_range (a->planes, tid, nt, &q0, &q1);
  for (int64_t q = q0; q < q1; q++)
    {
      const float *x = a->x + q * a->h * a->w;
      float *y = a->y + q * a->oh * a->ow;
      int32_t *am = a->argmax + q * a->oh * a->ow;
      for (int64_t oy = 0; oy < a->oh; oy++)
        {
          int64_t ys = bin_start (oy, a->h, a->oh), ye = bin_end (oy, a->h, a->oh);
          for (int64_t ox = 0; ox < a->ow; ox++)
            {
              int64_t xs = bin_start (ox, a->w, a->ow), xe = bin_end (ox, a->w, a->ow);
              float best = -INFINITY;
              int32_t idx = -1;
              for (int64_t iy = ys; iy < ye; iy++)
                for (int64_t ix = xs; ix < xe; ix++)
                  {
                    float v = x[iy * a->w + ix];
                    if (idx < 0 || v > best || (isnan (v) && !isnan (best)))
                      {
                        best = v;
                        idx = (int32_t) (iy * a->w + ix);
                      }
                  }
              y[oy * a->ow + ox] = idx < 0 ? 0.0f : best;
              am[oy * a->ow + ox] = idx;
            }
        }
    }
}

void
ts_cpu_adaptive_maxpool2d_forward (ts_backend *be, const ts_tensor *x, ts_tensor *y,
                                   int32_t *argmax)
{
  pool_args a = { .x = x->data, .y = y->data, .argmax = argmax };

  if (!pool_dims ("adaptive_maxpool2d", x, y, &a))
    return;
  ts_cpu_parallel_sized (be, adaptive_max_task, &a, x->numel);
}

void
ts_cpu_adaptive_maxpool2d_backward (ts_backend *be, const int32_t *argmax, const ts_tensor *dy,
                                    ts_tensor *dx)
{
  pool_args a = { .dy = dy->data, .dx = dx->data, .argmax_in = argmax };

  if (!pool_dims ("adaptive_maxpool2d backward", dx, dy, &a))
    return;
  ts_cpu_parallel_sized (be, argmax_backward_task, &a, dx->numel);
}
