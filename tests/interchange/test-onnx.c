/* test-onnx.c: ONNX export (ts-onnx.h) and parity of a trained model's
 * probabilities across Tagsight, `tagsight-cli predict`, ONNX Runtime and
 * PyTorch on the same preprocessed images. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "ts-image.h"
#include "ts-loader.h"
#include "ts-modelfile.h"
#include "ts-onnx.h"
#include "ts-test.h"
#include "ts-transform.h"
#include "ts-weights.h"

#define N_IMAGES 8

static Onnx__ModelProto *
read_onnx (const char *path)
{
  gchar *bytes;
  gsize size;
  Onnx__ModelProto *m;

  g_assert_true (g_file_get_contents (path, &bytes, &size, NULL));
  m = onnx__model_proto__unpack (NULL, size, (const uint8_t *) bytes);
  g_assert_nonnull (m);
  g_free (bytes);
  return m;
}

static const char *
meta_get (const Onnx__ModelProto *m, const char *key)
{
  for (size_t i = 0; i < m->n_metadata_props; i++)
    if (strcmp (m->metadata_props[i]->key, key) == 0)
      return m->metadata_props[i]->value;
  return NULL;
}

static void
test_structure (void)
{
  static const char *const vocab[] = { "cat", "dog \"quoted\"", "bird" };
  ts_backend *be = ts_backend_cpu_new (1);
  ts_model_config cfg = { "tiny", 3, TS_HEAD_FASTAI, 7 };
  ts_onnx_options o = { 0 };
  ts_model *m;
  char *dir = ts_test_tmpdir (), *path = g_build_filename (dir, "tiny.onnx", NULL);
  Onnx__ModelProto *pm;
  Onnx__GraphProto *g;
  int n_inits_expected = 0, concat = 0, bn = 0;

  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  o.sigmoid = 1;
  o.input_height = o.input_width = 32;
  o.norm = ts_normalization_imagenet ();
  o.squish_size = 40;
  o.vocab = vocab;
  o.n_vocab = 3;
  o.threshold = 0.5f;
  g_assert_cmpint (ts_onnx_export (m, &o, path), ==, TS_OK);

  pm = read_onnx (path);
  g = pm->graph;
  g_assert_cmpint (pm->ir_version, ==, 8);
  g_assert_cmpint (pm->n_opset_import, ==, 1);
  g_assert_cmpint (pm->opset_import[0]->version, ==, TS_ONNX_OPSET);
  g_assert_cmpint (g->n_input, ==, 1);
  g_assert_cmpstr (g->input[0]->name, ==, "input");
  g_assert_cmpint (g->n_output, ==, 2);
  g_assert_cmpstr (g->output[0]->name, ==, "probabilities");
  g_assert_cmpstr (g->output[1]->name, ==, "logits");
  g_assert_cmpstr (meta_get (pm, "input_size"), ==, "[32, 32]");
  g_assert_cmpstr (meta_get (pm, "normalization"), ==,
                   "{\"mean\": [0.485, 0.456, 0.406], \"std\": [0.229, 0.224, 0.225]}");
  g_assert_cmpstr (meta_get (pm, "vocab"), ==, "[\"cat\", \"dog \\\"quoted\\\"\", \"bird\"]");
  g_assert_cmpstr (meta_get (pm, "threshold"), ==, "0.5");
  g_assert_nonnull (strstr (meta_get (pm, "resize"), "\"squish_to\": [40, 40]"));
  g_assert_null (meta_get (pm, "class_thresholds"));
  onnx__model_proto__free_unpacked (pm, NULL);
  {
    static const float per_class[] = { 0.25f, 0.5f, 0.875f };
    o.class_thresholds = per_class;
    g_assert_cmpint (ts_onnx_export (m, &o, path), ==, TS_OK);
    o.class_thresholds = NULL;
    pm = read_onnx (path);
    g = pm->graph;
    g_assert_cmpstr (meta_get (pm, "class_thresholds"), ==, "[0.25, 0.5, 0.875]");
  }
  for (int i = 0; i < ts_model_n_params (m); i++)
    n_inits_expected++;
  for (int i = 0; i < ts_model_n_buffers (m); i++)
    if (!strstr (ts_model_buffer (m, i)->name, "num_batches_tracked"))
      n_inits_expected++;
  g_assert_cmpint (g->n_initializer, ==, n_inits_expected);
  for (size_t i = 0; i < g->n_node; i++)
    {
      concat += strcmp (g->node[i]->op_type, "Concat") == 0;
      bn += strcmp (g->node[i]->op_type, "BatchNormalization") == 0;
      g_assert_null (strstr (g->node[i]->op_type, "Dropout"));
    }
  g_assert_cmpint (concat, ==, 1);
  g_assert_cmpint (bn, ==, 3 + 2);  /* three in the body, two in fastai's head */
  onnx__model_proto__free_unpacked (pm, NULL);

  /* a failed export leaves an existing file alone and no temporary behind */
  o.n_vocab = 2;
  g_assert_cmpint (ts_onnx_export (m, &o, path), ==, TS_ERR_INVALID);
  g_assert_nonnull (strstr (ts_last_error (), "2 vocab names for 3 classes"));
  pm = read_onnx (path);
  onnx__model_proto__free_unpacked (pm, NULL);
  o.n_vocab = 3;
  g_assert_cmpint (ts_onnx_export (m, &o, "/nonexistent-dir/x.onnx"), ==, TS_ERR_IO);
  {
    GDir *d = g_dir_open (dir, 0, NULL);
    int n = 0;
    while (g_dir_read_name (d))
      n++;
    g_dir_close (d);
    g_assert_cmpint (n, ==, 1);
  }
  o.opset = 11;
  g_assert_cmpint (ts_onnx_export (m, &o, path), ==, TS_ERR_UNSUPPORTED);

  ts_model_free (m);
  ts_backend_free (be);
  ts_test_rmdir (dir);
  g_free (path);
  g_free (dir);
}

/* A full disk during the export: the existing file stays byte for byte, no
 * temporary file is left, and the error names the file being written (not
 * the temporary that no longer exists) and the reason. */
static void
test_disk_full (void)
{
  static const char *const vocab[] = { "cat", "dog", "bird" };
  ts_backend *be = ts_backend_cpu_new (1);
  ts_model_config cfg = { "tiny", 3, TS_HEAD_FASTAI, 7 };
  ts_onnx_options o = { 0 };
  ts_model *m;
  char *dir = ts_test_tmpdir (), *path = g_build_filename (dir, "tiny.onnx", NULL);
  gchar *before, *after;
  gsize n_before, n_after;
  GDir *d;
  const char *name;

  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  o.sigmoid = 1;
  o.input_height = o.input_width = 32;
  o.norm = ts_normalization_imagenet ();
  o.squish_size = 40;
  o.vocab = vocab;
  o.n_vocab = 3;
  o.threshold = 0.5f;
  g_assert_true (g_file_set_contents (path, "an earlier export", -1, NULL));
  g_assert_true (g_file_get_contents (path, &before, &n_before, NULL));
  ts_test_limit_file_size (4096);
  g_assert_cmpint (ts_onnx_export (m, &o, path), ==, TS_ERR_IO);
  ts_test_unlimit_file_size ();
  g_test_message ("%s", ts_last_error ());
  g_assert_true (g_str_has_prefix (ts_last_error (), path));
  g_assert_null (strstr (ts_last_error (), ".tmp-"));
  g_assert_nonnull (strstr (ts_last_error (), g_strerror (EFBIG)));
  g_assert_true (g_file_get_contents (path, &after, &n_after, NULL));
  g_assert_cmpmem (before, n_before, after, n_after);
  d = g_dir_open (dir, 0, NULL);
  while ((name = g_dir_read_name (d)) != NULL)
    g_assert_cmpstr (name, ==, "tiny.onnx");
  g_dir_close (d);
  /* and with room again, the export replaces it */
  g_assert_cmpint (ts_onnx_export (m, &o, path), ==, TS_OK);
  onnx__model_proto__free_unpacked (read_onnx (path), NULL);

  g_free (before);
  g_free (after);
  ts_model_free (m);
  ts_backend_free (be);
  ts_test_rmdir (dir);
  g_free (path);
  g_free (dir);
}

/* ---- parity on a model trained by tagsight-cli ---- */

typedef struct {
  char *dir, *model, *onnx, *input, *probs, *meta;
  char *images[N_IMAGES];
  float probs_v[N_IMAGES * 64];
  int n_classes;
  ts_loader_config lc;
  int ready;
} trained;

static trained T;

static void
run_ok (const char *cmd)
{
  char *out = NULL, *err = NULL;
  int status;

  g_test_message ("$ %s", cmd);
  g_assert_true (g_spawn_command_line_sync (cmd, &out, &err, &status, NULL));
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed:\n%s\n%s", cmd, out, err);
  g_free (out);
  g_free (err);
}

static void
write_floats (const char *path, const float *v, gsize n)
{
  g_assert_true (g_file_set_contents (path, (const char *) v, (gssize) (n * sizeof (float)),
                                      NULL));
}

static void
write_meta_json (const char *onnx, const char *path)
{
  Onnx__ModelProto *pm = read_onnx (onnx);
  GString *s = g_string_new ("{");

  for (size_t i = 0; i < pm->n_metadata_props; i++)
    {
      const char *v = pm->metadata_props[i]->value;
      g_string_append_printf (s, "%s\"%s\": \"", i ? ", " : "", pm->metadata_props[i]->key);
      for (; *v; v++)
        {
          if (*v == '"' || *v == '\\')
            g_string_append_c (s, '\\');
          g_string_append_c (s, *v);
        }
      g_string_append_c (s, '"');
    }
  g_string_append_c (s, '}');
  g_assert_true (g_file_set_contents (path, s->str, -1, NULL));
  g_string_free (s, TRUE);
  onnx__model_proto__free_unpacked (pm, NULL);
}

/* Tagsight's validation preprocessing, as cmd-predict does it */
static void
preprocess (const ts_loader_config *lc, const char *const *paths, float *hx)
{
  for (int i = 0; i < N_IMAGES; i++)
    {
      ts_image img = { 0 };
      if (ts_image_load (paths[i], ts_tfm_decode_min_side (lc, 1), 0, &img) != TS_OK)
        g_error ("%s", ts_last_error ());
      ts_tfm_item (&img, lc, 1, NULL, hx + (gsize) i * 3 * lc->size * lc->size);
      ts_image_clear (&img);
    }
}

/* demo data -> 1 epoch of resnet18 at 32 px -> export; then Tagsight's own
 * preprocessing and probabilities for N_IMAGES images, as cmd-predict does. */
static void
ensure_trained (void)
{
  const char *cli = ts_test_cli ();
  char *cmd;
  ts_backend *be;
  ts_model *m;
  ts_modelfile_meta meta = { 0 };
  ts_loader_config lc;
  ts_tensor *x, *logits;
  float *hx;
  int size;

  if (T.ready)
    return;
  T.dir = ts_test_tmpdir ();
  T.model = g_build_filename (T.dir, "m.safetensors", NULL);
  T.onnx = g_build_filename (T.dir, "m.onnx", NULL);
  T.input = g_build_filename (T.dir, "input.bin", NULL);
  T.probs = g_build_filename (T.dir, "probs.bin", NULL);
  T.meta = g_build_filename (T.dir, "meta.json", NULL);
  cmd = g_strdup_printf ("%s demo-data %s/d --n 60 --size 64 --seed 3", cli, T.dir);
  run_ok (cmd);
  g_free (cmd);
  cmd = g_strdup_printf ("%s train %s/d/train.csv --arch resnet18 --epochs 1 --freeze-epochs 0 "
                         "--bs 16 --size 32 --threads 2 --seed 5 --out %s", cli, T.dir, T.model);
  run_ok (cmd);
  g_free (cmd);
  cmd = g_strdup_printf ("%s export %s --format onnx --out %s", cli, T.model, T.onnx);
  run_ok (cmd);
  g_free (cmd);
  write_meta_json (T.onnx, T.meta);

  be = ts_backend_cpu_new (2);
  if (ts_modelfile_load (T.model, be, &m, &meta) != TS_OK)
    g_error ("%s", ts_last_error ());
  size = meta.input_height;
  T.n_classes = ts_model_n_classes (m);
  g_assert_cmpint (T.n_classes, <=, 64);
  ts_loader_config_init (&lc);
  lc.size = size;
  memcpy (lc.mean, meta.norm.mean, sizeof lc.mean);
  memcpy (lc.std, meta.norm.std, sizeof lc.std);
  x = ts_tensor_new_4d (be, N_IMAGES, 3, size, size);
  hx = g_new (float, (gsize) N_IMAGES * 3 * size * size);
  for (int i = 0; i < N_IMAGES; i++)
    /* demo-data names its images 00000.jpg ...; a spread over the set */
    T.images[i] = g_strdup_printf ("%s/d/train/%05d.jpg", T.dir, 7 * i);
  preprocess (&lc, (const char *const *) T.images, hx);
  g_assert_cmpint (ts_model_prepare (m, N_IMAGES, size, size), ==, TS_OK);
  g_assert_cmpint (ts_tensor_from_host (x, hx, x->numel), ==, TS_OK);
  g_assert_cmpint (ts_model_forward (m, x, 0, &logits), ==, TS_OK);
  g_assert_cmpint (ts_tensor_to_host (logits, T.probs_v, (int64_t) N_IMAGES * T.n_classes), ==,
                   TS_OK);
  for (int i = 0; i < N_IMAGES * T.n_classes; i++)
    T.probs_v[i] = 1.0f / (1.0f + expf (-T.probs_v[i]));
  T.lc = lc;
  write_floats (T.input, hx, x->numel);
  write_floats (T.probs, T.probs_v, (gsize) N_IMAGES * T.n_classes);
  g_free (hx);
  ts_tensor_free (x);
  ts_modelfile_meta_clear (&meta);
  ts_model_free (m);
  ts_backend_free (be);
  T.ready = 1;
}

static char *
find_images (const char *dir)
{
  char *rel = g_build_filename (dir, "d", "train", "00000.jpg", NULL);
  g_assert_true (g_file_test (rel, G_FILE_TEST_EXISTS));
  return rel;
}

/* `tagsight-cli predict --thresh 0` prints every class with 3 decimals */
static void
test_predict (void)
{
  GString *cmd = g_string_new (NULL);
  char *out = NULL, *err = NULL, **lines, *first;
  int status, n_lines = 0;
  double worst = 0;

  ensure_trained ();
  first = find_images (T.dir);
  g_free (first);
  g_string_printf (cmd, "%s predict --thresh 0 %s", ts_test_cli (), T.model);
  for (int i = 0; i < N_IMAGES; i++)
    g_string_append_printf (cmd, " %s", T.images[i]);
  g_assert_true (g_spawn_command_line_sync (cmd->str, &out, &err, &status, NULL));
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s: %s", cmd->str, err);
  lines = g_strsplit (out, "\n", -1);
  for (int i = 0; lines[i] && *lines[i]; i++, n_lines++)
    {
      char **tok = g_strsplit (strchr (lines[i], ':') + 1, " ", -1);
      int k = 0;
      for (int t = 0; tok[t]; t++)
        {
          char *end;
          double p;
          if (!*tok[t])
            continue;
          p = g_ascii_strtod (tok[t], &end);
          if (*end == '\0' && end != tok[t] && k < T.n_classes)
            {
              worst = fmax (worst, fabs (p - T.probs_v[i * T.n_classes + k]));
              k++;
            }
        }
      g_assert_cmpint (k, ==, T.n_classes);
      g_strfreev (tok);
    }
  g_assert_cmpint (n_lines, ==, N_IMAGES);
  g_test_message ("tagsight-cli predict vs the library: largest difference %.3g (printed with "
                  "3 decimals)", worst);
  g_assert_cmpfloat (worst, <=, 5.01e-4);
  g_strfreev (lines);
  g_free (out);
  g_free (err);
  g_string_free (cmd, TRUE);
}

static void
run_parity (const char *python, const char *args)
{
  char *script = g_test_build_filename (G_TEST_DIST, "interchange", "parity.py", NULL);
  char *cmd = g_strdup_printf ("%s %s %s", python, script, args);
  char *out = NULL, *err = NULL;
  int status;

  g_assert_true (g_spawn_command_line_sync (cmd, &out, &err, &status, NULL));
  if (WIFEXITED (status) && WEXITSTATUS (status) == 77)
    {
      char *msg = g_strdup_printf ("%s: %s", python, g_strstrip (out));
      g_test_skip (msg);
      g_free (msg);
    }
  else if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed:\n%s\n%s", cmd, out, err);
  else
    {
      char **lines = g_strsplit (g_strstrip (out), "\n", -1);
      for (int i = 0; lines[i]; i++)
        g_test_message ("%s", lines[i]);
      g_strfreev (lines);
    }
  g_free (out);
  g_free (err);
  g_free (cmd);
  g_free (script);
}

/* ONNX Runtime and the onnx checker live in the pip python (python3 on PATH,
 * or TS_PYTHON_ONNX); PyTorch in Debian's /usr/bin/python3 (or TS_PYTHON_TORCH). */
static const char *
python_for (const char *env, const char *fallback)
{
  const char *p = g_getenv (env);
  return p ? p : fallback;
}

static void
test_onnxruntime (void)
{
  char *args, *py = g_find_program_in_path ("python3");

  ensure_trained ();
  args = g_strdup_printf ("onnx %s %s %s", T.onnx, T.input, T.probs);
  run_parity (python_for ("TS_PYTHON_ONNX", py ? py : "python3"), args);
  g_free (args);
  g_free (py);
}

static void
test_pytorch (void)
{
  char *args;

  ensure_trained ();
  args = g_strdup_printf ("torch %s %s %s", T.model, T.input, T.probs);
  run_parity (python_for ("TS_PYTHON_TORCH", "/usr/bin/python3"), args);
  g_free (args);
}

/* The metadata's rule redone in Python from PNG copies (same pixels on both
 * sides: must agree to rounding), then from the JPEGs themselves (PIL's and
 * TurboJPEG's decoders may differ by a few levels: reported, loosely bounded). */
static void
test_preprocess (void)
{
  const char *py = python_for ("TS_PYTHON_TORCH", "/usr/bin/python3");
  GString *args = g_string_new (NULL), *pngs = g_string_new (NULL);
  char *png_paths[N_IMAGES], *png_input;
  float *hx;

  ensure_trained ();
  g_string_printf (args, "topng");
  for (int i = 0; i < N_IMAGES; i++)
    {
      png_paths[i] = g_strdup_printf ("%s/%d.png", T.dir, i);
      g_string_append_printf (args, " %s %s", T.images[i], png_paths[i]);
      g_string_append_printf (pngs, " %s", png_paths[i]);
    }
  run_parity (py, args->str);
  if (g_test_failed () || !g_file_test (png_paths[0], G_FILE_TEST_EXISTS))
    goto out;
  hx = g_new (float, (gsize) N_IMAGES * 3 * T.lc.size * T.lc.size);
  preprocess (&T.lc, (const char *const *) png_paths, hx);
  png_input = g_build_filename (T.dir, "input-png.bin", NULL);
  write_floats (png_input, hx, (gsize) N_IMAGES * 3 * T.lc.size * T.lc.size);
  g_string_printf (args, "preprocess %s %s%s", T.meta, png_input, pngs->str);
  run_parity (py, args->str);
  g_free (png_input);
  g_free (hx);

  g_string_printf (args, "preprocess %s %s", T.meta, T.input);
  for (int i = 0; i < N_IMAGES; i++)
    g_string_append_printf (args, " %s", T.images[i]);
  run_parity (py, args->str);
out:
  for (int i = 0; i < N_IMAGES; i++)
    g_free (png_paths[i]);
  g_string_free (args, TRUE);
  g_string_free (pngs, TRUE);
}

/* Untrained networks of every architecture (random weights, so every op's
 * numbers matter), exported and run by ONNX Runtime on random inputs:
 * mobilenet_v2 adds Clip (ReLU6) and grouped convolutions, the folded variant
 * convolution biases, and TS_HEAD_ORIGINAL the plain classifier (Gemm with a
 * bias after GlobalAveragePool). */
static void
test_archs (void)
{
  static const struct {
    const char *arch;
    ts_head_kind head;
    int n_classes;
  } cases[] = {
    { "tiny", TS_HEAD_FASTAI, 5 },
    { "tiny", TS_HEAD_ORIGINAL, 7 },
    { "mobilenet_v2", TS_HEAD_FASTAI, 5 },
    { "mobilenet_v2_folded", TS_HEAD_FASTAI, 5 },
  };
  static const char *const names[] = { "a", "b", "c", "d", "e", "f", "g" };
  char *py = g_find_program_in_path ("python3");
  char *dir = ts_test_tmpdir ();
  ts_backend *be = ts_backend_cpu_new (2);

  for (size_t k = 0; k < G_N_ELEMENTS (cases); k++)
    {
      ts_model_config cfg = { cases[k].arch, cases[k].n_classes, cases[k].head, 11 + k };
      ts_onnx_options o = { 0 };
      ts_model *m;
      ts_tensor *x, *logits;
      float xs[2 * 3 * 64 * 64], probs[2 * 7], lg[2 * 7];
      char *onnx = g_strdup_printf ("%s/%zu.onnx", dir, k);
      char *in = g_strdup_printf ("%s/%zu-in.bin", dir, k);
      char *out = g_strdup_printf ("%s/%zu-probs.bin", dir, k);
      char *lgf = g_strdup_printf ("%s/%zu-logits.bin", dir, k);
      char *args = g_strdup_printf ("onnx %s %s %s %s", onnx, in, out, lgf);
      guint32 seed = 99 + (guint32) k;
      int n = cases[k].n_classes;

      g_test_message ("%s (%s head)", cases[k].arch,
                      cases[k].head == TS_HEAD_FASTAI ? "fastai's" : "its own");
      g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
      /* batch norm statistics away from (0, 1), so that eval mode's arithmetic shows */
      for (int b = 0; b < ts_model_n_buffers (m); b++)
        {
          ts_tensor *t = ts_model_buffer (m, b)->value;
          int var = strstr (ts_model_buffer (m, b)->name, "running_var") != NULL;
          float *v;
          if (strstr (ts_model_buffer (m, b)->name, "num_batches") != NULL)
            continue;
          v = g_new (float, t->numel);
          for (int64_t i = 0; i < t->numel; i++)
            {
              seed = seed * 1664525u + 1013904223u;
              v[i] = (float) (seed >> 8) / (float) (1u << 24) * (var ? 1.0f : 0.2f) +
                     (var ? 0.5f : -0.1f);
            }
          g_assert_cmpint (ts_tensor_from_host (t, v, t->numel), ==, TS_OK);
          g_free (v);
        }
      for (size_t i = 0; i < G_N_ELEMENTS (xs); i++)
        {
          seed = seed * 1664525u + 1013904223u;
          xs[i] = (float) (seed >> 8) / (float) (1u << 24) * 4.0f - 2.0f;
        }
      x = ts_tensor_new_4d (be, 2, 3, 64, 64);
      g_assert_cmpint (ts_model_prepare (m, 2, 64, 64), ==, TS_OK);
      g_assert_cmpint (ts_tensor_from_host (x, xs, x->numel), ==, TS_OK);
      g_assert_cmpint (ts_model_forward (m, x, 0, &logits), ==, TS_OK);
      g_assert_cmpint (ts_tensor_to_host (logits, lg, 2 * n), ==, TS_OK);
      for (int i = 0; i < 2 * n; i++)
        probs[i] = 1.0f / (1.0f + expf (-lg[i]));
      write_floats (lgf, lg, (gsize) 2 * n);
      write_floats (in, xs, G_N_ELEMENTS (xs));
      write_floats (out, probs, (gsize) 2 * n);

      o.sigmoid = 1;
      o.input_height = o.input_width = 64;
      o.norm = ts_normalization_imagenet ();
      o.squish_size = 64 + ts_tfm_val_xtra (64);
      o.vocab = names;
      o.n_vocab = n;
      o.threshold = 0.5f;
      g_assert_cmpint (ts_onnx_export (m, &o, onnx), ==, TS_OK);
      run_parity (python_for ("TS_PYTHON_ONNX", py ? py : "python3"), args);

      ts_tensor_free (x);
      ts_model_free (m);
      g_free (onnx);
      g_free (in);
      g_free (out);
      g_free (lgf);
      g_free (args);
    }
  ts_backend_free (be);
  ts_test_rmdir (dir);
  g_free (dir);
  g_free (py);
}

/* Bad command lines and files give a message and a non-zero exit. */
static void
test_cli_errors (void)
{
  static const struct {
    const char *args;
    int rc;
    const char *needle;
  } cases[] = {
    { "export /nonexistent/m.safetensors --out /tmp/x.onnx", 1, "/nonexistent/m.safetensors" },
    { "export m.safetensors --format tflite --out x.tflite", 2, "onnx is the only format" },
    { "export m.safetensors", 2, "Usage" },
    { "export m.safetensors --opset 9 --out x.onnx", 2, "--opset" },
  };

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      char *cmd = g_strdup_printf ("%s %s", ts_test_cli (), cases[i].args);
      char *out = NULL, *err = NULL;
      int status;

      g_assert_true (g_spawn_command_line_sync (cmd, &out, &err, &status, NULL));
      g_test_message ("$ %s -> %s", cases[i].args, err);
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, cases[i].rc);
      g_assert_nonnull (strstr (err, cases[i].needle));
      g_free (out);
      g_free (err);
      g_free (cmd);
    }
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/onnx/structure", test_structure);
  g_test_add_func ("/onnx/disk-full", test_disk_full);
  g_test_add_func ("/onnx/cli-errors", test_cli_errors);
  g_test_add_func ("/onnx/archs", test_archs);
  g_test_add_func ("/onnx/parity/predict", test_predict);
  g_test_add_func ("/onnx/parity/onnxruntime", test_onnxruntime);
  g_test_add_func ("/onnx/parity/pytorch", test_pytorch);
  g_test_add_func ("/onnx/parity/preprocess", test_preprocess);
  rc = g_test_run ();
  if (T.ready)
    {
      ts_test_rmdir (T.dir);
      for (int i = 0; i < N_IMAGES; i++)
        g_free (T.images[i]);
      g_free (T.dir);
      g_free (T.model);
      g_free (T.onnx);
      g_free (T.input);
      g_free (T.probs);
      g_free (T.meta);
    }
  return rc;
}
