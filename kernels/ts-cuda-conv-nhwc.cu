/* ts-cuda-conv-nhwc.cu: what a bfloat16 NHWC convolution needs besides
 * cuDNN (the bf16 precision policy, docs/cuda.md): its float32 bias added
 * onto y, the bias gradient from dy, and the window copy that pads x with
 * zeros (and crops dx back) for the padding cuDNN cannot express.  NHWC
 * puts the channel fastest, so all walk memory along C: y / dy are
 * [rows][c] with rows = N*OH*OW.
 *
 * Window copy and bias add: one thread per V channels of one pixel, V the
 * widest of 8, 4, 2 that C and the addresses allow (nhwc_vec_width: one
 * 16-, 8- or 4-byte access), else one per element; consecutive threads
 * take consecutive channels, then pixels, so a warp reads and writes
 * contiguous memory.  Both index in int where the tensors are small enough
 * (tsk_int_index: each element costs divisions).  The window copy moves
 * bits: no rounding, so padding x and cropping dx are exact.
 *
 * Bias gradient: deterministic in two passes, with no atomics: the partial
 * sums of ts-cuda-nhwc.cuh (nhwc_channel_sums, as batch norm's: V-wide
 * reads of dy, fixed orders), then one thread per channel adds its
 * partials in split order. */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"
#include "ts-cuda-nhwc.cuh"

/* y[e] += b[e % c], V elements a thread (V divides c, so the V lie in one
 * row: channels ch .. ch + V - 1) */
template <typename I, int V>
static __global__ void
bias_add_nhwc_kernel (I groups, I c, const float *b, tsk_bf16 *y)
{
  TSK_FOR_I (I, i, groups)
    {
      I e = i * V, ch = e % c;
      float v[V];
      tsk_load_v<V> (y + e, v);
      for (int j = 0; j < V; j++)
        v[j] += b[ch + j];
      tsk_store_v<V> (y + e, v);
    }
}

/* the bias gradient's one term for nhwc_channel_sums: dy */
template <int V>
struct bias_grad_terms {
  const tsk_bf16 *dy;

  __device__ __forceinline__ void start (int ch0) {}

  __device__ __forceinline__ void
  add (int64_t at, float (&f)[1][V])
  {
    float g[V];
    tsk_load_v<V> (dy + at, g);
    for (int j = 0; j < V; j++)
      f[0][j] += g[j];
  }
};

template <int V>
static __global__ void NHWC_SUMS_BOUNDS (1)
bias_grad_nhwc_partial_kernel (int64_t rows, int c, int lanes, int splits, const tsk_bf16 *dy,
                               double *part)
{
  bias_grad_terms<V> terms = { dy };
  nhwc_channel_sums<V, 1> (rows, c, lanes, splits, terms, part);
}

static __global__ void
bias_grad_nhwc_finish_kernel (int c, int splits, const double *part, float *db)
{
  TSK_FOR (ch, c)
    db[ch] = (float) tsk_sum_in_order (part + ch * splits, splits);
}

/* V bfloat16 as one word, moved as bits */
template <int V> struct window_word;
template <> struct window_word<8> { typedef uint4 type; };
template <> struct window_word<4> { typedef uint2 type; };
template <> struct window_word<2> { typedef unsigned int type; };
template <> struct window_word<1> { typedef tsk_bf16 type; };

/* dst [n][dh][dw][c] = src [n][y + top][x + left][c] of src [n][sh][sw][c],
 * 0 outside it; V channels a thread, in one move */
template <typename I, int V>
static __global__ void
window_nhwc_kernel (I total, I groups_c, int sh, int sw, const tsk_bf16 *src, int dh, int dw,
                    tsk_bf16 *dst, int top, int left)
{
  typedef typename window_word<V>::type W;
  TSK_FOR_I (I, i, total)
    {
      I pix = i / groups_c, cg = i - pix * groups_c;
      I img = pix / ((I) dh * dw), yx = pix - img * dh * dw;
      int sy = (int) (yx / dw) + top, sx = (int) (yx % dw) + left;
      W v {};
      if (sy >= 0 && sy < sh && sx >= 0 && sx < sw)
        v = tsk_ld_word<W> (src + (((img * sh + sy) * sw + sx) * groups_c + cg) * V);
      tsk_st_word<W> (dst + i * V, v);
    }
}

extern "C" void
tsk_window_nhwc (cudaStream_t s, int64_t n, int64_t c, int sh, int sw, const void *src, int dh,
                 int dw, void *dst, int top, int left)
{
  int64_t total = n * dh * dw * c, in = n * sh * sw * c;

  if (total == 0)
    return;
  nhwc_with_index_v (total > in ? total : in, nhwc_vec_width (c, src, dst, NULL, NULL),
                     [&] (auto i_, auto v_) {
                       typedef decltype (i_) I;
                       constexpr int V = decltype (v_)::value;
                       auto k = window_nhwc_kernel<I, V>;
                       TSK_LAUNCH (k, tsk_blocks (total / V), s) (
                         (I) (total / V), (I) (c / V), sh, sw, (const tsk_bf16 *) src, dh, dw,
                         (tsk_bf16 *) dst, top, left);
                     });
}

extern "C" void
tsk_bias_add_nhwc (cudaStream_t s, int64_t rows, int64_t c, const float *b, void *y)
{
  int64_t total = rows * c;

  if (total == 0)
    return;
  nhwc_with_index_v (total, nhwc_vec_width (c, y, NULL, NULL, NULL), [&] (auto i_, auto v_) {
    typedef decltype (i_) I;
    constexpr int V = decltype (v_)::value;
    auto k = bias_add_nhwc_kernel<I, V>;
    TSK_LAUNCH (k, tsk_blocks (total / V), s) ((I) (total / V), (I) c, b, (tsk_bf16 *) y);
  });
}

extern "C" size_t
tsk_bias_grad_nhwc_work (int64_t rows, int64_t c)
{
  /* a double per channel and split; the splits depend on the vector width */
  return (size_t) (c * nhwc_most_splits (rows, c));
}

extern "C" void
tsk_bias_grad_nhwc (cudaStream_t s, int64_t rows, int64_t c, const void *dy, double *work,
                    float *db)
{
  nhwc_geom g = nhwc_geom_for (c, nhwc_vec_width (c, dy, NULL, NULL, NULL));
  int splits = nhwc_splits (rows, g);

  if (c == 0)
    return;
  NHWC_LAUNCH_V (g.v, bias_grad_nhwc_partial_kernel, (unsigned int) (g.groups * splits), s, rows,
                 (int) c, g.lanes, splits, (const tsk_bf16 *) dy, work);
  TSK_LAUNCH (bias_grad_nhwc_finish_kernel, tsk_blocks (c), s) ((int) c, splits, work, db);
}
