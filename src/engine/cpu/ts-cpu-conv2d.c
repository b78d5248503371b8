/* ts-cpu-conv2d.c: 2d convolution, forward and backward.
 *
 * Dense and grouped convs: im2col per image and group, then one GEMM
 *   y[n,g] [Cout_g, OH*OW] = W_g [Cout_g, K] * col [K, OH*OW],  K = Cin_g*KH*KW
 * 1x1 stride-1 unpadded convs use the input plane itself as col.  Images are split
 * statically across the pool's threads, each calling a single-threaded GEMM.
 * Depthwise convs (Cin_g == 1) are direct loops, split over channels.
 */
#include "ts-cpu-private.h"

#include <string.h>

#include <cblas.h>

typedef struct {
  int64_t n, c, h, w;          /* input */
  int64_t cout, oh, ow;        /* output */
  int64_t kh, kw, groups, cg, coutg;
  int64_t k, p;                /* GEMM sizes: K = cg*kh*kw, P = oh*ow */
  int sh, sw, pt, pl;
  int direct;                  /* 1x1, stride 1, no padding: col = x */
  int64_t budget;              /* im2col floats per GEMM */
} conv_geom;

static int
conv_geom_init (conv_geom *g, const ts_conv2d_params *p, const ts_tensor *x,
                const ts_tensor *w, const ts_tensor *y)
{
  char bx[96], bw[96], by[96];
  int64_t groups = p->groups > 0 ? p->groups : 1;

  g->n = x->shape[0];
  g->c = x->shape[1];
  g->h = x->shape[2];
  g->w = x->shape[3];
  g->cout = w->shape[0];
  g->cg = w->shape[1];
  g->kh = w->shape[2];
  g->kw = w->shape[3];
  g->groups = groups;
  g->sh = p->stride_h > 0 ? p->stride_h : 1;
  g->sw = p->stride_w > 0 ? p->stride_w : 1;
  g->pt = p->pad_top;
  g->pl = p->pad_left;
  g->oh = (g->h + p->pad_top + p->pad_bottom - g->kh) / g->sh + 1;
  g->ow = (g->w + p->pad_left + p->pad_right - g->kw) / g->sw + 1;
  g->coutg = g->cout / groups;
  g->k = g->cg * g->kh * g->kw;
  g->p = g->oh * g->ow;
  g->direct = g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1
              && p->pad_top == 0 && p->pad_left == 0 && p->pad_bottom == 0
              && p->pad_right == 0;

  if (x->ndim != 4 || w->ndim != 4 || y->ndim != 4 || g->c % groups != 0
      || g->cout % groups != 0 || g->cg * groups != g->c || g->oh < 1 || g->ow < 1
      || y->shape[0] != g->n || y->shape[1] != g->cout || y->shape[2] != g->oh
      || y->shape[3] != g->ow)
    {
      ts_error (TS_ERR_SHAPE, "conv2d: x %s, weight %s (groups %d) and y %s do not fit",
                ts_tensor_shape_str (x, bx, sizeof bx), ts_tensor_shape_str (w, bw, sizeof bw),
                (int) groups, ts_tensor_shape_str (y, by, sizeof by));
      return 0;
    }
  return 1;
}

/* Output columns ox whose input column ox*s - pad + k lies in [0, size). */
static inline void
valid_range (int64_t out, int64_t size, int s, int pad, int64_t k, int64_t *o0, int64_t *o1)
{
  int64_t lo = pad - k;       /* need ox*s >= lo */
  int64_t hi = size - 1 + pad - k; /* need ox*s <= hi */
  int64_t a = lo <= 0 ? 0 : (lo + s - 1) / s;
  int64_t b = hi < 0 ? 0 : hi / s + 1;
  *o0 = a < out ? a : out;
  *o1 = b < out ? b : out;
  if (*o1 < *o0)
    *o1 = *o0;
}

/* Rows of small planes are a few floats: inline loops beat memcpy/memset calls
 * (and GCC must not turn them back into those calls). */
#define TS_NO_LIBCALLS __attribute__ ((optimize ("no-tree-loop-distribute-patterns")))

static inline TS_NO_LIBCALLS void
copy_floats (float *restrict dst, const float *restrict src, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    dst[i] = src[i];
}

static inline TS_NO_LIBCALLS void
zero_floats (float *dst, int64_t n)
{
  for (int64_t i = 0; i < n; i++)
    dst[i] = 0.0f;
}

/* x [cg,H,W] -> columns [p0, p1) of col [cg*KH*KW, OH*OW]: col[r*ld + p - p0].
 * A range lets a large plane be done in tiles that stay in cache, and ld lets
 * several small images sit side by side in one wider matrix. */
static TS_NO_LIBCALLS void
im2col (const conv_geom *g, const float *x, float *col, int64_t ld, int64_t p0, int64_t p1)
{
  int64_t oy0 = p0 / g->ow, oy1 = (p1 - 1) / g->ow;

  for (int64_t c = 0; c < g->cg; c++)
    for (int64_t ky = 0; ky < g->kh; ky++)
      for (int64_t kx = 0; kx < g->kw; kx++)
        {
          float *row = col + ((c * g->kh + ky) * g->kw + kx) * ld - p0;
          const float *xc = x + c * g->h * g->w;
          int64_t vx0, vx1;
          valid_range (g->ow, g->w, g->sw, g->pl, kx, &vx0, &vx1);
          for (int64_t oy = oy0; oy <= oy1; oy++)
            {
              int64_t a = oy == oy0 ? p0 - oy * g->ow : 0;
              int64_t e = oy == oy1 ? p1 - oy * g->ow : g->ow;
              float *r = row + oy * g->ow;
              int64_t iy = oy * g->sh - g->pt + ky;
              int64_t ox0 = vx0 > a ? vx0 : a, ox1 = vx1 < e ? vx1 : e;
              if (iy < 0 || iy >= g->h || ox0 >= ox1)
                {
                  zero_floats (r + a, e - a);
                  continue;
                }
              const float *xr = xc + iy * g->w - g->pl + kx;
              for (int64_t ox = a; ox < ox0; ox++)
                r[ox] = 0.0f;
              if (g->sw == 1)
                copy_floats (r + ox0, xr + ox0, ox1 - ox0);
              else if (g->sw == 2)
                for (int64_t ox = ox0; ox < ox1; ox++)
                  r[ox] = xr[2 * ox];
              else
                for (int64_t ox = ox0; ox < ox1; ox++)
                  r[ox] = xr[ox * g->sw];
              for (int64_t ox = ox1; ox < e; ox++)
                r[ox] = 0.0f;
            }
        }
}

/* dx [cg,H,W] += col2im of columns [p0, p1) of dcol (rows ld apart) */
static void
col2im_add (const conv_geom *g, const float *dcol, float *dx, int64_t ld, int64_t p0, int64_t p1)
{
  int64_t oy0 = p0 / g->ow, oy1 = (p1 - 1) / g->ow;

  for (int64_t c = 0; c < g->cg; c++)
    for (int64_t ky = 0; ky < g->kh; ky++)
      for (int64_t kx = 0; kx < g->kw; kx++)
        {
          const float *row = dcol + ((c * g->kh + ky) * g->kw + kx) * ld - p0;
          float *xc = dx + c * g->h * g->w;
          int64_t vx0, vx1;
          valid_range (g->ow, g->w, g->sw, g->pl, kx, &vx0, &vx1);
          for (int64_t oy = oy0; oy <= oy1; oy++)
            {
              int64_t a = oy == oy0 ? p0 - oy * g->ow : 0;
              int64_t e = oy == oy1 ? p1 - oy * g->ow : g->ow;
              int64_t iy = oy * g->sh - g->pt + ky;
              int64_t ox0 = vx0 > a ? vx0 : a, ox1 = vx1 < e ? vx1 : e;
              if (iy < 0 || iy >= g->h)
                continue;
              const float *r = row + oy * g->ow;
              float *xr = xc + iy * g->w - g->pl + kx;
              if (g->sw == 1)
#pragma omp simd
                for (int64_t ox = ox0; ox < ox1; ox++)
                  xr[ox] += r[ox];
              else
                for (int64_t ox = ox0; ox < ox1; ox++)
                  xr[ox * g->sw] += r[ox];
            }
        }
}

typedef struct {
  ts_backend *be;
  const conv_geom *g;
  const float *x, *w, *b, *dy;
  float *y, *dx, *dw, *db;
  int serial;                  /* one thread, threaded BLAS (fewer images than threads) */
  int failed;
} conv_args;

static void
add_bias (const conv_geom *g, float *y_n, const float *b)
{
  for (int64_t co = 0; co < g->cout; co++)
    {
      float bv = b[co];
      float *yc = y_n + co * g->p;
      for (int64_t i = 0; i < g->p; i++)
        yc[i] += bv;
    }
}

/* Images per GEMM: small feature maps (ResNet's layer3/4) make a thin GEMM per
 * image, so several images share one, their columns side by side; as many as
 * fit a column buffer of about g->budget floats (measured: wider GEMMs win until
 * the buffer falls out of L2/L3), and at least enough for GEMM_MIN_COLS columns. */
#ifndef GEMM_MIN_COLS
#define GEMM_MIN_COLS 256
#endif

static int64_t
images_per_gemm (const conv_geom *g, int64_t n_images)
{
  int64_t b = g->budget / (g->k * g->p);
  int64_t bmin = (GEMM_MIN_COLS + g->p - 1) / g->p;
  if (b < bmin)
    b = bmin;
  if (b > n_images)
    b = n_images;
  return b < 1 ? 1 : b;
}

/* Columns per tile when one image's col matrix is larger than the budget:
 * balanced tiles, a multiple of 16 columns; the whole plane when it fits. */
static int64_t
tile_cols (const conv_geom *g)
{
  int64_t tiles = (g->k * g->p + g->budget - 1) / g->budget;
  int64_t t;

  if (tiles <= 1 || g->direct)
    return g->p;
  t = (g->p + tiles - 1) / tiles;
  t = (t + 15) / 16 * 16;
  return t < g->p ? t : g->p;
}

static void
gemm_forward_task (void *arg, int tid, int nt)
{
  conv_args *a = arg;
  const conv_geom *g = a->g;
  int64_t n0, n1, bmax, tile, chw = g->c * g->h * g->w;
  float *col = NULL, *ytmp = NULL;

  if (a->serial)
    {
      if (tid != 0)
        return;
      n0 = 0;
      n1 = g->n;
    }
  else
    ts_cpu_range (g->n, tid, nt, &n0, &n1);
  if (n0 >= n1)
    return;
  bmax = images_per_gemm (g, n1 - n0);
  tile = bmax == 1 ? tile_cols (g) : g->p;
  if (!g->direct || bmax > 1)
    col = ts_cpu_scratch (a->be, tid, 0, (size_t) (g->k * tile * bmax));
  if (bmax > 1)
    ytmp = ts_cpu_scratch (a->be, tid, 3, (size_t) (g->coutg * g->p * bmax));
  if (((!g->direct || bmax > 1) && col == NULL) || (bmax > 1 && ytmp == NULL))
    {
      __atomic_store_n (&a->failed, 1, __ATOMIC_RELAXED);
      return;
    }
  for (int64_t n = n0; n < n1; n += bmax)
    {
      int64_t b = n1 - n < bmax ? n1 - n : bmax, ld = b * g->p;
      for (int64_t gi = 0; gi < g->groups; gi++)
        {
          const float *src;
          float *dst = b == 1 ? a->y + (n * g->cout + gi * g->coutg) * g->p : ytmp;
          if (b == 1 && tile < g->p)
            {
              /* one large plane in tiles of columns that stay in cache */
              for (int64_t p0 = 0; p0 < g->p; p0 += tile)
                {
                  int64_t p1 = p0 + tile < g->p ? p0 + tile : g->p;
                  im2col (g, a->x + n * chw + gi * g->cg * g->h * g->w, col, p1 - p0, p0, p1);
                  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) g->coutg,
                               (int) (p1 - p0), (int) g->k, 1.0f,
                               a->w + gi * g->coutg * g->k, (int) g->k, col, (int) (p1 - p0),
                               0.0f, dst + p0, (int) g->p);
                }
              continue;
            }
          if (b == 1 && g->direct)
            src = a->x + n * chw + gi * g->cg * g->h * g->w;
          else
            {
              for (int64_t j = 0; j < b; j++)
                im2col (g, a->x + (n + j) * chw + gi * g->cg * g->h * g->w, col + j * g->p, ld, 0,
                        g->p);
              src = col;
            }
          cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) g->coutg, (int) ld,
                       (int) g->k, 1.0f, a->w + gi * g->coutg * g->k, (int) g->k, src,
                       (int) ld, 0.0f, dst, (int) ld);
          if (b > 1)
            for (int64_t j = 0; j < b; j++)
              for (int64_t co = 0; co < g->coutg; co++)
                memcpy (a->y + ((n + j) * g->cout + gi * g->coutg + co) * g->p,
                        ytmp + co * ld + j * g->p, (size_t) g->p * sizeof (float));
        }
      if (a->b)
        for (int64_t j = 0; j < b; j++)
          add_bias (g, a->y + (n + j) * g->cout * g->p, a->b);
    }
}

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

static void
dw_forward_task (void *arg, int tid, int nt)
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

void
ts_cpu_conv2d_forward (ts_backend *be, const ts_conv2d_params *p, const ts_tensor *x,
                       const ts_tensor *w, const ts_tensor *b, ts_tensor *y)
{
  conv_geom g;
  conv_args a = { .be = be, .g = &g, .x = x->data, .w = w->data,
                  .b = b ? b->data : NULL, .y = y->data };

  if (!conv_geom_init (&g, p, x, w, y))
    return;
  g.budget = ts_cpu (be)->col_budget;
  if (g.cg == 1 && g.groups > 1)
    {
      ts_cpu_parallel (be, dw_forward_task, &a);
      if (a.failed)
        ts_error (TS_ERR_NOMEM, "conv2d: out of memory for scratch");
      return;
    }
  a.serial = g.n < be->n_threads || ts_cpu (be)->threaded_blas;
  if (a.serial)
    ts_cpu_blas_threads (be->n_threads);
  ts_cpu_parallel (be, gemm_forward_task, &a);
  if (a.serial)
    ts_cpu_blas_threads (1);
  if (a.failed)
    ts_error (TS_ERR_NOMEM, "conv2d: out of memory for scratch");
}

/* ---- backward ---- */

static void
gemm_backward_task (void *arg, int tid, int nt)
{
  conv_args *a = arg;
  const conv_geom *g = a->g;
  int64_t n0, n1, bmax, tile, chw = g->c * g->h * g->w;
  float *col = NULL, *dcol = NULL, *dwacc = NULL, *dytmp = NULL;
  int first = 1;

  if (a->serial)
    {
      if (tid != 0)
        return;
      n0 = 0;
      n1 = g->n;
    }
  else
    ts_cpu_range (g->n, tid, nt, &n0, &n1);
  if (a->dw)
    {
      /* thread 0 accumulates straight into dw; the others into scratch, summed after */
      dwacc = tid == 0 ? a->dw : ts_cpu_scratch (a->be, tid, 2, (size_t) (g->cout * g->k));
      if (dwacc == NULL)
        {
          __atomic_store_n (&a->failed, 1, __ATOMIC_RELAXED);
          return;
        }
      if (n0 >= n1)
        memset (dwacc, 0, (size_t) (g->cout * g->k) * sizeof (float));
    }
  if (n0 >= n1)
    return;
  bmax = images_per_gemm (g, n1 - n0);
  tile = bmax == 1 ? tile_cols (g) : g->p;
  if (a->dw && (!g->direct || bmax > 1))
    col = ts_cpu_scratch (a->be, tid, 0, (size_t) (g->k * tile * bmax));
  if (a->dx && (!g->direct || bmax > 1))
    dcol = ts_cpu_scratch (a->be, tid, 1, (size_t) (g->k * tile * bmax));
  if (bmax > 1)
    dytmp = ts_cpu_scratch (a->be, tid, 3, (size_t) (g->coutg * g->p * bmax));
  if ((a->dw && (!g->direct || bmax > 1) && col == NULL)
      || (a->dx && (!g->direct || bmax > 1) && dcol == NULL) || (bmax > 1 && dytmp == NULL))
    {
      __atomic_store_n (&a->failed, 1, __ATOMIC_RELAXED);
      return;
    }

  for (int64_t n = n0; n < n1; n += bmax)
    {
      int64_t b = n1 - n < bmax ? n1 - n : bmax, ld = b * g->p;
      for (int64_t gi = 0; gi < g->groups; gi++)
        {
          const float *wg = a->w + gi * g->coutg * g->k;
          const float *dyg;
          int64_t xoff = gi * g->cg * g->h * g->w;
          if (b == 1 && tile < g->p)
            {
              const float *dy1 = a->dy + (n * g->cout + gi * g->coutg) * g->p;
              float *dxg = a->dx ? a->dx + n * chw + xoff : NULL;
              if (dxg)
                memset (dxg, 0, (size_t) (g->cg * g->h * g->w) * sizeof (float));
              for (int64_t p0 = 0; p0 < g->p; p0 += tile)
                {
                  int64_t p1 = p0 + tile < g->p ? p0 + tile : g->p, t = p1 - p0;
                  if (a->dw)
                    {
                      im2col (g, a->x + n * chw + xoff, col, t, p0, p1);
                      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (int) g->coutg,
                                   (int) g->k, (int) t, 1.0f, dy1 + p0, (int) g->p, col, (int) t,
                                   first && p0 == 0 ? 0.0f : 1.0f,
                                   dwacc + gi * g->coutg * g->k, (int) g->k);
                    }
                  if (dxg)
                    {
                      cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) g->k, (int) t,
                                   (int) g->coutg, 1.0f, wg, (int) g->k, dy1 + p0, (int) g->p,
                                   0.0f, dcol, (int) t);
                      col2im_add (g, dcol, dxg, t, p0, p1);
                    }
                }
              continue;
            }
          if (b == 1)
            dyg = a->dy + (n * g->cout + gi * g->coutg) * g->p;
          else
            {
              for (int64_t j = 0; j < b; j++)
                for (int64_t co = 0; co < g->coutg; co++)
                  memcpy (dytmp + co * ld + j * g->p,
                          a->dy + ((n + j) * g->cout + gi * g->coutg + co) * g->p,
                          (size_t) g->p * sizeof (float));
              dyg = dytmp;
            }
          if (a->dw)
            {
              const float *src;
              if (b == 1 && g->direct)
                src = a->x + n * chw + xoff;
              else
                {
                  for (int64_t j = 0; j < b; j++)
                    im2col (g, a->x + (n + j) * chw + xoff, col + j * g->p, ld, 0, g->p);
                  src = col;
                }
              cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (int) g->coutg, (int) g->k,
                           (int) ld, 1.0f, dyg, (int) ld, src, (int) ld,
                           first ? 0.0f : 1.0f, dwacc + gi * g->coutg * g->k, (int) g->k);
            }
          if (a->dx)
            {
              if (b == 1 && g->direct)
                cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) g->k, (int) ld,
                             (int) g->coutg, 1.0f, wg, (int) g->k, dyg, (int) ld, 0.0f,
                             a->dx + n * chw + xoff, (int) ld);
              else
                {
                  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) g->k, (int) ld,
                               (int) g->coutg, 1.0f, wg, (int) g->k, dyg, (int) ld, 0.0f,
                               dcol, (int) ld);
                  for (int64_t j = 0; j < b; j++)
                    {
                      float *dxg = a->dx + (n + j) * chw + xoff;
                      memset (dxg, 0, (size_t) (g->cg * g->h * g->w) * sizeof (float));
                      col2im_add (g, dcol + j * g->p, dxg, ld, 0, g->p);
                    }
                }
            }
        }
      first = 0;
    }
}

static void
dw_reduce_task (void *arg, int tid, int nt)
{
  conv_args *a = arg;
  const conv_geom *g = a->g;
  int64_t total = g->cout * g->k, i0, i1;
  int nacc = a->serial ? 1 : ts_cpu (a->be)->n_threads;

  ts_cpu_range (total, tid, nt, &i0, &i1);
  for (int t = 1; t < nacc; t++)
    {
      const float *acc = ts_cpu (a->be)->scratch[t][2].ptr;
      for (int64_t i = i0; i < i1; i++)
        a->dw[i] += acc[i];
    }
}

static void
bias_grad_task (void *arg, int tid, int nt)
{
  conv_args *a = arg;
  const conv_geom *g = a->g;
  int64_t c0, c1;

  ts_cpu_range (g->cout, tid, nt, &c0, &c1);
  for (int64_t co = c0; co < c1; co++)
    {
      double s = 0.0;
      for (int64_t n = 0; n < g->n; n++)
        {
          const float *d = a->dy + (n * g->cout + co) * g->p;
          float ps = 0.0f;
#pragma omp simd reduction(+:ps)
          for (int64_t i = 0; i < g->p; i++)
            ps += d[i];
          s += ps;
        }
      a->db[co] = (float) s;
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
static void
dw_backward_task (void *arg, int tid, int nt)
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

void
ts_cpu_conv2d_backward (ts_backend *be, const ts_conv2d_params *p, const ts_tensor *x,
                        const ts_tensor *w, const ts_tensor *dy, ts_tensor *dx, ts_tensor *dw,
                        ts_tensor *db)
{
  conv_geom g;
  conv_args a = { .be = be, .g = &g, .x = x->data, .w = w->data, .dy = dy->data,
                  .dx = dx ? dx->data : NULL, .dw = dw ? dw->data : NULL,
                  .db = db ? db->data : NULL };

  if (!conv_geom_init (&g, p, x, w, dy))
    return;
  g.budget = ts_cpu (be)->col_budget;
  if (a.db)
    ts_cpu_parallel (be, bias_grad_task, &a);
  if (!a.dx && !a.dw)
    return;
  if (g.cg == 1 && g.groups > 1)
    {
      ts_cpu_parallel (be, dw_backward_task, &a);
      if (a.failed)
        ts_error (TS_ERR_NOMEM, "conv2d backward: out of memory for scratch");
      return;
    }
  a.serial = g.n < be->n_threads || ts_cpu (be)->threaded_blas;
  if (a.serial)
    ts_cpu_blas_threads (be->n_threads);
  ts_cpu_parallel (be, gemm_backward_task, &a);
  if (a.serial)
    ts_cpu_blas_threads (1);
  if (a.failed)
    {
      ts_error (TS_ERR_NOMEM, "conv2d backward: out of memory for scratch");
      return;
    }
  if (a.dw && !a.serial && be->n_threads > 1)
    ts_cpu_parallel (be, dw_reduce_task, &a);
}
