/* cli-datablock-opts.h: the DataBlock options (which columns, delimiter,
 * image folder and split) that summary, train and lr-find share, so a CSV
 * one of them reads the others read the same way. */
#pragma once

#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "ts-datablock.h"

enum {
  CLI_OPT_FNAME_COL = 2000, CLI_OPT_LABELS_COL, CLI_OPT_DELIM, CLI_OPT_IMAGES, CLI_OPT_SPLIT_COL,
  CLI_OPT_VALID_PCT, CLI_OPT_NO_SPLIT,
};

/* getopt_long rows for the options, to put into a command's own table */
#define CLI_DATABLOCK_LONG_OPTS \
  { "fname-col", required_argument, NULL, CLI_OPT_FNAME_COL }, \
  { "labels-col", required_argument, NULL, CLI_OPT_LABELS_COL }, \
  { "delim", required_argument, NULL, CLI_OPT_DELIM }, \
  { "images", required_argument, NULL, CLI_OPT_IMAGES }, \
  { "split-col", required_argument, NULL, CLI_OPT_SPLIT_COL }, \
  { "valid-pct", required_argument, NULL, CLI_OPT_VALID_PCT }, \
  { "no-split", no_argument, NULL, CLI_OPT_NO_SPLIT }

typedef struct {
  ts_datablock_config cfg;   /* image_dir points at @images when --images was given */
  char images[PATH_MAX];
  int n_split_opts;
  int n_column_opts;         /* --fname-col, --labels-col, --delim or a split option given */
  /* what cli_datablock_detect found, which cfg points into */
  char fname_col[256], labels_col[256], split_col[256], delim[4];
} cli_datablock_opts;

void cli_datablock_opts_init (cli_datablock_opts *d);
/* Parses one option (getopt_long code @c, optarg @arg); returns 1 when
 * handled, 0 when not one of ours, -1 on a bad value (message printed). */
int cli_datablock_opt (const char *cmd, cli_datablock_opts *d, int c, const char *arg);
/* After parsing: 0, or -1 with a message when the options contradict each other. */
int cli_datablock_opts_check (const char *cmd, const cli_datablock_opts *d);
/* When no column option was given: the mapping guessed from the CSV's header
 * and first rows (ts_columns_detect_csv, as the app does; no split column
 * means a random 20% split, as there), said on @log.  Returns 0, or -1 with
 * a message printed when the CSV cannot be read. */
int cli_datablock_detect (const char *cmd, cli_datablock_opts *d, const char *csv, FILE *log);
void cli_datablock_usage (FILE *out);
