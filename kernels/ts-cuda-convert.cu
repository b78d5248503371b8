/* ts-cuda-convert.cu: a tensor's dtype (float32 / bfloat16) and layout
 * (NCHW / NHWC) changed in one pass, for the bf16 precision policy: the
 * input batch into the body's bf16 NHWC, each convolution's float32 KCRS
 * weights into the bf16 KRSC that cuDNN's tensor-core kernels take, and
 * their bf16 gradients back, and tensors to and from the host. */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

/* Index of logical element (n, c, p) of an [N, C, P] tensor (P = H*W). */
static __device__ __forceinline__ int64_t
at (int nhwc, int64_t c_count, int64_t p_count, int64_t n, int64_t c, int64_t p)
{
  return nhwc ? (n * p_count + p) * c_count + c : (n * c_count + c) * p_count + p;
}

/* One thread per destination element, walked in the destination's order so
 * that writes are contiguous. */
template <typename S, typename D>
static __global__ void
convert_kernel (int64_t total, int64_t c_count, int64_t p_count, const S *x, int x_nhwc, D *y,
                int y_nhwc)
{
  TSK_FOR (i, total)
    {
      int64_t n, c, p;
      if (y_nhwc)
        {
          c = i % c_count;
          p = (i / c_count) % p_count;
          n = i / (c_count * p_count);
        }
      else
        {
          p = i % p_count;
          c = (i / p_count) % c_count;
          n = i / (c_count * p_count);
        }
      tsk_st (y, i, tsk_ld (x, at (x_nhwc, c_count, p_count, n, c, p)));
    }
}

template <typename S, typename D>
static void
launch (cudaStream_t s, int64_t n, int64_t c, int64_t p, const void *x, int x_nhwc, void *y,
        int y_nhwc)
{
  int64_t total = n * c * p;
  void (*kernel) (int64_t, int64_t, int64_t, const S *, int, D *, int) = convert_kernel<S, D>;
  TSK_LAUNCH (kernel, tsk_blocks (total), s) (total, c, p, (const S *) x, x_nhwc, (D *) y, y_nhwc);
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
