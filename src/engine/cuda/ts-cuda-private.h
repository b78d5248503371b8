/* ts-cuda-private.h: the CUDA backend's state, shared by its source files. */
#pragma once

#include <pthread.h>
#include <stddef.h>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "ts-backend.h"
#include "ts-backend-cuda.h"
#include "ts-cuda-kernels.h"

typedef struct {
  void *ptr;
  size_t size;
} ts_cuda_block;

/* cuBLAS entry points, opened with dlopen so that the binary never needs libcublas to start */
typedef struct {
  void *lib;
  cublasStatus_t (*create) (cublasHandle_t *);
  cublasStatus_t (*destroy) (cublasHandle_t);
  cublasStatus_t (*set_stream) (cublasHandle_t, cudaStream_t);
  cublasStatus_t (*set_math_mode) (cublasHandle_t, cublasMath_t);
  cublasStatus_t (*sgemm) (cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                           const float *, const float *, int, const float *, int, const float *,
                           float *, int);
  cublasStatus_t (*sgemm_strided) (cublasHandle_t, cublasOperation_t, cublasOperation_t, int,
                                   int, int, const float *, const float *, int, long long,
                                   const float *, int, long long, const float *, float *, int,
                                   long long, int);
  cublasHandle_t handle;
} ts_cuda_blas;

typedef struct ts_cuda_dnn ts_cuda_dnn;   /* ts-cuda-cudnn.c */

/* ctx->red: 1025 doubles of reduction partials (or 2048 ints of finite-check
 * flags), then one double holding the queued loss's sum */
#define RED_DOUBLES 1025
#define RED_LOSS_SLOT RED_DOUBLES

typedef struct {
  int device;
  long staged_batches;   /* resample_batch calls that read a loader's stage */
  char name[256];
  int cc_major, cc_minor;
  size_t total_mem;
  cudaStream_t stream;
  ts_cuda_blas blas;
  ts_cuda_dnn *dnn;      /* NULL when cuDNN is off or could not be loaded */
  int tf32_conv, tf32_gemm;  /* TF32 tensor cores allowed (TS_CUDA_TF32) */

  /* caching allocator: blocks handed out, and freed blocks kept for reuse */
  pthread_mutex_t lock;
  ts_cuda_block *live, *cached;
  int n_live, cap_live, n_cached, cap_cached;
  size_t cached_bytes;

  float *scratch;        /* im2col columns and their gradients */
  size_t scratch_floats;
  double *red;           /* reduction partials (1025 doubles), then the queued loss's sum */
  int64_t loss_n;        /* elements of the queued loss */
  int64_t col_budget;
  /* bfloat16 convolution calls that ran in float32, cuDNN having no
   * bfloat16 algorithm for them (ts-cuda-gemm.c); atomic: read by
   * ts_backend_cuda_bf16_fallbacks from any thread */
  long bf16_fallbacks;
} ts_cuda_ctx;

static inline ts_cuda_ctx *
ts_cuda (ts_backend *be)
{
  return be->ctx;
}

/* The backend's stream, with its device made current for the calling thread
 * (training may run on a worker thread; cudaSetDevice is per thread and cheap). */
static inline cudaStream_t
ts_cuda_stream (ts_backend *be)
{
  cudaSetDevice (ts_cuda (be)->device);
  return ts_cuda (be)->stream;
}

/* A tensor's memory for a launcher, NULL for a NULL (optional) tensor; BF16:
 * that of a bfloat16 tensor, whose data is really uint16_t (ts-tensor.h). */
#define DATA(t) ((t) ? (t)->data : NULL)
#define BF16(t) ((uint16_t *) DATA (t))

/* 1 when @t is bfloat16 NHWC (4-d): the activations' form under the bf16
 * precision policy, the one the NHWC kernels take */
static inline int
ts_cuda_bf16_nhwc (const ts_tensor *t)
{
  return t->dtype == TS_BF16 && t->layout == TS_NHWC && t->ndim == 4;
}

/* ts_op_plain (float32 NCHW, or NULL) over @count tensors: the check of every
 * op that takes float32 only, and of batch norm's parameters in either form */
int ts_cuda_all_plain (const char *op, int count, const ts_tensor *const *t);
#define TS_CUDA_PLAIN(op, ...)                                                         \
  ts_cuda_all_plain ((op), (int) (sizeof ((const ts_tensor *[]) { __VA_ARGS__ })       \
                                  / sizeof (const ts_tensor *)),                       \
                     (const ts_tensor *[]) { __VA_ARGS__ })

/* Records a CUDA failure as TS_ERR_DEVICE in ts_last_error; 1 when @e is success. */
int ts_cuda_ok (ts_backend *be, cudaError_t e, const char *op);
/* After launching the kernels of @op: checks for launch errors. */
int ts_cuda_check (ts_backend *be, const char *op);
int ts_cuda_blas_ok (ts_backend *be, cublasStatus_t st, const char *op);
/* Scratch of at least @n floats (grows; old contents lost). NULL on failure. */
float *ts_cuda_scratch (ts_backend *be, size_t n);
/* The same without recording a failure (the runtime's error cleared): for a
 * request that has another way out (a cuDNN algorithm whose workspace does
 * not fit gives way to the next, ts-cuda-cudnn.c).  *@scratch NULL on failure. */
cudaError_t ts_cuda_scratch_try (ts_backend *be, size_t n, float **scratch);

/* ts-cuda-cudnn.c: 0, the reason recorded (ts_error), when cuDNN cannot be
 * loaded; the convs 1 when cuDNN took the convolution (errors recorded), 0
 * to fall back to im2col + cuBLAS / the direct kernels.  0 also when a
 * direction ran out of candidates as they ran (each algorithm that failed
 * replaced by the next): the backward may have written dx by then, so the
 * fallback computes every output asked for, whole (it does: im2col, the
 * direct kernels and their GEMMs overwrite, never accumulate into, dx and
 * dw; none of them is an input). */
int ts_cuda_dnn_open (ts_backend *be);
void ts_cuda_dnn_close (ts_backend *be);
int ts_cuda_dnn_conv_forward (ts_backend *be, const tsk_conv_geom *g, const float *x,
                              const float *w, float *y);
int ts_cuda_dnn_conv_backward (ts_backend *be, const tsk_conv_geom *g, const float *x,
                               const float *w, const float *dy, float *dx, float *dw);
/* The bfloat16 NHWC forms (x, y, dy, dx bfloat16 NHWC; w and dw the float32
 * [Cout, Cin/groups, KH, KW] parameter and its gradient; dx, dw may be
 * NULL), any padding (what cuDNN's symmetric padding cannot express runs
 * on a zero-padded copy of x): 1 when cuDNN took the convolution (errors
 * recorded), 0 when it cannot (off, not loaded, a geometry its planning
 * rejects, or a direction whose every candidate failed as it ran), nothing
 * recorded: the caller runs in float32 what cuDNN did not write, whole, or
 * refuses the convolution without cuDNN (ts-cuda-gemm.c;
 * ts_cuda_dnn_refusal says why: the direction, and cuDNN's last answer).
 * The backward's 0 may follow a dx written in bfloat16 (the filter
 * gradient then ran out of candidates): *@dx_done says so, and dx need
 * not run again; a dx not done may hold garbage (a failed try's). */
int ts_cuda_dnn_conv_forward_bf16 (ts_backend *be, const tsk_conv_geom *g, const void *x,
                                   const float *w, void *y);
int ts_cuda_dnn_conv_backward_bf16 (ts_backend *be, const tsk_conv_geom *g, const void *x,
                                    const float *w, const void *dy, void *dx, float *dw,
                                    int *dx_done);
/* The part of a convolution cuDNN plans on its own (each direction on its
 * first use), and the one that made the last convolution cuDNN did not take
 * (cuDNN loaded): its descriptors, or the direction it has no algorithm for
 * (at planning, or every candidate failed as it ran); *status is cuDNN's
 * answer (the last run's). */
typedef enum { TS_DNN_FORWARD, TS_DNN_DATA, TS_DNN_FILTER, TS_DNN_DESCRIPTORS } ts_dnn_part;
ts_dnn_part ts_cuda_dnn_refusal (ts_backend *be, const char **status);

/* ts-cuda-ops.c */
void ts_cuda_convert (ts_backend *be, const ts_tensor *x, ts_tensor *y);
void ts_cuda_axpby (ts_backend *be, float alpha, const ts_tensor *x, float beta, ts_tensor *y);
void ts_cuda_add (ts_backend *be, const ts_tensor *a, const ts_tensor *b, ts_tensor *y);
void ts_cuda_add_act_forward (ts_backend *be, const ts_tensor *a, const ts_tensor *b,
                              ts_activation act, ts_tensor *y);
void ts_cuda_fill (ts_backend *be, ts_tensor *t, float value);
void ts_cuda_batchnorm_forward_train (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                                      const ts_tensor *beta, ts_tensor *running_mean,
                                      ts_tensor *running_var, float momentum, float eps,
                                      ts_tensor *y, ts_tensor *save_mean,
                                      ts_tensor *save_invstd);
void ts_cuda_batchnorm_act_forward_train (ts_backend *be, const ts_tensor *x,
                                          const ts_tensor *gamma, const ts_tensor *beta,
                                          ts_tensor *running_mean, ts_tensor *running_var,
                                          float momentum, float eps, ts_activation act,
                                          ts_tensor *y_act, ts_tensor *save_mean,
                                          ts_tensor *save_invstd);
void ts_cuda_batchnorm_act_backward (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                                     const ts_tensor *save_mean, const ts_tensor *save_invstd,
                                     ts_activation act, const ts_tensor *y_act,
                                     const ts_tensor *dy_act, ts_tensor *dx, ts_tensor *dgamma,
                                     ts_tensor *dbeta);
void ts_cuda_batchnorm_forward_eval (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                                     const ts_tensor *beta, const ts_tensor *running_mean,
                                     const ts_tensor *running_var, float eps, ts_tensor *y);
void ts_cuda_batchnorm_backward (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                                 const ts_tensor *save_mean, const ts_tensor *save_invstd,
                                 const ts_tensor *dy, ts_tensor *dx, ts_tensor *dgamma,
                                 ts_tensor *dbeta);
void ts_cuda_activation_forward (ts_backend *be, ts_activation act, const ts_tensor *x,
                                 ts_tensor *y);
void ts_cuda_activation_backward (ts_backend *be, ts_activation act, const ts_tensor *y,
                                  const ts_tensor *dy, ts_tensor *dx);
void ts_cuda_maxpool2d_forward (ts_backend *be, const ts_pool2d_params *p, const ts_tensor *x,
                                ts_tensor *y, int32_t *argmax);
void ts_cuda_maxpool2d_backward (ts_backend *be, const ts_pool2d_params *p,
                                 const int32_t *argmax, const ts_tensor *dy, ts_tensor *dx);
void ts_cuda_adaptive_avgpool2d_forward (ts_backend *be, const ts_tensor *x, ts_tensor *y);
void ts_cuda_adaptive_avgpool2d_backward (ts_backend *be, const ts_tensor *dy, ts_tensor *dx);
void ts_cuda_adaptive_maxpool2d_forward (ts_backend *be, const ts_tensor *x, ts_tensor *y,
                                         int32_t *argmax);
void ts_cuda_adaptive_maxpool2d_backward (ts_backend *be, const int32_t *argmax,
                                          const ts_tensor *dy, ts_tensor *dx);
void ts_cuda_dropout_forward (ts_backend *be, float p, uint64_t seed, uint64_t counter,
                              const ts_tensor *x, ts_tensor *y, ts_tensor *mask);
void ts_cuda_dropout_backward (ts_backend *be, const ts_tensor *mask, const ts_tensor *dy,
                               ts_tensor *dx);
void ts_cuda_concat_channels (ts_backend *be, const ts_tensor *a, const ts_tensor *b,
                              ts_tensor *y);
void ts_cuda_split_channels (ts_backend *be, const ts_tensor *dy, ts_tensor *da, ts_tensor *db);
float ts_cuda_bce_with_logits (ts_backend *be, const ts_tensor *logits,
                               const ts_tensor *targets, ts_tensor *dlogits);
void ts_cuda_bce_with_logits_queue (ts_backend *be, const ts_tensor *logits,
                                    const ts_tensor *targets, ts_tensor *dlogits);
float ts_cuda_bce_loss_result (ts_backend *be);
void ts_cuda_adam_step (ts_backend *be, ts_tensor *param, const ts_tensor *grad, ts_tensor *m,
                        ts_tensor *v, float lr, float beta1, float beta2, float eps, float wd,
                        int step);
int ts_cuda_all_finite (ts_backend *be, const ts_tensor *t);
double ts_cuda_sum_squares (ts_backend *be, const ts_tensor *t);

/* ts-cuda-multi.c */
void ts_cuda_adam_step_many (ts_backend *be, const ts_adam_item *items, int n, float beta1,
                             float beta2, float eps);
int ts_cuda_first_nonfinite (ts_backend *be, const ts_tensor *const *t, int n);
void ts_cuda_copy_many (ts_backend *be, const ts_tensor *const *src, ts_tensor *const *dst,
                        int n);

/* ts-cuda-resample.c */
void ts_cuda_resample_batch (ts_backend *be, const uint8_t *host_src, size_t src_bytes,
                             void *stage, const ts_resample_item *items, int n,
                             const float mean[3], const float std[3], ts_tensor *out);

/* ts-cuda-stage.c: the table's stage ops, and what resample_batch needs of
 * a stage: its device copy of @bytes bytes for a resample on @ctx's device
 * (NULL: not usable there; copy the bytes instead), ordered before the
 * stream's next op, and the mark that the op reading it is queued */
void *ts_cuda_stage_new (size_t bytes);
void ts_cuda_stage_free (void *stage);
int ts_cuda_stage_upload (void *stage, const void *host_src, size_t bytes);
void ts_cuda_stage_wait (void *stage);
const void *ts_cuda_stage_take (ts_cuda_ctx *ctx, void *stage, size_t bytes);
void ts_cuda_stage_read (ts_cuda_ctx *ctx, void *stage);

/* ts-cuda-backend.c: the device of the last backend made (host_alloc's and
 * the stages', which loader threads use before or without a backend) */
int ts_cuda_host_device (void);

/* ts-cuda-gemm.c */
/* bf16_ready: cuDNN is loaded (bf16 convolutions have no other path) and
 * the GPU's compute capability is 8.0 or newer (cuDNN has no bfloat16
 * convolutions below) */
int ts_cuda_bf16_ready (ts_backend *be);
void ts_cuda_conv2d_forward (ts_backend *be, const ts_conv2d_params *p, const ts_tensor *x,
                             const ts_tensor *w, const ts_tensor *b, ts_tensor *y);
void ts_cuda_conv2d_backward (ts_backend *be, const ts_conv2d_params *p, const ts_tensor *x,
                              const ts_tensor *w, const ts_tensor *dy, ts_tensor *dx,
                              ts_tensor *dw, ts_tensor *db);
void ts_cuda_linear_forward (ts_backend *be, const ts_tensor *x, const ts_tensor *w,
                             const ts_tensor *b, ts_tensor *y);
void ts_cuda_linear_backward (ts_backend *be, const ts_tensor *x, const ts_tensor *w,
                              const ts_tensor *dy, ts_tensor *dx, ts_tensor *dw, ts_tensor *db);
