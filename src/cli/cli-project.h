/* cli-project.h: training recorded in a project file (`train --project`)
 * and its resume (`resume`).  Built only when the store is (GLib, SQLite). */
#pragma once

#include "cli-train-common.h"
#include "tagsight-project.h"

/* getopt_long code of --project in cmd-train.c */
#define CLI_PROJECT_OPT 2000

/* Runs fastai's fine_tune as `train` does, recording the run in @project
 * (created when missing): recipe, device, times, status, per-batch and
 * per-epoch metrics, a checkpoint each epoch, the final validation
 * predictions and the model file with its SHA-256.  @args / @n_args: the
 * train options as given (without --project), kept in the recipe so that
 * resume rebuilds the same session.  Returns the exit code. */
int cli_project_train (const cli_train_opts *o, const char *project, char **args, int n_args);

/* Continues run @run_id (0: the latest unfinished one) of @project from its
 * checkpoint, on @device (NULL: the one it was started with).  Returns the
 * exit code. */
int cli_project_resume (const char *project, long long run_id, const char *device);

/* For @command ("train", "resume") about to write to @p: FALSE, after
 * saying on stderr that the file is read-only, why, and what to do
 * instead (the store's words), when it is read-only. */
gboolean cli_project_writable_or_say (const char *command, TagsightProject *p);
