/* cli-train-common.h: what train, lr-find and resume share: the common
 * options, turned into the ts_session config the app fills too (the set-up
 * itself is ts_session, src/learn/ts-session.h), and the SIGINT handler that
 * stops a running learner. */
#pragma once

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

#include "cli-datablock-opts.h"
#include "ts-session.h"

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
  const char *device;       /* --device: cpu, cuda, cuda:N, auto (default) */
  ts_precision precision;   /* --precision: fp32 (default) or bf16 */
  unsigned long long seed;
  const char *out;
  cli_datablock_opts db;    /* which columns, delimiter, images and split */
} cli_train_opts;

void cli_train_opts_init (cli_train_opts *o);
/* Parses one common option (getopt_long code @c, optarg @arg), the DataBlock
 * ones included; returns 1 when handled, 0 when not one of ours, -1 on a bad
 * value (message printed). */
int cli_train_opt (const char *cmd, cli_train_opts *o, int c, const char *arg);
/* The getopt_long table of train's options (terminated by a zero row). */
extern const struct option cli_train_long_opts[];
/* lr-find's: the same less what only training uses (--epochs,
 * --freeze-epochs, --lr, --thresh, --out): the sweep sets its own rates. */
extern const struct option cli_lr_find_long_opts[];
void cli_train_usage (FILE *out);
void cli_lr_find_usage (FILE *out);

/* The session config for @o (its strings and datablock config borrowed from @o). */
void cli_train_session_config (const cli_train_opts *o, ts_session_config *cfg);
/* ts_session_config.load_pretrained for the CLI: .tflite, .safetensors or a
 * PyTorch .pth (ts_model_load_pretrained_any), noting unused tensors on stderr. */
ts_status cli_load_pretrained (ts_model *m, const char *path, ts_normalization *norm);
/* --precision's argument ("fp32", "bf16") into @out: 1, or -1 with a message */
int cli_parse_precision (const char *cmd, const char *arg, ts_precision *out);

/* "205 training and 159 validation images, 3 classes" in @buf, translated. */
char *cli_counts_text (char *buf, size_t size, int n_train, int n_valid, int n_classes);
/* A line under the run's header when the device, not the loader threads,
 * resizes, augments and normalises the images; nothing otherwise. */
void cli_device_resample_note (const ts_session *s);
/* The images the loaders could not read (missing, truncated, corrupt) are
 * left out of training; this says how many and why the first one was, on
 * stderr (nothing when none). */
void cli_skipped_note (const char *cmd, int n_skipped, const char *first);
/* @n bfloat16 convolution calls ran in float32 (cuDNN had no bfloat16
 * algorithm for their layer; ts_backend_bf16_fallbacks): said on stdout,
 * nothing when none. */
void cli_bf16_fallback_note (long n);
/* After a run: the skipped images and the float32 fallbacks. */
void cli_session_notes (const char *cmd, const ts_session *s);
/* fastai's epoch table (header and one row), its columns as wide as the
 * translated header needs. */
void cli_epoch_header (FILE *out);
void cli_epoch_row (FILE *out, const ts_epoch_event *ev);

/* Ctrl-C cancels @learner (ts_learner_cancel) until cli_sigint_release. */
void cli_sigint_catch (ts_learner *learner);
void cli_sigint_release (void);
