/* ts-cpu-conv-gemm.c: dense conv forward as our own packed AVX-512 GEMM.
 *
 *   y[n, co, p] = act (sum_r W[co, r] * col[r, (n, p)] + b[co] + res[n, co, p])
 *
 * Why not im2col + OpenBLAS: at 128 px most planes are small, so per-image
 * GEMMs are thin, OpenBLAS repacks the weights on every call, packs the col
 * matrix we have just written with im2col (two passes over it), zeroes C for
 * beta = 0, and the bias, the residual add and the ReLU are each one more pass
 * over the output (measured: resnet18 3x3 convs at 115-150 GFLOP/s on two
 * threads against oneDNN's 210-280, with im2col + packing ~20% of the time).
 * Here the weights are packed once per call for all threads, the columns of
 * all images form one long matrix (so 4x4 and 8x8 planes make full-width
 * tiles), the im2col gather writes straight into the packed panels (implicit
 * GEMM), and bias, residual and activation are applied to each tile while it
 * is in registers / L1, so the output is written exactly once.
 *
 * Blocking (Goto): the weights are panels of MR = 8 output channels, the
 * columns panels of NR = 32 (two zmm), K in blocks of about KC_TARGET so that
 * one column panel (KC x 32 floats) stays in L1; up to NC_PANELS column panels
 * are packed at a time (L2) and each block of MC_PANELS weight panels is used
 * against all of them before the next is loaded.  Threads take chunks of
 * column panels as they go; a panel's sums do not depend on the thread, so
 * results repeat bit for bit whatever the thread count or timing.
 */
#include "ts-cpu-conv-gemm.h"

#include <stdlib.h>
#include <string.h>

#if TS_CPU_CONV_GEMM

#define KC_TARGET 224
#define NC_PANELS 16
#define MC_PANELS 4

typedef struct {
  ts_backend *be;
  const conv_geom *g;
  const float *x, *w, *b, *res;
  float *y;
  int act;               /* -1 none, TS_ACT_RELU, TS_ACT_RELU6 */
  int wflip;             /* w is the forward conv's [C, cout, KH, KW] (backward data) */
  float *wp;             /* packed weights, K * cout_pad */
  int64_t cout_pad, n_panels, nkb;
  int64_t chunk;         /* column panels taken at a time */
  int64_t next_panel;    /* atomic: the first panel no thread has taken */
  int failed;
} gemm_args;

static inline int64_t
kb_start (const gemm_args *a, int64_t kb)
{
  return a->g->k * kb / a->nkb;
}

/* Weights [cout, K] -> for each K block, for each panel of MR rows, [kc][MR]
 * (rows past cout are zeros).  With wflip, element (co, (c, ky, kx)) is read
 * from the forward weights as w[c, co, KH-1-ky, KW-1-kx]: backward data is
 * this conv of dy, and no flipped copy of the weights is ever written. */
static void
pack_w_task (void *arg, int tid, int nt)
{
  gemm_args *a = arg;
  const conv_geom *g = a->g;
  int64_t i0, i1, np = a->cout_pad / MR, khw = g->kh * g->kw;
  /* consecutive output channels are rows of w, or (wflip) taps of a row */
  int64_t rs = a->wflip ? khw : g->k;

  ts_cpu_range (np, tid, nt, &i0, &i1);
  for (int64_t kb = 0; kb < a->nkb; kb++)
    {
      int64_t r0 = kb_start (a, kb), r1 = kb_start (a, kb + 1), kc = r1 - r0;
      for (int64_t i = i0; i < i1; i++)
        {
          float *dst = a->wp + r0 * a->cout_pad + i * kc * MR;
          int64_t rows = g->cout - i * MR < MR ? g->cout - i * MR : MR;
          int64_t c = r0 / khw, tap = r0 % khw;
          for (int64_t k = 0; k < kc; k++)
            {
              const float *src = a->wflip ? a->w + (c * g->cout + i * MR) * khw + khw - 1 - tap
                                          : a->w + i * MR * g->k + r0 + k;
              for (int64_t r = 0; r < MR; r++)
                dst[k * MR + r] = r < rows ? src[r * rs] : 0.0f;
              if (++tap == khw)
                {
                  tap = 0;
                  c++;
                }
            }
        }
    }
}

int
ts_cpu_gemm_panel_segs (const conv_geom *g, int64_t q0, int64_t qe, seg *s)
{
  int ns = 0, direct = g->direct;
  int64_t q = q0;

  while (q < qe)
    {
      int64_t n = q / g->p, p = q % g->p, oy = p / g->ow, ox = p % g->ow;
      int dst = (int) (q - q0);
      int64_t len = direct ? g->p - p : g->ow - ox;
      int room = 16 - dst % 16;
      if (len > qe - q)
        len = qe - q;
      if (len > room)
        len = room;
      s[ns].dst = dst;
      s[ns].len = (int) len;
      s[ns].n = n;
      s[ns].oy = oy;
      s[ns].ox = ox;
      s[ns].p = p;
      ns++;
      q += len;
    }
  /* zero the columns past the end (the last panel) */
  for (int dst = (int) (qe - q0); dst < NR;)
    {
      int len = 16 - dst % 16;
      s[ns].dst = dst;
      s[ns].len = len;
      s[ns].n = -1;
      ns++;
      dst += len;
    }
  return ns;
}

static inline TS_AVX512 __mmask16
lane_mask (int64_t lo, int64_t hi)
{
  if (hi <= lo)
    return 0;
  return (__mmask16) (((1u << hi) - 1u) & ~((1u << lo) - 1u));
}

/* Per run of columns, the source offset and lane mask of each kernel tap are
 * worked out once; a row is then one masked load and store (stride 2: two
 * loads and a permute that keeps the even lanes). */
TS_AVX512 TS_NOINLINE void
ts_cpu_gemm_pack_x_panel (const conv_geom *g, const float *x, const seg *s, int ns, int64_t r0,
                          int64_t kc, float *dst)
{
  int64_t khw = g->kh * g->kw, hw = g->h * g->w, chw = g->c * hw;
  const __m512i step = _mm512_mullo_epi32 (_mm512_set_epi32 (15, 14, 13, 12, 11, 10, 9, 8, 7, 6,
                                                             5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32 (g->sw));
  const __m512i even = _mm512_set_epi32 (30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4,
                                         2, 0);
  const __m512 zero = _mm512_setzero_ps ();
  int64_t off[TS_CPU_CONV_GEMM_MAX_TAPS];
  uint32_t msk[TS_CPU_CONV_GEMM_MAX_TAPS];

  for (int t = 0; t < ns; t++)
    {
      const seg *sg = &s[t];
      __mmask16 out = lane_mask (0, sg->len);
      float *col = dst + sg->dst;
      const float *base;
      int64_t tap;

      if (sg->n < 0)
        {
          for (int64_t k = 0; k < kc; k++)
            _mm512_mask_storeu_ps (col + k * NR, out, zero);
          continue;
        }
      base = x + sg->n * chw;
      if (g->direct)
        {
          /* 1x1, stride 1, no padding: the run is contiguous in each plane */
          base += sg->p + r0 * hw;
          for (int64_t k = 0; k < kc; k++)
            _mm512_mask_storeu_ps (col + k * NR, out, _mm512_maskz_loadu_ps (out, base + k * hw));
          continue;
        }
      for (tap = 0; tap < khw; tap++)
        {
          int64_t ky = tap / g->kw, kx = tap % g->kw;
          int64_t iy = sg->oy * g->sh - g->pt + ky, ix0 = sg->ox * g->sw - g->pl + kx;
          int64_t lo, hi;
          off[tap] = iy * g->w + ix0;
          if (iy < 0 || iy >= g->h)
            {
              msk[tap] = 0;
              continue;
            }
          if (g->sw == 2)
            {
              /* input lanes 0 .. 2 * len - 2 of the 32 loaded */
              int64_t span = 2 * (int64_t) sg->len - 1;
              lo = ix0 < 0 ? -ix0 : 0;
              hi = g->w - ix0 < span ? g->w - ix0 : span;
              msk[tap] = hi <= lo ? 0
                                  : (uint32_t) ((hi >= 32 ? 0xffffffffu : ((1u << hi) - 1u))
                                                & ~((1u << lo) - 1u));
              continue;
            }
          lo = ix0 < 0 ? (-ix0 + g->sw - 1) / g->sw : 0;
          hi = ix0 + (int64_t) (sg->len - 1) * g->sw < g->w
                 ? sg->len
                 : (g->w - 1 - ix0 < 0 ? 0 : (g->w - 1 - ix0) / g->sw + 1);
          msk[tap] = lane_mask (lo, hi);
        }
      /* one loop per stride, so that the row loop holds no test but the tap
       * wrap; a row whose mask is empty loads nothing (masked loads do not
       * fault) and stores zeros */
      {
        const float *xc = base + r0 / khw * hw;
        tap = r0 % khw;
        if (g->sw == 1)
          for (int64_t k = 0; k < kc; k++)
            {
              _mm512_mask_storeu_ps (col + k * NR, out,
                                     _mm512_maskz_loadu_ps ((__mmask16) msk[tap], xc + off[tap]));
              if (++tap == khw)
                {
                  tap = 0;
                  xc += hw;
                }
            }
        else if (g->sw == 2)
          for (int64_t k = 0; k < kc; k++)
            {
              const float *src = xc + off[tap];
              uint32_t m = msk[tap];
              __m512 v = _mm512_permutex2var_ps (_mm512_maskz_loadu_ps ((__mmask16) m, src), even,
                                                 _mm512_maskz_loadu_ps ((__mmask16) (m >> 16),
                                                                        src + 16));
              _mm512_mask_storeu_ps (col + k * NR, out, v);
              if (++tap == khw)
                {
                  tap = 0;
                  xc += hw;
                }
            }
        else
          for (int64_t k = 0; k < kc; k++)
            {
              __m512 v = _mm512_mask_i32gather_ps (zero, (__mmask16) msk[tap], step,
                                                   xc + off[tap], 4);
              _mm512_mask_storeu_ps (col + k * NR, out, v);
              if (++tap == khw)
                {
                  tap = 0;
                  xc += hw;
                }
            }
      }
    }
}

TS_AVX512 TS_NOINLINE void
ts_cpu_gemm_kernel_8x32 (int64_t kc, const float *restrict wp, const float *restrict xp,
                         float *restrict c, int acc, const tile_out *o)
{
  __m512 t[16];

#pragma GCC unroll 16
  for (int i = 0; i < 16; i++)
    t[i] = _mm512_setzero_ps ();
  ts_cpu_gemm_tile_8x32 (kc, wp, MR, 1, xp, t);
  if (acc)
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++)
      t[i] = _mm512_add_ps (t[i], _mm512_load_ps (c + i * 16));
  if (o == NULL)
    {
#pragma GCC unroll 16
      for (int i = 0; i < 16; i++)
        _mm512_store_ps (c + i * 16, t[i]);
      return;
    }
  {
    const __m512 zero = _mm512_setzero_ps (), six = _mm512_set1_ps (6.0f);
#pragma GCC unroll 8
    for (int r = 0; r < MR; r++)
      {
        __m512 x0 = t[2 * r], x1 = t[2 * r + 1];
        float *yr = o->y + r * o->ld;
        if (r >= o->rows)
          break;
        if (o->bias)
          {
            __m512 bv = _mm512_set1_ps (o->bias[r]);
            x0 = _mm512_add_ps (x0, bv);
            x1 = _mm512_add_ps (x1, bv);
          }
        if (o->res)
          {
            x0 = _mm512_add_ps (x0, _mm512_loadu_ps (o->res + r * o->ld));
            x1 = _mm512_add_ps (x1, _mm512_loadu_ps (o->res + r * o->ld + 16));
          }
        if (o->act == TS_ACT_RELU)
          {
            x0 = _mm512_max_ps (x0, zero);
            x1 = _mm512_max_ps (x1, zero);
          }
        else if (o->act == TS_ACT_RELU6)
          {
            x0 = _mm512_min_ps (_mm512_max_ps (x0, zero), six);
            x1 = _mm512_min_ps (_mm512_max_ps (x1, zero), six);
          }
        _mm512_storeu_ps (yr, x0);
        _mm512_storeu_ps (yr + 16, x1);
      }
  }
}

/* tile [MR][NR] of output channels i*MR.. -> y, with bias, residual, activation */
static TS_AVX512 void
epilogue (const gemm_args *a, const float *tile, int64_t i, const seg *s, int ns)
{
  const conv_geom *g = a->g;
  const __m512 zero = _mm512_setzero_ps (), six = _mm512_set1_ps (6.0f);

  for (int r = 0; r < MR; r++)
    {
      int64_t co = i * MR + r;
      __m512 bv;
      if (co >= g->cout)
        break;
      bv = _mm512_set1_ps (a->b ? a->b[co] : 0.0f);
      for (int t = 0; t < ns && s[t].n >= 0; t++)
        {
          const seg *sg = &s[t];
          __mmask16 m = lane_mask (0, sg->len);
          int64_t off = (sg->n * g->cout + co) * g->p + sg->p;
          __m512 v = _mm512_add_ps (_mm512_maskz_loadu_ps (m, tile + r * NR + sg->dst), bv);
          if (a->res)
            v = _mm512_add_ps (v, _mm512_maskz_loadu_ps (m, a->res + off));
          if (a->act == TS_ACT_RELU)
            v = _mm512_max_ps (v, zero);
          else if (a->act == TS_ACT_RELU6)
            v = _mm512_min_ps (_mm512_max_ps (v, zero), six);
          _mm512_mask_storeu_ps (a->y + off, m, v);
        }
    }
}

static TS_AVX512 void
gemm_task (void *arg, int tid, int nt)
{
  gemm_args *a = arg;
  const conv_geom *g = a->g;
  int64_t total = g->n * g->p, np = a->cout_pad / MR;
  float *xp, *cbuf = NULL;
  seg segs[NC_PANELS][MAX_SEGS];
  int nsegs[NC_PANELS];
  float tile[MR * NR] __attribute__ ((aligned (64)));
  int64_t kcmax = (g->k + a->nkb - 1) / a->nkb;

  xp = ts_cpu_scratch (a->be, tid, 0, (size_t) (kcmax * NR * NC_PANELS));
  if (a->nkb > 1)
    cbuf = ts_cpu_scratch (a->be, tid, 1, (size_t) (a->cout_pad * NR * NC_PANELS));
  if (xp == NULL || (a->nkb > 1 && cbuf == NULL))
    {
      __atomic_store_n (&a->failed, 1, __ATOMIC_RELAXED);
      return;
    }
  for (;;)
    {
      int64_t jc = __atomic_fetch_add (&a->next_panel, a->chunk, __ATOMIC_RELAXED), ncp;
      if (jc >= a->n_panels)
        break;
      ncp = a->n_panels - jc < a->chunk ? a->n_panels - jc : a->chunk;
      for (int64_t j = 0; j < ncp; j++)
        {
          int64_t q0 = (jc + j) * NR;
          nsegs[j] = ts_cpu_gemm_panel_segs (g, q0, q0 + NR < total ? q0 + NR : total, segs[j]);
        }
      for (int64_t kb = 0; kb < a->nkb; kb++)
        {
          int64_t r0 = kb_start (a, kb), kc = kb_start (a, kb + 1) - r0;
          int last = kb == a->nkb - 1;
          for (int64_t j = 0; j < ncp; j++)
            ts_cpu_gemm_pack_x_panel (g, a->x, segs[j], nsegs[j], r0, kc, xp + j * kc * NR);
          /* MC_PANELS weight panels (L1 / L2) against each column panel
           * of the chunk in turn: the epilogue then writes 8 * MC_PANELS
           * rows of y sequentially, few enough streams for the prefetchers
           * (all weight panels per column panel: ~20% slower on resnet50) */
          for (int64_t ib = 0; ib < np; ib += MC_PANELS)
            for (int64_t j = 0; j < ncp; j++)
              for (int64_t i = ib; i < np && i < ib + MC_PANELS; i++)
                {
                  const float *wp = a->wp + r0 * a->cout_pad + i * kc * MR;
                  float *cb = cbuf ? cbuf + (i * NC_PANELS + j) * MR * NR : NULL;
                  if (!last)
                    ts_cpu_gemm_kernel_8x32 (kc, wp, xp + j * kc * NR, cb, kb > 0, NULL);
                  else if (g->p % NR == 0)
                    {
                      /* the panel is one run of one image's plane */
                      int64_t q = (jc + j) * NR, n = q / g->p, co = i * MR;
                      int64_t off = (n * g->cout + co) * g->p + q % g->p;
                      tile_out o = { a->y + off, a->res ? a->res + off : NULL,
                                     a->b ? a->b + co : NULL, g->p,
                                     (int) (g->cout - co < MR ? g->cout - co : MR), a->act };
                      ts_cpu_gemm_kernel_8x32 (kc, wp, xp + j * kc * NR, cb, cb != NULL, &o);
                    }
                  else if (cb)
                    {
                      ts_cpu_gemm_kernel_8x32 (kc, wp, xp + j * kc * NR, cb, 1, NULL);
                      epilogue (a, cb, i, segs[j], nsegs[j]);
                    }
                  else
                    {
                      ts_cpu_gemm_kernel_8x32 (kc, wp, xp + j * kc * NR, tile, 0, NULL);
                      epilogue (a, tile, i, segs[j], nsegs[j]);
                    }
                }
        }
    }
}

int
ts_cpu_conv_gemm_ok (ts_backend *be, const conv_geom *g)
{
  static int have_avx512 = -1;

  if (!ts_cpu (be)->conv_gemm)
    return 0;
  if (__atomic_load_n (&have_avx512, __ATOMIC_RELAXED) < 0)
    {
      __builtin_cpu_init ();
      __atomic_store_n (&have_avx512,
                        __builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512vl")
                        && __builtin_cpu_supports ("avx512bw")
                        && __builtin_cpu_supports ("avx512dq"), __ATOMIC_RELAXED);
    }
  /* gathers take 32-bit lane offsets */
  return __atomic_load_n (&have_avx512, __ATOMIC_RELAXED) && g->groups == 1
         && g->sw * 16 < (1 << 20) && g->kh * g->kw <= TS_CPU_CONV_GEMM_MAX_TAPS;
}

static int
run_gemm (gemm_args *a)
{
  const conv_geom *g = a->g;
  ts_backend *be = a->be;
  int64_t work = g->n * g->cout * g->p * g->k;

  a->cout_pad = (g->cout + MR - 1) / MR * MR;
  a->n_panels = (g->n * g->p + NR - 1) / NR;
  a->nkb = (g->k + KC_TARGET + KC_TARGET / 4 - 1) / (KC_TARGET + KC_TARGET / 4);
  if (a->nkb < 1)
    a->nkb = 1;
  /* thread 0's slot 2: forward leaves it alone otherwise, and backward runs
   * this after its weight gradient no longer needs it */
  a->wp = ts_cpu_scratch (be, 0, 2, (size_t) (g->k * a->cout_pad));
  if (a->wp == NULL)
    return 0;
  ts_cpu_parallel_sized (be, pack_w_task, a, g->k * a->cout_pad);
  /* Threads take chunks of column panels from a shared counter rather than
   * fixed halves: on a shared machine a thread that loses its core for a while
   * no longer holds up the op (measured under load: one core's worth of
   * progress with static halves).  Each panel's sums do not depend on which
   * thread computes it, so results stay the same bit for bit.  At least two
   * chunks per thread, so that there is something left to take. */
  a->chunk = NC_PANELS;
  while (a->chunk > 1 && a->n_panels < a->chunk * 2 * be->n_threads)
    a->chunk /= 2;
  ts_cpu_parallel_sized (be, gemm_task, a, work);
  return !a->failed;
}

int
ts_cpu_conv_gemm_forward (ts_backend *be, const conv_geom *g, const float *x, const float *w,
                          const float *b, const float *res, int act, float *y)
{
  gemm_args a = { .be = be, .g = g, .x = x, .w = w, .b = b, .res = res, .y = y, .act = act };

  return run_gemm (&a);
}

/* With stride 1, dx[ci, iy, ix] = sum over co, ky, kx of dy[co, iy + pt - ky,
 * ix + pl - kx] w[co, ci, ky, kx]: a forward conv of dy with the weights
 * transposed and flipped, padding KH-1-pt / KW-1-pl, whose output plane is x's.
 * It runs through the same packed GEMM (pack_w_task reads the weights
 * flipped), so dx is written once, with no col2im. */
int
ts_cpu_conv_gemm_backward_data (ts_backend *be, const conv_geom *g, const float *w,
                                const float *dy, float *dx)
{
  conv_geom t = *g;
  gemm_args a = { .be = be, .g = &t, .x = dy, .w = w, .y = dx, .act = -1, .wflip = 1 };

  if (g->sh != 1 || g->sw != 1)
    return ts_cpu_conv_gemm_backward_data_strided (be, g, w, dy, dx);
  t.c = t.cg = g->cout;
  t.h = g->oh;
  t.w = g->ow;
  t.cout = t.coutg = g->c;
  t.oh = g->h;
  t.ow = g->w;
  t.pt = (int) g->kh - 1 - g->pt;
  t.pl = (int) g->kw - 1 - g->pl;
  t.k = g->cout * g->kh * g->kw;
  t.p = g->h * g->w;
  t.direct = g->kh == 1 && g->kw == 1 && t.pt == 0 && t.pl == 0 && t.oh == t.h && t.ow == t.w;
  return run_gemm (&a);
}

#else /* !TS_CPU_CONV_GEMM */

int
ts_cpu_conv_gemm_ok (ts_backend *be, const conv_geom *g)
{
  return 0;
}

int
ts_cpu_conv_gemm_forward (ts_backend *be, const conv_geom *g, const float *x, const float *w,
                          const float *b, const float *res, int act, float *y)
{
  return 0;
}

int
ts_cpu_conv_gemm_backward_data (ts_backend *be, const conv_geom *g, const float *w,
                                const float *dy, float *dx)
{
  return 0;
}

#endif
