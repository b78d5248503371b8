/* ts-cuda-bn-nhwc.cu: batch norm (and batch norm + ReLU / ReLU6) over
 * bfloat16 activations in NHWC, for the bf16 precision policy
 * (docs/cuda.md).  The semantics are ts-cuda-batchnorm.cu's, and so the CPU
 * backend's; only the storage of x, y, dy and dx is bfloat16: values are
 * computed in float, the statistics summed in float over a few pixels a
 * thread and in double beyond, and the parameters, statistics and their
 * gradients stay float32.
 *
 * Every pass walks the pixels with ts-cuda-nhwc.cuh's tile of lanes along C
 * by pixels; a thread's channels, and so its coefficients, never change.
 *
 * Training statistics take three launches, as in NCHW: partial sums of
 * x - K (K the channel's first element) per channel over a contiguous
 * range of pixels per block (ts-cuda-nhwc.cuh's nhwc_channel_sums: fixed
 * orders, no atomics, so results repeat bit for bit); then ts-cuda-bn.cuh's
 * one thread per channel adds the partials in a fixed order; then one
 * elementwise pass. */
#include "ts-cuda-bn.cuh"
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"
#include "ts-cuda-nhwc.cuh"

/* ---- geometry (the walk itself: ts-cuda-nhwc.cuh) ---- */

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
  return (size_t) (4 * c * nhwc_most_splits (n * plane, c) + 4 * c);
}

/* ---- kernels ---- */

/* The partial sums' terms (nhwc_channel_sums) for V channels from ch0:
 *   forward: x - K and (x - K)^2, K = the channel's value in x's first pixel;
 *   BACKWARD: dy and dy (x - K), K = @mean (the saved mean), dy taken
 *     through the activation @act from its output @y_act.
 * (Two kernels below, so that the forward one does not hold the
 * backward's registers.) */
template <int V, bool BACKWARD>
struct bn_nhwc_terms {
  const tsk_bf16 *x, *dy, *y_act;
  const float *mean;
  int act;
  float k[V];

  __device__ __forceinline__ void
  start (int ch0)
  {
    if constexpr (BACKWARD)
      for (int j = 0; j < V; j++)
        k[j] = mean[ch0 + j];
    else
      tsk_load_v<V> (x + ch0, k);
  }

  __device__ __forceinline__ void
  add (int64_t at, float (&f)[2][V])
  {
    float xv[V];
    tsk_load_v<V> (x + at, xv);
    if constexpr (!BACKWARD)
      for (int j = 0; j < V; j++)
        {
          float d = xv[j] - k[j];
          f[0][j] += d;
          f[1][j] += d * d;
        }
    else
      {
        float g[V];
        bn_act_grad_v<V> (dy, y_act, act, at, g);
        for (int j = 0; j < V; j++)
          {
            f[0][j] += g[j];
            f[1][j] += g[j] * (xv[j] - k[j]);
          }
      }
  }
};

template <int V>
static __global__ void NHWC_SUMS_BOUNDS (2)
bn_nhwc_stats_kernel (int64_t rows, int c, int lanes, int splits, const tsk_bf16 *x,
                      double *part)
{
  bn_nhwc_terms<V, false> terms = { x, NULL, NULL, NULL, -1, {} };
  nhwc_channel_sums<V, 2> (rows, c, lanes, splits, terms, part);
}

template <int V>
static __global__ void NHWC_SUMS_BOUNDS (2)
bn_nhwc_grad_sums_kernel (int64_t rows, int c, int lanes, int splits, const tsk_bf16 *x,
                          const tsk_bf16 *dy, const float *mean, int act,
                          const tsk_bf16 *y_act, double *part)
{
  bn_nhwc_terms<V, true> terms = { x, dy, y_act, mean, act, {} };
  nhwc_channel_sums<V, 2> (rows, c, lanes, splits, terms, part);
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
      float k[V], mdy[V], cx[V], mean[V], xv[V], gv[V];
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
          bn_act_grad_v<V> (dy, y_act, act, at, gv);
          for (int j = 0; j < V; j++)
            gv[j] = k[j] * (gv[j] - mdy[j] - (xv[j] - mean[j]) * cx[j]);
          tsk_store_v<V> (dx + at, gv);
        }
    }
}

/* ---- launchers ---- */

/* A pass's numbers: its rows, geometry and splits, and the work buffer
 * carved into the partial sums (two doubles a channel and split) and the
 * coefficients after them (tsk_bn_nhwc_work_floats) */
typedef struct {
  int64_t rows;
  nhwc_geom g;
  int splits;
  double *part;
  float *coef;
} bn_nhwc_plan;

static bn_nhwc_plan
bn_nhwc_plan_for (int64_t n, int64_t c, int64_t plane, int v, void *work)
{
  bn_nhwc_plan p;
  p.rows = n * plane;
  p.g = nhwc_geom_for (c, v);
  p.splits = nhwc_splits (p.rows, p.g);
  p.part = (double *) work;
  p.coef = (float *) (p.part + 2 * c * p.splits);
  return p;
}

extern "C" void
tsk_bn_nhwc_train (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const uint16_t *x,
                   const float *gamma, const float *beta, float *running_mean,
                   float *running_var, float momentum, float eps, int act, uint16_t *y,
                   float *save_mean, float *save_invstd, void *work)
{
  bn_nhwc_plan p = bn_nhwc_plan_for (n, c, plane, nhwc_vec_width (c, x, y, NULL, NULL), work);

  if (p.rows * c == 0)
    return;
  NHWC_LAUNCH_V (p.g.v, bn_nhwc_stats_kernel, (unsigned int) (p.g.groups * p.splits), s, p.rows,
                 (int) c, p.g.lanes, p.splits, x, p.part);
  /* the first pixel's channel ch is x[ch]: K at stride 1 */
  TSK_LAUNCH (bn_train_finish_kernel<tsk_bf16>, tsk_blocks (c), s) ((int) n, (int) c,
                                                                    (int) plane, p.splits, x, 1,
                                                                    p.part, gamma, beta,
                                                                    running_mean, running_var,
                                                                    momentum, eps, save_mean,
                                                                    save_invstd, p.coef);
  NHWC_LAUNCH_V (p.g.v, bn_nhwc_apply_kernel, nhwc_blocks (p.rows, p.g), s, p.rows, (int) c,
                 p.g.lanes, p.g.groups, x, p.coef, act, y);
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
  NHWC_LAUNCH_V (g.v, bn_nhwc_apply_kernel, nhwc_blocks (rows, g), s, rows, (int) c, g.lanes,
                 g.groups, x, coef, -1, y);
}

extern "C" void
tsk_bn_nhwc_backward (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const uint16_t *x,
                      const float *gamma, const float *mean, const float *invstd, int act,
                      const uint16_t *y_act, const uint16_t *dy, uint16_t *dx, float *dgamma,
                      float *dbeta, void *work)
{
  bn_nhwc_plan p = bn_nhwc_plan_for (n, c, plane, nhwc_vec_width (c, x, dy, y_act, dx), work);

  if (p.rows * c == 0)
    return;
  NHWC_LAUNCH_V (p.g.v, bn_nhwc_grad_sums_kernel, (unsigned int) (p.g.groups * p.splits), s,
                 p.rows, (int) c, p.g.lanes, p.splits, x, dy, mean, act, y_act, p.part);
  TSK_LAUNCH (bn_backward_finish_kernel, tsk_blocks (c), s) ((int) n, (int) c, (int) plane,
                                                             p.splits, p.part, gamma, mean,
                                                             invstd, dgamma, dbeta, p.coef);
  if (dx)
    NHWC_LAUNCH_V (p.g.v, bn_nhwc_dx_kernel, nhwc_blocks (p.rows, p.g), s, p.rows, (int) c,
                   p.g.lanes, p.g.groups, x, dy, act, y_act, p.coef, dx);
}
