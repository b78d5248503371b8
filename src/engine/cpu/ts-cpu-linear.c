/* ts-cpu-linear.c: fully connected layer, y = x W^T + b (GEMM through BLAS). */
#include "ts-cpu-private.h"

#include <cblas.h>

static int
linear_dims (const char *op, const ts_tensor *x, const ts_tensor *w, const ts_tensor *y,
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

void
ts_cpu_linear_forward (ts_backend *be, const ts_tensor *x, const ts_tensor *w,
                       const ts_tensor *b, ts_tensor *y)
{
  int n, in, out;

  if (!linear_dims ("linear", x, w, y, &n, &in, &out) || n == 0)
    return;
  /* x [N,In] * W^T [In,Out] */
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x->data, in,
               w->data, in, 0.0f, y->data, out);
  if (b)
    for (int i = 0; i < n; i++)
      for (int o = 0; o < out; o++)
        y->data[(int64_t) i * out + o] += b->data[o];
}

void
ts_cpu_linear_backward (ts_backend *be, const ts_tensor *x, const ts_tensor *w,
                        const ts_tensor *dy, ts_tensor *dx, ts_tensor *dw, ts_tensor *db)
{
  int n, in, out;

  if (!linear_dims ("linear backward", x, w, dy, &n, &in, &out))
    return;
  if (dx)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy->data, out,
                 w->data, in, 0.0f, dx->data, in);
  if (dw)
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy->data, out,
                 x->data, in, 0.0f, dw->data, in);
  if (db)
    for (int o = 0; o < out; o++)
      {
        double s = 0.0;
        for (int i = 0; i < n; i++)
          s += dy->data[(int64_t) i * out + o];
        db->data[o] = (float) s;
      }
}
