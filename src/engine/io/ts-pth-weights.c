/* ts-pth-weights.c: a PyTorch state_dict into a model, matched by name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts-pth.h"

typedef struct {
  ts_pth *p;
  const char *path;
} pth_source;

static int
pth_lookup (void *data, const char *name)
{
  pth_source *ps = data;
  const ts_pth_entry *e = ts_pth_find (ps->p, name);

  return e ? (int) (e - ts_pth_entry_at (ps->p, 0)) : -1;
}

static void
pth_info (void *data, int i, ts_weight_info *out)
{
  const ts_pth_entry *e = ts_pth_entry_at (((pth_source *) data)->p, i);

  out->name = e->name;
  out->ndim = e->ndim;
  out->shape = e->shape;
  out->numel = e->numel;
}

static ts_status
pth_read (void *data, int i, float *dst, int64_t n)
{
  pth_source *ps = data;
  const ts_pth_entry *e = ts_pth_entry_at (ps->p, i);
  ts_status s = ts_pth_read_f32 (ps->p, e, dst, n);

  return s == TS_OK ? s : ts_error_prefix (s, "%s: tensor '%s'", ps->path, e->name);
}

/* Matching, the head rule and the report are ts_model_load_named's. */
ts_status
ts_model_load_pth (ts_model *m, const char *path, ts_load_mode mode, ts_load_report *report)
{
  pth_source ps = { NULL, path };
  ts_weight_source src = { path, &ps, 0, pth_lookup, pth_info, pth_read };
  ts_status s;

  if (report)
    memset (report, 0, sizeof *report);
  if ((s = ts_pth_open (path, &ps.p)) != TS_OK)
    return s;
  src.n_entries = ts_pth_n_entries (ps.p);
  s = ts_model_load_named (m, &src, mode, report);
  ts_pth_free (ps.p);
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
