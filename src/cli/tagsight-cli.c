/* tagsight-cli: the command-line face of Tagsight.  Thin: every subcommand
 * calls the same library functions the app does. */
#include <stdio.h>
#include <string.h>

#include "cli-commands.h"
#include "cli-i18n.h"
#include "ts-config.h"

/* A command appears here once its cmd-NAME.c exists (see meson.build). */
static const cli_command commands[] = {
#ifdef TS_CLI_HAVE_DEMO_DATA
  { "demo-data", N_("write the synthetic multi-label demo data set"), cmd_demo_data },
#endif
#ifdef TS_CLI_HAVE_SUMMARY
  { "summary", N_("show the DataBlock summary and every problem in a CSV"), cmd_summary },
#endif
#ifdef TS_CLI_HAVE_SHOW_BATCH
  { "show-batch", N_("render a grid of augmented training images to PNG"), cmd_show_batch },
#endif
#ifdef TS_CLI_HAVE_TRAIN
  { "train", N_("fine-tune a classifier (fastai's fine_tune) and save it"), cmd_train },
#endif
#ifdef TS_CLI_HAVE_LR_FIND
  { "lr-find", N_("sweep the learning rate and suggest one"), cmd_lr_find },
#endif
#ifdef TS_CLI_HAVE_THRESHOLDS
  { "thresholds", N_("sweep the decision threshold of a model on a validation set"),
    cmd_thresholds },
#endif
#ifdef TS_CLI_HAVE_PREDICT
  { "predict", N_("label images with a saved model"), cmd_predict },
#endif
#ifdef TS_CLI_HAVE_EXPORT
  { "export", N_("convert a model to another format (ONNX)"), cmd_export },
#endif
#ifdef TS_CLI_HAVE_LABEL_ISSUES
  { "label-issues", N_("rank the labels a model thinks are wrong or missing"),
    cmd_label_issues },
#endif
#ifdef TS_CLI_HAVE_RUNS
  { "runs", N_("list the training runs recorded in a project"), cmd_runs },
#endif
#ifdef TS_CLI_HAVE_RESUME
  { "resume", N_("continue an interrupted training run of a project"), cmd_resume },
#endif
#ifdef TS_CLI_HAVE_BENCH
  { "bench", N_("measure training and inference throughput"), cmd_bench },
#endif
};

static void
usage (FILE *out)
{
  fprintf (out, _("Usage: tagsight-cli COMMAND [OPTIONS]\n\nCommands:\n"));
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf (out, "  %-12s %s\n", commands[i].name, _(commands[i].summary));
  fprintf (out, _("\nRun 'tagsight-cli COMMAND --help' for a command's options.\n"));
}

int
main (int argc, char **argv)
{
  cli_i18n_init ();
  if (argc < 2)
    {
      usage (stderr);
      return 2;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      usage (stdout);
      return 0;
    }
  if (strcmp (argv[1], "--version") == 0)
    {
      printf ("tagsight-cli %s\n", TS_VERSION);
      return 0;
    }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);

  fprintf (stderr, _("tagsight-cli: unknown command '%s'\n\n"), argv[1]);
  usage (stderr);
  return 2;
}
