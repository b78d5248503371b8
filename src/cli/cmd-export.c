/* cmd-export.c: `tagsight-cli export MODEL.safetensors --format onnx --out MODEL.onnx`:
 * the trained network and its validation preprocessing as an ONNX file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-commands.h"
#include "cli-i18n.h"
#include "ts-modelfile.h"
#include "ts-onnx.h"
#include "ts-safetensors.h"
#include "ts-transform.h"

static void
usage (FILE *out)
{
  fprintf (out,
           _("Usage: tagsight-cli export MODEL.safetensors --format onnx --out MODEL.onnx\n"
             "  --format onnx     the only format so far\n"
             "  --out FILE        where to write (replaced atomically)\n"
             "  --no-sigmoid      only the logits output (default: probabilities and logits)\n"
             "  --opset N         ONNX opset (default %d, 13 or later)\n"),
           TS_ONNX_OPSET);
}

/* The model file's own best threshold (from a sweep) wins over the training one. */
static float
best_threshold (const char *path, float fallback)
{
  ts_safetensors *st;
  const char *v;
  float t = fallback;

  if (ts_safetensors_open (path, &st) != TS_OK)
    return fallback;
  if ((v = ts_safetensors_meta (st, "best_threshold")) != NULL)
    {
      char *end;
      float b = strtof (v, &end);
      if (*end == '\0' && b > 0.0f && b < 1.0f)
        t = b;
    }
  ts_safetensors_free (st);
  return t;
}

int
cmd_export (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "format", required_argument, NULL, 'f' },
    { "out", required_argument, NULL, 'o' },
    { "no-sigmoid", no_argument, NULL, 'S' },
    { "opset", required_argument, NULL, 'p' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *format = "onnx", *out = NULL, *in;
  int c, sigmoid = 1, opset = 0, rc = 0;
  ts_backend *be = NULL;
  ts_model *m = NULL;
  ts_modelfile_meta meta = { 0 };
  ts_onnx_options o = { 0 };
  ts_status st;

  optind = 1;
  while ((c = getopt_long (argc, argv, "ho:", longopts, NULL)) != -1)
    switch (c)
      {
      case 'f': format = optarg; break;
      case 'o': out = optarg; break;
      case 'S': sigmoid = 0; break;
      case 'p':
        {
          char *end;
          opset = (int) strtol (optarg, &end, 10);
          if (*end || opset < 13 || opset > 21)
            {
              fprintf (stderr, _("tagsight-cli export: --opset: '%s' (13 to 21)\n"), optarg);
              return 2;
            }
          break;
        }
      case 'h': usage (stdout); return 0;
      default: usage (stderr); return 2;
      }
  if (argc - optind != 1 || out == NULL)
    {
      usage (stderr);
      return 2;
    }
  if (strcmp (format, "onnx") != 0)
    {
      fprintf (stderr, _("tagsight-cli export: --format: '%s' (onnx is the only format)\n"),
               format);
      return 2;
    }
  in = argv[optind];
  be = ts_backend_cpu_new (1);
  if (be == NULL)
    {
      fprintf (stderr, "%s", _("tagsight-cli export: could not start the CPU backend\n"));
      return 1;
    }
  if ((st = ts_modelfile_load (in, be, &m, &meta)) != TS_OK)
    {
      cli_fail ("export", ts_last_error ());
      rc = 1;
      goto done;
    }
  o.sigmoid = sigmoid;
  o.opset = opset;
  o.input_height = meta.input_height;
  o.input_width = meta.input_width;
  o.norm = meta.norm;
  /* fastai's validation RandomResizedCrop: squish to size + val_xtra, centre crop */
  o.squish_size = meta.input_height + ts_tfm_val_xtra (meta.input_height);
  o.vocab = (const char *const *) meta.vocab;
  o.n_vocab = meta.n_vocab;
  o.threshold = best_threshold (in, meta.threshold);
  o.class_thresholds = meta.class_thresholds;
  o.recipe_json = meta.recipe_json;
  if ((st = ts_onnx_export (m, &o, out)) != TS_OK)
    {
      cli_fail ("export", ts_last_error ());
      rc = 1;
      goto done;
    }
  if (sigmoid)
    printf (ngettext ("%s: %s (%d class, input %dx%d, opset %d, probabilities and logits)\n",
                      "%s: %s (%d classes, input %dx%d, opset %d, probabilities and logits)\n",
                      o.n_vocab), out, ts_model_arch (m), o.n_vocab, o.input_height,
            o.input_width, opset ? opset : TS_ONNX_OPSET);
  else
    printf (ngettext ("%s: %s (%d class, input %dx%d, opset %d, logits)\n",
                      "%s: %s (%d classes, input %dx%d, opset %d, logits)\n", o.n_vocab),
            out, ts_model_arch (m), o.n_vocab, o.input_height, o.input_width,
            opset ? opset : TS_ONNX_OPSET);

done:
  ts_modelfile_meta_clear (&meta);
  ts_model_free (m);
  ts_backend_free (be);
  return rc;
}
