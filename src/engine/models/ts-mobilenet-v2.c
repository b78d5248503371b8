/* ts-mobilenet-v2.c: torchvision's MobileNetV2 (width 1.0) with its module
 * names, and the variant TFLite files carry: batch norm folded into each conv
 * as a bias, TensorFlow SAME padding (on even sizes a stride-2 conv pads 0
 * before and 1 after). */
#include <stdio.h>

#include "ts-model-private.h"

static int
conv_unit (ts_builder *b, int x, const char *name, int cout, int k, int stride, int groups,
           int act, int folded)
{
  char conv[64], bn[64];

  if (folded)
    {
      /* the folded conv keeps the conv's own name: "features.0.0.weight" + ".bias" */
      snprintf (conv, sizeof conv, "%s%s", name, act ? ".0" : "");
      x = ts_b_conv (b, x, conv, cout, k, stride, (k - 1) / 2, groups, 1, 1,
                     TS_INIT_KAIMING_FAN_OUT);
      return act ? ts_b_act (b, x, TS_ACT_RELU6) : x;
    }
  if (act)
    {
      snprintf (conv, sizeof conv, "%s.0", name);
      snprintf (bn, sizeof bn, "%s.1", name);
      return ts_b_conv_bn_act (b, x, conv, bn, cout, k, stride, groups, 1, TS_ACT_RELU6);
    }
  return -1;
}

/* A projection: conv.N (1x1, no activation) then BN conv.N+1 (folded: one conv with bias). */
static int
projection (ts_builder *b, int x, const char *block, int idx, int cout, int folded)
{
  char conv[64], bn[64];

  snprintf (conv, sizeof conv, "%s.conv.%d", block, idx);
  if (folded)
    return ts_b_conv (b, x, conv, cout, 1, 1, 0, 1, 1, 1, TS_INIT_KAIMING_FAN_OUT);
  snprintf (bn, sizeof bn, "%s.conv.%d", block, idx + 1);
  return ts_b_conv_bn_act (b, x, conv, bn, cout, 1, 1, 1, 0, TS_ACT_RELU6);
}

int
ts_build_mobilenet_v2 (ts_builder *b, int x, int folded, int n_classes_original, int *nf)
{
  static const int setting[7][4] = {
    { 1, 16, 1, 1 }, { 6, 24, 2, 2 }, { 6, 32, 3, 2 }, { 6, 64, 4, 2 },
    { 6, 96, 3, 1 }, { 6, 160, 3, 2 }, { 6, 320, 1, 1 },
  };
  int f = 1;

  b->group = 0;
  x = conv_unit (b, x, "features.0", 32, 3, 2, 1, 1, folded);
  for (int s = 0; s < 7; s++)
    for (int i = 0; i < setting[s][2]; i++, f++)
      {
        int t = setting[s][0], cout = setting[s][1], stride = i == 0 ? setting[s][3] : 1;
        int cin = x >= 0 ? b->m->values[x].c : 0, hidden = cin * t, y = x, idx = 0;
        char block[32], name[64];

        /* fastai-style split of the body into two halves: features[:10], features[10:] */
        b->group = f < 10 ? 0 : 1;
        snprintf (block, sizeof block, "features.%d", f);
        if (t != 1)
          {
            snprintf (name, sizeof name, "%s.conv.%d", block, idx++);
            y = conv_unit (b, y, name, hidden, 1, 1, 1, 1, folded);
          }
        snprintf (name, sizeof name, "%s.conv.%d", block, idx++);
        y = conv_unit (b, y, name, hidden, 3, stride, hidden, 1, folded);
        y = projection (b, y, block, idx, cout, folded);
        x = (stride == 1 && cin == cout) ? ts_b_add (b, y, x) : y;
      }
  b->group = 1;
  x = conv_unit (b, x, "features.18", 1280, 1, 1, 1, 1, folded);
  *nf = 1280;
  if (n_classes_original > 0)
    {
      b->group = 2;
      x = ts_b_flatten (b, ts_b_avgpool (b, x));
      x = ts_b_dropout (b, x, 0.2f);
      x = ts_b_linear (b, x, "classifier.1", n_classes_original, 1,
                       folded ? TS_INIT_TORCH_LINEAR : TS_INIT_NORMAL_001);
    }
  return x;
}
