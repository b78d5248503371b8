/* ts-weights.h: loading pretrained weights into a model by name.
 *
 * From .safetensors: torchvision names are accepted for the body of a model
 * under fastai's head ("layer1.0.conv1.weight" for "0.layer1.0.conv1.weight")
 * and the other way round.  From .tflite: MobileNetV2 files map, convolution
 * by convolution, onto "mobilenet_v2_folded".
 */
#pragma once

#include "ts-model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int n_loaded;
  int n_missing;        /* model tensors the file lacks (kept as initialised) */
  int n_unexpected;     /* file tensors the model has no place for */
  char **missing;       /* names, n_missing of them */
  char **unexpected;
  /* head tensors of the file whose shape differs from the model's (a
   * classifier for another number of classes): not loaded, the model keeps
   * its fresh head; listed here and among the unexpected */
  int n_dropped;
  char **dropped;
} ts_load_report;

typedef enum {
  TS_LOAD_BACKBONE = 0, /* every body tensor must be present; head tensors may be missing */
  TS_LOAD_STRICT = 1,   /* every model tensor must be present, nothing unexpected */
} ts_load_mode;

/* One tensor of a weight file, as the loader sees it. */
typedef struct {
  const char *name;
  int ndim;
  const int64_t *shape;
  int64_t numel;
} ts_weight_info;

/* A weight file of any format, for ts_model_load_named. */
typedef struct {
  const char *path;   /* for messages */
  void *data;
  int n_entries;
  /* index of the tensor called @name, or -1 */
  int (*lookup) (void *data, const char *name);
  void (*info) (void *data, int i, ts_weight_info *out);
  /* @n == numel; errors name the file and the tensor */
  ts_status (*read_f32) (void *data, int i, float *dst, int64_t n);
} ts_weight_source;

/* Loads every model tensor from @src by name, torchvision names accepted for
 * the body under fastai's "0." and the other way round.  TS_LOAD_BACKBONE:
 * head tensors may be missing, and a head tensor of another shape is dropped
 * (report->dropped) so the model keeps its fresh head; a body tensor of
 * another shape fails.  TS_LOAD_STRICT: every tensor present and fitting,
 * nothing unexpected.  @report may be NULL; clear it after. */
ts_status ts_model_load_named (ts_model *m, const ts_weight_source *src, ts_load_mode mode,
                               ts_load_report *report);

/* Shape mismatches fail naming the tensor, expected and found shapes; so
 * does a missing required tensor.  As ts_model_load_named.  @report may be
 * NULL; clear it after. */
ts_status ts_model_load_safetensors (ts_model *m, const char *path, ts_load_mode mode,
                                     ts_load_report *report);
void ts_load_report_clear (ts_load_report *report);

/* TFLite MobileNetV2 (uint8 per-tensor or int8 per-channel): dequantised
 * into "mobilenet_v2_folded"; with TS_HEAD_ORIGINAL also the 1001-way
 * logits conv.  @norm (may be NULL) receives the input normalisation the
 * file's input quantisation implies (uint8 p: (p - zero_point) * scale). */
ts_status ts_model_load_tflite (ts_model *m, const char *path, ts_normalization *norm);

/* By file content: TFLite or safetensors (backbone mode). */
ts_status ts_model_load_pretrained (ts_model *m, const char *path, ts_normalization *norm);

/* The architecture to build for @arch with pretrained weights @path: TFLite
 * files carry batch norm folded, so "mobilenet_v2" becomes "mobilenet_v2_folded". */
const char *ts_pretrained_arch (const char *arch, const char *path);

/* ImageNet statistics, torchvision's. */
ts_normalization ts_normalization_imagenet (void);

#ifdef __cplusplus
}
#endif
