/* test-pth.c: PyTorch checkpoints read without Python (ts-pth.h). */
#include <math.h>
#include <string.h>

#include "ts-pth.h"
#include "ts-test.h"

static ts_pth *
open_fixture (const char *name)
{
  char *path = ts_test_fixture_path (name);
  ts_pth *p = NULL;
  ts_status s = ts_pth_open (path, &p);

  if (s != TS_OK)
    g_error ("%s: %s", path, ts_last_error ());
  g_free (path);
  return p;
}

static void
read_all (ts_pth *p, const char *name, float *dst, int64_t n)
{
  const ts_pth_entry *e = ts_pth_find (p, name);
  g_assert_nonnull (e);
  g_assert_cmpint (e->numel, ==, n);
  g_assert_cmpint (ts_pth_read_f32 (p, e, dst, n), ==, TS_OK);
}

static void
test_formats (void)
{
  ts_pth *p = open_fixture ("pth/formats.pth");
  const ts_pth_entry *e;
  float buf[12];
  const char *floats[] = { "a", "h", "bf", "d" };

  g_assert_cmpint (ts_pth_n_entries (p), ==, 8);
  for (size_t k = 0; k < G_N_ELEMENTS (floats); k++)
    {
      read_all (p, floats[k], buf, 12);
      for (int i = 0; i < 12; i++)
        g_assert_cmpfloat (buf[i], ==, i / 4.0f - 1.0f);
    }
  /* a transposed view: strides (1, 4) over a's storage */
  e = ts_pth_find (p, "t");
  g_assert_cmpint (e->ndim, ==, 2);
  g_assert_cmpint (e->shape[0], ==, 4);
  g_assert_cmpint (e->stride[0], ==, 1);
  read_all (p, "t", buf, 12);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 3; j++)
      g_assert_cmpfloat (buf[i * 3 + j], ==, (j * 4 + i) / 4.0f - 1.0f);
  /* a slice: storage offset 5 */
  e = ts_pth_find (p, "v");
  g_assert_cmpint (e->offset, ==, 5);
  read_all (p, "v", buf, 6);
  for (int i = 0; i < 6; i++)
    g_assert_cmpfloat (buf[i], ==, 5 + i);
  e = ts_pth_find (p, "n");
  g_assert_cmpint (e->ndim, ==, 0);
  g_assert_cmpint (e->dtype, ==, TS_PTH_I64);
  read_all (p, "n", buf, 1);
  g_assert_cmpfloat (buf[0], ==, 7);
  /* uint8 is parsed but refused when read, naming the tensor and its dtype */
  e = ts_pth_find (p, "u8");
  g_assert_cmpint (ts_pth_read_f32 (p, e, buf, 2), ==, TS_ERR_UNSUPPORTED);
  g_assert_nonnull (strstr (ts_last_error (), "'u8'"));
  g_assert_nonnull (strstr (ts_last_error (), "ByteStorage"));
  ts_pth_free (p);
}

static void
test_wrapped (void)
{
  ts_pth *p = open_fixture ("pth/wrapped.pth");
  float buf[12];

  g_assert_cmpint (ts_pth_n_entries (p), ==, 1);
  read_all (p, "w", buf, 12);
  g_assert_cmpfloat (buf[11], ==, 11 / 4.0f - 1.0f);
  ts_pth_free (p);
}

static void
expect_error (const char *fixture, ts_status want, const char *const *needles)
{
  char *path = ts_test_fixture_path (fixture);
  ts_pth *p = NULL;

  g_assert_cmpint (ts_pth_open (path, &p), ==, want);
  g_assert_null (p);
  g_test_message ("%s: %s", fixture, ts_last_error ());
  for (int i = 0; needles[i]; i++)
    if (strstr (ts_last_error (), needles[i]) == NULL)
      g_error ("'%s' not in: %s", needles[i], ts_last_error ());
  g_free (path);
}

static void
test_refused (void)
{
  const char *evil[] = { "refusing global", "system", "byte", NULL };
  const char *list[] = { "not a state_dict", "list", NULL };
  const char *legacy[] = { "legacy", NULL };
  const char *missing[] = { "No such file", NULL };

  expect_error ("pth/evil.pth", TS_ERR_UNSUPPORTED, evil);
  expect_error ("pth/list.pth", TS_ERR_FORMAT, list);
  expect_error ("pth/legacy.pth", TS_ERR_UNSUPPORTED, legacy);
  expect_error ("pth/does-not-exist.pth", TS_ERR_IO, missing);
}

static void
expect_pickle_error (const char *pkl, size_t n, ts_status want, const char *needle)
{
  ts_pth *p = NULL;

  g_assert_cmpint (ts_pth_parse_pickle ((const uint8_t *) pkl, n, "x.pkl", &p), ==, want);
  g_assert_null (p);
  g_test_message ("%s", ts_last_error ());
  if (strstr (ts_last_error (), needle) == NULL)
    g_error ("'%s' not in: %s", needle, ts_last_error ());
}

/* Hand-written pickles: an opcode torch.save never writes for a state_dict
 * (BINBYTES), a training checkpoint without tensors, a REDUCE of something
 * that is not an allowed function, and STOP on an unbalanced stack. */
static void
test_pickle_errors (void)
{
  static const char binbytes[] = "\x80\x02}q\x00(X\x01\x00\x00\x00" "aB\x03\x00\x00\x00" "abcu.";
  static const char no_tensors[] = "\x80\x02}X\x05\x00\x00\x00" "epochK\x03s.";
  static const char reduce_dict[] = "\x80\x02})R.";
  static const char two_left[] = "\x80\x02}}.";

  expect_pickle_error (binbytes, sizeof binbytes - 1, TS_ERR_UNSUPPORTED,
                       "unsupported pickle opcode 'B'");
  expect_pickle_error (binbytes, sizeof binbytes - 1, TS_ERR_UNSUPPORTED, "at byte 12");
  expect_pickle_error (no_tensors, sizeof no_tensors - 1, TS_ERR_FORMAT, "'epoch' (int)");
  expect_pickle_error (reduce_dict, sizeof reduce_dict - 1, TS_ERR_UNSUPPORTED, "REDUCE of a dict");
  expect_pickle_error (two_left, sizeof two_left - 1, TS_ERR_FORMAT, "STOP with 2 values");
}

/* Every prefix of a checkpoint and a run of corrupted copies: an error or a
 * valid result, never a crash (ASan checks the memory side). */
static void
test_truncated_and_corrupt (void)
{
  char *path = ts_test_fixture_path ("pth/formats.pth");
  gchar *bytes;
  gsize size;
  ts_pth *p;
  int ok = 0;
  guint32 seed = 12345;

  g_assert_true (g_file_get_contents (path, &bytes, &size, NULL));
  for (gsize n = 0; n < size; n += n < 64 ? 1 : 7)
    {
      g_assert_cmpint (ts_pth_parse ((const uint8_t *) bytes, n, "cut.pth", &p), !=, TS_OK);
      g_assert_null (p);
    }
  for (int round = 0; round < 400; round++)
    {
      guint8 *copy = g_memdup2 (bytes, size);
      for (int k = 0; k < 4; k++)
        {
          seed = seed * 1103515245u + 12345u;
          copy[(seed >> 8) % size] ^= (guint8) (1u << (seed % 8));
        }
      if (ts_pth_parse (copy, size, "corrupt.pth", &p) == TS_OK)
        {
          float buf[64];
          for (int i = 0; i < ts_pth_n_entries (p); i++)
            {
              const ts_pth_entry *e = ts_pth_entry_at (p, i);
              if (e->numel <= 64)
                (void) ts_pth_read_f32 (p, e, buf, e->numel);
            }
          ts_pth_free (p);
          ok++;
        }
      g_free (copy);
    }
  g_test_message ("%d of 400 corrupted copies still parsed", ok);
  g_free (bytes);
  g_free (path);
}

static float *
read_floats (const char *path, gsize *n)
{
  gchar *bytes;
  gsize size;

  g_assert_true (g_file_get_contents (path, &bytes, &size, NULL));
  *n = size / 4;
  return (float *) bytes;
}

static void
forward_and_compare (ts_model *m, const float *x, int batch, int size, const float *want,
                     int n_out, double tol)
{
  ts_backend *be = ts_model_backend (m);
  ts_tensor *xt = ts_tensor_new_4d (be, batch, 3, size, size), *logits;
  float *got = g_new (float, (gsize) batch * n_out);
  double worst = 0;

  g_assert_cmpint (ts_model_prepare (m, batch, size, size), ==, TS_OK);
  g_assert_cmpint (ts_tensor_from_host (xt, x, xt->numel), ==, TS_OK);
  g_assert_cmpint (ts_model_forward (m, xt, 0, &logits), ==, TS_OK);
  g_assert_cmpint (ts_tensor_to_host (logits, got, (int64_t) batch * n_out), ==, TS_OK);
  for (int i = 0; i < batch * n_out; i++)
    worst = fmax (worst, fabs (got[i] - want[i]));
  g_test_message ("largest |logit - PyTorch's| = %.3g", worst);
  g_assert_cmpfloat (worst, <, tol);
  g_free (got);
  ts_tensor_free (xt);
}

static void
test_tiny_logits (void)
{
  char *path = ts_test_fixture_path ("pth/tiny.pth"), *io = ts_test_fixture_path ("pth/tiny-io.bin");
  ts_backend *be = ts_backend_cpu_new (1);
  ts_model_config cfg = { "tiny", 4, TS_HEAD_ORIGINAL, 1 };
  ts_load_report r;
  ts_model *m;
  gsize n;
  float *data = read_floats (io, &n);

  g_assert_cmpint (n, ==, 2 * 3 * 32 * 32 + 2 * 4);
  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  if (ts_model_load_pth (m, path, TS_LOAD_STRICT, &r) != TS_OK)
    g_error ("%s", ts_last_error ());
  g_assert_cmpint (r.n_missing, ==, 0);
  g_assert_cmpint (r.n_unexpected, ==, 0);
  ts_load_report_clear (&r);
  forward_and_compare (m, data, 2, 32, data + 2 * 3 * 32 * 32, 4, 1e-4);
  ts_model_free (m);

  /* under fastai's head: the 4-way fc is dropped and listed, the head is missing */
  cfg.head = TS_HEAD_FASTAI;
  cfg.n_classes = 3;
  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  g_assert_cmpint (ts_model_load_pth (m, path, TS_LOAD_BACKBONE, &r), ==, TS_OK);
  g_assert_cmpint (r.n_unexpected, ==, 2);
  g_assert_cmpstr (r.unexpected[0], ==, "fc.weight");
  g_assert_cmpint (r.n_loaded, ==, 3 + 3 * 5);  /* convs; bn weight, bias, mean, var, count */
  g_assert_cmpint (r.n_missing, >, 0);
  ts_load_report_clear (&r);
  /* strict: the first missing head tensor is named */
  g_assert_cmpint (ts_model_load_pth (m, path, TS_LOAD_STRICT, NULL), ==, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (ts_last_error (), "no tensor '1."));
  ts_model_free (m);

  /* a checkpoint for another network: shapes named */
  cfg.arch = "resnet18";
  cfg.head = TS_HEAD_ORIGINAL;
  cfg.n_classes = 1000;
  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  g_assert_cmpint (ts_model_load_pth (m, path, TS_LOAD_BACKBONE, NULL), !=, TS_OK);
  g_test_message ("tiny.pth into resnet18: %s", ts_last_error ());
  g_assert_nonnull (strstr (ts_last_error (), "conv1.weight"));
  ts_model_free (m);
  ts_backend_free (be);
  g_free (data);
  g_free (path);
  g_free (io);
}

static int
have_torch (void)
{
  int status = 1;
  gboolean ran = g_spawn_command_line_sync ("/usr/bin/python3 -c 'import torch, torchvision'",
                                            NULL, NULL, &status, NULL);
  return ran && g_spawn_check_wait_status (status, NULL);
}

/* A torchvision checkpoint written by PyTorch gives PyTorch's logits. */
static void
test_torchvision (gconstpointer data)
{
  const char *arch = data;
  char *dir, *cmd, *script, *pth, *xin, *yout, *err = NULL;
  ts_backend *be;
  ts_model_config cfg = { arch, 1000, TS_HEAD_ORIGINAL, 1 };
  ts_model *m;
  ts_load_report r;
  float *x, *y;
  gsize nx, ny;
  int status;

  if (!have_torch ())
    {
      g_test_skip ("/usr/bin/python3 has no torch + torchvision");
      return;
    }
  dir = ts_test_tmpdir ();
  script = g_test_build_filename (G_TEST_DIST, "reference", "make_pth_fixtures.py", NULL);
  cmd = g_strdup_printf ("/usr/bin/python3 %s model %s %s 64", script, arch, dir);
  g_assert_true (g_spawn_command_line_sync (cmd, NULL, &err, &status, NULL));
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s: %s", cmd, err);
  pth = g_strdup_printf ("%s/%s.pth", dir, arch);
  xin = g_build_filename (dir, "input.bin", NULL);
  yout = g_build_filename (dir, "logits.bin", NULL);
  x = read_floats (xin, &nx);
  y = read_floats (yout, &ny);
  g_assert_cmpint (nx, ==, 2 * 3 * 64 * 64);
  g_assert_cmpint (ny, ==, 2 * 1000);

  be = ts_backend_cpu_new (2);
  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  if (ts_model_load_pth (m, pth, TS_LOAD_STRICT, &r) != TS_OK)
    g_error ("%s", ts_last_error ());
  g_assert_cmpint (r.n_missing + r.n_unexpected, ==, 0);
  ts_load_report_clear (&r);
  forward_and_compare (m, x, 2, 64, y, 1000, 1e-4);
  ts_model_free (m);

  /* --pretrained: the body under fastai's head, the 1000-way classifier dropped */
  cfg.head = TS_HEAD_FASTAI;
  cfg.n_classes = 3;
  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  g_assert_cmpint (ts_model_load_pretrained_any (m, pth, NULL, &r), ==, TS_OK);
  g_assert_cmpint (r.n_unexpected, ==, 2);
  {
    /* the body's first convolution holds the checkpoint's values */
    ts_pth *p;
    const ts_pth_entry *e;
    ts_tensor *t = ts_model_find_tensor (m, strcmp (arch, "resnet18") == 0
                                              ? "0.conv1.weight" : "0.features.0.0.weight");
    float *want, *got;
    g_assert_nonnull (t);
    g_assert_cmpint (ts_pth_open (pth, &p), ==, TS_OK);
    e = ts_pth_find (p, strcmp (arch, "resnet18") == 0 ? "conv1.weight" : "features.0.0.weight");
    g_assert_nonnull (e);
    want = g_new (float, e->numel);
    got = g_new (float, t->numel);
    g_assert_cmpint (ts_pth_read_f32 (p, e, want, e->numel), ==, TS_OK);
    g_assert_cmpint (ts_tensor_to_host (t, got, t->numel), ==, TS_OK);
    g_assert_cmpint (memcmp (want, got, (size_t) t->numel * sizeof (float)), ==, 0);
    g_free (want);
    g_free (got);
    ts_pth_free (p);
  }
  g_test_message ("%s under fastai's head: %d loaded, %d missing (head), unexpected %s, %s",
                  arch, r.n_loaded, r.n_missing, r.unexpected[0], r.unexpected[1]);
  ts_load_report_clear (&r);
  ts_model_free (m);
  ts_backend_free (be);

  ts_test_rmdir (dir);
  g_free (x);
  g_free (y);
  g_free (err);
  g_free (pth);
  g_free (xin);
  g_free (yout);
  g_free (cmd);
  g_free (script);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pth/formats", test_formats);
  g_test_add_func ("/pth/wrapped", test_wrapped);
  g_test_add_func ("/pth/refused", test_refused);
  g_test_add_func ("/pth/pickle-errors", test_pickle_errors);
  g_test_add_func ("/pth/truncated-and-corrupt", test_truncated_and_corrupt);
  g_test_add_func ("/pth/tiny-logits", test_tiny_logits);
  g_test_add_data_func ("/pth/torchvision/resnet18", "resnet18", test_torchvision);
  g_test_add_data_func ("/pth/torchvision/mobilenet_v2", "mobilenet_v2", test_torchvision);
  return g_test_run ();
}
