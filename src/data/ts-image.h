/* ts-image.h: decoding JPEG (TurboJPEG) and PNG (libpng) to 8-bit RGB. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  uint8_t *pixels;   /* RGB, row-major, width*3 bytes a row */
  int width, height;
} ts_image;

typedef struct {
  int width, height;      /* as stored, before EXIF orientation */
  int orientation;        /* EXIF 1..8, 1 when absent */
  const char *format;     /* "jpeg", "png" */
  const char *mode;       /* "RGB", "L", "CMYK", "P", "RGBA", "LA" (PIL's names) */
} ts_image_info;

/* Reads the header; refuses, as ts_image_load would, an image too large to
 * decode (a huge PNG or progressive JPEG), a folder or other non-regular file. */
ts_status ts_image_probe (const char *path, ts_image_info *info);

/* Decodes to RGB with EXIF orientation applied.  When min_side > 0 the decoder
 * may scale down (JPEG DCT scaling) as long as the shorter side stays
 * >= min_side; max_side > 0 bounds the largest side of huge images.  A
 * truncated or corrupt file is an error naming the file, never a crash. */
ts_status ts_image_load (const char *path, int min_side, int max_side, ts_image *out);
ts_status ts_image_load_memory (const uint8_t *data, size_t size, const char *name,
                                int min_side, int max_side, ts_image *out);
void ts_image_clear (ts_image *img);

ts_status ts_image_save_jpeg (const ts_image *img, const char *path, int quality);
ts_status ts_image_save_png (const ts_image *img, const char *path);

#ifdef __cplusplus
}
#endif
