/* ts-cpu-conv-gemm-dw.c: the weight gradient of a dense conv on the packed
 * AVX-512 GEMM of ts-cpu-conv-gemm.c.
 *
 *   dw[co, r] = sum over q = (n, p) of dy[n, co, p] * col[r, q]
 *
 * The sum runs along the columns q, which are contiguous in both dy and col,
 * so one operand has to be transposed for an outer-product kernel.  We
 * compute the transpose dw^T [K][cout] = col * dy^T instead of dw = dy * col^T:
 * dy^T is the smaller operand (cout rows against col's cin * KH * KW) and is
 * packed once for all threads, while col keeps its natural layout, written by
 * the forward's implicit im2col packer, and is read by broadcasts, which take
 * any stride.  The kernel's 8 x 32 tile is then 8 rows of col (r) by 32
 * output channels; the tiles of a block of rows stay in a small per-thread
 * buffer across the whole sum and are stored to dw [cout][K] transposed once,
 * at the end.  (Against im2col + OpenBLAS: no col matrix in memory, and no
 * OpenBLAS packing of both operands on every call.)
 *
 * Threads take blocks of rows of col (units) from a shared counter; every dw
 * element belongs to one unit and is summed in the same order whatever the
 * thread count, so results repeat bit for bit.
 */
#include "ts-cpu-conv-gemm.h"

#include <string.h>

#if TS_CPU_CONV_GEMM

/* columns summed per pass: the kernel's dy^T block (KQ x NR floats) stays in
 * L1 while the block's col rows are swept; a multiple of NR */
#define KQ 256
/* rows of col packed at a time: the packed block (RC x KQ floats) stays in L2 */
#define RC_MAX 384
/* split over columns: parts of PART_BLOCKS passes, while all parts' partial
 * sums (parts x K x cout floats) stay under PARTIALS_MAX */
#define PART_BLOCKS 16
#define PARTIALS_MAX (1 << 20)
/* split over rows: a thread's tiles (rows x cout floats) stay in L2 */
#define TILES_MAX (1 << 17)

typedef struct {
  ts_backend *be;
  const conv_geom *g;
  const float *x, *dy;
  float *dw;
  float *big;            /* rows split: dy^T, for each panel of NR channels [Q][NR];
                            columns split: the parts' partial sums, as tiles */
  int64_t q;             /* columns: n * P */
  int64_t cpad, ncp;     /* cout rounded up to NR; its panels */
  int64_t k8;            /* K rounded up to MR */
  int64_t rc;            /* rows of col per unit / per packed block, a multiple of MR */
  int64_t parts;         /* > 0: split over columns, in this many parts */
  int64_t n_units;
  int64_t next_unit;     /* atomic: the first unit no thread has taken */
  int failed;
} dw_args;

static inline TS_AVX512 void
transpose_8x8 (__m256 r[8])
{
  __m256 t[8], s[8];

  for (int i = 0; i < 4; i++)
    {
      t[2 * i] = _mm256_unpacklo_ps (r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm256_unpackhi_ps (r[2 * i], r[2 * i + 1]);
    }
  for (int i = 0; i < 2; i++)
    {
      s[4 * i] = _mm256_shuffle_ps (t[4 * i], t[4 * i + 2], _MM_SHUFFLE (1, 0, 1, 0));
      s[4 * i + 1] = _mm256_shuffle_ps (t[4 * i], t[4 * i + 2], _MM_SHUFFLE (3, 2, 3, 2));
      s[4 * i + 2] = _mm256_shuffle_ps (t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE (1, 0, 1, 0));
      s[4 * i + 3] = _mm256_shuffle_ps (t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE (3, 2, 3, 2));
    }
  for (int i = 0; i < 4; i++)
    {
      r[i] = _mm256_permute2f128_ps (s[i], s[i + 4], 0x20);
      r[i + 4] = _mm256_permute2f128_ps (s[i], s[i + 4], 0x31);
    }
}

/* Columns [q0, q1) of dy^T: element (co, q) to dst[(co / NR) * ps + (q - q0) * NR
 * + co % NR]; channels past cout are zeros.  8 x 8 blocks go through registers. */
static TS_AVX512 void
pack_dy (const dw_args *a, int64_t q0, int64_t q1, float *dst, int64_t ps)
{
  const conv_geom *g = a->g;

  for (int64_t q = q0; q < q1;)
    {
      int64_t n = q / g->p, p0 = q % g->p, len = g->p - p0;
      if (len > q1 - q)
        len = q1 - q;
      for (int64_t co0 = 0; co0 < a->cpad; co0 += 8)
        {
          float *d = dst + (co0 / NR) * ps + (q - q0) * NR + co0 % NR;
          const float *src = a->dy + (n * g->cout + co0) * g->p + p0;
          int64_t i = 0;
          if (co0 + 8 <= g->cout)
            for (; i + 8 <= len; i += 8)
              {
                __m256 r[8];
                for (int c = 0; c < 8; c++)
                  r[c] = _mm256_loadu_ps (src + c * g->p + i);
                transpose_8x8 (r);
                for (int k = 0; k < 8; k++)
                  _mm256_storeu_ps (d + (i + k) * NR, r[k]);
              }
          for (; i < len; i++)
            for (int c = 0; c < 8; c++)
              d[i * NR + c] = co0 + c < g->cout ? src[c * g->p + i] : 0.0f;
        }
      q += len;
    }
}

static TS_AVX512 void
pack_dy_task (void *arg, int tid, int nt)
{
  dw_args *a = arg;
  int64_t q0, q1;

  ts_cpu_range (a->q, tid, nt, &q0, &q1);
  pack_dy (a, q0, q1, a->big + q0 * NR, a->q * NR);
}

/* The tile c [MR][NR] (=, or += when @acc) sum over kq columns of the col
 * rows in ap (panels of NR columns, @ps floats apart, rows NR apart) times
 * the dy^T rows b [kq][NR]. */
static TS_AVX512 TS_NOINLINE void
kernel_dw (int64_t kq, const float *restrict ap, int64_t ps, const float *restrict b,
           float *restrict c, int acc)
{
  __m512 t[16];

#pragma GCC unroll 16
  for (int i = 0; i < 16; i++)
    t[i] = acc ? _mm512_load_ps (c + i * 16) : _mm512_setzero_ps ();
  for (int64_t k0 = 0; k0 < kq; k0 += NR)
    ts_cpu_gemm_tile_8x32 (kq - k0 < NR ? kq - k0 : NR, ap + k0 / NR * ps, 1, NR, b + k0 * NR,
                           t);
#pragma GCC unroll 16
  for (int i = 0; i < 16; i++)
    _mm512_store_ps (c + i * 16, t[i]);
}

/* Columns [qb, qb + kq) of col rows [r0, r0 + rows) against dy^T (bt: panel
 * cp at bt + cp * bs) into the tiles [row tile][channel panel][MR][NR]. */
static TS_AVX512 void
sweep (const dw_args *a, int64_t r0, int64_t rows, int64_t qb, int64_t kq, const float *bt,
       int64_t bs, float *ap, float *tiles, int acc)
{
  const conv_geom *g = a->g;
  int64_t rows8 = (rows + MR - 1) / MR * MR;
  seg segs[MAX_SEGS];

  for (int64_t j = 0; j * NR < kq; j++)
    {
      float *dst = ap + j * rows8 * NR;
      int64_t q0 = qb + j * NR;
      int ns = ts_cpu_gemm_panel_segs (g, q0, q0 + NR < a->q ? q0 + NR : a->q, segs);
      ts_cpu_gemm_pack_x_panel (g, a->x, segs, ns, r0, rows, dst);
      memset (dst + rows * NR, 0, (size_t) ((rows8 - rows) * NR) * sizeof (float));
    }
  /* one panel of channels (its dy^T block in L1) against all the rows */
  for (int64_t cp = 0; cp < a->ncp; cp++)
    for (int64_t i = 0; i < rows8 / MR; i++)
      kernel_dw (kq, ap + i * MR * NR, rows8 * NR, bt + cp * bs,
                 tiles + (i * a->ncp + cp) * MR * NR, acc);
}

/* dw [co][r] for the row tiles [i0, i1) = the sum over @np sets of tiles
 * (@ps floats apart, tile i0 first) */
static void
store_tiles (const dw_args *a, const float *tiles, int64_t np, int64_t ps, int64_t i0,
             int64_t i1)
{
  const conv_geom *g = a->g;

  for (int64_t i = i0; i < i1; i++)
    for (int64_t cp = 0; cp < a->ncp; cp++)
      {
        const float *t = tiles + ((i - i0) * a->ncp + cp) * MR * NR;
        for (int64_t l = 0; l < NR && cp * NR + l < g->cout; l++)
          for (int64_t r = 0; r < MR && i * MR + r < g->k; r++)
            {
              float s = t[r * NR + l];
              for (int64_t u = 1; u < np; u++)
                s += t[u * ps + r * NR + l];
              a->dw[(cp * NR + l) * g->k + i * MR + r] = s;
            }
      }
}

/* Split over rows: a unit is rc rows of col, summed over all columns into
 * the thread's tiles, then stored. */
static TS_AVX512 void
rows_task (void *arg, int tid, int nt)
{
  dw_args *a = arg;
  const conv_geom *g = a->g;
  float *ap = ts_cpu_scratch (a->be, tid, 0, (size_t) (KQ * a->rc));
  float *tiles = ts_cpu_scratch (a->be, tid, 1, (size_t) (a->rc * a->cpad));

  if (ap == NULL || tiles == NULL)
    {
      __atomic_store_n (&a->failed, 1, __ATOMIC_RELAXED);
      return;
    }
  for (;;)
    {
      int64_t u = __atomic_fetch_add (&a->next_unit, 1, __ATOMIC_RELAXED), r0, rows;
      if (u >= a->n_units)
        break;
      r0 = u * a->rc;
      rows = g->k - r0 < a->rc ? g->k - r0 : a->rc;
      for (int64_t qb = 0; qb < a->q; qb += KQ)
        sweep (a, r0, rows, qb, a->q - qb < KQ ? a->q - qb : KQ, a->big + qb * NR, a->q * NR,
               ap, tiles, qb > 0);
      store_tiles (a, tiles, 1, 0, r0 / MR, (r0 + rows + MR - 1) / MR);
    }
}

/* Split over columns: a unit is a part of PART_BLOCKS passes over all rows,
 * summed into its own set of tiles (the partial sums, added in part order
 * afterwards: the same sums whatever the thread count). */
static TS_AVX512 void
parts_task (void *arg, int tid, int nt)
{
  dw_args *a = arg;
  const conv_geom *g = a->g;
  float *ap = ts_cpu_scratch (a->be, tid, 0, (size_t) (KQ * a->rc));
  float *bt = ts_cpu_scratch (a->be, tid, 1, (size_t) (KQ * a->cpad));

  if (ap == NULL || bt == NULL)
    {
      __atomic_store_n (&a->failed, 1, __ATOMIC_RELAXED);
      return;
    }
  for (;;)
    {
      int64_t u = __atomic_fetch_add (&a->next_unit, 1, __ATOMIC_RELAXED);
      int64_t qa = u * PART_BLOCKS * KQ, qe;
      float *tiles = a->big + u * a->k8 * a->cpad;
      if (u >= a->n_units)
        break;
      qe = qa + PART_BLOCKS * KQ < a->q ? qa + PART_BLOCKS * KQ : a->q;
      for (int64_t qb = qa; qb < qe; qb += KQ)
        {
          int64_t kq = qe - qb < KQ ? qe - qb : KQ;
          pack_dy (a, qb, qb + kq, bt, KQ * NR);
          for (int64_t r0 = 0; r0 < g->k; r0 += a->rc)
            sweep (a, r0, g->k - r0 < a->rc ? g->k - r0 : a->rc, qb, kq, bt, KQ * NR, ap,
                   tiles + r0 / MR * a->ncp * MR * NR, qb > qa);
        }
    }
}

static void
sum_parts_task (void *arg, int tid, int nt)
{
  dw_args *a = arg;
  int64_t i0, i1;

  ts_cpu_range (a->k8 / MR, tid, nt, &i0, &i1);
  store_tiles (a, a->big + i0 * a->ncp * MR * NR, a->parts, a->k8 * a->cpad, i0, i1);
}

int
ts_cpu_conv_gemm_backward_weights (ts_backend *be, const conv_geom *g, const float *x,
                                   const float *dy, float *dw)
{
  dw_args a = { .be = be, .g = g, .x = x, .dy = dy, .dw = dw };
  int64_t nt = be->n_threads > 0 ? be->n_threads : 1, work = g->cout * g->k * g->n * g->p;
  int64_t parts;

  a.q = g->n * g->p;
  a.cpad = (g->cout + NR - 1) / NR * NR;
  a.ncp = a.cpad / NR;
  a.k8 = (g->k + MR - 1) / MR * MR;
  /* Many columns and a small dw (resnet's layer1/2 and stem): split the
   * columns, each part reading its stretch of x and dy once.  Otherwise
   * split the rows of col: there dy^T is small, packed once for all threads
   * and read again by each unit, and dw is stored straight away. */
  parts = (a.q + PART_BLOCKS * KQ - 1) / (PART_BLOCKS * KQ);
  if (parts > 1 && parts * a.k8 * a.cpad <= PARTIALS_MAX)
    {
      a.parts = a.n_units = parts;
      a.rc = a.k8 < RC_MAX ? a.k8 : RC_MAX;
      /* thread 0's slot 3: the forward GEMM and the packers leave it alone */
      a.big = ts_cpu_scratch (be, 0, 3, (size_t) (parts * a.k8 * a.cpad));
      if (a.big == NULL)
        return 0;
      ts_cpu_parallel_sized (be, parts_task, &a, work);
      if (!a.failed)
        ts_cpu_parallel_sized (be, sum_parts_task, &a, parts * a.k8 * a.cpad);
      return !a.failed;
    }
  /* units: a multiple of the thread count, each with tiles within TILES_MAX */
  {
    int64_t rmax = TILES_MAX / a.cpad < RC_MAX ? TILES_MAX / a.cpad : RC_MAX, m;
    rmax = rmax < MR ? MR : rmax / MR * MR;
    m = (g->k + nt * rmax - 1) / (nt * rmax);
    a.rc = (g->k + nt * m - 1) / (nt * m);
    a.rc = (a.rc + MR - 1) / MR * MR;
    a.n_units = (g->k + a.rc - 1) / a.rc;
  }
  a.big = ts_cpu_scratch (be, 0, 3, (size_t) (a.cpad * a.q));
  if (a.big == NULL)
    return 0;
  ts_cpu_parallel_sized (be, pack_dy_task, &a, a.cpad * a.q);
  ts_cpu_parallel_sized (be, rows_task, &a, work);
  return !a.failed;
}

#else /* !TS_CPU_CONV_GEMM */

int
ts_cpu_conv_gemm_backward_weights (ts_backend *be, const conv_geom *g, const float *x,
                                   const float *dy, float *dw)
{
  return 0;
}

#endif
