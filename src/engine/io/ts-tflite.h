/* ts-tflite.h: a reader for TensorFlow Lite model files (FlatBuffers, schema
 * tensorflow/lite/schema/schema.fbs), written directly: tables are read
 * through their vtables with every offset bounds-checked, so a truncated or
 * corrupt file gives an error, never a crash.  Only what loading weights
 * needs: the first subgraph's tensors (shape, type, buffer, quantization),
 * its operators (builtin code, inputs, outputs, conv options). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* TensorType */
enum {
  TS_TFL_FLOAT32 = 0,
  TS_TFL_FLOAT16 = 1,
  TS_TFL_INT32 = 2,
  TS_TFL_UINT8 = 3,
  TS_TFL_INT64 = 4,
  TS_TFL_INT8 = 9,
};

/* BuiltinOperator codes we name */
enum {
  TS_TFL_OP_ADD = 0,
  TS_TFL_OP_AVERAGE_POOL_2D = 1,
  TS_TFL_OP_CONV_2D = 3,
  TS_TFL_OP_DEPTHWISE_CONV_2D = 4,
  TS_TFL_OP_DEQUANTIZE = 6,
  TS_TFL_OP_FULLY_CONNECTED = 9,
  TS_TFL_OP_RESHAPE = 22,
  TS_TFL_OP_SOFTMAX = 25,
  TS_TFL_OP_MEAN = 40,
  TS_TFL_OP_QUANTIZE = 114,
};

/* Padding and ActivationFunctionType */
enum { TS_TFL_PAD_SAME = 0, TS_TFL_PAD_VALID = 1 };
enum { TS_TFL_ACT_NONE = 0, TS_TFL_ACT_RELU = 1, TS_TFL_ACT_RELU6 = 3 };

#define TS_TFL_MAX_DIMS 8

typedef struct {
  char *name;
  int type;
  int ndim;
  int32_t shape[TS_TFL_MAX_DIMS];
  int64_t numel;
  const uint8_t *data;      /* NULL for activations */
  size_t data_size;
  int n_scale;              /* 0 when not quantized; 1 per-tensor; C per-channel */
  float *scale;
  int64_t *zero_point;      /* n_scale entries (0 when the file has fewer) */
  int quantized_dimension;
} ts_tfl_tensor;

typedef struct {
  int code;                 /* BuiltinOperator */
  int n_inputs, n_outputs;
  int32_t *inputs, *outputs;  /* tensor indices, -1 = optional absent */
  int padding, stride_w, stride_h, activation, depth_multiplier;
} ts_tfl_op;

typedef struct {
  char *path;
  uint8_t *file;
  size_t size;
  ts_tfl_tensor *tensors;
  int n_tensors;
  ts_tfl_op *ops;
  int n_ops;
  int32_t *inputs, *outputs;
  int n_inputs, n_outputs;
} ts_tflite;

ts_status ts_tflite_open (const char *path, ts_tflite **out);
ts_status ts_tflite_parse (const uint8_t *bytes, size_t size, const char *what, ts_tflite **out);
void ts_tflite_free (ts_tflite *t);

/* Real values of a constant tensor in its own layout: float32 copied, float16
 * converted, (u)int8 as (q - zero_point[c]) * scale[c], int32 as q * scale[c]
 * (c along quantized_dimension).  @n must equal the tensor's numel. */
ts_status ts_tflite_dequantize (const ts_tflite *t, int tensor, float *dst, int64_t n);

#ifdef __cplusplus
}
#endif
