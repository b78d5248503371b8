/* ts-op-shapes.h: the shape checks every backend runs before an op, shared so
 * the CPU and CUDA backends accept the same tensors and word their errors the
 * same way.  Each returns 1 when the shapes fit, else records a TS_ERR_SHAPE
 * message naming the op and the shapes and returns 0. */
#pragma once

#include <stdint.h>

#include "ts-tensor.h"

/* t is float32 NCHW (ts_tensor_is_plain), the form every op takes unless it
 * says otherwise; @t may be NULL */
int ts_op_plain (const char *op, const ts_tensor *t);
/* a and b have the same dtype and layout */
int ts_op_same_type (const char *op, const ts_tensor *a, const ts_tensor *b);
/* a and b hold as many elements */
int ts_op_same_numel (const char *op, const ts_tensor *a, const ts_tensor *b);
/* a [N,Ca,H,W] and b [N,Cb,H,W] concatenate into y [N,Ca+Cb,H,W] */
int ts_op_concat_ok (const char *op, const ts_tensor *a, const ts_tensor *b, const ts_tensor *y);
/* batch norm over x [N,C,...] into y of x's shape; gives N, C and the plane size */
int ts_op_bn_dims (const char *op, const ts_tensor *x, const ts_tensor *y, int64_t *n,
                   int64_t *c, int64_t *plane);
/* linear: x [N,In], w [Out,In], y [N,Out] */
int ts_op_linear_dims (const char *op, const ts_tensor *x, const ts_tensor *w,
                       const ts_tensor *y, int *n, int *in, int *out);
