/* ts-pth.h: PyTorch checkpoints (torch.save of a state_dict) read without Python.
 *
 * A .pth file (torch >= 1.6) is a zip archive: ARCHIVE/data.pkl is a pickle
 * (protocol 2) describing the object, ARCHIVE/data/KEY holds the raw bytes of
 * storage KEY (little-endian).  Tensors appear in the pickle as
 * torch._utils._rebuild_tensor_v2 (storage, offset, size, stride, ...) with
 * the storage given by a persistent id ('storage', torch.FloatStorage, KEY,
 * location, numel).
 *
 * The pickle is read by a small stack machine that knows only the opcodes
 * torch.save emits for containers, numbers, strings and tensors, and only
 * the globals on an allow-list (collections.OrderedDict, the tensor rebuild
 * functions and the storage types).  It never calls anything: any other
 * opcode or global is refused with an error naming it and its byte offset.
 *
 * The state_dict is the top-level dict, or the dict under "state_dict",
 * "model", "model_state_dict", "net" or "module" of a training checkpoint;
 * a "module." prefix (DataParallel) is removed from every name.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ts-status.h"
#include "ts-weights.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TS_PTH_MAX_DIMS 8

typedef enum {
  TS_PTH_F32,
  TS_PTH_F16,
  TS_PTH_BF16,
  TS_PTH_F64,
  TS_PTH_I64,
  TS_PTH_I32,
  TS_PTH_OTHER,   /* a storage type we know but do not convert (uint8, bool, ...) */
} ts_pth_dtype;

typedef struct {
  char *name;
  char dtype_name[32];  /* "FloatStorage" ... */
  ts_pth_dtype dtype;
  int ndim;
  int64_t shape[TS_PTH_MAX_DIMS];
  int64_t stride[TS_PTH_MAX_DIMS];  /* in elements */
  int64_t numel;
  int64_t offset;       /* storage offset, in elements */
  int storage;          /* index into the file's storages */
} ts_pth_entry;

typedef struct ts_pth ts_pth;

/* Reads the archive and the pickle, checks every tensor's extent against its
 * storage.  Errors name the file, and the opcode and byte offset in data.pkl
 * for pickle problems. */
ts_status ts_pth_open (const char *path, ts_pth **out);
/* Same over @size bytes in memory (copied). */
ts_status ts_pth_parse (const uint8_t *bytes, size_t size, const char *what, ts_pth **out);
/* data.pkl alone (for tests and fuzzing): entries and shapes, no storage data,
 * so ts_pth_read_f32 refuses. */
ts_status ts_pth_parse_pickle (const uint8_t *bytes, size_t size, const char *what,
                               ts_pth **out);
void ts_pth_free (ts_pth *p);

int ts_pth_n_entries (const ts_pth *p);
const ts_pth_entry *ts_pth_entry_at (const ts_pth *p, int i);
const ts_pth_entry *ts_pth_find (const ts_pth *p, const char *name);

/* Gathers the tensor (offset and strides applied) into @dst as float32,
 * @n == numel.  Integer tensors (num_batches_tracked) are converted too. */
ts_status ts_pth_read_f32 (ts_pth *p, const ts_pth_entry *e, float *dst, int64_t n);

/* Does the file start like a zip archive (PK\3\4)? */
int ts_pth_is_pth (const char *path);

/* Loads a state_dict into @m by name, as ts_model_load_safetensors does
 * (torchvision names for the body under fastai's "0."; report lists missing
 * and unexpected names).  With TS_LOAD_BACKBONE a head tensor whose shape
 * differs (a 1000-way fc for a 5-way model) is dropped and listed as
 * dropped and unexpected instead of failing (ts_model_load_named). */
ts_status ts_model_load_pth (ts_model *m, const char *path, ts_load_mode mode,
                             ts_load_report *report);

/* ts_model_load_pretrained that also takes .pth files (ImageNet statistics).
 * @report (may be NULL) lists what was loaded, missing and left unused for
 * .pth and .safetensors files (TFLite weights map by position: left empty);
 * clear it with ts_load_report_clear. */
ts_status ts_model_load_pretrained_any (ts_model *m, const char *path, ts_normalization *norm,
                                        ts_load_report *report);

#ifdef __cplusplus
}
#endif
