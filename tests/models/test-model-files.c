/* test-model-files: JSON, safetensors (round trip, F16/BF16/I64 reading,
 * truncated and corrupt files), loading weights by name (torchvision names
 * under fastai's head, missing/unexpected keys, shape mismatches) and the
 * Tagsight model file (round trip, atomic save, corrupt files). */
#include <math.h>
#include <string.h>

#include "ts-json.h"
#include "ts-model.h"
#include "ts-modelfile.h"
#include "ts-safetensors.h"
#include "ts-test.h"
#include "ts-weights.h"

static ts_backend *be;

static void
test_json (void)
{
  const char *ok = " {\"a\": [1, -2.5e3, true, false, null], "
                   "\"s\": \"x\\\"\\n\\u00e9\\ud83d\\ude00\","
                   " \"o\": {}, \"big\": 1234567890123} ";
  const char *bad[] = { "", "{", "{\"a\":}", "[1,]", "\"abc", "{\"a\" 1}", "01x", "[1] 2",
                        "\"\\x\"", "\"\\u12\"", "tru", "{\"a\":[1,2}", "-", "1.", "\"\x01\"" };
  ts_json *j;
  char deep[300];

  g_assert_cmpint (ts_json_parse (ok, strlen (ok), "t", &j), ==, TS_OK);
  g_assert_cmpint (j->type, ==, TS_JSON_OBJECT);
  g_assert_cmpint (ts_json_get (j, "a")->len, ==, 5);
  g_assert_cmpfloat (ts_json_get (j, "a")->items[1].number, ==, -2500.0);
  g_assert_true (ts_json_get (j, "a")->items[2].boolean);
  g_assert_cmpstr (ts_json_get (j, "s")->string, ==, "x\"\n\xc3\xa9\xf0\x9f\x98\x80");
  g_assert_cmpint (ts_json_get (j, "big")->integer, ==, 1234567890123LL);
  g_assert_true (ts_json_get (j, "big")->is_integer);
  g_assert_null (ts_json_get (j, "missing"));
  ts_json_free (j);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_assert_cmpint (ts_json_parse (bad[i], strlen (bad[i]), "bad", &j), ==, TS_ERR_FORMAT);
      g_assert_null (j);
      g_assert_nonnull (strstr (ts_last_error (), "at byte"));
    }
  memset (deep, '[', sizeof deep);
  g_assert_cmpint (ts_json_parse (deep, sizeof deep, "deep", &j), ==, TS_ERR_FORMAT);
  /* duplicate keys: the error names the key and where its second copy starts */
  {
    const char *dup = "{\"a\":1,\"b\":{\"x\":1,\"y\":2,\"x\":3},\"c\":2}";
    const char *dup2 = "{\"k\":1,\"z\":0,\"k\":2,\"z\":1}";
    const char *nul = "{\"a\":1,\"a\\u0000\":2}";
    const char *twins = "{\"ab\":1,\"a\":{\"b\":1},\"b\":{\"a\":1,\"b\":2}}";
    g_assert_cmpint (ts_json_parse (dup, strlen (dup), "dup", &j), ==, TS_ERR_FORMAT);
    g_assert_null (j);
    g_assert_cmpstr (ts_last_error (), ==, "dup: invalid JSON: duplicate key \"x\" at byte 24");
    g_assert_cmpint (ts_json_parse (dup2, strlen (dup2), "dup2", &j), ==, TS_ERR_FORMAT);
    g_assert_cmpstr (ts_last_error (), ==, "dup2: invalid JSON: duplicate key \"k\" at byte 13");
    /* lookups compare C strings, so an embedded NUL does not make a new key */
    g_assert_cmpint (ts_json_parse (nul, strlen (nul), "nul", &j), ==, TS_ERR_FORMAT);
    /* same key in different objects, and keys that are prefixes of each other, are fine */
    g_assert_cmpint (ts_json_parse (twins, strlen (twins), "twins", &j), ==, TS_OK);
    g_assert_cmpint (j->len, ==, 3);
    ts_json_free (j);
  }
  {
    ts_strbuf b = { 0 };
    ts_strbuf_json_string (&b, "a\"b\\c\n\x01");
    g_assert_cmpstr (b.data, ==, "\"a\\\"b\\\\c\\n\\u0001\"");
    ts_strbuf_clear (&b);
  }
}

static char *
write_sample (const char *dir)
{
  char *path = g_build_filename (dir, "sample.safetensors", NULL);
  float a[6] = { 1, 2, 3, 4, 5, 6 }, b[1] = { -0.5f }, c[4] = { 1e-30f, -1e30f, 0.0f, 7.25f };
  int64_t sa[2] = { 2, 3 }, sb[1] = { 1 }, sc[4] = { 1, 1, 2, 2 };
  ts_st_tensor t[3] = { { "a.weight", 2, sa, a }, { "b", 1, sb, b }, { "c \"quoted\"", 4, sc, c } };
  const char *kv[] = { "format", "pt", "note", "line\nbreak \"q\"" };

  g_assert_cmpint (ts_safetensors_write (path, t, 3, kv, 2), ==, TS_OK);
  return path;
}

static void
test_safetensors_roundtrip (void)
{
  char *dir = ts_test_tmpdir (), *path = write_sample (dir);
  ts_safetensors *st;
  const ts_st_entry *e;
  float v[6];
  GDir *d;
  const char *name;
  int n_files = 0;

  g_assert_cmpint (ts_safetensors_open (path, &st), ==, TS_OK);
  g_assert_cmpint (st->n_entries, ==, 3);
  g_assert_cmpint ((st->data - st->file) % 8, ==, 0);
  g_assert_cmpstr (ts_safetensors_meta (st, "note"), ==, "line\nbreak \"q\"");
  g_assert_null (ts_safetensors_meta (st, "nope"));
  e = ts_safetensors_find (st, "a.weight");
  g_assert_nonnull (e);
  g_assert_cmpint (e->ndim, ==, 2);
  g_assert_cmpint (e->shape[1], ==, 3);
  g_assert_cmpint (ts_safetensors_read_f32 (st, e, v, 6), ==, TS_OK);
  g_assert_cmpfloat (v[5], ==, 6.0f);
  g_assert_cmpint (ts_safetensors_read_f32 (st, e, v, 5), ==, TS_ERR_SHAPE);
  e = ts_safetensors_find (st, "c \"quoted\"");
  g_assert_nonnull (e);
  g_assert_cmpint (ts_safetensors_read_f32 (st, e, v, 4), ==, TS_OK);
  g_assert_cmpfloat (v[0], ==, 1e-30f);
  g_assert_cmpfloat (v[1], ==, -1e30f);
  ts_safetensors_free (st);

  /* a failed save (the target is a directory) leaves no temporary file behind */
  {
    char *sub = g_build_filename (dir, "sub", NULL);
    float x = 1;
    int64_t s1 = 1;
    ts_st_tensor t = { "x", 1, &s1, &x };
    g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
    g_assert_cmpint (ts_safetensors_write (sub, &t, 1, NULL, 0), ==, TS_ERR_IO);
    g_assert_true (g_file_test (sub, G_FILE_TEST_IS_DIR));
    g_free (sub);
    sub = g_build_filename (dir, "no-such-dir", "x.safetensors", NULL);
    g_assert_cmpint (ts_safetensors_write (sub, &t, 1, NULL, 0), ==, TS_ERR_IO);
    g_free (sub);
  }
  d = g_dir_open (dir, 0, NULL);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_assert_null (strstr (name, ".tmp-"));
      n_files++;
    }
  g_dir_close (d);
  g_assert_cmpint (n_files, ==, 2);
  ts_test_rmdir (dir);
  g_free (path);
  g_free (dir);
}

/* A file as other writers make it: F16, BF16, I64 and F64 tensors. */
static void
test_safetensors_dtypes (void)
{
  const char *header = "{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]},"
                       "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[6,10]},"
                       "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[10,18]},"
                       "\"d\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[18,26]},"
                       "\"u\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[26,28]}}";
  guint8 data[28] = {
    0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00,        /* F16: 1, -2, smallest subnormal */
    0x80, 0x3f, 0x49, 0x40,                    /* BF16: 1, 3.140625 */
    42, 0, 0, 0, 0, 0, 0, 0,                   /* I64: 42 */
    0, 0, 0, 0, 0, 0, 0xe0, 0x3f,              /* F64: 0.5 */
    1, 2,
  };
  gsize hlen = strlen (header), n = 8 + hlen + sizeof data;
  guint8 *buf = g_malloc (n);
  ts_safetensors *st;
  float v[3];

  for (int i = 0; i < 8; i++)
    buf[i] = (guint8) (((guint64) hlen) >> (8 * i));
  memcpy (buf + 8, header, hlen);
  memcpy (buf + 8 + hlen, data, sizeof data);
  g_assert_cmpint (ts_safetensors_parse (buf, n, "dtypes", &st), ==, TS_OK);
  g_assert_cmpint (ts_safetensors_read_f32 (st, ts_safetensors_find (st, "h"), v, 3), ==, TS_OK);
  g_assert_cmpfloat (v[0], ==, 1.0f);
  g_assert_cmpfloat (v[1], ==, -2.0f);
  g_assert_cmpfloat (v[2], ==, ldexpf (1.0f, -24));
  g_assert_cmpint (ts_safetensors_read_f32 (st, ts_safetensors_find (st, "b"), v, 2), ==, TS_OK);
  g_assert_cmpfloat (v[1], ==, 3.140625f);
  g_assert_cmpint (ts_safetensors_read_f32 (st, ts_safetensors_find (st, "n"), v, 1), ==, TS_OK);
  g_assert_cmpfloat (v[0], ==, 42.0f);
  g_assert_cmpint (ts_safetensors_read_f32 (st, ts_safetensors_find (st, "d"), v, 1), ==, TS_OK);
  g_assert_cmpfloat (v[0], ==, 0.5f);
  g_assert_cmpint (ts_safetensors_read_f32 (st, ts_safetensors_find (st, "u"), v, 2), ==,
                   TS_ERR_UNSUPPORTED);
  ts_safetensors_free (st);
  g_free (buf);
  g_assert_cmpfloat (ts_half_to_float (0x7c00), ==, INFINITY);
  g_assert_cmpfloat (ts_half_to_float (0x3555), ==, 0.333251953125f);
}

static void
expect_bad (const guint8 *buf, gsize n, const char *what)
{
  ts_safetensors *st = (ts_safetensors *) 0x1;
  ts_status s = ts_safetensors_parse (buf, n, what, &st);
  if (s == TS_OK)
    g_error ("%s: accepted", what);
  g_assert_null (st);
  g_assert_cmpint (s, ==, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (ts_last_error (), what));
}

static void
test_safetensors_corrupt (void)
{
  char *dir = ts_test_tmpdir (), *path = write_sample (dir);
  guint8 *bytes, *copy;
  gsize len;
  const char *headers[] = {
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}",       /* wrong size */
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,400]}}",     /* past the end */
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}",       /* reversed */
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",      /* negative dim */
    "{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}",        /* unknown dtype */
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}",                              /* no offsets */
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}",
    "{\"__metadata__\":{\"k\":1}}",                                           /* non-string */
    /* two metadata blocks once overflowed the metadata arrays (ASan) */
    "{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\"},\"__metadata__\":{\"c\":\"3\"}}",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",       /* same name */
    "[1, 2]",
    "{garbage",
  };

  g_assert_true (g_file_get_contents (path, (char **) &bytes, &len, NULL));
  /* every truncation fails: header offsets, mid-header, mid-data, one byte short */
  for (gsize cut = 0; cut < len; cut += (cut < 64 ? 1 : 37))
    expect_bad (bytes, cut, "sample");
  expect_bad (bytes, len - 1, "sample");
  for (gsize i = 0; i < G_N_ELEMENTS (headers); i++)
    {
      gsize hl = strlen (headers[i]), n = 8 + hl + 8;
      copy = g_malloc0 (n);
      for (int k = 0; k < 8; k++)
        copy[k] = (guint8) (((guint64) hl) >> (8 * k));
      memcpy (copy + 8, headers[i], hl);
      expect_bad (copy, n, "crafted");
      g_free (copy);
    }
  /* a header length larger than the file, and an absurd one */
  copy = g_memdup2 (bytes, len);
  copy[0] = 0xff;
  copy[1] = 0xff;
  expect_bad (copy, len, "sample");
  memset (copy, 0xff, 8);
  expect_bad (copy, len, "sample");
  /* random damage inside the header: errors or a valid parse, never a crash */
  for (int trial = 0; trial < 300; trial++)
    {
      GRand *r = g_rand_new_with_seed ((guint32) trial);
      ts_safetensors *st;
      memcpy (copy, bytes, len);
      copy[8 + g_rand_int_range (r, 0, (gint32) (bytes[0] | bytes[1] << 8))] =
        (guint8) g_rand_int_range (r, 0, 256);
      if (ts_safetensors_parse (copy, len, "damaged", &st) == TS_OK)
        {
          for (int i = 0; i < st->n_entries; i++)
            if (st->entries[i].numel < 1000)
              {
                float v[1000];
                ts_safetensors_read_f32 (st, &st->entries[i], v, st->entries[i].numel);
              }
          ts_safetensors_free (st);
        }
      g_rand_free (r);
    }
  g_free (copy);
  {
    ts_safetensors *st;
    g_assert_cmpint (ts_safetensors_open ("/nonexistent/x.safetensors", &st), ==, TS_ERR_IO);
    g_assert_null (st);
  }
  g_free (bytes);
  ts_test_rmdir (dir);
  g_free (path);
  g_free (dir);
}

static void
randomise (ts_model *m, guint32 seed)
{
  GRand *r = g_rand_new_with_seed (seed);
  int np = ts_model_n_params (m);
  for (int i = 0; i < np + ts_model_n_buffers (m); i++)
    {
      ts_tensor *t = i < np ? ts_model_param (m, i)->value : ts_model_buffer (m, i - np)->value;
      float *h = g_new (float, t->numel);
      for (int64_t k = 0; k < t->numel; k++)
        h[k] = (float) g_rand_double_range (r, 0.5, 1.5);
      g_assert_cmpint (ts_tensor_from_host (t, h, t->numel), ==, TS_OK);
      g_free (h);
    }
  g_rand_free (r);
}

static float *
tensor_host (ts_tensor *t)
{
  float *h = g_new (float, t->numel);
  g_assert_cmpint (ts_tensor_to_host (t, h, t->numel), ==, TS_OK);
  return h;
}

static void
test_weights_by_name (void)
{
  char *dir = ts_test_tmpdir ();
  char *path = g_build_filename (dir, "tv.safetensors", NULL);
  ts_model_config tv = { "tiny", 10, TS_HEAD_ORIGINAL, 1 }, fa = { "tiny", 3, TS_HEAD_FASTAI, 2 };
  ts_model *a, *b;
  ts_modelfile_meta meta = { 0 };
  ts_load_report rep;
  float *x, *y;

  /* a torchvision-named file (its own classifier "fc") into a fastai model */
  g_assert_cmpint (ts_model_new (be, &tv, &a), ==, TS_OK);
  randomise (a, 7);
  meta.threshold = 0.5f;
  meta.input_height = meta.input_width = 32;
  g_assert_cmpint (ts_modelfile_save (path, a, &meta), ==, TS_OK);
  g_assert_cmpint (ts_model_new (be, &fa, &b), ==, TS_OK);
  g_assert_cmpint (ts_model_load_safetensors (b, path, TS_LOAD_BACKBONE, &rep), ==, TS_OK);
  g_assert_cmpint (rep.n_unexpected, ==, 2);          /* fc.weight, fc.bias */
  /* the head: 2 batch norms (4 params + 6 buffers) + 2 linears */
  g_assert_cmpint (rep.n_missing, ==, 12);
  g_assert_cmpint (rep.n_loaded, ==, ts_model_n_params (a) + ts_model_n_buffers (a) - 2);
  x = tensor_host (ts_model_find_tensor (a, "conv2.weight"));
  y = tensor_host (ts_model_find_tensor (b, "0.conv2.weight"));
  g_assert_cmpmem (x, 16 * 8 * 9 * 4, y, 16 * 8 * 9 * 4);
  g_free (x);
  g_free (y);
  ts_load_report_clear (&rep);
  /* strict mode refuses the same file */
  g_assert_cmpint (ts_model_load_safetensors (b, path, TS_LOAD_STRICT, NULL), !=, TS_OK);
  ts_model_free (b);

  /* and the other way: fastai names into a torchvision model */
  g_assert_cmpint (ts_model_new (be, &fa, &b), ==, TS_OK);
  randomise (b, 9);
  meta.n_vocab = 3;
  meta.vocab = (char *[]) { "a", "b", "c" };
  g_assert_cmpint (ts_modelfile_save (path, b, &meta), ==, TS_OK);
  g_assert_cmpint (ts_model_load_safetensors (a, path, TS_LOAD_BACKBONE, &rep), ==, TS_OK);
  g_assert_cmpint (rep.n_missing, ==, 2);
  ts_load_report_clear (&rep);
  ts_model_free (b);

  /* a shape mismatch names the tensor and both shapes */
  fa.arch = "resnet18";
  g_assert_cmpint (ts_model_new (be, &fa, &b), ==, TS_OK);
  g_assert_cmpint (ts_model_load_safetensors (b, path, TS_LOAD_BACKBONE, NULL), ==, TS_ERR_SHAPE);
  g_test_message ("%s", ts_last_error ());
  g_assert_nonnull (strstr (ts_last_error (), "conv1.weight'"));
  g_assert_nonnull (strstr (ts_last_error (), "expected [64, 3, 7, 7], found [8, 3, 3, 3]"));
  ts_model_free (b);
  /* missing body tensors fail, naming the first */
  fa.arch = "mobilenet_v2";
  g_assert_cmpint (ts_model_new (be, &fa, &b), ==, TS_OK);
  g_assert_cmpint (ts_model_load_safetensors (b, path, TS_LOAD_BACKBONE, NULL), ==, TS_ERR_FORMAT);
  g_assert_nonnull (strstr (ts_last_error (), "0.features.0.0.weight"));
  ts_model_free (b);
  ts_model_free (a);
  ts_test_rmdir (dir);
  g_free (path);
  g_free (dir);
}

/* Fine-tuning a Tagsight model on another class list: the body loads, the
 * classifier of the other size is dropped and reported, and the new model
 * keeps its own freshly initialised classifier. */
static void
test_weights_other_head (void)
{
  char *dir = ts_test_tmpdir ();
  char *path = g_build_filename (dir, "eight.safetensors", NULL);
  ts_model_config c8 = { "tiny", 8, TS_HEAD_FASTAI, 3 }, c2 = { "tiny", 2, TS_HEAD_FASTAI, 4 };
  ts_model *a, *b;
  ts_modelfile_meta meta = { 0 };
  ts_load_report rep;
  ts_param *last;
  float *before, *after, *x, *y;

  g_assert_cmpint (ts_model_new (be, &c8, &a), ==, TS_OK);
  randomise (a, 11);
  meta.threshold = 0.5f;
  meta.input_height = meta.input_width = 32;
  meta.n_vocab = 8;
  meta.vocab = (char *[]) { "a", "b", "c", "d", "e", "f", "g", "h" };
  g_assert_cmpint (ts_modelfile_save (path, a, &meta), ==, TS_OK);

  g_assert_cmpint (ts_model_new (be, &c2, &b), ==, TS_OK);
  last = ts_model_param (b, ts_model_n_params (b) - 1);
  before = tensor_host (last->value);
  g_assert_cmpint (ts_model_load_safetensors (b, path, TS_LOAD_BACKBONE, &rep), ==, TS_OK);
  /* the final linear (fastai's has no bias), nothing else */
  g_assert_cmpint (rep.n_dropped, ==, 1);
  g_assert_cmpstr (rep.dropped[0], ==, last->name);
  g_assert_true (g_str_has_suffix (last->name, ".weight"));
  g_assert_cmpint (rep.n_missing, ==, 1);
  g_assert_cmpint (rep.n_unexpected, ==, 1);
  g_assert_cmpint (rep.n_loaded, ==, ts_model_n_params (b) + ts_model_n_buffers (b) - 1);
  after = tensor_host (last->value);
  g_assert_cmpmem (before, 2 * sizeof (float), after, 2 * sizeof (float));
  x = tensor_host (ts_model_find_tensor (a, "0.conv2.weight"));
  y = tensor_host (ts_model_find_tensor (b, "0.conv2.weight"));
  g_assert_cmpmem (x, 16 * 8 * 9 * 4, y, 16 * 8 * 9 * 4);
  g_free (x);
  g_free (y);
  g_free (before);
  g_free (after);
  ts_load_report_clear (&rep);
  g_assert_cmpint (rep.n_dropped, ==, 0);
  g_assert_null (rep.dropped);
  /* strict loading still refuses the other classifier, naming it */
  g_assert_cmpint (ts_model_load_safetensors (b, path, TS_LOAD_STRICT, NULL), ==, TS_ERR_SHAPE);
  g_assert_nonnull (strstr (ts_last_error (), "expected [2, "));
  /* and what `train --pretrained` calls */
  g_assert_cmpint (ts_model_load_pretrained (b, path, NULL), ==, TS_OK);
  ts_model_free (b);
  ts_model_free (a);
  ts_test_rmdir (dir);
  g_free (path);
  g_free (dir);
}

static void
test_modelfile (void)
{
  char *dir = ts_test_tmpdir ();
  char *path = g_build_filename (dir, "m.safetensors", NULL);
  ts_model_config cfg = { "tiny", 3, TS_HEAD_FASTAI, 5 };
  ts_model *m, *m2;
  ts_modelfile_meta meta = { 0 }, got;
  char *vocab[3] = { "Platelets", "RBC", "W\"BC" };
  float thr[3] = { 0.1f, 0.25f, 0.9f };
  ts_tensor *x, *l1, *l2;
  float *h, *a, *b;
  guint8 *bytes;
  gsize len;
  int n_rejected = 0;

  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  randomise (m, 3);
  meta.vocab = vocab;
  meta.n_vocab = 3;
  meta.input_height = 24;
  meta.input_width = 32;
  meta.norm = ts_normalization_imagenet ();
  meta.threshold = 0.2f;
  meta.class_thresholds = thr;
  meta.recipe_json = "{\"epochs\": 3, \"lr\": 0.003, \"aug\": \"flip\"}";
  g_assert_cmpint (ts_modelfile_save (path, m, &meta), ==, TS_OK);

  g_assert_cmpint (ts_modelfile_load (path, be, &m2, &got), ==, TS_OK);
  g_assert_cmpstr (ts_model_arch (m2), ==, "tiny");
  g_assert_cmpint (ts_model_n_classes (m2), ==, 3);
  g_assert_cmpint (got.format_version, ==, TS_MODELFILE_VERSION);
  g_assert_cmpint (got.n_vocab, ==, 3);
  g_assert_cmpstr (got.vocab[2], ==, "W\"BC");
  g_assert_cmpint (got.input_height, ==, 24);
  g_assert_cmpint (got.input_width, ==, 32);
  g_assert_cmpfloat (got.norm.std[2], ==, 0.225f);
  g_assert_cmpfloat (got.threshold, ==, 0.2f);
  g_assert_nonnull (got.class_thresholds);
  g_assert_cmpfloat (got.class_thresholds[1], ==, 0.25f);
  g_assert_cmpstr (got.recipe_json, ==, meta.recipe_json);
  for (int i = 0; i < ts_model_n_params (m); i++)
    {
      a = tensor_host (ts_model_param (m, i)->value);
      b = tensor_host (ts_model_param (m2, i)->value);
      g_assert_cmpmem (a, ts_model_param (m, i)->value->numel * 4, b,
                       ts_model_param (m2, i)->value->numel * 4);
      g_free (a);
      g_free (b);
    }
  /* same predictions */
  x = ts_tensor_new_4d (be, 2, 3, 24, 32);
  h = g_new (float, x->numel);
  for (int64_t i = 0; i < x->numel; i++)
    h[i] = (float) sin ((double) i);
  ts_tensor_from_host (x, h, x->numel);
  g_free (h);
  g_assert_cmpint (ts_model_prepare (m, 2, 24, 32), ==, TS_OK);
  g_assert_cmpint (ts_model_prepare (m2, 2, 24, 32), ==, TS_OK);
  g_assert_cmpint (ts_model_forward (m, x, 0, &l1), ==, TS_OK);
  g_assert_cmpint (ts_model_forward (m2, x, 0, &l2), ==, TS_OK);
  a = tensor_host (l1);
  b = tensor_host (l2);
  g_assert_cmpmem (a, 6 * 4, b, 6 * 4);
  g_free (a);
  g_free (b);
  ts_tensor_free (x);
  ts_modelfile_meta_clear (&got);
  ts_model_free (m2);

  /* a failed save keeps the old file: a bad recipe is refused before writing */
  meta.recipe_json = "{not json";
  g_assert_cmpint (ts_modelfile_save (path, m, &meta), ==, TS_ERR_FORMAT);
  g_assert_cmpint (ts_modelfile_load (path, be, &m2, &got), ==, TS_OK);
  ts_modelfile_meta_clear (&got);
  ts_model_free (m2);
  meta.recipe_json = NULL;
  meta.n_vocab = 2;
  g_assert_cmpint (ts_modelfile_save (path, m, &meta), ==, TS_ERR_INVALID);

  /* truncated copies are refused cleanly */
  g_assert_true (g_file_get_contents (path, (char **) &bytes, &len, NULL));
  for (gsize cut = 0; cut < len; cut += len / 53 + 1)
    {
      char *p2 = g_build_filename (dir, "cut.safetensors", NULL);
      g_assert_true (g_file_set_contents (p2, (char *) bytes, (gssize) cut, NULL));
      g_assert_cmpint (ts_modelfile_load (p2, be, &m2, &got), !=, TS_OK);
      g_assert_null (m2);
      n_rejected++;
      g_free (p2);
    }
  g_test_message ("%d truncated model files rejected", n_rejected);
  g_free (bytes);

  /* a plain safetensors without our metadata, and one with a tensor missing */
  {
    char *p3 = g_build_filename (dir, "plain.safetensors", NULL);
    float v = 1;
    int64_t s1 = 1;
    ts_st_tensor t = { "x", 1, &s1, &v };
    const char *kv[] = { "format_version", "1", "arch", "tiny", "head", "fastai", "n_classes",
                         "1", "vocab", "[\"a\"]", "input_size", "[8, 8]", "normalization",
                         "{\"mean\": [0,0,0], \"std\": [1,1,1]}", "threshold", "0.5" };
    g_assert_cmpint (ts_safetensors_write (p3, &t, 1, NULL, 0), ==, TS_OK);
    g_assert_cmpint (ts_modelfile_load (p3, be, &m2, &got), ==, TS_ERR_FORMAT);
    g_assert_nonnull (strstr (ts_last_error (), "format_version"));
    g_assert_cmpint (ts_safetensors_write (p3, &t, 1, kv, 8), ==, TS_OK);
    g_assert_cmpint (ts_modelfile_load (p3, be, &m2, &got), ==, TS_ERR_FORMAT);
    g_assert_nonnull (strstr (ts_last_error (), "0.conv1.weight"));
    /* the same without "head" and with a square "input_size" number still reads */
    {
      ts_model_config tc = { "tiny", 1, TS_HEAD_FASTAI, 0 };
      ts_model *tm;
      char *p4 = g_build_filename (dir, "nohead.safetensors", NULL);
      const char *kv2[] = { "format_version", "1", "arch", "tiny", "n_classes", "1", "vocab",
                            "[\"a\"]", "input_size", "64", "normalization",
                            "{\"mean\": [0,0,0], \"std\": [1,1,1]}", "threshold", "0.5" };
      g_assert_cmpint (ts_model_new (be, &tc, &tm), ==, TS_OK);
      meta.n_vocab = 1;
      meta.class_thresholds = NULL;
      g_assert_cmpint (ts_modelfile_save (p4, tm, &meta), ==, TS_OK);
      /* rewrite its metadata the way an older writer did */
      {
        ts_safetensors *f;
        ts_st_tensor *ts;
        float **bufs;
        g_assert_cmpint (ts_safetensors_open (p4, &f), ==, TS_OK);
        ts = g_new0 (ts_st_tensor, f->n_entries);
        bufs = g_new0 (float *, f->n_entries);
        for (int i = 0; i < f->n_entries; i++)
          {
            bufs[i] = g_new (float, f->entries[i].numel);
            ts_safetensors_read_f32 (f, &f->entries[i], bufs[i], f->entries[i].numel);
            ts[i] = (ts_st_tensor) { f->entries[i].name, f->entries[i].ndim, f->entries[i].shape,
                                     bufs[i] };
          }
        g_assert_cmpint (ts_safetensors_write (p4, ts, f->n_entries, kv2, 7), ==, TS_OK);
        for (int i = 0; i < f->n_entries; i++)
          g_free (bufs[i]);
        g_free (bufs);
        g_free (ts);
        ts_safetensors_free (f);
      }
      g_assert_cmpint (ts_modelfile_load (p4, be, &m2, &got), ==, TS_OK);
      g_assert_cmpint (got.input_height, ==, 64);
      g_assert_cmpint (got.input_width, ==, 64);
      ts_modelfile_meta_clear (&got);
      ts_model_free (m2);
      ts_model_free (tm);
      g_free (p4);
    }
    kv[1] = "99";
    g_assert_cmpint (ts_safetensors_write (p3, &t, 1, kv, 8), ==, TS_OK);
    g_assert_cmpint (ts_modelfile_load (p3, be, &m2, &got), ==, TS_ERR_UNSUPPORTED);
    g_free (p3);
  }
  ts_model_free (m);
  ts_test_rmdir (dir);
  g_free (path);
  g_free (dir);
}

/* A normalization that divides by zero (or by a negative or infinite std)
 * is refused when the file is read: predict would compute on inf/NaN pixels
 * (the loader's own check only runs for thresholds and label-issues). */
static void
test_modelfile_bad_normalization (void)
{
  static const char *const stds[] = { "[0, 1, 1]", "[1, -0.5, 1]", "[1, 1, 1e39]" };
  ts_backend *cpu = ts_backend_cpu_new (1);
  char *dir = ts_test_tmpdir (), *path = g_build_filename (dir, "norm.safetensors", NULL);
  float v = 1;
  int64_t s1 = 1;
  ts_st_tensor t = { "x", 1, &s1, &v };

  for (size_t i = 0; i < G_N_ELEMENTS (stds); i++)
    {
      g_autofree char *norm = g_strdup_printf ("{\"mean\": [0,0,0], \"std\": %s}", stds[i]);
      const char *kv[] = { "format_version", "1", "arch", "tiny", "head", "fastai", "n_classes",
                           "1", "vocab", "[\"a\"]", "input_size", "[8, 8]", "normalization",
                           norm, "threshold", "0.5" };
      ts_modelfile_meta got;
      ts_model *m = NULL;

      g_assert_cmpint (ts_safetensors_write (path, &t, 1, kv, 8), ==, TS_OK);
      g_assert_cmpint (ts_modelfile_load (path, cpu, &m, &got), ==, TS_ERR_FORMAT);
      g_test_message ("%s", ts_last_error ());
      g_assert_nonnull (strstr (ts_last_error (), "normalization.std"));
      g_assert_null (m);
    }
  ts_backend_free (cpu);
  ts_test_rmdir (dir);
  g_free (path);
  g_free (dir);
}

/* Saving never changes the process's umask, not even for a moment: it is
 * process-wide, and a file another thread creates meanwhile (the app saves
 * on a worker thread) would get mode 0666.  A watcher thread reads it while
 * models are written. */
typedef struct {
  int stop;
  int seen_other;
} umask_watch;

static gpointer
watch_umask (gpointer data)
{
  umask_watch *w = data;

  while (!g_atomic_int_get (&w->stop))
    {
      mode_t m = umask (022);
      if (m != 022)
        g_atomic_int_set (&w->seen_other, 1);
      umask (022);
    }
  return NULL;
}

static void
test_safetensors_umask (void)
{
  char *dir = ts_test_tmpdir (), *path = g_build_filename (dir, "u.safetensors", NULL);
  float v[4] = { 1, 2, 3, 4 };
  int64_t s1 = 4;
  ts_st_tensor t = { "x", 1, &s1, v };
  umask_watch w = { 0, 0 };
  mode_t old = umask (022);
  GThread *th = g_thread_new ("umask", watch_umask, &w);
  GStatBuf sb;

  for (int i = 0; i < 1000 && !g_atomic_int_get (&w.seen_other); i++)
    g_assert_cmpint (ts_safetensors_write (path, &t, 1, NULL, 0), ==, TS_OK);
  g_atomic_int_set (&w.stop, 1);
  g_thread_join (th);
  g_assert_false (w.seen_other);
  /* and the file is as the umask says: 0666 & ~022 */
  g_assert_cmpint (g_stat (path, &sb), ==, 0);
  g_assert_cmpint (sb.st_mode & 0777, ==, 0644);
  umask (old);
  ts_test_rmdir (dir);
  g_free (path);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  be = ts_backend_cpu_new (1);
  g_test_add_func ("/models/json", test_json);
  g_test_add_func ("/models/safetensors/roundtrip", test_safetensors_roundtrip);
  g_test_add_func ("/models/safetensors/dtypes", test_safetensors_dtypes);
  g_test_add_func ("/models/safetensors/corrupt", test_safetensors_corrupt);
  g_test_add_func ("/models/safetensors/umask", test_safetensors_umask);
  g_test_add_func ("/models/weights/by-name", test_weights_by_name);
  g_test_add_func ("/models/weights/other-head", test_weights_other_head);
  g_test_add_func ("/models/modelfile", test_modelfile);
  g_test_add_func ("/models/modelfile/bad-normalization", test_modelfile_bad_normalization);
  rc = g_test_run ();
  ts_backend_free (be);
  return rc;
}
