/* ts-weights.c: pretrained weights into models, matched by name (safetensors)
 * or by position and shape (TFLite convolutions). */
#include "ts-weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts-safetensors.h"
#include "ts-tflite.h"

ts_normalization
ts_normalization_imagenet (void)
{
  ts_normalization n = { { 0.485f, 0.456f, 0.406f }, { 0.229f, 0.224f, 0.225f } };
  return n;
}

void
ts_load_report_clear (ts_load_report *r)
{
  if (r == NULL)
    return;
  for (int i = 0; i < r->n_missing; i++)
    free (r->missing[i]);
  for (int i = 0; i < r->n_unexpected; i++)
    free (r->unexpected[i]);
  for (int i = 0; i < r->n_dropped; i++)
    free (r->dropped[i]);
  free (r->missing);
  free (r->unexpected);
  free (r->dropped);
  memset (r, 0, sizeof *r);
}

static void
shape_str (char *buf, size_t size, int ndim, const int64_t *shape)
{
  size_t len = 0;
  len += (size_t) snprintf (buf, size, "[");
  for (int i = 0; i < ndim && len < size; i++)
    len += (size_t) snprintf (buf + len, size - len, "%s%lld", i ? ", " : "", (long long) shape[i]);
  if (len < size)
    snprintf (buf + len, size - len, "]");
}

/* [] and [1] are the same scalar (torch's num_batches_tracked) */
static int
same_shape (const ts_tensor *t, const ts_weight_info *e)
{
  if (t->numel != e->numel)
    return 0;
  if (e->ndim == 0)
    return t->numel == 1;
  if (e->ndim != t->ndim)
    return 0;
  for (int i = 0; i < e->ndim; i++)
    if (t->shape[i] != e->shape[i])
      return 0;
  return 1;
}

/* fastai model from torchvision names, or torchvision model from fastai names */
static int
find_entry (const ts_weight_source *src, const char *name)
{
  int i = src->lookup (src->data, name);
  char alt[512];

  if (i >= 0)
    return i;
  if (strncmp (name, "0.", 2) == 0)
    return src->lookup (src->data, name + 2);
  snprintf (alt, sizeof alt, "0.%s", name);
  return src->lookup (src->data, alt);
}

static int
push_name (char ***list, int *n, const char *name)
{
  char **l = realloc (*list, (size_t) (*n + 1) * sizeof (char *));
  if (l == NULL)
    return 0;
  *list = l;
  l[*n] = strdup (name);
  if (l[*n] == NULL)
    return 0;
  (*n)++;
  return 1;
}

/* The classifier: the last parameter group, the fastai head's buffers, or a
 * torchvision classifier's names. */
static int
is_head (ts_model *m, int i, int n_params, const char *name)
{
  if (i < n_params && ts_model_param (m, i)->group == ts_model_n_groups (m) - 1)
    return 1;
  if (ts_model_head (m) == TS_HEAD_FASTAI)
    return strncmp (name, "0.", 2) != 0;
  return strncmp (name, "fc.", 3) == 0 || strncmp (name, "classifier.", 11) == 0;
}

static ts_status
load_one (const ts_weight_source *src, int e, ts_tensor *t)
{
  float *host = malloc ((size_t) t->numel * sizeof (float) + 1);
  ts_status s;

  if (host == NULL)
    return ts_error (TS_ERR_NOMEM, "%s: out of memory", src->path);
  s = src->read_f32 (src->data, e, host, t->numel);
  if (s == TS_OK)
    s = ts_tensor_from_host (t, host, t->numel);
  free (host);
  return s;
}

ts_status
ts_model_load_named (ts_model *m, const ts_weight_source *src, ts_load_mode mode,
                     ts_load_report *report)
{
  ts_load_report local = { 0 }, *r = report ? report : &local;
  int n_params = ts_model_n_params (m), n_total = n_params + ts_model_n_buffers (m);
  const char *path = src->path;
  char *used;
  ts_status s = TS_OK;

  memset (r, 0, sizeof *r);
  used = calloc ((size_t) src->n_entries + 1, 1);
  if (used == NULL)
    return ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
  for (int i = 0; i < n_total && s == TS_OK; i++)
    {
      const char *name = i < n_params ? ts_model_param (m, i)->name
                                      : ts_model_buffer (m, i - n_params)->name;
      ts_tensor *t = i < n_params ? ts_model_param (m, i)->value
                                  : ts_model_buffer (m, i - n_params)->value;
      int e = find_entry (src, name);
      int head = is_head (m, i, n_params, name);
      int optional = strstr (name, "num_batches_tracked") != NULL ||
                     (mode == TS_LOAD_BACKBONE && head);
      ts_weight_info info = { 0 };
      char want[96], got[96];

      if (e >= 0)
        src->info (src->data, e, &info);
      if (e >= 0 && !same_shape (t, &info) && mode == TS_LOAD_BACKBONE && head)
        {
          /* a classifier for another class list: left unused (so also
           * reported as unexpected); the model keeps its initialised head */
          if (!push_name (&r->dropped, &r->n_dropped, info.name))
            s = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
          e = -1;
        }
      if (e < 0)
        {
          if (s == TS_OK && !push_name (&r->missing, &r->n_missing, name))
            s = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
          else if (s == TS_OK && !optional)
            s = ts_error (TS_ERR_FORMAT, "%s: no tensor '%s' (%s needs it)", path, name,
                          ts_model_arch (m));
          continue;
        }
      if (!same_shape (t, &info))
        {
          shape_str (want, sizeof want, t->ndim, t->shape);
          shape_str (got, sizeof got, info.ndim, info.shape);
          s = ts_error (TS_ERR_SHAPE, "%s: tensor '%s' does not fit the model: expected %s, "
                        "found %s", path, info.name, want, got);
          break;
        }
      if ((s = load_one (src, e, t)) != TS_OK)
        break;
      used[e] = 1;
      r->n_loaded++;
    }
  for (int i = 0; i < src->n_entries && s == TS_OK; i++)
    if (!used[i])
      {
        ts_weight_info info;
        src->info (src->data, i, &info);
        if (!push_name (&r->unexpected, &r->n_unexpected, info.name))
          s = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
        else if (mode == TS_LOAD_STRICT)
          s = ts_error (TS_ERR_FORMAT, "%s: unexpected tensor '%s' for %s", path, info.name,
                        ts_model_arch (m));
      }
  if (s == TS_OK && r->n_loaded == 0)
    s = ts_error (TS_ERR_FORMAT, "%s: no tensor matches %s", path, ts_model_arch (m));
  free (used);
  if (report == NULL)
    ts_load_report_clear (&local);
  return s;
}

/* ---- safetensors ---- */

static int
st_lookup (void *data, const char *name)
{
  ts_safetensors *st = data;
  const ts_st_entry *e = ts_safetensors_find (st, name);

  return e ? (int) (e - st->entries) : -1;
}

static void
st_info (void *data, int i, ts_weight_info *out)
{
  const ts_st_entry *e = &((ts_safetensors *) data)->entries[i];

  out->name = e->name;
  out->ndim = e->ndim;
  out->shape = e->shape;
  out->numel = e->numel;
}

static ts_status
st_read (void *data, int i, float *dst, int64_t n)
{
  ts_safetensors *st = data;

  return ts_safetensors_read_f32 (st, &st->entries[i], dst, n);
}

ts_status
ts_model_load_safetensors (ts_model *m, const char *path, ts_load_mode mode,
                           ts_load_report *report)
{
  ts_safetensors *st;
  ts_weight_source src = { path, NULL, 0, st_lookup, st_info, st_read };
  ts_status s;

  if (report)
    memset (report, 0, sizeof *report);
  if ((s = ts_safetensors_open (path, &st)) != TS_OK)
    return s;
  src.data = st;
  src.n_entries = st->n_entries;
  s = ts_model_load_named (m, &src, mode, report);
  ts_safetensors_free (st);
  return s;
}

/* ---- TFLite ---- */

static ts_status
tfl_into (const ts_tflite *tf, int ti, ts_tensor *dst, int depthwise, const char *name)
{
  const ts_tfl_tensor *t = &tf->tensors[ti];
  float *raw, *out;
  int64_t shape[4], n = dst->numel;
  char want[96], got[96];
  ts_status s;

  /* OHWI (conv) or 1HWC (depthwise) -> OIHW; [N] bias; [O,1,1,I] logits -> [O,I] */
  if (t->ndim == 4)
    {
      if (depthwise)
        {
          shape[0] = t->shape[3];
          shape[1] = t->shape[0];
        }
      else
        {
          shape[0] = t->shape[0];
          shape[1] = t->shape[3];
        }
      shape[2] = t->shape[1];
      shape[3] = t->shape[2];
    }
  else
    for (int i = 0; i < t->ndim && i < 4; i++)
      shape[i] = t->shape[i];
  if (t->numel != n || (dst->ndim == 4 && t->ndim == 4 &&
                        (shape[0] != dst->shape[0] || shape[1] != dst->shape[1] ||
                         shape[2] != dst->shape[2] || shape[3] != dst->shape[3])) ||
      (dst->ndim == 2 && dst->shape[0] != t->shape[0]) || (dst->ndim == 1 && t->ndim != 1))
    {
      shape_str (want, sizeof want, dst->ndim, dst->shape);
      shape_str (got, sizeof got, t->ndim == 4 ? 4 : t->ndim, shape);
      return ts_error (TS_ERR_SHAPE, "%s: tensor '%s' (for %s) does not fit: expected %s, found "
                       "%s", tf->path, t->name, name, want, got);
    }
  raw = malloc ((size_t) n * sizeof (float));
  out = malloc ((size_t) n * sizeof (float));
  if (raw == NULL || out == NULL)
    {
      free (raw);
      free (out);
      return ts_error (TS_ERR_NOMEM, "%s: out of memory", tf->path);
    }
  s = ts_tflite_dequantize (tf, ti, raw, n);
  if (s == TS_OK && t->ndim == 4 && dst->ndim == 4)
    {
      int64_t O = shape[0], I = shape[1], H = shape[2], W = shape[3];
      for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < I; i++)
          for (int64_t h = 0; h < H; h++)
            for (int64_t w = 0; w < W; w++)
              out[((o * I + i) * H + h) * W + w] =
                depthwise ? raw[(h * W + w) * O + o] : raw[((o * H + h) * W + w) * I + i];
    }
  else if (s == TS_OK)
    memcpy (out, raw, (size_t) n * sizeof (float));
  if (s == TS_OK)
    s = ts_tensor_from_host (dst, out, n);
  free (raw);
  free (out);
  return s;
}

ts_status
ts_model_load_tflite (ts_model *m, const char *path, ts_normalization *norm)
{
  ts_tflite *tf;
  ts_status s = TS_OK;
  int n_params = ts_model_n_params (m), p = 0, n_conv = 0, n_add = 0, want_convs = 0;

  if (strcmp (ts_model_arch (m), "mobilenet_v2_folded") != 0)
    return ts_error (TS_ERR_UNSUPPORTED, "%s: TFLite weights load into mobilenet_v2_folded "
                     "(batch norm folded), not %s", path, ts_model_arch (m));
  s = ts_tflite_open (path, &tf);
  if (s != TS_OK)
    return s;
  for (int i = 0; i < n_params; i++)
    if (ts_model_param (m, i)->value->ndim == 4 ||
        (ts_model_head (m) == TS_HEAD_ORIGINAL && ts_model_param (m, i)->value->ndim == 2))
      want_convs++;
  for (int i = 0; i < tf->n_ops; i++)
    {
      int code = tf->ops[i].code;
      n_conv += code == TS_TFL_OP_CONV_2D || code == TS_TFL_OP_DEPTHWISE_CONV_2D;
      n_add += code == TS_TFL_OP_ADD;
    }
  if (n_conv != 53 || n_add != 10)
    {
      s = ts_error (TS_ERR_UNSUPPORTED, "%s: %d convolutions and %d adds: not MobileNetV2 "
                    "(53 and 10)", path, n_conv, n_add);
      goto done;
    }

  for (int i = 0, c = 0; i < tf->n_ops && s == TS_OK && c < want_convs; i++)
    {
      const ts_tfl_op *op = &tf->ops[i];
      int dw = op->code == TS_TFL_OP_DEPTHWISE_CONV_2D;
      ts_param *w, *b;

      if (op->code != TS_TFL_OP_CONV_2D && !dw)
        continue;
      c++;
      /* the model's next weight (4-d conv, or the classifier's 2-d linear) */
      while (p < n_params && ts_model_param (m, p)->kind != TS_PARAM_WEIGHT)
        p++;
      if (p + 1 >= n_params || op->n_inputs < 3 || op->inputs[1] < 0 || op->inputs[2] < 0)
        {
          s = ts_error (TS_ERR_FORMAT, "%s: convolution %d does not fit the model", path, c);
          break;
        }
      w = ts_model_param (m, p);
      b = ts_model_param (m, p + 1);
      p += 2;
      if (op->padding != TS_TFL_PAD_SAME || (dw && op->depth_multiplier > 1))
        {
          s = ts_error (TS_ERR_UNSUPPORTED, "%s: convolution %d: padding %d, depth multiplier "
                        "%d (SAME, 1 expected)", path, c, op->padding, op->depth_multiplier);
          break;
        }
      s = tfl_into (tf, op->inputs[1], w->value, dw, w->name);
      if (s == TS_OK)
        s = tfl_into (tf, op->inputs[2], b->value, 0, b->name);
    }
  if (s == TS_OK && norm != NULL && tf->n_inputs == 1)
    {
      const ts_tfl_tensor *in = &tf->tensors[tf->inputs[0]];
      if (in->n_scale == 1 && in->type == TS_TFL_UINT8)
        {
          /* (p - zp) * scale == (p/255 - zp/255) / (1 / (255 scale)) */
          for (int k = 0; k < 3; k++)
            {
              norm->mean[k] = (float) in->zero_point[0] / 255.0f;
              norm->std[k] = 1.0f / (255.0f * in->scale[0]);
            }
        }
      else
        for (int k = 0; k < 3; k++)
          {
            norm->mean[k] = 0.5f;
            norm->std[k] = 0.5f;
          }
    }
done:
  ts_tflite_free (tf);
  return s;
}

static int
is_tflite (const char *path)
{
  FILE *f = fopen (path, "rb");
  char head[8];
  int yes = 0;

  if (f == NULL)
    return 0;
  yes = fread (head, 1, 8, f) == 8 && memcmp (head + 4, "TFL3", 4) == 0;
  fclose (f);
  return yes;
}

ts_status
ts_model_load_pretrained (ts_model *m, const char *path, ts_normalization *norm)
{
  if (is_tflite (path))
    return ts_model_load_tflite (m, path, norm);
  if (norm)
    *norm = ts_normalization_imagenet ();
  return ts_model_load_safetensors (m, path, TS_LOAD_BACKBONE, NULL);
}

const char *
ts_pretrained_arch (const char *arch, const char *path)
{
  if (path != NULL && strcmp (arch, "mobilenet_v2") == 0 && is_tflite (path))
    return "mobilenet_v2_folded";
  return arch;
}
