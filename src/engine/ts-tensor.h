/* ts-tensor.h: tensors of up to 4 dimensions whose buffer belongs to a backend.
 *
 * Contiguous; float32 in NCHW order unless made with ts_tensor_new_as.  A
 * tensor never owns a reference to host memory when its backend is a
 * device: read and write it with ts_tensor_to_host / ts_tensor_from_host.
 *
 * The shape is always the logical [N, C, H, W] (or [N, C], [C]...); the
 * layout says how it lies in memory.  bfloat16 NHWC tensors exist on
 * backends with a `convert` op (CUDA) for the bf16 precision policy: they
 * halve the memory traffic of activations and feed the tensor cores in
 * the layout their convolutions want (docs/cuda.md).
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

typedef enum {
  TS_F32 = 0,     /* IEEE single */
  TS_BF16 = 1,    /* bfloat16: the top 16 bits of a float (8-bit exponent, 7-bit mantissa) */
} ts_dtype;

typedef enum {
  TS_NCHW = 0,    /* row-major in shape order */
  TS_NHWC = 1,    /* 4-d only: channels fastest ([N, H, W, C] in memory) */
} ts_layout;

typedef struct ts_tensor {
  float *data;                 /* backend memory (host memory for the CPU backend);
                                * a BF16 tensor's is uint16_t, cast where it is used */
  int ndim;
  int64_t shape[TS_MAX_DIMS];  /* unused trailing dims are 1 */
  int64_t numel;
  ts_backend *be;
  int owns_data;               /* 0 for views */
  ts_dtype dtype;              /* TS_F32 unless made by ts_tensor_new_as */
  ts_layout layout;
} ts_tensor;

/* Bytes per element of @dtype. */
size_t ts_dtype_size (ts_dtype dtype);
/* "f32 NCHW", "bf16 NHWC": for messages. */
const char *ts_tensor_type_str (const ts_tensor *t);
/* 1 when @t is float32 in row-major (NCHW) order, the form every op takes. */
static inline int
ts_tensor_is_plain (const ts_tensor *t)
{
  return t->dtype == TS_F32 && t->layout == TS_NCHW;
}

/* Allocates a zero-filled tensor.  NULL (with ts_last_error set) on failure. */
ts_tensor *ts_tensor_new (ts_backend *be, int ndim, const int64_t *shape);
ts_tensor *ts_tensor_new_1d (ts_backend *be, int64_t n0);
ts_tensor *ts_tensor_new_2d (ts_backend *be, int64_t n0, int64_t n1);
ts_tensor *ts_tensor_new_4d (ts_backend *be, int64_t n, int64_t c, int64_t h, int64_t w);
/* A zero-filled tensor of @dtype in @layout (NHWC needs 4 dimensions).
 * Anything but F32 NCHW needs a backend with a `convert` op; on another
 * one this fails with TS_ERR_UNSUPPORTED naming the backend. */
ts_tensor *ts_tensor_new_as (ts_backend *be, int ndim, const int64_t *shape, ts_dtype dtype,
                             ts_layout layout);
/* A tensor over memory owned by someone else (not freed by ts_tensor_free). */
ts_tensor *ts_tensor_view (ts_backend *be, float *data, int ndim, const int64_t *shape);
void ts_tensor_free (ts_tensor *t);

/* Same shape?  Writes "expected [a,b,c,d] found [..]" into ts_last_error when not. */
int ts_tensor_same_shape (const ts_tensor *a, const ts_tensor *b);
/* Formats the shape as "[64, 3, 7, 7]" into @buf. */
const char *ts_tensor_shape_str (const ts_tensor *t, char *buf, size_t size);

/* Host data is always float32 in logical (NCHW) order, whatever the
 * tensor's dtype and layout: other forms are converted on the backend. */
ts_status ts_tensor_from_host (ts_tensor *t, const float *src, int64_t n);
ts_status ts_tensor_to_host (const ts_tensor *t, float *dst, int64_t n);

/* bfloat16 on the host: round to nearest, ties to even (NaN stays a quiet
 * NaN), as the kernels' tsk_f32_to_bf16 and CUDA's __float2bfloat16_rn. */
static inline uint16_t
ts_bf16_from_f32 (float f)
{
  union { float f; uint32_t u; } v = { f };
  if ((v.u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t) ((v.u >> 16) | 0x40u);
  return (uint16_t) ((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

static inline float
ts_f32_from_bf16 (uint16_t h)
{
  union { uint32_t u; float f; } v = { (uint32_t) h << 16 };
  return v.f;
}

/* @f rounded to the nearest bfloat16, as a float */
static inline float
ts_bf16_round (float f)
{
  return ts_f32_from_bf16 (ts_bf16_from_f32 (f));
}

#ifdef __cplusplus
}
#endif
