/* The model file through the CLI: train --out writes one ts_modelfile (vocab,
 * size, normalisation, thresholds, recipe) that predict and thresholds read
 * back with the same preprocessing; --pretrained with the TFLite MobileNetV2
 * (skips without ../shared). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ts-backend.h"
#include "ts-config.h"
#include "ts-modelfile.h"
#include "ts-test.h"
#include "ts-weights.h"

/* the number after "KEY": in @json */
static double
json_number (const char *json, const char *key)
{
  char *q = g_strdup_printf ("\"%s\": ", key);
  const char *p = strstr (json, q);

  if (!p)
    g_error ("no %s in %s", q, json);
  p += strlen (q);
  g_free (q);
  return g_ascii_strtod (p, NULL);
}

static int
ok (int status)
{
  return g_spawn_check_wait_status (status, NULL);
}

static void
test_model_round_trip (void)
{
  char *dir = ts_test_tmpdir (), *model, *args, *out, *train_json, *json, *csv2;
  ts_modelfile_meta meta = { 0 };
  ts_backend *be;
  ts_model *m = NULL;
  int status;

  model = g_build_filename (dir, "m.safetensors", NULL);
  args = g_strdup_printf ("demo-data %s --n 96 --size 48 --seed 4", dir);
  out = ts_test_run_cli_line (args, &status);
  g_free (args);
  if (!ok (status))
    {
#ifdef TS_HAVE_CAIRO
      g_error ("demo-data failed, though Cairo was found at configure time:\n%s", out);
#endif
      g_free (out);
      g_test_skip ("demo-data is not available in this build");
      goto done;
    }
  g_free (out);
  args = g_strdup_printf ("train %s/train.csv --arch tiny --epochs 2 --freeze-epochs 1 --bs 16 "
                          "--size 32 --lr 1e-2 --threads 1 --seed 2 --aug flip --out %s",
                          dir, model);
  out = ts_test_run_cli_line (args, &status);
  g_free (args);
  g_assert_true (ok (status));
  train_json = g_strdup (strstr (out, "{\"valid_loss\": "));
  g_assert_nonnull (train_json);
  g_free (out);

  /* the metadata: what predict and thresholds need */
  be = ts_backend_cpu_new (1);
  g_assert_cmpint (ts_modelfile_load (model, be, &m, &meta), ==, TS_OK);
  g_assert_cmpstr (ts_model_arch (m), ==, "tiny");
  g_assert_cmpint (meta.input_height, ==, 32);
  g_assert_cmpint (meta.input_width, ==, 32);
  g_assert_cmpint (meta.n_vocab, ==, ts_model_n_classes (m));
  g_assert_cmpfloat_with_epsilon (meta.norm.mean[0], 0.485, 1e-6);
  g_assert_cmpfloat_with_epsilon (meta.norm.std[2], 0.225, 1e-6);
  g_assert_cmpfloat_with_epsilon (meta.threshold, 0.2, 1e-6);
  g_assert_true (meta.has_best_threshold);
  g_assert_cmpfloat_with_epsilon (meta.best_threshold, json_number (train_json, "best_thresh"),
                                  1e-5);
  g_assert_nonnull (meta.class_thresholds);
  g_assert_nonnull (meta.recipe_json);
  g_assert_nonnull (strstr (meta.recipe_json, "\"fine_tune\": {\"epochs\": 2"));
  g_assert_nonnull (strstr (meta.recipe_json, "\"aug\": \"flip\""));
  /* the precision the run computed in (this one: the CPU's float32) */
  g_assert_nonnull (strstr (meta.recipe_json, "\"precision\": \"fp32\""));
  ts_model_free (m);
  ts_backend_free (be);

  /* thresholds: the same validation predictions as training's final get_preds */
  args = g_strdup_printf ("thresholds %s %s/train.csv --threads 1 --bs 16", model, dir);
  out = ts_test_run_cli_line (args, &status);
  g_free (args);
  g_assert_true (ok (status));
  g_assert_nonnull (strstr (out, "thresh   accuracy_multi  f1_micro  f1_macro  precision  recall"));
  g_assert_nonnull (strstr (out, "\n0.050 "));
  g_assert_nonnull (strstr (out, "\n0.990 "));
  g_assert_nonnull (strstr (out, "all-negative baseline"));
  json = strstr (out, "{\"n\": ");
  g_assert_nonnull (json);
  for (const char *k = "valid_loss\0accuracy_multi\0accuracy_multi_best\0best_thresh\0mAP\0"
                       "all_negative_baseline\0";
       *k; k += strlen (k) + 1)
    g_assert_cmpfloat_with_epsilon (json_number (json, k), json_number (train_json, k), 2e-5);
  g_assert_nonnull (strstr (json, "\"classes\": [{\"name\": "));
  g_free (out);

  /* predict: the default threshold is the model's best; --all shows every class */
  {
    char **lines_all, **lines;
    double best = meta.best_threshold;

    args = g_strdup_printf ("predict %s --all %s/train/00000.jpg %s/train/00001.jpg", model,
                            dir, dir);
    out = ts_test_run_cli_line (args, &status);
    g_free (args);
    g_assert_true (ok (status));
    lines_all = g_strsplit (out, "\n", -1);
    g_free (out);
    args = g_strdup_printf ("predict %s %s/train/00000.jpg %s/train/00001.jpg", model, dir, dir);
    out = ts_test_run_cli_line (args, &status);
    g_free (args);
    g_assert_true (ok (status));
    lines = g_strsplit (out, "\n", -1);
    g_free (out);
    for (int i = 0; i < 2; i++)
      {
        char **all = g_strsplit (strchr (lines_all[i], ':') + 2, " ", -1);
        GString *want = g_string_new (NULL);
        int n = g_strv_length (all);

        g_assert_cmpint (n, ==, 2 * meta.n_vocab);
        for (int k = 0; k < n; k += 2)
          {
            double p = g_ascii_strtod (all[k + 1], NULL);
            g_assert_true (p >= 0.0 && p <= 1.0);
            g_assert_cmpstr (all[k], ==, meta.vocab[k / 2]);
            /* printed with 3 decimals: skip the ambiguous ones */
            if (fabs (p - best) < 1e-3)
              goto next;
            if (p > best)
              g_string_append_printf (want, " %s %s", all[k], all[k + 1]);
          }
        g_assert_cmpstr (strchr (lines[i], ':') + 1, ==, want->len ? want->str : " (no label)");
      next:
        g_string_free (want, TRUE);
        g_strfreev (all);
      }
    g_strfreev (lines_all);
    g_strfreev (lines);
  }

  /* --per-class: each class against its own threshold from the model file */
  {
    char **all, **lines;

    args = g_strdup_printf ("predict %s --all %s/train/00002.jpg", model, dir);
    out = ts_test_run_cli_line (args, &status);
    g_free (args);
    g_assert_true (ok (status));
    all = g_strsplit (g_strstrip (strchr (out, ':') + 2), " ", -1);
    g_free (out);
    args = g_strdup_printf ("predict %s --per-class %s/train/00002.jpg", model, dir);
    out = ts_test_run_cli_line (args, &status);
    g_free (args);
    g_assert_true (ok (status));
    lines = g_strsplit (out, "\n", -1);
    for (int k = 0; all[k] && all[k + 1]; k += 2)
      {
        double p = g_ascii_strtod (all[k + 1], NULL), t = meta.class_thresholds[k / 2];
        char *shown = g_strdup_printf (" %s %s", all[k], all[k + 1]);
        if (fabs (p - t) >= 1e-3)
          g_assert_true ((strstr (lines[0], shown) != NULL) == (p > t));
        g_free (shown);
      }
    g_strfreev (lines);
    g_strfreev (all);
    g_free (out);
  }

  /* a CSV without is_valid: every row, unless --valid-only */
  csv2 = g_build_filename (dir, "nosplit.csv", NULL);
  {
    char *text, *path = g_build_filename (dir, "train.csv", NULL);
    GString *s = g_string_new ("fname,labels\n");
    char **rows;

    g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
    rows = g_strsplit (text, "\n", -1);
    for (int i = 1; rows[i] && rows[i][0] && i <= 20; i++)
      {
        char *last = strrchr (rows[i], ',');
        g_string_append_len (s, rows[i], last - rows[i]);
        g_string_append_c (s, '\n');
      }
    g_assert_true (g_file_set_contents (csv2, s->str, -1, NULL));
    g_string_free (s, TRUE);
    g_strfreev (rows);
    g_free (text);
    g_free (path);
  }
  args = g_strdup_printf ("thresholds %s %s --threads 1", model, csv2);
  out = ts_test_run_cli_line (args, &status);
  g_free (args);
  g_assert_true (ok (status));
  g_assert_nonnull (strstr (out, "20 images (every row)"));
  g_assert_cmpfloat (json_number (strstr (out, "{\"n\": "), "n"), ==, 20);
  g_free (out);
  args = g_strdup_printf ("thresholds %s %s --valid-only", model, csv2);
  out = ts_test_run_cli_line (args, &status);
  g_free (args);
  g_assert_false (ok (status));
  g_assert_nonnull (strstr (out, "no validation rows"));
  g_free (out);

  /* --save rewrites the thresholds from this CSV into the model */
  args = g_strdup_printf ("thresholds %s %s --threads 1 --save", model, csv2);
  out = ts_test_run_cli_line (args, &status);
  g_free (args);
  g_assert_true (ok (status));
  json = strstr (out, "{\"n\": ");
  {
    ts_modelfile_meta meta2 = { 0 };
    be = ts_backend_cpu_new (1);
    g_assert_cmpint (ts_modelfile_load (model, be, &m, &meta2), ==, TS_OK);
    g_assert_true (meta2.has_best_threshold);
    g_assert_cmpfloat_with_epsilon (meta2.best_threshold, json_number (json, "best_thresh"),
                                    1e-5);
    ts_modelfile_meta_clear (&meta2);
    ts_model_free (m);
    ts_backend_free (be);
  }
  g_free (out);

  /* a damaged model file is an error, not a crash */
  {
    char *bad = g_build_filename (dir, "bad.safetensors", NULL);
    g_assert_true (g_file_set_contents (bad, "\x10\0\0\0\0\0\0\0{\"a\":", 14, NULL));
    args = g_strdup_printf ("predict %s %s/train/00000.jpg", bad, dir);
    out = ts_test_run_cli_line (args, &status);
    g_assert_false (ok (status));
    g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 1);
    g_assert_nonnull (strstr (out, "bad.safetensors"));
    g_free (out);
    g_free (args);
    args = g_strdup_printf ("thresholds %s %s", bad, csv2);
    out = ts_test_run_cli_line (args, &status);
    g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 1);
    g_free (out);
    g_free (args);
    g_free (bad);
  }
  g_free (csv2);
  g_free (train_json);
  ts_modelfile_meta_clear (&meta);

done:
  ts_test_rmdir (dir);
  g_free (model);
  g_free (dir);
}

/* the done-when command, shortened: MobileNetV2 from the uint8 TFLite */
static void
test_pretrained_tflite (void)
{
  char *csv = ts_test_shared_path ("data/bccd/train.csv");
  char *tfl = ts_test_shared_path ("weights/mobilenet_v2/mobilenet_v2_1.0_224_quant.tflite");
  char *dir, *model, *args, *out, *json;
  ts_modelfile_meta meta = { 0 };
  ts_backend *be;
  ts_model *m = NULL;
  int status;

  if (!csv || !tfl)
    {
      g_free (csv);
      g_free (tfl);
      return;
    }
  dir = ts_test_tmpdir ();
  model = g_build_filename (dir, "bccd.safetensors", NULL);
  /* only the frozen phase: the body keeps the TFLite weights exactly */
  args = g_strdup_printf ("train %s --arch mobilenet_v2 --pretrained %s --epochs 0 "
                          "--freeze-epochs 1 --size 32 --bs 64 --aug flip --threads 1 --out %s",
                          csv, tfl, model);
  out = ts_test_run_cli_line (args, &status);
  g_free (args);
  g_assert_true (ok (status));
  g_assert_nonnull (strstr (out, "205 training and 159 validation images, 3 classes"));
  json = strstr (out, "{\"valid_loss\": ");
  g_assert_nonnull (json);
  g_assert_nonnull (strstr (json, "\"completed\": true"));
  g_assert_true (isfinite (json_number (json, "valid_loss")));
  g_free (out);

  be = ts_backend_cpu_new (1);
  g_assert_cmpint (ts_modelfile_load (model, be, &m, &meta), ==, TS_OK);
  g_assert_cmpstr (ts_model_arch (m), ==, "mobilenet_v2_folded");
  /* uint8 input (p - 128) / 128 on [0, 1] pixels */
  for (int c = 0; c < 3; c++)
    {
      g_assert_cmpfloat_with_epsilon (meta.norm.mean[c], 128.0 / 255.0, 1e-5);
      g_assert_cmpfloat_with_epsilon (meta.norm.std[c], 128.0 / 255.0, 1e-5);
    }
  g_assert_cmpint (meta.n_vocab, ==, 3);
  g_assert_cmpstr (meta.vocab[1], ==, "RBC");
  g_assert_nonnull (strstr (meta.recipe_json, "mobilenet_v2_1.0_224_quant.tflite"));
  {
    /* every body parameter as the TFLite file has it; the head (same seed) was trained */
    ts_model_config mc = { "mobilenet_v2_folded", 3, TS_HEAD_FASTAI, 42 };   /* train's seed */
    ts_model *ref = NULL;
    int n_body = 0, n_head_changed = 0;

    g_assert_cmpint (ts_model_new (be, &mc, &ref), ==, TS_OK);
    g_assert_cmpint (ts_model_load_tflite (ref, tfl, NULL), ==, TS_OK);
    g_assert_cmpint (ts_model_n_params (ref), ==, ts_model_n_params (m));
    for (int i = 0; i < ts_model_n_params (m); i++)
      {
        ts_tensor *a = ts_model_param (m, i)->value, *b = ts_model_param (ref, i)->value;
        float *ha = g_new (float, a->numel), *hb = g_new (float, b->numel);
        int same;

        g_assert_cmpstr (ts_model_param (m, i)->name, ==, ts_model_param (ref, i)->name);
        g_assert_cmpint (a->numel, ==, b->numel);
        g_assert_cmpint (ts_tensor_to_host (a, ha, a->numel), ==, TS_OK);
        g_assert_cmpint (ts_tensor_to_host (b, hb, b->numel), ==, TS_OK);
        same = memcmp (ha, hb, (size_t) a->numel * sizeof (float)) == 0;
        if (strncmp (ts_model_param (m, i)->name, "0.", 2) == 0)
          {
            g_assert_true (same);
            n_body++;
          }
        else
          n_head_changed += !same;
        g_free (ha);
        g_free (hb);
      }
    g_assert_cmpint (n_body, ==, 104);
    g_assert_cmpint (n_head_changed, >, 0);
    ts_model_free (ref);
  }
  ts_modelfile_meta_clear (&meta);
  ts_model_free (m);
  ts_backend_free (be);

  ts_test_rmdir (dir);
  g_free (model);
  g_free (dir);
  g_free (csv);
  g_free (tfl);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/model/round-trip", test_model_round_trip);
  g_test_add_func ("/cli/model/pretrained-tflite", test_pretrained_tflite);
  return g_test_run ();
}
