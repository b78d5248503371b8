/* ts-pth-weights.c: a PyTorch state_dict into a model, matched by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts-pth.h"

static void
shape_str (char *buf, size_t size, int ndim, const int64_t *shape)
{
  size_t len = (size_t) snprintf (buf, size, "[");
  for (int i = 0; i < ndim && len < size; i++)
    len += (size_t) snprintf (buf + len, size - len, "%s%lld", i ? ", " : "", (long long) shape[i]);
  if (len < size)
    snprintf (buf + len, size - len, "]");
}

/* [] and [1] are the same scalar (num_batches_tracked) */
static int
same_shape (const ts_tensor *t, const ts_pth_entry *e)
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

/* torchvision names for a body under fastai's head, and the other way round */
static const ts_pth_entry *
find_entry (const ts_pth *p, const char *name)
{
  const ts_pth_entry *e = ts_pth_find (p, name);
  char alt[512];

  if (e != NULL)
    return e;
  if (strncmp (name, "0.", 2) == 0)
    return ts_pth_find (p, name + 2);
  snprintf (alt, sizeof alt, "0.%s", name);
  return ts_pth_find (p, alt);
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

static ts_status
load_one (ts_pth *p, const ts_pth_entry *e, ts_tensor *t)
{
  float *host = malloc ((size_t) t->numel * sizeof (float) + 1);
  ts_status s;

  if (host == NULL)
    return ts_error (TS_ERR_NOMEM, "out of memory");
  s = ts_pth_read_f32 (p, e, host, t->numel);
  if (s == TS_OK)
    s = ts_tensor_from_host (t, host, t->numel);
  free (host);
  return s;
}

static int
is_head (ts_model *m, int i, int n_params, const char *name)
{
  if (i < n_params && ts_model_param (m, i)->group == ts_model_n_groups (m) - 1)
    return 1;
  if (ts_model_head (m) == TS_HEAD_FASTAI)
    return strncmp (name, "0.", 2) != 0;
  return strncmp (name, "fc.", 3) == 0 || strncmp (name, "classifier.", 11) == 0;
}

ts_status
ts_model_load_pth (ts_model *m, const char *path, ts_load_mode mode, ts_load_report *report)
{
  ts_pth *p;
  ts_load_report local = { 0 }, *r = report ? report : &local;
  int n_params = ts_model_n_params (m), n_total = n_params + ts_model_n_buffers (m);
  char *used = NULL;
  ts_status s;

  memset (r, 0, sizeof *r);
  if ((s = ts_pth_open (path, &p)) != TS_OK)
    return s;
  used = calloc ((size_t) ts_pth_n_entries (p) + 1, 1);
  if (used == NULL)
    {
      ts_pth_free (p);
      return ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
    }
  for (int i = 0; i < n_total && s == TS_OK; i++)
    {
      const char *name = i < n_params ? ts_model_param (m, i)->name
                                      : ts_model_buffer (m, i - n_params)->name;
      ts_tensor *t = i < n_params ? ts_model_param (m, i)->value
                                  : ts_model_buffer (m, i - n_params)->value;
      const ts_pth_entry *e = find_entry (p, name);
      int head = is_head (m, i, n_params, name);
      int optional = strstr (name, "num_batches_tracked") != NULL ||
                     (mode == TS_LOAD_BACKBONE && head);
      char want[96], got[96];

      if (e != NULL && !same_shape (t, e) && mode == TS_LOAD_BACKBONE && head)
        e = NULL;  /* another classifier size: left unused, so reported as unexpected */
      if (e == NULL)
        {
          if (!push_name (&r->missing, &r->n_missing, name))
            s = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
          else if (!optional)
            s = ts_error (TS_ERR_FORMAT, "%s: no tensor '%s' (%s needs it)", path, name,
                          ts_model_arch (m));
          continue;
        }
      if (!same_shape (t, e))
        {
          shape_str (want, sizeof want, t->ndim, t->shape);
          shape_str (got, sizeof got, e->ndim, e->shape);
          s = ts_error (TS_ERR_SHAPE, "%s: tensor '%s' does not fit the model: expected %s, "
                        "found %s", path, e->name, want, got);
          break;
        }
      if ((s = load_one (p, e, t)) != TS_OK)
        {
          ts_error_prefix (s, "%s: tensor '%s'", path, e->name);
          break;
        }
      used[e - ts_pth_entry_at (p, 0)] = 1;
      r->n_loaded++;
    }
  for (int i = 0; i < ts_pth_n_entries (p) && s == TS_OK; i++)
    if (!used[i])
      {
        const char *name = ts_pth_entry_at (p, i)->name;
        if (!push_name (&r->unexpected, &r->n_unexpected, name))
          s = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
        else if (mode == TS_LOAD_STRICT)
          s = ts_error (TS_ERR_FORMAT, "%s: unexpected tensor '%s' for %s", path, name,
                        ts_model_arch (m));
      }
  if (s == TS_OK && r->n_loaded == 0)
    s = ts_error (TS_ERR_FORMAT, "%s: no tensor matches %s", path, ts_model_arch (m));
  free (used);
  ts_pth_free (p);
  if (report == NULL)
    ts_load_report_clear (&local);
  return s;
}

static int
is_tflite (const char *path)
{
  FILE *f = fopen (path, "rb");
  char head[8];
  int yes;

  if (f == NULL)
    return 0;
  yes = fread (head, 1, 8, f) == 8 && memcmp (head + 4, "TFL3", 4) == 0;
  fclose (f);
  return yes;
}

ts_status
ts_model_load_pretrained_any (ts_model *m, const char *path, ts_normalization *norm,
                              ts_load_report *report)
{
  if (report)
    memset (report, 0, sizeof *report);
  if (ts_pth_is_pth (path))
    {
      if (norm)
        *norm = ts_normalization_imagenet ();
      return ts_model_load_pth (m, path, TS_LOAD_BACKBONE, report);
    }
  if (report && !is_tflite (path))
    {
      if (norm)
        *norm = ts_normalization_imagenet ();
      return ts_model_load_safetensors (m, path, TS_LOAD_BACKBONE, report);
    }
  return ts_model_load_pretrained (m, path, norm);
}
