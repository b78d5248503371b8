/* ts-cpu-batchnorm.c: batch norm over (N, H, W) per channel, 2d [N,C,H,W] and 1d [N,C].
 *
 * Channels are split across threads; within a channel each [H,W] plane is
 * reduced in float SIMD lanes and the planes are summed in double, so large
 * batches keep their precision.  The variance is two-pass (mean first).
 */
#include "ts-cpu-private.h"
#include "ts-op-shapes.h"

#include <math.h>

typedef struct {
  int64_t n, c, plane;
  const float *x, *gamma, *beta, *dy;
  const float *mean_in, *invstd_in;          /* eval: running stats; backward: saved */
  float *y, *dx, *dgamma, *dbeta;
  float *running_mean, *running_var, *save_mean, *save_invstd;
  float momentum, eps;
} bn_args;

static inline float
plane_sum (const float *x, int64_t n)
{
  float s = 0.0f;
#pragma omp simd reduction(+:s)
  for (int64_t i = 0; i < n; i++)
    s += x[i];
  return s;
}

static inline float
plane_sqdev (const float *x, int64_t n, float mean)
{
  float s = 0.0f;
#pragma omp simd reduction(+:s)
  for (int64_t i = 0; i < n; i++)
    s += (x[i] - mean) * (x[i] - mean);
  return s;
}

static void
bn_apply (const bn_args *a, int64_t ch, float mean, float invstd)
{
  float g = a->gamma ? a->gamma[ch] : 1.0f;
  float b = a->beta ? a->beta[ch] : 0.0f;
  float scale = g * invstd, shift = b - mean * scale;

  for (int64_t n = 0; n < a->n; n++)
    {
      const float *x = a->x + (n * a->c + ch) * a->plane;
      float *y = a->y + (n * a->c + ch) * a->plane;
#pragma omp simd
      for (int64_t i = 0; i < a->plane; i++)
        y[i] = x[i] * scale + shift;
    }
}

static TS_CPU_CLONES void
bn_train_task (void *arg, int tid, int nt)
{
  bn_args *a = arg;
  int64_t c0, c1, cnt = a->n * a->plane;

  ts_cpu_range (a->c, tid, nt, &c0, &c1);
  for (int64_t ch = c0; ch < c1; ch++)
    {
      double s = 0.0, sq = 0.0;
      float mean, var, invstd;

      for (int64_t n = 0; n < a->n; n++)
        s += plane_sum (a->x + (n * a->c + ch) * a->plane, a->plane);
      mean = (float) (s / (double) cnt);
      for (int64_t n = 0; n < a->n; n++)
        sq += plane_sqdev (a->x + (n * a->c + ch) * a->plane, a->plane, mean);
      var = (float) (sq / (double) cnt);
      invstd = 1.0f / sqrtf (var + a->eps);
      bn_apply (a, ch, mean, invstd);
      if (a->save_mean)
        a->save_mean[ch] = mean;
      if (a->save_invstd)
        a->save_invstd[ch] = invstd;
      if (a->running_mean)
        a->running_mean[ch] = (1.0f - a->momentum) * a->running_mean[ch] + a->momentum * mean;
      if (a->running_var)
        {
          float unbiased = cnt > 1 ? (float) (sq / (double) (cnt - 1)) : var;
          a->running_var[ch] = (1.0f - a->momentum) * a->running_var[ch]
                               + a->momentum * unbiased;
        }
    }
}

void
ts_cpu_batchnorm_forward_train (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                                const ts_tensor *beta, ts_tensor *running_mean,
                                ts_tensor *running_var, float momentum, float eps, ts_tensor *y,
                                ts_tensor *save_mean, ts_tensor *save_invstd)
{
  bn_args a = { .x = x->data, .gamma = gamma ? gamma->data : NULL,
                .beta = beta ? beta->data : NULL, .y = y->data,
                .running_mean = running_mean ? running_mean->data : NULL,
                .running_var = running_var ? running_var->data : NULL,
                .save_mean = save_mean ? save_mean->data : NULL,
                .save_invstd = save_invstd ? save_invstd->data : NULL,
                .momentum = momentum, .eps = eps };

  if (!ts_op_bn_dims ("batchnorm", x, y, &a.n, &a.c, &a.plane) || a.n * a.plane == 0)
    return;
  ts_cpu_parallel_sized (be, bn_train_task, &a, x->numel);
}

static TS_CPU_CLONES void
bn_eval_task (void *arg, int tid, int nt)
{
  bn_args *a = arg;
  int64_t c0, c1;

  ts_cpu_range (a->c, tid, nt, &c0, &c1);
  for (int64_t ch = c0; ch < c1; ch++)
    bn_apply (a, ch, a->mean_in[ch], 1.0f / sqrtf (a->running_var[ch] + a->eps));
}

void
ts_cpu_batchnorm_forward_eval (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                               const ts_tensor *beta, const ts_tensor *running_mean,
                               const ts_tensor *running_var, float eps, ts_tensor *y)
{
  bn_args a = { .x = x->data, .gamma = gamma ? gamma->data : NULL,
                .beta = beta ? beta->data : NULL, .y = y->data,
                .mean_in = running_mean->data, .running_var = running_var->data, .eps = eps };

  if (!ts_op_bn_dims ("batchnorm eval", x, y, &a.n, &a.c, &a.plane))
    return;
  ts_cpu_parallel_sized (be, bn_eval_task, &a, x->numel);
}

static TS_CPU_CLONES void
bn_backward_task (void *arg, int tid, int nt)
{
  bn_args *a = arg;
  int64_t c0, c1, cnt = a->n * a->plane;

  ts_cpu_range (a->c, tid, nt, &c0, &c1);
  for (int64_t ch = c0; ch < c1; ch++)
    {
      float mean = a->mean_in[ch], invstd = a->invstd_in[ch];
      double sdy = 0.0, sdyx = 0.0;

      for (int64_t n = 0; n < a->n; n++)
        {
          const float *x = a->x + (n * a->c + ch) * a->plane;
          const float *dy = a->dy + (n * a->c + ch) * a->plane;
          float s1 = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+:s1, s2)
          for (int64_t i = 0; i < a->plane; i++)
            {
              s1 += dy[i];
              s2 += dy[i] * (x[i] - mean);
            }
          sdy += s1;
          sdyx += s2;
        }
      /* dgamma = sum dy * xhat, dbeta = sum dy */
      float dbeta = (float) sdy, dgamma = (float) (sdyx * invstd);
      if (a->dgamma)
        a->dgamma[ch] = dgamma;
      if (a->dbeta)
        a->dbeta[ch] = dbeta;
      if (a->dx)
        {
          /* dx = g*invstd * (dy - dbeta/cnt - xhat * dgamma/cnt) */
          float g = a->gamma ? a->gamma[ch] : 1.0f;
          float k = g * invstd;
          float mdy = dbeta / (float) cnt;
          float cx = invstd * dgamma / (float) cnt;  /* xhat * dgamma/cnt = (x-mean)*cx */
          for (int64_t n = 0; n < a->n; n++)
            {
              const float *x = a->x + (n * a->c + ch) * a->plane;
              const float *dy = a->dy + (n * a->c + ch) * a->plane;
              float *dx = a->dx + (n * a->c + ch) * a->plane;
#pragma omp simd
              for (int64_t i = 0; i < a->plane; i++)
                dx[i] = k * (dy[i] - mdy - (x[i] - mean) * cx);
            }
        }
    }
}

void
ts_cpu_batchnorm_backward (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                           const ts_tensor *save_mean, const ts_tensor *save_invstd,
                           const ts_tensor *dy, ts_tensor *dx, ts_tensor *dgamma,
                           ts_tensor *dbeta)
{
  bn_args a = { .x = x->data, .gamma = gamma ? gamma->data : NULL, .dy = dy->data,
                .mean_in = save_mean->data, .invstd_in = save_invstd->data,
                .dx = dx ? dx->data : NULL, .dgamma = dgamma ? dgamma->data : NULL,
                .dbeta = dbeta ? dbeta->data : NULL };

  if (!ts_op_bn_dims ("batchnorm backward", x, dy, &a.n, &a.c, &a.plane) || a.n * a.plane == 0)
    return;
  ts_cpu_parallel_sized (be, bn_backward_task, &a, x->numel);
}
