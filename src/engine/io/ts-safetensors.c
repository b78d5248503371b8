/* ts-safetensors.c: safetensors reader (validating) and atomic writer. */
#include "ts-safetensors.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ts-atomic-write.h"
#include "ts-json.h"

/* Larger headers are not produced by any real writer; reject before allocating. */
#define MAX_HEADER (100u << 20)

static const struct {
  const char *name;
  ts_st_dtype dtype;
  int size;
} dtypes[] = {
  { "F32", TS_ST_F32, 4 }, { "F16", TS_ST_F16, 2 }, { "BF16", TS_ST_BF16, 2 },
  { "F64", TS_ST_F64, 8 }, { "I64", TS_ST_I64, 8 }, { "I32", TS_ST_I32, 4 },
  { "U8", TS_ST_OTHER, 1 }, { "I8", TS_ST_OTHER, 1 }, { "BOOL", TS_ST_OTHER, 1 },
  { "I16", TS_ST_OTHER, 2 }, { "U16", TS_ST_OTHER, 2 }, { "U32", TS_ST_OTHER, 4 },
  { "U64", TS_ST_OTHER, 8 }, { "F8_E4M3", TS_ST_OTHER, 1 }, { "F8_E5M2", TS_ST_OTHER, 1 },
};

float
ts_half_to_float (uint16_t h)
{
  uint32_t sign = (uint32_t) (h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  float f;

  if (exp == 0)
    {
      /* zero or subnormal: mant * 2^-24 */
      f = (float) mant * (1.0f / 16777216.0f);
      return sign ? -f : f;
    }
  if (exp == 31)
    bits = sign | 0x7f800000u | (mant << 13);
  else
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  memcpy (&f, &bits, 4);
  return f;
}

float
ts_bf16_to_float (uint16_t h)
{
  uint32_t bits = (uint32_t) h << 16;
  float f;
  memcpy (&f, &bits, 4);
  return f;
}

void
ts_safetensors_free (ts_safetensors *st)
{
  if (st == NULL)
    return;
  for (int i = 0; i < st->n_entries; i++)
    free (st->entries[i].name);
  for (int i = 0; i < st->n_meta; i++)
    {
      free (st->meta_keys[i]);
      free (st->meta_values[i]);
    }
  free (st->entries);
  free (st->meta_keys);
  free (st->meta_values);
  free (st->file);
  free (st->path);
  free (st);
}

static uint64_t
read_u64le (const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = (v << 8) | p[i];
  return v;
}

static ts_status
parse_entry (ts_safetensors *st, const char *name, const ts_json *v, ts_st_entry *e)
{
  const ts_json *dt = ts_json_get (v, "dtype"), *shape = ts_json_get (v, "shape");
  const ts_json *off = ts_json_get (v, "data_offsets");
  int size = 0;
  int64_t numel = 1;

  if (v->type != TS_JSON_OBJECT || dt == NULL || dt->type != TS_JSON_STRING || shape == NULL ||
      shape->type != TS_JSON_ARRAY || off == NULL || off->type != TS_JSON_ARRAY || off->len != 2)
    return ts_error (TS_ERR_FORMAT, "%s: tensor '%s': header entry needs dtype, shape and "
                     "data_offsets", st->path, name);
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    if (strcmp (dt->string, dtypes[i].name) == 0)
      {
        e->dtype = dtypes[i].dtype;
        size = dtypes[i].size;
      }
  if (size == 0)
    return ts_error (TS_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%.15s'", st->path, name,
                     dt->string);
  snprintf (e->dtype_name, sizeof e->dtype_name, "%s", dt->string);
  if (shape->len > TS_ST_MAX_DIMS)
    return ts_error (TS_ERR_FORMAT, "%s: tensor '%s': %zu dimensions", st->path, name, shape->len);
  e->ndim = (int) shape->len;
  for (size_t i = 0; i < shape->len; i++)
    {
      const ts_json *d = &shape->items[i];
      if (d->type != TS_JSON_NUMBER || !d->is_integer || d->integer < 0 ||
          (d->integer > 0 && numel > (INT64_MAX / 16) / d->integer))
        return ts_error (TS_ERR_FORMAT, "%s: tensor '%s': bad shape", st->path, name);
      e->shape[i] = d->integer;
      numel *= d->integer;
    }
  e->numel = numel;
  for (int i = 0; i < 2; i++)
    if (off->items[i].type != TS_JSON_NUMBER || !off->items[i].is_integer ||
        off->items[i].integer < 0)
      return ts_error (TS_ERR_FORMAT, "%s: tensor '%s': bad data_offsets", st->path, name);
  e->begin = (uint64_t) off->items[0].integer;
  e->end = (uint64_t) off->items[1].integer;
  if (e->end < e->begin || e->end > st->data_size)
    return ts_error (TS_ERR_FORMAT, "%s: tensor '%s': data_offsets [%llu, %llu] outside the "
                     "%zu-byte data section (truncated file?)", st->path, name,
                     (unsigned long long) e->begin, (unsigned long long) e->end, st->data_size);
  if (e->end - e->begin != (uint64_t) numel * (uint64_t) size)
    return ts_error (TS_ERR_FORMAT, "%s: tensor '%s': %llu bytes for %lld %s values",
                     st->path, name, (unsigned long long) (e->end - e->begin),
                     (long long) numel, e->dtype_name);
  e->name = strdup (name);
  if (e->name == NULL)
    return ts_error (TS_ERR_NOMEM, "%s: out of memory", st->path);
  return TS_OK;
}

static ts_status
parse_header (ts_safetensors *st)
{
  uint64_t hlen;
  ts_json *root = NULL;
  ts_status s;

  if (st->file_size < 8)
    return ts_error (TS_ERR_FORMAT, "%s: not a safetensors file (%zu bytes, truncated?)",
                     st->path, st->file_size);
  hlen = read_u64le (st->file);
  if (hlen > MAX_HEADER || hlen > st->file_size - 8)
    return ts_error (TS_ERR_FORMAT, "%s: header length %llu does not fit the %zu-byte file "
                     "(truncated or not safetensors)", st->path, (unsigned long long) hlen,
                     st->file_size);
  if (hlen < 2 || st->file[8] != '{')
    return ts_error (TS_ERR_FORMAT, "%s: header is not a JSON object", st->path);
  st->data = st->file + 8 + hlen;
  st->data_size = st->file_size - 8 - hlen;
  s = ts_json_parse ((const char *) st->file + 8, hlen, st->path, &root);
  if (s != TS_OK)
    return s;
  if (root->type != TS_JSON_OBJECT)
    {
      ts_json_free (root);
      return ts_error (TS_ERR_FORMAT, "%s: header is not a JSON object", st->path);
    }
  st->entries = calloc (root->len + 1, sizeof *st->entries);
  if (st->entries == NULL)
    {
      ts_json_free (root);
      return ts_error (TS_ERR_NOMEM, "%s: out of memory", st->path);
    }
  for (size_t i = 0; i < root->len && s == TS_OK; i++)
    {
      const ts_json *v = &root->items[i];
      if (strcmp (root->keys[i], "__metadata__") == 0)
        {
          if (v->type != TS_JSON_OBJECT)
            {
              s = ts_error (TS_ERR_FORMAT, "%s: __metadata__ is not an object", st->path);
              break;
            }
          /* The JSON reader rejects duplicate keys; this guard keeps the arrays
           * and n_meta from disagreeing should a second block ever get here. */
          if (st->meta_keys != NULL)
            {
              s = ts_error (TS_ERR_FORMAT, "%s: more than one __metadata__ object", st->path);
              break;
            }
          st->meta_keys = calloc (v->len + 1, sizeof (char *));
          st->meta_values = calloc (v->len + 1, sizeof (char *));
          if (st->meta_keys == NULL || st->meta_values == NULL)
            s = ts_error (TS_ERR_NOMEM, "%s: out of memory", st->path);
          for (size_t j = 0; j < v->len && s == TS_OK; j++)
            {
              if (v->items[j].type != TS_JSON_STRING)
                {
                  s = ts_error (TS_ERR_FORMAT, "%s: __metadata__ value '%s' is not a string",
                                st->path, v->keys[j]);
                  break;
                }
              st->meta_keys[st->n_meta] = strdup (v->keys[j]);
              st->meta_values[st->n_meta] = strdup (v->items[j].string);
              st->n_meta++;
              if (st->meta_keys[st->n_meta - 1] == NULL || st->meta_values[st->n_meta - 1] == NULL)
                s = ts_error (TS_ERR_NOMEM, "%s: out of memory", st->path);
            }
          continue;
        }
      s = parse_entry (st, root->keys[i], v, &st->entries[st->n_entries]);
      if (s == TS_OK)
        st->n_entries++;
    }
  ts_json_free (root);
  return s;
}

ts_status
ts_safetensors_parse (const uint8_t *bytes, size_t size, const char *what,
                      ts_safetensors **out)
{
  ts_safetensors *st = calloc (1, sizeof *st);
  ts_status s;

  *out = NULL;
  if (st == NULL || (st->path = strdup (what ? what : "safetensors")) == NULL ||
      (st->file = malloc (size ? size : 1)) == NULL)
    {
      ts_safetensors_free (st);
      return ts_error (TS_ERR_NOMEM, "%s: out of memory", what ? what : "safetensors");
    }
  if (size)
    memcpy (st->file, bytes, size);
  st->file_size = size;
  s = parse_header (st);
  if (s != TS_OK)
    {
      ts_safetensors_free (st);
      return s;
    }
  *out = st;
  return TS_OK;
}

ts_status
ts_safetensors_open (const char *path, ts_safetensors **out)
{
  FILE *f;
  struct stat sb;
  ts_safetensors *st;
  ts_status s;

  *out = NULL;
  f = fopen (path, "rb");
  if (f == NULL)
    return ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));
  if (fstat (fileno (f), &sb) != 0 || !S_ISREG (sb.st_mode))
    {
      fclose (f);
      return ts_error (TS_ERR_IO, "%s: not a regular file", path);
    }
  st = calloc (1, sizeof *st);
  if (st == NULL || (st->path = strdup (path)) == NULL ||
      (st->file = malloc (sb.st_size ? (size_t) sb.st_size : 1)) == NULL)
    {
      fclose (f);
      ts_safetensors_free (st);
      return ts_error (TS_ERR_NOMEM, "%s: out of memory (%lld bytes)", path,
                       (long long) sb.st_size);
    }
  st->file_size = fread (st->file, 1, (size_t) sb.st_size, f);
  if (ferror (f) || st->file_size != (size_t) sb.st_size)
    {
      fclose (f);
      ts_safetensors_free (st);
      return ts_error (TS_ERR_IO, "%s: read error", path);
    }
  fclose (f);
  s = parse_header (st);
  if (s != TS_OK)
    {
      ts_safetensors_free (st);
      return s;
    }
  *out = st;
  return TS_OK;
}

const ts_st_entry *
ts_safetensors_find (const ts_safetensors *st, const char *name)
{
  for (int i = 0; i < st->n_entries; i++)
    if (strcmp (st->entries[i].name, name) == 0)
      return &st->entries[i];
  return NULL;
}

const char *
ts_safetensors_meta (const ts_safetensors *st, const char *key)
{
  for (int i = 0; i < st->n_meta; i++)
    if (strcmp (st->meta_keys[i], key) == 0)
      return st->meta_values[i];
  return NULL;
}

ts_status
ts_safetensors_read_f32 (const ts_safetensors *st, const ts_st_entry *e, float *dst, int64_t n)
{
  const uint8_t *p = st->data + e->begin;

  if (n != e->numel)
    return ts_error (TS_ERR_SHAPE, "%s: tensor '%s': %lld values, expected %lld", st->path,
                     e->name, (long long) e->numel, (long long) n);
  /* memcpy per element: the data section need not be aligned */
  for (int64_t i = 0; i < n; i++)
    switch (e->dtype)
      {
      case TS_ST_F32:
        memcpy (&dst[i], p + 4 * i, 4);
        break;
      case TS_ST_F16:
      case TS_ST_BF16:
        {
          uint16_t h = (uint16_t) (p[2 * i] | (p[2 * i + 1] << 8));
          dst[i] = e->dtype == TS_ST_F16 ? ts_half_to_float (h) : ts_bf16_to_float (h);
          break;
        }
      case TS_ST_F64:
        {
          double d;
          memcpy (&d, p + 8 * i, 8);
          dst[i] = (float) d;
          break;
        }
      case TS_ST_I64:
        {
          int64_t v;
          memcpy (&v, p + 8 * i, 8);
          dst[i] = (float) v;
          break;
        }
      case TS_ST_I32:
        {
          int32_t v;
          memcpy (&v, p + 4 * i, 4);
          dst[i] = (float) v;
          break;
        }
      case TS_ST_OTHER:
      default:
        return ts_error (TS_ERR_UNSUPPORTED, "%s: tensor '%s': dtype %s cannot be read as "
                         "float32", st->path, e->name, e->dtype_name);
      }
  return TS_OK;
}

ts_status
ts_safetensors_write (const char *path, const ts_st_tensor *tensors, int n,
                      const char *const *meta_kv, int n_meta)
{
  ts_strbuf h = { 0 };
  uint64_t offset = 0, hlen;
  uint8_t lenbuf[8];
  ts_write_part *parts;
  ts_status st;

  ts_strbuf_append (&h, "{", 1);
  if (n_meta > 0)
    {
      ts_strbuf_append (&h, "\"__metadata__\":{", 16);
      for (int i = 0; i < n_meta; i++)
        {
          if (i)
            ts_strbuf_append (&h, ",", 1);
          ts_strbuf_json_string (&h, meta_kv[2 * i]);
          ts_strbuf_append (&h, ":", 1);
          ts_strbuf_json_string (&h, meta_kv[2 * i + 1]);
        }
      ts_strbuf_append (&h, "}", 1);
    }
  for (int i = 0; i < n; i++)
    {
      const ts_st_tensor *t = &tensors[i];
      int64_t numel = 1;
      if (t->ndim < 0 || t->ndim > TS_ST_MAX_DIMS)
        {
          ts_strbuf_clear (&h);
          return ts_error (TS_ERR_INVALID, "%s: tensor '%s': %d dimensions", path, t->name,
                           t->ndim);
        }
      if (n_meta > 0 || i > 0)
        ts_strbuf_append (&h, ",", 1);
      ts_strbuf_json_string (&h, t->name);
      ts_strbuf_append (&h, ":{\"dtype\":\"F32\",\"shape\":[", 25);
      for (int d = 0; d < t->ndim; d++)
        {
          ts_strbuf_printf (&h, "%s%lld", d ? "," : "", (long long) t->shape[d]);
          numel *= t->shape[d];
        }
      ts_strbuf_printf (&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long) offset,
                        (unsigned long long) (offset + 4 * (uint64_t) numel));
      offset += 4 * (uint64_t) numel;
    }
  ts_strbuf_append (&h, "}", 1);
  /* pad with spaces so the data section starts 8-byte aligned, as the reference writer does */
  while (!h.failed && h.len % 8 != 0)
    ts_strbuf_append (&h, " ", 1);
  if (h.failed)
    {
      ts_strbuf_clear (&h);
      return ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
    }
  hlen = h.len;
  for (int i = 0; i < 8; i++)
    lenbuf[i] = (uint8_t) (hlen >> (8 * i));

  parts = malloc (sizeof *parts * ((size_t) n + 2));
  if (parts == NULL)
    {
      ts_strbuf_clear (&h);
      return ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
    }
  parts[0] = (ts_write_part) { lenbuf, 8 };
  parts[1] = (ts_write_part) { h.data, h.len };
  for (int i = 0; i < n; i++)
    {
      int64_t numel = 1;
      for (int d = 0; d < tensors[i].ndim; d++)
        numel *= tensors[i].shape[d];
      parts[i + 2] = (ts_write_part) { tensors[i].data, 4 * (size_t) numel };
    }
  st = ts_atomic_write (path, parts, n + 2);
  free (parts);
  ts_strbuf_clear (&h);
  return st;
}
