/* ts-cuda-pool.cu: max pool and adaptive avg / max pool, as src/engine/cpu/ts-cpu-pool.c,
 * in float32 NCHW and in the bf16 precision policy's bfloat16 NHWC.
 * argmax is the index inside the input's own [H,W] plane (iy*W + ix).
 * Backward passes gather (one thread per input element, outputs visited in
 * increasing order, as the CPU's scatter adds them): no atomics, the same
 * sums bit for bit. */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

/* I: the index type, int when the tensor is small enough (pool_int_index:
 * 32-bit division is several times cheaper than 64-bit, and these kernels
 * divide per element) */

/* adaptive bin i of @out over @in: [bin_start, bin_end), PyTorch's; the
 * products stay below (in + 1) * out */
template <typename I>
static __device__ __forceinline__ int
bin_start (int i, int in, int out)
{
  return (int) ((I) i * in / out);
}

template <typename I>
static __device__ __forceinline__ int
bin_end (int i, int in, int out)
{
  return (int) (((I) (i + 1) * in + out - 1) / out);
}

/* Layouts.  Every kernel is templated on the storage types (float or
 * tsk_bf16, math in float, one rounding at the store) and on NHWC, the
 * layout of the tensor its threads walk.  An NCHW stack of N*C planes is
 * the NHWC form of N*C one-channel images, so one walk serves both: with
 * cc channels (cc = C in NHWC, 1 in NCHW, a constant the compiler folds
 * away) thread i handles channel i % cc of pixel i / cc, so in NHWC
 * consecutive threads read and write consecutive channels of one pixel
 * (coalesced).  The float32 NCHW forms compute exactly what they did before
 * these templates, in the same order. */
template <typename I>
static __device__ __forceinline__ void
walk_at (I i, I cc, int h, int w, I *img, I *ch, int *y, int *x)
{
  I pix = i / cc;
  *ch = i % cc;
  *x = (int) (pix % w);
  *y = (int) (pix / w % h);
  *img = pix / ((I) h * w);
}

/* Element (y, x) of plane (img, ch) of an [h, w] tensor lies at
 * base + (y * w + x) * step.  SAME: the tensor is in the walk's layout
 * (channels fastest in NHWC); else it is NCHW under an NHWC walk (an
 * adaptive pool's float32 output), its planes whole. */
template <typename I>
struct plane_ref {
  I base, step;
};

template <bool SAME, typename I>
static __device__ __forceinline__ plane_ref<I>
plane_of (I img, I ch, I cc, int h, int w)
{
  plane_ref<I> r;
  if (SAME)
    r.base = img * h * w * cc + ch, r.step = cc;
  else
    r.base = (img * cc + ch) * h * w, r.step = 1;
  return r;
}

/* argmax is laid out as y (NHWC for an NHWC y); its values are the CPU's,
 * iy*W + ix inside the input plane */
template <typename I, typename T, bool NHWC>
static __global__ void
maxpool_forward_kernel (I planes, I c, int h, int w, int oh, int ow, int kh, int kw, int sh,
                        int sw, int ph, int pw, const T *x, T *y, int32_t *argmax)
{
  const I cc = NHWC ? c : (I) 1;
  TSK_FOR_I (I, i, planes * oh * ow)
    {
      I img, ch;
      int oy, ox;
      walk_at<I> (i, cc, oh, ow, &img, &ch, &oy, &ox);
      plane_ref<I> xp = plane_of<true, I> (img, ch, cc, h, w);
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
              float v = tsk_ld (x, xp.base + (I) (iy * w + ix) * xp.step);
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
              best = tsk_ld (x, xp.base + (I) idx * xp.step);
            }
          else
            best = 0.0f;
        }
      tsk_st (y, i, best);
      argmax[i] = idx;
    }
}

/* Along one axis, the outputs [*lo, *hi] (none when *lo > *hi) whose argmax
 * can be input row @i, for the window k, stride s, padding p, and @on
 * outputs.  Output o's window is [o*s - p, o*s - p + k - 1], so those that
 * hold i are o in [ceil ((i + p - k + 1) / s), floor ((i + p) / s)]: 1 or 2
 * of them for resnet's 3x3/2 pool.  The forward's fallback for a window of
 * -inf only (or of padding only) is its first element clamped to the input,
 * max (o*s - p, 0): inside the window unless the window lies wholly in the
 * padding before the input (p >= k), when it is row 0; so row 0 takes every
 * window that starts before the input, o*s < p, as well.  i + p >= 0, so
 * the divisions below never see a negative numerator (C's / would round
 * it towards zero). */
static __device__ __forceinline__ void
argmax_rows (int i, int k, int s, int p, int on, int *lo, int *hi)
{
  int first = i + p - k + 1;   /* the start of the lowest window holding i, times s */
  *lo = i == 0 || first <= 0 ? 0 : (first + s - 1) / s;
  *hi = (i + p) / s;
  *hi = *hi > on - 1 ? on - 1 : *hi;
}

/* one thread per dx element, as the file's header says; the candidates in
 * increasing order, as the CPU adds them */
template <typename I, typename T, bool NHWC>
static __global__ void
maxpool_backward_kernel (I planes, I c, int h, int w, int oh, int ow, int kh, int kw, int sh,
                         int sw, int ph, int pw, const int32_t *argmax, const T *dy, T *dx)
{
  const I cc = NHWC ? c : (I) 1;
  TSK_FOR_I (I, i, planes * h * w)
    {
      I img, ch;
      int iy, ix;
      walk_at<I> (i, cc, h, w, &img, &ch, &iy, &ix);
      int32_t at = iy * w + ix;
      plane_ref<I> yp = plane_of<true, I> (img, ch, cc, oh, ow);
      int oy0, oy1, ox0, ox1;
      float acc = 0.0f;
      argmax_rows (iy, kh, sh, ph, oh, &oy0, &oy1);
      argmax_rows (ix, kw, sw, pw, ow, &ox0, &ox1);
      for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++)
          {
            I o = yp.base + (I) (oy * ow + ox) * yp.step;
            if (argmax[o] == at)
              acc += tsk_ld (dy, o);
          }
      tsk_st (dx, i, acc);
    }
}

/* Output element @i of an adaptive pool: its bin of x (rows ys..ye-1,
 * columns xs..xe-1 of x's plane xp) and its place in y */
template <typename I>
struct bin_cell {
  int ys, ye, xs, xe;
  plane_ref<I> xp;
  I o;
};

template <typename I, bool NHWC, bool Y_NHWC>
static __device__ __forceinline__ bin_cell<I>
bin_at (I i, I c, int h, int w, int oh, int ow)
{
  const I cc = NHWC ? c : (I) 1;
  bin_cell<I> b;
  I img, ch;
  int oy, ox;
  walk_at<I> (i, cc, oh, ow, &img, &ch, &oy, &ox);
  b.ys = bin_start<I> (oy, h, oh), b.ye = bin_end<I> (oy, h, oh);
  b.xs = bin_start<I> (ox, w, ow), b.xe = bin_end<I> (ox, w, ow);
  b.xp = plane_of<true, I> (img, ch, cc, h, w);
  plane_ref<I> yp = plane_of<NHWC == Y_NHWC, I> (img, ch, cc, oh, ow);
  b.o = yp.base + (I) (oy * ow + ox) * yp.step;
  return b;
}

/* TX: x's type, walked in its layout (NHWC); TY and Y_NHWC: y's (and
 * argmax's).  The instances: float NCHW to float NCHW, bf16 NHWC to float
 * NCHW (the head, [N, C] for a 1x1 output) or to bf16 NHWC. */
template <typename I, typename TX, typename TY, bool NHWC, bool Y_NHWC>
static __global__ void
adaptive_avg_forward_kernel (I planes, I c, int h, int w, int oh, int ow,
                             const TX *x, TY *y)
{
  TSK_FOR_I (I, i, planes * oh * ow)
    {
      bin_cell<I> b = bin_at<I, NHWC, Y_NHWC> (i, c, h, w, oh, ow);
      float s = 0.0f;
      for (int iy = b.ys; iy < b.ye; iy++)
        for (int ix = b.xs; ix < b.xe; ix++)
          s += tsk_ld (x, b.xp.base + (I) (iy * w + ix) * b.xp.step);
      tsk_st (y, b.o, s / (float) ((b.ye - b.ys) * (b.xe - b.xs)));
    }
}

/* walks dx (TX, NHWC); dy is TY in Y_NHWC */
template <typename I, typename TY, typename TX, bool NHWC, bool Y_NHWC>
static __global__ void
adaptive_avg_backward_kernel (I planes, I c, int h, int w, int oh, int ow,
                              const TY *dy, TX *dx)
{
  const I cc = NHWC ? c : (I) 1;
  TSK_FOR_I (I, i, planes * h * w)
    {
      I img, ch;
      int iy, ix;
      walk_at<I> (i, cc, h, w, &img, &ch, &iy, &ix);
      plane_ref<I> yp = plane_of<NHWC == Y_NHWC, I> (img, ch, cc, oh, ow);
      float acc = 0.0f;
      for (int oy = 0; oy < oh; oy++)
        {
          int ys = bin_start<I> (oy, h, oh), ye = bin_end<I> (oy, h, oh);
          if (iy < ys || iy >= ye)
            continue;
          for (int ox = 0; ox < ow; ox++)
            {
              int xs = bin_start<I> (ox, w, ow), xe = bin_end<I> (ox, w, ow);
              if (ix >= xs && ix < xe)
                acc += tsk_ld (dy, yp.base + (I) (oy * ow + ox) * yp.step)
                       / (float) ((ye - ys) * (xe - xs));
            }
        }
      tsk_st (dx, i, acc);
    }
}

template <typename I, typename TX, typename TY, bool NHWC, bool Y_NHWC>
static __global__ void
adaptive_max_forward_kernel (I planes, I c, int h, int w, int oh, int ow,
                             const TX *x, TY *y, int32_t *argmax)
{
  TSK_FOR_I (I, i, planes * oh * ow)
    {
      bin_cell<I> b = bin_at<I, NHWC, Y_NHWC> (i, c, h, w, oh, ow);
      I o = b.o;
      float best = -INFINITY;
      int32_t idx = -1;
      for (int iy = b.ys; iy < b.ye; iy++)
        for (int ix = b.xs; ix < b.xe; ix++)
          {
            float v = tsk_ld (x, b.xp.base + (I) (iy * w + ix) * b.xp.step);
            if (idx < 0 || v > best || (isnan (v) && !isnan (best)))
              {
                best = v;
                idx = iy * w + ix;
              }
          }
      tsk_st (y, o, idx < 0 ? 0.0f : best);
      argmax[o] = idx;
    }
}

template <typename I, typename TY, typename TX, bool NHWC, bool Y_NHWC>
static __global__ void
adaptive_max_backward_kernel (I planes, I c, int h, int w, int oh, int ow,
                              const int32_t *argmax, const TY *dy, TX *dx)
{
  const I cc = NHWC ? c : (I) 1;
  TSK_FOR_I (I, i, planes * h * w)
    {
      I img, ch;
      int iy, ix;
      walk_at<I> (i, cc, h, w, &img, &ch, &iy, &ix);
      int32_t at = iy * w + ix;
      plane_ref<I> yp = plane_of<NHWC == Y_NHWC, I> (img, ch, cc, oh, ow);
      float acc = 0.0f;
      for (int oy = 0; oy < oh; oy++)
        {
          if (iy < bin_start<I> (oy, h, oh) || iy >= bin_end<I> (oy, h, oh))
            continue;
          for (int ox = 0; ox < ow; ox++)
            {
              I o = yp.base + (I) (oy * ow + ox) * yp.step;
              if (ix >= bin_start<I> (ox, w, ow) && ix < bin_end<I> (ox, w, ow) && argmax[o] == at)
                acc += tsk_ld (dy, o);
            }
        }
      tsk_st (dx, i, acc);
    }
}

/* ---- launchers: planes = N*C, c = C (used by the NHWC forms only) ---- */

/* int indices when no index (into x or y) nor a bin product comes near 2^31 */
static int
pool_int_index (int64_t planes, int h, int w, int oh, int ow)
{
  int64_t big = planes * h * w, out = planes * oh * ow;
  big = out > big ? out : big;
  big = (int64_t) (h + 1) * oh > big ? (int64_t) (h + 1) * oh : big;
  big = (int64_t) (w + 1) * ow > big ? (int64_t) (w + 1) * ow : big;
  return tsk_int_index (big);
}

/* One thread per element of the @n walked: k32 (the kernel's int form)
 * when the sizes allow, else k64; every kernel here starts with (planes, c,
 * h, w, oh, ow), then its own arguments @args. */
template <typename... A, typename... B>
static void
pool_launch (cudaStream_t s, int64_t n, void (*k32) (int, int, int, int, int, int, A...),
             void (*k64) (int64_t, int64_t, int, int, int, int, A...), int64_t planes,
             int64_t c, int h, int w, int oh, int ow, B... args)
{
  if (n <= 0)
    return;
  if (pool_int_index (planes, h, w, oh, ow))
    TSK_LAUNCH (k32, tsk_blocks (n), s) ((int) planes, (int) c, h, w, oh, ow, args...);
  else
    TSK_LAUNCH (k64, tsk_blocks (n), s) (planes, c, h, w, oh, ow, args...);
}

template <typename T, bool NHWC>
static void
maxpool_fwd (cudaStream_t s, int64_t planes, int64_t c, int h, int w, int oh, int ow, int kh,
             int kw, int sh, int sw, int ph, int pw, const T *x, T *y, int32_t *argmax)
{
  pool_launch (s, planes * oh * ow, maxpool_forward_kernel<int, T, NHWC>,
               maxpool_forward_kernel<int64_t, T, NHWC>, planes, c, h, w, oh, ow, kh, kw, sh, sw,
               ph, pw, x, y, argmax);
}

template <typename T, bool NHWC>
static void
maxpool_bwd (cudaStream_t s, int64_t planes, int64_t c, int h, int w, int oh, int ow, int kh,
             int kw, int sh, int sw, int ph, int pw, const int32_t *argmax, const T *dy, T *dx)
{
  pool_launch (s, planes * h * w, maxpool_backward_kernel<int, T, NHWC>,
               maxpool_backward_kernel<int64_t, T, NHWC>, planes, c, h, w, oh, ow, kh, kw, sh,
               sw, ph, pw, argmax, dy, dx);
}

extern "C" void
tsk_maxpool_forward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow, int kh,
                     int kw, int sh, int sw, int ph, int pw, const float *x, float *y,
                     int32_t *argmax)
{
  maxpool_fwd<float, false> (s, planes, 1, h, w, oh, ow, kh, kw, sh, sw, ph, pw, x, y, argmax);
}

extern "C" void
tsk_maxpool_backward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow, int kh,
                      int kw, int sh, int sw, int ph, int pw, const int32_t *argmax,
                      const float *dy, float *dx)
{
  maxpool_bwd<float, false> (s, planes, 1, h, w, oh, ow, kh, kw, sh, sw, ph, pw, argmax, dy,
                             dx);
}

extern "C" void
tsk_maxpool_forward_nhwc (cudaStream_t s, int64_t n, int64_t c, int h, int w, int oh, int ow,
                          int kh, int kw, int sh, int sw, int ph, int pw, const uint16_t *x,
                          uint16_t *y, int32_t *argmax)
{
  maxpool_fwd<tsk_bf16, true> (s, n * c, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, x, y, argmax);
}

extern "C" void
tsk_maxpool_backward_nhwc (cudaStream_t s, int64_t n, int64_t c, int h, int w, int oh, int ow,
                           int kh, int kw, int sh, int sw, int ph, int pw,
                           const int32_t *argmax, const uint16_t *dy, uint16_t *dx)
{
  maxpool_bwd<tsk_bf16, true> (s, n * c, c, h, w, oh, ow, kh, kw, sh, sw, ph, pw, argmax, dy,
                               dx);
}

/* The adaptive pools' instances: float32 NCHW to float32 NCHW, and a bf16
 * NHWC x to a float32 NCHW y (@y_bf16 0) or a bf16 NHWC one (1), dy as y.
 * ADAPTIVE (kernel, <types>) names the int and int64_t forms. */
#define ADAPTIVE(kernel, ...) kernel<int, __VA_ARGS__>, kernel<int64_t, __VA_ARGS__>

extern "C" void
tsk_adaptive_avg_forward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                          const float *x, float *y)
{
  pool_launch (s, planes * oh * ow, ADAPTIVE (adaptive_avg_forward_kernel, float, float, false,
                                              false), planes, 1, h, w, oh, ow, x, y);
}

extern "C" void
tsk_adaptive_avg_backward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                           const float *dy, float *dx)
{
  pool_launch (s, planes * h * w, ADAPTIVE (adaptive_avg_backward_kernel, float, float, false,
                                            false), planes, 1, h, w, oh, ow, dy, dx);
}

extern "C" void
tsk_adaptive_max_forward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                          const float *x, float *y, int32_t *argmax)
{
  pool_launch (s, planes * oh * ow, ADAPTIVE (adaptive_max_forward_kernel, float, float, false,
                                              false), planes, 1, h, w, oh, ow, x, y, argmax);
}

extern "C" void
tsk_adaptive_max_backward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                           const int32_t *argmax, const float *dy, float *dx)
{
  pool_launch (s, planes * h * w, ADAPTIVE (adaptive_max_backward_kernel, float, float, false,
                                            false), planes, 1, h, w, oh, ow, argmax, dy, dx);
}

extern "C" void
tsk_adaptive_avg_forward_nhwc (cudaStream_t s, int64_t n, int64_t c, int h, int w, int oh,
                               int ow, const uint16_t *x, void *y, int y_bf16)
{
  if (y_bf16)
    pool_launch (s, n * c * oh * ow,
                 ADAPTIVE (adaptive_avg_forward_kernel, tsk_bf16, tsk_bf16, true, true), n * c,
                 c, h, w, oh, ow, x, (tsk_bf16 *) y);
  else
    pool_launch (s, n * c * oh * ow,
                 ADAPTIVE (adaptive_avg_forward_kernel, tsk_bf16, float, true, false), n * c, c,
                 h, w, oh, ow, x, (float *) y);
}

extern "C" void
tsk_adaptive_avg_backward_nhwc (cudaStream_t s, int64_t n, int64_t c, int h, int w, int oh,
                                int ow, const void *dy, int dy_bf16, uint16_t *dx)
{
  if (dy_bf16)
    pool_launch (s, n * c * h * w,
                 ADAPTIVE (adaptive_avg_backward_kernel, tsk_bf16, tsk_bf16, true, true), n * c,
                 c, h, w, oh, ow, (const tsk_bf16 *) dy, dx);
  else
    pool_launch (s, n * c * h * w,
                 ADAPTIVE (adaptive_avg_backward_kernel, float, tsk_bf16, true, false), n * c,
                 c, h, w, oh, ow, (const float *) dy, dx);
}

extern "C" void
tsk_adaptive_max_forward_nhwc (cudaStream_t s, int64_t n, int64_t c, int h, int w, int oh,
                               int ow, const uint16_t *x, void *y, int y_bf16, int32_t *argmax)
{
  if (y_bf16)
    pool_launch (s, n * c * oh * ow,
                 ADAPTIVE (adaptive_max_forward_kernel, tsk_bf16, tsk_bf16, true, true), n * c,
                 c, h, w, oh, ow, x, (tsk_bf16 *) y, argmax);
  else
    pool_launch (s, n * c * oh * ow,
                 ADAPTIVE (adaptive_max_forward_kernel, tsk_bf16, float, true, false), n * c, c,
                 h, w, oh, ow, x, (float *) y, argmax);
}

extern "C" void
tsk_adaptive_max_backward_nhwc (cudaStream_t s, int64_t n, int64_t c, int h, int w, int oh,
                                int ow, const int32_t *argmax, const void *dy, int dy_bf16,
                                uint16_t *dx)
{
  if (dy_bf16)
    pool_launch (s, n * c * h * w,
                 ADAPTIVE (adaptive_max_backward_kernel, tsk_bf16, tsk_bf16, true, true), n * c,
                 c, h, w, oh, ow, argmax, (const tsk_bf16 *) dy, dx);
  else
    pool_launch (s, n * c * h * w,
                 ADAPTIVE (adaptive_max_backward_kernel, float, tsk_bf16, true, false), n * c,
                 c, h, w, oh, ow, argmax, (const float *) dy, dx);
}
