/* cmd-predict.c: `tagsight-cli predict MODEL IMAGE...`: labels over the
 * threshold with their probabilities, per image, preprocessed with the
 * validation transform recorded in the model file (size, normalisation). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-commands.h"
#include "cli-train-common.h"
#include "ts-image.h"
#include "ts-transform.h"

static void
usage (FILE *out)
{
  fprintf (out, "Usage: tagsight-cli predict MODEL.safetensors IMAGE... [OPTIONS]\n\n"
           "Prints, per image, the labels whose probability is over the threshold.\n\n"
           "  --thresh T     threshold (default: the model's best, else its training one)\n"
           "  --per-class    each class's own threshold (its best F1 on validation)\n"
           "  --all          print every class's probability\n");
}

/* Runs the model on one image; fills @probs (n_classes). */
static ts_status
predict_one (ts_model *m, const ts_loader_config *lc, const char *path, ts_tensor *x, float *hx,
             float *probs, int n_classes)
{
  ts_image img = { 0 };
  ts_tensor *logits;
  ts_status st;

  if ((st = ts_image_load (path, ts_tfm_decode_min_side (lc, 1), 0, &img)) != TS_OK)
    return st;
  ts_tfm_item (&img, lc, 1, NULL, hx);
  ts_image_clear (&img);
  if ((st = ts_tensor_from_host (x, hx, x->numel)) != TS_OK)
    return st;
  if ((st = ts_model_forward (m, x, 0, &logits)) != TS_OK)
    return ts_error (st, "%s: %s", path, ts_last_error ());
  if ((st = ts_tensor_to_host (logits, probs, n_classes)) != TS_OK)
    return st;
  for (int k = 0; k < n_classes; k++)
    probs[k] = 1.0f / (1.0f + expf (-probs[k]));
  return TS_OK;
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
  int per_class = 0, all = 0, c, rc = 0, size;
  ts_modelfile_meta meta = { 0 };
  ts_backend *be = NULL;
  ts_model *m = NULL;
  ts_loader_config lc;
  ts_tensor *x = NULL;
  float *hx = NULL, *probs = NULL;
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
              fprintf (stderr, "tagsight-cli predict: --thresh: '%s' is not a number in "
                       "[0, 1]\n", optarg);
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
  if ((be = ts_backend_cpu_new (1)) == NULL)
    {
      fprintf (stderr, "tagsight-cli predict: could not start the CPU backend\n");
      return 1;
    }
  if ((st = ts_modelfile_load (argv[optind], be, &m, &meta)) != TS_OK)
    {
      fprintf (stderr, "tagsight-cli predict: %s\n", ts_last_error ());
      ts_backend_free (be);
      return 1;
    }
  if (per_class && !meta.class_thresholds)
    {
      fprintf (stderr, "tagsight-cli predict: %s has no per-class thresholds\n", argv[optind]);
      rc = 2;
      goto out;
    }
  if (isnan (thresh))
    thresh = meta.has_best_threshold ? meta.best_threshold : meta.threshold;
  if (meta.input_height != meta.input_width)
    {
      fprintf (stderr, "tagsight-cli predict: %s: non-square input %dx%d is not supported\n",
               argv[optind], meta.input_height, meta.input_width);
      rc = 1;
      goto out;
    }
  size = meta.input_height;
  if ((st = ts_model_prepare (m, 1, size, size)) != TS_OK)
    {
      fprintf (stderr, "tagsight-cli predict: %s\n", ts_last_error ());
      rc = 1;
      goto out;
    }
  ts_loader_config_init (&lc);
  lc.size = size;
  memcpy (lc.mean, meta.norm.mean, sizeof lc.mean);
  memcpy (lc.std, meta.norm.std, sizeof lc.std);
  x = ts_tensor_new_4d (be, 1, 3, size, size);
  hx = malloc ((size_t) 3 * size * size * sizeof (float));
  probs = malloc ((size_t) meta.n_vocab * sizeof (float));
  if (!x || !hx || !probs)
    {
      fprintf (stderr, "tagsight-cli predict: out of memory\n");
      rc = 1;
      goto out;
    }
  for (int i = optind + 1; i < argc; i++)
    {
      int any = 0;

      if ((st = predict_one (m, &lc, argv[i], x, hx, probs, meta.n_vocab)) != TS_OK)
        {
          fprintf (stderr, "tagsight-cli predict: %s\n", ts_last_error ());
          rc = 1;
          continue;
        }
      printf ("%s:", argv[i]);
      for (int k = 0; k < meta.n_vocab; k++)
        {
          float t = per_class ? meta.class_thresholds[k] : (float) thresh;
          if (all || probs[k] > t)
            {
              printf (" %s %.3f", meta.vocab[k], probs[k]);
              any = 1;
            }
        }
      printf ("%s\n", any ? "" : " (no label)");
    }

out:
  free (probs);
  free (hx);
  ts_tensor_free (x);
  ts_model_free (m);
  ts_modelfile_meta_clear (&meta);
  ts_backend_free (be);
  return rc;
}
