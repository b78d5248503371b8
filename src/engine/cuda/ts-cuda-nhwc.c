/* ts-cuda-nhwc.c: the pools' bfloat16 NHWC forms (see ts-cuda-nhwc.h). */
#include "ts-cuda-nhwc.h"

#include "ts-cuda-private.h"
#include "ts-op-shapes.h"

#define S(be) ts_cuda_stream (be)

/* 1 when @t is bf16 NHWC, the activations' form under the policy; else
 * recorded */
static int
bf16_nhwc (const char *op, const ts_tensor *t)
{
  char buf[96];

  if (ts_cuda_bf16_nhwc (t))
    return 1;
  ts_error (TS_ERR_UNSUPPORTED, "%s: tensor %s is %s; this op takes float32 NCHW or "
            "bfloat16 NHWC", op, ts_tensor_shape_str (t, buf, sizeof buf),
            ts_tensor_type_str (t));
  return 0;
}

/* an adaptive pool's output (or its gradient) @y for a bf16 NHWC input:
 * float32 NCHW or bf16 NHWC.  Sets *bf16; 0 (recorded) otherwise. */
static int
adaptive_out (const char *op, const ts_tensor *y, int *bf16)
{
  char buf[96];

  *bf16 = y->dtype == TS_BF16;
  if (ts_tensor_is_plain (y) || ts_cuda_bf16_nhwc (y))
    return 1;
  ts_error (TS_ERR_UNSUPPORTED, "%s: output %s is %s; a bfloat16 NHWC input pools into "
            "float32 NCHW or bfloat16 NHWC", op,
            ts_tensor_shape_str (y, buf, sizeof buf), ts_tensor_type_str (y));
  return 0;
}

#define DIMS(x, y) (x)->shape[0], (x)->shape[1], (int) (x)->shape[2], (int) (x)->shape[3], \
                   (int) (y)->shape[2], (int) (y)->shape[3]

void
ts_cuda_nhwc_maxpool2d_forward (ts_backend *be, const ts_pool2d_params *p, const ts_tensor *x,
                                ts_tensor *y, int32_t *argmax)
{
  if (!bf16_nhwc ("maxpool2d", x) || !ts_op_same_type ("maxpool2d", x, y))
    return;
  tsk_maxpool_forward_nhwc (S (be), DIMS (x, y), p->kernel_h, p->kernel_w, p->stride_h,
                            p->stride_w, p->pad_h, p->pad_w, BF16 (x), BF16 (y), argmax);
}

void
ts_cuda_nhwc_maxpool2d_backward (ts_backend *be, const ts_pool2d_params *p,
                                 const int32_t *argmax, const ts_tensor *dy, ts_tensor *dx)
{
  if (!bf16_nhwc ("maxpool2d backward", dx) || !ts_op_same_type ("maxpool2d backward", dx, dy))
    return;
  tsk_maxpool_backward_nhwc (S (be), DIMS (dx, dy), p->kernel_h, p->kernel_w, p->stride_h,
                             p->stride_w, p->pad_h, p->pad_w, argmax, BF16 (dy), BF16 (dx));
}

void
ts_cuda_nhwc_adaptive_avgpool2d_forward (ts_backend *be, const ts_tensor *x, ts_tensor *y)
{
  int y_bf16;

  if (!bf16_nhwc ("adaptive_avgpool2d", x) || !adaptive_out ("adaptive_avgpool2d", y, &y_bf16))
    return;
  tsk_adaptive_avg_forward_nhwc (S (be), DIMS (x, y), BF16 (x), y->data, y_bf16);
}

void
ts_cuda_nhwc_adaptive_avgpool2d_backward (ts_backend *be, const ts_tensor *dy, ts_tensor *dx)
{
  int dy_bf16;

  if (!bf16_nhwc ("adaptive_avgpool2d backward", dx)
      || !adaptive_out ("adaptive_avgpool2d backward", dy, &dy_bf16))
    return;
  tsk_adaptive_avg_backward_nhwc (S (be), DIMS (dx, dy), dy->data, dy_bf16, BF16 (dx));
}

void
ts_cuda_nhwc_adaptive_maxpool2d_forward (ts_backend *be, const ts_tensor *x, ts_tensor *y,
                                         int32_t *argmax)
{
  int y_bf16;

  if (!bf16_nhwc ("adaptive_maxpool2d", x) || !adaptive_out ("adaptive_maxpool2d", y, &y_bf16))
    return;
  tsk_adaptive_max_forward_nhwc (S (be), DIMS (x, y), BF16 (x), y->data, y_bf16, argmax);
}

void
ts_cuda_nhwc_adaptive_maxpool2d_backward (ts_backend *be, const int32_t *argmax,
                                          const ts_tensor *dy, ts_tensor *dx)
{
  int dy_bf16;

  if (!bf16_nhwc ("adaptive_maxpool2d backward", dx)
      || !adaptive_out ("adaptive_maxpool2d backward", dy, &dy_bf16))
    return;
  tsk_adaptive_max_backward_nhwc (S (be), DIMS (dx, dy), argmax, dy->data, dy_bf16, BF16 (dx));
}
