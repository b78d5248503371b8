/* ts-onnx.h: exporting a model to ONNX (protobuf-c, onnx.proto from libonnx-dev).
 *
 * The graph is the model's eval-mode network node for node: Conv,
 * BatchNormalization (epsilon 1e-5, as torch), Relu, Clip (ReLU6), Sigmoid,
 * MaxPool, GlobalAveragePool, GlobalMaxPool + Concat (fastai's
 * AdaptiveConcatPool2d: max first), Flatten, Gemm (transB) and Add; dropout
 * is left out.  Initializers keep the model's parameter names.  Input
 * "input" is float32 NCHW [batch, 3, H, W] (batch symbolic); outputs are
 * "logits" [batch, n_classes] and, with sigmoid, "probabilities" first.
 *
 * metadata_props record what a consumer needs to reproduce the inputs and
 * the decisions exactly (every value a string, JSON where structured):
 *   tagsight.format_version "1", arch, head, input_size [H, W],
 *   normalization {"mean": [3], "std": [3]} on [0, 1] RGB pixels,
 *   resize {"method": "squish_then_center_crop", "squish_to": [S, S],
 *           "crop": [H, W], "interpolation": "bilinear", "sample": ...},
 *   vocab [names], threshold, class_thresholds (optional), outputs,
 *   preprocessing (the same in words), recipe (optional).
 * The file is written beside @path under a temporary name and renamed.
 */
#pragma once

#include "ts-model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TS_ONNX_OPSET 17

typedef struct {
  int sigmoid;                     /* add the "probabilities" output */
  int opset;                       /* 0: TS_ONNX_OPSET; 13 and later are accepted */
  int input_height, input_width;   /* the exported input size */
  ts_normalization norm;
  int squish_size;                 /* the whole image is squished to this square ... */
                                   /* ... then centre-cropped to input_height x input_width */
  const char *const *vocab;        /* n_vocab names (the model's classes) */
  int n_vocab;
  float threshold;
  const float *class_thresholds;   /* NULL, or n_vocab values */
  const char *recipe_json;         /* NULL, or a JSON object recorded as is */
} ts_onnx_options;

/* Prepares @m for a batch of one at the input size (that fixes TensorFlow
 * SAME paddings) and writes the ONNX file.  Errors name the node or file. */
ts_status ts_onnx_export (ts_model *m, const ts_onnx_options *opts, const char *path);

#ifdef __cplusplus
}
#endif
