/* ts-cuda-ops.c: every op but the GEMM-based ones: shape checks as the CPU
 * backend (same messages), then one launcher from kernels/.  Under the bf16
 * precision policy (docs/cuda.md) the elementwise ops also take bfloat16
 * (any layout, the same on every side) and the pools bfloat16 NHWC
 * (ts-cuda-nhwc.c), and batch norm bfloat16 NHWC (ts-cuda-bn-nhwc.c);
 * every other op takes float32 NCHW only and refuses anything else
 * (ts_op_plain). */
#include "ts-cuda-bn-nhwc.h"
#include "ts-cuda-private.h"
#include "ts-cuda-nhwc.h"
#include "ts-op-shapes.h"

#include <math.h>

#define S(be) ts_cuda_stream (be)

/* see ts-cuda-private.h */
int
ts_cuda_all_plain (const char *op, int count, const ts_tensor *const *t)
{
  for (int i = 0; i < count; i++)
    if (!ts_op_plain (op, t[i]))
      return 0;
  return 1;
}

void
ts_cuda_convert (ts_backend *be, const ts_tensor *x, ts_tensor *y)
{
  int64_t n = 1, c = 1, p = x->numel;

  if (!ts_op_same_numel ("convert", x, y) || !ts_tensor_same_shape (x, y))
    return;
  if (x->ndim == 4)
    {
      n = x->shape[0];
      c = x->shape[1];
      p = x->shape[2] * x->shape[3];
    }
  tsk_convert (S (be), n, c, p, x->data, x->dtype == TS_BF16, x->layout == TS_NHWC, y->data,
               y->dtype == TS_BF16, y->layout == TS_NHWC);
  ts_cuda_check (be, "convert");
}

/* An elementwise op's operands (@b may be NULL): as many elements, one
 * dtype and one layout (elementwise, any layout does) */
static int
ew_ok (const char *op, const ts_tensor *a, const ts_tensor *b, const ts_tensor *y)
{
  return ts_op_same_numel (op, a, y) && ts_op_same_type (op, a, y)
         && (b == NULL || (ts_op_same_numel (op, b, y) && ts_op_same_type (op, b, y)));
}

void
ts_cuda_axpby (ts_backend *be, float alpha, const ts_tensor *x, float beta, ts_tensor *y)
{
  if (!ew_ok ("axpby", x, NULL, y))
    return;
  if (y->dtype == TS_BF16)
    tsk_axpby_bf16 (S (be), y->numel, alpha, BF16 (x), beta, BF16 (y));
  else
    tsk_axpby (S (be), y->numel, alpha, x->data, beta, y->data);
  ts_cuda_check (be, "axpby");
}

/* y = act (a + b), act -1 (none) or ReLU / ReLU6 */
static void
add_act (ts_backend *be, const ts_tensor *a, const ts_tensor *b, int act, ts_tensor *y)
{
  if (!ew_ok ("add", a, b, y))
    return;
  if (y->dtype == TS_BF16)
    tsk_add_bf16 (S (be), y->numel, BF16 (a), BF16 (b), act, BF16 (y));
  else
    tsk_add (S (be), y->numel, a->data, b->data, act, y->data);
  ts_cuda_check (be, "add");
}

void
ts_cuda_add (ts_backend *be, const ts_tensor *a, const ts_tensor *b, ts_tensor *y)
{
  add_act (be, a, b, -1, y);
}

void
ts_cuda_add_act_forward (ts_backend *be, const ts_tensor *a, const ts_tensor *b,
                         ts_activation act, ts_tensor *y)
{
  if (act != TS_ACT_RELU && act != TS_ACT_RELU6)
    {
      ts_error (TS_ERR_INVALID, "add: activation %d cannot be fused", (int) act);
      return;
    }
  add_act (be, a, b, (int) act, y);
}

void
ts_cuda_fill (ts_backend *be, ts_tensor *t, float value)
{
  if (t->dtype == TS_BF16)
    tsk_fill_bf16 (S (be), t->numel, value, BF16 (t));
  else
    tsk_fill (S (be), t->numel, value, t->data);
  ts_cuda_check (be, "fill");
}

void
ts_cuda_activation_forward (ts_backend *be, ts_activation act, const ts_tensor *x,
                            ts_tensor *y)
{
  if (!ew_ok ("activation", x, NULL, y))
    return;
  if (y->dtype == TS_BF16)
    tsk_activation_forward_bf16 (S (be), (int) act, y->numel, BF16 (x), BF16 (y));
  else
    tsk_activation_forward (S (be), (int) act, y->numel, x->data, y->data);
  ts_cuda_check (be, "activation");
}

void
ts_cuda_activation_backward (ts_backend *be, ts_activation act, const ts_tensor *y,
                             const ts_tensor *dy, ts_tensor *dx)
{
  if (!ew_ok ("activation backward", y, dy, dx))
    return;
  if (dx->dtype == TS_BF16)
    tsk_activation_backward_bf16 (S (be), (int) act, dx->numel, BF16 (y), BF16 (dy), BF16 (dx));
  else
    tsk_activation_backward (S (be), (int) act, dx->numel, y->data, dy->data, dx->data);
  ts_cuda_check (be, "activation backward");
}

void
ts_cuda_dropout_forward (ts_backend *be, float p, uint64_t seed, uint64_t counter,
                         const ts_tensor *x, ts_tensor *y, ts_tensor *mask)
{
  if (mask == NULL)
    {
      ts_error (TS_ERR_INVALID, "dropout: no mask tensor");
      return;
    }
  if (!ts_op_same_numel ("dropout", x, y) || !ts_op_same_numel ("dropout", mask, y)
      || !TS_CUDA_PLAIN ("dropout", x, y, mask))
    return;
  tsk_dropout_forward (S (be), y->numel, p, seed, counter, x->data, y->data, mask->data);
  ts_cuda_check (be, "dropout");
}

void
ts_cuda_dropout_backward (ts_backend *be, const ts_tensor *mask, const ts_tensor *dy,
                          ts_tensor *dx)
{
  if (!ts_op_same_numel ("dropout backward", mask, dx) || !ts_op_same_numel ("dropout backward", dy, dx)
      || !TS_CUDA_PLAIN ("dropout backward", mask, dy, dx))
    return;
  tsk_mul (S (be), dx->numel, dy->data, mask->data, dx->data);
  ts_cuda_check (be, "dropout backward");
}

void
ts_cuda_concat_channels (ts_backend *be, const ts_tensor *a, const ts_tensor *b, ts_tensor *y)
{
  int64_t plane = y->shape[2] * y->shape[3];

  if (!ts_op_concat_ok ("concat_channels", a, b, y)
      || !TS_CUDA_PLAIN ("concat_channels", a, b, y))
    return;
  tsk_concat (S (be), y->shape[0], a->shape[1] * plane, b->shape[1] * plane, a->data, b->data,
              y->data);
  ts_cuda_check (be, "concat_channels");
}

void
ts_cuda_split_channels (ts_backend *be, const ts_tensor *dy, ts_tensor *da, ts_tensor *db)
{
  int64_t plane = dy->shape[2] * dy->shape[3];

  if (!ts_op_concat_ok ("split_channels", da, db, dy)
      || !TS_CUDA_PLAIN ("split_channels", dy, da, db))
    return;
  tsk_split (S (be), dy->shape[0], da->shape[1] * plane, db->shape[1] * plane, dy->data,
             da->data, db->data);
  ts_cuda_check (be, "split_channels");
}

/* ---- batch norm ---- */

static void
bn_train (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma, const ts_tensor *beta,
          ts_tensor *running_mean, ts_tensor *running_var, float momentum, float eps, int act,
          ts_tensor *y, ts_tensor *save_mean, ts_tensor *save_invstd)
{
  int64_t n, c, plane;
  float *work;

  if (ts_cuda_bf16_nhwc (x))
    {
      ts_cuda_bn_nhwc_train (be, x, gamma, beta, running_mean, running_var, momentum, eps, act,
                             y, save_mean, save_invstd);
      return;
    }
  if (!TS_CUDA_PLAIN ("batchnorm", x, y, gamma, beta, running_mean, running_var, save_mean,
                      save_invstd)
      || !ts_op_bn_dims ("batchnorm", x, y, &n, &c, &plane) || n * plane == 0
      || !(work = ts_cuda_scratch (be, tsk_bn_work_floats (n, c, plane))))
    return;
  tsk_bn_train (S (be), n, c, plane, x->data, DATA (gamma), DATA (beta), DATA (running_mean),
                DATA (running_var), momentum, eps, act, y->data, DATA (save_mean),
                DATA (save_invstd), work);
  ts_cuda_check (be, "batchnorm");
}

void
ts_cuda_batchnorm_forward_train (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                                 const ts_tensor *beta, ts_tensor *running_mean,
                                 ts_tensor *running_var, float momentum, float eps,
                                 ts_tensor *y, ts_tensor *save_mean, ts_tensor *save_invstd)
{
  bn_train (be, x, gamma, beta, running_mean, running_var, momentum, eps, -1, y, save_mean,
            save_invstd);
}

void
ts_cuda_batchnorm_act_forward_train (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                                     const ts_tensor *beta, ts_tensor *running_mean,
                                     ts_tensor *running_var, float momentum, float eps,
                                     ts_activation act, ts_tensor *y_act, ts_tensor *save_mean,
                                     ts_tensor *save_invstd)
{
  if (act != TS_ACT_RELU && act != TS_ACT_RELU6)
    {
      ts_error (TS_ERR_INVALID, "batchnorm: activation %d cannot be fused", (int) act);
      return;
    }
  bn_train (be, x, gamma, beta, running_mean, running_var, momentum, eps, (int) act, y_act,
            save_mean, save_invstd);
}

void
ts_cuda_batchnorm_forward_eval (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                                const ts_tensor *beta, const ts_tensor *running_mean,
                                const ts_tensor *running_var, float eps, ts_tensor *y)
{
  int64_t n, c, plane;
  float *work;

  if (ts_cuda_bf16_nhwc (x))
    {
      ts_cuda_bn_nhwc_eval (be, x, gamma, beta, running_mean, running_var, eps, y);
      return;
    }
  if (!TS_CUDA_PLAIN ("batchnorm eval", x, y, gamma, beta, running_mean, running_var)
      || !ts_op_bn_dims ("batchnorm eval", x, y, &n, &c, &plane)
      || !(work = ts_cuda_scratch (be, tsk_bn_work_floats (n, c, plane))))
    return;
  tsk_bn_eval (S (be), n, c, plane, x->data, DATA (gamma), DATA (beta), running_mean->data,
               running_var->data, eps, y->data, work);
  ts_cuda_check (be, "batchnorm eval");
}

static void
bn_backward (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
             const ts_tensor *save_mean, const ts_tensor *save_invstd, int act,
             const ts_tensor *y_act, const ts_tensor *dy, ts_tensor *dx, ts_tensor *dgamma,
             ts_tensor *dbeta)
{
  int64_t n, c, plane;
  float *work;

  if (y_act && y_act->numel != dy->numel)
    {
      ts_error (TS_ERR_SHAPE, "batchnorm backward: the activation's output (%lld elements) "
                "and its gradient (%lld) differ", (long long) y_act->numel,
                (long long) dy->numel);
      return;
    }
  if (ts_cuda_bf16_nhwc (x))
    {
      ts_cuda_bn_nhwc_backward (be, x, gamma, save_mean, save_invstd, act, y_act, dy, dx, dgamma,
                                dbeta);
      return;
    }
  if (!TS_CUDA_PLAIN ("batchnorm backward", x, gamma, save_mean, save_invstd, y_act, dy, dx,
                      dgamma, dbeta)
      || !ts_op_bn_dims ("batchnorm backward", x, dy, &n, &c, &plane) || n * plane == 0
      || !(work = ts_cuda_scratch (be, tsk_bn_work_floats (n, c, plane))))
    return;
  tsk_bn_backward (S (be), n, c, plane, x->data, DATA (gamma), save_mean->data,
                   save_invstd->data, act, DATA (y_act), dy->data, DATA (dx), DATA (dgamma),
                   DATA (dbeta), work);
  ts_cuda_check (be, "batchnorm backward");
}

void
ts_cuda_batchnorm_backward (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                            const ts_tensor *save_mean, const ts_tensor *save_invstd,
                            const ts_tensor *dy, ts_tensor *dx, ts_tensor *dgamma,
                            ts_tensor *dbeta)
{
  bn_backward (be, x, gamma, save_mean, save_invstd, -1, NULL, dy, dx, dgamma, dbeta);
}

void
ts_cuda_batchnorm_act_backward (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                                const ts_tensor *save_mean, const ts_tensor *save_invstd,
                                ts_activation act, const ts_tensor *y_act,
                                const ts_tensor *dy_act, ts_tensor *dx, ts_tensor *dgamma,
                                ts_tensor *dbeta)
{
  if (act != TS_ACT_RELU && act != TS_ACT_RELU6)
    {
      ts_error (TS_ERR_INVALID, "batchnorm backward: activation %d cannot be fused", (int) act);
      return;
    }
  bn_backward (be, x, gamma, save_mean, save_invstd, (int) act, y_act, dy_act, dx, dgamma,
               dbeta);
}

/* ---- pooling ---- */

static int
pool_dims (const char *op, const ts_tensor *x, const ts_tensor *y, int64_t *planes, int *h,
           int *w, int *oh, int *ow)
{
  char bx[96], by[96];

  if (x->ndim != 4 || y->ndim != 4 || x->shape[0] != y->shape[0] || x->shape[1] != y->shape[1])
    {
      ts_error (TS_ERR_SHAPE, "%s: input %s and output %s do not fit", op,
                ts_tensor_shape_str (x, bx, sizeof bx), ts_tensor_shape_str (y, by, sizeof by));
      return 0;
    }
  *planes = x->shape[0] * x->shape[1];
  *h = (int) x->shape[2];
  *w = (int) x->shape[3];
  *oh = (int) y->shape[2];
  *ow = (int) y->shape[3];
  return 1;
}

void
ts_cuda_maxpool2d_forward (ts_backend *be, const ts_pool2d_params *p, const ts_tensor *x,
                           ts_tensor *y, int32_t *argmax)
{
  int64_t planes;
  int h, w, oh, ow;
  char bx[96], by[96];

  if (!pool_dims ("maxpool2d", x, y, &planes, &h, &w, &oh, &ow))
    return;
  if (p->stride_h < 1 || p->stride_w < 1
      || oh != (h + 2 * p->pad_h - p->kernel_h) / p->stride_h + 1
      || ow != (w + 2 * p->pad_w - p->kernel_w) / p->stride_w + 1)
    {
      ts_error (TS_ERR_SHAPE, "maxpool2d: %dx%d stride %d pad %d does not take %s to %s",
                p->kernel_h, p->kernel_w, p->stride_h, p->pad_h,
                ts_tensor_shape_str (x, bx, sizeof bx), ts_tensor_shape_str (y, by, sizeof by));
      return;
    }
  if (!ts_tensor_is_plain (x))
    ts_cuda_nhwc_maxpool2d_forward (be, p, x, y, argmax);
  else if (ts_op_plain ("maxpool2d", y))
    tsk_maxpool_forward (S (be), planes, h, w, oh, ow, p->kernel_h, p->kernel_w, p->stride_h,
                         p->stride_w, p->pad_h, p->pad_w, x->data, y->data, argmax);
  ts_cuda_check (be, "maxpool2d");
}

void
ts_cuda_maxpool2d_backward (ts_backend *be, const ts_pool2d_params *p, const int32_t *argmax,
                            const ts_tensor *dy, ts_tensor *dx)
{
  int64_t planes;
  int h, w, oh, ow;

  if (!pool_dims ("maxpool2d backward", dx, dy, &planes, &h, &w, &oh, &ow))
    return;
  if (p->stride_h < 1 || p->stride_w < 1)
    {
      ts_error (TS_ERR_SHAPE, "maxpool2d backward: stride %dx%d", p->stride_h, p->stride_w);
      return;
    }
  if (!ts_tensor_is_plain (dx))
    ts_cuda_nhwc_maxpool2d_backward (be, p, argmax, dy, dx);
  else if (ts_op_plain ("maxpool2d backward", dy))
    tsk_maxpool_backward (S (be), planes, h, w, oh, ow, p->kernel_h, p->kernel_w, p->stride_h,
                          p->stride_w, p->pad_h, p->pad_w, argmax, dy->data, dx->data);
  ts_cuda_check (be, "maxpool2d backward");
}

void
ts_cuda_adaptive_avgpool2d_forward (ts_backend *be, const ts_tensor *x, ts_tensor *y)
{
  int64_t planes;
  int h, w, oh, ow;

  if (!pool_dims ("adaptive_avgpool2d", x, y, &planes, &h, &w, &oh, &ow))
    return;
  if (!ts_tensor_is_plain (x))
    ts_cuda_nhwc_adaptive_avgpool2d_forward (be, x, y);
  else if (ts_op_plain ("adaptive_avgpool2d", y))
    tsk_adaptive_avg_forward (S (be), planes, h, w, oh, ow, x->data, y->data);
  ts_cuda_check (be, "adaptive_avgpool2d");
}

void
ts_cuda_adaptive_avgpool2d_backward (ts_backend *be, const ts_tensor *dy, ts_tensor *dx)
{
  int64_t planes;
  int h, w, oh, ow;

  if (!pool_dims ("adaptive_avgpool2d backward", dx, dy, &planes, &h, &w, &oh, &ow))
    return;
  if (!ts_tensor_is_plain (dx))
    ts_cuda_nhwc_adaptive_avgpool2d_backward (be, dy, dx);
  else if (ts_op_plain ("adaptive_avgpool2d backward", dy))
    tsk_adaptive_avg_backward (S (be), planes, h, w, oh, ow, dy->data, dx->data);
  ts_cuda_check (be, "adaptive_avgpool2d backward");
}

void
ts_cuda_adaptive_maxpool2d_forward (ts_backend *be, const ts_tensor *x, ts_tensor *y,
                                    int32_t *argmax)
{
  int64_t planes;
  int h, w, oh, ow;

  if (!pool_dims ("adaptive_maxpool2d", x, y, &planes, &h, &w, &oh, &ow))
    return;
  if (!ts_tensor_is_plain (x))
    ts_cuda_nhwc_adaptive_maxpool2d_forward (be, x, y, argmax);
  else if (ts_op_plain ("adaptive_maxpool2d", y))
    tsk_adaptive_max_forward (S (be), planes, h, w, oh, ow, x->data, y->data, argmax);
  ts_cuda_check (be, "adaptive_maxpool2d");
}

void
ts_cuda_adaptive_maxpool2d_backward (ts_backend *be, const int32_t *argmax, const ts_tensor *dy,
                                     ts_tensor *dx)
{
  int64_t planes;
  int h, w, oh, ow;

  if (!pool_dims ("adaptive_maxpool2d backward", dx, dy, &planes, &h, &w, &oh, &ow))
    return;
  if (!ts_tensor_is_plain (dx))
    ts_cuda_nhwc_adaptive_maxpool2d_backward (be, argmax, dy, dx);
  else if (ts_op_plain ("adaptive_maxpool2d backward", dy))
    tsk_adaptive_max_backward (S (be), planes, h, w, oh, ow, argmax, dy->data, dx->data);
  ts_cuda_check (be, "adaptive_maxpool2d backward");
}

/* ---- loss, optimizer, reductions ---- */

/* Runs the queued reduction and brings partial[0] back; NAN on a device error. */
static double
reduction_result (ts_backend *be, const char *op)
{
  double v = NAN;

  if (!ts_cuda_check (be, op)
      || !ts_cuda_ok (be, cudaMemcpyAsync (&v, ts_cuda (be)->red, sizeof v, cudaMemcpyDeviceToHost,
                                       S (be)), op)
      || !ts_cuda_ok (be, cudaStreamSynchronize (S (be)), op))
    return NAN;
  return v;
}

/* the BCE reduction queued: 1 when queued (the sum then lands in red[0]) */
static int
bce_queue (ts_backend *be, const ts_tensor *logits, const ts_tensor *targets,
           ts_tensor *dlogits)
{
  int64_t n = logits->numel;
  char bl[96], bt[96];

  if (!TS_CUDA_PLAIN ("bce_with_logits", logits, targets, dlogits))
    return 0;
  if (targets->numel != n || (dlogits && dlogits->numel != n))
    {
      ts_error (TS_ERR_SHAPE, "bce_with_logits: logits %s and targets %s differ",
                ts_tensor_shape_str (logits, bl, sizeof bl),
                ts_tensor_shape_str (targets, bt, sizeof bt));
      return 0;
    }
  if (n == 0)
    return 0;
  tsk_bce_with_logits (S (be), n, logits->data, targets->data, DATA (dlogits),
                       ts_cuda (be)->red);
  return 1;
}

float
ts_cuda_bce_with_logits (ts_backend *be, const ts_tensor *logits, const ts_tensor *targets,
                         ts_tensor *dlogits)
{
  if (!bce_queue (be, logits, targets, dlogits))
    return logits->numel == 0 && targets->numel == 0 ? 0.0f : NAN;
  return (float) (reduction_result (be, "bce_with_logits") / (double) logits->numel);
}

/* The sum is copied on the device to the slot after the partials (later
 * reductions reuse red[0]), and read back by ts_cuda_bce_loss_result. */
void
ts_cuda_bce_with_logits_queue (ts_backend *be, const ts_tensor *logits,
                               const ts_tensor *targets, ts_tensor *dlogits)
{
  ts_cuda_ctx *ctx = ts_cuda (be);

  ctx->loss_n = 0;
  if (!bce_queue (be, logits, targets, dlogits))
    {
      ctx->loss_n = logits->numel == 0 && targets->numel == 0 ? 0 : -1;
      return;
    }
  if (ts_cuda_ok (be, cudaMemcpyAsync (ctx->red + RED_LOSS_SLOT, ctx->red, sizeof (double),
                                       cudaMemcpyDeviceToDevice, S (be)), "bce_with_logits"))
    ctx->loss_n = logits->numel;
  else
    ctx->loss_n = -1;
}

float
ts_cuda_bce_loss_result (ts_backend *be)
{
  ts_cuda_ctx *ctx = ts_cuda (be);
  double v = NAN;

  if (ctx->loss_n <= 0)
    return ctx->loss_n == 0 ? 0.0f : NAN;
  if (!ts_cuda_check (be, "bce_with_logits")
      || !ts_cuda_ok (be, cudaMemcpyAsync (&v, ctx->red + RED_LOSS_SLOT, sizeof v,
                                           cudaMemcpyDeviceToHost, S (be)), "bce_with_logits")
      || !ts_cuda_ok (be, cudaStreamSynchronize (S (be)), "bce_with_logits"))
    return NAN;
  return (float) (v / (double) ctx->loss_n);
}

void
ts_cuda_adam_step (ts_backend *be, ts_tensor *param, const ts_tensor *grad, ts_tensor *m,
                   ts_tensor *v, float lr, float beta1, float beta2, float eps, float wd,
                   int step)
{
  char bp[96], bg[96];

  if (grad->numel != param->numel || m->numel != param->numel || v->numel != param->numel)
    {
      ts_error (TS_ERR_SHAPE, "adam_step: parameter %s and gradient/state %s differ",
                ts_tensor_shape_str (param, bp, sizeof bp),
                ts_tensor_shape_str (grad, bg, sizeof bg));
      return;
    }
  if (!TS_CUDA_PLAIN ("adam_step", param, grad, m, v))
    return;
  if (step < 1)
    step = 1;
  tsk_adam (S (be), param->numel, param->data, grad->data, m->data, v->data, lr, beta1, beta2,
            eps, (float) (1.0 - (double) lr * (double) wd),
            (float) (1.0 / (1.0 - pow (beta1, step))), (float) (1.0 / (1.0 - pow (beta2, step))));
  ts_cuda_check (be, "adam_step");
}

int
ts_cuda_all_finite (ts_backend *be, const ts_tensor *t)
{
  if (t->numel == 0)
    return 1;
  /* whole-tensor: any layout */
  if (t->dtype == TS_BF16)
    tsk_count_nonfinite_bf16 (S (be), t->numel, BF16 (t), ts_cuda (be)->red);
  else
    tsk_count_nonfinite (S (be), t->numel, t->data, ts_cuda (be)->red);
  /* a device error counts as "not finite": the caller stops the step */
  return reduction_result (be, "all_finite") == 0.0;
}

double
ts_cuda_sum_squares (ts_backend *be, const ts_tensor *t)
{
  if (t->numel == 0)
    return 0.0;
  if (t->dtype == TS_BF16)
    tsk_sum_squares_bf16 (S (be), t->numel, BF16 (t), ts_cuda (be)->red);
  else
    tsk_sum_squares (S (be), t->numel, t->data, ts_cuda (be)->red);
  return reduction_result (be, "sum_squares");
}
