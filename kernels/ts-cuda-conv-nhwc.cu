/* ts-cuda-conv-nhwc.cu: what a bfloat16 NHWC convolution needs besides
 * cuDNN (the bf16 precision policy, docs/cuda.md): its float32 bias added
 * onto y, the bias gradient from dy, and the window copy that pads x with
 * zeros (and crops dx back) for the padding cuDNN cannot express.  NHWC
 * puts the channel fastest, so all walk memory along C: y / dy are
 * [rows][c] with rows = N*OH*OW.
 *
 * Window copy: one thread per 8 channels of one pixel (one 16-byte load or
 * zero, one 16-byte store) when C is a multiple of 8 and both buffers are
 * 16-byte aligned, else one per element; consecutive threads take
 * consecutive channels, then pixels, so a warp reads and writes contiguous
 * memory (a pixel's C values are contiguous in both buffers).  It copies
 * bits: no rounding, so padding x and cropping dx are exact.
 *
 * Bias add: one thread per 8 channels (one 16-byte load and store of 8
 * bfloat16) when C is a multiple of 8 and y is 16-byte aligned, else one per
 * element; consecutive threads touch consecutive addresses.
 *
 * Bias gradient: deterministic in two passes, with no atomics.  Pass 1: a
 * block per (tile of 32 channels, chunk of rows); its 256 threads are 32
 * channel columns x 8 row lanes, so that a warp reads 32 neighbouring
 * channels of one row (64 contiguous bytes) and the 8 lanes take every 8th
 * row of the chunk; the lanes' sums are added in a fixed order into
 * partial[chunk][c] (double).  Pass 2: one thread per channel adds the
 * chunks' partials in chunk order.  Both passes loop over their virtual
 * threads with block-stride loops, so any blockDim (the host emulation's 1)
 * gives the same sums in the same order. */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

#define NHWC_COLS 32                         /* channels per pass-1 block: a warp's row segment */
#define NHWC_LANES (TSK_THREADS / NHWC_COLS)  /* rows a pass-1 block reads at once */
#define NHWC_TARGET_BLOCKS 512                /* pass 1: enough blocks for an H200's 132 SMs */
#define NHWC_MIN_CHUNK_ROWS 64                /* ... with rows enough for each to be worth it */

/* y[i] += b[i % c], V elements per thread (8: one 16-byte access, c % 8 == 0,
 * so the 8 lie in one row: channels ch..ch+7) */
template <int V>
static __global__ void
bias_add_nhwc_kernel (int64_t groups, int64_t c, const float *b, tsk_bf16 *y)
{
  TSK_FOR (i, groups)
    {
      int64_t e = i * V, ch = e % c;
      float v[V];
      tsk_load_v<V> (y + e, v);
      for (int j = 0; j < V; j++)
        v[j] += b[ch + j];
      tsk_store_v<V> (y + e, v);
    }
}

static __global__ void
bias_grad_nhwc_partial_kernel (int64_t rows, int64_t c, int64_t tiles, int64_t chunk_rows,
                               const tsk_bf16 *dy, double *partial)
{
  TSK_SHARED (double, lane_sum, TSK_THREADS);
  int64_t tile = blockIdx.x % tiles, chunk = blockIdx.x / tiles;
  int64_t r0 = chunk * chunk_rows, r1 = r0 + chunk_rows < rows ? r0 + chunk_rows : rows;

  for (int t = threadIdx.x; t < TSK_THREADS; t += blockDim.x)
    {
      int64_t ch = tile * NHWC_COLS + t % NHWC_COLS;
      double acc = 0.0;
      if (ch < c)
        for (int64_t r = r0 + t / NHWC_COLS; r < r1; r += NHWC_LANES)
          acc += tsk_ld (dy, r * c + ch);
      lane_sum[t] = acc;
    }
  __syncthreads ();
  for (int t = threadIdx.x; t < NHWC_COLS; t += blockDim.x)
    {
      int64_t ch = tile * NHWC_COLS + t;
      double s = 0.0;
      for (int l = 0; l < NHWC_LANES; l++)
        s += lane_sum[l * NHWC_COLS + t];
      if (ch < c)
        partial[chunk * c + ch] = s;
    }
}

static __global__ void
bias_grad_nhwc_finish_kernel (int64_t c, int64_t chunks, const double *partial, float *db)
{
  TSK_FOR (ch, c)
    {
      double s = 0.0;
      for (int64_t k = 0; k < chunks; k++)
        s += partial[k * c + ch];
      db[ch] = (float) s;
    }
}

/* how pass 1 splits the rows; the same numbers for the work size and the launch */
static void
grad_plan (int64_t rows, int64_t c, int64_t *tiles, int64_t *chunks, int64_t *chunk_rows)
{
  int64_t want, most = (rows + NHWC_MIN_CHUNK_ROWS - 1) / NHWC_MIN_CHUNK_ROWS;

  *tiles = (c + NHWC_COLS - 1) / NHWC_COLS;
  want = NHWC_TARGET_BLOCKS / *tiles;
  if (want > most)
    want = most;
  if (want < 1)
    want = 1;
  *chunk_rows = (rows + want - 1) / want;
  if (*chunk_rows < 1)
    *chunk_rows = 1;
  *chunks = (rows + *chunk_rows - 1) / *chunk_rows;
  if (*chunks < 1)
    *chunks = 1;
}

/* dst [n][dh][dw][c] = src [n][y + top][x + left][c] of src [n][sh][sw][c],
 * 0 outside it; V channels per thread (8: one 16-byte move) */
template <int V>
static __global__ void
window_nhwc_kernel (int64_t total, int64_t groups_c, int sh, int sw, const tsk_bf16 *src, int dh,
                    int dw, tsk_bf16 *dst, int top, int left)
{
  TSK_FOR (i, total)
    {
      int64_t pix = i / groups_c, cg = i - pix * groups_c;
      int64_t img = pix / ((int64_t) dh * dw), yx = pix - img * dh * dw;
      int sy = (int) (yx / dw) + top, sx = (int) (yx % dw) + left;
      int inside = sy >= 0 && sy < sh && sx >= 0 && sx < sw;
      int64_t from = (((img * sh + sy) * sw + sx) * groups_c + cg) * V;
      if constexpr (V == 8)
        {
          /* bits, not values: one 16-byte move, no rounding */
          uint4 v = { 0u, 0u, 0u, 0u };
          if (inside)
            v = tsk_ld_word<uint4> (src + from);
          tsk_st_word<uint4> (dst + i * V, v);
        }
      else
        dst[i] = inside ? src[from] : (tsk_bf16) 0;
    }
}

extern "C" void
tsk_window_nhwc (cudaStream_t s, int64_t n, int64_t c, int sh, int sw, const void *src, int dh,
                 int dw, void *dst, int top, int left)
{
  int64_t total = n * dh * dw * c;

  if (total == 0)
    return;
  if (c % 8 == 0 && (((uintptr_t) src | (uintptr_t) dst) & 15) == 0)
    TSK_LAUNCH (window_nhwc_kernel<8>, tsk_blocks (total / 8), s) (
      total / 8, c / 8, sh, sw, (const tsk_bf16 *) src, dh, dw, (tsk_bf16 *) dst, top, left);
  else
    TSK_LAUNCH (window_nhwc_kernel<1>, tsk_blocks (total), s) (
      total, c, sh, sw, (const tsk_bf16 *) src, dh, dw, (tsk_bf16 *) dst, top, left);
}

extern "C" size_t
tsk_bias_grad_nhwc_work (int64_t rows, int64_t c)
{
  int64_t tiles, chunks, chunk_rows;
  grad_plan (rows, c, &tiles, &chunks, &chunk_rows);
  return (size_t) (chunks * c);
}

extern "C" void
tsk_bias_add_nhwc (cudaStream_t s, int64_t rows, int64_t c, const float *b, void *y)
{
  int64_t total = rows * c;

  if (total == 0)
    return;
  if (c % 8 == 0 && ((uintptr_t) y & 15) == 0)
    TSK_LAUNCH (bias_add_nhwc_kernel<8>, tsk_blocks (total / 8), s) (total / 8, c, b,
                                                                    (tsk_bf16 *) y);
  else
    TSK_LAUNCH (bias_add_nhwc_kernel<1>, tsk_blocks (total), s) (total, c, b, (tsk_bf16 *) y);
}

extern "C" void
tsk_bias_grad_nhwc (cudaStream_t s, int64_t rows, int64_t c, const void *dy, double *work,
                    float *db)
{
  int64_t tiles, chunks, chunk_rows;

  if (c == 0)
    return;
  grad_plan (rows, c, &tiles, &chunks, &chunk_rows);
  TSK_LAUNCH (bias_grad_nhwc_partial_kernel, (unsigned int) (tiles * chunks), s) (
    rows, c, tiles, chunk_rows, (const tsk_bf16 *) dy, work);
  TSK_LAUNCH (bias_grad_nhwc_finish_kernel, tsk_blocks (c), s) (c, chunks, work, db);
}
