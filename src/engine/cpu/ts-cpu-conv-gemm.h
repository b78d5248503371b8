/* ts-cpu-conv-gemm.h: the pieces of the packed AVX-512 conv GEMM that the
 * forward / backward-data driver (ts-cpu-conv-gemm.c) and the backward-weights
 * driver (ts-cpu-conv-gemm-dw.c) share: the column-run description, the
 * implicit im2col packer and the 8x32 register tile. */
#pragma once

#include "ts-cpu-conv.h"

#if TS_CPU_CONV_GEMM

#include <immintrin.h>

#define MR 8
#define NR 32
/* a panel of NR columns is split where its source is not contiguous (image
 * or output row boundaries) and at the 16-lane boundary: at most NR + 2 */
#define MAX_SEGS (NR + 2)
#define TS_CPU_CONV_GEMM_MAX_TAPS 64

#define TS_AVX512 __attribute__ ((target ("avx512f,avx512vl,avx512bw,avx512dq,fma")))
/* the packer and the kernels stay out of line: a kernel keeps all 32 zmm
 * registers to itself, and each shows apart in a profile */
#define TS_NOINLINE __attribute__ ((noinline))
#define TS_INLINE __attribute__ ((always_inline)) inline

typedef struct {
  int dst;          /* first column inside the panel */
  int len;          /* 1..16, never across the 16-lane boundary */
  int64_t n, oy, ox; /* n < 0: padding columns past the end (zeros, not stored) */
  int64_t p;        /* output index inside the image's plane */
} seg;

/* The source runs of the columns [q0, qe) (qe - q0 <= NR) of the output
 * positions of all images (n * P in all) as one panel; returns their number. */
int ts_cpu_gemm_panel_segs (const conv_geom *g, int64_t q0, int64_t qe, seg *s);

/* Rows [r0, r0 + kc) of the implicit col matrix of x, the columns of one
 * panel (its runs @s), into dst [kc][NR]; columns past the end are zeros. */
void ts_cpu_gemm_pack_x_panel (const conv_geom *g, const float *x, const seg *s, int ns,
                               int64_t r0, int64_t kc, float *dst);

/* Where a tile goes when its NR columns are one contiguous run of y (the plane
 * is a multiple of NR): straight from the registers, with the epilogue. */
typedef struct {
  float *y;              /* row 0 of the tile in y; rows ld apart */
  const float *res;      /* same offsets in res, or NULL */
  const float *bias;     /* MR biases, or NULL */
  int64_t ld;
  int rows;              /* valid rows (output channels) */
  int act;
} tile_out;

/* C[MR][NR] (=, or += when @acc) Wp[kc][MR] x Xp[kc][NR], C 64-byte aligned;
 * with @o, the result (plus C when @acc) goes to y through the epilogue instead. */
void ts_cpu_gemm_kernel_8x32 (int64_t kc, const float *restrict wp, const float *restrict xp,
                              float *restrict c, int acc, const tile_out *o);

/* dx of a strided conv (ts-cpu-conv-gemm-dx.c); as ts_cpu_conv_gemm_backward_data */
int ts_cpu_conv_gemm_backward_data_strided (ts_backend *be, const conv_geom *g, const float *w,
                                            const float *dy, float *dx);

/* The register tile c[2r], c[2r+1] (row r, NR columns) += sum over kc steps k
 * of A[k][r] * B[k][0..NR), where A[k][r] is a[k * ak + r * ar] and row k of
 * B is b + k * NR (64-byte aligned).  Inlined into each kernel with constant
 * strides so that c stays in registers and the A broadcasts fold into the FMAs. */
static TS_INLINE TS_AVX512 void
ts_cpu_gemm_tile_8x32 (int64_t kc, const float *restrict a, int64_t ak, int64_t ar,
                       const float *restrict b, __m512 c[16])
{
  for (int64_t k = 0; k < kc; k++)
    {
      __m512 b0 = _mm512_load_ps (b + k * NR), b1 = _mm512_load_ps (b + k * NR + 16);
      const float *ak0 = a + k * ak;
#pragma GCC unroll 8
      for (int r = 0; r < MR; r++)
        {
          __m512 av = _mm512_set1_ps (ak0[r * ar]);
          c[2 * r] = _mm512_fmadd_ps (av, b0, c[2 * r]);
          c[2 * r + 1] = _mm512_fmadd_ps (av, b1, c[2 * r + 1]);
        }
    }
}

#endif
