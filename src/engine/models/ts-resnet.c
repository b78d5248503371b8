/* ts-resnet.c: torchvision's ResNet-18/34/50 (v1.5: the stride of a
 * Bottleneck sits on its 3x3 conv2), same module names. */
#include <stdio.h>

#include "ts-model-private.h"

static int
basic_block (ts_builder *b, int x, const char *name, int planes, int stride)
{
  char c1[48], b1[48], c2[48], b2[48], d0[48], d1[48];
  int y, id = x;

  snprintf (c1, sizeof c1, "%s.conv1", name);
  snprintf (b1, sizeof b1, "%s.bn1", name);
  snprintf (c2, sizeof c2, "%s.conv2", name);
  snprintf (b2, sizeof b2, "%s.bn2", name);
  y = ts_b_conv_bn_act (b, x, c1, b1, planes, 3, stride, 1, 1, TS_ACT_RELU);
  y = ts_b_conv_bn_act (b, y, c2, b2, planes, 3, 1, 1, 0, TS_ACT_RELU);
  if (x >= 0 && (stride != 1 || b->m->values[x].c != planes))
    {
      snprintf (d0, sizeof d0, "%s.downsample.0", name);
      snprintf (d1, sizeof d1, "%s.downsample.1", name);
      id = ts_b_conv (b, x, d0, planes, 1, stride, 0, 1, 0, 0, TS_INIT_KAIMING_FAN_OUT);
      id = ts_b_bn (b, id, d1);
    }
  return ts_b_act (b, ts_b_add (b, y, id), TS_ACT_RELU);
}

static int
bottleneck (ts_builder *b, int x, const char *name, int planes, int stride)
{
  char c[3][48], n[3][48], d0[48], d1[48];
  int y, id = x;

  for (int i = 0; i < 3; i++)
    {
      snprintf (c[i], sizeof c[i], "%s.conv%d", name, i + 1);
      snprintf (n[i], sizeof n[i], "%s.bn%d", name, i + 1);
    }
  y = ts_b_conv_bn_act (b, x, c[0], n[0], planes, 1, 1, 1, 1, TS_ACT_RELU);
  y = ts_b_conv_bn_act (b, y, c[1], n[1], planes, 3, stride, 1, 1, TS_ACT_RELU);
  y = ts_b_conv_bn_act (b, y, c[2], n[2], planes * 4, 1, 1, 1, 0, TS_ACT_RELU);
  if (x >= 0 && (stride != 1 || b->m->values[x].c != planes * 4))
    {
      snprintf (d0, sizeof d0, "%s.downsample.0", name);
      snprintf (d1, sizeof d1, "%s.downsample.1", name);
      id = ts_b_conv (b, x, d0, planes * 4, 1, stride, 0, 1, 0, 0, TS_INIT_KAIMING_FAN_OUT);
      id = ts_b_bn (b, id, d1);
    }
  return ts_b_act (b, ts_b_add (b, y, id), TS_ACT_RELU);
}

/* fastai's _resnet_split: [conv1 .. layer2], [layer3, layer4], [head] */
int
ts_build_resnet (ts_builder *b, int x, int depth, int n_classes_original, int *nf)
{
  static const int blocks18[4] = { 2, 2, 2, 2 }, blocks34[4] = { 3, 4, 6, 3 };
  const int *blocks = depth == 18 ? blocks18 : blocks34;
  int expansion = depth == 50 ? 4 : 1;

  b->group = 0;
  x = ts_b_conv (b, x, "conv1", 64, 7, 2, 3, 1, 0, 0, TS_INIT_KAIMING_FAN_OUT);
  x = ts_b_act (b, ts_b_bn (b, x, "bn1"), TS_ACT_RELU);
  x = ts_b_maxpool (b, x, 3, 2, 1);
  for (int l = 0; l < 4; l++)
    {
      b->group = l < 2 ? 0 : 1;
      for (int i = 0; i < blocks[l]; i++)
        {
          char name[32];
          int planes = 64 << l, stride = (l > 0 && i == 0) ? 2 : 1;
          snprintf (name, sizeof name, "layer%d.%d", l + 1, i);
          x = depth == 50 ? bottleneck (b, x, name, planes, stride)
                          : basic_block (b, x, name, planes, stride);
        }
    }
  *nf = 512 * expansion;
  if (n_classes_original > 0)
    {
      b->group = 2;
      x = ts_b_flatten (b, ts_b_avgpool (b, x));
      x = ts_b_linear (b, x, "fc", n_classes_original, 1, TS_INIT_TORCH_LINEAR);
    }
  return x;
}
