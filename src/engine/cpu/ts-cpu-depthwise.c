/* ts-cpu-depthwise.c: depthwise convolution (Cin_g == 1), forward and backward,
 * as direct loops split over channels so that every plane has one writer.
 * 3x3 kernels (all of MobileNetV2's) take a padded-plane fast path. */
#include "ts-cpu-conv.h"

#include <string.h>

/* Depthwise (Cin_g == 1): output channel co reads input channel co / coutg. */
static void
dw_forward_plane (const conv_geom *g, const float *x, const float *w, float bias, float *y)
{
  for (int64_t oy = 0; oy < g->oh; oy++)
    {
      float *yr = y + oy * g->ow;
      for (int64_t ox = 0; ox < g->ow; ox++)
        yr[ox] = bias;
      for (int64_t ky = 0; ky < g->kh; ky++)
        {
          int64_t iy = oy * g->sh - g->pt + ky;
          if (iy < 0 || iy >= g->h)
            continue;
          for (int64_t kx = 0; kx < g->kw; kx++)
            {
              int64_t ox0, ox1;
              float wv = w[ky * g->kw + kx];
              const float *xr = x + iy * g->w - g->pl + kx;
              valid_range (g->ow, g->w, g->sw, g->pl, kx, &ox0, &ox1);
              if (g->sw == 1)
#pragma omp simd
                for (int64_t ox = ox0; ox < ox1; ox++)
                  yr[ox] += wv * xr[ox];
              else
                for (int64_t ox = ox0; ox < ox1; ox++)
                  yr[ox] += wv * xr[ox * g->sw];
            }
        }
    }
}

/* 3x3 depthwise (all of MobileNetV2's): the plane is first copied into a
 * zero-padded buffer, so every tap is in range and each output row is one
 * loop with the nine taps unrolled; small planes (4x4, 8x8) no longer pay
 * per-tap bookkeeping. */
static inline int64_t
dw3_hp (const conv_geom *g)
{
  return (g->oh - 1) * g->sh + 3;
}

static inline int64_t
dw3_wp (const conv_geom *g)
{
  return (g->ow - 1) * g->sw + 3;
}

static TS_NO_LIBCALLS void
dw3_pad (const conv_geom *g, const float *x, float *xp)
{
  int64_t hp = dw3_hp (g), wp = dw3_wp (g);
  int64_t cols = g->w < wp - g->pl ? g->w : wp - g->pl;
  int64_t rows = g->h < hp - g->pt ? g->h : hp - g->pt;

  if (cols <= 0 || rows <= 0)
    {
      zero_floats (xp, hp * wp);
      return;
    }
  /* only the border is zeroed: the interior is overwritten */
  zero_floats (xp, g->pt * wp);
  for (int64_t iy = 0; iy < rows; iy++)
    {
      float *r = xp + (iy + g->pt) * wp;
      zero_floats (r, g->pl);
      copy_floats (r + g->pl, x + iy * g->w, cols);
      zero_floats (r + g->pl + cols, wp - g->pl - cols);
    }
  zero_floats (xp + (rows + g->pt) * wp, (hp - rows - g->pt) * wp);
}

static void
dw3_forward_plane (const conv_geom *g, const float *xp, const float *w, float bias, float *y)
{
  int64_t wp = dw3_wp (g), ow = g->ow;
  float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5];
  float w6 = w[6], w7 = w[7], w8 = w[8];

  for (int64_t oy = 0; oy < g->oh; oy++)
    {
      const float *r0 = xp + oy * g->sh * wp, *r1 = r0 + wp, *r2 = r1 + wp;
      float *yr = y + oy * ow;
      if (g->sw == 1)
        {
#pragma omp simd
          for (int64_t ox = 0; ox < ow; ox++)
            yr[ox] = bias + w0 * r0[ox] + w1 * r0[ox + 1] + w2 * r0[ox + 2]
                     + w3 * r1[ox] + w4 * r1[ox + 1] + w5 * r1[ox + 2]
                     + w6 * r2[ox] + w7 * r2[ox + 1] + w8 * r2[ox + 2];
        }
      else
        {
          int64_t s = g->sw;
#pragma omp simd
          for (int64_t ox = 0; ox < ow; ox++)
            yr[ox] = bias + w0 * r0[s * ox] + w1 * r0[s * ox + 1] + w2 * r0[s * ox + 2]
                     + w3 * r1[s * ox] + w4 * r1[s * ox + 1] + w5 * r1[s * ox + 2]
                     + w6 * r2[s * ox] + w7 * r2[s * ox + 1] + w8 * r2[s * ox + 2];
        }
    }
}

/* dxp (padded) += taps of dy; dwacc[9] += dy * x taps */
static void
dw3_backward_plane (const conv_geom *g, const float *xp, const float *w, const float *dy,
                    float *dxp, float *dwacc)
{
  int64_t wp = dw3_wp (g), ow = g->ow, s = g->sw;

  for (int64_t oy = 0; oy < g->oh; oy++)
    {
      const float *dyr = dy + oy * ow;
      if (dwacc)
        {
          const float *r0 = xp + oy * g->sh * wp, *r1 = r0 + wp, *r2 = r1 + wp;
          float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0;
#pragma omp simd reduction(+:a0, a1, a2, a3, a4, a5, a6, a7, a8)
          for (int64_t ox = 0; ox < ow; ox++)
            {
              float d = dyr[ox];
              a0 += d * r0[s * ox];
              a1 += d * r0[s * ox + 1];
              a2 += d * r0[s * ox + 2];
              a3 += d * r1[s * ox];
              a4 += d * r1[s * ox + 1];
              a5 += d * r1[s * ox + 2];
              a6 += d * r2[s * ox];
              a7 += d * r2[s * ox + 1];
              a8 += d * r2[s * ox + 2];
            }
          dwacc[0] += a0; dwacc[1] += a1; dwacc[2] += a2;
          dwacc[3] += a3; dwacc[4] += a4; dwacc[5] += a5;
          dwacc[6] += a6; dwacc[7] += a7; dwacc[8] += a8;
        }
      if (dxp)
        for (int64_t ky = 0; ky < 3; ky++)
          {
            float *dr = dxp + (oy * g->sh + ky) * wp;
            float wa = w[ky * 3], wb = w[ky * 3 + 1], wc = w[ky * 3 + 2];
            if (s == 1)
              {
                /* three passes: one tap each, so no iteration reads another's write */
#pragma omp simd
                for (int64_t ox = 0; ox < ow; ox++)
                  dr[ox] += wa * dyr[ox];
#pragma omp simd
                for (int64_t ox = 0; ox < ow; ox++)
                  dr[ox + 1] += wb * dyr[ox];
#pragma omp simd
                for (int64_t ox = 0; ox < ow; ox++)
                  dr[ox + 2] += wc * dyr[ox];
              }
            else
              {
#pragma omp simd
                for (int64_t ox = 0; ox < ow; ox++)
                  dr[s * ox] += wa * dyr[ox];
#pragma omp simd
                for (int64_t ox = 0; ox < ow; ox++)
                  dr[s * ox + 1] += wb * dyr[ox];
#pragma omp simd
                for (int64_t ox = 0; ox < ow; ox++)
                  dr[s * ox + 2] += wc * dyr[ox];
              }
          }
    }
}

/* Stride 1: rows of the padded plane are wp = ow + 2 apart, so tap (ky, kx) of
 * output i (in a wp-wide layout) is xp[i + ky*wp + kx]: one flat loop per plane
 * instead of one per row, which is what small planes need. */
static TS_NO_LIBCALLS void
dw3s1_forward_plane (const conv_geom *g, const float *xp, const float *w, float bias,
                     float *yw, float *y)
{
  int64_t wp = dw3_wp (g), n = (g->oh - 1) * wp + g->ow;
  const float *r0 = xp, *r1 = xp + wp, *r2 = xp + 2 * wp;
  float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5];
  float w6 = w[6], w7 = w[7], w8 = w[8];

#pragma omp simd
  for (int64_t i = 0; i < n; i++)
    yw[i] = bias + w0 * r0[i] + w1 * r0[i + 1] + w2 * r0[i + 2] + w3 * r1[i] + w4 * r1[i + 1]
            + w5 * r1[i + 2] + w6 * r2[i] + w7 * r2[i + 1] + w8 * r2[i + 2];
  for (int64_t oy = 0; oy < g->oh; oy++)
    copy_floats (y + oy * g->ow, yw + oy * wp, g->ow);
}

/* dyb: dy in the wp-wide layout after a margin of 2*wp+2 zeros, zeros around */
static inline int64_t
dw3s1_margin (const conv_geom *g)
{
  return 2 * dw3_wp (g) + 2;
}

static TS_NO_LIBCALLS void
dw3s1_spread_dy (const conv_geom *g, const float *dy, float *dyb)
{
  int64_t wp = dw3_wp (g), m = dw3s1_margin (g), total = m + dw3_hp (g) * wp;
  float *d = dyb + m;

  /* zeros only where no dy lands: the margin, the two extra columns of each
   * row and the rows after the last */
  zero_floats (dyb, m);
  for (int64_t oy = 0; oy < g->oh; oy++)
    {
      copy_floats (d + oy * wp, dy + oy * g->ow, g->ow);
      zero_floats (d + oy * wp + g->ow, wp - g->ow);
    }
  zero_floats (d + g->oh * wp, total - m - g->oh * wp);
}

static void
dw3s1_backward_plane (const conv_geom *g, const float *xp, const float *w, const float *dyb,
                      float *dxp, float *dwacc)
{
  int64_t wp = dw3_wp (g), hp = dw3_hp (g), m = dw3s1_margin (g);
  const float *d = dyb + m;

  if (dwacc)
    {
      int64_t n = (g->oh - 1) * wp + g->ow;
      const float *r0 = xp, *r1 = xp + wp, *r2 = xp + 2 * wp;
      float a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0;
#pragma omp simd reduction(+:a0, a1, a2, a3, a4, a5, a6, a7, a8)
      for (int64_t i = 0; i < n; i++)
        {
          float v = d[i];
          a0 += v * r0[i];
          a1 += v * r0[i + 1];
          a2 += v * r0[i + 2];
          a3 += v * r1[i];
          a4 += v * r1[i + 1];
          a5 += v * r1[i + 2];
          a6 += v * r2[i];
          a7 += v * r2[i + 1];
          a8 += v * r2[i + 2];
        }
      dwacc[0] += a0; dwacc[1] += a1; dwacc[2] += a2;
      dwacc[3] += a3; dwacc[4] += a4; dwacc[5] += a5;
      dwacc[6] += a6; dwacc[7] += a7; dwacc[8] += a8;
    }
  if (dxp)
    {
      /* dxp[j] = sum_k w_k * dy[j - ky*wp - kx]: the transposed taps, as a gather */
      const float *q0 = d, *q1 = d - wp, *q2 = d - 2 * wp;
      float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5];
      float w6 = w[6], w7 = w[7], w8 = w[8];
#pragma omp simd
      for (int64_t j = 0; j < hp * wp; j++)
        dxp[j] += w0 * q0[j] + w1 * q0[j - 1] + w2 * q0[j - 2] + w3 * q1[j] + w4 * q1[j - 1]
                  + w5 * q1[j - 2] + w6 * q2[j] + w7 * q2[j - 1] + w8 * q2[j - 2];
    }
}

/* dx plane = the input-sized window of the padded gradient */
static TS_NO_LIBCALLS void
dw3_unpad (const conv_geom *g, const float *dxp, float *dx)
{
  int64_t hp = dw3_hp (g), wp = dw3_wp (g);
  int64_t cols = g->w < wp - g->pl ? g->w : wp - g->pl;

  for (int64_t iy = 0; iy < g->h; iy++)
    {
      float *dr = dx + iy * g->w;
      int64_t done = 0;
      if (iy + g->pt < hp && cols > 0)
        {
          copy_floats (dr, dxp + (iy + g->pt) * wp + g->pl, cols);
          done = cols;
        }
      /* inputs no window reaches get no gradient */
      for (int64_t ix = done; ix < g->w; ix++)
        dr[ix] = 0.0f;
    }
}

void
ts_cpu_depthwise_forward_task (void *arg, int tid, int nt)
{
  conv_args *a = arg;
  const conv_geom *g = a->g;
  int64_t c0, c1;

  ts_cpu_range (g->cout, tid, nt, &c0, &c1);
  if (g->kh == 3 && g->kw == 3)
    {
      float *xp = ts_cpu_scratch (a->be, tid, 0, (size_t) (dw3_hp (g) * dw3_wp (g)));
      float *yw = ts_cpu_scratch (a->be, tid, 1, (size_t) (g->oh * dw3_wp (g)));
      if (xp == NULL || yw == NULL)
        {
          __atomic_store_n (&a->failed, 1, __ATOMIC_RELAXED);
          return;
        }
      for (int64_t co = c0; co < c1; co++)
        {
          int64_t ci = co / g->coutg;
          for (int64_t n = 0; n < g->n; n++)
            {
              float bias = a->b ? a->b[co] : 0.0f;
              float *y = a->y + (n * g->cout + co) * g->p;
              dw3_pad (g, a->x + (n * g->c + ci) * g->h * g->w, xp);
              if (g->sh == 1 && g->sw == 1)
                dw3s1_forward_plane (g, xp, a->w + co * 9, bias, yw, y);
              else
                dw3_forward_plane (g, xp, a->w + co * 9, bias, y);
            }
        }
      return;
    }
  for (int64_t co = c0; co < c1; co++)
    {
      int64_t ci = co / g->coutg;
      for (int64_t n = 0; n < g->n; n++)
        dw_forward_plane (g, a->x + (n * g->c + ci) * g->h * g->w, a->w + co * g->kh * g->kw,
                          a->b ? a->b[co] : 0.0f, a->y + (n * g->cout + co) * g->p);
    }
}

static void
dw_backward_plane (const conv_geom *g, const float *x, const float *w, const float *dy,
                   float *dx, float *dwacc)
{
  for (int64_t oy = 0; oy < g->oh; oy++)
    {
      const float *dyr = dy + oy * g->ow;
      for (int64_t ky = 0; ky < g->kh; ky++)
        {
          int64_t iy = oy * g->sh - g->pt + ky;
          if (iy < 0 || iy >= g->h)
            continue;
          for (int64_t kx = 0; kx < g->kw; kx++)
            {
              int64_t ox0, ox1;
              int64_t off = iy * g->w - g->pl + kx;
              valid_range (g->ow, g->w, g->sw, g->pl, kx, &ox0, &ox1);
              if (dwacc)
                {
                  const float *xr = x + off;
                  float s = 0.0f;
                  if (g->sw == 1)
#pragma omp simd reduction(+:s)
                    for (int64_t ox = ox0; ox < ox1; ox++)
                      s += dyr[ox] * xr[ox];
                  else
#pragma omp simd reduction(+:s)
                    for (int64_t ox = ox0; ox < ox1; ox++)
                      s += dyr[ox] * xr[ox * g->sw];
                  dwacc[ky * g->kw + kx] += s;
                }
              if (dx)
                {
                  float wv = w[ky * g->kw + kx];
                  float *xr = dx + off;
                  if (g->sw == 1)
#pragma omp simd
                    for (int64_t ox = ox0; ox < ox1; ox++)
                      xr[ox] += wv * dyr[ox];
                  else
                    for (int64_t ox = ox0; ox < ox1; ox++)
                      xr[ox * g->sw] += wv * dyr[ox];
                }
            }
        }
    }
}

/* split over input channels so that dx and dw of a channel have one writer */
void
ts_cpu_depthwise_backward_task (void *arg, int tid, int nt)
{
  conv_args *a = arg;
  const conv_geom *g = a->g;
  int64_t c0, c1, hw = g->h * g->w, kk = g->kh * g->kw;

  ts_cpu_range (g->c, tid, nt, &c0, &c1);
  if (g->kh == 3 && g->kw == 3)
    {
      size_t padded = (size_t) (dw3_hp (g) * dw3_wp (g));
      int s1 = g->sh == 1 && g->sw == 1;
      float *xp = ts_cpu_scratch (a->be, tid, 0, padded);
      float *dxp = ts_cpu_scratch (a->be, tid, 1, padded);
      float *dyb = ts_cpu_scratch (a->be, tid, 3, padded + (size_t) dw3s1_margin (g));
      if (xp == NULL || dxp == NULL || dyb == NULL)
        {
          __atomic_store_n (&a->failed, 1, __ATOMIC_RELAXED);
          return;
        }
      for (int64_t ci = c0; ci < c1; ci++)
        {
          if (a->dw)
            memset (a->dw + ci * g->coutg * 9, 0, (size_t) (g->coutg * 9) * sizeof (float));
          for (int64_t n = 0; n < g->n; n++)
            {
              if (a->dw)
                dw3_pad (g, a->x + (n * g->c + ci) * hw, xp);
              if (a->dx)
                zero_floats (dxp, (int64_t) padded);
              for (int64_t m = 0; m < g->coutg; m++)
                {
                  int64_t co = ci * g->coutg + m;
                  const float *dy = a->dy + (n * g->cout + co) * g->p;
                  if (s1)
                    {
                      dw3s1_spread_dy (g, dy, dyb);
                      dw3s1_backward_plane (g, xp, a->w + co * 9, dyb, a->dx ? dxp : NULL,
                                            a->dw ? a->dw + co * 9 : NULL);
                    }
                  else
                    dw3_backward_plane (g, xp, a->w + co * 9, dy, a->dx ? dxp : NULL,
                                        a->dw ? a->dw + co * 9 : NULL);
                }
              if (a->dx)
                dw3_unpad (g, dxp, a->dx + (n * g->c + ci) * hw);
            }
        }
      return;
    }
  for (int64_t ci = c0; ci < c1; ci++)
    {
      if (a->dw)
        memset (a->dw + ci * g->coutg * kk, 0, (size_t) (g->coutg * kk) * sizeof (float));
      for (int64_t n = 0; n < g->n; n++)
        {
          float *dx = a->dx ? a->dx + (n * g->c + ci) * hw : NULL;
          if (dx)
            memset (dx, 0, (size_t) hw * sizeof (float));
          for (int64_t m = 0; m < g->coutg; m++)
            {
              int64_t co = ci * g->coutg + m;
              dw_backward_plane (g, a->x + (n * g->c + ci) * hw, a->w + co * kk,
                                 a->dy + (n * g->cout + co) * g->p, dx,
                                 a->dw ? a->dw + co * kk : NULL);
            }
        }
    }
}
