/* ts-backend.h: the backend table.
 *
 * Every op that touches tensor memory goes through this table so that the CPU
 * backend (the reference) and the CUDA backend are interchangeable.  Modelled
 * on ggml's ggml_backend_i: a static const table with designated initialisers.
 *
 * Conventions (all tensors NCHW float32, contiguous, on this backend, unless
 * an op says otherwise; a backend with `convert` may also take bfloat16 NHWC
 * activations where its ops say so, see ts-tensor.h):
 *  - A forward op writes its output; it never allocates.
 *  - A backward op OVERWRITES its gradient outputs (no accumulation); pass NULL
 *    for a gradient that is not needed (dx of the first layer, dw of a frozen
 *    layer).  Callers sum gradients of tensors used twice with `add`.
 *  - Scratch memory (im2col columns, etc.) belongs to the backend and grows to
 *    its high-water mark during the first step, then is reused.
 */
#pragma once

#include <stdint.h>

#include "ts-resample.h"
#include "ts-tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int stride_h, stride_w;
  int pad_top, pad_left, pad_bottom, pad_right; /* asymmetric: TFLite SAME padding */
  int groups;                                   /* 1, or C_in for depthwise */
} ts_conv2d_params;

typedef struct {
  int kernel_h, kernel_w;
  int stride_h, stride_w;
  int pad_h, pad_w;
} ts_pool2d_params;

/* One parameter's Adam update, for adam_step_many (the arguments of adam_step). */
typedef struct {
  ts_tensor *param;
  const ts_tensor *grad;
  ts_tensor *m, *v;
  float lr, wd;
  int step;
} ts_adam_item;

typedef enum {
  TS_ACT_RELU,
  TS_ACT_RELU6,
  TS_ACT_SIGMOID,
} ts_activation;

typedef struct ts_backend_i {
  const char *name; /* "cpu", "cuda" */

  /* memory */
  void *(*alloc) (ts_backend *be, size_t bytes);          /* zero-filled */
  void (*free) (ts_backend *be, void *ptr);
  /* upload may return before the copy is done: @host_src must stay unchanged
   * until the next download or synchronize when it came from host_alloc
   * (other host memory may be reused at once) */
  void (*upload) (ts_backend *be, float *dst, const float *host_src, size_t n);
  void (*download) (ts_backend *be, float *host_dst, const float *src, size_t n);
  void (*synchronize) (ts_backend *be);
  /* optional (NULL: malloc / free): host memory this backend copies from at
   * full speed and without a staging copy (page-locked memory for a GPU), for
   * buffers uploaded every step.  Usable before and after a backend exists. */
  void *(*host_alloc) (size_t bytes);
  void (*host_free) (void *ptr);

  /* optional (NULL: only float32 NCHW tensors exist on this backend):
   * y = x in y's dtype and layout (same logical shape; float32 to bfloat16
   * rounds to nearest even) */
  void (*convert) (ts_backend *be, const ts_tensor *x, ts_tensor *y);
  /* optional (NULL: no bf16 precision): 1 when every op of the bf16
   * precision policy runs here (ts_model_set_precision asks), else 0 with
   * the reason in ts_last_error */
  int (*bf16_ready) (ts_backend *be);

  /* elementwise: y = alpha * x + beta * y (beta = 0 overwrites y) */
  void (*axpby) (ts_backend *be, float alpha, const ts_tensor *x, float beta, ts_tensor *y);
  /* y = a + b (residual add forward) */
  void (*add) (ts_backend *be, const ts_tensor *a, const ts_tensor *b, ts_tensor *y);
  void (*fill) (ts_backend *be, ts_tensor *t, float value);
  /* optional (NULL: add, then activation_forward): y = act (a + b) in one
   * pass, act ReLU or ReLU6; y may be a or b.  (The backward needs nothing
   * new: activation_backward works from y.) */
  void (*add_act_forward) (ts_backend *be, const ts_tensor *a, const ts_tensor *b,
                           ts_activation act, ts_tensor *y);

  /* x [N,Cin,H,W], w [Cout,Cin/groups,KH,KW], b [Cout] or NULL -> y [N,Cout,OH,OW] */
  void (*conv2d_forward) (ts_backend *be, const ts_conv2d_params *p,
                          const ts_tensor *x, const ts_tensor *w, const ts_tensor *b,
                          ts_tensor *y);
  void (*conv2d_backward) (ts_backend *be, const ts_conv2d_params *p,
                           const ts_tensor *x, const ts_tensor *w, const ts_tensor *dy,
                           ts_tensor *dx, ts_tensor *dw, ts_tensor *db);
  /* optional (NULL: callers run conv2d_forward, add and activation_forward in turn):
   * y = act (conv (x, w) + b + res) in one pass over y, for inference.  b and res
   * [N,Cout,OH,OW] may be NULL; act is -1 (none) or a ts_activation; y may be res
   * (not x). */
  void (*conv2d_forward_fused) (ts_backend *be, const ts_conv2d_params *p,
                                const ts_tensor *x, const ts_tensor *w, const ts_tensor *b,
                                const ts_tensor *res, int act, ts_tensor *y);

  /* Batch norm over N,H,W for each channel C; a [N,C] tensor is 1d batch norm.
   * Training: batch statistics (biased variance to normalise, unbiased to update
   * the running variance, as PyTorch), running = (1-momentum)*running + momentum*batch;
   * save_mean / save_invstd [C] are kept for backward.
   * Eval: running statistics. */
  void (*batchnorm_forward_train) (ts_backend *be, const ts_tensor *x,
                                   const ts_tensor *gamma, const ts_tensor *beta,
                                   ts_tensor *running_mean, ts_tensor *running_var,
                                   float momentum, float eps, ts_tensor *y,
                                   ts_tensor *save_mean, ts_tensor *save_invstd);
  void (*batchnorm_forward_eval) (ts_backend *be, const ts_tensor *x,
                                  const ts_tensor *gamma, const ts_tensor *beta,
                                  const ts_tensor *running_mean, const ts_tensor *running_var,
                                  float eps, ts_tensor *y);
  void (*batchnorm_backward) (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                              const ts_tensor *save_mean, const ts_tensor *save_invstd,
                              const ts_tensor *dy, ts_tensor *dx,
                              ts_tensor *dgamma, ts_tensor *dbeta);

  /* optional (NULL: callers run the batch norm, then activation_forward and
   * activation_backward): training batch norm followed by @act (ReLU or
   * ReLU6) in one pass over y, never writing the normalised values; its
   * backward takes the activation's output @y_act and gradient @dy_act
   * (dx may be dy_act: elementwise in place).  Same results as the pair. */
  void (*batchnorm_act_forward_train) (ts_backend *be, const ts_tensor *x,
                                       const ts_tensor *gamma, const ts_tensor *beta,
                                       ts_tensor *running_mean, ts_tensor *running_var,
                                       float momentum, float eps, ts_activation act,
                                       ts_tensor *y_act, ts_tensor *save_mean,
                                       ts_tensor *save_invstd);
  void (*batchnorm_act_backward) (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                                  const ts_tensor *save_mean, const ts_tensor *save_invstd,
                                  ts_activation act, const ts_tensor *y_act,
                                  const ts_tensor *dy_act, ts_tensor *dx, ts_tensor *dgamma,
                                  ts_tensor *dbeta);

  /* y = act(x); in place (y == x) allowed.  backward uses the OUTPUT y
   * (relu: y>0, relu6: 0<y<6, sigmoid: y(1-y)); dx == dy allowed. */
  void (*activation_forward) (ts_backend *be, ts_activation act, const ts_tensor *x, ts_tensor *y);
  void (*activation_backward) (ts_backend *be, ts_activation act, const ts_tensor *y,
                               const ts_tensor *dy, ts_tensor *dx);

  /* max pool; argmax [same numel as y] records the winning input index for backward
   * (the index inside the input's own [H,W] plane, iy*W + ix, stored in y's
   * layout: NHWC order for a bfloat16 NHWC y) */
  void (*maxpool2d_forward) (ts_backend *be, const ts_pool2d_params *p, const ts_tensor *x,
                             ts_tensor *y, int32_t *argmax);
  void (*maxpool2d_backward) (ts_backend *be, const ts_pool2d_params *p, const int32_t *argmax,
                              const ts_tensor *dy, ts_tensor *dx);
  /* adaptive pools, PyTorch's bin rule: start=floor(i*H/OH), end=ceil((i+1)*H/OH) */
  void (*adaptive_avgpool2d_forward) (ts_backend *be, const ts_tensor *x, ts_tensor *y);
  void (*adaptive_avgpool2d_backward) (ts_backend *be, const ts_tensor *dy, ts_tensor *dx);
  void (*adaptive_maxpool2d_forward) (ts_backend *be, const ts_tensor *x, ts_tensor *y,
                                      int32_t *argmax);
  void (*adaptive_maxpool2d_backward) (ts_backend *be, const int32_t *argmax,
                                       const ts_tensor *dy, ts_tensor *dx);

  /* x [N,In], w [Out,In], b [Out] or NULL -> y [N,Out] */
  void (*linear_forward) (ts_backend *be, const ts_tensor *x, const ts_tensor *w,
                          const ts_tensor *b, ts_tensor *y);
  void (*linear_backward) (ts_backend *be, const ts_tensor *x, const ts_tensor *w,
                           const ts_tensor *dy, ts_tensor *dx, ts_tensor *dw, ts_tensor *db);

  /* inverted dropout: mask holds 0 or 1/(1-p); drawn from (seed, counter) so runs repeat */
  void (*dropout_forward) (ts_backend *be, float p, uint64_t seed, uint64_t counter,
                           const ts_tensor *x, ts_tensor *y, ts_tensor *mask);
  void (*dropout_backward) (ts_backend *be, const ts_tensor *mask, const ts_tensor *dy,
                            ts_tensor *dx);

  /* channel concat of two [N,C_a,H,W], [N,C_b,H,W] -> [N,C_a+C_b,H,W] and its split */
  void (*concat_channels) (ts_backend *be, const ts_tensor *a, const ts_tensor *b, ts_tensor *y);
  void (*split_channels) (ts_backend *be, const ts_tensor *dy, ts_tensor *da, ts_tensor *db);

  /* BCEWithLogits, mean over all elements (numerically stable form).
   * Returns the loss; writes dlogits = (sigmoid(x) - t) / numel when dlogits != NULL. */
  float (*bce_with_logits) (ts_backend *be, const ts_tensor *logits, const ts_tensor *targets,
                            ts_tensor *dlogits);
  /* optional (NULL: bce_with_logits): the same, queued without waiting for the
   * device; bce_loss_result waits and returns the loss.  A training step
   * queues its backward pass in between, so a GPU never idles while the host
   * queues it. */
  void (*bce_with_logits_queue) (ts_backend *be, const ts_tensor *logits,
                                 const ts_tensor *targets, ts_tensor *dlogits);
  float (*bce_loss_result) (ts_backend *be);

  /* fastai's Adam with true weight decay, one parameter tensor:
   *   p -= lr*wd*p;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
   *   p -= lr * (m/(1-b1^step)) / (sqrt(v/(1-b2^step)) + eps)          */
  void (*adam_step) (ts_backend *be, ts_tensor *param, const ts_tensor *grad,
                     ts_tensor *m, ts_tensor *v, float lr, float beta1, float beta2,
                     float eps, float wd, int step);

  /* 1 when no element is NaN or infinite, for NaN/Inf detection */
  int (*all_finite) (ts_backend *be, const ts_tensor *t);
  /* optional: sum of squares (in double), for gradient norms */
  double (*sum_squares) (ts_backend *be, const ts_tensor *t);

  /* optional multi-tensor forms (NULL: ts_backend_adam_many & co. loop over
   * the one-tensor ops): on a GPU one launch per few dozen tensors and at most
   * one wait, instead of one launch and one wait per tensor.  Results equal
   * the loop's, bit for bit. */
  void (*adam_step_many) (ts_backend *be, const ts_adam_item *items, int n, float beta1,
                          float beta2, float eps);
  /* the index of the first tensor holding a NaN or infinity, -1 when none
   * (a device error counts as "not finite" and is recorded, as all_finite) */
  int (*first_nonfinite) (ts_backend *be, const ts_tensor *const *t, int n);
  /* dst[i] = src[i] (same sizes) */
  void (*copy_many) (ts_backend *be, const ts_tensor *const *src, ts_tensor *const *dst, int n);

  /* The loader's last step for a whole batch (ts-resample.h): row i of
   * @out ([n, 3, size, size], size = items[i].size) is ts_resample_image of
   * the pixels at @host_src + items[i].offset.  @host_src and @items are host
   * memory that must stay unchanged until the next download or synchronize
   * (as upload's).  @stage: NULL, or a stage (below) that stage_upload
   * filled from @host_src, whose device copy is read instead.  Call it
   * through ts_backend_resample_batch, which checks the arguments. */
  void (*resample_batch) (ts_backend *be, const uint8_t *host_src, size_t src_bytes,
                          void *stage, const ts_resample_item *items, int n,
                          const float mean[3], const float std[3], ts_tensor *out);
  /* optional, with resample_batch and host_alloc (NULL: none): a device
   * copy of a batch's bytes made ahead, on a stream of its own, while the
   * batch before it computes (the loader stages its next batch).  Usable
   * from any thread, before and after a backend exists, as host_alloc.
   * stage_upload returns 0 when nothing was staged (resample_batch then
   * copies the bytes itself); a staged @host_src must stay unchanged until
   * stage_wait returns, and the stage may be filled again once the
   * resample_batch that read it is queued.  stage_new allocates room for
   * @bytes (grown when a batch needs more: that waits for the device). */
  void *(*stage_new) (size_t bytes);
  void (*stage_free) (void *stage);
  int (*stage_upload) (void *stage, const void *host_src, size_t bytes);
  void (*stage_wait) (void *stage);

  /* optional: change the number of worker threads (NULL: fixed) */
  void (*set_threads) (ts_backend *be, int n_threads);

  void (*destroy) (ts_backend *be);
} ts_backend_i;

struct ts_backend {
  const ts_backend_i *i;
  void *ctx;        /* backend private state */
  int n_threads;
  /* Sticky: the first failure an op could not return (the ops return void;
   * a GPU's launch failure or lost device shows at a later transfer).  Set by
   * ts_backend_record_failure, read by ts_backend_check. */
  ts_status failed;
  char failed_msg[512];   /* room for a message that names a layer's geometry too */
};

/* The CPU backend with @n_threads worker threads (0: number of cores).
 * Tuning knobs, read from the environment when the backend is created:
 *   TS_CPU_COL_BUDGET        im2col floats per GEMM (default 262144)
 *   TS_CPU_MIN_PARALLEL_WORK ops smaller than this run on the calling thread
 *                            (default 65536; the tests use 0)
 *   TS_CPU_CONV_GEMM=0       dense conv forward through im2col + BLAS instead of the
 *                            packed AVX-512 GEMM (used when the CPU has AVX-512; to compare)
 *   TS_CPU_THREADED_BLAS=1   one image at a time with OpenBLAS threads instead of
 *                            images split over our threads (slower here; to compare)
 *   TS_KEEP_BLAS_CORE        keep the OpenBLAS kernels OpenBLAS chose (see ts-cpu-blas.c)
 */
ts_backend *ts_backend_cpu_new (int n_threads);
/* The BLAS kernels the CPU backend uses ("SkylakeX", "Haswell"...; "reference"
 * without OpenBLAS), for benchmark reports.  Valid after ts_backend_cpu_new. */
const char *ts_backend_cpu_blas_core (void);
void ts_backend_set_threads (ts_backend *be, int n_threads);
/* The multi-tensor ops, through the backend's own form when it has one. */
void ts_backend_adam_many (ts_backend *be, const ts_adam_item *items, int n, float beta1,
                           float beta2, float eps);
int ts_backend_first_nonfinite (ts_backend *be, const ts_tensor *const *t, int n);
/* The same, one all_finite a tensor: for a backend's first_nonfinite to
 * fall back on with tensors its own form does not take. */
int ts_backend_first_nonfinite_each (ts_backend *be, const ts_tensor *const *t, int n);
void ts_backend_copy_many (ts_backend *be, const ts_tensor *const *src, ts_tensor *const *dst,
                           int n);
/* resample_batch, after checking that @out is [n, 3, size, size] for every
 * item's size and that every item's pixels lie inside the @src_bytes bytes;
 * TS_ERR_SHAPE or TS_ERR_INVALID (naming the item) when not. */
ts_status ts_backend_resample_batch (ts_backend *be, const uint8_t *host_src, size_t src_bytes,
                                     void *stage, const ts_resample_item *items, int n,
                                     const float mean[3], const float std[3], ts_tensor *out);
void ts_backend_free (ts_backend *be);
/* Keeps @status with the thread's last message (ts_last_error) as @be's
 * failure, unless one is kept already. */
void ts_backend_record_failure (ts_backend *be, ts_status status);
/* The kept failure's message becomes the thread's last message, its status
 * unchanged: for an op that names what it was doing when it failed. */
void ts_backend_restate_failure (ts_backend *be);
/* TS_OK, or the kept failure (its message made the thread's last error again):
 * every op since it may have produced garbage. */
ts_status ts_backend_check (ts_backend *be);

#ifdef __cplusplus
}
#endif
