/* ts-cuda-pool.cu: max pool and adaptive avg / max pool, as src/engine/cpu/ts-cpu-pool.c.
 * argmax is the index inside the input's own [H,W] plane (iy*W + ix).
 * Backward passes gather (one thread per input element, outputs visited in
 * increasing order, as the CPU's scatter adds them): no atomics, the same
 * sums bit for bit. */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

static __device__ __forceinline__ int
bin_start (int i, int in, int out)
{
  return (int) ((int64_t) i * in / out);
}

static __device__ __forceinline__ int
bin_end (int i, int in, int out)
{
  return (int) (((int64_t) (i + 1) * in + out - 1) / out);
}

/* I: the index type, int when the tensor is small enough (32-bit division
 * is several times cheaper than 64-bit, and these kernels divide per element) */
#define FOR_I(I, i, n) \
  for (I i = (I) blockIdx.x * (I) blockDim.x + (I) threadIdx.x; i < (n); \
       i += (I) blockDim.x * (I) gridDim.x)

template <typename I>
static __global__ void
maxpool_forward_kernel (I planes, int h, int w, int oh, int ow, int kh, int kw, int sh,
                        int sw, int ph, int pw, const float *x, float *y, int32_t *argmax)
{
  FOR_I (I, i, planes * oh * ow)
    {
      I q = i / ((I) oh * ow);
      int ox = (int) (i % ow), oy = (int) (i / ow % oh);
      const float *xp = x + q * h * w;
      float best = -INFINITY;
      int32_t idx = -1;
      /* PyTorch's tap order with a strict >: first maximum wins; a NaN gets in
       * and then stays (never hidden) */
      for (int ky = 0; ky < kh; ky++)
        {
          int iy = oy * sh - ph + ky;
          if (iy < 0 || iy >= h)
            continue;
          for (int kx = 0; kx < kw; kx++)
            {
              int ix = ox * sw - pw + kx;
              if (ix < 0 || ix >= w)
                continue;
              float v = xp[iy * w + ix];
              if (((v > best) || (v != v)) && (best == best))
                {
                  best = v;
                  idx = iy * w + ix;
                }
            }
        }
      if (idx < 0)
        {
          /* a window of -inf only: its first valid element */
          int iy = oy * sh - ph, ix = ox * sw - pw;
          iy = iy < 0 ? 0 : iy;
          ix = ix < 0 ? 0 : ix;
          if (iy < h && ix < w)
            {
              idx = iy * w + ix;
              best = xp[idx];
            }
          else
            best = 0.0f;
        }
      y[i] = best;
      argmax[i] = idx;
    }
}

template <typename I>
static __global__ void
maxpool_backward_kernel (I planes, int h, int w, int oh, int ow, int kh, int kw, int sh,
                         int sw, int ph, int pw, const int32_t *argmax, const float *dy,
                         float *dx)
{
  FOR_I (I, i, planes * h * w)
    {
      I q = i / ((I) h * w);
      int32_t at = (int32_t) (i % ((I) h * w));
      int iy = at / w, ix = at % w;
      const int32_t *am = argmax + q * oh * ow;
      const float *dq = dy + q * oh * ow;
      /* outputs whose window holds (iy, ix): oy*sh - ph <= iy <= oy*sh - ph + kh - 1;
       * the "-inf window" fallback can point at a clamped element, so the range
       * is widened by one window on each side and argmax decides */
      int oy0 = (iy + ph - kh) / sh - 1, oy1 = (iy + ph) / sh + 1;
      int ox0 = (ix + pw - kw) / sw - 1, ox1 = (ix + pw) / sw + 1;
      float acc = 0.0f;
      oy0 = oy0 < 0 ? 0 : oy0;
      ox0 = ox0 < 0 ? 0 : ox0;
      oy1 = oy1 >= oh ? oh - 1 : oy1;
      ox1 = ox1 >= ow ? ow - 1 : ox1;
      for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++)
          if (am[oy * ow + ox] == at)
            acc += dq[oy * ow + ox];
      dx[i] = acc;
    }
}

static __global__ void
adaptive_avg_forward_kernel (int64_t planes, int h, int w, int oh, int ow, const float *x,
                             float *y)
{
  TSK_FOR (i, planes * oh * ow)
    {
      int64_t q = i / ((int64_t) oh * ow);
      int ox = (int) (i % ow), oy = (int) (i / ow % oh);
      int ys = bin_start (oy, h, oh), ye = bin_end (oy, h, oh);
      int xs = bin_start (ox, w, ow), xe = bin_end (ox, w, ow);
      const float *xp = x + q * h * w;
      float s = 0.0f;
      for (int iy = ys; iy < ye; iy++)
        for (int ix = xs; ix < xe; ix++)
          s += xp[iy * w + ix];
      y[i] = s / (float) ((ye - ys) * (xe - xs));
    }
}

static __global__ void
adaptive_avg_backward_kernel (int64_t planes, int h, int w, int oh, int ow, const float *dy,
                              float *dx)
{
  TSK_FOR (i, planes * h * w)
    {
      int64_t q = i / ((int64_t) h * w);
      int ix = (int) (i % w), iy = (int) (i / w % h);
      const float *dq = dy + q * oh * ow;
      float acc = 0.0f;
      for (int oy = 0; oy < oh; oy++)
        {
          int ys = bin_start (oy, h, oh), ye = bin_end (oy, h, oh);
          if (iy < ys || iy >= ye)
            continue;
          for (int ox = 0; ox < ow; ox++)
            {
              int xs = bin_start (ox, w, ow), xe = bin_end (ox, w, ow);
              if (ix >= xs && ix < xe)
                acc += dq[oy * ow + ox] / (float) ((ye - ys) * (xe - xs));
            }
        }
      dx[i] = acc;
    }
}

static __global__ void
adaptive_max_forward_kernel (int64_t planes, int h, int w, int oh, int ow, const float *x,
                             float *y, int32_t *argmax)
{
  TSK_FOR (i, planes * oh * ow)
    {
      int64_t q = i / ((int64_t) oh * ow);
      int ox = (int) (i % ow), oy = (int) (i / ow % oh);
      int ys = bin_start (oy, h, oh), ye = bin_end (oy, h, oh);
      int xs = bin_start (ox, w, ow), xe = bin_end (ox, w, ow);
      const float *xp = x + q * h * w;
      float best = -INFINITY;
      int32_t idx = -1;
      for (int iy = ys; iy < ye; iy++)
        for (int ix = xs; ix < xe; ix++)
          {
            float v = xp[iy * w + ix];
            if (idx < 0 || v > best || (isnan (v) && !isnan (best)))
              {
                best = v;
                idx = iy * w + ix;
              }
          }
      y[i] = idx < 0 ? 0.0f : best;
      argmax[i] = idx;
    }
}

static __global__ void
adaptive_max_backward_kernel (int64_t planes, int h, int w, int oh, int ow,
                              const int32_t *argmax, const float *dy, float *dx)
{
  TSK_FOR (i, planes * h * w)
    {
      int64_t q = i / ((int64_t) h * w);
      int32_t at = (int32_t) (i % ((int64_t) h * w));
      int iy = at / w, ix = at % w;
      const int32_t *am = argmax + q * oh * ow;
      const float *dq = dy + q * oh * ow;
      float acc = 0.0f;
      for (int oy = 0; oy < oh; oy++)
        {
          if (iy < bin_start (oy, h, oh) || iy >= bin_end (oy, h, oh))
            continue;
          for (int ox = 0; ox < ow; ox++)
            if (ix >= bin_start (ox, w, ow) && ix < bin_end (ox, w, ow)
                && am[oy * ow + ox] == at)
              acc += dq[oy * ow + ox];
        }
      dx[i] = acc;
    }
}

extern "C" void
tsk_maxpool_forward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow, int kh,
                     int kw, int sh, int sw, int ph, int pw, const float *x, float *y,
                     int32_t *argmax)
{
  int64_t n = planes * oh * ow, in = planes * h * w;
  /* int indices while no index (in or out) comes near 2^31 */
  if (n > 0 && n < (1LL << 30) && in < (1LL << 30))
    TSK_LAUNCH (maxpool_forward_kernel<int>, tsk_blocks (n), s) ((int) planes, h, w, oh, ow, kh,
                                                                kw, sh, sw, ph, pw, x, y, argmax);
  else if (n > 0)
    TSK_LAUNCH (maxpool_forward_kernel<int64_t>, tsk_blocks (n), s) (planes, h, w, oh, ow, kh,
                                                                    kw, sh, sw, ph, pw, x, y,
                                                                    argmax);
}

extern "C" void
tsk_maxpool_backward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow, int kh,
                      int kw, int sh, int sw, int ph, int pw, const int32_t *argmax,
                      const float *dy, float *dx)
{
  int64_t n = planes * h * w, out = planes * oh * ow;
  if (n > 0 && n < (1LL << 30) && out < (1LL << 30))
    TSK_LAUNCH (maxpool_backward_kernel<int>, tsk_blocks (n), s) ((int) planes, h, w, oh, ow, kh,
                                                                 kw, sh, sw, ph, pw, argmax, dy,
                                                                 dx);
  else if (n > 0)
    TSK_LAUNCH (maxpool_backward_kernel<int64_t>, tsk_blocks (n), s) (planes, h, w, oh, ow, kh,
                                                                     kw, sh, sw, ph, pw, argmax,
                                                                     dy, dx);
}

extern "C" void
tsk_adaptive_avg_forward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                          const float *x, float *y)
{
  int64_t n = planes * oh * ow;
  if (n > 0)
    TSK_LAUNCH (adaptive_avg_forward_kernel, tsk_blocks (n), s) (planes, h, w, oh, ow, x,
                                                                        y);
}

extern "C" void
tsk_adaptive_avg_backward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                           const float *dy, float *dx)
{
  int64_t n = planes * h * w;
  if (n > 0)
    TSK_LAUNCH (adaptive_avg_backward_kernel, tsk_blocks (n), s) (planes, h, w, oh, ow,
                                                                         dy, dx);
}

extern "C" void
tsk_adaptive_max_forward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                          const float *x, float *y, int32_t *argmax)
{
  int64_t n = planes * oh * ow;
  if (n > 0)
    TSK_LAUNCH (adaptive_max_forward_kernel, tsk_blocks (n), s) (planes, h, w, oh, ow, x,
                                                                        y, argmax);
}

extern "C" void
tsk_adaptive_max_backward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                           const int32_t *argmax, const float *dy, float *dx)
{
  int64_t n = planes * h * w;
  if (n > 0)
    TSK_LAUNCH (adaptive_max_backward_kernel, tsk_blocks (n), s) (planes, h, w, oh, ow,
                                                                         argmax, dy, dx);
}
