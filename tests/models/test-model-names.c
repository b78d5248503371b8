/* test-model-names: every architecture has torchvision's (and fastai's)
 * parameter and buffer names, shapes and order, compared with the lists
 * tests/reference/make_model_fixtures.py dumped from PyTorch; and the
 * body/head split, freezing and counting behave as fastai's. */
#include <math.h>
#include <string.h>

#include "ts-model.h"
#include "ts-test.h"

static ts_backend *be;

static void
check_names (const char *arch, const char *label)
{
  char *path = g_strdup_printf ("models/names-%s.txt", arch);
  char *fixture = ts_test_fixture_path (path);
  char *text = NULL, **lines;
  ts_model_config cfg = { arch, 5, TS_HEAD_FASTAI, 1 };
  ts_model *m = NULL;
  int ip = 0, ib = 0;
  int64_t expect_count = -1;
  GError *error = NULL;

  if (strcmp (label, "original") == 0)
    {
      cfg.head = TS_HEAD_ORIGINAL;
      cfg.n_classes = 1000;
    }
  g_assert_true (g_file_get_contents (fixture, &text, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);

  lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      char **f;
      ts_tensor *t;
      char shape[64] = "";

      if (g_str_has_prefix (*l, "# "))
        {
          char *tag = g_strdup_printf ("# %s %s params=", arch, label);
          if (g_str_has_prefix (*l, tag))
            expect_count = g_ascii_strtoll (*l + strlen (tag), NULL, 10);
          g_free (tag);
          continue;
        }
      f = g_strsplit (*l, " ", -1);
      if (g_strv_length (f) != 4 || strcmp (f[0], label) != 0)
        {
          g_strfreev (f);
          continue;
        }
      if (strcmp (f[3], "param") == 0)
        {
          ts_param *p = ts_model_param (m, ip++);
          g_assert_nonnull (p);
          g_assert_cmpstr (p->name, ==, f[1]);
          t = p->value;
        }
      else
        {
          ts_buffer *b = ts_model_buffer (m, ib++);
          g_assert_nonnull (b);
          g_assert_cmpstr (b->name, ==, f[1]);
          t = b->value;
        }
      for (int d = 0; d < t->ndim; d++)
        g_snprintf (shape + strlen (shape), sizeof shape - strlen (shape), "%s%lld",
                    d ? "x" : "", (long long) t->shape[d]);
      g_assert_cmpstr (shape, ==, f[2]);
      g_strfreev (f);
    }
  g_assert_cmpint (ip, ==, ts_model_n_params (m));
  g_assert_cmpint (ib, ==, ts_model_n_buffers (m));
  g_assert_cmpint (expect_count, >, 0);
  g_assert_cmpint (ts_model_count (m, 0), ==, expect_count);
  g_test_message ("%s %s: %d params, %d buffers, %lld values", arch, label, ip, ib,
                  (long long) expect_count);
  g_strfreev (lines);
  g_free (text);
  g_free (fixture);
  g_free (path);
  ts_model_free (m);
}

static void
test_names (gconstpointer data)
{
  check_names (data, "original");
  check_names (data, "fastai");
}

static void
test_resnet18_count (void)
{
  ts_model_config cfg = { "resnet18", 0, TS_HEAD_ORIGINAL, 0 };
  ts_model *m;

  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  g_assert_cmpint (ts_model_count (m, 0), ==, 11689512);
  g_assert_cmpint (ts_model_n_classes (m), ==, 1000);
  ts_model_free (m);
}

static void
test_groups_and_freeze (void)
{
  ts_model_config cfg = { "resnet18", 3, TS_HEAD_FASTAI, 0 };
  ts_model *m;
  int64_t head = 0, bn = 0;

  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  g_assert_cmpint (ts_model_n_groups (m), ==, 3);
  for (int i = 0; i < ts_model_n_params (m); i++)
    {
      ts_param *p = ts_model_param (m, i);
      int expect = g_str_has_prefix (p->name, "1.") ? 2
                   : (g_str_has_prefix (p->name, "0.layer3") ||
                      g_str_has_prefix (p->name, "0.layer4")) ? 1 : 0;
      g_assert_cmpint (p->group, ==, expect);
      g_assert_true (p->trainable);
      if (expect == 2)
        head += p->value->numel;
      else if (p->kind == TS_PARAM_BN)
        bn += p->value->numel;
      /* fastai's wd_bn_bias=False needs the kinds right */
      if (strstr (p->name, "bn") || strstr (p->name, "downsample.1"))
        g_assert_cmpint (p->kind, ==, TS_PARAM_BN);
      else if (g_str_has_suffix (p->name, ".weight") && !g_str_has_prefix (p->name, "1.2") &&
               !g_str_has_prefix (p->name, "1.6"))
        g_assert_cmpint (p->kind, ==, TS_PARAM_WEIGHT);
    }
  ts_model_freeze_to (m, -1);
  g_assert_cmpint (ts_model_count (m, 1), ==, head + bn);
  for (int i = 0; i < ts_model_n_params (m); i++)
    {
      ts_param *p = ts_model_param (m, i);
      g_assert_cmpint (p->trainable, ==, p->group == 2 || p->kind == TS_PARAM_BN);
    }
  ts_model_freeze_to (m, 1);
  for (int i = 0; i < ts_model_n_params (m); i++)
    {
      ts_param *p = ts_model_param (m, i);
      g_assert_cmpint (p->trainable, ==, p->group >= 1 || p->kind == TS_PARAM_BN);
    }
  ts_model_unfreeze (m);
  g_assert_cmpint (ts_model_count (m, 1), ==, ts_model_count (m, 0));
  ts_model_free (m);

  /* mobilenet_v2: features split in two halves + head */
  cfg.arch = "mobilenet_v2";
  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  g_assert_cmpint (ts_model_param (m, 0)->group, ==, 0);
  for (int i = 0; i < ts_model_n_params (m); i++)
    {
      ts_param *p = ts_model_param (m, i);
      if (g_str_has_prefix (p->name, "0.features.9."))
        g_assert_cmpint (p->group, ==, 0);
      if (g_str_has_prefix (p->name, "0.features.10.") ||
          g_str_has_prefix (p->name, "0.features.18."))
        g_assert_cmpint (p->group, ==, 1);
    }
  ts_model_free (m);
}

static double
stddev (ts_tensor *t)
{
  float *h = g_new (float, t->numel);
  double s = 0, s2 = 0;

  g_assert_cmpint (ts_tensor_to_host (t, h, t->numel), ==, TS_OK);
  for (int64_t i = 0; i < t->numel; i++)
    {
      s += h[i];
      s2 += (double) h[i] * h[i];
    }
  g_free (h);
  s /= t->numel;
  return sqrt (s2 / t->numel - s * s);
}

static void
head_of (ts_tensor *t, float *dst, int n)
{
  float *h = g_new (float, t->numel);
  g_assert_cmpint (ts_tensor_to_host (t, h, t->numel), ==, TS_OK);
  memcpy (dst, h, (size_t) n * sizeof (float));
  g_free (h);
}

static void
test_init (void)
{
  ts_model_config cfg = { "resnet18", 4, TS_HEAD_FASTAI, 3 };
  ts_model *m, *m2;
  double sd;
  float a[8], b[8];

  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  /* torchvision: kaiming_normal_ fan_out: std sqrt(2 / (64*3*3)) */
  sd = stddev (ts_model_find_tensor (m, "0.layer1.0.conv1.weight"));
  g_assert_cmpfloat (fabs (sd - sqrt (2.0 / 576)), <, 0.02 * sqrt (2.0 / 576));
  /* fastai head: kaiming_normal_ fan_in: std sqrt(2 / 1024) */
  sd = stddev (ts_model_find_tensor (m, "1.4.weight"));
  g_assert_cmpfloat (fabs (sd - sqrt (2.0 / 1024)), <, 0.02 * sqrt (2.0 / 1024));
  g_assert_cmpfloat (stddev (ts_model_find_tensor (m, "1.2.weight")), ==, 0.0);
  head_of (ts_model_find_tensor (m, "1.2.weight"), a, 1);
  g_assert_cmpfloat (a[0], ==, 1.0f);
  /* same seed, same weights; another seed, others */
  g_assert_cmpint (ts_model_new (be, &cfg, &m2), ==, TS_OK);
  head_of (ts_model_find_tensor (m, "0.conv1.weight"), a, 8);
  head_of (ts_model_find_tensor (m2, "0.conv1.weight"), b, 8);
  g_assert_cmpmem (a, sizeof a, b, sizeof b);
  ts_model_free (m2);
  cfg.seed = 4;
  g_assert_cmpint (ts_model_new (be, &cfg, &m2), ==, TS_OK);
  head_of (ts_model_find_tensor (m2, "0.conv1.weight"), b, 8);
  g_assert_true (memcmp (a, b, sizeof a) != 0);
  ts_model_free (m2);
  ts_model_free (m);
}

static void
test_bad_config (void)
{
  ts_model_config cfg = { "resnet19", 3, TS_HEAD_FASTAI, 0 };
  ts_model *m = NULL;

  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_ERR_INVALID);
  g_assert_null (m);
  g_assert_nonnull (strstr (ts_last_error (), "resnet19"));
  cfg.arch = "tiny";
  cfg.n_classes = 0;
  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_ERR_INVALID);
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  be = ts_backend_cpu_new (1);
  g_test_add_data_func ("/models/names/resnet18", "resnet18", test_names);
  g_test_add_data_func ("/models/names/resnet34", "resnet34", test_names);
  g_test_add_data_func ("/models/names/resnet50", "resnet50", test_names);
  g_test_add_data_func ("/models/names/mobilenet_v2", "mobilenet_v2", test_names);
  g_test_add_func ("/models/resnet18-count", test_resnet18_count);
  g_test_add_func ("/models/groups-freeze", test_groups_and_freeze);
  g_test_add_func ("/models/init", test_init);
  g_test_add_func ("/models/bad-config", test_bad_config);
  rc = g_test_run ();
  ts_backend_free (be);
  return rc;
}
