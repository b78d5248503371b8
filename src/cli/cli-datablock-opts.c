/* cli-datablock-opts.c: the shared DataBlock options (see cli-datablock-opts.h). */
#include "cli-datablock-opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
cli_datablock_opts_init (cli_datablock_opts *d)
{
  memset (d, 0, sizeof *d);
  ts_datablock_config_init (&d->cfg);
}

void
cli_datablock_usage (FILE *out)
{
  fprintf (out,
           "  --fname-col C       column with the image file names (fname)\n"
           "  --labels-col C      column with the labels (labels)\n"
           "  --delim D           label delimiter (a space)\n"
           "  --images DIR        image folder (train/ beside the CSV when it exists, else\n"
           "                      the CSV's folder)\n"
           "  --split-col C       boolean column marking validation rows (is_valid when present)\n"
           "  --valid-pct P       random split instead: a fraction P (0..1) of the items\n"
           "  --no-split          everything trains\n");
}

int
cli_datablock_opt (const char *cmd, cli_datablock_opts *d, int c, const char *arg)
{
  char *end;
  double v;

  switch (c)
    {
    case CLI_OPT_FNAME_COL:
      d->cfg.fname_col = arg;
      d->n_column_opts++;
      return 1;
    case CLI_OPT_LABELS_COL:
      d->cfg.labels_col = arg;
      d->n_column_opts++;
      return 1;
    case CLI_OPT_DELIM:
      if (arg[0] == '\0')
        {
          fprintf (stderr, "tagsight-cli %s: --delim must not be empty\n", cmd);
          return -1;
        }
      d->cfg.label_delim = arg;
      d->n_column_opts++;
      return 1;
    case CLI_OPT_IMAGES:
      /* the library resolves relative folders against the CSV's; on the
       * command line they mean the current directory */
      if (arg[0] != '/')
        {
          char cwd[PATH_MAX];
          if (getcwd (cwd, sizeof cwd) == NULL
              || snprintf (d->images, sizeof d->images, "%s/%s", cwd, arg)
                   >= (int) sizeof d->images)
            {
              fprintf (stderr, "tagsight-cli %s: --images %s: path too long\n", cmd, arg);
              return -1;
            }
          d->cfg.image_dir = d->images;
        }
      else
        d->cfg.image_dir = arg;
      return 1;
    case CLI_OPT_SPLIT_COL:
      d->cfg.split = TS_SPLIT_COLUMN;
      d->cfg.split_col = arg;
      d->n_split_opts++;
      d->n_column_opts++;
      return 1;
    case CLI_OPT_VALID_PCT:
      errno = 0;
      v = strtod (arg, &end);
      if (errno || end == arg || *end || !(v >= 0.0 && v <= 1.0))
        {
          fprintf (stderr, "tagsight-cli %s: --valid-pct wants a fraction between 0 and 1, "
                   "not '%s'\n", cmd, arg);
          return -1;
        }
      d->cfg.split = TS_SPLIT_RANDOM;
      d->cfg.valid_pct = v;
      d->n_split_opts++;
      d->n_column_opts++;
      return 1;
    case CLI_OPT_NO_SPLIT:
      d->cfg.split = TS_SPLIT_NONE;
      d->n_split_opts++;
      d->n_column_opts++;
      return 1;
    default:
      return 0;
    }
}

int
cli_datablock_opts_check (const char *cmd, const cli_datablock_opts *d)
{
  if (d->n_split_opts > 1)
    {
      fprintf (stderr, "tagsight-cli %s: use one of --split-col, --valid-pct and --no-split\n",
               cmd);
      return -1;
    }
  return 0;
}
