/* ts-showbatch.h: fastai's show_batch as a Cairo grid: augmented images with
 * their labels joined by ';' beneath.  The CLI writes it to PNG; the app draws
 * the same grid with ts_showbatch_draw. */
#pragma once

#include <cairo.h>
#include <stdint.h>

#include "ts-datablock.h"
#include "ts-loader.h"
#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int n;             /* cells */
  int size;          /* side of each image */
  uint8_t **pixels;  /* n RGB images, size x size */
  char **labels;     /* n strings: the labels joined by ';' ("" for none) */
  int *items;        /* datablock item of each cell */
  int n_skipped;     /* images that could not be read and were left out */
  char skip_message[512];  /* the first of those errors ("" when none) */
} ts_showbatch;

/* Collects @n cells as training (or, with @valid, validation) sees them with
 * @cfg: the first batch of epoch 0, or with @unique one item under n
 * different augmentations (fastai's show_batch(unique=True)). */
ts_status ts_showbatch_collect (const ts_datablock *db, const ts_loader_config *cfg, int n,
                                int unique, int valid, ts_showbatch **out);
void ts_showbatch_free (ts_showbatch *g);

/* The grid's layout: ceil(sqrt(n)) columns. */
void ts_showbatch_layout (int n, int size, int *cols, int *rows, int *width, int *height);
/* Draws the grid with its top-left corner at the current origin, at its
 * natural size (ts_showbatch_layout); scale the cairo_t to fit. */
void ts_showbatch_draw (const ts_showbatch *g, cairo_t *cr);
ts_status ts_showbatch_write_png (const ts_showbatch *g, const char *path);

#ifdef __cplusplus
}
#endif
