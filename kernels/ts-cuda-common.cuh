/* ts-cuda-common.cuh: launch geometry and block reductions shared by the kernels. */
#pragma once

#include <stdint.h>

#define TSK_THREADS 256

#ifndef TSK_HOST_EMULATION
#include <cuda_runtime.h>

/* kernel<<<blocks, TSK_THREADS, 0, stream>>> (args) */
#define TSK_LAUNCH(kernel, blocks, stream) kernel<<<(blocks), TSK_THREADS, 0, (stream)>>>

#else
/* Host emulation (tests/cuda/emu, for machines without a GPU): the kernels
 * compile as plain C++ and each launch runs its blocks one after another
 * with ONE thread per block.  Every kernel here is written for any blockDim
 * (grid-stride and block-stride loops), so this checks the index arithmetic
 * and the results, not the parallel behaviour (races, barriers). */
#include <math.h>

#include <cuda_runtime_api.h>

#undef __global__
#undef __device__
#undef __forceinline__
#undef __shared__
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
typedef struct { unsigned int x, y, z; } tsk_emu_dim;
extern tsk_emu_dim blockIdx, threadIdx, blockDim, gridDim;
static inline void __syncthreads (void) {}
static inline unsigned int
tsk_emu_begin (unsigned int blocks)
{
  gridDim.x = blocks;
  blockDim.x = 1;
  threadIdx.x = 0;
  return 0;
}
#define TSK_LAUNCH(kernel, blocks, stream) \
  for (blockIdx.x = tsk_emu_begin (blocks); blockIdx.x < gridDim.x; blockIdx.x++) kernel
#include <string.h>
static inline unsigned int __float_as_uint (float f) { unsigned int u; memcpy (&u, &f, 4); return u; }
static inline float __uint_as_float (unsigned int u) { float f; memcpy (&f, &u, 4); return f; }
/* CUDA's round-to-nearest intrinsics (never contracted into an FMA) */
static inline float __fmul_rn (float a, float b) { return a * b; }
static inline float __fadd_rn (float a, float b) { return a + b; }
static inline float __fsub_rn (float a, float b) { return a - b; }
static inline float __fdiv_rn (float a, float b) { return a / b; }
#endif

/* Enough blocks to fill an H200 with grid-stride loops, never more than needed. */
static inline unsigned int
tsk_blocks (int64_t n)
{
  int64_t b = (n + TSK_THREADS - 1) / TSK_THREADS;
  if (b < 1)
    b = 1;
  if (b > 4096)
    b = 4096;
  return (unsigned int) b;
}

#define TSK_FOR(i, n) \
  for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (int64_t) blockDim.x * gridDim.x)

/* Sum over the block (blockDim.x == TSK_THREADS); the result is valid in thread 0.
 * A fixed tree, so the result does not depend on scheduling. */
template <typename T>
static __device__ T
tsk_block_sum (T v)
{
#ifdef TSK_HOST_EMULATION
  return v;   /* one thread per block */
#endif
  __shared__ T buf[TSK_THREADS];
  buf[threadIdx.x] = v;
  __syncthreads ();
  for (int k = TSK_THREADS / 2; k > 0; k >>= 1)
    {
      if ((int) threadIdx.x < k)
        buf[threadIdx.x] += buf[threadIdx.x + k];
      __syncthreads ();
    }
  T r = buf[0];
  __syncthreads ();
  return r;
}

/* V = 4: rows whose length is a multiple of 4 at 16-byte aligned addresses
 * move as float4 (fewer, wider memory transactions); V = 1 otherwise. */
template <int V>
static __device__ __forceinline__ void
tsk_load_v (const float *p, float (&o)[V])
{
  if constexpr (V == 4)
    {
      float4 t = *(const float4 *) p;
      o[0] = t.x, o[1] = t.y, o[2] = t.z, o[3] = t.w;
    }
  else
    o[0] = *p;
}

template <int V>
static __device__ __forceinline__ void
tsk_store_v (float *p, const float (&o)[V])
{
  if constexpr (V == 4)
    {
      float4 t;
      t.x = o[0], t.y = o[1], t.z = o[2], t.w = o[3];
      *(float4 *) p = t;
    }
  else
    *p = o[0];
}

/* 4 when rows of @plane floats at these addresses (NULL: unused) can move as float4 */
static inline int
tsk_vec_width (int64_t plane, const void *a, const void *b, const void *c, const void *d)
{
  const void *p[4] = { a, b, c, d };
  if (plane % 4 != 0)
    return 1;
  for (int i = 0; i < 4; i++)
    if (((uintptr_t) p[i] & 15) != 0)
      return 1;
  return 4;
}

/* bfloat16 as its 16 bits (the kernels never need cuda_bf16.h, so the host
 * emulation runs the very same conversions).  Rounding: to nearest, ties to
 * even, NaN kept quiet, as ts_bf16_from_f32 (ts-tensor.h) and
 * __float2bfloat16_rn; keep the three in step. */
typedef uint16_t tsk_bf16;

static __device__ __forceinline__ float
tsk_bf16_to_f32 (tsk_bf16 h)
{
  return __uint_as_float ((unsigned int) h << 16);
}

static __device__ __forceinline__ tsk_bf16
tsk_f32_to_bf16 (float f)
{
  unsigned int u = __float_as_uint (f);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (tsk_bf16) ((u >> 16) | 0x40u);
  return (tsk_bf16) ((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* Element access for kernels templated on their storage type (float or
 * tsk_bf16): values are always computed in float. */
static __device__ __forceinline__ float tsk_ld (const float *p, int64_t i) { return p[i]; }
static __device__ __forceinline__ float tsk_ld (const tsk_bf16 *p, int64_t i)
{
  return tsk_bf16_to_f32 (p[i]);
}
static __device__ __forceinline__ void tsk_st (float *p, int64_t i, float v) { p[i] = v; }
static __device__ __forceinline__ void tsk_st (tsk_bf16 *p, int64_t i, float v)
{
  p[i] = tsk_f32_to_bf16 (v);
}

/* act -1: none, 0: ReLU, 1: ReLU6 (ts_activation's order).  NaN passes, as
 * in PyTorch.  The one definition for every kernel that applies them. */
static __device__ __forceinline__ float
tsk_relu_act (int act, float v)
{
  if (act < 0)
    return v;
  v = v < 0.0f ? 0.0f : v;
  return act == 1 && v > 6.0f ? 6.0f : v;
}

/* the gradient @g through tsk_relu_act, from its output @a */
static __device__ __forceinline__ float
tsk_relu_act_grad (int act, float a, float g)
{
  if (act < 0)
    return g;
  return (act == 0 ? a > 0.0f : (a > 0.0f && a < 6.0f)) ? g : 0.0f;
}

/* fastai's Adam for element i (see ts-cuda-adam.cu).  Every product and sum
 * is rounded on its own (no FMA contraction), so the one-tensor and the
 * multi-tensor kernels give the same bits whatever nvcc inlines where. */
static __device__ __forceinline__ void
tsk_adam_one (float *p, const float *g, float *m, float *v, int64_t i, float lr, float b1,
              float b2, float eps, float decay, float inv_bc1, float inv_bc2)
{
  float gi = g[i];
  float pi = __fmul_rn (p[i], decay);
  float mi = __fadd_rn (__fmul_rn (b1, m[i]), __fmul_rn (1.0f - b1, gi));
  float vi = __fadd_rn (__fmul_rn (b2, v[i]), __fmul_rn (__fmul_rn (1.0f - b2, gi), gi));
  float den = __fadd_rn (sqrtf (__fmul_rn (vi, inv_bc2)), eps);
  m[i] = mi;
  v[i] = vi;
  p[i] = __fsub_rn (pi, __fdiv_rn (__fmul_rn (lr, __fmul_rn (mi, inv_bc1)), den));
}

/* The same hash as ts_rng_hash_uniform (src/engine/ts-rng.h), so that CPU and
 * GPU dropout masks agree bit for bit; keep the two in step. */
static __device__ __forceinline__ float
tsk_hash_uniform (uint64_t seed, uint64_t counter)
{
  uint64_t z = seed ^ (counter * 0x9e3779b97f4a7c15ULL);
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z = z ^ (z >> 31);
  return (float) (z >> 40) * (1.0f / 16777216.0f);
}
