/* ts-cpu-conv-gemm-dx.c: the input gradient of a strided dense conv on the
 * packed AVX-512 GEMM of ts-cpu-conv-gemm.c.
 *
 *   dcol [K][(n, p)] = W^T [K][cout] * dy [cout][(n, p)];  dx = col2im (dcol)
 *
 * (Stride 1 needs none of this: there dx is a forward conv of dy with the
 * flipped weights, see ts_cpu_conv_gemm_backward_data.)  The GEMM is a 1x1
 * conv over dy, packed by the forward's packer; each 8 x 32 tile of dcol is
 * added into dx as it leaves the kernel, so dcol never exists in memory.
 * Against im2col + OpenBLAS + col2im: no dcol pass, and the weights are
 * packed once per call rather than by OpenBLAS on every call.
 *
 * The tiles of neighbouring output positions add into the same dx elements,
 * so threads own whole images: a unit is a group of images, taken from a
 * shared counter, whose dx its thread zeroes and then adds into alone.  An
 * element's sums run in the same order whoever computes them.
 */
#include "ts-cpu-conv-gemm.h"

#include <string.h>

#if TS_CPU_CONV_GEMM

/* column panels packed at a time (all of cout deep: L2) */
#define NCX 8
/* weight panels used against each packed chunk before the next (L1) */
#define MCX 4

typedef struct {
  ts_backend *be;
  const conv_geom *g;    /* the conv */
  conv_geom t;           /* dy as the input of a 1x1 conv: its columns are the GEMM's */
  const float *w, *dy;
  float *dx;
  float *wp;             /* W^T: for each panel of MR rows of K, [cout][MR] */
  int64_t kpad;          /* K rounded up to MR */
  int64_t group;         /* images per unit */
  int64_t n_units;
  int64_t next_unit;     /* atomic: the first unit no thread has taken */
  int failed;
} dx_args;

static void
pack_wt_task (void *arg, int tid, int nt)
{
  dx_args *a = arg;
  const conv_geom *g = a->g;
  int64_t i0, i1;

  ts_cpu_range (a->kpad / MR, tid, nt, &i0, &i1);
  for (int64_t i = i0; i < i1; i++)
    {
      float *dst = a->wp + i * g->cout * MR;
      int64_t rows = g->k - i * MR < MR ? g->k - i * MR : MR;
      for (int64_t co = 0; co < g->cout; co++)
        for (int64_t r = 0; r < MR; r++)
          dst[co * MR + r] = r < rows ? a->w[co * g->k + i * MR + r] : 0.0f;
    }
}

/* dx += the tile [MR][NR] of dcol rows i*MR.. whose columns are the runs s.
 * A run is at most 16 columns of one output row: with stride 1 or 2 its
 * targets lie within 32 floats, added as two masked vectors (stride 2: the
 * values spread to the even lanes first). */
static TS_AVX512 void
col2im_tile (const dx_args *a, const float *tile, int64_t i, const seg *s, int ns)
{
  const conv_geom *g = a->g;
  int64_t khw = g->kh * g->kw, hw = g->h * g->w;
  const __m512i lo_idx = _mm512_set_epi32 (7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  const __m512i hi_idx = _mm512_set_epi32 (15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 10, 9, 9,
                                           8, 8);

  /* the tap of row i*MR, then stepped row by row (divisions here cost as
   * much as the adds) */
  int64_t ci = i * MR / khw, ky = i * MR % khw / g->kw, kx = i * MR % g->kw;

  for (int64_t r = 0; r < MR && i * MR + r < g->k; r++)
    {
      const float *tr = tile + r * NR;
      for (int t = 0; t < ns && s[t].n >= 0; t++)
        {
          const seg *sg = &s[t];
          int64_t iy = sg->oy * g->sh - g->pt + ky, ix0 = sg->ox * g->sw - g->pl + kx;
          int64_t j0 = ix0 < 0 ? (-ix0 + g->sw - 1) / g->sw : 0, j1 = sg->len;
          float *d;
          if (iy < 0 || iy >= g->h)
            continue;
          if (ix0 + (j1 - 1) * g->sw >= g->w)
            j1 = g->w - 1 - ix0 < 0 ? 0 : (g->w - 1 - ix0) / g->sw + 1;
          if (j1 <= j0)
            continue;
          d = a->dx + (sg->n * g->c + ci) * hw + iy * g->w + ix0;
          if (g->sw == 1)
            {
              __mmask16 m = (__mmask16) (((1u << j1) - 1u) & ~((1u << j0) - 1u));
              __m512 v = _mm512_maskz_loadu_ps (m, tr + sg->dst);
              _mm512_mask_storeu_ps (d, m, _mm512_add_ps (_mm512_maskz_loadu_ps (m, d), v));
            }
          else if (g->sw == 2)
            {
              /* target lanes 2j for j in [j0, j1) of the 32 floats from d */
              uint32_t even = (((1u << j1) - 1u) & ~((1u << j0) - 1u));
              __m512 v = _mm512_maskz_loadu_ps ((__mmask16) ((1u << j1) - 1u), tr + sg->dst);
              __mmask16 m0, m1;
              /* bit b of the mask to bit 2b */
              even = (even | (even << 8)) & 0x00ff00ffu;
              even = (even | (even << 4)) & 0x0f0f0f0fu;
              even = (even | (even << 2)) & 0x33333333u;
              even = (even | (even << 1)) & 0x55555555u;
              m0 = (__mmask16) even;
              m1 = (__mmask16) (even >> 16);
              if (m0)
                _mm512_mask_storeu_ps (d, m0,
                                       _mm512_add_ps (_mm512_maskz_loadu_ps (m0, d),
                                                      _mm512_permutexvar_ps (lo_idx, v)));
              if (m1)
                _mm512_mask_storeu_ps (d + 16, m1,
                                       _mm512_add_ps (_mm512_maskz_loadu_ps (m1, d + 16),
                                                      _mm512_permutexvar_ps (hi_idx, v)));
            }
          else
            for (int64_t j = j0; j < j1; j++)
              d[j * g->sw] += tr[sg->dst + j];
        }
      if (++kx == g->kw)
        {
          kx = 0;
          if (++ky == g->kh)
            {
              ky = 0;
              ci++;
            }
        }
    }
}

static TS_AVX512 void
dx_task (void *arg, int tid, int nt)
{
  dx_args *a = arg;
  const conv_geom *g = a->g, *t = &a->t;
  int64_t np = a->kpad / MR, chw = g->c * g->h * g->w;
  float *xp = ts_cpu_scratch (a->be, tid, 0, (size_t) (g->cout * NR * NCX));
  seg segs[NCX][MAX_SEGS];
  int nsegs[NCX];
  float tile[MR * NR] __attribute__ ((aligned (64)));

  if (xp == NULL)
    {
      __atomic_store_n (&a->failed, 1, __ATOMIC_RELAXED);
      return;
    }
  for (;;)
    {
      int64_t u = __atomic_fetch_add (&a->next_unit, 1, __ATOMIC_RELAXED), n0, n1;
      if (u >= a->n_units)
        break;
      n0 = u * a->group;
      n1 = n0 + a->group < g->n ? n0 + a->group : g->n;
      memset (a->dx + n0 * chw, 0, (size_t) ((n1 - n0) * chw) * sizeof (float));
      for (int64_t q0 = n0 * t->p; q0 < n1 * t->p; q0 += NCX * NR)
        {
          int64_t ncp = 0;
          for (int64_t q = q0; q < n1 * t->p && ncp < NCX; q += NR, ncp++)
            {
              int64_t qe = q + NR < n1 * t->p ? q + NR : n1 * t->p;
              nsegs[ncp] = ts_cpu_gemm_panel_segs (t, q, qe, segs[ncp]);
              ts_cpu_gemm_pack_x_panel (t, a->dy, segs[ncp], nsegs[ncp], 0, g->cout,
                                        xp + ncp * g->cout * NR);
            }
          for (int64_t ib = 0; ib < np; ib += MCX)
            for (int64_t j = 0; j < ncp; j++)
              for (int64_t i = ib; i < np && i < ib + MCX; i++)
                {
                  ts_cpu_gemm_kernel_8x32 (g->cout, a->wp + i * g->cout * MR,
                                           xp + j * g->cout * NR, tile, 0, NULL);
                  col2im_tile (a, tile, i, segs[j], nsegs[j]);
                }
        }
    }
}

int
ts_cpu_conv_gemm_backward_data_strided (ts_backend *be, const conv_geom *g, const float *w,
                                        const float *dy, float *dx)
{
  dx_args a = { .be = be, .g = g, .w = w, .dy = dy, .dx = dx };
  int64_t nt = be->n_threads > 0 ? be->n_threads : 1;

  a.t = *g;
  a.t.c = a.t.cg = g->cout;
  a.t.h = g->oh;
  a.t.w = g->ow;
  a.t.kh = a.t.kw = 1;
  a.t.sh = a.t.sw = 1;
  a.t.pt = a.t.pl = 0;
  a.t.k = g->cout;
  /* runs that end at output rows: col2im_tile needs (oy, ox) */
  a.t.direct = 0;
  a.kpad = (g->k + MR - 1) / MR * MR;
  /* about NCX * NR columns per unit, and at least four units per thread */
  a.group = NCX * NR / g->p;
  if (a.group > g->n / (4 * nt))
    a.group = g->n / (4 * nt);
  if (a.group < 1)
    a.group = 1;
  a.n_units = (g->n + a.group - 1) / a.group;
  /* thread 0's slot 2, as the forward's packed weights */
  a.wp = ts_cpu_scratch (be, 0, 2, (size_t) (a.kpad * g->cout));
  if (a.wp == NULL)
    return 0;
  ts_cpu_parallel_sized (be, pack_wt_task, &a, a.kpad * g->cout);
  ts_cpu_parallel_sized (be, dx_task, &a, g->n * g->cout * g->p * g->k);
  return !a.failed;
}

#endif
