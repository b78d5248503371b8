/* ts-cuda-bn.cuh: the per-channel passes of batch norm that do not read the
 * activations' layout: they turn the partial sums (part[ch * splits + sp]
 * of the first sum, part[c * splits + ch * splits + sp] of the second, added
 * in that fixed order so results repeat exactly) into per-channel
 * coefficients.  Shared by the NCHW float32 kernels (ts-cuda-batchnorm.cu)
 * and the NHWC bfloat16 ones (ts-cuda-bn-nhwc.cu); one thread per channel. */
#pragma once

#include "ts-cuda-common.cuh"

/* dy (V values at @at) taken through the activation @act (tsk_relu_act,
 * -1 none) from its output y_act: the gradient batch norm's backward sums
 * and scales, float or bfloat16 storage */
template <int V, typename T>
static __device__ __forceinline__ void
bn_act_grad_v (const T *dy, const T *y_act, int act, int64_t at, float (&g)[V])
{
  tsk_load_v<V> (dy + at, g);
  if (act >= 0)
    {
      float yv[V];
      tsk_load_v<V> (y_act + at, yv);
      for (int j = 0; j < V; j++)
        g[j] = tsk_relu_act_grad (act, yv[j], g[j]);
    }
}

/* From the partial sums of x - K (K: the channel's first element, at
 * x[ch * k_stride], float or bfloat16 storage): the statistics, the running
 * ones updated, and coef[0..c) = scale, coef[c..2c) = shift
 * (y = x * scale + shift). */
template <typename T>
static __global__ void
bn_train_finish_kernel (int n, int c, int plane, int splits, const T *x, int64_t k_stride,
                        const double *part, const float *gamma, const float *beta,
                        float *running_mean, float *running_var, float momentum, float eps,
                        float *save_mean, float *save_invstd, float *coef)
{
  TSK_FOR (ch, c)
    {
      double cnt = (double) n * plane;
      double s1 = tsk_sum_in_order (part + ch * splits, splits);
      double s2 = tsk_sum_in_order (part + (c + ch) * splits, splits);
      double dm = s1 / cnt, var_d = s2 / cnt - dm * dm;
      if (var_d < 0.0)
        var_d = 0.0;
      float mean = (float) ((double) tsk_ld (x, ch * k_stride) + dm), var = (float) var_d;
      float invstd = 1.0f / sqrtf (var + eps);
      float g = gamma ? gamma[ch] : 1.0f, b = beta ? beta[ch] : 0.0f;
      coef[ch] = g * invstd;
      coef[c + ch] = b - mean * g * invstd;
      if (save_mean)
        save_mean[ch] = mean;
      if (save_invstd)
        save_invstd[ch] = invstd;
      if (running_mean)
        running_mean[ch] = (1.0f - momentum) * running_mean[ch] + momentum * mean;
      if (running_var)
        {
          float unbiased = cnt > 1.0 ? (float) (var_d * cnt / (cnt - 1.0)) : var;
          running_var[ch] = (1.0f - momentum) * running_var[ch] + momentum * unbiased;
        }
    }
}

static __global__ void
bn_eval_coef_kernel (int c, const float *gamma, const float *beta, const float *mean,
                     const float *var, float eps, float *coef)
{
  TSK_FOR (ch, c)
    {
      float invstd = 1.0f / sqrtf (var[ch] + eps);
      float g = gamma ? gamma[ch] : 1.0f, b = beta ? beta[ch] : 0.0f;
      coef[ch] = g * invstd;
      coef[c + ch] = b - mean[ch] * g * invstd;
    }
}

/* From the partial sums of dy and dy * (x - mean): dgamma, dbeta, and
 * coef = (k, mdy, cx, mean) per channel for dx = k (dy - mdy - (x - mean) cx). */
static __global__ void
bn_backward_finish_kernel (int n, int c, int plane, int splits, const double *part,
                           const float *gamma, const float *save_mean,
                           const float *save_invstd, float *dgamma, float *dbeta, float *coef)
{
  TSK_FOR (ch, c)
    {
      double sdy = tsk_sum_in_order (part + ch * splits, splits);
      double sdyx = tsk_sum_in_order (part + (c + ch) * splits, splits);
      float cnt = (float) ((int64_t) n * plane), invstd = save_invstd[ch];
      float db = (float) sdy, dg = (float) (sdyx * invstd);
      if (dgamma)
        dgamma[ch] = dg;
      if (dbeta)
        dbeta[ch] = db;
      coef[ch] = (gamma ? gamma[ch] : 1.0f) * invstd;
      coef[c + ch] = db / cnt;
      coef[2 * c + ch] = invstd * dg / cnt;
      coef[3 * c + ch] = save_mean[ch];
    }
}
