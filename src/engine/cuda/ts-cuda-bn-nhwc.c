/* ts-cuda-bn-nhwc.c: batch norm over bfloat16 NHWC activations: the type
 * and shape checks, then kernels/ts-cuda-bn-nhwc.cu's launchers. */
#include "ts-cuda-bn-nhwc.h"
#include "ts-cuda-private.h"
#include "ts-op-shapes.h"

/* @t (NULL passes) is of x's type */
static int
like_x (const char *op, const ts_tensor *x, const ts_tensor *t)
{
  return t == NULL || ts_op_same_type (op, x, t);
}

void
ts_cuda_bn_nhwc_train (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                       const ts_tensor *beta, ts_tensor *running_mean, ts_tensor *running_var,
                       float momentum, float eps, int act, ts_tensor *y, ts_tensor *save_mean,
                       ts_tensor *save_invstd)
{
  int64_t n, c, plane;
  float *work;

  if (!like_x ("batchnorm", x, y)
      || !TS_CUDA_PLAIN ("batchnorm", gamma, beta, running_mean, running_var, save_mean,
                         save_invstd)
      || !ts_op_bn_dims ("batchnorm", x, y, &n, &c, &plane) || n * plane == 0
      || !(work = ts_cuda_scratch (be, tsk_bn_nhwc_work_floats (n, c, plane))))
    return;
  tsk_bn_nhwc_train (ts_cuda_stream (be), n, c, plane, BF16 (x), DATA (gamma), DATA (beta),
                     DATA (running_mean), DATA (running_var), momentum, eps, act, BF16 (y),
                     DATA (save_mean), DATA (save_invstd), work);
  ts_cuda_check (be, "batchnorm");
}

void
ts_cuda_bn_nhwc_eval (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                      const ts_tensor *beta, const ts_tensor *running_mean,
                      const ts_tensor *running_var, float eps, ts_tensor *y)
{
  int64_t n, c, plane;
  float *work;

  if (!like_x ("batchnorm eval", x, y)
      || !TS_CUDA_PLAIN ("batchnorm eval", gamma, beta, running_mean, running_var)
      || !ts_op_bn_dims ("batchnorm eval", x, y, &n, &c, &plane)
      || !(work = ts_cuda_scratch (be, tsk_bn_nhwc_work_floats (n, c, plane))))
    return;
  tsk_bn_nhwc_eval (ts_cuda_stream (be), n, c, plane, BF16 (x), DATA (gamma), DATA (beta),
                    running_mean->data, running_var->data, eps, BF16 (y), work);
  ts_cuda_check (be, "batchnorm eval");
}

void
ts_cuda_bn_nhwc_backward (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                          const ts_tensor *save_mean, const ts_tensor *save_invstd, int act,
                          const ts_tensor *y_act, const ts_tensor *dy, ts_tensor *dx,
                          ts_tensor *dgamma, ts_tensor *dbeta)
{
  int64_t n, c, plane;
  float *work;

  if (!like_x ("batchnorm backward", x, dy) || !like_x ("batchnorm backward", x, y_act)
      || !like_x ("batchnorm backward", x, dx)
      || !TS_CUDA_PLAIN ("batchnorm backward", gamma, save_mean, save_invstd, dgamma, dbeta)
      || !ts_op_bn_dims ("batchnorm backward", x, dy, &n, &c, &plane) || n * plane == 0
      || !(work = ts_cuda_scratch (be, tsk_bn_nhwc_work_floats (n, c, plane))))
    return;
  tsk_bn_nhwc_backward (ts_cuda_stream (be), n, c, plane, BF16 (x), DATA (gamma),
                        save_mean->data, save_invstd->data, act, BF16 (y_act), BF16 (dy),
                        BF16 (dx), DATA (dgamma), DATA (dbeta), work);
  ts_cuda_check (be, "batchnorm backward");
}
