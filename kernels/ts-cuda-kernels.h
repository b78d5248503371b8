/* ts-cuda-kernels.h: the C entry points of the CUDA kernels (the .cu files in kernels/).
 *
 * Every launcher enqueues on @s and returns at once; launch errors surface
 * through cudaGetLastError, which the backend checks after each op.  Shapes
 * and layouts follow ts-backend.h (NCHW float32, contiguous).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#include "ts-resample.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ts-cuda-eltwise.cu */
void tsk_axpby (cudaStream_t s, int64_t n, float alpha, const float *x, float beta, float *y);
/* y = act (a + b); act -1 (none), 0 (ReLU) or 1 (ReLU6) */
void tsk_add (cudaStream_t s, int64_t n, const float *a, const float *b, int act, float *y);
void tsk_mul (cudaStream_t s, int64_t n, const float *a, const float *b, float *y);
void tsk_fill (cudaStream_t s, int64_t n, float value, float *y);
/* act: 0 relu, 1 relu6, 2 sigmoid (ts_activation's order) */
void tsk_activation_forward (cudaStream_t s, int act, int64_t n, const float *x, float *y);
void tsk_activation_backward (cudaStream_t s, int act, int64_t n, const float *y,
                              const float *dy, float *dx);
void tsk_dropout_forward (cudaStream_t s, int64_t n, float p, uint64_t seed, uint64_t counter,
                          const float *x, float *y, float *mask);
/* y [N, sa+sb] from a [N, sa] and b [N, sb] (sizes per image), and back */
void tsk_concat (cudaStream_t s, int64_t n, int64_t sa, int64_t sb, const float *a,
                 const float *b, float *y);
void tsk_split (cudaStream_t s, int64_t n, int64_t sa, int64_t sb, const float *y, float *a,
                float *b);

/* ts-cuda-convert.cu: y = x, logically [n, c, p] (p = H*W), with the dtype
 * (bf16 1: bfloat16, 0: float32) and layout (nhwc 1: [n, p, c] in memory,
 * 0: [n, c, p]) of each side; float32 to bfloat16 rounds to nearest even */
void tsk_convert (cudaStream_t s, int64_t n, int64_t c, int64_t p, const void *x, int x_bf16,
                  int x_nhwc, void *y, int y_bf16, int y_nhwc);

/* ts-cuda-reduce.cu.  @partial holds at least tsk_reduce_blocks (n) + 1 doubles;
 * the result lands in partial[0]. */
int tsk_reduce_blocks (int64_t n);
void tsk_sum_squares (cudaStream_t s, int64_t n, const float *x, double *partial);
/* partial[0] = number of NaN / infinite elements (as a double) */
void tsk_count_nonfinite (cudaStream_t s, int64_t n, const float *x, double *partial);
/* partial[0] = sum of max(x,0) - x*t + log1p(exp(-|x|)); dx (may be NULL) = (sigmoid(x)-t)/n */
void tsk_bce_with_logits (cudaStream_t s, int64_t n, const float *x, const float *t,
                          float *dx, double *partial);

/* ts-cuda-adam.cu */
void tsk_adam (cudaStream_t s, int64_t n, float *p, const float *g, float *m, float *v,
               float lr, float b1, float b2, float eps, float decay, float inv_bc1,
               float inv_bc2);

/* ts-cuda-multi.cu: up to TSK_MULTI_MAX tensors in one launch, passed by
 * value (this struct stays under the 4 KiB of kernel parameters).  Fill n,
 * len and the pointers; the launchers fill block_start.
 *   Adam: a = param, b = grad, m, v, lr, decay, inv_bc1, inv_bc2 (as tsk_adam)
 *   finite check: b = the tensor; flags[i] is set to 1 when tensor i holds
 *     a NaN or infinity (flags zeroed by the caller)
 *   copy: a = destination, b = source */
#define TSK_MULTI_MAX 48
typedef struct {
  int n;
  int block_start[TSK_MULTI_MAX + 1];
  float *a[TSK_MULTI_MAX];
  const float *b[TSK_MULTI_MAX];
  float *m[TSK_MULTI_MAX], *v[TSK_MULTI_MAX];
  int64_t len[TSK_MULTI_MAX];
  float lr[TSK_MULTI_MAX], decay[TSK_MULTI_MAX], inv_bc1[TSK_MULTI_MAX], inv_bc2[TSK_MULTI_MAX];
} tsk_multi;
int tsk_multi_plan (tsk_multi *t);
void tsk_adam_multi (cudaStream_t s, tsk_multi *t, float b1, float b2, float eps);
void tsk_nonfinite_multi (cudaStream_t s, tsk_multi *t, int *flags);
void tsk_copy_multi (cudaStream_t s, tsk_multi *t);

/* ts-cuda-batchnorm.cu: x [n, c, plane]; @work: device memory of at least
 * tsk_bn_work_floats (n, c, plane) floats (partial sums and per-channel
 * coefficients), free for other use once the launches are done */
size_t tsk_bn_work_floats (int64_t n, int64_t c, int64_t plane);
/* act: -1 none, else a ts_activation (ReLU or ReLU6) applied to y; backward
 * then takes dy of the activation's output y_act (dx may be dy) */
void tsk_bn_train (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const float *x,
                   const float *gamma, const float *beta, float *running_mean,
                   float *running_var, float momentum, float eps, int act, float *y,
                   float *save_mean, float *save_invstd, void *work);
void tsk_bn_eval (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const float *x,
                  const float *gamma, const float *beta, const float *mean, const float *var,
                  float eps, float *y, void *work);
void tsk_bn_backward (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const float *x,
                      const float *gamma, const float *mean, const float *invstd, int act,
                      const float *y_act, const float *dy, float *dx, float *dgamma,
                      float *dbeta, void *work);

/* ts-cuda-bn-nhwc.cu: the same three over bfloat16 NHWC activations (x, y,
 * y_act, dy, dx: N*plane pixels of c channels, as uint16_t); parameters,
 * statistics and their gradients float32; @work of at least
 * tsk_bn_nhwc_work_floats (n, c, plane) floats */
size_t tsk_bn_nhwc_work_floats (int64_t n, int64_t c, int64_t plane);
void tsk_bn_nhwc_train (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const uint16_t *x,
                        const float *gamma, const float *beta, float *running_mean,
                        float *running_var, float momentum, float eps, int act, uint16_t *y,
                        float *save_mean, float *save_invstd, void *work);
void tsk_bn_nhwc_eval (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const uint16_t *x,
                       const float *gamma, const float *beta, const float *mean,
                       const float *var, float eps, uint16_t *y, void *work);
void tsk_bn_nhwc_backward (cudaStream_t s, int64_t n, int64_t c, int64_t plane,
                           const uint16_t *x, const float *gamma, const float *mean,
                           const float *invstd, int act, const uint16_t *y_act,
                           const uint16_t *dy, uint16_t *dx, float *dgamma, float *dbeta,
                           void *work);

/* ts-cuda-pool.cu: planes = N*C */
void tsk_maxpool_forward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                          int kh, int kw, int sh, int sw, int ph, int pw, const float *x,
                          float *y, int32_t *argmax);
void tsk_maxpool_backward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                           int kh, int kw, int sh, int sw, int ph, int pw,
                           const int32_t *argmax, const float *dy, float *dx);
void tsk_adaptive_avg_forward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                               const float *x, float *y);
void tsk_adaptive_avg_backward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                                const float *dy, float *dx);
void tsk_adaptive_max_forward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                               const float *x, float *y, int32_t *argmax);
void tsk_adaptive_max_backward (cudaStream_t s, int64_t planes, int h, int w, int oh, int ow,
                                const int32_t *argmax, const float *dy, float *dx);

/* The bfloat16 forms (the bf16 precision policy, docs/cuda.md; a bf16 is
 * its 16 bits, uint16_t here and tsk_bf16 in the kernels): math in float,
 * one rounding at the store; the same results as the float32 kernels on the
 * same values, but for that rounding.
 * ts-cuda-eltwise.cu: the elementwise ops, any layout (the same one on every side) */
void tsk_axpby_bf16 (cudaStream_t s, int64_t n, float alpha, const uint16_t *x, float beta,
                     uint16_t *y);
void tsk_add_bf16 (cudaStream_t s, int64_t n, const uint16_t *a, const uint16_t *b, int act,
                   uint16_t *y);
void tsk_fill_bf16 (cudaStream_t s, int64_t n, float value, uint16_t *y);
void tsk_activation_forward_bf16 (cudaStream_t s, int act, int64_t n, const uint16_t *x,
                                  uint16_t *y);
void tsk_activation_backward_bf16 (cudaStream_t s, int act, int64_t n, const uint16_t *y,
                                   const uint16_t *dy, uint16_t *dx);
/* ts-cuda-pool.cu: x [n, c, h, w] bf16 NHWC.  argmax is laid out as y (NHWC
 * for an NHWC y), its values as the float32 kernels' (iy*w + ix). */
void tsk_maxpool_forward_nhwc (cudaStream_t s, int64_t n, int64_t c, int h, int w, int oh, int ow,
                               int kh, int kw, int sh, int sw, int ph, int pw, const uint16_t *x,
                               uint16_t *y, int32_t *argmax);
void tsk_maxpool_backward_nhwc (cudaStream_t s, int64_t n, int64_t c, int h, int w, int oh,
                                int ow, int kh, int kw, int sh, int sw, int ph, int pw,
                                const int32_t *argmax, const uint16_t *dy, uint16_t *dx);
/* y (and dy) float32 NCHW (y_bf16 0: the model's head) or bf16 NHWC (1) */
void tsk_adaptive_avg_forward_nhwc (cudaStream_t s, int64_t n, int64_t c, int h, int w, int oh,
                                    int ow, const uint16_t *x, void *y, int y_bf16);
void tsk_adaptive_avg_backward_nhwc (cudaStream_t s, int64_t n, int64_t c, int h, int w, int oh,
                                     int ow, const void *dy, int dy_bf16, uint16_t *dx);
void tsk_adaptive_max_forward_nhwc (cudaStream_t s, int64_t n, int64_t c, int h, int w, int oh,
                                    int ow, const uint16_t *x, void *y, int y_bf16,
                                    int32_t *argmax);
void tsk_adaptive_max_backward_nhwc (cudaStream_t s, int64_t n, int64_t c, int h, int w, int oh,
                                     int ow, const int32_t *argmax, const void *dy, int dy_bf16,
                                     uint16_t *dx);
/* ts-cuda-reduce.cu: tsk_sum_squares and tsk_count_nonfinite of a bf16 tensor */
void tsk_sum_squares_bf16 (cudaStream_t s, int64_t n, const uint16_t *x, double *partial);
void tsk_count_nonfinite_bf16 (cudaStream_t s, int64_t n, const uint16_t *x, double *partial);

/* ts-cuda-conv.cu */
typedef struct {
  int n, c, h, w;          /* input */
  int cout, cg, kh, kw;    /* weight [cout, cg, kh, kw]; cg = c / groups */
  int groups, coutg;
  int sh, sw, pt, pl;      /* strides, top / left padding (bottom / right follow from oh, ow) */
  int oh, ow;
} tsk_conv_geom;

/* col [nb][cg*kh*kw][oh*ow] for images n0..n0+nb-1 (groups == 1) */
void tsk_im2col (cudaStream_t s, const tsk_conv_geom *g, int n0, int nb, const float *x,
                 float *col);
/* dx images n0..n0+nb-1 from dcol [nb][k][oh*ow] (overwrites) */
void tsk_col2im (cudaStream_t s, const tsk_conv_geom *g, int n0, int nb, const float *dcol,
                 float *dx);
/* direct grouped convolution (depthwise and any groups > 1) */
void tsk_conv_grouped_forward (cudaStream_t s, const tsk_conv_geom *g, const float *x,
                               const float *w, const float *b, float *y);
void tsk_conv_grouped_backward_data (cudaStream_t s, const tsk_conv_geom *g, const float *dy,
                                     const float *w, float *dx);
void tsk_conv_grouped_backward_weight (cudaStream_t s, const tsk_conv_geom *g, const float *x,
                                       const float *dy, float *dw);
/* y [n, c, plane] += b[c]; db[c] = sum over n, plane of dy (linear: plane = 1) */
void tsk_bias_add (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const float *b,
                   float *y);
void tsk_bias_grad (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const float *dy,
                    float *db);

/* ts-cuda-conv-nhwc.cu: a bfloat16 NHWC convolution's bias, y and dy [rows][c]
 * (rows = N*OH*OW) of bfloat16, b and db [c] float32.  y += b (rounded to
 * bfloat16 once); db = the sum over rows of dy (float over a few rows,
 * double beyond), deterministic, through @work: tsk_bias_grad_nhwc_work
 * (rows, c) doubles of device memory */
void tsk_bias_add_nhwc (cudaStream_t s, int64_t rows, int64_t c, const float *b, void *y);
size_t tsk_bias_grad_nhwc_work (int64_t rows, int64_t c);
void tsk_bias_grad_nhwc (cudaStream_t s, int64_t rows, int64_t c, const void *dy, double *work,
                         float *db);
/* bfloat16 NHWC window copy, bits unchanged: dst [n][dh][dw][c] =
 * src [n][y + top][x + left][c] of src [n][sh][sw][c], 0 where that lies
 * outside src.  top, left <= 0 pads x with zeros for a convolution whose
 * padding cuDNN cannot take; >= 0 crops the padded dx back */
void tsk_window_nhwc (cudaStream_t s, int64_t n, int64_t c, int sh, int sw, const void *src,
                      int dh, int dw, void *dst, int top, int left);

/* ts-cuda-resample.cu: out [n][3][size][size] from the n items (device memory)
 * over the source bytes @src (device memory, items[i].offset into it), as
 * ts_resample_image but for the exact lighting; Normalize is
 * value * scale + shift with scale = 1 / std, shift = -mean / std (as
 * ts_resample_image rounds them) and value in [0, 1] */
typedef struct {
  float scale[3], shift[3];
} tsk_normalize;
void tsk_resample (cudaStream_t s, int n, int size, const uint8_t *src,
                   const ts_resample_item *items, const tsk_normalize *nz, float *out);

#ifdef __cplusplus
}
#endif
