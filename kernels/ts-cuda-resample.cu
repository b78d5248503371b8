/* ts-cuda-resample.cu: the loader's last step for a batch (ts-resample.h), one
 * thread per output pixel writing its three channels.  The coordinates and the
 * bilinear sample are ts-resample.h's own functions, so the host and the device
 * cannot drift apart; lighting is the exact formula per pixel where the host
 * reads an interpolated table (within 2e-3 after Normalize, see ts-resample.c). */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

/* I: the index type, int when the batch is small enough (32-bit division is
 * several times cheaper than 64-bit, and every pixel divides) */
template <typename I>
static __global__ void
resample_kernel (I n, int size, const uint8_t *src, const ts_resample_item *items,
                 tsk_normalize nz, float *out)
{
  const I plane = (I) size * size;

  for (I i = (I) blockIdx.x * (I) blockDim.x + (I) threadIdx.x; i < n * plane;
       i += (I) blockDim.x * (I) gridDim.x)
    {
      I img = i / plane, p = i % plane;
      const ts_resample_item *it = &items[img];
      float *o = out + img * 3 * plane + p;
      float sx, sy, v[3];

      ts_resample_coords (it, (int) (p % size), (int) (p / size), &sx, &sy);
      ts_resample_sample (src + it->offset, it, sx, sy, v);
      for (int c = 0; c < 3; c++)
        {
          float x = (it->flags & TS_RESAMPLE_LIGHTING)
                      ? ts_resample_light (v[c] * (1.0f / 255.0f), it->brightness_logit,
                                           it->contrast) * nz.scale[c]
                      : v[c] * (nz.scale[c] / 255.0f);
          o[c * plane] = x + nz.shift[c];
        }
    }
}

extern "C" void
tsk_resample (cudaStream_t s, int n, int size, const uint8_t *src,
              const ts_resample_item *items, const tsk_normalize *nz, float *out)
{
  int64_t total = (int64_t) n * size * size;

  /* int indices while no output offset (3 * total) nor the grid-stride step
   * past the last pixel comes near 2^31 */
  if (total > 0 && 3 * total < (1LL << 30))
    TSK_LAUNCH (resample_kernel<int>, tsk_blocks (total), s) (n, size, src, items, *nz, out);
  else if (total > 0)
    TSK_LAUNCH (resample_kernel<int64_t>, tsk_blocks (total), s) ((int64_t) n, size, src, items,
                                                                  *nz, out);
}
