/* ts-cpu-adam.c: fastai's Adam with true weight decay for one parameter tensor:
 *   p -= lr*wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *   p -= lr * (m/(1-b1^step)) / (sqrt(v/(1-b2^step)) + eps)
 * (eps is added outside the square root, as fastai does). */
#include "ts-cpu-private.h"

#include <math.h>

typedef struct {
  float *p, *m, *v;
  const float *g;
  int64_t n;
  float lr, b1, b2, eps, decay, inv_bc1, inv_bc2;
} adam_args;

static TS_CPU_CLONES void
adam_range (const adam_args *a, int64_t i0, int64_t i1)
{
#pragma omp simd
  for (int64_t i = i0; i < i1; i++)
    {
      float g = a->g[i];
      float p = a->p[i] * a->decay;
      float m = a->b1 * a->m[i] + (1.0f - a->b1) * g;
      float v = a->b2 * a->v[i] + (1.0f - a->b2) * g * g;
      a->m[i] = m;
      a->v[i] = v;
      a->p[i] = p - a->lr * (m * a->inv_bc1) / (sqrtf (v * a->inv_bc2) + a->eps);
    }
}

static void
adam_task (void *arg, int tid, int nt)
{
  adam_args *a = arg;
  int64_t b0, b1;

  ts_cpu_range ((a->n + 15) / 16, tid, nt, &b0, &b1);
  b0 *= 16;
  b1 = b1 * 16 < a->n ? b1 * 16 : a->n;
  if (b0 < b1)
    adam_range (a, b0, b1);
}

void
ts_cpu_adam_step (ts_backend *be, ts_tensor *param, const ts_tensor *grad, ts_tensor *m,
                  ts_tensor *v, float lr, float beta1, float beta2, float eps, float wd,
                  int step)
{
  char bp[96], bg[96];
  adam_args a = { .p = param->data, .m = m->data, .v = v->data, .g = grad->data,
                  .n = param->numel, .lr = lr, .b1 = beta1, .b2 = beta2, .eps = eps };

  if (grad->numel != param->numel || m->numel != param->numel || v->numel != param->numel)
    {
      ts_error (TS_ERR_SHAPE, "adam_step: parameter %s and gradient/state %s differ",
                ts_tensor_shape_str (param, bp, sizeof bp),
                ts_tensor_shape_str (grad, bg, sizeof bg));
      return;
    }
  if (step < 1)
    step = 1;
  a.decay = (float) (1.0 - (double) lr * (double) wd);
  a.inv_bc1 = (float) (1.0 / (1.0 - pow (beta1, step)));
  a.inv_bc2 = (float) (1.0 / (1.0 - pow (beta2, step)));
  if (a.n < 65536)
    adam_range (&a, 0, a.n);
  else
    ts_cpu_parallel (be, adam_task, &a);
}
