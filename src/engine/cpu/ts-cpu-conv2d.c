/* ts-cpu-conv2d.c: 2d convolution, forward and backward.
 *
 * Dense and grouped convs are im2col + GEMM:
 *   y[n,g] [Cout_g, OH*OW] = W_g [Cout_g, K] * col [K, OH*OW],  K = Cin_g*KH*KW
 * Images are split statically across the pool's threads, each calling a
 * single-threaded GEMM (measured faster here than one image at a time with
 * OpenBLAS threads; TS_CPU_THREADED_BLAS=1 selects that model to compare).
 * Per thread, the col matrix is kept near the backend's col_budget so that it
 * stays in cache: a large plane is done in tiles of columns, small planes
 * (ResNet's layer3/4) put several images side by side in one wider GEMM.
 * 1x1 stride-1 unpadded convs use the input plane itself as col.
 * Depthwise convs (Cin_g == 1) are direct loops split over channels, with a
 * padded-plane fast path for 3x3.
 * On CPUs with AVX-512 the forward of dense convs is instead our own packed
 * GEMM with the im2col gather and the bias / residual / activation fused
 * (ts-cpu-conv-gemm.c), and so is their backward (ts-cpu-conv-gemm-dw.c,
 * ts-cpu-conv-gemm-dx.c).
 */
#include "ts-cpu-conv.h"

#include <string.h>

#include <cblas.h>

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

/* Stride 1 with OW == W ("same" padding, ResNet's 3x3 convs): each row of col
 * is the input plane shifted by a constant offset, so it is one long copy plus
 * zeroed out-of-range rows and edge columns, instead of OH copies of rows that
 * are only 4 to 32 floats long at 128 px (measured: the row-wise form made
 * im2col and col2im a fifth of a training step). */
static inline int
shift_form (const conv_geom *g)
{
  return g->sh == 1 && g->sw == 1 && g->ow == g->w;
}

typedef struct {
  int64_t a, e;      /* columns [a, e) lie on valid rows */
  int64_t ca, ce;    /* of which [ca, ce) read inside the plane; the rest are edge columns */
  int64_t off;       /* input index = column + off */
  int64_t vx0, vx1;  /* valid output columns ox within a row */
} shift_span;

static inline void
shift_span_init (const conv_geom *g, int64_t ky, int64_t kx, int64_t p0, int64_t p1,
                 shift_span *s)
{
  int64_t dy = ky - g->pt, dx = kx - g->pl, hw = g->h * g->w;
  int64_t oy0 = dy < 0 ? -dy : 0, oy1 = g->h - dy < g->oh ? g->h - dy : g->oh;

  s->off = dy * g->w + dx;
  s->a = oy0 * g->w > p0 ? oy0 * g->w : p0;
  s->e = oy1 * g->w < p1 ? oy1 * g->w : p1;
  if (s->e < s->a)
    s->e = s->a;
  s->ca = s->a + s->off < 0 ? -s->off : s->a;
  s->ce = s->e + s->off > hw ? hw - s->off : s->e;
  if (s->ce < s->ca)
    s->ce = s->ca;
  s->vx0 = dx < 0 ? -dx : 0;
  s->vx1 = g->w - dx < g->w ? g->w - dx : g->w;
}

/* Calls zero on every column of [s->a, s->e) whose ox is outside [vx0, vx1). */
static inline TS_NO_LIBCALLS void
shift_zero_edges (const conv_geom *g, const shift_span *s, float *row)
{
  if (s->vx0 == 0 && s->vx1 == g->w)
    return;
  for (int64_t rs = s->a - s->a % g->w; rs < s->e; rs += g->w)
    {
      for (int64_t ox = 0; ox < s->vx0; ox++)
        if (rs + ox >= s->a && rs + ox < s->e)
          row[rs + ox] = 0.0f;
      for (int64_t ox = s->vx1; ox < g->w; ox++)
        if (rs + ox >= s->a && rs + ox < s->e)
          row[rs + ox] = 0.0f;
    }
}

static TS_CPU_CLONES TS_NO_LIBCALLS void
im2col_shift (const conv_geom *g, const float *x, float *col, int64_t ld, int64_t p0,
              int64_t p1)
{
  for (int64_t c = 0; c < g->cg; c++)
    for (int64_t ky = 0; ky < g->kh; ky++)
      for (int64_t kx = 0; kx < g->kw; kx++)
        {
          float *row = col + ((c * g->kh + ky) * g->kw + kx) * ld - p0;
          const float *xc = x + c * g->h * g->w;
          shift_span s;
          shift_span_init (g, ky, kx, p0, p1, &s);
          zero_floats (row + p0, s.a - p0);
          zero_floats (row + s.a, s.ca - s.a);
          if (s.ce - s.ca >= 64)
            memcpy (row + s.ca, xc + s.ca + s.off, (size_t) (s.ce - s.ca) * sizeof (float));
          else
            copy_floats (row + s.ca, xc + s.ca + s.off, s.ce - s.ca);
          zero_floats (row + s.ce, s.e - s.ce);
          zero_floats (row + s.e, p1 - s.e);
          shift_zero_edges (g, &s, row);
        }
}

/* dx += col2im (dcol); the edge columns of dcol are zeroed first (dcol is
 * scratch) so that whole valid rows are added in one pass: adding 0 leaves dx
 * exactly as the row-wise form did. */
static TS_CPU_CLONES TS_NO_LIBCALLS void
col2im_add_shift (const conv_geom *g, float *dcol, float *dx, int64_t ld, int64_t p0,
                  int64_t p1)
{
  for (int64_t c = 0; c < g->cg; c++)
    for (int64_t ky = 0; ky < g->kh; ky++)
      for (int64_t kx = 0; kx < g->kw; kx++)
        {
          float *row = dcol + ((c * g->kh + ky) * g->kw + kx) * ld - p0;
          float *restrict xc = dx + c * g->h * g->w;
          const float *restrict r;
          shift_span s;
          shift_span_init (g, ky, kx, p0, p1, &s);
          shift_zero_edges (g, &s, row);
          r = row;
#pragma omp simd
          for (int64_t i = s.ca; i < s.ce; i++)
            xc[i + s.off] += r[i];
        }
}

/* x [cg,H,W] -> columns [p0, p1) of col [cg*KH*KW, OH*OW]: col[r*ld + p - p0].
 * A range lets a large plane be done in tiles that stay in cache, and ld lets
 * several small images sit side by side in one wider matrix. */
static TS_NO_LIBCALLS void
im2col (const conv_geom *g, const float *x, float *col, int64_t ld, int64_t p0, int64_t p1)
{
  int64_t oy0 = p0 / g->ow, oy1 = (p1 - 1) / g->ow;

  if (shift_form (g))
    {
      im2col_shift (g, x, col, ld, p0, p1);
      return;
    }

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

/* dx [cg,H,W] += col2im of columns [p0, p1) of dcol (rows ld apart; dcol is
 * scratch and may be changed) */
static void
col2im_add (const conv_geom *g, float *dcol, float *dx, int64_t ld, int64_t p0, int64_t p1)
{
  int64_t oy0 = p0 / g->ow, oy1 = (p1 - 1) / g->ow;

  if (shift_form (g))
    {
      col2im_add_shift (g, dcol, dx, ld, p0, p1);
      return;
    }

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

/* Runs a per-image GEMM task: tiny convs (tests, the tiny net) stay on this
 * thread; batches smaller than the pool (or TS_CPU_THREADED_BLAS) run the
 * images one after another with OpenBLAS's own threads; the rest split the
 * images across our pool with single-threaded BLAS. */
static void
run_gemm_task (ts_backend *be, const conv_geom *g, conv_args *a, ts_cpu_task task)
{
  int tiny = g->n * g->cout * g->p * g->k < ts_cpu (be)->min_parallel_work;

  a->serial = tiny || g->n < be->n_threads || ts_cpu (be)->threaded_blas;
  if (a->serial && !tiny)
    ts_cpu_blas_threads (be->n_threads);
  if (a->serial)
    task (a, 0, 1);
  else
    ts_cpu_parallel (be, task, a);
  if (a->serial && !tiny)
    ts_cpu_blas_threads (1);
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
      ts_cpu_parallel_sized (be, ts_cpu_depthwise_forward_task, &a, y->numel * g.kh * g.kw);
      if (a.failed)
        ts_error (TS_ERR_NOMEM, "conv2d: out of memory for scratch");
      return;
    }
  if (ts_cpu_conv_gemm_ok (be, &g))
    {
      if (!ts_cpu_conv_gemm_forward (be, &g, a.x, a.w, a.b, NULL, -1, a.y))
        ts_error (TS_ERR_NOMEM, "conv2d: out of memory for scratch");
      return;
    }
  run_gemm_task (be, &g, &a, gemm_forward_task);
  if (a.failed)
    ts_error (TS_ERR_NOMEM, "conv2d: out of memory for scratch");
}

void
ts_cpu_conv2d_forward_fused (ts_backend *be, const ts_conv2d_params *p, const ts_tensor *x,
                             const ts_tensor *w, const ts_tensor *b, const ts_tensor *res,
                             int act, ts_tensor *y)
{
  conv_geom g;
  char br[96], by[96];

  if (!conv_geom_init (&g, p, x, w, y))
    return;
  if (res && (res->numel != y->numel || res->ndim != 4 || res->shape[1] != y->shape[1]))
    {
      ts_error (TS_ERR_SHAPE, "conv2d: residual %s does not fit y %s",
                ts_tensor_shape_str (res, br, sizeof br), ts_tensor_shape_str (y, by, sizeof by));
      return;
    }
  if (ts_cpu_conv_gemm_ok (be, &g))
    {
      int fused = act == TS_ACT_RELU || act == TS_ACT_RELU6 ? act : -1;
      if (!ts_cpu_conv_gemm_forward (be, &g, x->data, w->data, b ? b->data : NULL,
                                     res ? res->data : NULL, fused, y->data))
        ts_error (TS_ERR_NOMEM, "conv2d: out of memory for scratch");
      else if (act >= 0 && fused < 0)
        ts_cpu_activation_forward (be, (ts_activation) act, y, y);
      return;
    }
  /* depthwise, or no AVX-512: the ops one after another */
  if (res && res->data == y->data)
    {
      /* the conv must not overwrite the residual before the add reads it: conv
       * into thread 0's slot 2 (im2col + BLAS and depthwise leave it alone) */
      ts_tensor t = *y;
      t.owns_data = 0;
      t.data = ts_cpu_scratch (be, 0, 2, (size_t) y->numel);
      if (t.data == NULL)
        {
          ts_error (TS_ERR_NOMEM, "conv2d: out of memory for scratch");
          return;
        }
      ts_cpu_conv2d_forward (be, p, x, w, b, &t);
      ts_cpu_add (be, &t, res, y);
    }
  else
    {
      ts_cpu_conv2d_forward (be, p, x, w, b, y);
      if (res)
        ts_cpu_add (be, y, res, y);
    }
  if (act >= 0)
    ts_cpu_activation_forward (be, (ts_activation) act, y, y);
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

static TS_CPU_CLONES void
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

static TS_CPU_CLONES void
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
    ts_cpu_parallel_sized (be, bias_grad_task, &a, dy->numel);
  if (!a.dx && !a.dw)
    return;
  if (g.cg == 1 && g.groups > 1)
    {
      ts_cpu_parallel_sized (be, ts_cpu_depthwise_backward_task, &a, dy->numel * g.kh * g.kw);
      if (a.failed)
        ts_error (TS_ERR_NOMEM, "conv2d backward: out of memory for scratch");
      return;
    }
  if (ts_cpu_conv_gemm_ok (be, &g))
    {
      if (a.dw && !ts_cpu_conv_gemm_backward_weights (be, &g, a.x, a.dy, a.dw))
        a.failed = 1;
      if (a.dx && !ts_cpu_conv_gemm_backward_data (be, &g, a.w, a.dy, a.dx))
        a.failed = 1;
      a.dw = NULL;
      a.dx = NULL;
    }
  if (a.dx || a.dw)
    run_gemm_task (be, &g, &a, gemm_backward_task);
  if (a.failed)
    {
      ts_error (TS_ERR_NOMEM, "conv2d backward: out of memory for scratch");
      return;
    }
  if (a.dw && !a.serial && be->n_threads > 1)
    ts_cpu_parallel_sized (be, dw_reduce_task, &a, g.cout * g.k * be->n_threads);
}
