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

/* x [cg,H,W] -> col [cg*KH*KW, OH*OW]; row r of col starts at col + r*ld, so several
 * images can sit side by side in one wider matrix */
static void
im2col (const conv_geom *g, const float *x, float *col, int64_t ld)
{
  for (int64_t c = 0; c < g->cg; c++)
    for (int64_t ky = 0; ky < g->kh; ky++)
      for (int64_t kx = 0; kx < g->kw; kx++)
        {
          float *row = col + ((c * g->kh + ky) * g->kw + kx) * ld;
          const float *xc = x + c * g->h * g->w;
          int64_t ox0, ox1;
          valid_range (g->ow, g->w, g->sw, g->pl, kx, &ox0, &ox1);
          for (int64_t oy = 0; oy < g->oh; oy++)
            {
              float *r = row + oy * g->ow;
              int64_t iy = oy * g->sh - g->pt + ky;
              if (iy < 0 || iy >= g->h)
                {
                  memset (r, 0, (size_t) g->ow * sizeof (float));
                  continue;
                }
              const float *xr = xc + iy * g->w - g->pl + kx;
              for (int64_t ox = 0; ox < ox0; ox++)
                r[ox] = 0.0f;
              if (g->sw == 1)
                memcpy (r + ox0, xr + ox0, (size_t) (ox1 - ox0) * sizeof (float));
              else if (g->sw == 2)
                for (int64_t ox = ox0; ox < ox1; ox++)
                  r[ox] = xr[2 * ox];
              else
                for (int64_t ox = ox0; ox < ox1; ox++)
                  r[ox] = xr[ox * g->sw];
              for (int64_t ox = ox1; ox < g->ow; ox++)
                r[ox] = 0.0f;
            }
        }
}

/* dx [cg,H,W] += col2im (dcol), dcol rows ld apart */
static void
col2im_add (const conv_geom *g, const float *dcol, float *dx, int64_t ld)
{
  for (int64_t c = 0; c < g->cg; c++)
    for (int64_t ky = 0; ky < g->kh; ky++)
      for (int64_t kx = 0; kx < g->kw; kx++)
        {
          const float *row = dcol + ((c * g->kh + ky) * g->kw + kx) * ld;
          float *xc = dx + c * g->h * g->w;
          int64_t ox0, ox1;
          valid_range (g->ow, g->w, g->sw, g->pl, kx, &ox0, &ox1);
          for (int64_t oy = 0; oy < g->oh; oy++)
            {
              int64_t iy = oy * g->sh - g->pt + ky;
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
 * fit a column buffer of about COL_BUDGET floats (measured: wider GEMMs win until
 * the buffer falls out of L2/L3), and at least enough for GEMM_MIN_COLS columns. */
#ifndef GEMM_MIN_COLS
#define GEMM_MIN_COLS 256
#endif
#ifndef COL_BUDGET
#define COL_BUDGET (1 << 20)
#endif

static int64_t
images_per_gemm (const conv_geom *g, int64_t n_images)
{
  int64_t b = COL_BUDGET / (g->k * g->p);
  int64_t bmin = (GEMM_MIN_COLS + g->p - 1) / g->p;
  if (b < bmin)
    b = bmin;
  if (b > n_images)
    b = n_images;
  return b < 1 ? 1 : b;
}

static void
gemm_forward_task (void *arg, int tid, int nt)
{
  conv_args *a = arg;
  const conv_geom *g = a->g;
  int64_t n0, n1, bmax, chw = g->c * g->h * g->w;
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
  if (!g->direct || bmax > 1)
    col = ts_cpu_scratch (a->be, tid, 0, (size_t) (g->k * g->p * bmax));
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
          if (b == 1 && g->direct)
            src = a->x + n * chw + gi * g->cg * g->h * g->w;
          else
            {
              for (int64_t j = 0; j < b; j++)
                im2col (g, a->x + (n + j) * chw + gi * g->cg * g->h * g->w, col + j * g->p, ld);
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

static void
dw_forward_task (void *arg, int tid, int nt)
{
  conv_args *a = arg;
  const conv_geom *g = a->g;
  int64_t c0, c1;

  ts_cpu_range (g->cout, tid, nt, &c0, &c1);
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
  if (g.cg == 1 && g.groups > 1)
    {
      ts_cpu_parallel (be, dw_forward_task, &a);
      return;
    }
  a.serial = g.n < be->n_threads;
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
  int64_t n0, n1, bmax, chw = g->c * g->h * g->w;
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
  if (a->dw && (!g->direct || bmax > 1))
    col = ts_cpu_scratch (a->be, tid, 0, (size_t) (g->k * g->p * bmax));
  if (a->dx && (!g->direct || bmax > 1))
    dcol = ts_cpu_scratch (a->be, tid, 1, (size_t) (g->k * g->p * bmax));
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
                    im2col (g, a->x + (n + j) * chw + xoff, col + j * g->p, ld);
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
                      col2im_add (g, dcol + j * g->p, dxg, ld);
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
  if (a.db)
    ts_cpu_parallel (be, bias_grad_task, &a);
  if (!a.dx && !a.dw)
    return;
  if (g.cg == 1 && g.groups > 1)
    {
      ts_cpu_parallel (be, dw_backward_task, &a);
      return;
    }
  a.serial = g.n < be->n_threads;
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
