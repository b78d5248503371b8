/* ts-backend.c: helpers common to every backend. */
#include "ts-backend.h"
#include "ts-op-shapes.h"

#include <stdio.h>
#include <stdlib.h>

void
ts_backend_free (ts_backend *be)
{
  if (be == NULL)
    return;
  be->i->destroy (be);
}

void
ts_backend_set_threads (ts_backend *be, int n_threads)
{
  if (be == NULL || be->i->set_threads == NULL)
    return;
  be->i->set_threads (be, n_threads);
}

void
ts_backend_adam_many (ts_backend *be, const ts_adam_item *items, int n, float beta1,
                      float beta2, float eps)
{
  if (be->i->adam_step_many)
    {
      be->i->adam_step_many (be, items, n, beta1, beta2, eps);
      return;
    }
  for (int i = 0; i < n; i++)
    be->i->adam_step (be, items[i].param, items[i].grad, items[i].m, items[i].v, items[i].lr,
                      beta1, beta2, eps, items[i].wd, items[i].step);
}

int
ts_backend_first_nonfinite (ts_backend *be, const ts_tensor *const *t, int n)
{
  if (be->i->first_nonfinite)
    return be->i->first_nonfinite (be, t, n);
  return ts_backend_first_nonfinite_each (be, t, n);
}

int
ts_backend_first_nonfinite_each (ts_backend *be, const ts_tensor *const *t, int n)
{
  for (int i = 0; i < n; i++)
    if (!be->i->all_finite (be, t[i]))
      return i;
  return -1;
}

void
ts_backend_copy_many (ts_backend *be, const ts_tensor *const *src, ts_tensor *const *dst, int n)
{
  if (be->i->copy_many)
    {
      be->i->copy_many (be, src, dst, n);
      return;
    }
  for (int i = 0; i < n; i++)
    be->i->axpby (be, 1.0f, src[i], 0.0f, dst[i]);
}

ts_status
ts_backend_resample_batch (ts_backend *be, const uint8_t *host_src, size_t src_bytes,
                           void *stage, const ts_resample_item *items, int n,
                           const float mean[3], const float std[3], ts_tensor *out)
{
  char shape[64];

  if (be->i->resample_batch == NULL)
    return ts_error (TS_ERR_UNSUPPORTED, "the %s backend cannot resample images", be->i->name);
  if (!ts_op_plain ("resample", out))
    return TS_ERR_UNSUPPORTED;   /* the model converts the batch it gets */
  if (n < 1 || out->ndim != 4 || out->shape[0] != n || out->shape[1] != 3
      || out->shape[2] != out->shape[3])
    return ts_error (TS_ERR_SHAPE, "resample of %d images into a tensor of shape %s "
                     "(expected [%d, 3, size, size])", n,
                     ts_tensor_shape_str (out, shape, sizeof shape), n);
  for (int i = 0; i < n; i++)
    {
      const ts_resample_item *it = &items[i];
      uint64_t bytes = (uint64_t) it->width * (uint64_t) it->height * 3;

      if (it->size != out->shape[2])
        return ts_error (TS_ERR_SHAPE, "resample item %d: output side %d, tensor %s", i,
                         it->size, ts_tensor_shape_str (out, shape, sizeof shape));
      if (it->width < 1 || it->height < 1 || it->offset < 0
          || (uint64_t) it->offset > src_bytes || bytes > src_bytes - (uint64_t) it->offset)
        return ts_error (TS_ERR_INVALID, "resample item %d: %dx%d pixels at byte %lld lie "
                         "outside the %zu source bytes", i, it->width, it->height,
                         (long long) it->offset, src_bytes);
    }
  be->i->resample_batch (be, host_src, src_bytes, stage, items, n, mean, std, out);
  return TS_OK;
}

void
ts_backend_record_failure (ts_backend *be, ts_status status)
{
  if (be == NULL || be->failed != TS_OK || status == TS_OK)
    return;
  be->failed = status;
  snprintf (be->failed_msg, sizeof be->failed_msg, "%s", ts_last_error ());
}

void
ts_backend_restate_failure (ts_backend *be)
{
  if (be != NULL && be->failed != TS_OK)
    snprintf (be->failed_msg, sizeof be->failed_msg, "%s", ts_last_error ());
}

ts_status
ts_backend_check (ts_backend *be)
{
  if (be == NULL || be->failed == TS_OK)
    return TS_OK;
  return ts_error (be->failed, "%s", be->failed_msg);
}
