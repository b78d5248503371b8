/* tagsight-cli summary: the DataBlock summary of a CSV, and every problem in it. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-commands.h"
#include "cli-datablock-opts.h"
#include "cli-i18n.h"
#include "ts-summary.h"

static void
summary_usage (FILE *out)
{
  fprintf (out, "%s",
           _("Usage: tagsight-cli summary CSV [OPTIONS]\n"
             "\n"
             "Reads a CSV of image file names and labels the way fastai's DataBlock does\n"
             "and shows what it found: items, train/valid split, vocab, one sample traced\n"
             "through the pipeline, items per label, and every problem with its CSV lines.\n"
             "\n"
             "Options:\n"));
  cli_datablock_usage (out);
  fprintf (out, "%s",
           _("  --seed K            seed of the random split (default 42)\n"
             "  --size S            item transform size shown in the pipeline (default 128)\n"
             "  --min-scale M       RandomResizedCrop min_scale shown (default 0.35)\n"
             "  --no-check-images   do not open every image (faster on big sets)\n"
             "  --color WHEN        auto, always or never (default auto)\n"
             "  -h, --help          show this help\n"
             "\n"
             "Exit status: 0 when there is something to train on, 1 when nothing is\n"
             "usable, 2 on a usage error.\n"));
}

static int
parse_double (const char *s, double *out)
{
  char *end;
  errno = 0;
  *out = strtod (s, &end);
  return errno == 0 && end != s && *end == '\0';
}

static int
parse_u64 (const char *s, unsigned long long *out)
{
  char *end;
  errno = 0;
  *out = strtoull (s, &end, 10);
  return errno == 0 && end != s && *end == '\0' && s[0] != '-';
}

int
cmd_summary (int argc, char **argv)
{
  enum { OPT_SEED = 256, OPT_SIZE, OPT_MIN_SCALE, OPT_NO_CHECK, OPT_COLOR };
  static const struct option options[] = {
    CLI_DATABLOCK_LONG_OPTS,
    { "seed", required_argument, NULL, OPT_SEED },
    { "size", required_argument, NULL, OPT_SIZE },
    { "min-scale", required_argument, NULL, OPT_MIN_SCALE },
    { "no-check-images", no_argument, NULL, OPT_NO_CHECK },
    { "color", required_argument, NULL, OPT_COLOR },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  cli_datablock_opts dbo;
  ts_datablock_config *cfg = &dbo.cfg;
  ts_summary_options opt;
  ts_summary *summary = NULL;
  int color = isatty (STDOUT_FILENO);
  unsigned long long seed;
  double value;
  char *text;
  int c, rc;

  cli_datablock_opts_init (&dbo);
  ts_summary_options_init (&opt);
  optind = 1;
  while ((c = getopt_long (argc, argv, "h", options, NULL)) != -1)
    {
      switch (c)
        {
        case OPT_SEED:
          if (!parse_u64 (optarg, &seed))
            {
              fprintf (stderr, _("tagsight-cli summary: --seed wants a whole number, not '%s'\n"),
                       optarg);
              return 2;
            }
          cfg->seed = seed;
          break;
        case OPT_SIZE:
          if (!parse_double (optarg, &value) || value < 8 || value > 4096
              || value != (int) value)
            {
              fprintf (stderr, _("tagsight-cli summary: --size wants a whole number from 8 to "
                                 "4096, not '%s'\n"), optarg);
              return 2;
            }
          opt.size = (int) value;
          break;
        case OPT_MIN_SCALE:
          if (!parse_double (optarg, &value) || value <= 0 || value > 1)
            {
              fprintf (stderr, _("tagsight-cli summary: --min-scale wants a number in (0, 1], "
                                 "not '%s'\n"), optarg);
              return 2;
            }
          opt.min_scale = value;
          break;
        case OPT_NO_CHECK:
          opt.check_images = 0;
          break;
        case OPT_COLOR:
          if (strcmp (optarg, "always") == 0)
            color = 1;
          else if (strcmp (optarg, "never") == 0)
            color = 0;
          else if (strcmp (optarg, "auto") != 0)
            {
              fprintf (stderr, "%s", _("tagsight-cli summary: --color is auto, always or never\n"));
              return 2;
            }
          break;
        case 'h':
          summary_usage (stdout);
          return 0;
        default:
          {
            int r = cli_datablock_opt ("summary", &dbo, c, optarg);
            if (r < 0)
              return 2;
            if (r == 0)
              {
                summary_usage (stderr);
                return 2;
              }
          }
        }
    }
  if (cli_datablock_opts_check ("summary", &dbo) < 0)
    return 2;
  if (optind != argc - 1)
    {
      fprintf (stderr, "%s", optind == argc ? _("tagsight-cli summary: which CSV? (see --help)\n")
                                            : _("tagsight-cli summary: one CSV at a time\n"));
      return 2;
    }

  if (cli_datablock_detect ("summary", &dbo, argv[optind], stderr) < 0)
    return 1;
  if (ts_summary_run (argv[optind], cfg, &opt, &summary) != TS_OK)
    return cli_fail ("summary", ts_last_error ());
  text = ts_summary_render_text (summary, color);
  if (text == NULL)
    {
      fprintf (stderr, "%s", _("tagsight-cli summary: out of memory\n"));
      ts_summary_free (summary);
      return 1;
    }
  fputs (text, stdout);
  rc = summary->usable ? 0 : 1;
  free (text);
  ts_summary_free (summary);
  return rc;
}
