/* ts-cuda-convert.cu: a tensor's dtype (float32 / bfloat16) and layout
 * (NCHW / NHWC) changed in one pass, for the bf16 precision policy: the
 * input batch into the body's bf16 NHWC, each convolution's float32 KCRS
 * weights into the bf16 KRSC that cuDNN's tensor-core kernels take, and
 * their bf16 gradients back, and tensors to and from the host. */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

/* I: the index type, int when the tensor allows (tsk_int_index): each
 * element costs two divisions, several times cheaper in 32 bits. */

/* Index of logical element (n, c, p) of an [N, C, P] tensor (P = H*W). */
template <typename I>
static __device__ __forceinline__ I
at (int nhwc, I c_count, I p_count, I n, I c, I p)
{
  return nhwc ? (n * p_count + p) * c_count + c : (n * c_count + c) * p_count + p;
}

/* One thread per destination element, walked in the destination's order so
 * that writes are contiguous (consecutive threads, consecutive addresses). */
template <typename I, typename S, typename D>
static __global__ void
convert_kernel (I total, I c_count, I p_count, const S *x, int x_nhwc, D *y, int y_nhwc)
{
  /* the destination's fastest and middle extents */
  I fast = y_nhwc ? c_count : p_count, mid = y_nhwc ? p_count : c_count;
  TSK_FOR_I (I, i, total)
    {
      I q = i / fast, n = q / mid;
      I f = i - q * fast, m = q - n * mid;
      I c = y_nhwc ? f : m, p = y_nhwc ? m : f;
      tsk_st (y, i, tsk_ld (x, at<I> (x_nhwc, c_count, p_count, n, c, p)));
    }
}

template <typename S, typename D>
static void
launch (cudaStream_t s, int64_t n, int64_t c, int64_t p, const void *x, int x_nhwc, void *y,
        int y_nhwc)
{
  int64_t total = n * c * p;

  tsk_with_index (total, [&] (auto i_) {
    typedef decltype (i_) I;
    auto k = convert_kernel<I, S, D>;
    TSK_LAUNCH (k, tsk_blocks (total), s) ((I) total, (I) c, (I) p, (const S *) x, x_nhwc,
                                          (D *) y, y_nhwc);
  });
}

extern "C" void
tsk_convert (cudaStream_t s, int64_t n, int64_t c, int64_t p, const void *x, int x_bf16,
             int x_nhwc, void *y, int y_bf16, int y_nhwc)
{
  if (n * c * p == 0)
    return;
  if (x_bf16)
    {
      if (y_bf16)
        launch<tsk_bf16, tsk_bf16> (s, n, c, p, x, x_nhwc, y, y_nhwc);
      else
        launch<tsk_bf16, float> (s, n, c, p, x, x_nhwc, y, y_nhwc);
    }
  else if (y_bf16)
    launch<float, tsk_bf16> (s, n, c, p, x, x_nhwc, y, y_nhwc);
  else
    launch<float, float> (s, n, c, p, x, x_nhwc, y, y_nhwc);
}
