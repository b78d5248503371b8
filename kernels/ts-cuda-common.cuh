/* ts-cuda-common.cuh: launch geometry and block reductions shared by the kernels. */
#pragma once

#include <stdint.h>

#define TSK_THREADS 256

#ifndef TSK_HOST_EMULATION
#include <cuda_runtime.h>

/* kernel<<<blocks, TSK_THREADS, 0, stream>>> (args) */
#define TSK_LAUNCH(kernel, blocks, stream) kernel<<<(blocks), TSK_THREADS, 0, (stream)>>>
/* a shared array of @n @T */
#define TSK_SHARED(T, name, n) __shared__ T name[n]
/* a kernel's promise to ptxas: TSK_THREADS threads a block and room for
 * @blocks blocks an SM, so registers are budgeted for that occupancy */
#define TSK_BOUNDS(blocks) __launch_bounds__ (TSK_THREADS, (blocks))
/* #pragma unroll n for the loop that follows (the host compiler has none) */
#define TSK_UNROLL(n) _Pragma (TSK_UNROLL_STR (unroll n))
#define TSK_UNROLL_STR(x) #x

#else
/* Host emulation (tests/cuda/emu, for machines without a GPU): the kernels
 * compile as plain C++ and each launch runs its blocks one after another,
 * with ONE thread per block (the default: checks index arithmetic and
 * results; every kernel here is written for any blockDim, with grid-stride
 * and block-stride loops) or, with TSK_EMU_THREADS=256, with TSK_THREADS
 * threads as coroutines that meet at __syncthreads
 * (tests/cuda/emu/emu-threads.c: the reductions and barriers as on a GPU,
 * and TSK_EMU_ORDER=reverse to find races).  A launch is queued on its
 * stream and runs when the stream's work is needed (fake-streams.c). */
#include <math.h>
#include <tuple>

#include <cuda_runtime_api.h>

#undef __global__
#undef __device__
#undef __forceinline__
#undef __shared__   /* kernels declare shared arrays with TSK_SHARED */
#define __global__
#define __device__
#define __forceinline__ inline
#define TSK_BOUNDS(blocks)
#define TSK_UNROLL(n)
typedef struct { unsigned int x, y, z; } tsk_emu_dim;
extern tsk_emu_dim blockIdx, threadIdx, blockDim, gridDim;
extern "C" int tsk_emu_wide_index;   /* tests/cuda/emu/fake-cudart.c */
extern "C" void tsk_emu_syncthreads (void);
extern "C" unsigned int tsk_emu_block_threads (void);
extern "C" void tsk_emu_run_block (const char *kernel, void (*thread) (void *), void *arg);
extern "C" int tsk_emu_shared (void *p, size_t bytes);
/* a shared array: static, and known to emu-threads.c, which fills every
 * one with NaNs before each block in the threaded mode (a GPU's shared
 * memory holds what the last block left: a read of what this block never
 * wrote must show); known from the first block that reaches it on */
#define TSK_SHARED(T, name, n)                                            \
  static T name[n];                                                       \
  static const int name##_known = tsk_emu_shared (name, sizeof name);     \
  (void) name##_known
extern "C" void tsk_emu_enqueue (cudaStream_t stream, void (*run) (void *),
                                 void (*drop) (void *), void *closure);   /* fake-streams.c */
static inline void __syncthreads (void) { tsk_emu_syncthreads (); }

/* TSK_LAUNCH (kernel, blocks, stream) (args): the arguments converted to
 * the kernel's parameter types as a call would (a NULL for a pointer) and
 * kept with the kernel on its stream (tests/cuda/emu/fake-streams.c), which
 * runs the blocks in order when the stream's work is needed, as a GPU runs
 * a launch after the stream's earlier work and before anyone sees it */
template <typename... P>
struct tsk_emu_launch {
  void (*kernel) (P...);
  unsigned int blocks;
  const char *name;
  cudaStream_t stream;

  struct call {
    void (*kernel) (P...);
    std::tuple<P...> args;
    unsigned int blocks;
    const char *name;

    static void
    thread (void *c)
    {
      std::apply (((call *) c)->kernel, ((call *) c)->args);
    }

    static void
    run (void *p)
    {
      call *c = (call *) p;

      gridDim.x = c->blocks;
      blockDim.x = tsk_emu_block_threads ();
      for (blockIdx.x = 0; blockIdx.x < c->blocks; blockIdx.x++)
        if (blockDim.x == 1)
          {
            threadIdx.x = 0;
            thread (c);
          }
        else
          tsk_emu_run_block (c->name, thread, c);
    }

    static void drop (void *p) { delete (call *) p; }
  };

  void
  operator() (P... a) const
  {
    tsk_emu_enqueue (stream, call::run, call::drop,
                     new call { kernel, std::tuple<P...> (a...), blocks, name });
  }
};
template <typename... P>
static inline tsk_emu_launch<P...>
tsk_emu_launcher (void (*kernel) (P...), unsigned int blocks, const char *name,
                  cudaStream_t stream)
{
  return tsk_emu_launch<P...> { kernel, blocks, name, stream };
}
#define TSK_LAUNCH(kernel, blocks, stream) \
  tsk_emu_launcher (kernel, (blocks), #kernel, (stream))
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

/* 1 when a kernel whose indices all stay below @n may use int for them:
 * 32-bit division and modulo cost several times less than 64-bit ones, and
 * the kernels that divide per element (pools, convert) take this fast path;
 * 2^30 leaves headroom for the sums of an index and an offset.  The host
 * emulation can force the 64-bit path (tsk_emu_wide_index) to test it. */
static inline int
tsk_int_index (int64_t n)
{
#ifdef TSK_HOST_EMULATION
  if (tsk_emu_wide_index)
    return 0;
#endif
  return n < (1LL << 30);
}

/* f (I ()) with I = int where tsk_int_index (@n) allows, else int64_t: a
 * launcher picks kernel<I> at run time with one call written */
template <typename F>
static inline void
tsk_with_index (int64_t n, F f)
{
  if (tsk_int_index (n))
    f ((int) 0);
  else
    f ((int64_t) 0);
}

#define TSK_FOR(i, n) \
  for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (int64_t) blockDim.x * gridDim.x)

/* TSK_FOR with an index of type I (int where tsk_int_index allows) */
#define TSK_FOR_I(I, i, n) \
  for (I i = (I) blockIdx.x * (I) blockDim.x + (I) threadIdx.x; i < (n); \
       i += (I) blockDim.x * (I) gridDim.x)

/* p[0] + p[1] + ... + p[n - 1], in that order: the fixed-order combine of a
 * channel's per-block partial sums (batch norm, bias gradients) */
static __device__ __forceinline__ double
tsk_sum_in_order (const double *p, int n)
{
  double s = 0.0;
  for (int i = 0; i < n; i++)
    s += p[i];
  return s;
}

/* Sum over the block (blockDim.x == TSK_THREADS); the result is valid in thread 0.
 * A fixed tree, so the result does not depend on scheduling. */
template <typename T>
static __device__ T
tsk_block_sum (T v)
{
#ifdef TSK_HOST_EMULATION
  if (blockDim.x == 1)
    return v;   /* one thread per block */
#endif
  TSK_SHARED (T, buf, TSK_THREADS);
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

/* ---- vector access: V consecutive values in one load or store ----
 *
 * tsk_ld_word / tsk_st_word move one word W (uint4: 16 bytes; uint2,
 * unsigned int) at @p, which must be aligned to sizeof (W).  On the GPU a
 * single vector access; in the host emulation memcpy, because the host
 * compiler's aliasing rules forbid reading float or uint16_t storage
 * through a uint4 or float4 lvalue (emu-kernels.cpp is built at -O2 with
 * strict aliasing), and memcpy of a fixed size compiles to the same move. */
template <typename W>
static __device__ __forceinline__ W
tsk_ld_word (const void *p)
{
#ifdef TSK_HOST_EMULATION
  W w;
  memcpy (&w, p, sizeof w);
  return w;
#else
  return *(const W *) p;
#endif
}

template <typename W>
static __device__ __forceinline__ void
tsk_st_word (void *p, W w)
{
#ifdef TSK_HOST_EMULATION
  memcpy (p, &w, sizeof w);
#else
  *(W *) p = w;
#endif
}

/* float: V = 4 (one float4, p 16-byte aligned) or 1 */
template <int V>
static __device__ __forceinline__ void
tsk_load_v (const float *p, float (&o)[V])
{
  static_assert (V == 1 || V == 4, "float vectors are 1 or 4 wide");
  if constexpr (V == 4)
    {
      float4 t = tsk_ld_word<float4> (p);
      o[0] = t.x, o[1] = t.y, o[2] = t.z, o[3] = t.w;
    }
  else
    o[0] = *p;
}

template <int V>
static __device__ __forceinline__ void
tsk_store_v (float *p, const float (&o)[V])
{
  static_assert (V == 1 || V == 4, "float vectors are 1 or 4 wide");
  if constexpr (V == 4)
    {
      float4 t;
      t.x = o[0], t.y = o[1], t.z = o[2], t.w = o[3];
      tsk_st_word<float4> (p, t);
    }
  else
    *p = o[0];
}

/* bfloat16: V = 8 (one uint4), 4 (uint2), 2 (one 32-bit word) or 1, p at a
 * multiple of 2 V bytes.  Each 32-bit word holds two values, the lower
 * address in the low half (the GPU and the emulating host are both
 * little-endian). */
static __device__ __forceinline__ void
tsk_bf16_unpack (unsigned int u, float *o)
{
  o[0] = tsk_bf16_to_f32 ((tsk_bf16) (u & 0xffffu));
  o[1] = tsk_bf16_to_f32 ((tsk_bf16) (u >> 16));
}

/* every bfloat16 store rounds here, through tsk_f32_to_bf16 */
static __device__ __forceinline__ unsigned int
tsk_bf16_pack (const float *v)
{
  return (unsigned int) tsk_f32_to_bf16 (v[0]) | ((unsigned int) tsk_f32_to_bf16 (v[1]) << 16);
}

template <int V>
static __device__ __forceinline__ void
tsk_load_v (const tsk_bf16 *p, float (&o)[V])
{
  static_assert (V == 1 || V == 2 || V == 4 || V == 8, "bf16 vectors are 1, 2, 4 or 8 wide");
  if constexpr (V == 8)
    {
      uint4 u = tsk_ld_word<uint4> (p);
      tsk_bf16_unpack (u.x, o), tsk_bf16_unpack (u.y, o + 2);
      tsk_bf16_unpack (u.z, o + 4), tsk_bf16_unpack (u.w, o + 6);
    }
  else if constexpr (V == 4)
    {
      uint2 u = tsk_ld_word<uint2> (p);
      tsk_bf16_unpack (u.x, o), tsk_bf16_unpack (u.y, o + 2);
    }
  else if constexpr (V == 2)
    tsk_bf16_unpack (tsk_ld_word<unsigned int> (p), o);
  else
    o[0] = tsk_bf16_to_f32 (p[0]);
}

template <int V>
static __device__ __forceinline__ void
tsk_store_v (tsk_bf16 *p, const float (&v)[V])
{
  static_assert (V == 1 || V == 2 || V == 4 || V == 8, "bf16 vectors are 1, 2, 4 or 8 wide");
  if constexpr (V == 8)
    {
      uint4 u;
      u.x = tsk_bf16_pack (v), u.y = tsk_bf16_pack (v + 2);
      u.z = tsk_bf16_pack (v + 4), u.w = tsk_bf16_pack (v + 6);
      tsk_st_word<uint4> (p, u);
    }
  else if constexpr (V == 4)
    {
      uint2 u;
      u.x = tsk_bf16_pack (v), u.y = tsk_bf16_pack (v + 2);
      tsk_st_word<uint2> (p, u);
    }
  else if constexpr (V == 2)
    tsk_st_word<unsigned int> (p, tsk_bf16_pack (v));
  else
    p[0] = tsk_f32_to_bf16 (v[0]);
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
