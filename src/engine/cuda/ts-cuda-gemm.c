/* ts-cuda-gemm.c: convolution and linear layers on cuBLAS.
 *
 * cuBLAS is column-major; a row-major [R,C] matrix is its transpose there, so
 * row-major Y = A B is computed as column-major Y^T = B^T A^T.
 *
 * Dense convs (groups == 1): im2col of a batch of images into the scratch,
 * then one strided-batched GEMM per batch with the weight shared (stride 0):
 *   y[n] [Cout, P] = W [Cout, K] * col[n] [K, P],  K = Cin*KH*KW,  P = OH*OW
 * 1x1 stride-1 unpadded convs use x itself as col.  Backward:
 *   dW = sum_n dy[n] col[n]^T (one GEMM per image, accumulating with beta = 1),
 *   dcol[n] = W^T dy[n] (strided batched), dx = col2im (dcol).
 * Grouped and depthwise convs use the direct kernels of kernels/ts-cuda-conv.cu.
 * cuDNN (ts-cuda-cudnn.c) takes the convolutions first when it is loaded;
 * these are the fallback and the version to check it against.
 *
 * bfloat16 NHWC convolutions (x, y, dy, dx; the weight, its gradient and the
 * bias stay float32) run through cuDNN only, any padding included (the
 * asymmetric one through a zero-padded copy of x, ts-cuda-cudnn.c): without
 * cuDNN, or for a geometry its planning rejects (the message names the
 * direction that has no algorithm), they are refused with
 * TS_ERR_UNSUPPORTED rather than misread as float32 NCHW.  Linear layers take
 * float32 only (the model's head stays float32).
 */
#include "ts-cuda-private.h"
#include "ts-op-shapes.h"

#define S(be) ts_cuda_stream (be)

static int
conv_geom (const ts_conv2d_params *p, const ts_tensor *x, const ts_tensor *w,
           const ts_tensor *y, tsk_conv_geom *g)
{
  char bx[96], bw[96], by[96];
  int groups = p->groups > 0 ? p->groups : 1;

  if (x->ndim != 4 || w->ndim != 4 || y->ndim != 4)
    goto bad;
  g->n = (int) x->shape[0];
  g->c = (int) x->shape[1];
  g->h = (int) x->shape[2];
  g->w = (int) x->shape[3];
  g->cout = (int) w->shape[0];
  g->cg = (int) w->shape[1];
  g->kh = (int) w->shape[2];
  g->kw = (int) w->shape[3];
  g->groups = groups;
  g->sh = p->stride_h > 0 ? p->stride_h : 1;
  g->sw = p->stride_w > 0 ? p->stride_w : 1;
  g->pt = p->pad_top;
  g->pl = p->pad_left;
  g->oh = (g->h + p->pad_top + p->pad_bottom - g->kh) / g->sh + 1;
  g->ow = (g->w + p->pad_left + p->pad_right - g->kw) / g->sw + 1;
  g->coutg = g->cout / groups;
  if (g->c % groups != 0 || g->cout % groups != 0 || g->cg * groups != g->c || g->oh < 1
      || g->ow < 1 || y->shape[0] != g->n || y->shape[1] != g->cout || y->shape[2] != g->oh
      || y->shape[3] != g->ow)
    goto bad;
  return 1;

bad:
  ts_error (TS_ERR_SHAPE, "conv2d: x %s, weight %s (groups %d) and y %s do not fit",
            ts_tensor_shape_str (x, bx, sizeof bx), ts_tensor_shape_str (w, bw, sizeof bw),
            groups, ts_tensor_shape_str (y, by, sizeof by));
  return 0;
}

enum { CONV_REFUSED, CONV_F32, CONV_BF16 };

/* The form a convolution's tensors ask for (dx, dw, b, db may be NULL):
 * float32 NCHW throughout, or x, y / dy and dx bfloat16 NHWC with w, dw, b
 * and db float32; anything else is refused (recorded). */
static int
conv_form (const char *op, const ts_tensor *x, const ts_tensor *y, const ts_tensor *dx,
           const ts_tensor *w, const ts_tensor *dw, const ts_tensor *b, const ts_tensor *db)
{
  if (!ts_op_plain (op, w) || !ts_op_plain (op, dw) || !ts_op_plain (op, b)
      || !ts_op_plain (op, db))
    return CONV_REFUSED;
  if (x->dtype == TS_BF16 && x->layout == TS_NHWC)
    return ts_op_same_type (op, x, y) && (dx == NULL || ts_op_same_type (op, x, dx))
             ? CONV_BF16 : CONV_REFUSED;
  return ts_op_plain (op, x) && ts_op_plain (op, y) && ts_op_plain (op, dx) ? CONV_F32
                                                                            : CONV_REFUSED;
}

/* Records why cuDNN did not take a bfloat16 convolution: there is no other
 * bfloat16 path, and reading the data as float32 would be garbage. */
static void
no_dnn_error (const char *op)
{
  ts_error (TS_ERR_UNSUPPORTED, "%s: bfloat16 convolutions need cuDNN, which is off "
            "(TS_CUDA_CUDNN=0) or could not be loaded; use float32 precision instead", op);
}

/* the geometry in refuse_bf16's messages (one whole sentence each, for
 * the translations) */
#define GEOM_ARGS g->kh, g->kw, g->sh, g->sw, p->pad_top, p->pad_bottom, p->pad_left, \
                  p->pad_right, g->groups, g->c, g->cout, g->n

static void
refuse_bf16 (ts_backend *be, const char *op, const ts_conv2d_params *p, const tsk_conv_geom *g)
{
  const char *st;

  if (ts_cuda (be)->dnn == NULL)
    {
      no_dnn_error (op);
      return;
    }
  switch (ts_cuda_dnn_refusal (be, &st))
    {
    case TS_DNN_FORWARD:
      ts_error (TS_ERR_UNSUPPORTED, "%s: cuDNN has no bfloat16 forward algorithm for this "
                "convolution (kernel %dx%d, stride %dx%d, padding top %d bottom %d left %d "
                "right %d, groups %d, %d to %d channels, batch %d): %s; use float32 precision "
                "instead", op, GEOM_ARGS, st);
      break;
    case TS_DNN_DATA:
      ts_error (TS_ERR_UNSUPPORTED, "%s: cuDNN has no bfloat16 data-gradient algorithm for this "
                "convolution (kernel %dx%d, stride %dx%d, padding top %d bottom %d left %d "
                "right %d, groups %d, %d to %d channels, batch %d): %s; use float32 precision "
                "instead", op, GEOM_ARGS, st);
      break;
    case TS_DNN_FILTER:
      ts_error (TS_ERR_UNSUPPORTED, "%s: cuDNN has no bfloat16 filter-gradient algorithm for "
                "this convolution (kernel %dx%d, stride %dx%d, padding top %d bottom %d left %d "
                "right %d, groups %d, %d to %d channels, batch %d): %s; use float32 precision "
                "instead", op, GEOM_ARGS, st);
      break;
    default:
      ts_error (TS_ERR_UNSUPPORTED, "%s: cuDNN rejects the descriptors of this bfloat16 "
                "convolution (kernel %dx%d, stride %dx%d, padding top %d bottom %d left %d "
                "right %d, groups %d, %d to %d channels, batch %d): %s; use float32 precision "
                "instead", op, GEOM_ARGS, st);
      break;
    }
}

#undef GEOM_ARGS

/* cuDNN's bfloat16 convolutions need tensor cores with bfloat16, which
 * begin with compute capability 8.0 (A100, RTX 30xx): below (V100, T4)
 * every one would be refused at the first step, so say it up front. */
int
ts_cuda_bf16_ready (ts_backend *be)
{
  ts_cuda_ctx *ctx = ts_cuda (be);

  if (ctx->dnn == NULL)
    {
      no_dnn_error ("bf16 precision");
      return 0;
    }
  if (ctx->cc_major < 8)
    {
      ts_error (TS_ERR_UNSUPPORTED, "bf16 precision: %s has compute capability %d.%d, and "
                "cuDNN's bfloat16 convolutions need 8.0 or newer; use float32 precision instead",
                ctx->name, ctx->cc_major, ctx->cc_minor);
      return 0;
    }
  return 1;
}

static void
conv_forward_bf16 (ts_backend *be, const ts_conv2d_params *p, const tsk_conv_geom *g,
                   const ts_tensor *x, const ts_tensor *w, const ts_tensor *b, ts_tensor *y)
{
  if (!ts_cuda_dnn_conv_forward_bf16 (be, g, x->data, w->data, y->data))
    {
      refuse_bf16 (be, "conv2d", p, g);
      return;
    }
  if (b)
    tsk_bias_add_nhwc (S (be), (int64_t) g->n * g->oh * g->ow, g->cout, b->data, y->data);
  ts_cuda_check (be, "conv2d (cuDNN, bfloat16)");
}

/* cuDNN first, so that a refused convolution writes nothing; then db, in
 * the scratch that cuDNN's calls are done with (one stream) */
static void
conv_backward_bf16 (ts_backend *be, const ts_conv2d_params *p, const tsk_conv_geom *g,
                    const ts_tensor *x, const ts_tensor *w, const ts_tensor *dy, ts_tensor *dx,
                    ts_tensor *dw, ts_tensor *db)
{
  int64_t rows = (int64_t) g->n * g->oh * g->ow;

  if (g->n == 0)
    {
      if (dw)
        tsk_fill (S (be), dw->numel, 0.0f, dw->data);
    }
  else if ((dx || dw)
           && !ts_cuda_dnn_conv_backward_bf16 (be, g, x->data, w->data, dy->data,
                                               dx ? dx->data : NULL, dw ? dw->data : NULL))
    {
      refuse_bf16 (be, "conv2d backward", p, g);
      return;
    }
  if (db)
    {
      /* (+ 1: never a request of 0, which may give no scratch and no error) */
      double *work = (double *) ts_cuda_scratch (
        be, tsk_bias_grad_nhwc_work (rows, g->cout) * (sizeof (double) / sizeof (float)) + 1);
      if (work == NULL)
        return;
      tsk_bias_grad_nhwc (S (be), rows, g->cout, dy->data, work, db->data);
    }
  ts_cuda_check (be, "conv2d backward (cuDNN, bfloat16)");
}

static int
is_direct (const ts_conv2d_params *p, const tsk_conv_geom *g)
{
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && p->pad_top == 0
         && p->pad_left == 0 && p->pad_bottom == 0 && p->pad_right == 0;
}

/* images per im2col batch: the scratch stays near col_budget floats */
static int
images_per_batch (ts_backend *be, const tsk_conv_geom *g, int64_t per_image)
{
  int64_t nb = per_image > 0 ? ts_cuda (be)->col_budget / per_image : g->n;
  if (nb < 1)
    nb = 1;
  if (nb > g->n)
    nb = g->n;
  return (int) nb;
}

void
ts_cuda_conv2d_forward (ts_backend *be, const ts_conv2d_params *p, const ts_tensor *x,
                        const ts_tensor *w, const ts_tensor *b, ts_tensor *y)
{
  ts_cuda_blas *bl = &ts_cuda (be)->blas;
  tsk_conv_geom g;
  const float one = 1.0f, zero = 0.0f;
  int64_t k, pl;

  int form = conv_form ("conv2d", x, y, NULL, w, NULL, b, NULL);

  if (form == CONV_REFUSED || !conv_geom (p, x, w, y, &g) || g.n == 0)
    return;
  ts_cuda_stream (be);
  if (form == CONV_BF16)
    {
      conv_forward_bf16 (be, p, &g, x, w, b, y);
      return;
    }
  if (ts_cuda_dnn_conv_forward (be, &g, x->data, w->data, y->data))
    {
      if (b)
        tsk_bias_add (S (be), g.n, g.cout, (int64_t) g.oh * g.ow, b->data, y->data);
      ts_cuda_check (be, "conv2d (cuDNN)");
      return;
    }
  if (g.groups > 1)
    {
      tsk_conv_grouped_forward (S (be), &g, x->data, w->data, b ? b->data : NULL, y->data);
      ts_cuda_check (be, "conv2d (grouped)");
      return;
    }
  k = (int64_t) g.cg * g.kh * g.kw;
  pl = (int64_t) g.oh * g.ow;
  if (is_direct (p, &g))
    {
      if (!ts_cuda_blas_ok (be, bl->sgemm_strided (bl->handle, CUBLAS_OP_N, CUBLAS_OP_N, (int) pl,
                                               g.cout, (int) k, &one, x->data, (int) pl, k * pl,
                                               w->data, (int) k, 0, &zero, y->data, (int) pl,
                                               (long long) g.cout * pl, g.n), "conv2d"))
        return;
    }
  else
    {
      int nb = images_per_batch (be, &g, k * pl);
      float *col = ts_cuda_scratch (be, (size_t) nb * k * pl);
      if (col == NULL)
        return;
      for (int n0 = 0; n0 < g.n; n0 += nb)
        {
          int cnt = g.n - n0 < nb ? g.n - n0 : nb;
          tsk_im2col (S (be), &g, n0, cnt, x->data, col);
          if (!ts_cuda_blas_ok (be, bl->sgemm_strided (bl->handle, CUBLAS_OP_N, CUBLAS_OP_N, (int) pl,
                                                   g.cout, (int) k, &one, col, (int) pl, k * pl,
                                                   w->data, (int) k, 0, &zero,
                                                   y->data + (int64_t) n0 * g.cout * pl,
                                                   (int) pl, (long long) g.cout * pl, cnt),
                                "conv2d"))
            return;
        }
    }
  if (b)
    tsk_bias_add (S (be), g.n, g.cout, pl, b->data, y->data);
  ts_cuda_check (be, "conv2d");
}

void
ts_cuda_conv2d_backward (ts_backend *be, const ts_conv2d_params *p, const ts_tensor *x,
                         const ts_tensor *w, const ts_tensor *dy, ts_tensor *dx, ts_tensor *dw,
                         ts_tensor *db)
{
  ts_cuda_blas *bl = &ts_cuda (be)->blas;
  tsk_conv_geom g;
  const float one = 1.0f, zero = 0.0f;
  int64_t k, pl;

  int form = conv_form ("conv2d backward", x, dy, dx, w, dw, NULL, db);

  if (form == CONV_REFUSED || !conv_geom (p, x, w, dy, &g))
    return;
  ts_cuda_stream (be);
  if (form == CONV_BF16)
    {
      conv_backward_bf16 (be, p, &g, x, w, dy, dx, dw, db);
      return;
    }
  k = (int64_t) g.cg * g.kh * g.kw;
  pl = (int64_t) g.oh * g.ow;
  if (db)
    tsk_bias_grad (S (be), g.n, g.cout, pl, dy->data, db->data);
  if (g.n == 0)
    {
      if (dw)
        tsk_fill (S (be), dw->numel, 0.0f, dw->data);
      ts_cuda_check (be, "conv2d backward");
      return;
    }
  if (ts_cuda_dnn_conv_backward (be, &g, x->data, w->data, dy->data, dx ? dx->data : NULL,
                                 dw ? dw->data : NULL))
    {
      ts_cuda_check (be, "conv2d backward (cuDNN)");
      return;
    }
  if (g.groups > 1)
    {
      if (dx)
        tsk_conv_grouped_backward_data (S (be), &g, dy->data, w->data, dx->data);
      if (dw)
        tsk_conv_grouped_backward_weight (S (be), &g, x->data, dy->data, dw->data);
      ts_cuda_check (be, "conv2d backward (grouped)");
      return;
    }
  if (is_direct (p, &g))
    {
      /* col is x itself, dcol is dx itself */
      if (dw)
        for (int n = 0; n < g.n; n++)
          if (!ts_cuda_blas_ok (be, bl->sgemm (bl->handle, CUBLAS_OP_T, CUBLAS_OP_N, (int) k, g.cout,
                                           (int) pl, &one, x->data + n * k * pl, (int) pl,
                                           dy->data + (int64_t) n * g.cout * pl, (int) pl,
                                           n == 0 ? &zero : &one, dw->data, (int) k),
                                "conv2d backward (weights)"))
            return;
      if (dx
          && !ts_cuda_blas_ok (be, bl->sgemm_strided (bl->handle, CUBLAS_OP_N, CUBLAS_OP_T, (int) pl,
                                                  (int) k, g.cout, &one, dy->data, (int) pl,
                                                  (long long) g.cout * pl, w->data, (int) k, 0,
                                                  &zero, dx->data, (int) pl, k * pl, g.n),
                               "conv2d backward (data)"))
        return;
      ts_cuda_check (be, "conv2d backward");
      return;
    }
  {
    int nb = images_per_batch (be, &g, 2 * k * pl);
    float *col = ts_cuda_scratch (be, (size_t) 2 * nb * k * pl), *dcol;
    if (col == NULL)
      return;
    dcol = col + (size_t) nb * k * pl;
    for (int n0 = 0; n0 < g.n; n0 += nb)
      {
        int cnt = g.n - n0 < nb ? g.n - n0 : nb;
        if (dw)
          {
            tsk_im2col (S (be), &g, n0, cnt, x->data, col);
            for (int j = 0; j < cnt; j++)
              if (!ts_cuda_blas_ok (be, bl->sgemm (bl->handle, CUBLAS_OP_T, CUBLAS_OP_N, (int) k,
                                               g.cout, (int) pl, &one, col + j * k * pl, (int) pl,
                                               dy->data + (int64_t) (n0 + j) * g.cout * pl,
                                               (int) pl, n0 + j == 0 ? &zero : &one, dw->data,
                                               (int) k), "conv2d backward (weights)"))
                return;
          }
        if (dx)
          {
            if (!ts_cuda_blas_ok (be, bl->sgemm_strided (bl->handle, CUBLAS_OP_N, CUBLAS_OP_T,
                                                     (int) pl, (int) k, g.cout, &one,
                                                     dy->data + (int64_t) n0 * g.cout * pl,
                                                     (int) pl, (long long) g.cout * pl, w->data,
                                                     (int) k, 0, &zero, dcol, (int) pl, k * pl,
                                                     cnt), "conv2d backward (data)"))
              return;
            tsk_col2im (S (be), &g, n0, cnt, dcol, dx->data);
          }
      }
  }
  ts_cuda_check (be, "conv2d backward");
}

void
ts_cuda_linear_forward (ts_backend *be, const ts_tensor *x, const ts_tensor *w,
                        const ts_tensor *b, ts_tensor *y)
{
  ts_cuda_blas *bl = &ts_cuda (be)->blas;
  const float one = 1.0f, zero = 0.0f;
  int n, in, out;

  if (!ts_op_plain ("linear", x) || !ts_op_plain ("linear", w) || !ts_op_plain ("linear", b)
      || !ts_op_plain ("linear", y) || !ts_op_linear_dims ("linear", x, w, y, &n, &in, &out)
      || n == 0)
    return;
  ts_cuda_stream (be);
  /* y^T [Out,N] = W [Out,In] x^T [In,N] */
  if (!ts_cuda_blas_ok (be, bl->sgemm (bl->handle, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &one,
                                   w->data, in, x->data, in, &zero, y->data, out), "linear"))
    return;
  if (b)
    tsk_bias_add (S (be), n, out, 1, b->data, y->data);
  ts_cuda_check (be, "linear");
}

void
ts_cuda_linear_backward (ts_backend *be, const ts_tensor *x, const ts_tensor *w,
                         const ts_tensor *dy, ts_tensor *dx, ts_tensor *dw, ts_tensor *db)
{
  ts_cuda_blas *bl = &ts_cuda (be)->blas;
  const float one = 1.0f, zero = 0.0f;
  int n, in, out;

  const ts_tensor *all[6] = { x, w, dy, dx, dw, db };

  for (int i = 0; i < 6; i++)
    if (!ts_op_plain ("linear backward", all[i]))
      return;
  if (!ts_op_linear_dims ("linear backward", x, w, dy, &n, &in, &out))
    return;
  ts_cuda_stream (be);
  if (n == 0)
    {
      /* the CPU's GEMM with k = 0 writes zeros */
      if (dw)
        tsk_fill (S (be), dw->numel, 0.0f, dw->data);
      if (db)
        tsk_fill (S (be), db->numel, 0.0f, db->data);
      ts_cuda_check (be, "linear backward");
      return;
    }
  /* dx^T [In,N] = W^T [In,Out] dy^T [Out,N] */
  if (dx && !ts_cuda_blas_ok (be, bl->sgemm (bl->handle, CUBLAS_OP_N, CUBLAS_OP_N, in, n, out, &one,
                                         w->data, in, dy->data, out, &zero, dx->data, in),
                              "linear backward (data)"))
    return;
  /* dW^T [In,Out] = x^T [In,N] dy [N,Out] */
  if (dw && !ts_cuda_blas_ok (be, bl->sgemm (bl->handle, CUBLAS_OP_N, CUBLAS_OP_T, in, out, n, &one,
                                         x->data, in, dy->data, out, &zero, dw->data, in),
                              "linear backward (weights)"))
    return;
  if (db)
    tsk_bias_grad (S (be), n, out, 1, dy->data, db->data);
  ts_cuda_check (be, "linear backward");
}
