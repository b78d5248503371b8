/* ts-demo.h: the synthetic multi-label demo data set (scenes of shapes drawn
 * with Cairo), deterministic for a seed, in fastai's layout. */
#pragma once

#include <stdint.h>

#include "ts-image.h"
#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TS_DEMO_N_CLASSES 8

/* sorted, as the DataBlock's vocab will be */
extern const char *const ts_demo_classes[TS_DEMO_N_CLASSES];

typedef struct {
  int n;              /* images (500) */
  int size;           /* side in pixels (160) */
  uint64_t seed;      /* (42) */
  double valid_pct;   /* share marked is_valid (0.2) */
  double none_pct;    /* share with no shape at all (0.15) */
  int quality;        /* JPEG quality (90) */
} ts_demo_config;

void ts_demo_config_init (ts_demo_config *cfg);

typedef struct {
  int n_images, n_valid, n_empty;
  int n_labels;       /* labels over all images */
  int class_images[TS_DEMO_N_CLASSES];   /* images showing each class */
} ts_demo_summary;

/* Draws scene @index: an RGB image and the bit mask of the classes present.
 * *is_valid tells the split.  Image i depends only on (seed, i, size). */
ts_status ts_demo_render (const ts_demo_config *cfg, int index, ts_image *out,
                          unsigned *class_mask, int *is_valid);

/* Writes DIR/train/NNNNN.jpg and DIR/train.csv (fname,labels,is_valid). */
ts_status ts_demo_write (const char *dir, const ts_demo_config *cfg, ts_demo_summary *summary);

#ifdef __cplusplus
}
#endif
