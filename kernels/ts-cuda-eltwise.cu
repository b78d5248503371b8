/* ts-cuda-eltwise.cu: elementwise ops, activations, dropout, channel concat/split.
 * Each matches its loop in src/engine/cpu/ts-cpu-eltwise.c expression for expression. */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

/* The kernels below that carry the most data are templated on their storage
 * type T (float, or tsk_bf16 for the bf16 precision policy: math in float,
 * one rounding at the store) and take V = 16 / sizeof (T) (one 16-byte load
 * or store: 4 floats or 8 bfloat16) when the sizes and addresses allow
 * (ew_vec), else V = 1: n counts V-wide groups, i indexes them; the
 * vectors move through ts-cuda-common.cuh's tsk_load_v / tsk_store_v.  The
 * float32 forms are the very expressions they were before the templates, so
 * their results do not change. */

/* the vector width of T: one 16-byte access */
template <typename T>
static constexpr int
ew_width (void)
{
  return (int) (16 / sizeof (T));
}

/* 1 when @n elements of T at these addresses (NULL: unused) can move
 * ew_width<T> at a time: n a multiple of it, every address 16-byte aligned */
template <typename T>
static inline int
ew_vec (int64_t n, const void *a, const void *b, const void *c)
{
  return n % ew_width<T> () == 0 && tsk_vec_width (4, a, b, c, NULL) == 4;
}

template <typename T, int V>
static __global__ void
axpby_kernel (int64_t n, float alpha, const T *x, float beta, T *y)
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
template <typename T, int V>
static __global__ void
add_kernel (int64_t n, const T *a, const T *b, int act, T *y)
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

template <typename T, int V>
static __global__ void
fill_kernel (int64_t n, float v, T *y)
{
  float vv[V];
  for (int j = 0; j < V; j++)
    vv[j] = v;
  TSK_FOR (i, n)
    tsk_store_v<V> (y + i * V, vv);
}

static __device__ __forceinline__ float
sigmoid_f (float x)
{
  if (x >= 0.0f)
    return 1.0f / (1.0f + expf (-x));
  float e = expf (x);
  return e / (1.0f + e);
}

template <typename T, int V>
static __global__ void
act_forward_kernel (int64_t n, int act, const T *x, T *y)
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

template <typename T, int V>
static __global__ void
act_backward_kernel (int64_t n, int act, const T *y, const T *dy, T *dx)
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

/* kernel<T, ew_width<T>> over n / ew_width<T> groups when @vec, else
 * kernel<T, 1> over n elements (n > 0; T from the enclosing template) */
#define EW_LAUNCH(vec, n, kernel, s, ...)                                         \
  do {                                                                           \
    if (vec)                                                                     \
      {                                                                          \
        auto k_ = kernel<T, ew_width<T> ()>;                                     \
        int64_t g_ = (n) / ew_width<T> ();                                       \
        TSK_LAUNCH (k_, tsk_blocks (g_), (s)) (g_, __VA_ARGS__);                 \
      }                                                                          \
    else                                                                         \
      {                                                                          \
        auto k_ = kernel<T, 1>;                                                  \
        TSK_LAUNCH (k_, tsk_blocks (n), (s)) ((n), __VA_ARGS__);                 \
      }                                                                          \
  } while (0)

template <typename T>
static void
axpby_t (cudaStream_t s, int64_t n, float alpha, const T *x, float beta, T *y)
{
  if (n > 0)
    EW_LAUNCH (ew_vec<T> (n, x, y, NULL), n, axpby_kernel, s, alpha, x, beta, y);
}

template <typename T>
static void
add_t (cudaStream_t s, int64_t n, const T *a, const T *b, int act, T *y)
{
  if (n > 0)
    EW_LAUNCH (ew_vec<T> (n, a, b, y), n, add_kernel, s, a, b, act, y);
}

template <typename T>
static void
fill_t (cudaStream_t s, int64_t n, float value, T *y)
{
  if (n > 0)
    EW_LAUNCH (ew_vec<T> (n, y, NULL, NULL), n, fill_kernel, s, value, y);
}

template <typename T>
static void
act_forward_t (cudaStream_t s, int act, int64_t n, const T *x, T *y)
{
  if (n > 0)
    EW_LAUNCH (ew_vec<T> (n, x, y, NULL), n, act_forward_kernel, s, act, x, y);
}

template <typename T>
static void
act_backward_t (cudaStream_t s, int act, int64_t n, const T *y, const T *dy, T *dx)
{
  if (n > 0)
    EW_LAUNCH (ew_vec<T> (n, y, dy, dx), n, act_backward_kernel, s, act, y, dy, dx);
}

extern "C" void
tsk_axpby (cudaStream_t s, int64_t n, float alpha, const float *x, float beta, float *y)
{
  axpby_t (s, n, alpha, x, beta, y);
}

extern "C" void
tsk_add (cudaStream_t s, int64_t n, const float *a, const float *b, int act, float *y)
{
  add_t (s, n, a, b, act, y);
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
  fill_t (s, n, value, y);
}

extern "C" void
tsk_activation_forward (cudaStream_t s, int act, int64_t n, const float *x, float *y)
{
  act_forward_t (s, act, n, x, y);
}

extern "C" void
tsk_activation_backward (cudaStream_t s, int act, int64_t n, const float *y, const float *dy,
                         float *dx)
{
  act_backward_t (s, act, n, y, dy, dx);
}

extern "C" void
tsk_axpby_bf16 (cudaStream_t s, int64_t n, float alpha, const uint16_t *x, float beta,
                uint16_t *y)
{
  axpby_t<tsk_bf16> (s, n, alpha, x, beta, y);
}

extern "C" void
tsk_add_bf16 (cudaStream_t s, int64_t n, const uint16_t *a, const uint16_t *b, int act,
              uint16_t *y)
{
  add_t<tsk_bf16> (s, n, a, b, act, y);
}

extern "C" void
tsk_fill_bf16 (cudaStream_t s, int64_t n, float value, uint16_t *y)
{
  fill_t<tsk_bf16> (s, n, value, y);
}

extern "C" void
tsk_activation_forward_bf16 (cudaStream_t s, int act, int64_t n, const uint16_t *x,
                             uint16_t *y)
{
  act_forward_t<tsk_bf16> (s, act, n, x, y);
}

extern "C" void
tsk_activation_backward_bf16 (cudaStream_t s, int act, int64_t n, const uint16_t *y,
                              const uint16_t *dy, uint16_t *dx)
{
  act_backward_t<tsk_bf16> (s, act, n, y, dy, dx);
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
