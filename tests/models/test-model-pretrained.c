/* test-model-pretrained: mobilenet_v2_folded with its own 1001-way head,
 * loaded from each TFLite file in ../shared, labels bird.rgb "chickadee" and
 * sunflower.rgb "daisy" (skipped without ../shared).  Also: the TFLite
 * parser on truncated and corrupted copies errors cleanly. */
#include <math.h>
#include <string.h>

#include "ts-model.h"
#include "ts-test.h"
#include "ts-tflite.h"
#include "ts-weights.h"

static ts_backend *be;

static char *
top_label (ts_model *m, const char *rgb_rel, const ts_normalization *norm, float *prob)
{
  char *path = ts_test_shared_path (rgb_rel), *labels_path, *text, **labels, *out;
  ts_tensor *x, *logits;
  guchar *rgb;
  gsize len;
  float *chw = g_new (float, 3 * 224 * 224), host[1001], max = -1e30f;
  double sum = 0;
  int best = 0;

  g_assert_nonnull (path);
  g_assert_true (g_file_get_contents (path, (char **) &rgb, &len, NULL));
  g_assert_cmpuint (len, ==, 224 * 224 * 3);
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 224 * 224; i++)
      chw[c * 224 * 224 + i] = (rgb[i * 3 + c] / 255.0f - norm->mean[c]) / norm->std[c];
  x = ts_tensor_new_4d (be, 1, 3, 224, 224);
  g_assert_cmpint (ts_tensor_from_host (x, chw, 3 * 224 * 224), ==, TS_OK);
  g_assert_cmpint (ts_model_prepare (m, 1, 224, 224), ==, TS_OK);
  g_assert_cmpint (ts_model_forward (m, x, 0, &logits), ==, TS_OK);
  g_assert_cmpint (ts_tensor_to_host (logits, host, 1001), ==, TS_OK);
  for (int i = 0; i < 1001; i++)
    if (host[i] > max)
      {
        max = host[i];
        best = i;
      }
  for (int i = 0; i < 1001; i++)
    sum += exp (host[i] - max);
  *prob = (float) (1.0 / sum);

  labels_path = ts_test_shared_path ("weights/mobilenet_v2/imagenet_labels.txt");
  g_assert_true (g_file_get_contents (labels_path, &text, NULL, NULL));
  labels = g_strsplit (text, "\n", -1);
  g_assert_cmpint (g_strv_length (labels), >=, 1001);
  out = g_strdup (g_strstrip (labels[best]));
  g_strfreev (labels);
  g_free (text);
  g_free (labels_path);
  ts_tensor_free (x);
  g_free (chw);
  g_free (rgb);
  g_free (path);
  return out;
}

static void
test_pretrained (gconstpointer data)
{
  const char *file = data;
  char *rel = g_strdup_printf ("weights/mobilenet_v2/%s", file);
  char *path = ts_test_shared_path (rel), *label;
  ts_model_config cfg = { "mobilenet_v2_folded", 0, TS_HEAD_ORIGINAL, 0 };
  ts_normalization norm;
  ts_model *m;
  float prob;

  g_free (rel);
  if (path == NULL)
    return;
  g_assert_cmpstr (ts_pretrained_arch ("mobilenet_v2", path), ==, "mobilenet_v2_folded");
  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  g_assert_cmpint (ts_model_n_classes (m), ==, 1001);
  if (ts_model_load_pretrained (m, path, &norm) != TS_OK)
    g_error ("%s", ts_last_error ());
  g_test_message ("%s: input (p/255 - %.5f) / %.5f", file, norm.mean[0], norm.std[0]);

  label = top_label (m, "weights/mobilenet_v2/bird.rgb", &norm, &prob);
  g_test_message ("%s: bird.rgb -> %s (p %.3f)", file, label, prob);
  g_assert_cmpstr (label, ==, "chickadee");
  g_free (label);
  label = top_label (m, "weights/mobilenet_v2/sunflower.rgb", &norm, &prob);
  g_test_message ("%s: sunflower.rgb -> %s (p %.3f)", file, label, prob);
  g_assert_cmpstr (label, ==, "daisy");
  g_free (label);
  ts_model_free (m);

  /* under fastai's head only the 52 body convolutions load */
  cfg.head = TS_HEAD_FASTAI;
  cfg.n_classes = 3;
  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  g_assert_cmpint (ts_model_load_pretrained (m, path, &norm), ==, TS_OK);
  ts_model_free (m);

  /* with batch norm the file does not fit */
  cfg.arch = "mobilenet_v2";
  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  g_assert_cmpint (ts_model_load_tflite (m, path, NULL), ==, TS_ERR_UNSUPPORTED);
  ts_model_free (m);
  g_free (path);
}

static void
test_tflite_corrupt (void)
{
  char *path = ts_test_shared_path ("weights/mobilenet_v2/mobilenet_v2_1.0_224_quant.tflite");
  guchar *bytes, *copy;
  gsize len;
  ts_tflite *t;
  int n_ok = 0, n_err = 0;

  if (path == NULL)
    return;
  g_assert_true (g_file_get_contents (path, (char **) &bytes, &len, NULL));
  g_assert_cmpint (ts_tflite_parse (bytes, len, "quant", &t), ==, TS_OK);
  g_assert_cmpint (t->n_ops, ==, 66);
  ts_tflite_free (t);
  /* truncations: the FlatBuffer's tables sit at the end of the file, the
   * weights before them, so most cuts break a reference */
  for (gsize cut = 0; cut < len; cut += len / 97 + 1)
    {
      if (ts_tflite_parse (bytes, cut, "truncated", &t) == TS_OK)
        {
          n_ok++;
          ts_tflite_free (t);
        }
      else
        n_err++;
    }
  g_assert_cmpint (n_err, >, 0);
  /* random byte damage in the FlatBuffer (the last 40 kB: tables and vtables) */
  copy = g_memdup2 (bytes, len);
  for (int trial = 0; trial < 200; trial++)
    {
      GRand *r = g_rand_new_with_seed ((guint32) trial);
      memcpy (copy, bytes, len);
      for (int k = 0; k < 8; k++)
        copy[len - 1 - g_rand_int_range (r, 0, 40000)] = (guchar) g_rand_int_range (r, 0, 256);
      if (trial % 4 == 0)
        memset (copy, 0xff, 4);
      if (ts_tflite_parse (copy, len, "damaged", &t) == TS_OK)
        {
          /* whatever parsed must dequantise without reading out of bounds */
          for (int i = 0; i < t->n_tensors; i++)
            if (t->tensors[i].data && t->tensors[i].numel < 4000000)
              {
                float *v = g_new (float, t->tensors[i].numel + 1);
                ts_tflite_dequantize (t, i, v, t->tensors[i].numel);
                g_free (v);
              }
          ts_tflite_free (t);
        }
      g_rand_free (r);
    }
  g_test_message ("truncated copies: %d rejected, %d parsed", n_err, n_ok);
  g_assert_cmpint (ts_tflite_parse ((const guint8 *) "garbage!", 8, "garbage", &t), ==,
                   TS_ERR_FORMAT);
  g_free (copy);
  g_free (bytes);
  g_free (path);
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  be = ts_backend_cpu_new (2);
  g_test_add_data_func ("/models/pretrained/uint8", "mobilenet_v2_1.0_224_quant.tflite",
                        test_pretrained);
  g_test_add_data_func ("/models/pretrained/int8", "tf2_mobilenet_v2_1.0_224_ptq.tflite",
                        test_pretrained);
  g_test_add_func ("/models/tflite/corrupt", test_tflite_corrupt);
  rc = g_test_run ();
  ts_backend_free (be);
  return rc;
}
