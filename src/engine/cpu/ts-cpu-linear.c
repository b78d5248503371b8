/* ts-cpu-linear.c: fully connected layer, y = x W^T + b (GEMM through BLAS). */
#include "ts-cpu-private.h"
#include "ts-op-shapes.h"

#include <cblas.h>

void
ts_cpu_linear_forward (ts_backend *be, const ts_tensor *x, const ts_tensor *w,
                       const ts_tensor *b, ts_tensor *y)
{
  int n, in, out;

  if (!ts_op_linear_dims ("linear", x, w, y, &n, &in, &out) || n == 0)
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

  if (!ts_op_linear_dims ("linear backward", x, w, dy, &n, &in, &out))
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
