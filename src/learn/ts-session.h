/* ts-session.h: one training session set up from a plain config: the CSV
 * as a datablock, its loaders, the model (fresh, with pretrained body
 * weights, or loaded from a model file) and the learner; and the model file
 * written from it.  What the CLI's train, lr-find and thresholds commands
 * and the app share, so neither duplicates the set-up. */
#pragma once

#include <stddef.h>

#include "ts-backend.h"
#include "ts-datablock.h"
#include "ts-learner.h"
#include "ts-loader.h"
#include "ts-model.h"
#include "ts-modelfile.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  const char *csv;
  /* the column mapping (borrowed; NULL: the defaults); its seed is replaced by @seed */
  const ts_datablock_config *datablock;
  const char *arch;          /* "resnet34" like the chapter */
  const char *pretrained;    /* body weights: .safetensors or a MobileNetV2 .tflite; may be NULL */
  /* a Tagsight model file to continue from or evaluate (arch, size and
   * normalisation follow the file; @arch, @pretrained and @size are ignored) */
  const char *model_file;
  int epochs, freeze_epochs;
  double lr;
  int bs, size;
  double min_scale;
  ts_aug_preset aug;
  double thresh;
  int threads;               /* 0: one per core */
  /* "cpu", "cuda", "cuda:N" or "auto"/NULL (CUDA when a usable GPU is
   * there, else the CPU; see ts_backend_new_by_name) */
  const char *device;
  /* TS_PRECISION_BF16: the body's activations in bfloat16 (CUDA only; see
   * ts_model_set_precision); 0 (TS_PRECISION_F32) by default */
  ts_precision precision;
  /* 1: on a backend without bf16 (the CPU) run in fp32 instead of refusing
   * (the app's switch has "no effect on the CPU"; a resumed run moved to
   * the CPU).  A GPU that cannot run it (no cuDNN) still refuses, by name. */
  int precision_fallback;
  int valid_workers;         /* loader threads for validation; 0: 1 */
  unsigned long long seed;
  /* How @pretrained is read; NULL: ts_model_load_pretrained (.safetensors,
   * .tflite).  The learn layer does not link the optional interchange
   * library: callers that have it pass a loader that also takes .pth files
   * (ts_model_load_pretrained_any) and may report unused tensors. */
  ts_status (*load_pretrained) (ts_model *m, const char *path, ts_normalization *norm);
} ts_session_config;

/* The chapter's defaults: resnet34, 3 + 4 frozen epochs, lr 3e-3, bs 64, 128 px,
 * min_scale 0.35, fastai augmentation, threshold 0.2, seed 42. */
void ts_session_config_init (ts_session_config *cfg);

typedef struct {
  ts_backend *be;
  ts_datablock *db;
  ts_loader *train_loader, *valid_loader;
  ts_data_source train, valid;
  ts_model *model;
  ts_learner *learner;
  ts_normalization norm;     /* what the loaders use: the weights' own */
  int size;                  /* the input side in use (the model file's with model_file) */
  int device_resample;       /* the backend resamples the batches (ts_loader_config_feed) */
  char *arch;                /* the architecture built (e.g. "mobilenet_v2_folded") */
  ts_session_config cfg;     /* a copy; its strings are borrowed from the caller's */
} ts_session;

/* Loads the CSV, builds the model and the loaders (the validation one with
 * cfg->valid_workers workers) and the learner.  On failure @s is left
 * closeable (ts_session_close frees what was made). */
ts_status ts_session_open (const ts_session_config *cfg, ts_session *s);
void ts_session_close (ts_session *s);
/* What the open session computes on, as recorded with a run and shown:
 * ts_backend_describe's text, plus " (bf16)" when the model stores its
 * activations in bfloat16 (the precision it got, which with
 * cfg.precision_fallback may be float32 where bf16 was asked for). */
const char *ts_session_describe_device (const ts_session *s, char *buf, size_t len);

/* Writes the model file (ts_modelfile_save): every parameter and buffer plus
 * the vocab, input size, normalisation, thresholds and the training recipe.
 * @best_thresh < 0: none; @class_thresh (may be NULL): one per class. */
ts_status ts_session_save_model (const ts_session *s, const char *path, double best_thresh,
                                 const float *class_thresh);

/* "none", "flip" or "fastai" */
const char *ts_aug_preset_name (ts_aug_preset aug);

/* --- prediction on single images from a model file --- */

typedef struct {
  ts_backend *be;
  ts_model *model;
  ts_modelfile_meta meta;
  ts_loader_config lc;
  ts_tensor *x;
  float *hx;
} ts_predictor;

/* Loads @model_path for one image at a time on a CPU backend of @threads
 * threads (0: one). */
ts_status ts_predictor_open (const char *model_path, int threads, ts_predictor *p);
/* Decodes @image_path with the model's validation transform and fills
 * @probs (meta.n_vocab sigmoid probabilities). */
ts_status ts_predictor_run (ts_predictor *p, const char *image_path, float *probs);
void ts_predictor_close (ts_predictor *p);

#ifdef __cplusplus
}
#endif
