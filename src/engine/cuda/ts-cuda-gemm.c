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
 * bias stay float32) run through cuDNN, any padding included (the
 * asymmetric one through a zero-padded copy of x, ts-cuda-cudnn.c); a
 * direction cuDNN has no bfloat16 algorithm for runs on float32 copies
 * through the float32 path above, counted (see the bfloat16 section below).
 * Without cuDNN they are refused with TS_ERR_UNSUPPORTED rather than misread
 * as float32 NCHW.  Linear layers take float32 only (the model's head stays
 * float32).
 */
#include "ts-cuda-private.h"
#include "ts-op-shapes.h"

#include <stdio.h>

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
  if (!TS_CUDA_PLAIN (op, w, dw, b, db))
    return CONV_REFUSED;
  if (ts_cuda_bf16_nhwc (x))
    return ts_op_same_type (op, x, y) && (dx == NULL || ts_op_same_type (op, x, dx))
             ? CONV_BF16 : CONV_REFUSED;
  return TS_CUDA_PLAIN (op, x, y, dx) ? CONV_F32 : CONV_REFUSED;
}

/* Records why cuDNN did not take a bfloat16 convolution: there is no other
 * bfloat16 path, and reading the data as float32 would be garbage. */
static void
no_dnn_error (const char *op)
{
  ts_error (TS_ERR_UNSUPPORTED, "%s: bfloat16 convolutions need cuDNN, which is off "
            "(TS_CUDA_CUDNN=0) or could not be loaded; use float32 precision instead", op);
}

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

/* The float32 NCHW convolution on raw pointers (@b may be NULL): cuDNN,
 * else the direct grouped kernels, else im2col (or x itself) + cuBLAS.  A
 * float32 model's path, and a bfloat16 one's for a layer cuDNN has no
 * bfloat16 algorithm for (forward_in_f32). */
static void
conv_forward_f32 (ts_backend *be, const ts_conv2d_params *p, const tsk_conv_geom *g,
                  const float *x, const float *w, const float *b, float *y)
{
  ts_cuda_blas *bl = &ts_cuda (be)->blas;
  const float one = 1.0f, zero = 0.0f;
  int64_t k, pl;

  if (ts_cuda_dnn_conv_forward (be, g, x, w, y))
    {
      if (b)
        tsk_bias_add (S (be), g->n, g->cout, (int64_t) g->oh * g->ow, b, y);
      ts_cuda_check (be, "conv2d (cuDNN)");
      return;
    }
  if (g->groups > 1)
    {
      tsk_conv_grouped_forward (S (be), g, x, w, b, y);
      ts_cuda_check (be, "conv2d (grouped)");
      return;
    }
  k = (int64_t) g->cg * g->kh * g->kw;
  pl = (int64_t) g->oh * g->ow;
  if (is_direct (p, g))
    {
      if (!ts_cuda_blas_ok (be, bl->sgemm_strided (bl->handle, CUBLAS_OP_N, CUBLAS_OP_N, (int) pl,
                                               g->cout, (int) k, &one, x, (int) pl, k * pl,
                                               w, (int) k, 0, &zero, y, (int) pl,
                                               (long long) g->cout * pl, g->n), "conv2d"))
        return;
    }
  else
    {
      int nb = images_per_batch (be, g, k * pl);
      float *col = ts_cuda_scratch (be, (size_t) nb * k * pl);
      if (col == NULL)
        return;
      for (int n0 = 0; n0 < g->n; n0 += nb)
        {
          int cnt = g->n - n0 < nb ? g->n - n0 : nb;
          tsk_im2col (S (be), g, n0, cnt, x, col);
          if (!ts_cuda_blas_ok (be, bl->sgemm_strided (bl->handle, CUBLAS_OP_N, CUBLAS_OP_N, (int) pl,
                                                   g->cout, (int) k, &one, col, (int) pl, k * pl,
                                                   w, (int) k, 0, &zero,
                                                   y + (int64_t) n0 * g->cout * pl,
                                                   (int) pl, (long long) g->cout * pl, cnt),
                                "conv2d"))
            return;
        }
    }
  if (b)
    tsk_bias_add (S (be), g->n, g->cout, pl, b, y);
  ts_cuda_check (be, "conv2d");
}

/* The float32 NCHW gradients on raw pointers (@x may be NULL when @dw is;
 * @dx, @dw, @db may be NULL): db here, then cuDNN, else the direct grouped
 * kernels, else im2col (or x itself) + cuBLAS. */
static void
conv_backward_f32 (ts_backend *be, const ts_conv2d_params *p, const tsk_conv_geom *g,
                   const float *x, const float *w, const float *dy, float *dx, float *dw,
                   float *db)
{
  ts_cuda_blas *bl = &ts_cuda (be)->blas;
  const float one = 1.0f, zero = 0.0f;
  int64_t k = (int64_t) g->cg * g->kh * g->kw, pl = (int64_t) g->oh * g->ow;

  if (db)
    tsk_bias_grad (S (be), g->n, g->cout, pl, dy, db);
  if (g->n == 0)
    {
      if (dw)
        tsk_fill (S (be), (int64_t) g->cout * k, 0.0f, dw);
      ts_cuda_check (be, "conv2d backward");
      return;
    }
  if (ts_cuda_dnn_conv_backward (be, g, x, w, dy, dx, dw))
    {
      ts_cuda_check (be, "conv2d backward (cuDNN)");
      return;
    }
  if (g->groups > 1)
    {
      if (dx)
        tsk_conv_grouped_backward_data (S (be), g, dy, w, dx);
      if (dw)
        tsk_conv_grouped_backward_weight (S (be), g, x, dy, dw);
      ts_cuda_check (be, "conv2d backward (grouped)");
      return;
    }
  if (is_direct (p, g))
    {
      /* col is x itself, dcol is dx itself */
      if (dw)
        for (int n = 0; n < g->n; n++)
          if (!ts_cuda_blas_ok (be, bl->sgemm (bl->handle, CUBLAS_OP_T, CUBLAS_OP_N, (int) k, g->cout,
                                           (int) pl, &one, x + n * k * pl, (int) pl,
                                           dy + (int64_t) n * g->cout * pl, (int) pl,
                                           n == 0 ? &zero : &one, dw, (int) k),
                                "conv2d backward (weights)"))
            return;
      if (dx
          && !ts_cuda_blas_ok (be, bl->sgemm_strided (bl->handle, CUBLAS_OP_N, CUBLAS_OP_T, (int) pl,
                                                  (int) k, g->cout, &one, dy, (int) pl,
                                                  (long long) g->cout * pl, w, (int) k, 0,
                                                  &zero, dx, (int) pl, k * pl, g->n),
                               "conv2d backward (data)"))
        return;
      ts_cuda_check (be, "conv2d backward");
      return;
    }
  {
    int nb = images_per_batch (be, g, 2 * k * pl);
    float *col = ts_cuda_scratch (be, (size_t) 2 * nb * k * pl), *dcol;
    if (col == NULL)
      return;
    dcol = col + (size_t) nb * k * pl;
    for (int n0 = 0; n0 < g->n; n0 += nb)
      {
        int cnt = g->n - n0 < nb ? g->n - n0 : nb;
        if (dw)
          {
            tsk_im2col (S (be), g, n0, cnt, x, col);
            for (int j = 0; j < cnt; j++)
              if (!ts_cuda_blas_ok (be, bl->sgemm (bl->handle, CUBLAS_OP_T, CUBLAS_OP_N, (int) k,
                                               g->cout, (int) pl, &one, col + j * k * pl, (int) pl,
                                               dy + (int64_t) (n0 + j) * g->cout * pl,
                                               (int) pl, n0 + j == 0 ? &zero : &one, dw,
                                               (int) k), "conv2d backward (weights)"))
                return;
          }
        if (dx)
          {
            if (!ts_cuda_blas_ok (be, bl->sgemm_strided (bl->handle, CUBLAS_OP_N, CUBLAS_OP_T,
                                                     (int) pl, (int) k, g->cout, &one,
                                                     dy + (int64_t) n0 * g->cout * pl,
                                                     (int) pl, (long long) g->cout * pl, w,
                                                     (int) k, 0, &zero, dcol, (int) pl, k * pl,
                                                     cnt), "conv2d backward (data)"))
              return;
            tsk_col2im (S (be), g, n0, cnt, dcol, dx);
          }
      }
  }
  ts_cuda_check (be, "conv2d backward");
}

/* ---- bfloat16 NHWC convolutions ----
 *
 * cuDNN's bfloat16 algorithms first.  A direction cuDNN has none for (its
 * planning rejects the geometry: a real cuDNN 9 may, for a 3-channel stem,
 * a depthwise or a large-kernel conv; or every candidate it offered failed
 * as it ran, ts-cuda-cudnn.c's fall-through) runs in float32 instead, so
 * that one such layer does not stop a bf16 run: x and dy converted to float32 NCHW
 * copies, the float32 model's own path (conv_forward_f32 /
 * conv_backward_f32), y and dx converted back to bfloat16 NHWC; the weight,
 * its gradient and the bias are float32 already.  ctx->bf16_fallbacks
 * counts these calls, so that the slower path shows
 * (ts_backend_cuda_bf16_fallbacks: the bench prints it).  The copies come
 * from the caching allocator, not the scratch, which the float32 path's
 * im2col columns and cuDNN workspace take (one buffer); they are freed once
 * queued, and a freed block is handed out again only to work queued later
 * on the same stream.  Without cuDNN there is no bfloat16 convolution at
 * all (ts_cuda_bf16_ready refuses bf16 up front): refused by name. */

/* the geometry in fallback_done's message */
#define GEOM_ARGS g->kh, g->kw, g->sh, g->sw, p->pad_top, p->pad_bottom, p->pad_left, \
                  p->pad_right, g->groups, g->c, g->cout, g->n

/* After a float32 fallback: counted when it ran; when it failed (the
 * backend had no failure before it, @fresh), the error, and the failure
 * the backend keeps, name the layer, cuDNN's refusal (@dnn_why, taken
 * before the float32 path asked cuDNN anything) and what failed. */
static void
fallback_done (ts_backend *be, const char *op, const ts_conv2d_params *p,
               const tsk_conv_geom *g, const char *dnn_why, int fresh)
{
  ts_status st = be->failed;
  char why[sizeof be->failed_msg];

  if (st == TS_OK)
    {
      __atomic_add_fetch (&ts_cuda (be)->bf16_fallbacks, 1, __ATOMIC_RELAXED);
      return;
    }
  if (!fresh)
    return;   /* an earlier op's failure: that one is the news */
  snprintf (why, sizeof why, "%s", be->failed_msg);
  ts_error (st, "%s: cuDNN cannot run this bfloat16 convolution (kernel %dx%d, stride %dx%d, "
            "padding top %d bottom %d left %d right %d, groups %d, %d to %d channels, batch "
            "%d): %s; running it in float32 instead failed too: %s", op, GEOM_ARGS, dnn_why,
            why);
  ts_backend_restate_failure (be);   /* kept with the layer named */
}

#undef GEOM_ARGS

/* cuDNN's reason for the bfloat16 convolution it just refused */
static const char *
dnn_refusal (ts_backend *be)
{
  const char *why;

  ts_cuda_dnn_refusal (be, &why);
  return why;
}

/* A float32 NCHW buffer of an [n, c, hw] activation from the caching
 * allocator, holding bfloat16 NHWC @src converted when given; NULL, the
 * backend's failure recorded, when memory is short. */
static float *
f32_copy (ts_backend *be, int64_t n, int64_t c, int64_t hw, const void *src)
{
  float *t = be->i->alloc (be, (size_t) (n * c * hw) * sizeof (float));

  if (t == NULL)
    ts_backend_record_failure (be, TS_ERR_NOMEM);
  else if (src)
    tsk_convert (S (be), n, c, hw, src, 1, 1, t, 0, 0);
  return t;
}

/* float32 NCHW @src [n, c, hw] into bfloat16 NHWC @dst (one rounding) */
static void
to_bf16 (ts_backend *be, int64_t n, int64_t c, int64_t hw, const float *src, void *dst)
{
  tsk_convert (S (be), n, c, hw, src, 0, 0, dst, 1, 1);
}

/* The forward in float32; the bias is added there, before the one
 * rounding to bfloat16. */
static void
forward_in_f32 (ts_backend *be, const ts_conv2d_params *p, const tsk_conv_geom *g,
                const ts_tensor *x, const ts_tensor *w, const ts_tensor *b, ts_tensor *y)
{
  const char *dnn_why = dnn_refusal (be);
  int fresh = be->failed == TS_OK;
  int64_t xp = (int64_t) g->h * g->w, yp = (int64_t) g->oh * g->ow;
  float *xf = f32_copy (be, g->n, g->c, xp, x->data);
  float *yf = f32_copy (be, g->n, g->cout, yp, NULL);

  /* (a copy that could not be made is the backend's failure: nothing runs) */
  if (be->failed == TS_OK)
    conv_forward_f32 (be, p, g, xf, w->data, DATA (b), yf);
  if (be->failed == TS_OK)
    to_bf16 (be, g->n, g->cout, yp, yf, y->data);
  ts_cuda_check (be, "conv2d (float32 for bfloat16)");
  be->i->free (be, xf);
  be->i->free (be, yf);
  fallback_done (be, "conv2d", p, g, dnn_why, fresh);
}

/* The gradients @dx and @dw (either may be NULL) in float32 */
static void
backward_in_f32 (ts_backend *be, const ts_conv2d_params *p, const tsk_conv_geom *g,
                 const ts_tensor *x, const ts_tensor *w, const ts_tensor *dy, ts_tensor *dx,
                 ts_tensor *dw)
{
  const char *dnn_why = dnn_refusal (be);
  int fresh = be->failed == TS_OK;
  int64_t xp = (int64_t) g->h * g->w, yp = (int64_t) g->oh * g->ow;
  float *dyf = f32_copy (be, g->n, g->cout, yp, dy->data);
  float *xf = dw ? f32_copy (be, g->n, g->c, xp, x->data) : NULL;   /* dx needs no x */
  float *dxf = dx ? f32_copy (be, g->n, g->c, xp, NULL) : NULL;

  if (be->failed == TS_OK)
    conv_backward_f32 (be, p, g, xf, w->data, dyf, dxf, DATA (dw), NULL);
  if (dx && be->failed == TS_OK)
    to_bf16 (be, g->n, g->c, xp, dxf, dx->data);
  ts_cuda_check (be, "conv2d backward (float32 for bfloat16)");
  be->i->free (be, dyf);
  be->i->free (be, xf);
  be->i->free (be, dxf);
  fallback_done (be, "conv2d backward", p, g, dnn_why, fresh);
}

static void
conv_forward_bf16 (ts_backend *be, const ts_conv2d_params *p, const tsk_conv_geom *g,
                   const ts_tensor *x, const ts_tensor *w, const ts_tensor *b, ts_tensor *y)
{
  if (ts_cuda (be)->dnn == NULL)
    {
      no_dnn_error ("conv2d");
      return;
    }
  if (!ts_cuda_dnn_conv_forward_bf16 (be, g, x->data, w->data, y->data))
    {
      forward_in_f32 (be, p, g, x, w, b, y);
      return;
    }
  if (b)
    tsk_bias_add_nhwc (S (be), (int64_t) g->n * g->oh * g->ow, g->cout, b->data, y->data);
  ts_cuda_check (be, "conv2d (cuDNN, bfloat16)");
}

/* dx and dw (either may be NULL) through cuDNN's bfloat16 algorithms,
 * both in one call.  When cuDNN does not take it: a dx it wrote before the
 * filter gradient ran out of candidates (dx_done) stays, and only dw runs
 * in float32; else each alone (a call cuDNN refuses at planning writes
 * nothing, and one that ran out of candidates is refused at planning from
 * then on), so that the direction cuDNN can run stays in bfloat16 and only
 * the one it cannot runs in float32, which writes whole what it runs (a dx
 * not done may hold a failed try's garbage). */
static void
gradients_bf16 (ts_backend *be, const ts_conv2d_params *p, const tsk_conv_geom *g,
                const ts_tensor *x, const ts_tensor *w, const ts_tensor *dy, ts_tensor *dx,
                ts_tensor *dw)
{
  int dx_done, unused;

  if (ts_cuda_dnn_conv_backward_bf16 (be, g, x->data, w->data, dy->data, DATA (dx), DATA (dw),
                                      &dx_done))
    return;
  if (dx_done)
    dx = NULL;
  else if (dx && dw)
    {
      if (ts_cuda_dnn_conv_backward_bf16 (be, g, x->data, w->data, dy->data, dx->data, NULL,
                                          &unused))
        dx = NULL;
      if (ts_cuda_dnn_conv_backward_bf16 (be, g, x->data, w->data, dy->data, NULL, dw->data,
                                          &unused))
        dw = NULL;
    }
  if (dx || dw)
    backward_in_f32 (be, p, g, x, w, dy, dx, dw);
}

/* The gradients first, so that a convolution refused without cuDNN writes
 * nothing; then db, in the scratch that their calls are done with (one
 * stream) */
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
  else if ((dx || dw) && ts_cuda (be)->dnn == NULL)
    {
      no_dnn_error ("conv2d backward");
      return;
    }
  else if (dx || dw)
    gradients_bf16 (be, p, g, x, w, dy, dx, dw);
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

void
ts_cuda_conv2d_forward (ts_backend *be, const ts_conv2d_params *p, const ts_tensor *x,
                        const ts_tensor *w, const ts_tensor *b, ts_tensor *y)
{
  tsk_conv_geom g;
  int form = conv_form ("conv2d", x, y, NULL, w, NULL, b, NULL);

  if (form == CONV_REFUSED || !conv_geom (p, x, w, y, &g) || g.n == 0)
    return;
  ts_cuda_stream (be);
  if (form == CONV_BF16)
    conv_forward_bf16 (be, p, &g, x, w, b, y);
  else
    conv_forward_f32 (be, p, &g, x->data, w->data, DATA (b), y->data);
}

void
ts_cuda_conv2d_backward (ts_backend *be, const ts_conv2d_params *p, const ts_tensor *x,
                         const ts_tensor *w, const ts_tensor *dy, ts_tensor *dx, ts_tensor *dw,
                         ts_tensor *db)
{
  tsk_conv_geom g;
  int form = conv_form ("conv2d backward", x, dy, dx, w, dw, NULL, db);

  if (form == CONV_REFUSED || !conv_geom (p, x, w, dy, &g))
    return;
  ts_cuda_stream (be);
  if (form == CONV_BF16)
    conv_backward_bf16 (be, p, &g, x, w, dy, dx, dw, db);
  else
    conv_backward_f32 (be, p, &g, x->data, w->data, dy->data, DATA (dx), DATA (dw), DATA (db));
}

void
ts_cuda_linear_forward (ts_backend *be, const ts_tensor *x, const ts_tensor *w,
                        const ts_tensor *b, ts_tensor *y)
{
  ts_cuda_blas *bl = &ts_cuda (be)->blas;
  const float one = 1.0f, zero = 0.0f;
  int n, in, out;

  if (!TS_CUDA_PLAIN ("linear", x, w, b, y)
      || !ts_op_linear_dims ("linear", x, w, y, &n, &in, &out) || n == 0)
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

  if (!TS_CUDA_PLAIN ("linear backward", x, w, dy, dx, dw, db)
      || !ts_op_linear_dims ("linear backward", x, w, dy, &n, &in, &out))
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
