/* cmd-demo-data.c: tagsight-cli demo-data DIR [--n N] [--size S] [--seed K] */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-commands.h"
#include "cli-i18n.h"
#include "ts-demo.h"

static void
usage (FILE *out)
{
  fprintf (out,
           _("Usage: tagsight-cli demo-data DIR [--n N] [--size S] [--seed K]\n"
             "\n"
             "Writes a synthetic multi-label data set in fastai's layout: DIR/train/*.jpg\n"
             "and DIR/train.csv (fname,labels,is_valid).  Each image shows 0 to 4 shapes\n"
             "(circle, cross, diamond, heart, ring, square, star, triangle); about 15%%\n"
             "show none and about 20%% are marked is_valid.  The same seed gives the same "
             "files.\n"
             "\n"
             "  --n N       number of images (default 500)\n"
             "  --size S    side of the square images in pixels (default 160)\n"
             "  --seed K    random seed (default 42)\n"));
}

static int
parse_int (const char *opt, const char *s, long lo, long hi, long *out)
{
  char *end;
  long v = strtol (s, &end, 10);

  if (*s == '\0' || *end != '\0' || v < lo || v > hi)
    {
      fprintf (stderr, _("tagsight-cli demo-data: %s expects a whole number from %ld to %ld, "
                         "got '%s'\n"), opt, lo, hi, s);
      return 0;
    }
  *out = v;
  return 1;
}

int
cmd_demo_data (int argc, char **argv)
{
  static const struct option opts[] = {
    { "n", required_argument, NULL, 'n' },
    { "size", required_argument, NULL, 's' },
    { "seed", required_argument, NULL, 'k' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  ts_demo_config cfg;
  ts_demo_summary sum;
  long v;
  int c;

  ts_demo_config_init (&cfg);
  optind = 1;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'n':
        if (!parse_int ("--n", optarg, 1, 1000000, &v))
          return 2;
        cfg.n = (int) v;
        break;
      case 's':
        if (!parse_int ("--size", optarg, 16, 4096, &v))
          return 2;
        cfg.size = (int) v;
        break;
      case 'k':
        {
          char *end;
          unsigned long long k = strtoull (optarg, &end, 10);
          if (*optarg == '\0' || *end != '\0' || optarg[0] == '-')
            {
              fprintf (stderr, _("tagsight-cli demo-data: --seed expects a whole number, "
                                 "got '%s'\n"), optarg);
              return 2;
            }
          cfg.seed = k;
          break;
        }
      case 'h':
        usage (stdout);
        return 0;
      default:
        usage (stderr);
        return 2;
      }
  if (optind != argc - 1)
    {
      usage (stderr);
      return 2;
    }
  if (ts_demo_write (argv[optind], &cfg, &sum) != TS_OK)
    return cli_fail ("demo-data", ts_last_error ());
  printf (ngettext ("wrote %d image (%dx%d) to %s/train and its label to %s/train.csv\n",
                    "wrote %d images (%dx%d) to %s/train and their labels to %s/train.csv\n",
                    sum.n_images),
          sum.n_images, cfg.size, cfg.size, argv[optind], argv[optind]);
  printf (_("%d train, %d valid, %d with no label;"), sum.n_images - sum.n_valid, sum.n_valid,
          sum.n_empty);
  for (int i = 0; i < TS_DEMO_N_CLASSES; i++)
    printf (" %s %d", ts_demo_classes[i], sum.class_images[i]);
  printf ("\n");
  return 0;
}
