/* ts-cuda-batchnorm.cu: batch norm over (N, plane) per channel, as
 * src/engine/cpu/ts-cpu-batchnorm.c: two-pass variance, biased to normalise,
 * unbiased for the running variance, sums in double.
 * One block per channel keeps the reductions fixed-order and simple; a
 * faster version (several blocks per channel, or cuDNN) should come later for
 * the wide early layers at large batches. */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

#define BN_AT(ch, k) (((k) / plane * c + (ch)) * plane + (k) % plane)

static __global__ void
bn_train_kernel (int64_t n, int64_t c, int64_t plane, const float *x, const float *gamma,
                 const float *beta, float *running_mean, float *running_var, float momentum,
                 float eps, float *y, float *save_mean, float *save_invstd)
{
  int64_t ch = blockIdx.x, cnt = n * plane;
  double s = 0.0, sq = 0.0;

  for (int64_t k = threadIdx.x; k < cnt; k += blockDim.x)
    s += x[BN_AT (ch, k)];
  s = tsk_block_sum<double> (s);
  float mean = (float) (s / (double) cnt);
  for (int64_t k = threadIdx.x; k < cnt; k += blockDim.x)
    {
      float d = x[BN_AT (ch, k)] - mean;
      sq += (double) (d * d);
    }
  sq = tsk_block_sum<double> (sq);
  float var = (float) (sq / (double) cnt);
  float invstd = 1.0f / sqrtf (var + eps);
  float g = gamma ? gamma[ch] : 1.0f, b = beta ? beta[ch] : 0.0f;
  float scale = g * invstd, shift = b - mean * scale;
  for (int64_t k = threadIdx.x; k < cnt; k += blockDim.x)
    {
      int64_t at = BN_AT (ch, k);
      y[at] = x[at] * scale + shift;
    }
  if (threadIdx.x == 0)
    {
      if (save_mean)
        save_mean[ch] = mean;
      if (save_invstd)
        save_invstd[ch] = invstd;
      if (running_mean)
        running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mean;
      if (running_var)
        {
          float unbiased = cnt > 1 ? (float) (sq / (double) (cnt - 1)) : var;
          running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * unbiased;
        }
    }
}

static __global__ void
bn_eval_kernel (int64_t n, int64_t c, int64_t plane, const float *x, const float *gamma,
                const float *beta, const float *mean, const float *var, float eps, float *y)
{
  TSK_FOR (i, n * c * plane)
    {
      int64_t ch = i / plane % c;
      float invstd = 1.0f / sqrtf (var[ch] + eps);
      float g = gamma ? gamma[ch] : 1.0f, b = beta ? beta[ch] : 0.0f;
      float scale = g * invstd, shift = b - mean[ch] * scale;
      y[i] = x[i] * scale + shift;
    }
}

static __global__ void
bn_backward_kernel (int64_t n, int64_t c, int64_t plane, const float *x, const float *gamma,
                    const float *save_mean, const float *save_invstd, const float *dy,
                    float *dx, float *dgamma, float *dbeta)
{
  int64_t ch = blockIdx.x, cnt = n * plane;
  float mean = save_mean[ch], invstd = save_invstd[ch];
  double sdy = 0.0, sdyx = 0.0;

  for (int64_t k = threadIdx.x; k < cnt; k += blockDim.x)
    {
      int64_t at = BN_AT (ch, k);
      sdy += dy[at];
      sdyx += (double) (dy[at] * (x[at] - mean));
    }
  sdy = tsk_block_sum<double> (sdy);
  sdyx = tsk_block_sum<double> (sdyx);
  float db = (float) sdy, dg = (float) (sdyx * invstd);
  if (threadIdx.x == 0)
    {
      if (dgamma)
        dgamma[ch] = dg;
      if (dbeta)
        dbeta[ch] = db;
    }
  if (dx)
    {
      float g = gamma ? gamma[ch] : 1.0f;
      float k = g * invstd, mdy = db / (float) cnt, cx = invstd * dg / (float) cnt;
      for (int64_t j = threadIdx.x; j < cnt; j += blockDim.x)
        {
          int64_t at = BN_AT (ch, j);
          dx[at] = k * (dy[at] - mdy - (x[at] - mean) * cx);
        }
    }
}

extern "C" void
tsk_bn_train (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const float *x,
              const float *gamma, const float *beta, float *running_mean, float *running_var,
              float momentum, float eps, float *y, float *save_mean, float *save_invstd)
{
  if (n * c * plane > 0)
    TSK_LAUNCH (bn_train_kernel, (unsigned int) c, s) (n, c, plane, x, gamma, beta,
                                                              running_mean, running_var,
                                                              momentum, eps, y, save_mean,
                                                              save_invstd);
}

extern "C" void
tsk_bn_eval (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const float *x,
             const float *gamma, const float *beta, const float *mean, const float *var,
             float eps, float *y)
{
  if (n * c * plane > 0)
    TSK_LAUNCH (bn_eval_kernel, tsk_blocks (n * c * plane), s) (n, c, plane, x, gamma,
                                                                       beta, mean, var, eps, y);
}

extern "C" void
tsk_bn_backward (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const float *x,
                 const float *gamma, const float *mean, const float *invstd, const float *dy,
                 float *dx, float *dgamma, float *dbeta)
{
  if (n * c * plane > 0)
    TSK_LAUNCH (bn_backward_kernel, (unsigned int) c, s) (n, c, plane, x, gamma, mean,
                                                                 invstd, dy, dx, dgamma, dbeta);
}
