/* ts-modelfile.c: save and load a model with its metadata (see the header). */
#include "ts-modelfile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts-json.h"
#include "ts-safetensors.h"
#include "ts-weights.h"

void
ts_modelfile_meta_clear (ts_modelfile_meta *meta)
{
  if (meta == NULL)
    return;
  for (int i = 0; i < meta->n_vocab; i++)
    free (meta->vocab[i]);
  free (meta->vocab);
  free (meta->class_thresholds);
  free (meta->recipe_json);
  memset (meta, 0, sizeof *meta);
}

/* the shortest decimal that reads back as the same float: 0.2, not 0.200000003 */
static void
append_float (ts_strbuf *b, float v)
{
  char buf[32];
  for (int digits = 6; digits <= 9; digits++)
    {
      snprintf (buf, sizeof buf, "%.*g", digits, (double) v);
      if (strtof (buf, NULL) == v)
        break;
    }
  ts_strbuf_append (b, buf, strlen (buf));
}

static void
float_list (ts_strbuf *b, const float *v, int n)
{
  ts_strbuf_append (b, "[", 1);
  for (int i = 0; i < n; i++)
    {
      if (i)
        ts_strbuf_append (b, ", ", 2);
      append_float (b, v[i]);
    }
  ts_strbuf_append (b, "]", 1);
}

ts_status
ts_modelfile_save (const char *path, ts_model *m, const ts_modelfile_meta *meta)
{
  int np = ts_model_n_params (m), nt = np + ts_model_n_buffers (m);
  ts_st_tensor *tensors = calloc ((size_t) nt + 1, sizeof *tensors);
  float **host = calloc ((size_t) nt + 1, sizeof *host);
  ts_strbuf vocab = { 0 }, size = { 0 }, norm = { 0 }, thr = { 0 }, cthr = { 0 }, ver = { 0 };
  ts_strbuf ncls = { 0 }, best = { 0 };
  const char *kv[2 * 12];
  int n_meta = 0;
  ts_status s = TS_OK;

  if (tensors == NULL || host == NULL)
    {
      s = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
      goto done;
    }
  if (meta->n_vocab != ts_model_n_classes (m) && ts_model_head (m) == TS_HEAD_FASTAI)
    {
      s = ts_error (TS_ERR_INVALID, "%s: %d vocab entries for a model of %d classes", path,
                    meta->n_vocab, ts_model_n_classes (m));
      goto done;
    }
  if (meta->recipe_json != NULL)
    {
      ts_json *j;
      s = ts_json_parse (meta->recipe_json, strlen (meta->recipe_json), "recipe", &j);
      if (s != TS_OK)
        goto done;
      ts_json_free (j);
    }
  for (int i = 0; i < nt && s == TS_OK; i++)
    {
      ts_tensor *t = i < np ? ts_model_param (m, i)->value : ts_model_buffer (m, i - np)->value;
      tensors[i].name = i < np ? ts_model_param (m, i)->name : ts_model_buffer (m, i - np)->name;
      tensors[i].ndim = t->ndim;
      tensors[i].shape = t->shape;
      host[i] = malloc ((size_t) t->numel * sizeof (float));
      if (host[i] == NULL)
        s = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
      else
        s = ts_tensor_to_host (t, host[i], t->numel);
      tensors[i].data = host[i];
    }
  if (s != TS_OK)
    goto done;

  ts_strbuf_printf (&ver, "%d", TS_MODELFILE_VERSION);
  ts_strbuf_printf (&ncls, "%d", ts_model_n_classes (m));
  ts_strbuf_append (&vocab, "[", 1);
  for (int i = 0; i < meta->n_vocab; i++)
    {
      if (i)
        ts_strbuf_append (&vocab, ", ", 2);
      ts_strbuf_json_string (&vocab, meta->vocab[i]);
    }
  ts_strbuf_append (&vocab, "]", 1);
  ts_strbuf_printf (&size, "[%d, %d]", meta->input_height, meta->input_width);
  ts_strbuf_append (&norm, "{\"mean\": ", 9);
  float_list (&norm, meta->norm.mean, 3);
  ts_strbuf_append (&norm, ", \"std\": ", 9);
  float_list (&norm, meta->norm.std, 3);
  ts_strbuf_append (&norm, "}", 1);
  append_float (&thr, meta->threshold);
  if (meta->has_best_threshold)
    append_float (&best, meta->best_threshold);
  if (meta->class_thresholds)
    float_list (&cthr, meta->class_thresholds, meta->n_vocab);
  if (ver.failed || ncls.failed || vocab.failed || size.failed || norm.failed || thr.failed ||
      cthr.failed || best.failed)
    {
      s = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
      goto done;
    }
#define META(k, v) (kv[2 * n_meta] = (k), kv[2 * n_meta + 1] = (v), n_meta++)
  META ("format_version", ver.data);
  META ("arch", ts_model_arch (m));
  META ("head", ts_model_head (m) == TS_HEAD_FASTAI ? "fastai" : "original");
  META ("n_classes", ncls.data);
  META ("vocab", vocab.data);
  META ("input_size", size.data);
  META ("normalization", norm.data);
  META ("threshold", thr.data);
  if (meta->has_best_threshold)
    META ("best_threshold", best.data);
  if (meta->class_thresholds)
    META ("class_thresholds", cthr.data);
  if (meta->recipe_json)
    META ("recipe", meta->recipe_json);
#undef META
  s = ts_safetensors_write (path, tensors, nt, kv, n_meta);

done:
  if (host)
    for (int i = 0; i < nt; i++)
      free (host[i]);
  free (host);
  free (tensors);
  ts_strbuf_clear (&ver);
  ts_strbuf_clear (&ncls);
  ts_strbuf_clear (&vocab);
  ts_strbuf_clear (&size);
  ts_strbuf_clear (&norm);
  ts_strbuf_clear (&thr);
  ts_strbuf_clear (&cthr);
  ts_strbuf_clear (&best);
  return s;
}

static ts_status
need (const ts_safetensors *st, const char *key, const char **out)
{
  *out = ts_safetensors_meta (st, key);
  if (*out == NULL)
    return ts_error (TS_ERR_FORMAT, "%s: not a Tagsight model file (no '%s' in __metadata__)",
                     st->path, key);
  return TS_OK;
}

/* parses metadata @key as JSON of @type */
static ts_status
meta_json (const ts_safetensors *st, const char *key, ts_json_type type, ts_json **out)
{
  const char *text;
  char what[256];
  ts_status s = need (st, key, &text);

  if (s != TS_OK)
    return s;
  snprintf (what, sizeof what, "%s: metadata '%s'", st->path, key);
  s = ts_json_parse (text, strlen (text), what, out);
  if (s == TS_OK && (*out)->type != type)
    {
      ts_json_free (*out);
      *out = NULL;
      return ts_error (TS_ERR_FORMAT, "%s: metadata '%s' has the wrong JSON type", st->path, key);
    }
  return s;
}

static ts_status
numbers (const ts_safetensors *st, const char *key, const ts_json *a, float *dst, int n)
{
  if (a == NULL || a->type != TS_JSON_ARRAY || (int) a->len != n)
    return ts_error (TS_ERR_FORMAT, "%s: metadata '%s': expected %d numbers", st->path, key, n);
  for (int i = 0; i < n; i++)
    {
      if (a->items[i].type != TS_JSON_NUMBER)
        return ts_error (TS_ERR_FORMAT, "%s: metadata '%s': item %d is not a number", st->path,
                         key, i);
      dst[i] = (float) a->items[i].number;
    }
  return TS_OK;
}

static ts_status
read_meta (const ts_safetensors *st, ts_modelfile_meta *meta, ts_model_config *cfg)
{
  const char *v;
  char *end;
  ts_json *j = NULL;
  ts_status s;
  float size[2];

  if ((s = need (st, "format_version", &v)) != TS_OK)
    return s;
  meta->format_version = (int) strtol (v, &end, 10);
  if (*end || meta->format_version < 1)
    return ts_error (TS_ERR_FORMAT, "%s: bad format_version '%s'", st->path, v);
  if (meta->format_version > TS_MODELFILE_VERSION)
    return ts_error (TS_ERR_UNSUPPORTED, "%s: model file version %d is newer than this Tagsight "
                     "reads (%d)", st->path, meta->format_version, TS_MODELFILE_VERSION);
  if ((s = need (st, "arch", &cfg->arch)) != TS_OK)
    return s;
  /* "head" absent: fastai's, the only head a trained model has */
  if ((v = ts_safetensors_meta (st, "head")) == NULL)
    v = "fastai";
  if (strcmp (v, "fastai") != 0 && strcmp (v, "original") != 0)
    return ts_error (TS_ERR_FORMAT, "%s: unknown head '%s'", st->path, v);
  cfg->head = strcmp (v, "fastai") == 0 ? TS_HEAD_FASTAI : TS_HEAD_ORIGINAL;
  if ((s = need (st, "n_classes", &v)) != TS_OK)
    return s;
  cfg->n_classes = (int) strtol (v, &end, 10);
  if (*end || cfg->n_classes < 1 || cfg->n_classes > 100000)
    return ts_error (TS_ERR_FORMAT, "%s: bad n_classes '%s'", st->path, v);

  if ((s = meta_json (st, "vocab", TS_JSON_ARRAY, &j)) != TS_OK)
    return s;
  meta->vocab = calloc (j->len + 1, sizeof (char *));
  if (meta->vocab == NULL)
    s = ts_error (TS_ERR_NOMEM, "%s: out of memory", st->path);
  for (size_t i = 0; i < j->len && s == TS_OK; i++)
    {
      if (j->items[i].type != TS_JSON_STRING)
        s = ts_error (TS_ERR_FORMAT, "%s: vocab item %zu is not a string", st->path, i);
      else if ((meta->vocab[meta->n_vocab++] = strdup (j->items[i].string)) == NULL)
        s = ts_error (TS_ERR_NOMEM, "%s: out of memory", st->path);
    }
  ts_json_free (j);
  if (s == TS_OK && cfg->head == TS_HEAD_FASTAI && meta->n_vocab != cfg->n_classes)
    s = ts_error (TS_ERR_FORMAT, "%s: %d vocab entries for %d classes", st->path, meta->n_vocab,
                  cfg->n_classes);
  if (s != TS_OK)
    return s;

  /* [height, width], or one number for a square input */
  if ((s = need (st, "input_size", &v)) != TS_OK)
    return s;
  size[0] = size[1] = strtof (v, &end);
  if (*end != '\0' || end == v)
    {
      if ((s = meta_json (st, "input_size", TS_JSON_ARRAY, &j)) != TS_OK)
        return s;
      s = numbers (st, "input_size", j, size, 2);
      ts_json_free (j);
      if (s != TS_OK)
        return s;
    }
  /* range-checked as floats: casting 1e30 or NaN to int is undefined */
  for (int i = 0; i < 2; i++)
    if (!(size[i] >= 1 && size[i] <= 8192))
      return ts_error (TS_ERR_FORMAT, "%s: input_size %g is outside 1..8192", st->path,
                       (double) size[i]);
  meta->input_height = (int) size[0];
  meta->input_width = (int) size[1];

  if ((s = meta_json (st, "normalization", TS_JSON_OBJECT, &j)) != TS_OK)
    return s;
  s = numbers (st, "normalization.mean", ts_json_get (j, "mean"), meta->norm.mean, 3);
  if (s == TS_OK)
    s = numbers (st, "normalization.std", ts_json_get (j, "std"), meta->norm.std, 3);
  ts_json_free (j);
  if (s != TS_OK)
    return s;
  /* pixels are divided by std: zero, negative or infinite would make every
   * prediction inf/NaN garbage (1e39 is inf as a float) */
  for (int i = 0; i < 3; i++)
    if (!(meta->norm.std[i] > 0.0f && isfinite (meta->norm.std[i]))
        || !isfinite (meta->norm.mean[i]))
      return ts_error (TS_ERR_FORMAT, "%s: metadata 'normalization.std' / 'mean' [%d] is %g / %g "
                       "(a std must be positive and finite)", st->path, i,
                       (double) meta->norm.std[i], (double) meta->norm.mean[i]);

  if ((s = need (st, "threshold", &v)) != TS_OK)
    return s;
  meta->threshold = strtof (v, &end);
  if (*end || !(meta->threshold >= 0.0f && meta->threshold <= 1.0f))
    return ts_error (TS_ERR_FORMAT, "%s: bad threshold '%s'", st->path, v);
  if ((v = ts_safetensors_meta (st, "best_threshold")) != NULL)
    {
      meta->best_threshold = strtof (v, &end);
      if (*end || end == v || !(meta->best_threshold >= 0.0f && meta->best_threshold <= 1.0f))
        return ts_error (TS_ERR_FORMAT, "%s: bad best_threshold '%s'", st->path, v);
      meta->has_best_threshold = 1;
    }
  if (ts_safetensors_meta (st, "class_thresholds"))
    {
      if ((s = meta_json (st, "class_thresholds", TS_JSON_ARRAY, &j)) != TS_OK)
        return s;
      meta->class_thresholds = calloc ((size_t) meta->n_vocab + 1, sizeof (float));
      s = meta->class_thresholds == NULL
            ? ts_error (TS_ERR_NOMEM, "%s: out of memory", st->path)
            : numbers (st, "class_thresholds", j, meta->class_thresholds, meta->n_vocab);
      ts_json_free (j);
      if (s != TS_OK)
        return s;
    }
  if ((v = ts_safetensors_meta (st, "recipe")) != NULL)
    {
      if ((s = meta_json (st, "recipe", TS_JSON_OBJECT, &j)) != TS_OK)
        return s;
      ts_json_free (j);
      if ((meta->recipe_json = strdup (v)) == NULL)
        return ts_error (TS_ERR_NOMEM, "%s: out of memory", st->path);
    }
  return TS_OK;
}

ts_status
ts_modelfile_load (const char *path, ts_backend *be, ts_model **model, ts_modelfile_meta *meta)
{
  ts_safetensors *st = NULL;
  ts_model_config cfg = { 0 };
  ts_model *m = NULL;
  ts_status s;

  *model = NULL;
  memset (meta, 0, sizeof *meta);
  s = ts_safetensors_open (path, &st);
  if (s == TS_OK)
    s = read_meta (st, meta, &cfg);
  if (s == TS_OK)
    s = ts_model_new (be, &cfg, &m);
  if (s == TS_OK)
    s = ts_model_load_safetensors (m, path, TS_LOAD_STRICT, NULL);
  ts_safetensors_free (st);
  if (s != TS_OK)
    {
      ts_model_free (m);
      ts_modelfile_meta_clear (meta);
      return s;
    }
  *model = m;
  return TS_OK;
}
