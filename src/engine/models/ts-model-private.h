/* ts-model-private.h: how models are represented inside the engine.
 *
 * A network is a fixed list of nodes (conv, batch norm, activation, pool, add,
 * ...) over numbered values (activations).  The list is built once by the
 * architecture's builder; ts_model_prepare sizes every value for a batch and
 * image size; forward runs the list, backward runs it in reverse.  This is
 * not a general autograd tape: the graph never changes after construction.
 */
#pragma once

#include "ts-model.h"
#include "ts-rng.h"

typedef enum {
  TS_NODE_CONV,
  TS_NODE_BN,
  TS_NODE_ACT,
  TS_NODE_MAXPOOL,
  TS_NODE_ADD,
  TS_NODE_AVGPOOL,     /* adaptive average pool to 1x1 */
  TS_NODE_CONCATPOOL,  /* fastai AdaptiveConcatPool2d(1): cat([max, avg], 1) */
  TS_NODE_FLATTEN,     /* [N,C,1,1] -> [N,C] */
  TS_NODE_DROPOUT,
  TS_NODE_LINEAR,
} ts_node_kind;

typedef struct {
  ts_node_kind kind;
  int in, in2, out;          /* value indices; in2 only for ADD */
  ts_conv2d_params conv;
  int kh, kw;
  int tf_same;               /* TensorFlow SAME padding, computed from the input size */
  ts_pool2d_params pool;
  ts_activation act;
  float p;                   /* dropout probability before ts_model_set_dropout scaling */
  int w, b;                  /* parameter indices or -1 */
  int rmean, rvar, nbt;      /* buffer indices (BN) */
  /* sized by prepare */
  ts_tensor *save_mean, *save_invstd, *mask;
  ts_tensor *pmax, *pavg, *gmax, *gavg;   /* CONCATPOOL halves and their gradients */
  int32_t *argmax;
} ts_node;

typedef struct {
  int c;                     /* channels (or features for 2-d values) */
  int h, w;                  /* 0 for [N,C] values */
  int alias;                 /* value whose memory this one shares, or -1 */
  int consumers;
  int body;                  /* bfloat16 NHWC under the bf16 policy (mark_body) */
  ts_tensor *t, *g;
} ts_value;

struct ts_model {
  ts_backend *be;
  char arch[32];
  ts_head_kind head;
  int n_classes, n_groups;
  uint64_t seed;
  ts_precision precision;

  ts_param *params;
  int n_params, cap_params;
  ts_buffer *buffers;
  int n_buffers, cap_buffers;
  ts_node *nodes;
  int n_nodes, cap_nodes;
  ts_value *values;
  int n_values, cap_values;
  int out;                   /* the logits value */

  /* prepared state */
  int prep_batch, prep_h, prep_w, cur_batch;
  ts_tensor *scratch;        /* largest activation: second gradient contributions */
  ts_tensor **grad_pool;     /* activation gradients share these by liveness */
  ts_tensor *fold_w, *fold_b, *fold_zero; /* eval: one conv's weights and bias with its
                                             batch norm folded in (NULL: no conv+BN pair) */
  int n_grad_pool;
  uint8_t *grad_ready, *need_grad;
  float dropout_scale;
  uint64_t dropout_counter;
  float n_batches_tracked;
  int last_forward_train;
  struct ts_model_profile *prof;   /* NULL unless ts_model_set_profile (ts-model-profile.c) */
};

/* ts-model-profile.c: called by the runner only while m->prof is set */
void ts_profile_begin (ts_model *m);
void ts_profile_node (ts_model *m, const ts_node *n, int backward);

/* Construction helpers shared by the architectures (ts-layers.c). */
typedef struct {
  ts_model *m;
  const char *prefix;        /* "0." for a body under fastai's head, "" otherwise */
  int group;
  ts_status status;          /* first error; later calls do nothing */
} ts_builder;

typedef enum {
  TS_INIT_KAIMING_FAN_OUT,   /* torchvision conv: normal, std sqrt(2 / fan_out) */
  TS_INIT_KAIMING_FAN_IN,    /* fastai head: normal, std sqrt(2 / fan_in) */
  TS_INIT_TORCH_LINEAR,      /* nn.Linear default: uniform +-1/sqrt(fan_in) (weight and bias) */
  TS_INIT_NORMAL_001,        /* torchvision mobilenet classifier: normal(0, 0.01) */
  TS_INIT_ZERO,
  TS_INIT_ONE,
} ts_init;

int ts_b_input (ts_builder *b);
int ts_b_conv (ts_builder *b, int in, const char *name, int cout, int k, int stride, int pad,
               int groups, int bias, int tf_same, ts_init init);
int ts_b_bn (ts_builder *b, int in, const char *name);
int ts_b_act (ts_builder *b, int in, ts_activation act);
int ts_b_conv_bn_act (ts_builder *b, int in, const char *conv_name, const char *bn_name,
                      int cout, int k, int stride, int groups, int act, ts_activation a);
int ts_b_maxpool (ts_builder *b, int in, int k, int stride, int pad);
int ts_b_add (ts_builder *b, int x, int y);
int ts_b_avgpool (ts_builder *b, int in);
int ts_b_concatpool (ts_builder *b, int in);
int ts_b_flatten (ts_builder *b, int in);
int ts_b_dropout (ts_builder *b, int in, float p);
int ts_b_linear (ts_builder *b, int in, const char *name, int cout, int bias, ts_init init);

/* Architectures: each builds its body (and with TS_HEAD_ORIGINAL its own
 * classifier) from the input value and returns the last value, or -1. */
int ts_build_resnet (ts_builder *b, int x, int depth, int n_classes_original, int *nf);
int ts_build_mobilenet_v2 (ts_builder *b, int x, int folded, int n_classes_original, int *nf);
int ts_build_tiny (ts_builder *b, int x, int n_classes_original, int *nf);
int ts_build_fastai_head (ts_builder *b, int x, int nf, int n_classes);
