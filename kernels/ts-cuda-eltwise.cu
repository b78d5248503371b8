/* ts-cuda-eltwise.cu: elementwise ops, activations, dropout, channel concat/split.
 * Each matches its loop in src/engine/cpu/ts-cpu-eltwise.c expression for expression. */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

/* The kernels below that carry the most data take V = 4 (float4 loads and
 * stores, see tsk_vec_width) when the sizes and addresses allow: n counts V-wide
 * groups, i indexes them. */
template <int V>
static __global__ void
axpby_kernel (int64_t n, float alpha, const float *x, float beta, float *y)
{
  TSK_FOR (i, n)
    {
      float xv[V], yv[V];
      tsk_load_v<V> (x + i * V, xv);
      if (beta != 0.0f)
        tsk_load_v<V> (y + i * V, yv);
      for (int j = 0; j < V; j++)
        yv[j] = beta == 0.0f ? alpha * xv[j] : alpha * xv[j] + beta * yv[j];
      tsk_store_v<V> (y + i * V, yv);
    }
}

/* y = act (a + b), act as tsk_relu_act */
template <int V>
static __global__ void
add_kernel (int64_t n, const float *a, const float *b, int act, float *y)
{
  TSK_FOR (i, n)
    {
      float av[V], bv[V];
      tsk_load_v<V> (a + i * V, av);
      tsk_load_v<V> (b + i * V, bv);
      for (int j = 0; j < V; j++)
        av[j] = tsk_relu_act (act, av[j] + bv[j]);
      tsk_store_v<V> (y + i * V, av);
    }
}

static __global__ void
mul_kernel (int64_t n, const float *a, const float *b, float *y)
{
  TSK_FOR (i, n)
    y[i] = a[i] * b[i];
}

static __global__ void
fill_kernel (int64_t n, float v, float *y)
{
  TSK_FOR (i, n)
    y[i] = v;
}

static __device__ __forceinline__ float
sigmoid_f (float x)
{
  if (x >= 0.0f)
    return 1.0f / (1.0f + expf (-x));
  float e = expf (x);
  return e / (1.0f + e);
}

template <int V>
static __global__ void
act_forward_kernel (int act, int64_t n, const float *x, float *y)
{
  TSK_FOR (i, n)
    {
      float xv[V];
      tsk_load_v<V> (x + i * V, xv);
      for (int j = 0; j < V; j++)
        xv[j] = act == 2 ? sigmoid_f (xv[j]) : tsk_relu_act (act, xv[j]);
      tsk_store_v<V> (y + i * V, xv);
    }
}

template <int V>
static __global__ void
act_backward_kernel (int act, int64_t n, const float *y, const float *dy, float *dx)
{
  TSK_FOR (i, n)
    {
      float yv[V], dv[V];
      tsk_load_v<V> (y + i * V, yv);
      tsk_load_v<V> (dy + i * V, dv);
      for (int j = 0; j < V; j++)
        dv[j] = act == 2 ? dv[j] * yv[j] * (1.0f - yv[j]) : tsk_relu_act_grad (act, yv[j], dv[j]);
      tsk_store_v<V> (dx + i * V, dv);
    }
}

static __global__ void
dropout_kernel (int64_t n, float p, float keep, uint64_t seed, uint64_t counter,
                const float *x, float *y, float *mask)
{
  TSK_FOR (i, n)
    {
      float u = tsk_hash_uniform (seed, counter + (uint64_t) i);
      float mk = u >= p ? keep : 0.0f;
      mask[i] = mk;
      y[i] = x[i] * mk;
    }
}

/* one thread per element of y; `dir` 0 gathers y from a, b; 1 scatters y to a, b */
static __global__ void
concat_kernel (int dir, int64_t n, int64_t sa, int64_t sb, float *a, float *b, float *y)
{
  int64_t per = sa + sb;
  TSK_FOR (i, n * per)
    {
      int64_t img = i / per, j = i % per;
      float *src = j < sa ? a + img * sa + j : b + img * sb + (j - sa);
      if (dir == 0)
        y[i] = *src;
      else
        *src = y[i];
    }
}

/* kernel<4> over n / 4 groups when @v is 4, else kernel<1> over n elements */
#define EW_LAUNCH_V(v, n, kernel, s, ...)                                              \
  do {                                                                              \
    if ((v) == 4)                                                                   \
      TSK_LAUNCH (kernel<4>, tsk_blocks ((n) / 4), (s)) ((n) / 4, __VA_ARGS__);   \
    else                                                                            \
      TSK_LAUNCH (kernel<1>, tsk_blocks (n), (s)) ((n), __VA_ARGS__);             \
  } while (0)

extern "C" void
tsk_axpby (cudaStream_t s, int64_t n, float alpha, const float *x, float beta, float *y)
{
  if (n > 0)
    EW_LAUNCH_V (tsk_vec_width (n, x, y, NULL, NULL), n, axpby_kernel, s, alpha, x, beta, y);
}

extern "C" void
tsk_add (cudaStream_t s, int64_t n, const float *a, const float *b, int act, float *y)
{
  if (n > 0)
    EW_LAUNCH_V (tsk_vec_width (n, a, b, y, NULL), n, add_kernel, s, a, b, act, y);
}

extern "C" void
tsk_mul (cudaStream_t s, int64_t n, const float *a, const float *b, float *y)
{
  if (n > 0)
    TSK_LAUNCH (mul_kernel, tsk_blocks (n), s) (n, a, b, y);
}

extern "C" void
tsk_fill (cudaStream_t s, int64_t n, float value, float *y)
{
  if (n > 0)
    TSK_LAUNCH (fill_kernel, tsk_blocks (n), s) (n, value, y);
}

extern "C" void
tsk_activation_forward (cudaStream_t s, int act, int64_t n, const float *x, float *y)
{
  /* act first in the kernel's arguments: spelled out instead of EW_LAUNCH_V */
  if (n > 0 && tsk_vec_width (n, x, y, NULL, NULL) == 4)
    TSK_LAUNCH (act_forward_kernel<4>, tsk_blocks (n / 4), s) (act, n / 4, x, y);
  else if (n > 0)
    TSK_LAUNCH (act_forward_kernel<1>, tsk_blocks (n), s) (act, n, x, y);
}

extern "C" void
tsk_activation_backward (cudaStream_t s, int act, int64_t n, const float *y, const float *dy,
                         float *dx)
{
  if (n > 0 && tsk_vec_width (n, y, dy, dx, NULL) == 4)
    TSK_LAUNCH (act_backward_kernel<4>, tsk_blocks (n / 4), s) (act, n / 4, y, dy, dx);
  else if (n > 0)
    TSK_LAUNCH (act_backward_kernel<1>, tsk_blocks (n), s) (act, n, y, dy, dx);
}

extern "C" void
tsk_dropout_forward (cudaStream_t s, int64_t n, float p, uint64_t seed, uint64_t counter,
                     const float *x, float *y, float *mask)
{
  float keep = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
  if (n > 0)
    TSK_LAUNCH (dropout_kernel, tsk_blocks (n), s) (n, p, keep, seed, counter, x, y,
                                                           mask);
}

extern "C" void
tsk_concat (cudaStream_t s, int64_t n, int64_t sa, int64_t sb, const float *a, const float *b,
            float *y)
{
  if (n * (sa + sb) > 0)
    TSK_LAUNCH (concat_kernel, tsk_blocks (n * (sa + sb)), s) (0, n, sa, sb, (float *) a,
                                                                      (float *) b, y);
}

extern "C" void
tsk_split (cudaStream_t s, int64_t n, int64_t sa, int64_t sb, const float *y, float *a,
           float *b)
{
  if (n * (sa + sb) > 0)
    TSK_LAUNCH (concat_kernel, tsk_blocks (n * (sa + sb)), s) (1, n, sa, sb, a, b,
                                                                      (float *) y);
}
