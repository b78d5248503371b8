/* tflite-to-safetensors: exports the MobileNetV2 body Tagsight reads from a
 * TFLite file (dequantised, batch norm folded into conv + bias) as a
 * .safetensors file with torchvision's names ("features.0.0.weight",
 * "features.0.0.bias", ...), so that bench/torch_train_reference.py starts
 * from exactly the weights `tagsight-cli train --pretrained X.tflite` uses.
 * The input normalisation the file implies goes in __metadata__.
 *
 *   bench-tflite-to-safetensors IN.tflite OUT.safetensors [--with-classifier]
 *
 * --with-classifier also writes the file's 1001-way logits as "classifier.1"
 * (to check the torch network against the labels of bird.rgb and sunflower.rgb). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts-backend.h"
#include "ts-model.h"
#include "ts-safetensors.h"
#include "ts-weights.h"

static ts_status
export_body (ts_model *m, const ts_normalization *norm, const char *out, int all)
{
  int np = ts_model_n_params (m), n = 0;
  ts_st_tensor *t = calloc ((size_t) np + 1, sizeof *t);
  float **host = calloc ((size_t) np + 1, sizeof *host);
  char mean[128], std[128];
  const char *meta[] = { "format", "tagsight-tflite-body", "normalization_mean", mean,
                         "normalization_std", std };
  ts_status st = TS_OK;

  if (!t || !host)
    {
      free (t);
      free (host);
      return ts_error (TS_ERR_NOMEM, "out of memory");
    }
  for (int i = 0; i < np && st == TS_OK; i++)
    {
      const ts_param *p = ts_model_param (m, i);

      /* the body only, under its torchvision name (fastai's "0." dropped) */
      int body = strncmp (p->name, "0.", 2) == 0;
      if (!all && !body)
        continue;
      host[n] = malloc ((size_t) p->value->numel * sizeof (float));
      if (!host[n])
        st = ts_error (TS_ERR_NOMEM, "out of memory");
      else
        st = ts_tensor_to_host (p->value, host[n], p->value->numel);
      t[n].name = body ? p->name + 2 : p->name;
      t[n].ndim = p->value->ndim;
      t[n].shape = p->value->shape;
      t[n].data = host[n];
      n++;
    }
  snprintf (mean, sizeof mean, "[%.9g, %.9g, %.9g]", norm->mean[0], norm->mean[1],
            norm->mean[2]);
  snprintf (std, sizeof std, "[%.9g, %.9g, %.9g]", norm->std[0], norm->std[1], norm->std[2]);
  if (st == TS_OK)
    st = ts_safetensors_write (out, t, n, meta, 3);
  if (st == TS_OK)
    fprintf (stderr, "%s: %d tensors, mean %s, std %s\n", out, n, mean, std);
  for (int i = 0; i < n; i++)
    free (host[i]);
  free (host);
  free (t);
  return st;
}

int
main (int argc, char **argv)
{
  ts_model_config mc = { "mobilenet_v2_folded", 1, TS_HEAD_FASTAI, 1 };
  int with_classifier = argc == 4 && strcmp (argv[3], "--with-classifier") == 0;
  ts_normalization norm;
  ts_backend *be;
  ts_model *m = NULL;
  ts_status st;

  if (argc != 3 && !with_classifier)
    {
      fprintf (stderr, "Usage: %s IN.tflite OUT.safetensors [--with-classifier]\n", argv[0]);
      return 2;
    }
  if ((be = ts_backend_cpu_new (1)) == NULL)
    {
      fprintf (stderr, "could not start the CPU backend\n");
      return 1;
    }
  if (with_classifier)
    {
      mc.head = TS_HEAD_ORIGINAL;
      mc.n_classes = 0;   /* the architecture's own 1001 */
    }
  st = ts_model_new (be, &mc, &m);
  if (st == TS_OK)
    st = ts_model_load_tflite (m, argv[1], &norm);
  if (st == TS_OK)
    st = export_body (m, &norm, argv[2], with_classifier);
  if (st != TS_OK)
    fprintf (stderr, "%s: %s\n", argv[0], ts_last_error ());
  ts_model_free (m);
  ts_backend_free (be);
  return st == TS_OK ? 0 : 1;
}
