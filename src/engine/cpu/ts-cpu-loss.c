/* ts-cpu-loss.c: BCEWithLogits, mean over all elements. */
#include "ts-cpu-private.h"

#include <math.h>

float
ts_cpu_bce_with_logits (ts_backend *be, const ts_tensor *logits, const ts_tensor *targets,
                        ts_tensor *dlogits)
{
  const float *x = logits->data, *t = targets->data;
  int64_t n = logits->numel;
  double sum = 0.0;
  char bl[96], bt[96];

  if (targets->numel != n || (dlogits && dlogits->numel != n))
    {
      ts_error (TS_ERR_SHAPE, "bce_with_logits: logits %s and targets %s differ",
                ts_tensor_shape_str (logits, bl, sizeof bl),
                ts_tensor_shape_str (targets, bt, sizeof bt));
      return NAN;
    }
  if (n == 0)
    return 0.0f;
  for (int64_t i = 0; i < n; i++)
    {
      /* max(x,0) - x*t + log(1 + exp(-|x|)): never overflows */
      double xi = x[i];
      sum += (xi > 0.0 ? xi : 0.0) - xi * t[i] + log1p (exp (-fabs (xi)));
      if (dlogits)
        {
          float s = xi >= 0.0 ? 1.0f / (1.0f + expf (-x[i])) : expf (x[i]) / (1.0f + expf (x[i]));
          dlogits->data[i] = (s - t[i]) / (float) n;
        }
    }
  return (float) (sum / (double) n);
}
