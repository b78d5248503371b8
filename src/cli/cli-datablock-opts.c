/* cli-datablock-opts.c: the shared DataBlock options (see cli-datablock-opts.h). */
#include "cli-datablock-opts.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-i18n.h"
#include "ts-columns.h"

void
cli_datablock_opts_init (cli_datablock_opts *d)
{
  memset (d, 0, sizeof *d);
  ts_datablock_config_init (&d->cfg);
}

void
cli_datablock_usage (FILE *out)
{
  fprintf (out, "%s",
           _("  --fname-col C       column with the image file names (fname)\n"
             "  --labels-col C      column with the labels (labels)\n"
             "  --delim D           label delimiter (a space)\n"
             "  --images DIR        image folder (train/ beside the CSV when it exists, else\n"
             "                      the CSV's folder)\n"
             "  --split-col C       boolean column marking validation rows (is_valid when "
             "present)\n"
             "  --valid-pct P       random split instead: a fraction P (0..1) of the items\n"
             "  --no-split          everything trains\n"));
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
          fprintf (stderr, _("tagsight-cli %s: --delim must not be empty\n"), cmd);
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
              fprintf (stderr, _("tagsight-cli %s: --images %s: path too long\n"), cmd, arg);
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
          fprintf (stderr, _("tagsight-cli %s: --valid-pct wants a fraction between 0 and 1, "
                             "not '%s'\n"), cmd, arg);
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
      fprintf (stderr, _("tagsight-cli %s: use one of --split-col, --valid-pct and --no-split\n"),
               cmd);
      return -1;
    }
  return 0;
}

/* Copies @src into @buf; 0 when it does not fit (the option then keeps its default). */
static int
copy_name (char *buf, size_t size, const char *src)
{
  if (src == NULL || strlen (src) >= size)
    return 0;
  memcpy (buf, src, strlen (src) + 1);
  return 1;
}

int
cli_datablock_detect (const char *cmd, cli_datablock_opts *d, const char *csv, FILE *log)
{
  ts_column_detection det;
  const ts_column_guess *g = &det.guess;

  if (d->n_column_opts > 0)
    return 0;
  if (ts_columns_detect_csv (csv, &det) != TS_OK)
    {
      cli_fail (cmd, ts_last_error ());
      ts_column_detection_clear (&det);
      return -1;
    }
  if (copy_name (d->fname_col, sizeof d->fname_col, det.columns[g->fname]))
    d->cfg.fname_col = d->fname_col;
  if (g->labels >= 0 && copy_name (d->labels_col, sizeof d->labels_col, det.columns[g->labels]))
    d->cfg.labels_col = d->labels_col;
  copy_name (d->delim, sizeof d->delim, g->delim);
  d->cfg.label_delim = d->delim;
  if (g->split >= 0 && copy_name (d->split_col, sizeof d->split_col, det.columns[g->split]))
    {
      d->cfg.split = TS_SPLIT_COLUMN;
      d->cfg.split_col = d->split_col;
    }
  else
    {
      d->cfg.split = TS_SPLIT_RANDOM;
      d->cfg.valid_pct = 0.2;
    }
  if (log != NULL)
    {
      /* detection only finds delimiters that have a name */
      fprintf (log, _("columns (detected; --fname-col, --labels-col, --delim and --split-col "
                      "override): file names '%s', labels '%s' split on %s, "),
               d->cfg.fname_col ? d->cfg.fname_col : "fname",
               d->cfg.labels_col ? d->cfg.labels_col : "labels",
               ts_columns_delimiter_name (d->delim));
      if (d->cfg.split == TS_SPLIT_COLUMN)
        fprintf (log, _("validation column '%s'\n"), d->cfg.split_col);
      else
        fprintf (log, _("no validation column: a random 20%% split\n"));
    }
  ts_column_detection_clear (&det);
  return 0;
}
