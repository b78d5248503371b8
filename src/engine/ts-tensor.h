/* ts-tensor.h: float32 tensors of up to 4 dimensions whose buffer belongs to a backend.
 *
 * Layout is contiguous row-major; images are NCHW.  A tensor never owns a
 * reference to host memory when its backend is a device: read and write it
 * with ts_tensor_to_host / ts_tensor_from_host.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_backend ts_backend;

#define TS_MAX_DIMS 4

typedef struct ts_tensor {
  float *data;                 /* backend memory (host memory for the CPU backend) */
  int ndim;
  int64_t shape[TS_MAX_DIMS];  /* unused trailing dims are 1 */
  int64_t numel;
  ts_backend *be;
  int owns_data;               /* 0 for views */
} ts_tensor;

/* Allocates a zero-filled tensor.  NULL (with ts_last_error set) on failure. */
ts_tensor *ts_tensor_new (ts_backend *be, int ndim, const int64_t *shape);
ts_tensor *ts_tensor_new_1d (ts_backend *be, int64_t n0);
ts_tensor *ts_tensor_new_2d (ts_backend *be, int64_t n0, int64_t n1);
ts_tensor *ts_tensor_new_4d (ts_backend *be, int64_t n, int64_t c, int64_t h, int64_t w);
/* A tensor over memory owned by someone else (not freed by ts_tensor_free). */
ts_tensor *ts_tensor_view (ts_backend *be, float *data, int ndim, const int64_t *shape);
void ts_tensor_free (ts_tensor *t);

/* Same shape?  Writes "expected [a,b,c,d] found [..]" into ts_last_error when not. */
int ts_tensor_same_shape (const ts_tensor *a, const ts_tensor *b);
/* Formats the shape as "[64, 3, 7, 7]" into @buf. */
const char *ts_tensor_shape_str (const ts_tensor *t, char *buf, size_t size);

ts_status ts_tensor_from_host (ts_tensor *t, const float *src, int64_t n);
ts_status ts_tensor_to_host (const ts_tensor *t, float *dst, int64_t n);

#ifdef __cplusplus
}
#endif
