/* ts-modelfile.h: the Tagsight model file.
 *
 * One standard .safetensors file (any safetensors reader opens it): every
 * parameter and buffer as F32 under the model's names, and in __metadata__
 * (all values strings, JSON where structured):
 *   format_version  "1"
 *   arch            "resnet18" ...
 *   head            "fastai" | "original" (read as "fastai" when absent)
 *   n_classes       "3"
 *   vocab           ["Platelets", "RBC", "WBC"]
 *   input_size      [height, width] (a single number is read as square)
 *   normalization   {"mean": [..3], "std": [..3]}  (on [0,1] pixels)
 *   threshold       "0.5"   (the threshold training reported accuracy_multi at)
 *   best_threshold  "0.45"  (optional: the sweep's best accuracy_multi threshold on
 *                            the validation set; what predict uses by default)
 *   class_thresholds [..n] (optional: the best F1 threshold of each class)
 *   recipe          a JSON object (optional): how the model was trained
 * Saved through a temporary file, fsync and rename: a failed save leaves an
 * existing file intact.
 */
#pragma once

#include "ts-model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TS_MODELFILE_VERSION 1

typedef struct {
  int format_version;       /* filled by load */
  char **vocab;             /* n_vocab class names (== the model's n_classes for fastai heads) */
  int n_vocab;
  int input_height, input_width;
  ts_normalization norm;
  float threshold;
  int has_best_threshold;   /* best_threshold present */
  float best_threshold;
  float *class_thresholds;  /* NULL, or n_vocab values */
  char *recipe_json;        /* NULL, or a JSON object as text */
} ts_modelfile_meta;

ts_status ts_modelfile_save (const char *path, ts_model *model, const ts_modelfile_meta *meta);
/* Builds the model on @be from the file's arch/head/n_classes, loads every
 * tensor (all must be present with their shapes) and fills @meta (free it
 * with ts_modelfile_meta_clear). */
ts_status ts_modelfile_load (const char *path, ts_backend *be, ts_model **model,
                             ts_modelfile_meta *meta);
void ts_modelfile_meta_clear (ts_modelfile_meta *meta);

#ifdef __cplusplus
}
#endif
