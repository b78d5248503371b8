/* ts-cuda-bn-nhwc.cu: batch norm (and batch norm + ReLU / ReLU6) over
 * bfloat16 activations in NHWC, for the bf16 precision policy
 * (docs/cuda.md).  The semantics are ts-cuda-batchnorm.cu's, and so the CPU
 * backend's; only the storage of x, y, dy and dx is bfloat16: values are
 * computed in float, the statistics summed in double, and the parameters,
 * statistics and their gradients stay float32.
 *
 * NHWC makes the channel the fastest index: the tensor is `rows` = N*H*W
 * pixels of C channels each.  Every pass maps a block's threads to a tile
 * of `lanes` threads along C (consecutive channels of one pixel, V channels
 * a thread, so a warp reads one contiguous run of memory: several whole
 * pixels when C is small) by 256 / lanes pixels, and walks down the pixels;
 * a thread's channels, and so its coefficients, never change.
 *
 * Training statistics take three launches, as in NCHW: partial sums of
 * x - K (K the channel's first element) per channel over a contiguous
 * range of pixels per block, reduced over the block's pixel threads by a
 * fixed tree (no atomics: results repeat bit for bit); then
 * ts-cuda-bn.cuh's one thread per channel adds the partials in a fixed
 * order; then one elementwise pass. */
#include "ts-cuda-bn.cuh"
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

/* Threads along C a block tile has at most: one warp (512 bytes of a pixel
 * at V = 8); a wider C takes more channel groups, so more blocks, rather
 * than fewer pixels a block. */
#define NHWC_MAX_LANES 32

/* ---- geometry ---- */

/* A block's threads as a tile: thread t takes lane l0 = t % step of the
 * channel group and pixel t / step of each @per; step = min (lanes,
 * blockDim) (both powers of two), so on a GPU every thread has one lane
 * and in the host emulation (one thread) the thread loops over them all. */
typedef struct {
  int step, l0, sub, per;
} nhwc_walk;

static __device__ __forceinline__ nhwc_walk
nhwc_walk_for (int lanes)
{
  nhwc_walk w;
  int bd = (int) blockDim.x;
  w.step = lanes < bd ? lanes : bd;
  w.l0 = (int) threadIdx.x % w.step;
  w.sub = (int) threadIdx.x / w.step;
  w.per = bd / w.step;
  return w;
}

/* How the launches cover C channels at V a thread: @lanes threads (a power
 * of two, at most a warp) over the C / V vectors of a pixel, in @groups
 * groups of lanes * V channels. */
typedef struct {
  int v, lanes, groups;
} nhwc_geom;

static nhwc_geom
nhwc_geom_for (int64_t c, int v)
{
  nhwc_geom g;
  int64_t cv = c / v;
  g.v = v;
  g.lanes = 1;
  while (g.lanes < cv && g.lanes < NHWC_MAX_LANES)
    g.lanes *= 2;
  g.groups = (int) ((cv + g.lanes - 1) / g.lanes);
  return g;
}

/* The widest V of 8, 4, 2 that divides C with every tensor (NULL: unused)
 * at a multiple of 2 V bytes (a pixel then starts aligned too). */
static int
nhwc_vec_width (int64_t c, const void *a, const void *b, const void *d, const void *e)
{
  const void *p[4] = { a, b, d, e };
  for (int v = 8; v > 1; v /= 2)
    {
      int ok = c % v == 0;
      for (int i = 0; i < 4 && ok; i++)
        ok = ((uintptr_t) p[i] & (uintptr_t) (2 * v - 1)) == 0;
      if (ok)
        return v;
    }
  return 1;
}

/* Blocks per channel group for the partial sums: about 1024 blocks in all,
 * each thread with at least 4 pixels on a GPU's 256-thread block. */
static int
nhwc_splits (int64_t rows, nhwc_geom g)
{
  int64_t per = TSK_THREADS / g.lanes;
  int64_t s = (1024 + g.groups - 1) / g.groups, by_work = rows / (4 * per);
  if (s > by_work)
    s = by_work;
  return s < 1 ? 1 : (int) s;
}

/* Blocks of an elementwise pass: groups x enough pixel blocks, at most
 * about 4096 blocks (grid-stride beyond). */
static unsigned int
nhwc_blocks (int64_t rows, nhwc_geom g)
{
  int64_t per = TSK_THREADS / g.lanes, rb = (rows + per - 1) / per, cap = 4096 / g.groups;
  if (rb > cap)
    rb = cap;
  if (rb < 1)
    rb = 1;
  return (unsigned int) (rb * g.groups);
}

extern "C" size_t
tsk_bn_nhwc_work_floats (int64_t n, int64_t c, int64_t plane)
{
  /* two doubles of partials per channel and split, then four floats per
   * channel; the splits depend on the vector width, so the most of any */
  int64_t most = 1;
  for (int v = 1; v <= 8; v *= 2)
    if (c % v == 0)
      {
        int64_t s = nhwc_splits (n * plane, nhwc_geom_for (c, v));
        most = s > most ? s : most;
      }
  return (size_t) (4 * c * most + 4 * c);
}

/* ---- kernels ---- */

/* Block b = group * splits + split, over its group's channels and its
 * split's range of pixels:
 *   forward: sums of x - K and (x - K)^2, K = x's first pixel;
 *   BACKWARD: sums of dy and dy (x - K), K = @shift_by (the saved mean),
 *     dy taken through the activation @act from its output @y_act;
 * into part[ch * splits + split] and part[c * splits + ch * splits + split].
 * (Two kernels below, so that the forward one does not hold the backward's
 * registers.) */
template <int V, bool BACKWARD>
static __device__ __forceinline__ void
bn_nhwc_partial (int64_t rows, int c, int lanes, int splits, const tsk_bf16 *x,
                 const tsk_bf16 *dy, const float *shift_by, int act, const tsk_bf16 *y_act,
                 double *part)
{
  /* [2V][blockDim]: sum q of thread t at q * blockDim + t */
  TSK_SHARED (double, buf, 2 * V * TSK_THREADS);
  int grp = (int) blockIdx.x / splits, sp = (int) blockIdx.x % splits;
  int64_t r0 = rows * sp / splits, r1 = rows * (sp + 1) / splits;
  int bd = (int) blockDim.x, t = (int) threadIdx.x;
  nhwc_walk w = nhwc_walk_for (lanes);

  /* the same trip count in every thread: the barriers below are reached by all */
  for (int l = w.l0; l < lanes; l += w.step)
    {
      int vi = grp * lanes + l, ch0 = vi * V;
      bool live = ch0 < c;
      /* every element summed in double (the NCHW kernels sum a row in float
       * first): a thread here sees only V elements of a pixel */
      double s1[V], s2[V];
      float k[V];

      for (int j = 0; j < V; j++)
        {
          s1[j] = s2[j] = 0.0;
          k[j] = !live ? 0.0f : shift_by ? shift_by[ch0 + j] : tsk_bf16_to_f32 (x[ch0 + j]);
        }
      if (live)
        for (int64_t r = r0 + w.sub; r < r1; r += w.per)
          {
            int64_t at = r * c + ch0;
            float xv[V], gv[V], yv[V];
            tsk_load_v<V> (x + at, xv);
            if constexpr (!BACKWARD)
              for (int j = 0; j < V; j++)
                {
                  float d = xv[j] - k[j];
                  s1[j] += d;
                  s2[j] += (double) d * d;
                }
            else
              {
                tsk_load_v<V> (dy + at, gv);
                if (act >= 0)
                  tsk_load_v<V> (y_act + at, yv);
                for (int j = 0; j < V; j++)
                  {
                    float g = act >= 0 ? tsk_relu_act_grad (act, yv[j], gv[j]) : gv[j];
                    s1[j] += g;
                    s2[j] += (double) g * (xv[j] - k[j]);
                  }
              }
          }
      /* the tree over the w.per threads of this lane (t, t + step, ...) */
      for (int j = 0; j < V; j++)
        {
          buf[j * bd + t] = s1[j];
          buf[(V + j) * bd + t] = s2[j];
        }
      __syncthreads ();
      for (int h = w.per / 2; h > 0; h >>= 1)
        {
          if (w.sub < h)
            for (int q = 0; q < 2 * V; q++)
              buf[q * bd + t] += buf[q * bd + t + h * w.step];
          __syncthreads ();
        }
      if (w.sub == 0 && live)
        for (int j = 0; j < V; j++)
          {
            part[(int64_t) (ch0 + j) * splits + sp] = buf[j * bd + t];
            part[(int64_t) c * splits + (int64_t) (ch0 + j) * splits + sp] = buf[(V + j) * bd + t];
          }
      __syncthreads ();   /* buf is refilled for the next lane */
    }
}

template <int V>
static __global__ void
bn_nhwc_stats_kernel (int64_t rows, int c, int lanes, int splits, const tsk_bf16 *x,
                      double *part)
{
  bn_nhwc_partial<V, false> (rows, c, lanes, splits, x, NULL, NULL, -1, NULL, part);
}

template <int V>
static __global__ void
bn_nhwc_grad_sums_kernel (int64_t rows, int c, int lanes, int splits, const tsk_bf16 *x,
                          const tsk_bf16 *dy, const float *mean, int act,
                          const tsk_bf16 *y_act, double *part)
{
  bn_nhwc_partial<V, true> (rows, c, lanes, splits, x, dy, mean, act, y_act, part);
}

/* y = act (x * coef[ch] + coef[c + ch]); block b: group b % groups */
template <int V>
static __global__ void
bn_nhwc_apply_kernel (int64_t rows, int c, int lanes, int groups, const tsk_bf16 *x,
                      const float *coef, int act, tsk_bf16 *y)
{
  nhwc_walk w = nhwc_walk_for (lanes);
  int grp = (int) blockIdx.x % groups;
  int64_t rb = blockIdx.x / groups, stride = (int64_t) (gridDim.x / groups) * w.per;

  for (int l = w.l0; l < lanes; l += w.step)
    {
      int ch0 = (grp * lanes + l) * V;
      float a[V], b[V], v[V];
      if (ch0 >= c)
        continue;
      for (int j = 0; j < V; j++)
        {
          a[j] = coef[ch0 + j];
          b[j] = coef[c + ch0 + j];
        }
      for (int64_t r = rb * w.per + w.sub; r < rows; r += stride)
        {
          int64_t at = r * c + ch0;
          tsk_load_v<V> (x + at, v);
          for (int j = 0; j < V; j++)
            v[j] = tsk_relu_act (act, v[j] * a[j] + b[j]);
          tsk_store_v<V> (y + at, v);
        }
    }
}

/* dx = k (dy - mdy - (x - mean) cx) with coef = (k, mdy, cx, mean) per
 * channel (ts-cuda-bn.cuh), dy through the activation; dx may be dy: each
 * element is read, then written, by the same thread. */
template <int V>
static __global__ void
bn_nhwc_dx_kernel (int64_t rows, int c, int lanes, int groups, const tsk_bf16 *x,
                   const tsk_bf16 *dy, int act, const tsk_bf16 *y_act, const float *coef,
                   tsk_bf16 *dx)
{
  nhwc_walk w = nhwc_walk_for (lanes);
  int grp = (int) blockIdx.x % groups;
  int64_t rb = blockIdx.x / groups, stride = (int64_t) (gridDim.x / groups) * w.per;

  for (int l = w.l0; l < lanes; l += w.step)
    {
      int ch0 = (grp * lanes + l) * V;
      float k[V], mdy[V], cx[V], mean[V], xv[V], gv[V], yv[V];
      if (ch0 >= c)
        continue;
      for (int j = 0; j < V; j++)
        {
          k[j] = coef[ch0 + j];
          mdy[j] = coef[c + ch0 + j];
          cx[j] = coef[2 * c + ch0 + j];
          mean[j] = coef[3 * c + ch0 + j];
        }
      for (int64_t r = rb * w.per + w.sub; r < rows; r += stride)
        {
          int64_t at = r * c + ch0;
          tsk_load_v<V> (x + at, xv);
          tsk_load_v<V> (dy + at, gv);
          if (act >= 0)
            tsk_load_v<V> (y_act + at, yv);
          for (int j = 0; j < V; j++)
            {
              float g = act >= 0 ? tsk_relu_act_grad (act, yv[j], gv[j]) : gv[j];
              gv[j] = k[j] * (g - mdy[j] - (xv[j] - mean[j]) * cx[j]);
            }
          tsk_store_v<V> (dx + at, gv);
        }
    }
}

/* ---- launchers ---- */

/* kernel<V> for the geometry's vector width */
#define NHWC_LAUNCH_V(g, kernel, blocks, s, ...)                  \
  do {                                                            \
    switch ((g).v)                                                \
      {                                                           \
      case 8: TSK_LAUNCH (kernel<8>, (blocks), (s)) (__VA_ARGS__); break; \
      case 4: TSK_LAUNCH (kernel<4>, (blocks), (s)) (__VA_ARGS__); break; \
      case 2: TSK_LAUNCH (kernel<2>, (blocks), (s)) (__VA_ARGS__); break; \
      default: TSK_LAUNCH (kernel<1>, (blocks), (s)) (__VA_ARGS__); break; \
      }                                                           \
  } while (0)

extern "C" void
tsk_bn_nhwc_train (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const uint16_t *x,
                   const float *gamma, const float *beta, float *running_mean,
                   float *running_var, float momentum, float eps, int act, uint16_t *y,
                   float *save_mean, float *save_invstd, void *work)
{
  int64_t rows = n * plane;
  nhwc_geom g = nhwc_geom_for (c, nhwc_vec_width (c, x, y, NULL, NULL));
  int splits = nhwc_splits (rows, g);
  double *part = (double *) work;
  float *coef = (float *) (part + 2 * c * splits);

  if (rows * c == 0)
    return;
  NHWC_LAUNCH_V (g, bn_nhwc_stats_kernel, (unsigned int) (g.groups * splits), s, rows, (int) c,
                 g.lanes, splits, x, part);
  /* the first pixel's channel ch is x[ch]: K at stride 1 */
  TSK_LAUNCH (bn_train_finish_kernel<tsk_bf16>, tsk_blocks (c), s) ((int) n, (int) c,
                                                                    (int) plane, splits, x, 1,
                                                                    part, gamma, beta,
                                                                    running_mean, running_var,
                                                                    momentum, eps, save_mean,
                                                                    save_invstd, coef);
  NHWC_LAUNCH_V (g, bn_nhwc_apply_kernel, nhwc_blocks (rows, g), s, rows, (int) c, g.lanes,
                 g.groups, x, coef, act, y);
}

extern "C" void
tsk_bn_nhwc_eval (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const uint16_t *x,
                  const float *gamma, const float *beta, const float *mean, const float *var,
                  float eps, uint16_t *y, void *work)
{
  int64_t rows = n * plane;
  nhwc_geom g = nhwc_geom_for (c, nhwc_vec_width (c, x, y, NULL, NULL));
  float *coef = (float *) work;

  if (rows * c == 0)
    return;
  TSK_LAUNCH (bn_eval_coef_kernel, tsk_blocks (c), s) ((int) c, gamma, beta, mean, var, eps,
                                                       coef);
  NHWC_LAUNCH_V (g, bn_nhwc_apply_kernel, nhwc_blocks (rows, g), s, rows, (int) c, g.lanes,
                 g.groups, x, coef, -1, y);
}

extern "C" void
tsk_bn_nhwc_backward (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const uint16_t *x,
                      const float *gamma, const float *mean, const float *invstd, int act,
                      const uint16_t *y_act, const uint16_t *dy, uint16_t *dx, float *dgamma,
                      float *dbeta, void *work)
{
  int64_t rows = n * plane;
  nhwc_geom g = nhwc_geom_for (c, nhwc_vec_width (c, x, dy, y_act, dx));
  int splits = nhwc_splits (rows, g);
  double *part = (double *) work;
  float *coef = (float *) (part + 2 * c * splits);

  if (rows * c == 0)
    return;
  NHWC_LAUNCH_V (g, bn_nhwc_grad_sums_kernel, (unsigned int) (g.groups * splits), s, rows,
                 (int) c, g.lanes, splits, x, dy, mean, act, y_act, part);
  TSK_LAUNCH (bn_backward_finish_kernel, tsk_blocks (c), s) ((int) n, (int) c, (int) plane,
                                                             splits, part, gamma, mean, invstd,
                                                             dgamma, dbeta, coef);
  if (dx)
    NHWC_LAUNCH_V (g, bn_nhwc_dx_kernel, nhwc_blocks (rows, g), s, rows, (int) c, g.lanes,
                   g.groups, x, dy, act, y_act, coef, dx);
}
