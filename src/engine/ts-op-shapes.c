#include "ts-op-shapes.h"

int
ts_op_plain (const char *op, const ts_tensor *t)
{
  char buf[96];

  if (t == NULL || ts_tensor_is_plain (t))
    return 1;
  ts_error (TS_ERR_UNSUPPORTED, "%s: tensor %s is %s; this op takes float32 NCHW", op,
            ts_tensor_shape_str (t, buf, sizeof buf), ts_tensor_type_str (t));
  return 0;
}

int
ts_op_same_type (const char *op, const ts_tensor *a, const ts_tensor *b)
{
  if (a->dtype == b->dtype && a->layout == b->layout)
    return 1;
  ts_error (TS_ERR_UNSUPPORTED, "%s: tensors of different types (%s and %s)", op,
            ts_tensor_type_str (a), ts_tensor_type_str (b));
  return 0;
}

int
ts_op_same_numel (const char *op, const ts_tensor *a, const ts_tensor *b)
{
  char ba[96], bb[96];

  if (a->numel == b->numel)
    return 1;
  ts_error (TS_ERR_SHAPE, "%s: %s and %s differ in size", op,
            ts_tensor_shape_str (a, ba, sizeof ba), ts_tensor_shape_str (b, bb, sizeof bb));
  return 0;
}

/* [N,C,H,W] with ndim 2 ([N,C]) treated as H = W = 1 */
int
ts_op_concat_ok (const char *op, const ts_tensor *a, const ts_tensor *b, const ts_tensor *y)
{
  char ba[96], bb[96], by[96];

  if (a->shape[0] == y->shape[0] && b->shape[0] == y->shape[0]
      && a->shape[2] == y->shape[2] && b->shape[2] == y->shape[2]
      && a->shape[3] == y->shape[3] && b->shape[3] == y->shape[3]
      && a->shape[1] + b->shape[1] == y->shape[1])
    return 1;
  ts_error (TS_ERR_SHAPE, "%s: %s and %s do not make %s", op,
            ts_tensor_shape_str (a, ba, sizeof ba), ts_tensor_shape_str (b, bb, sizeof bb),
            ts_tensor_shape_str (y, by, sizeof by));
  return 0;
}

int
ts_op_bn_dims (const char *op, const ts_tensor *x, const ts_tensor *y, int64_t *n, int64_t *c,
               int64_t *plane)
{
  char bx[96], by[96];

  *n = x->shape[0];
  *c = x->ndim >= 2 ? x->shape[1] : 1;
  *plane = (*n > 0 && *c > 0) ? x->numel / (*n * *c) : 0;
  if (x->ndim < 2 || !(y->numel == x->numel && y->shape[0] == *n && y->shape[1] == *c))
    {
      ts_error (TS_ERR_SHAPE, "%s: x %s and output %s do not fit", op,
                ts_tensor_shape_str (x, bx, sizeof bx), ts_tensor_shape_str (y, by, sizeof by));
      return 0;
    }
  return 1;
}

int
ts_op_linear_dims (const char *op, const ts_tensor *x, const ts_tensor *w, const ts_tensor *y,
                   int *n, int *in, int *out)
{
  char bx[96], bw[96], by[96];

  *n = (int) x->shape[0];
  *in = (int) w->shape[1];
  *out = (int) w->shape[0];
  if (x->ndim != 2 || w->ndim != 2 || y->ndim != 2 || x->shape[1] != *in
      || y->shape[0] != *n || y->shape[1] != *out)
    {
      ts_error (TS_ERR_SHAPE, "%s: x %s, weight %s and y %s do not fit", op,
                ts_tensor_shape_str (x, bx, sizeof bx), ts_tensor_shape_str (w, bw, sizeof bw),
                ts_tensor_shape_str (y, by, sizeof by));
      return 0;
    }
  return 1;
}
