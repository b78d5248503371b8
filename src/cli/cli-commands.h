/* cli-commands.h: one entry point per tagsight-cli subcommand, each in its own
 * cmd-NAME.c.  A command parses its own arguments with getopt_long, prints
 * errors as "tagsight-cli NAME: message" on stderr (cli_fail, cli-i18n.h) and
 * returns the exit code. */
#pragma once

typedef struct {
  const char *name;
  const char *summary;   /* one line for `tagsight-cli --help` */
  int (*run) (int argc, char **argv);  /* argv[0] is the subcommand name */
} cli_command;

int cmd_demo_data (int argc, char **argv);
int cmd_summary (int argc, char **argv);
int cmd_show_batch (int argc, char **argv);
int cmd_train (int argc, char **argv);
int cmd_lr_find (int argc, char **argv);
int cmd_thresholds (int argc, char **argv);
int cmd_predict (int argc, char **argv);
int cmd_bench (int argc, char **argv);
int cmd_export (int argc, char **argv);
int cmd_runs (int argc, char **argv);
int cmd_resume (int argc, char **argv);
int cmd_label_issues (int argc, char **argv);
