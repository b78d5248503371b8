/* ts-loader.h: batches of augmented, normalised images from a datablock,
 * produced by worker threads into a prefetch queue. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ts-datablock.h"
#include "ts-resample.h"
#include "ts-status.h"
#include "ts-tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TS_AUG_NONE, TS_AUG_FLIP, TS_AUG_FASTAI } ts_aug_preset;

/* fastai's aug_transforms parameters (defaults: flip, 10 degrees, zoom 1.1,
 * warp 0.2, lighting 0.2, p_affine 0.75, p_lighting 0.75). */
typedef struct {
  int do_flip;
  float flip_p;         /* 0.5 */
  float max_rotate;     /* degrees */
  float min_zoom, max_zoom;
  float max_warp;
  float max_lighting;
  float p_affine;
  float p_lighting;
} ts_aug_params;

void ts_aug_params_preset (ts_aug_params *p, ts_aug_preset preset);

typedef enum { TS_RESIZE_CROP, TS_RESIZE_SQUISH, TS_RESIZE_PAD } ts_resize_method;

typedef struct {
  int size;               /* output side (square) */
  double min_scale;       /* RandomResizedCrop min_scale (0.35 in the chapter) */
  int random_resized_crop;/* 1: RandomResizedCrop item tfm; 0: Resize(method) */
  ts_resize_method resize_method;
  ts_aug_params aug;      /* training batch transforms */
  int batch_size;
  int shuffle;            /* per-epoch shuffle from the seed (training) */
  int drop_last;
  int n_workers;          /* 0: number of cores */
  int prefetch;           /* batches queued ahead (default 2*n_workers) */
  size_t cache_bytes;     /* RAM cache of decoded presized images; 0: none */
  uint64_t seed;
  float mean[3], std[3];  /* Normalize, on [0,1] pixels */
  /* memory for the batches' pixels (NULL: malloc / free): a GPU session
   * passes page-locked memory, which it uploads from without a staging copy */
  void *(*host_alloc) (size_t bytes, void *ud);
  void (*host_free) (void *ptr, void *ud);
  void *host_ud;
  /* 1: leave each image's resample (transforms, lighting, Normalize) to the
   * consumer's backend (ts_backend_resample_batch): batches carry the bytes
   * each resample reads instead of x, and the workers only decode and plan */
  int defer_resample;
  /* with defer_resample, a backend table with stage ops (NULL: none): the
   * next batch's bytes cross to the device while the current one computes */
  const struct ts_backend_i *stager;
} ts_loader_config;

void ts_loader_config_init (ts_loader_config *cfg);  /* 128 px, 0.35, fastai aug, bs 64 */
/* Sets @lc up to feed @be: batches in @be's page-locked memory when it has
 * some, and on a device backend the resample (batch transforms, Normalize)
 * left to @be, so that the loader threads only decode, with each batch's
 * bytes staged on the device while the one before it computes.  The environment's
 * TS_DEVICE_RESAMPLE=0 keeps the resample on the loader threads, =1 leaves it
 * to any backend (the CPU's too). */
void ts_loader_config_feed (ts_loader_config *lc, ts_backend *be);

typedef struct {
  float *x;        /* [n,3,size,size] normalised, host memory; NULL when deferred */
  float *y;        /* [n,n_vocab] one-hot targets */
  int *items;      /* datablock item index of each row */
  int n;           /* rows in this batch (<= batch_size) */
  int index;       /* batch number within the epoch */
  /* with cfg.defer_resample: row r is the resample resample[r] of the RGB
   * bytes at src + resample[r].offset (the part of the decoded image it
   * reads); both in cfg.host_alloc memory */
  uint8_t *src;
  size_t src_bytes;
  ts_resample_item *resample;
  float mean[3], std[3];  /* the loader's Normalize, for the deferred resample */
  void *stage;            /* cfg.stager's device copy of src (NULL: none) */
  /* how many of this batch's items were left out (unreadable, or no
   * memory), with those of the empty batches ts_loader_next passed over just
   * before it, in every epoch; and the first one's error ("" when none; the
   * loader's text, valid until ts_loader_free) */
  int n_skipped;
  const char *skip_message;
} ts_batch;

/* The batch's images into @x ([n, 3, size, size], any backend): an upload
 * of x, or the deferred resample done by @x's backend. */
ts_status ts_batch_to_tensor (const ts_batch *b, ts_tensor *x);

typedef struct ts_loader ts_loader;

/* @valid selects the validation items (no augmentation, fastai's val resize,
 * no shuffle, no drop_last) or the training items. */
ts_status ts_loader_new (const ts_datablock *db, const ts_loader_config *cfg, int valid,
                         ts_loader **out);
void ts_loader_free (ts_loader *l);

int ts_loader_n_batches (const ts_loader *l);
int ts_loader_n_items (const ts_loader *l);
/* Starts producing epoch @epoch (shuffle and augmentation seeds derive from
 * cfg.seed and epoch, so an epoch is reproducible on its own). */
ts_status ts_loader_start_epoch (ts_loader *l, int epoch);
/* Blocks for the next batch in order; *out = NULL at the end of the epoch
 * (and again until the next start_epoch).  At the end, the workers begin
 * epoch + 1, so that ts_loader_start_epoch (epoch + 1) finds batches ready.
 * Release every batch before calling ts_loader_start_epoch.
 * Items that fail to decode, or for which a batch has no memory, are skipped;
 * ts_loader_n_skipped counts each such item once. */
ts_status ts_loader_next (ts_loader *l, ts_batch **out);
/* Gives @b back (after waiting for its staged copy, if any, to have read
 * its bytes).  A batch that went to a device must be released only once the
 * device is done with it (ts_backend_i.upload's rule). */
void ts_loader_release (ts_loader *l, ts_batch *b);
int ts_loader_n_skipped (const ts_loader *l);
/* The error of the first skipped item ("" when none), for the user.  The
 * workers fill batches at once, so it may be a later batch's than the first
 * one's: a batch's own are its n_skipped and skip_message. */
const char *ts_loader_skip_message (const ts_loader *l);
/* Bytes of decoded images held in the cache (<= cfg.cache_bytes). */
size_t ts_loader_cache_bytes (const ts_loader *l);
/* The shorter side JPEGs are decoded at (DCT scaling never goes below it). */
int ts_loader_decode_min_side (const ts_loader *l);

#ifdef __cplusplus
}
#endif
