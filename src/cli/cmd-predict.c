/* cmd-predict.c: `tagsight-cli predict MODEL IMAGE...`: labels over the
 * threshold with their probabilities, per image, preprocessed with the
 * validation transform recorded in the model file (size, normalisation). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-commands.h"
#include "cli-i18n.h"
#include "cli-train-common.h"

static void
usage (FILE *out)
{
  fprintf (out, "%s",
           _("Usage: tagsight-cli predict MODEL.safetensors IMAGE... [OPTIONS]\n\n"
             "Prints, per image, the labels whose probability is over the threshold.\n\n"
             "  --thresh T     threshold (default: the model's best, else its training one)\n"
             "  --per-class    each class's own threshold (its best F1 on validation)\n"
             "  --all          print every class's probability\n"));
}

int
cmd_predict (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "thresh", required_argument, NULL, 't' },
    { "per-class", no_argument, NULL, 'p' },
    { "all", no_argument, NULL, 'a' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  double thresh = NAN;
  int per_class = 0, all = 0, c, rc = 0;
  ts_predictor pred;
  const ts_modelfile_meta *meta = &pred.meta;
  float *probs = NULL;
  ts_status st;

  optind = 1;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    switch (c)
      {
      case 't':
        {
          char *end;
          errno = 0;
          thresh = strtod (optarg, &end);
          if (errno || *end || end == optarg || !(thresh >= 0.0 && thresh <= 1.0))
            {
              fprintf (stderr, _("tagsight-cli predict: --thresh: '%s' is not a number in "
                                 "[0, 1]\n"), optarg);
              return 2;
            }
          break;
        }
      case 'p': per_class = 1; break;
      case 'a': all = 1; break;
      case 'h': usage (stdout); return 0;
      default: usage (stderr); return 2;
      }
  if (argc - optind < 2)
    {
      usage (stderr);
      return 2;
    }
  /* the app's Export page predicts through the same calls */
  if ((st = ts_predictor_open (argv[optind], 1, &pred)) != TS_OK)
    {
      cli_fail ("predict", ts_last_error ());
      rc = 1;
      goto out;
    }
  if (per_class && !meta->class_thresholds)
    {
      fprintf (stderr, _("tagsight-cli predict: %s has no per-class thresholds\n"),
               argv[optind]);
      rc = 2;
      goto out;
    }
  if (isnan (thresh))
    thresh = meta->has_best_threshold ? meta->best_threshold : meta->threshold;
  if ((probs = malloc ((size_t) meta->n_vocab * sizeof (float))) == NULL)
    {
      fprintf (stderr, "%s", _("tagsight-cli predict: out of memory\n"));
      rc = 1;
      goto out;
    }
  for (int i = optind + 1; i < argc; i++)
    {
      int any = 0;

      if ((st = ts_predictor_run (&pred, argv[i], probs)) != TS_OK)
        {
          cli_fail ("predict", ts_last_error ());
          rc = 1;
          continue;
        }
      printf ("%s:", argv[i]);
      for (int k = 0; k < meta->n_vocab; k++)
        {
          float t = per_class ? meta->class_thresholds[k] : (float) thresh;
          if (all || probs[k] > t)
            {
              printf (" %s %.3f", meta->vocab[k], probs[k]);
              any = 1;
            }
        }
      if (!any)
        printf (" %s", _("(no label)"));
      printf ("\n");
    }

out:
  free (probs);
  ts_predictor_close (&pred);
  return rc;
}
