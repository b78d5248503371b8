/* ts-cuda-eltwise.cu: elementwise ops, activations, dropout, channel concat/split.
 * Each matches its loop in src/engine/cpu/ts-cpu-eltwise.c expression for expression. */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

static __global__ void
axpby_kernel (int64_t n, float alpha, const float *x, float beta, float *y)
{
  TSK_FOR (i, n)
    y[i] = beta == 0.0f ? alpha * x[i] : alpha * x[i] + beta * y[i];
}

static __global__ void
add_kernel (int64_t n, const float *a, const float *b, float *y)
{
  TSK_FOR (i, n)
    y[i] = a[i] + b[i];
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

static __global__ void
act_forward_kernel (int act, int64_t n, const float *x, float *y)
{
  TSK_FOR (i, n)
    {
      float v = x[i];
      if (act == 0)
        y[i] = v < 0.0f ? 0.0f : v;   /* NaN passes, as in PyTorch */
      else if (act == 1)
        {
          v = v < 0.0f ? 0.0f : v;
          y[i] = v > 6.0f ? 6.0f : v;
        }
      else
        y[i] = sigmoid_f (v);
    }
}

static __global__ void
act_backward_kernel (int act, int64_t n, const float *y, const float *dy, float *dx)
{
  TSK_FOR (i, n)
    {
      float a = y[i], d = dy[i];
      if (act == 0)
        dx[i] = a > 0.0f ? d : 0.0f;
      else if (act == 1)
        dx[i] = (a > 0.0f && a < 6.0f) ? d : 0.0f;
      else
        dx[i] = d * a * (1.0f - a);
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

extern "C" void
tsk_axpby (cudaStream_t s, int64_t n, float alpha, const float *x, float beta, float *y)
{
  if (n > 0)
    TSK_LAUNCH (axpby_kernel, tsk_blocks (n), s) (n, alpha, x, beta, y);
}

extern "C" void
tsk_add (cudaStream_t s, int64_t n, const float *a, const float *b, float *y)
{
  if (n > 0)
    TSK_LAUNCH (add_kernel, tsk_blocks (n), s) (n, a, b, y);
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
  if (n > 0)
    TSK_LAUNCH (act_forward_kernel, tsk_blocks (n), s) (act, n, x, y);
}

extern "C" void
tsk_activation_backward (cudaStream_t s, int act, int64_t n, const float *y, const float *dy,
                         float *dx)
{
  if (n > 0)
    TSK_LAUNCH (act_backward_kernel, tsk_blocks (n), s) (act, n, y, dy, dx);
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
