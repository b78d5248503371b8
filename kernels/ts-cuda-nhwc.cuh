/* ts-cuda-nhwc.cuh: how the kernels over bfloat16 NHWC activations (the bf16
 * precision policy, docs/cuda.md) walk them, and the per-channel sums they
 * share: batch norm's statistics and gradients (ts-cuda-bn-nhwc.cu) and a
 * convolution's bias gradient (ts-cuda-conv-nhwc.cu).
 *
 * NHWC makes the channel the fastest index: a tensor is `rows` = N*H*W
 * pixels of C channels each.  A pass maps a block's threads to a tile of
 * `lanes` threads along C (consecutive channels of one pixel, V channels a
 * thread, so a warp reads one contiguous run of memory: several whole
 * pixels when C is small) by 256 / lanes pixels, and walks down the pixels;
 * a thread's channels never change. */
#pragma once

#include <type_traits>

#include "ts-cuda-common.cuh"

/* Threads along C a block tile has at most: one warp (512 bytes of a pixel
 * at V = 8); a wider C takes more channel groups, so more blocks, rather
 * than fewer pixels a block. */
#define NHWC_MAX_LANES 32

/* Rows a thread sums in float before it adds them into its double: few
 * enough that float's rounding stays far below bfloat16's, and it keeps
 * the per-thread sums in float registers (the double ones wait in shared
 * memory). */
#define NHWC_FLOAT_RUN 16

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

static inline nhwc_geom
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
static inline int
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

/* f (std::integral_constant<int, V> ()) for V = @v (8, 4, 2 or 1): so a
 * launcher picks kernel<V> at run time with one call written */
template <typename F>
static inline void
nhwc_with_v (int v, F f)
{
  switch (v)
    {
    case 8: f (std::integral_constant<int, 8> ()); break;
    case 4: f (std::integral_constant<int, 4> ()); break;
    case 2: f (std::integral_constant<int, 2> ()); break;
    default: f (std::integral_constant<int, 1> ()); break;
    }
}

/* f (I (), std::integral_constant<int, V> ()) with tsk_with_index's I for
 * @n and nhwc_with_v's V for @v: a launcher picks kernel<I, V> */
template <typename F>
static inline void
nhwc_with_index_v (int64_t n, int v, F f)
{
  tsk_with_index (n, [&] (auto i_) { nhwc_with_v (v, [&] (auto v_) { f (i_, v_); }); });
}

/* TSK_LAUNCH (kernel<V>, blocks, s) (args) for V = @v, the kernel's only
 * template argument */
#define NHWC_LAUNCH_V(v, kernel, blocks, s, ...)                          \
  nhwc_with_v ((v), [&] (auto v_) {                                       \
    TSK_LAUNCH (kernel<decltype (v_)::value>, (blocks), (s)) (__VA_ARGS__); \
  })

/* ---- per-channel sums ----
 *
 * Sums over the rows of each channel, deterministic and without atomics,
 * in two launches: nhwc_channel_sums (a block per channel group and split
 * of the rows) writes partial sums, then one thread per channel adds a
 * channel's partials in split order (tsk_sum_in_order). */

/* Blocks per channel group for the partial sums: about 1024 blocks in all,
 * each thread with at least 4 pixels on a GPU's 256-thread block. */
static inline int
nhwc_splits (int64_t rows, nhwc_geom g)
{
  int64_t per = TSK_THREADS / g.lanes;
  int64_t s = (1024 + g.groups - 1) / g.groups, by_work = rows / (4 * per);
  if (s > by_work)
    s = by_work;
  return s < 1 ? 1 : (int) s;
}

/* The most splits any vector width may take for [rows][c]: a work size
 * asked for before the addresses (and so V) are known. */
static inline int
nhwc_most_splits (int64_t rows, int64_t c)
{
  int most = 1;
  for (int v = 1; v <= 8; v *= 2)
    if (c % v == 0)
      {
        int s = nhwc_splits (rows, nhwc_geom_for (c, v));
        most = s > most ? s : most;
      }
  return most;
}

/* The kernels that call nhwc_channel_sums<V, NS> promise 4 blocks of 256 an
 * SM for NS = 2 (half of an H200's threads; buf leaves room for 6 at V =
 * 8), 6 for NS = 1, which caps them at 64 and 40 registers: unbounded,
 * ptxas spends 72 at V = 8, NS = 2 (3 blocks) on holding the flush's and
 * the tree's shared loads in flight.  The tree unrolled by 2 only: fully
 * unrolled it spills under that cap (nvcc 13, sm_90; check with
 * --resource-usage after a change: no spill stores). */
#define NHWC_SUMS_BOUNDS(ns) TSK_BOUNDS ((ns) == 1 ? 6 : 4)

/* Block b = group * splits + split sums NS quantities over its group's
 * channels and its split's contiguous range of rows into
 * part[q * c * splits + ch * splits + split] (q < NS).  TERMS says what is
 * summed: terms.start (ch0) once for channels ch0 .. ch0 + V - 1, then
 * terms.add (at, f) adds element at .. at + V - 1's NS quantities into
 * f[q][j].
 *
 * Each thread sums its rows (r0 + sub, r0 + sub + per, ...) in float for
 * NHWC_FLOAT_RUN rows at a time, then adds that run into its own double
 * in shared memory; the w.per threads of a lane are then added by a fixed
 * tree in double.  Every order is fixed: results repeat bit for bit. */
template <int V, int NS, typename TERMS>
static __device__ __forceinline__ void
nhwc_channel_sums (int64_t rows, int c, int lanes, int splits, TERMS terms, double *part)
{
  /* [NS * V][blockDim]: quantity q of thread t at q * blockDim + t */
  TSK_SHARED (double, buf, NS * V * TSK_THREADS);
  int grp = (int) blockIdx.x / splits, sp = (int) blockIdx.x % splits;
  int64_t r0 = rows * sp / splits, r1 = rows * (sp + 1) / splits;
  int bd = (int) blockDim.x, t = (int) threadIdx.x;
  nhwc_walk w = nhwc_walk_for (lanes);

  /* the same trip count in every thread: the barriers below are reached by all */
  for (int l = w.l0; l < lanes; l += w.step)
    {
      int ch0 = (grp * lanes + l) * V;
      bool live = ch0 < c;

      for (int q = 0; q < NS * V; q++)
        buf[q * bd + t] = 0.0;
      if (live)
        {
          int64_t r = r0 + w.sub, at = r * c + ch0, step = (int64_t) w.per * c;
          terms.start (ch0);
          while (r < r1)
            {
              float f[NS][V];
              for (int q = 0; q < NS; q++)
                for (int j = 0; j < V; j++)
                  f[q][j] = 0.0f;
              for (int k = 0; k < NHWC_FLOAT_RUN && r < r1; k++, r += w.per, at += step)
                terms.add (at, f);
              for (int q = 0; q < NS; q++)
                for (int j = 0; j < V; j++)
                  buf[(q * V + j) * bd + t] += f[q][j];
            }
        }
      /* the tree over the w.per threads of this lane (t, t + step, ...) */
      __syncthreads ();
      for (int h = w.per / 2; h > 0; h >>= 1)
        {
          if (w.sub < h)
            {
              TSK_UNROLL (2)
              for (int q = 0; q < NS * V; q++)
                buf[q * bd + t] += buf[q * bd + t + h * w.step];
            }
          __syncthreads ();
        }
      if (w.sub == 0 && live)
        for (int q = 0; q < NS; q++)
          for (int j = 0; j < V; j++)
            part[((int64_t) q * c + ch0 + j) * splits + sp] = buf[(q * V + j) * bd + t];
      __syncthreads ();   /* buf is refilled for the next lane */
    }
}
