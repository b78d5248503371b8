/* ts-tflite.c: bounds-checked FlatBuffer walking for .tflite files.
 *
 * FlatBuffers in brief: the file starts with a u32 offset to the root table.
 * A table starts with an i32 "soffset": its vtable sits at table - soffset.
 * The vtable holds u16 vtable size, u16 table size, then one u16 per field
 * id: the field's offset inside the table, 0 when absent (default value).
 * Tables, vectors and strings are reached through a u32 offset relative to
 * where the offset itself is stored; a vector is a u32 length then items.
 */
#include "ts-tflite.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ts-safetensors.h"

typedef struct {
  const uint8_t *b;
  size_t size;
  const char *what;
  ts_status status;
} fb;

static ts_status
bad (fb *f, const char *where)
{
  if (f->status == TS_OK)
    f->status = ts_error (TS_ERR_FORMAT, "%s: corrupt or truncated TFLite file (%s)", f->what,
                          where);
  return f->status;
}

static int
in_range (fb *f, size_t pos, size_t n)
{
  return pos <= f->size && n <= f->size - pos;
}

static uint32_t
u32 (fb *f, size_t pos)
{
  if (!in_range (f, pos, 4))
    {
      bad (f, "offset outside the file");
      return 0;
    }
  return (uint32_t) f->b[pos] | (uint32_t) f->b[pos + 1] << 8 | (uint32_t) f->b[pos + 2] << 16 |
         (uint32_t) f->b[pos + 3] << 24;
}

static uint16_t
u16 (fb *f, size_t pos)
{
  if (!in_range (f, pos, 2))
    {
      bad (f, "offset outside the file");
      return 0;
    }
  return (uint16_t) (f->b[pos] | f->b[pos + 1] << 8);
}

/* position of field @id of the table at @t, 0 when absent */
static size_t
field (fb *f, size_t t, int id)
{
  int32_t soff = (int32_t) u32 (f, t);
  int64_t vt = (int64_t) t - soff;
  uint16_t vsize, off;

  if (f->status != TS_OK)
    return 0;
  if (vt < 0 || !in_range (f, (size_t) vt, 4))
    {
      bad (f, "vtable outside the file");
      return 0;
    }
  vsize = u16 (f, (size_t) vt);
  if (4 + 2 * (size_t) id + 2 > vsize)
    return 0;
  if (!in_range (f, (size_t) vt, vsize))
    {
      bad (f, "vtable outside the file");
      return 0;
    }
  off = u16 (f, (size_t) vt + 4 + 2 * (size_t) id);
  return off ? t + off : 0;
}

static int64_t
field_int (fb *f, size_t t, int id, int size, int is_signed, int64_t def)
{
  size_t p = field (f, t, id);
  uint64_t v = 0;

  if (p == 0)
    return def;
  if (!in_range (f, p, (size_t) size))
    {
      bad (f, "scalar outside the file");
      return def;
    }
  for (int i = size - 1; i >= 0; i--)
    v = (v << 8) | f->b[p + i];
  if (is_signed && size < 8 && (v >> (8 * size - 1)) & 1)
    v |= ~(uint64_t) 0 << (8 * size);
  return (int64_t) v;
}

/* follows the offset stored at field @id: a table, vector or string; 0 when absent */
static size_t
field_ref (fb *f, size_t t, int id)
{
  size_t p = field (f, t, id), r;

  if (p == 0)
    return 0;
  r = p + u32 (f, p);
  if (f->status == TS_OK && !in_range (f, r, 4))
    {
      bad (f, "reference outside the file");
      return 0;
    }
  return f->status == TS_OK ? r : 0;
}

/* vector at field @id: returns its element count, *items = first element */
static uint32_t
field_vec (fb *f, size_t t, int id, size_t elem, size_t *items)
{
  size_t v = field_ref (f, t, id);
  uint32_t n;

  *items = 0;
  if (v == 0)
    return 0;
  n = u32 (f, v);
  if (f->status != TS_OK || (n > 0 && !in_range (f, v + 4, (size_t) n * elem)))
    {
      bad (f, "vector outside the file");
      return 0;
    }
  *items = v + 4;
  return n;
}

/* i-th table of a vector of tables */
static size_t
vec_table (fb *f, size_t items, uint32_t i)
{
  size_t p = items + 4 * (size_t) i, r = p + u32 (f, p);
  if (f->status != TS_OK || !in_range (f, r, 4))
    {
      bad (f, "table outside the file");
      return 0;
    }
  return r;
}

static char *
field_string (fb *f, size_t t, int id)
{
  size_t items;
  uint32_t n = field_vec (f, t, id, 1, &items);
  char *s = malloc ((size_t) n + 1);

  if (s == NULL)
    return NULL;
  if (n)
    memcpy (s, f->b + items, n);
  s[n] = '\0';
  return s;
}

static int32_t *
int_vector (fb *f, size_t t, int id, int *count)
{
  size_t items;
  uint32_t n = field_vec (f, t, id, 4, &items);
  int32_t *v = calloc ((size_t) n + 1, sizeof *v);

  *count = 0;
  if (v == NULL)
    return NULL;
  for (uint32_t i = 0; i < n; i++)
    v[i] = (int32_t) u32 (f, items + 4 * (size_t) i);
  *count = (int) n;
  return v;
}

void
ts_tflite_free (ts_tflite *t)
{
  if (t == NULL)
    return;
  for (int i = 0; i < t->n_tensors; i++)
    {
      free (t->tensors[i].name);
      free (t->tensors[i].scale);
      free (t->tensors[i].zero_point);
    }
  for (int i = 0; i < t->n_ops; i++)
    {
      free (t->ops[i].inputs);
      free (t->ops[i].outputs);
    }
  free (t->tensors);
  free (t->ops);
  free (t->inputs);
  free (t->outputs);
  free (t->file);
  free (t->path);
  free (t);
}

static ts_status
read_tensor (fb *f, ts_tflite *m, size_t tt, size_t buffers, uint32_t n_buffers,
             ts_tfl_tensor *out, int index)
{
  size_t items, q;
  uint32_t n, nb;
  int64_t numel = 1;

  n = field_vec (f, tt, 0, 4, &items);
  if (n > TS_TFL_MAX_DIMS)
    return bad (f, "tensor with too many dimensions");
  out->ndim = (int) n;
  for (uint32_t d = 0; d < n; d++)
    {
      out->shape[d] = (int32_t) u32 (f, items + 4 * (size_t) d);
      if (out->shape[d] < 0 || (out->shape[d] > 0 && numel > (INT64_MAX / 16) / out->shape[d]))
        return bad (f, "bad tensor shape");
      numel *= out->shape[d];
    }
  out->numel = numel;
  out->type = (int) field_int (f, tt, 1, 1, 0, 0);
  out->name = field_string (f, tt, 3);
  if (out->name == NULL)
    return f->status = ts_error (TS_ERR_NOMEM, "%s: out of memory", m->path);

  nb = (uint32_t) field_int (f, tt, 2, 4, 0, 0);
  if (nb > 0 && nb < n_buffers)
    {
      size_t buf = vec_table (f, buffers, nb), dataitems;
      uint32_t len = field_vec (f, buf, 0, 1, &dataitems);
      uint64_t off = (uint64_t) field_int (f, buf, 1, 8, 0, 0);
      uint64_t sz = (uint64_t) field_int (f, buf, 2, 8, 0, 0);
      if (len > 0)
        {
          out->data = f->b + dataitems;
          out->data_size = len;
        }
      else if (off > 1 && sz > 0)
        {
          /* large models keep buffers after the FlatBuffer, addressed by offset */
          if (!in_range (f, (size_t) off, (size_t) sz))
            return bad (f, "buffer outside the file");
          out->data = f->b + off;
          out->data_size = (size_t) sz;
        }
    }
  else if (nb >= n_buffers && n_buffers > 0)
    return bad (f, "tensor buffer index out of range");

  q = field_ref (f, tt, 4);
  if (q != 0)
    {
      size_t sitems, zitems;
      uint32_t ns = field_vec (f, q, 2, 4, &sitems);
      uint32_t nz = field_vec (f, q, 3, 8, &zitems);
      if (ns > 0)
        {
          out->scale = calloc (ns, sizeof (float));
          out->zero_point = calloc (ns, sizeof (int64_t));
          if (out->scale == NULL || out->zero_point == NULL)
            return f->status = ts_error (TS_ERR_NOMEM, "%s: out of memory", m->path);
          for (uint32_t i = 0; i < ns; i++)
            {
              uint32_t bits = u32 (f, sitems + 4 * (size_t) i);
              memcpy (&out->scale[i], &bits, 4);
              if (i < nz)
                out->zero_point[i] = (int64_t) ((uint64_t) u32 (f, zitems + 8 * (size_t) i) |
                                                (uint64_t) u32 (f, zitems + 8 * (size_t) i + 4)
                                                  << 32);
            }
          out->n_scale = (int) ns;
          out->quantized_dimension = (int) field_int (f, q, 6, 4, 1, 0);
        }
    }
  (void) index;
  return f->status;
}

static ts_status
parse (ts_tflite *m)
{
  fb f = { m->file, m->size, m->path, TS_OK };
  size_t root, codes, subgraphs, buffers, sg, tensors, ops;
  uint32_t n_codes, n_sg, n_buffers, n_tensors, n_ops;
  int *builtin = NULL;

  if (m->size < 8)
    return bad (&f, "file too short");
  if (memcmp (m->file + 4, "TFL3", 4) != 0)
    return ts_error (TS_ERR_FORMAT, "%s: not a TFLite file (no TFL3 identifier)", m->path);
  root = u32 (&f, 0);
  if (!in_range (&f, root, 4))
    return bad (&f, "root table outside the file");
  n_codes = field_vec (&f, root, 1, 4, &codes);
  n_sg = field_vec (&f, root, 2, 4, &subgraphs);
  n_buffers = field_vec (&f, root, 4, 4, &buffers);
  if (f.status != TS_OK)
    return f.status;
  if (n_sg < 1)
    return bad (&f, "no subgraph");

  builtin = calloc ((size_t) n_codes + 1, sizeof *builtin);
  if (builtin == NULL)
    return ts_error (TS_ERR_NOMEM, "%s: out of memory", m->path);
  for (uint32_t i = 0; i < n_codes && f.status == TS_OK; i++)
    {
      size_t c = vec_table (&f, codes, i);
      /* builtin_code (field 3) superseded the int8 deprecated_builtin_code (field 0) at 127 */
      int64_t dep = field_int (&f, c, 0, 1, 1, 0), code = field_int (&f, c, 3, 4, 1, 0);
      builtin[i] = (int) (code > dep ? code : dep);
    }

  sg = vec_table (&f, subgraphs, 0);
  n_tensors = field_vec (&f, sg, 0, 4, &tensors);
  n_ops = field_vec (&f, sg, 3, 4, &ops);
  if (f.status != TS_OK)
    goto done;
  m->tensors = calloc ((size_t) n_tensors + 1, sizeof *m->tensors);
  m->ops = calloc ((size_t) n_ops + 1, sizeof *m->ops);
  if (m->tensors == NULL || m->ops == NULL)
    {
      f.status = ts_error (TS_ERR_NOMEM, "%s: out of memory", m->path);
      goto done;
    }
  for (uint32_t i = 0; i < n_tensors && f.status == TS_OK; i++)
    {
      read_tensor (&f, m, vec_table (&f, tensors, i), buffers, n_buffers, &m->tensors[i], (int) i);
      m->n_tensors = (int) i + 1;
    }
  m->inputs = int_vector (&f, sg, 1, &m->n_inputs);
  m->outputs = int_vector (&f, sg, 2, &m->n_outputs);
  for (uint32_t i = 0; i < n_ops && f.status == TS_OK; i++)
    {
      size_t o = vec_table (&f, ops, i), opt;
      ts_tfl_op *op = &m->ops[i];
      uint32_t idx = (uint32_t) field_int (&f, o, 0, 4, 0, 0);

      m->n_ops = (int) i + 1;
      if (idx >= n_codes)
        {
          bad (&f, "operator code index out of range");
          break;
        }
      op->code = builtin[idx];
      op->inputs = int_vector (&f, o, 1, &op->n_inputs);
      op->outputs = int_vector (&f, o, 2, &op->n_outputs);
      if (op->inputs == NULL || op->outputs == NULL)
        {
          f.status = ts_error (TS_ERR_NOMEM, "%s: out of memory", m->path);
          break;
        }
      for (int k = 0; k < op->n_inputs; k++)
        if (op->inputs[k] < -1 || op->inputs[k] >= (int32_t) n_tensors)
          bad (&f, "operator input index out of range");
      for (int k = 0; k < op->n_outputs; k++)
        if (op->outputs[k] < -1 || op->outputs[k] >= (int32_t) n_tensors)
          bad (&f, "operator output index out of range");
      op->stride_w = op->stride_h = 1;
      opt = field_ref (&f, o, 4);
      if (opt != 0 && op->code == TS_TFL_OP_CONV_2D)
        {
          op->padding = (int) field_int (&f, opt, 0, 1, 1, 0);
          op->stride_w = (int) field_int (&f, opt, 1, 4, 1, 0);
          op->stride_h = (int) field_int (&f, opt, 2, 4, 1, 0);
          op->activation = (int) field_int (&f, opt, 3, 1, 1, 0);
        }
      else if (opt != 0 && op->code == TS_TFL_OP_DEPTHWISE_CONV_2D)
        {
          op->padding = (int) field_int (&f, opt, 0, 1, 1, 0);
          op->stride_w = (int) field_int (&f, opt, 1, 4, 1, 0);
          op->stride_h = (int) field_int (&f, opt, 2, 4, 1, 0);
          op->depth_multiplier = (int) field_int (&f, opt, 3, 4, 1, 0);
          op->activation = (int) field_int (&f, opt, 4, 1, 1, 0);
        }
    }
  for (int i = 0; i < m->n_inputs; i++)
    if (m->inputs[i] < 0 || m->inputs[i] >= (int32_t) n_tensors)
      bad (&f, "subgraph input index out of range");

done:
  free (builtin);
  return f.status;
}

ts_status
ts_tflite_parse (const uint8_t *bytes, size_t size, const char *what, ts_tflite **out)
{
  ts_tflite *m = calloc (1, sizeof *m);
  ts_status s;

  *out = NULL;
  if (m == NULL || (m->path = strdup (what ? what : "tflite")) == NULL ||
      (m->file = malloc (size ? size : 1)) == NULL)
    {
      ts_tflite_free (m);
      return ts_error (TS_ERR_NOMEM, "tflite: out of memory");
    }
  if (size)
    memcpy (m->file, bytes, size);
  m->size = size;
  s = parse (m);
  if (s != TS_OK)
    {
      ts_tflite_free (m);
      return s;
    }
  *out = m;
  return TS_OK;
}

ts_status
ts_tflite_open (const char *path, ts_tflite **out)
{
  FILE *fp = fopen (path, "rb");
  struct stat sb;
  uint8_t *buf;
  size_t n;
  ts_status s;

  *out = NULL;
  if (fp == NULL)
    return ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));
  if (fstat (fileno (fp), &sb) != 0 || !S_ISREG (sb.st_mode))
    {
      fclose (fp);
      return ts_error (TS_ERR_IO, "%s: not a regular file", path);
    }
  buf = malloc (sb.st_size ? (size_t) sb.st_size : 1);
  if (buf == NULL)
    {
      fclose (fp);
      return ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
    }
  n = fread (buf, 1, (size_t) sb.st_size, fp);
  fclose (fp);
  if (n != (size_t) sb.st_size)
    {
      free (buf);
      return ts_error (TS_ERR_IO, "%s: read error", path);
    }
  s = ts_tflite_parse (buf, n, path, out);
  free (buf);
  return s;
}

ts_status
ts_tflite_dequantize (const ts_tflite *m, int tensor, float *dst, int64_t n)
{
  const ts_tfl_tensor *t;
  int64_t inner = 1, dim = 1;
  int elem;

  if (tensor < 0 || tensor >= m->n_tensors)
    return ts_error (TS_ERR_INVALID, "%s: no tensor %d", m->path, tensor);
  t = &m->tensors[tensor];
  if (n != t->numel)
    return ts_error (TS_ERR_SHAPE, "%s: tensor '%s' holds %lld values, asked for %lld", m->path,
                     t->name, (long long) t->numel, (long long) n);
  switch (t->type)
    {
    case TS_TFL_FLOAT32: case TS_TFL_INT32: elem = 4; break;
    case TS_TFL_FLOAT16: elem = 2; break;
    case TS_TFL_UINT8: case TS_TFL_INT8: elem = 1; break;
    default:
      return ts_error (TS_ERR_UNSUPPORTED, "%s: tensor '%s': type %d is not supported", m->path,
                       t->name, t->type);
    }
  if (t->data == NULL || t->data_size < (size_t) n * (size_t) elem)
    return ts_error (TS_ERR_FORMAT, "%s: tensor '%s' has %zu bytes of data, needs %lld",
                     m->path, t->name, t->data ? t->data_size : 0, (long long) n * elem);
  if (t->n_scale > 1)
    {
      if (t->quantized_dimension < 0 || t->quantized_dimension >= t->ndim ||
          t->shape[t->quantized_dimension] != t->n_scale)
        return ts_error (TS_ERR_FORMAT, "%s: tensor '%s': %d scales along dimension %d", m->path,
                         t->name, t->n_scale, t->quantized_dimension);
      dim = t->n_scale;
      for (int d = t->quantized_dimension + 1; d < t->ndim; d++)
        inner *= t->shape[d];
    }
  if ((t->type == TS_TFL_UINT8 || t->type == TS_TFL_INT8 || t->type == TS_TFL_INT32) &&
      t->n_scale == 0)
    return ts_error (TS_ERR_FORMAT, "%s: integer tensor '%s' has no quantization scale",
                     m->path, t->name);
  for (int64_t i = 0; i < n; i++)
    {
      int c = t->n_scale > 1 ? (int) ((i / inner) % dim) : 0;
      const uint8_t *p = t->data + (size_t) i * (size_t) elem;
      switch (t->type)
        {
        case TS_TFL_FLOAT32:
          memcpy (&dst[i], p, 4);
          break;
        case TS_TFL_FLOAT16:
          dst[i] = ts_half_to_float ((uint16_t) (p[0] | p[1] << 8));
          break;
        case TS_TFL_UINT8:
          /* in double: a hostile zero point (INT64_MIN) must not overflow */
          dst[i] = (float) (((double) p[0] - (double) t->zero_point[c]) * t->scale[c]);
          break;
        case TS_TFL_INT8:
          dst[i] = (float) (((double) (int8_t) p[0] - (double) t->zero_point[c]) * t->scale[c]);
          break;
        case TS_TFL_INT32:
          {
            int32_t q;
            memcpy (&q, p, 4);
            dst[i] = (float) (((double) q - (double) t->zero_point[c]) * t->scale[c]);
            break;
          }
        }
    }
  return TS_OK;
}
