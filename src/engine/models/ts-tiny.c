/* ts-tiny.c: a three-conv network with batch norm for fast tests. */
#include "ts-model-private.h"

int
ts_build_tiny (ts_builder *b, int x, int n_classes_original, int *nf)
{
  b->group = 0;
  x = ts_b_conv_bn_act (b, x, "conv1", "bn1", 8, 3, 2, 1, 1, TS_ACT_RELU);
  b->group = 1;
  x = ts_b_conv_bn_act (b, x, "conv2", "bn2", 16, 3, 2, 1, 1, TS_ACT_RELU);
  x = ts_b_conv_bn_act (b, x, "conv3", "bn3", 32, 3, 2, 1, 1, TS_ACT_RELU);
  *nf = 32;
  if (n_classes_original > 0)
    {
      b->group = 2;
      x = ts_b_flatten (b, ts_b_avgpool (b, x));
      x = ts_b_linear (b, x, "fc", n_classes_original, 1, TS_INIT_TORCH_LINEAR);
    }
  return x;
}
