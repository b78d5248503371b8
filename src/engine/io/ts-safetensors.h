/* ts-safetensors.h: the safetensors format (github.com/huggingface/safetensors).
 *
 * File = u64 little-endian header length N, N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "string", ...}}, then the byte buffer the offsets
 * index.  We write F32 only; we read F32, F16, BF16, F64, I64 and I32 and
 * convert to float32.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TS_ST_MAX_DIMS 8

typedef enum {
  TS_ST_F32,
  TS_ST_F16,
  TS_ST_BF16,
  TS_ST_F64,
  TS_ST_I64,
  TS_ST_I32,
  TS_ST_OTHER, /* present in the file but not convertible */
} ts_st_dtype;

typedef struct {
  char *name;
  char dtype_name[16];
  ts_st_dtype dtype;
  int ndim;
  int64_t shape[TS_ST_MAX_DIMS];
  int64_t numel;
  uint64_t begin, end;  /* byte offsets into the data section */
} ts_st_entry;

typedef struct {
  char *path;           /* for messages */
  uint8_t *file;        /* the whole file */
  size_t file_size;
  const uint8_t *data;  /* data section */
  size_t data_size;
  ts_st_entry *entries;
  int n_entries;
  char **meta_keys;
  char **meta_values;
  int n_meta;
} ts_safetensors;

/* Reads and validates the whole file: header JSON, dtypes, shapes against
 * offsets, offsets inside the data section.  Errors name the file and tensor. */
ts_status ts_safetensors_open (const char *path, ts_safetensors **out);
/* Same, over a copy of @size bytes already in memory. */
ts_status ts_safetensors_parse (const uint8_t *bytes, size_t size, const char *what,
                                ts_safetensors **out);
void ts_safetensors_free (ts_safetensors *st);

const ts_st_entry *ts_safetensors_find (const ts_safetensors *st, const char *name);
/* NULL when absent */
const char *ts_safetensors_meta (const ts_safetensors *st, const char *key);
/* Converts the tensor to float32 into @dst, which holds @n = numel values. */
ts_status ts_safetensors_read_f32 (const ts_safetensors *st, const ts_st_entry *e,
                                   float *dst, int64_t n);

/* Writing.  Tensors are written in the given order as F32. */
typedef struct {
  const char *name;
  int ndim;
  const int64_t *shape;
  const float *data;    /* host memory, numel floats */
} ts_st_tensor;

/* Writes @path atomically: a temporary file beside it, fsync, rename.  A
 * failure leaves any existing @path untouched.  @meta_kv holds @n_meta
 * key/value pairs (2 * n_meta strings). */
ts_status ts_safetensors_write (const char *path, const ts_st_tensor *tensors, int n,
                                const char *const *meta_kv, int n_meta);

float ts_half_to_float (uint16_t h);
float ts_bf16_to_float (uint16_t h);

#ifdef __cplusplus
}
#endif
