/* ts-model.h: networks built from the backend's ops, with torchvision's names.
 *
 * A model = a body (resnet18/34/50, mobilenet_v2, mobilenet_v2_folded, tiny)
 * plus, for classification of our vocab, fastai's head:
 *   AdaptiveConcatPool2d -> Flatten -> BatchNorm1d(2nf) -> Dropout(0.25) ->
 *   Linear(2nf, 512, no bias) -> ReLU -> BatchNorm1d(512) -> Dropout(0.5) ->
 *   Linear(512, n_classes, no bias)
 * Head parameter names follow fastai's Sequential: "1.2.weight" (BN1d), "1.4.weight"
 * (Linear), "1.6.weight", "1.8.weight"; body names are torchvision's prefixed
 * with "0." ("0.layer1.0.conv1.weight").  With head_kind TS_HEAD_ORIGINAL the
 * model is the plain torchvision/TFLite network with its own classifier and
 * names carry no prefix (used to check pretrained weights).
 *
 * Memory: ts_model_prepare allocates every activation and gradient buffer for
 * a batch size and image size once; forward/backward then allocate nothing.
 * ReLU/ReLU6 run in place where only their output is needed, and activation
 * gradients share a few buffers by liveness (see models/ts-model.c).
 *
 * Weights in and out: io/ts-weights.h (pretrained .safetensors by name,
 * TFLite MobileNetV2), io/ts-modelfile.h (the Tagsight model file).
 */
#pragma once

#include <stdint.h>

#include "ts-backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TS_HEAD_FASTAI,    /* body + fastai head of n_classes outputs */
  TS_HEAD_ORIGINAL,  /* the network's own classifier (n_classes = 1000 / 1001) */
} ts_head_kind;

typedef struct {
  const char *arch;   /* "resnet18", "resnet34", "resnet50", "mobilenet_v2",
                         "mobilenet_v2_folded" (BN folded into conv+bias), "tiny" */
  int n_classes;
  ts_head_kind head;
  uint64_t seed;      /* kaiming init and dropout masks */
} ts_model_config;

typedef enum {
  TS_PARAM_WEIGHT,      /* conv / linear weight: weight decay applies */
  TS_PARAM_BIAS,        /* bias: no weight decay (fastai wd_bn_bias=False) */
  TS_PARAM_BN,          /* batch norm weight or bias: no wd, trainable while frozen */
} ts_param_kind;

typedef struct {
  const char *name;     /* "0.layer1.0.conv1.weight" */
  ts_tensor *value;
  ts_tensor *grad;      /* same shape; written by backward when trainable */
  ts_param_kind kind;
  int group;            /* fastai parameter group: 0..n_groups-1, last = head */
  int trainable;        /* changed by freeze/unfreeze */
} ts_param;

/* Non-trainable state saved with the model: BN running_mean / running_var
 * (and num_batches_tracked as a float, for torchvision compatibility). */
typedef struct {
  const char *name;
  ts_tensor *value;
} ts_buffer;

typedef struct ts_model ts_model;

ts_status ts_model_new (ts_backend *be, const ts_model_config *cfg, ts_model **out);

/* How activations are stored (parameters, their gradients, the optimizer's
 * state and the head are float32 either way). */
typedef enum {
  TS_PRECISION_F32,   /* float32 NCHW everywhere (TF32 inside a GPU's convolutions: TS_CUDA_TF32) */
  TS_PRECISION_BF16,  /* the body's activations and their gradients in bfloat16 NHWC, computed
                       * in float; needs a backend whose bf16_ready says yes (CUDA with
                       * cuDNN) */
} ts_precision;
/* Sets the precision for the next ts_model_prepare (the activations are
 * released).  TS_ERR_UNSUPPORTED naming the backend when it cannot. */
ts_status ts_model_set_precision (ts_model *m, ts_precision precision);
ts_precision ts_model_precision (const ts_model *m);
/* "fp32" / "bf16" and back (-1: unknown name), for options and records */
const char *ts_precision_name (ts_precision precision);
int ts_precision_from_name (const char *name);
void ts_model_free (ts_model *m);

const char *ts_model_arch (const ts_model *m);
int ts_model_n_classes (const ts_model *m);
/* fastai splitter: resnets and mobilenet_v2 have 3 groups (two body halves, head). */
int ts_model_n_groups (const ts_model *m);

int ts_model_n_params (const ts_model *m);
ts_param *ts_model_param (ts_model *m, int i);
int ts_model_n_buffers (const ts_model *m);
ts_buffer *ts_model_buffer (ts_model *m, int i);
/* by name: params first, then buffers; NULL when absent */
ts_tensor *ts_model_find_tensor (ts_model *m, const char *name);

/* Allocates activations for [batch, 3, height, width] inputs.  Cheap when the
 * shape is unchanged; a smaller batch reuses the buffers. */
ts_status ts_model_prepare (ts_model *m, int batch, int height, int width);

/* @x: [B,3,H,W] on the model's backend, B <= prepared batch (copied in, so
 * the caller may reuse it at once).  train=1 uses batch statistics (updating
 * the running ones) and dropout.  *logits points at a model-owned [B,n_classes]
 * tensor valid until the next forward. */
ts_status ts_model_forward (ts_model *m, const ts_tensor *x, int train, ts_tensor **logits);
/* Backpropagates @dlogits [B,n_classes] through the last forward (train=1),
 * writing ts_param.grad for every trainable parameter. */
ts_status ts_model_backward (ts_model *m, const ts_tensor *dlogits);

/* fastai freeze_to(n): groups n.. train, and batch norm parameters everywhere
 * stay trainable; a negative n counts from the end, so freeze() is
 * freeze_to(-1) (only the head).  freeze_to(0) == unfreeze. */
void ts_model_freeze_to (ts_model *m, int n);
void ts_model_unfreeze (ts_model *m);

/* Counts for the summary: parameters, trainable parameters. */
int64_t ts_model_count (const ts_model *m, int trainable_only);

ts_head_kind ts_model_head (const ts_model *m);
ts_backend *ts_model_backend (const ts_model *m);
/* Multiplies every dropout probability (fastai's ps) by @scale; 0 disables
 * dropout, e.g. for comparisons with a reference implementation. */
void ts_model_set_dropout (ts_model *m, float scale);

/* Per-kind timing of forward and backward (conv 3x3, batch norm, ...), to see
 * where a step's time goes.  While on (on = 1 also clears the counts) every
 * node waits for the backend to finish, which slows the step: for
 * `tagsight-cli bench --profile`, not for training. */
void ts_model_set_profile (ts_model *m, int on);
typedef struct {
  const char *label;
  double forward_s, backward_s;        /* summed over the calls */
  int64_t forward_calls, backward_calls;
} ts_profile_row;
/* Fills up to @max rows (kinds that ran, in a fixed order); returns how many. */
int ts_model_profile_rows (const ts_model *m, ts_profile_row *rows, int max);

/* ImageNet statistics unless the weights say otherwise (TFLite: mean 0.5, std 0.5
 * on [0,1] pixels, i.e. (p-127.5)/127.5 ~ (p-128)/128). */
typedef struct {
  float mean[3];
  float std[3];
} ts_normalization;

#ifdef __cplusplus
}
#endif
