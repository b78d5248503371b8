/* cli-train-common.h: what train and lr-find share: the common options,
 * building the datablock, model, loaders and learner from them, and saving
 * the model file (ts_modelfile, which predict and thresholds load). */
#pragma once

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#include "ts-backend.h"
#include "ts-datablock.h"
#include "ts-learner.h"
#include "ts-loader.h"
#include "ts-model.h"
#include "ts-modelfile.h"

typedef struct {
  const char *csv;
  const char *arch;         /* "resnet34" like the chapter */
  const char *pretrained;
  int epochs, freeze_epochs;
  double lr;
  int bs, size;
  double min_scale;
  ts_aug_preset aug;
  double thresh;
  int threads;
  unsigned long long seed;
  const char *out;
} cli_train_opts;

void cli_train_opts_init (cli_train_opts *o);
/* Parses one common option (getopt_long code @c, optarg @arg); returns 1 when
 * handled, 0 when not one of ours, -1 on a bad value (message printed). */
int cli_train_opt (const char *cmd, cli_train_opts *o, int c, const char *arg);
/* The getopt_long table entries for the common options (terminated by a zero row). */
extern const struct option cli_train_long_opts[];
#define CLI_TRAIN_SHORT_OPTS ""
void cli_train_usage (FILE *out);

typedef struct {
  ts_backend *be;
  ts_datablock *db;
  ts_loader *train_loader, *valid_loader;
  ts_data_source train, valid;
  ts_model *model;
  ts_learner *learner;
  ts_normalization norm;     /* what the loaders use: the pretrained weights' own */
} cli_session;

/* Loads the CSV, builds the model (with --pretrained weights: .tflite or
 * .safetensors; the architecture and input normalisation follow the file),
 * the loaders (the validation one with a single worker) and the learner. */
ts_status cli_session_open (const cli_train_opts *o, cli_session *s);
void cli_session_close (cli_session *s);

/* Writes the model file (ts_modelfile_save): every parameter and buffer plus
 * the vocab, input size, normalisation, thresholds and the training recipe.
 * @best_thresh < 0: none; @class_thresh (may be NULL): one per class. */
ts_status cli_save_model (const char *path, const cli_session *s, const cli_train_opts *o,
                          double best_thresh, const float *class_thresh);

/* "none", "flip" or "fastai" */
const char *cli_aug_name (ts_aug_preset aug);
