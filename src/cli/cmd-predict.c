/* cmd-predict.c: `tagsight-cli predict MODEL IMAGE...`: labels over the
 * threshold with their probabilities, per image, preprocessed with the
 * validation transform recorded in the model file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-commands.h"
#include "cli-train-common.h"
#include "ts-image.h"
#include "ts-safetensors.h"
#include "ts-transform.h"

/* Parses the metadata's ["a","b",...] into @out (at most @max names). */
static int
parse_vocab (const char *s, char **out, int max)
{
  int n = 0;

  while (*s && *s != '[')
    s++;
  while (*s && n < max)
    {
      char buf[512];
      size_t k = 0;

      while (*s && *s != '"' && *s != ']')
        s++;
      if (*s != '"')
        break;
      s++;
      while (*s && *s != '"' && k + 1 < sizeof buf)
        {
          if (*s == '\\' && s[1])
            s++;
          buf[k++] = *s++;
        }
      buf[k] = '\0';
      if (*s == '"')
        s++;
      out[n++] = strdup (buf);
    }
  return n;
}

static void
parse_floats3 (const char *s, const char *key, float *out)
{
  const char *p = s ? strstr (s, key) : NULL;

  if (!p || !(p = strchr (p, '[')))
    return;
  p++;
  for (int i = 0; i < 3; i++)
    {
      char *end;
      out[i] = strtof (p, &end);
      p = end;
      while (*p == ',' || *p == ' ')
        p++;
    }
}

int
cmd_predict (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "thresh", required_argument, NULL, 't' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  double thresh = NAN;
  ts_safetensors *f = NULL;
  const char *arch, *meta;
  char *vocab[1024];
  int n_vocab = 0, size = 128, c, rc = 0, loaded;
  float mean[3] = { 0.485f, 0.456f, 0.406f }, std[3] = { 0.229f, 0.224f, 0.225f };
  ts_backend *be = NULL;
  ts_model *m = NULL;
  ts_model_config mc;
  ts_loader_config lc;
  ts_tensor *x = NULL, *logits;
  float *hx = NULL, out[1024];
  ts_status st;

  optind = 1;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    {
      if (c == 't')
        thresh = atof (optarg);
      else if (c == 'h')
        {
          printf ("Usage: tagsight-cli predict MODEL.safetensors IMAGE... [--thresh T]\n");
          return 0;
        }
      else
        return 2;
    }
  if (argc - optind < 2)
    {
      fprintf (stderr, "Usage: tagsight-cli predict MODEL.safetensors IMAGE... [--thresh T]\n");
      return 2;
    }
  if ((st = ts_safetensors_open (argv[optind], &f)) != TS_OK)
    {
      fprintf (stderr, "tagsight-cli predict: %s\n", ts_last_error ());
      return 1;
    }
  arch = ts_safetensors_meta (f, "arch");
  meta = ts_safetensors_meta (f, "vocab");
  if (!arch || !meta || !ts_safetensors_meta (f, "format"))
    {
      fprintf (stderr, "tagsight-cli predict: %s: not a Tagsight model file (no arch or vocab "
               "in its metadata)\n", argv[optind]);
      ts_safetensors_free (f);
      return 1;
    }
  n_vocab = parse_vocab (meta, vocab, 1024);
  if ((meta = ts_safetensors_meta (f, "input_size")))
    size = atoi (meta);
  parse_floats3 (ts_safetensors_meta (f, "normalization"), "\"mean\"", mean);
  parse_floats3 (ts_safetensors_meta (f, "normalization"), "\"std\"", std);
  if (isnan (thresh))
    {
      meta = ts_safetensors_meta (f, "best_threshold");
      if (!meta)
        meta = ts_safetensors_meta (f, "threshold");
      thresh = meta ? atof (meta) : 0.5;
    }

  be = ts_backend_cpu_new (1);
  mc.arch = arch;
  mc.n_classes = n_vocab;
  mc.head = TS_HEAD_FASTAI;
  mc.seed = 0;
  if (n_vocab < 1 || size < 8 || !be
      || (st = ts_model_new (be, &mc, &m)) != TS_OK
      || (st = cli_load_weights (argv[optind], m, 0, &loaded)) != TS_OK
      || (st = ts_model_prepare (m, 1, size, size)) != TS_OK)
    {
      fprintf (stderr, "tagsight-cli predict: %s: %s\n", argv[optind],
               n_vocab < 1 ? "empty vocab" : ts_last_error ());
      rc = 1;
      goto out;
    }
  ts_loader_config_init (&lc);
  lc.size = size;
  memcpy (lc.mean, mean, sizeof mean);
  memcpy (lc.std, std, sizeof std);
  x = ts_tensor_new_4d (be, 1, 3, size, size);
  hx = malloc ((size_t) 3 * size * size * sizeof (float));
  for (int i = optind + 1; i < argc && x && hx; i++)
    {
      ts_image img = { 0 };
      int any = 0;

      if ((st = ts_image_load (argv[i], ts_tfm_decode_min_side (&lc, 1), 0, &img)) != TS_OK)
        {
          fprintf (stderr, "tagsight-cli predict: %s\n", ts_last_error ());
          rc = 1;
          continue;
        }
      ts_tfm_item (&img, &lc, 1, NULL, hx);
      ts_image_clear (&img);
      ts_tensor_from_host (x, hx, x->numel);
      if ((st = ts_model_forward (m, x, 0, &logits)) != TS_OK)
        {
          fprintf (stderr, "tagsight-cli predict: %s: %s\n", argv[i], ts_last_error ());
          rc = 1;
          continue;
        }
      ts_tensor_to_host (logits, out, n_vocab);
      printf ("%s:", argv[i]);
      for (int k = 0; k < n_vocab; k++)
        {
          float p = 1.0f / (1.0f + expf (-out[k]));
          if (p > (float) thresh)
            {
              printf (" %s %.3f", vocab[k], p);
              any = 1;
            }
        }
      printf ("%s\n", any ? "" : " (no label)");
    }

out:
  free (hx);
  ts_tensor_free (x);
  ts_model_free (m);
  if (be)
    ts_backend_free (be);
  for (int k = 0; k < n_vocab; k++)
    free (vocab[k]);
  ts_safetensors_free (f);
  return rc;
}
