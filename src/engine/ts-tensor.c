/* ts-tensor.c: tensor bookkeeping; memory comes from the tensor's backend. */
#include "ts-tensor.h"

#include <stdio.h>
#include <stdlib.h>

#include "ts-backend.h"

static ts_status
check_shape (int ndim, const int64_t *shape, int64_t *numel)
{
  int64_t n = 1;

  if (ndim < 1 || ndim > TS_MAX_DIMS)
    return ts_error (TS_ERR_SHAPE, "tensor: %d dimensions (1 to %d allowed)", ndim, TS_MAX_DIMS);
  for (int i = 0; i < ndim; i++)
    {
      if (shape[i] < 0)
        return ts_error (TS_ERR_SHAPE, "tensor: dimension %d is negative (%lld)", i,
                         (long long) shape[i]);
      if (shape[i] > 0 && n > INT64_MAX / 4 / shape[i])
        return ts_error (TS_ERR_SHAPE, "tensor: too many elements");
      n *= shape[i];
    }
  *numel = n;
  return TS_OK;
}

static ts_tensor *
tensor_header (ts_backend *be, int ndim, const int64_t *shape)
{
  ts_tensor *t;
  int64_t numel = 0;

  if (be == NULL)
    {
      ts_error (TS_ERR_INVALID, "tensor: no backend");
      return NULL;
    }
  if (check_shape (ndim, shape, &numel) != TS_OK)
    return NULL;
  t = calloc (1, sizeof *t);
  if (t == NULL)
    {
      ts_error (TS_ERR_NOMEM, "tensor: out of memory");
      return NULL;
    }
  t->ndim = ndim;
  for (int i = 0; i < TS_MAX_DIMS; i++)
    t->shape[i] = i < ndim ? shape[i] : 1;
  t->numel = numel;
  t->be = be;
  return t;
}

size_t
ts_dtype_size (ts_dtype dtype)
{
  return dtype == TS_BF16 ? 2 : 4;
}

const char *
ts_tensor_type_str (const ts_tensor *t)
{
  static const char *names[2][2] = { { "f32 NCHW", "f32 NHWC" }, { "bf16 NCHW", "bf16 NHWC" } };
  return names[t->dtype == TS_BF16][t->layout == TS_NHWC];
}

ts_tensor *
ts_tensor_new_as (ts_backend *be, int ndim, const int64_t *shape, ts_dtype dtype,
                  ts_layout layout)
{
  ts_tensor *t;
  size_t bytes;

  if (be != NULL && (dtype != TS_F32 || layout != TS_NCHW))
    {
      if (be->i->convert == NULL)
        {
          ts_error (TS_ERR_UNSUPPORTED, "tensor: the %s backend has only float32 NCHW tensors "
                    "(bfloat16 and NHWC need a CUDA device)", be->i->name);
          return NULL;
        }
      if (layout == TS_NHWC && ndim != 4)
        {
          ts_error (TS_ERR_SHAPE, "tensor: NHWC needs 4 dimensions, not %d", ndim);
          return NULL;
        }
    }
  t = tensor_header (be, ndim, shape);
  if (t == NULL)
    return NULL;
  t->dtype = dtype;
  t->layout = layout;
  bytes = (size_t) (t->numel > 0 ? t->numel : 1) * ts_dtype_size (dtype);
  /* whole floats: the allocators count in floats */
  bytes = (bytes + sizeof (float) - 1) / sizeof (float) * sizeof (float);
  ts_clear_error ();
  t->data = be->i->alloc (be, bytes);
  if (t->data == NULL)
    {
      char buf[96];
      /* keep the backend's own reason (the CUDA one says what to try) */
      if (ts_last_error ()[0] != '\0')
        ts_error_prefix (TS_ERR_NOMEM, "tensor %s (%zu bytes)",
                         ts_tensor_shape_str (t, buf, sizeof buf), bytes);
      else
        ts_error (TS_ERR_NOMEM, "tensor %s: out of memory (%zu bytes)",
                  ts_tensor_shape_str (t, buf, sizeof buf), bytes);
      free (t);
      return NULL;
    }
  t->owns_data = 1;
  return t;
}

ts_tensor *
ts_tensor_new (ts_backend *be, int ndim, const int64_t *shape)
{
  return ts_tensor_new_as (be, ndim, shape, TS_F32, TS_NCHW);
}

ts_tensor *
ts_tensor_new_1d (ts_backend *be, int64_t n0)
{
  int64_t s[1] = { n0 };
  return ts_tensor_new (be, 1, s);
}

ts_tensor *
ts_tensor_new_2d (ts_backend *be, int64_t n0, int64_t n1)
{
  int64_t s[2] = { n0, n1 };
  return ts_tensor_new (be, 2, s);
}

ts_tensor *
ts_tensor_new_4d (ts_backend *be, int64_t n, int64_t c, int64_t h, int64_t w)
{
  int64_t s[4] = { n, c, h, w };
  return ts_tensor_new (be, 4, s);
}

ts_tensor *
ts_tensor_view (ts_backend *be, float *data, int ndim, const int64_t *shape)
{
  ts_tensor *t = tensor_header (be, ndim, shape);

  if (t == NULL)
    return NULL;
  t->data = data;
  t->owns_data = 0;
  return t;
}

void
ts_tensor_free (ts_tensor *t)
{
  if (t == NULL)
    return;
  if (t->owns_data && t->data != NULL)
    t->be->i->free (t->be, t->data);
  free (t);
}

const char *
ts_tensor_shape_str (const ts_tensor *t, char *buf, size_t size)
{
  size_t used = 0;

  if (size == 0)
    return buf;
  buf[0] = '\0';
  used += (size_t) snprintf (buf, size, "[");
  for (int i = 0; i < t->ndim && used < size; i++)
    used += (size_t) snprintf (buf + used, size - used, "%s%lld", i ? ", " : "",
                               (long long) t->shape[i]);
  if (used < size)
    snprintf (buf + used, size - used, "]");
  return buf;
}

int
ts_tensor_same_shape (const ts_tensor *a, const ts_tensor *b)
{
  char ba[96], bb[96];

  if (a->ndim == b->ndim)
    {
      int same = 1;
      for (int i = 0; i < a->ndim; i++)
        same &= a->shape[i] == b->shape[i];
      if (same)
        return 1;
    }
  ts_error (TS_ERR_SHAPE, "expected %s found %s", ts_tensor_shape_str (a, ba, sizeof ba),
            ts_tensor_shape_str (b, bb, sizeof bb));
  return 0;
}

/* A float32 NCHW tensor of @t's shape, for converting @t to or from the host. */
static ts_tensor *
plain_twin (const ts_tensor *t)
{
  return ts_tensor_new (t->be, t->ndim, t->shape);
}

ts_status
ts_tensor_from_host (ts_tensor *t, const float *src, int64_t n)
{
  char buf[96];
  ts_tensor *tmp;

  if (n != t->numel)
    return ts_error (TS_ERR_SHAPE, "tensor %s holds %lld values, got %lld",
                     ts_tensor_shape_str (t, buf, sizeof buf), (long long) t->numel,
                     (long long) n);
  if (ts_tensor_is_plain (t))
    {
      t->be->i->upload (t->be, t->data, src, (size_t) n);
      return ts_backend_check (t->be);
    }
  tmp = plain_twin (t);
  if (tmp == NULL)
    return TS_ERR_NOMEM;   /* ts_tensor_new said why */
  t->be->i->upload (t->be, tmp->data, src, (size_t) n);
  t->be->i->convert (t->be, tmp, t);
  t->be->i->synchronize (t->be);   /* the temporary is read until the convert ends */
  ts_tensor_free (tmp);
  return ts_backend_check (t->be);
}

ts_status
ts_tensor_to_host (const ts_tensor *t, float *dst, int64_t n)
{
  char buf[96];
  ts_tensor *tmp;

  if (n != t->numel)
    return ts_error (TS_ERR_SHAPE, "tensor %s holds %lld values, asked for %lld",
                     ts_tensor_shape_str (t, buf, sizeof buf), (long long) t->numel,
                     (long long) n);
  if (ts_tensor_is_plain (t))
    {
      t->be->i->download (t->be, dst, t->data, (size_t) n);
      return ts_backend_check (t->be);
    }
  tmp = plain_twin (t);
  if (tmp == NULL)
    return TS_ERR_NOMEM;   /* ts_tensor_new said why */
  t->be->i->convert (t->be, t, tmp);
  t->be->i->download (t->be, dst, tmp->data, (size_t) n);
  ts_tensor_free (tmp);
  return ts_backend_check (t->be);
}
