/* ts-cuda-reduce.cu: whole-tensor reductions (sum of squares, the finite check,
 * BCEWithLogits).  Two fixed passes (per-block partials in double, then one
 * block over the partials), so results repeat exactly from run to run. */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

enum { RED_SUMSQ, RED_NONFINITE, RED_BCE };

/* T: x's storage type (float, or tsk_bf16 for the sum of squares and the
 * finite check of a bfloat16 tensor; BCE is float32 only) */
template <typename T>
static __global__ void
partial_kernel (int kind, int64_t n, const T *x, const float *t, float *dx,
                double *partial)
{
  double acc = 0.0;

  TSK_FOR (i, n)
    {
      float v = tsk_ld (x, i);
      if (kind == RED_SUMSQ)
        acc += (double) v * (double) v;
      else if (kind == RED_NONFINITE)
        acc += isfinite (v) ? 0.0 : 1.0;
      else
        {
          /* max(x,0) - x*t + log(1 + exp(-|x|)): never overflows (as the CPU backend) */
          double xi = v;
          acc += (xi > 0.0 ? xi : 0.0) - xi * t[i] + log1p (exp (-fabs (xi)));
          if (dx)
            {
              float sg = v >= 0.0f ? 1.0f / (1.0f + expf (-v)) : expf (v) / (1.0f + expf (v));
              dx[i] = (sg - t[i]) / (float) n;
            }
        }
    }
  acc = tsk_block_sum<double> (acc);
  if (threadIdx.x == 0)
    partial[1 + blockIdx.x] = acc;
}

static __global__ void
final_kernel (int nparts, double *partial)
{
  double acc = 0.0;
  for (int i = threadIdx.x; i < nparts; i += blockDim.x)
    acc += partial[1 + i];
  acc = tsk_block_sum<double> (acc);
  if (threadIdx.x == 0)
    partial[0] = acc;
}

extern "C" int
tsk_reduce_blocks (int64_t n)
{
  unsigned int b = tsk_blocks (n);
  return (int) (b > 1024 ? 1024 : b);
}

template <typename T>
static void
reduce (cudaStream_t s, int kind, int64_t n, const T *x, const float *t, float *dx,
        double *partial)
{
  int blocks = tsk_reduce_blocks (n);
  auto k = partial_kernel<T>;
  TSK_LAUNCH (k, blocks, s) (kind, n, x, t, dx, partial);
  TSK_LAUNCH (final_kernel, 1, s) (blocks, partial);
}

extern "C" void
tsk_sum_squares (cudaStream_t s, int64_t n, const float *x, double *partial)
{
  reduce (s, RED_SUMSQ, n, x, NULL, NULL, partial);
}

extern "C" void
tsk_count_nonfinite (cudaStream_t s, int64_t n, const float *x, double *partial)
{
  reduce (s, RED_NONFINITE, n, x, NULL, NULL, partial);
}

extern "C" void
tsk_sum_squares_bf16 (cudaStream_t s, int64_t n, const uint16_t *x, double *partial)
{
  reduce<tsk_bf16> (s, RED_SUMSQ, n, x, NULL, NULL, partial);
}

extern "C" void
tsk_count_nonfinite_bf16 (cudaStream_t s, int64_t n, const uint16_t *x, double *partial)
{
  reduce<tsk_bf16> (s, RED_NONFINITE, n, x, NULL, NULL, partial);
}

extern "C" void
tsk_bce_with_logits (cudaStream_t s, int64_t n, const float *x, const float *t, float *dx,
                     double *partial)
{
  reduce (s, RED_BCE, n, x, t, dx, partial);
}
