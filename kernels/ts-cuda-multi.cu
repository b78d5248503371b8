/* ts-cuda-multi.cu: multi-tensor forms of Adam, the finite check and copies:
 * one launch for up to TSK_MULTI_MAX tensors, their pointers passed by value
 * in the kernel's parameters (no table to upload).  Each tensor gets blocks
 * in proportion to its size; a block finds its tensor from block_start.
 * Element by element, these compute exactly what the single-tensor kernels
 * do (ts-cuda-adam.cu, ts-cuda-reduce.cu, ts-cuda-eltwise.cu). */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

/* which tensor block b works on, the block's index in that tensor's blocks and
 * their count */
static __device__ __forceinline__ int
multi_item (const tsk_multi &t, int *local, int *count)
{
  int it = 0, b = (int) blockIdx.x;
  while (b >= t.block_start[it + 1])
    it++;
  *local = b - t.block_start[it];
  *count = t.block_start[it + 1] - t.block_start[it];
  return it;
}

#define MULTI_FOR(i, n, local, count) \
  for (int64_t i = (int64_t) (local) * blockDim.x + threadIdx.x; i < (n); \
       i += (int64_t) (count) * blockDim.x)

static __global__ void
adam_multi_kernel (tsk_multi t, float b1, float b2, float eps)
{
  int local, count, it = multi_item (t, &local, &count);
  float *p = t.a[it], *m = t.m[it], *v = t.v[it];
  const float *g = t.b[it];

  MULTI_FOR (i, t.len[it], local, count)
    tsk_adam_one (p, g, m, v, i, t.lr[it], b1, b2, eps, t.decay[it], t.inv_bc1[it], t.inv_bc2[it]);
}

static __global__ void
nonfinite_multi_kernel (tsk_multi t, int *flags)
{
  int local, count, it = multi_item (t, &local, &count), bad = 0;
  const float *x = t.b[it];

  MULTI_FOR (i, t.len[it], local, count)
    bad |= !isfinite (x[i]);
  if (bad)
    flags[it] = 1;   /* every writer writes 1: no race on the value */
}

static __global__ void
copy_multi_kernel (tsk_multi t)
{
  int local, count, it = multi_item (t, &local, &count);
  float *y = t.a[it];
  const float *x = t.b[it];

  MULTI_FOR (i, t.len[it], local, count)
    y[i] = x[i];
}

extern "C" int
tsk_multi_plan (tsk_multi *t)
{
  int b = 0;

  for (int i = 0; i < t->n; i++)
    {
      /* about 8 elements a thread, at most 512 blocks for one tensor */
      int64_t want = (t->len[i] + 8 * TSK_THREADS - 1) / (8 * TSK_THREADS);
      t->block_start[i] = b;
      b += (int) (want < 1 ? 1 : want > 512 ? 512 : want);
    }
  t->block_start[t->n] = b;
  return b;
}

extern "C" void
tsk_adam_multi (cudaStream_t s, tsk_multi *t, float b1, float b2, float eps)
{
  int blocks = tsk_multi_plan (t);
  if (t->n > 0)
    TSK_LAUNCH (adam_multi_kernel, blocks, s) (*t, b1, b2, eps);
}

extern "C" void
tsk_nonfinite_multi (cudaStream_t s, tsk_multi *t, int *flags)
{
  int blocks = tsk_multi_plan (t);
  if (t->n > 0)
    TSK_LAUNCH (nonfinite_multi_kernel, blocks, s) (*t, flags);
}

extern "C" void
tsk_copy_multi (cudaStream_t s, tsk_multi *t)
{
  int blocks = tsk_multi_plan (t);
  if (t->n > 0)
    TSK_LAUNCH (copy_multi_kernel, blocks, s) (*t);
}
