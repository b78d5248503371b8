/* ts-cuda-batchnorm.cu: batch norm over (N, plane) per channel, with the
 * semantics of src/engine/cpu/ts-cpu-batchnorm.c (biased variance to
 * normalise, unbiased for the running variance, momentum, eps).
 *
 * Training statistics take three launches: partial sums, each block over one
 * channel and a contiguous range of images (so there are enough blocks to
 * fill the GPU even for 64 channels, which one block per channel did not);
 * then one thread per channel adds its partials in a fixed order (results
 * repeat exactly); then one elementwise pass.  The sums are of x - K, with
 * K the channel's first element, in double: E[(x-K)^2] - E[x-K]^2 does not
 * cancel the way E[x^2] - E[x]^2 does when the mean is large against the
 * spread.  No 64-bit division per element: threads walk rows (one image's
 * plane of one channel) and a block covers several rows when planes are
 * small. */
#include "ts-cuda-bn.cuh"
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

/* How a block's threads cover rows of @plane elements: @per rows at a time,
 * this thread in row @sub at element p0, p0 + stride, ... */
typedef struct {
  int per, sub, p0, stride;
} row_walk;

static __device__ __forceinline__ row_walk
row_walk_for (int plane)
{
  row_walk w;
  int bd = (int) blockDim.x, t = (int) threadIdx.x;
  if (plane >= bd)
    {
      w.per = 1;
      w.sub = 0;
      w.p0 = t;
      w.stride = bd;
    }
  else
    {
      w.per = bd / plane;
      w.sub = t / plane;
      w.p0 = t % plane;
      w.stride = plane;
    }
  return w;
}

/* r over this thread's rows of a grid-wide pass (w from row_walk_for) */
#define FOR_ROWS(r, w, rows) \
  for (int64_t r = (int64_t) blockIdx.x * (w).per + (w).sub; r < (rows); \
       r += (int64_t) gridDim.x * (w).per)

/* Blocks per channel for the partial sums: about 1024 blocks in all, none
 * with fewer than ~4 elements a thread, at most one per image. */
static int
bn_splits (int64_t n, int64_t c, int64_t plane)
{
  int64_t s = (1024 + c - 1) / c, by_work = n * plane / (4 * TSK_THREADS);
  if (s > by_work)
    s = by_work;
  if (s > n)
    s = n;
  return s < 1 ? 1 : (int) s;
}

extern "C" size_t
tsk_bn_work_floats (int64_t n, int64_t c, int64_t plane)
{
  /* two doubles of partials per block, then four floats per channel */
  return (size_t) (4 * c * bn_splits (n, c, plane) + 4 * c);
}

/* Over block b's channel and images (nb = gridDim.x blocks):
 *   forward (dy NULL): part[b] = sum (x - K), part[nb + b] = sum (x - K)^2,
 *     K the channel's first element;
 *   backward: part[b] = sum dy, part[nb + b] = sum dy (x - mean), K = @shift_by,
 *     with dy taken through the activation @act from its output @y_act. */
template <int V>
static __global__ void
bn_partial_kernel (int n, int c, int plane, int splits, const float *x, const float *dy,
                   const float *shift_by, int act, const float *y_act, double *part)
{
  int ch = (int) blockIdx.x / splits, sp = (int) blockIdx.x % splits;
  int i0 = (int) ((int64_t) n * sp / splits), i1 = (int) ((int64_t) n * (sp + 1) / splits);
  int vplane = plane / V;
  row_walk w = row_walk_for (vplane);
  double s1 = 0.0, s2 = 0.0;
  /* forward: K = the channel's first element; backward: K = the saved mean */
  float k = shift_by ? shift_by[ch] : x[(int64_t) ch * plane];

  if (w.sub < w.per)
    for (int img = i0 + w.sub; img < i1; img += w.per)
      {
        int64_t row = ((int64_t) img * c + ch) * plane;
        float f1 = 0.0f, f2 = 0.0f, xv[V], gv[V];
        for (int q = w.p0; q < vplane; q += w.stride)
          {
            int64_t at = row + (int64_t) q * V;
            tsk_load_v<V> (x + at, xv);
            if (dy == NULL)
              for (int j = 0; j < V; j++)
                {
                  float d = xv[j] - k;
                  f1 += d;
                  f2 += d * d;
                }
            else
              {
                bn_act_grad_v<V> (dy, y_act, act, at, gv);
                for (int j = 0; j < V; j++)
                  {
                    f1 += gv[j];
                    f2 += gv[j] * (xv[j] - k);
                  }
              }
          }
        s1 += f1;
        s2 += f2;
      }
  s1 = tsk_block_sum<double> (s1);
  s2 = tsk_block_sum<double> (s2);
  if (threadIdx.x == 0)
    {
      part[blockIdx.x] = s1;
      part[gridDim.x + blockIdx.x] = s2;
    }
}

/* y = act (x * coef[ch] + coef[c + ch]) over rows of @plane */
template <int V>
static __global__ void
bn_apply_kernel (int64_t rows, int c, int plane, const float *x, const float *coef, int act,
                 float *y)
{
  int vplane = plane / V;
  row_walk w = row_walk_for (vplane);
  if (w.sub >= w.per)
    return;
  FOR_ROWS (r, w, rows)
    {
      int ch = (int) (r % c);
      float a = coef[ch], b = coef[c + ch], v[V];
      for (int q = w.p0; q < vplane; q += w.stride)
        {
          int64_t at = r * plane + (int64_t) q * V;
          tsk_load_v<V> (x + at, v);
          for (int j = 0; j < V; j++)
            v[j] = tsk_relu_act (act, v[j] * a + b);
          tsk_store_v<V> (y + at, v);
        }
    }
}

template <int V>
static __global__ void
bn_backward_dx_kernel (int64_t rows, int c, int plane, const float *x, const float *dy,
                       int act, const float *y_act, const float *coef, float *dx)
{
  int vplane = plane / V;
  row_walk w = row_walk_for (vplane);
  if (w.sub >= w.per)
    return;
  FOR_ROWS (r, w, rows)
    {
      int ch = (int) (r % c);
      float k = coef[ch], mdy = coef[c + ch], cx = coef[2 * c + ch], mean = coef[3 * c + ch];
      float xv[V], gv[V];
      for (int q = w.p0; q < vplane; q += w.stride)
        {
          int64_t at = r * plane + (int64_t) q * V;
          tsk_load_v<V> (x + at, xv);
          bn_act_grad_v<V> (dy, y_act, act, at, gv);
          for (int j = 0; j < V; j++)
            gv[j] = k * (gv[j] - mdy - (xv[j] - mean) * cx);
          tsk_store_v<V> (dx + at, gv);
        }
    }
}

/* blocks for a pass over @rows rows of @plane (floats, or float4 when
 * vectorised): each block takes TSK_THREADS / plane rows at a time when
 * planes are small */
static unsigned int
row_blocks (int64_t rows, int64_t plane)
{
  int64_t per = plane >= TSK_THREADS ? 1 : TSK_THREADS / plane;
  return tsk_blocks (((rows + per - 1) / per) * TSK_THREADS);
}

/* the templated row kernels at vector width @v */
#define BN_LAUNCH_V(v, kernel, blocks, s, ...)               \
  do {                                                    \
    if ((v) == 4)                                         \
      TSK_LAUNCH (kernel<4>, (blocks), (s)) (__VA_ARGS__); \
    else                                                  \
      TSK_LAUNCH (kernel<1>, (blocks), (s)) (__VA_ARGS__); \
  } while (0)

extern "C" void
tsk_bn_train (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const float *x,
              const float *gamma, const float *beta, float *running_mean, float *running_var,
              float momentum, float eps, int act, float *y, float *save_mean,
              float *save_invstd, void *work)
{
  int splits = bn_splits (n, c, plane), v = tsk_vec_width (plane, x, y, NULL, NULL);
  double *part = (double *) work;
  float *coef = (float *) (part + 2 * c * splits);

  if (n * c * plane == 0)
    return;
  BN_LAUNCH_V (v, bn_partial_kernel, (unsigned int) (c * splits), s, (int) n, (int) c, (int) plane,
            splits, x, NULL, NULL, -1, NULL, part);
  TSK_LAUNCH (bn_train_finish_kernel<float>, tsk_blocks (c), s) ((int) n, (int) c, (int) plane,
                                                                 splits, x, plane, part, gamma,
                                                                 beta, running_mean, running_var,
                                                                 momentum, eps, save_mean,
                                                                 save_invstd, coef);
  BN_LAUNCH_V (v, bn_apply_kernel, row_blocks (n * c, plane / v), s, n * c, (int) c, (int) plane, x,
            coef, act, y);
}

extern "C" void
tsk_bn_eval (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const float *x,
             const float *gamma, const float *beta, const float *mean, const float *var,
             float eps, float *y, void *work)
{
  int v = tsk_vec_width (plane, x, y, NULL, NULL);
  float *coef = (float *) work;

  if (n * c * plane == 0)
    return;
  TSK_LAUNCH (bn_eval_coef_kernel, tsk_blocks (c), s) ((int) c, gamma, beta, mean, var, eps,
                                                       coef);
  BN_LAUNCH_V (v, bn_apply_kernel, row_blocks (n * c, plane / v), s, n * c, (int) c, (int) plane, x,
            coef, -1, y);
}

extern "C" void
tsk_bn_backward (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const float *x,
                 const float *gamma, const float *mean, const float *invstd, int act,
                 const float *y_act, const float *dy, float *dx, float *dgamma, float *dbeta,
                 void *work)
{
  int splits = bn_splits (n, c, plane), v = tsk_vec_width (plane, x, dy, y_act, dx);
  double *part = (double *) work;
  float *coef = (float *) (part + 2 * c * splits);

  if (n * c * plane == 0)
    return;
  BN_LAUNCH_V (v, bn_partial_kernel, (unsigned int) (c * splits), s, (int) n, (int) c, (int) plane,
            splits, x, dy, mean, act, y_act, part);
  TSK_LAUNCH (bn_backward_finish_kernel, tsk_blocks (c), s) ((int) n, (int) c, (int) plane,
                                                             splits, part, gamma, mean, invstd,
                                                             dgamma, dbeta, coef);
  if (dx)
    BN_LAUNCH_V (v, bn_backward_dx_kernel, row_blocks (n * c, plane / v), s, n * c, (int) c,
              (int) plane, x, dy, act, y_act, coef, dx);
}
