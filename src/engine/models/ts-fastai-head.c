/* ts-fastai-head.c: fastai's create_head(nf, n_out) with its default
 * lin_ftrs [512], ps [0.25, 0.5], concat pooling, first_bn, no bn_final,
 * named as fastai's Sequential numbers them, initialised with
 * kaiming_normal_ (vision_learner's init). */
#include "ts-model-private.h"

int
ts_build_fastai_head (ts_builder *b, int x, int nf, int n_classes)
{
  b->prefix = "1.";
  b->group = b->m->n_groups - 1;
  x = ts_b_concatpool (b, x);                                /* 1.0 */
  x = ts_b_flatten (b, x);                                   /* 1.1 */
  x = ts_b_bn (b, x, "2");
  x = ts_b_dropout (b, x, 0.25f);                            /* 1.3 */
  x = ts_b_linear (b, x, "4", 512, 0, TS_INIT_KAIMING_FAN_IN);
  x = ts_b_act (b, x, TS_ACT_RELU);                          /* 1.5 */
  x = ts_b_bn (b, x, "6");
  x = ts_b_dropout (b, x, 0.5f);                             /* 1.7 */
  x = ts_b_linear (b, x, "8", n_classes, 0, TS_INIT_KAIMING_FAN_IN);
  (void) nf;
  return x;
}
