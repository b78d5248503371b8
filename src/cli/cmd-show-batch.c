/* cmd-show-batch.c: tagsight-cli show-batch CSV --out FILE.png [--n 9] [--unique]
 * [--size 128] [--min-scale 0.35] [--aug none|flip|fastai] [--seed K] [--valid] */
#include <cairo.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-commands.h"
#include "cli-i18n.h"
#include "cli-train-common.h"
#include "ts-datablock.h"
#include "ts-loader.h"
#include "ts-showbatch.h"

static void
usage (FILE *out)
{
  fprintf (out, "%s",
           _("Usage: tagsight-cli show-batch CSV --out FILE.png [OPTIONS]\n"
             "\n"
             "Renders training images as the loader makes them (RandomResizedCrop, then the\n"
             "batch augmentations) in a grid, each with its labels joined by ';' beneath.\n"
             "\n"
             "  --out FILE.png     where to write the grid (required)\n"
             "  --n N              number of images (default 9)\n"
             "  --unique           one image under N different augmentations\n"
             "  --size S           image side in pixels (default 128)\n"
             "  --min-scale F      RandomResizedCrop's min_scale (default 0.35)\n"
             "  --aug A            none, flip or fastai (aug_transforms; default fastai)\n"
             "  --valid            show the validation set (no augmentation)\n"
             "  --seed K           random seed (default 0)\n"));
}

int
cmd_show_batch (int argc, char **argv)
{
  static const struct option opts[] = {
    { "out", required_argument, NULL, 'o' },
    { "n", required_argument, NULL, 'n' },
    { "unique", no_argument, NULL, 'u' },
    { "size", required_argument, NULL, 's' },
    { "min-scale", required_argument, NULL, 'm' },
    { "aug", required_argument, NULL, 'a' },
    { "valid", no_argument, NULL, 'v' },
    { "seed", required_argument, NULL, 'k' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  ts_loader_config cfg;
  ts_datablock_config dcfg;
  ts_datablock *db;
  ts_showbatch *grid;
  const char *out = NULL;
  int n = 9, unique = 0, valid = 0, c, width, height;
  char *end;

  ts_loader_config_init (&cfg);
  optind = 1;
  while ((c = getopt_long (argc, argv, "h", opts, NULL)) != -1)
    switch (c)
      {
      case 'o':
        out = optarg;
        break;
      case 'n':
        n = (int) strtol (optarg, &end, 10);
        if (*end != '\0' || n < 1 || n > 1024)
          {
            fprintf (stderr, _("tagsight-cli show-batch: --n expects 1 to 1024, got '%s'\n"),
                     optarg);
            return 2;
          }
        break;
      case 'u':
        unique = 1;
        break;
      case 's':
        cfg.size = (int) strtol (optarg, &end, 10);
        if (*end != '\0' || cfg.size < 8 || cfg.size > 1024)
          {
            fprintf (stderr, _("tagsight-cli show-batch: --size expects 8 to 1024, got '%s'\n"),
                     optarg);
            return 2;
          }
        break;
      case 'm':
        cfg.min_scale = strtod (optarg, &end);
        if (*end != '\0' || !(cfg.min_scale > 0 && cfg.min_scale <= 1))
          {
            fprintf (stderr, _("tagsight-cli show-batch: --min-scale expects a number in (0, 1], "
                               "got '%s'\n"), optarg);
            return 2;
          }
        break;
      case 'a':
        if (strcmp (optarg, "none") == 0)
          ts_aug_params_preset (&cfg.aug, TS_AUG_NONE);
        else if (strcmp (optarg, "flip") == 0)
          ts_aug_params_preset (&cfg.aug, TS_AUG_FLIP);
        else if (strcmp (optarg, "fastai") == 0)
          ts_aug_params_preset (&cfg.aug, TS_AUG_FASTAI);
        else
          {
            fprintf (stderr, _("tagsight-cli show-batch: --aug expects none, flip or fastai, "
                               "got '%s'\n"), optarg);
            return 2;
          }
        break;
      case 'v':
        valid = 1;
        break;
      case 'k':
        cfg.seed = strtoull (optarg, &end, 10);
        if (*optarg == '\0' || *end != '\0' || optarg[0] == '-')
          {
            fprintf (stderr, _("tagsight-cli show-batch: --seed expects a whole number, "
                               "got '%s'\n"), optarg);
            return 2;
          }
        break;
      case 'h':
        usage (stdout);
        return 0;
      default:
        usage (stderr);
        return 2;
      }
  if (optind != argc - 1 || out == NULL)
    {
      usage (stderr);
      return 2;
    }

  ts_datablock_config_init (&dcfg);
  if (ts_datablock_load (argv[optind], &dcfg, &db) != TS_OK)
    return cli_fail ("show-batch", ts_last_error ());
  if (ts_showbatch_collect (db, &cfg, n, unique, valid, &grid) != TS_OK)
    {
      int rc = cli_fail ("show-batch", ts_last_error ());
      ts_datablock_free (db);
      return rc;
    }
  if (ts_showbatch_write_png (grid, out) != TS_OK)
    {
      int rc = cli_fail ("show-batch", ts_last_error ());
      ts_showbatch_free (grid);
      ts_datablock_free (db);
      return rc;
    }
  ts_showbatch_layout (grid->n, grid->size, NULL, NULL, &width, &height);
  if (valid)
    printf (ngettext ("wrote %s: %d validation image (%dx%d px)",
                      "wrote %s: %d validation images (%dx%d px)", grid->n),
            out, grid->n, width, height);
  else
    printf (ngettext ("wrote %s: %d training image (%dx%d px)",
                      "wrote %s: %d training images (%dx%d px)", grid->n),
            out, grid->n, width, height);
  if (unique)
    printf ("%s", _(", one image under different augmentations"));
  printf ("\n");
  fflush (stdout);
  cli_skipped_note ("show-batch", grid->n_skipped, grid->skip_message);
  ts_showbatch_free (grid);
  ts_datablock_free (db);
  /* cairo's font caches would otherwise show as leaks under LeakSanitizer */
  cairo_debug_reset_static_data ();
  return 0;
}
