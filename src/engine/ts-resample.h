/* ts-resample.h: the data pipeline's last step, one image at a time: a
 * bilinear resample of (a crop of) a decoded RGB image into a normalised
 * [3][size][size] float tile, with fastai's batch transforms (affine,
 * perspective warp, reflection padding, lighting) folded into the sample
 * coordinates and the value mapping.
 *
 * The loader's worker threads run it on the host (ts_tfm_apply).  A device
 * backend runs the same arithmetic in its resample_batch op from the bytes the
 * loader leaves undone (ts_loader_config.defer_resample), so that only the
 * small uint8 sources cross the bus and the host threads only decode.  The
 * per-pixel functions below are plain float arithmetic that compiles as C and
 * as CUDA (TS_HD), so the two cannot drift apart.
 *
 * Coordinates follow ts-transform.h: output pixel o of a size-wide tile maps
 * to the source point box_x + (o + 0.5) * box_w / size - 0.5; with batch
 * transforms, o is first taken to normalised [-1, 1] (align_corners=True),
 * moved by the affine matrix and the perspective warp, reflected back into
 * [-1, 1] (grid_sample's padding_mode='reflection') and then mapped the same
 * way.  Samples clamp to the source's edge pixels; with TS_RESAMPLE_PAD_ZEROS,
 * points outside the source image are black (fastai's Resize with pad).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define TS_HD __host__ __device__ __forceinline__
#else
#include <math.h>
#define TS_HD static inline
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum {
  TS_RESAMPLE_AFFINE = 1 << 0,    /* normalised path: affine[] (identity when only warp) */
  TS_RESAMPLE_WARP = 1 << 1,      /* perspective warp[] after the affine matrix */
  TS_RESAMPLE_PAD_ZEROS = 1 << 2, /* black outside [pad_x0, pad_x1] x [pad_y0, pad_y1] */
  TS_RESAMPLE_LIGHTING = 1 << 3,  /* brightness_logit and contrast */
};

/* One image's resample: where its pixels are and how output pixels map onto
 * them.  Plain data (no pointers) so that an array of them can be copied to a
 * device as it is. */
typedef struct {
  int64_t offset;         /* byte offset of the pixels in the batch's source buffer */
  int32_t width, height;  /* stored pixels: rows of width * 3 bytes, RGB */
  int32_t flags;          /* TS_RESAMPLE_* */
  int32_t size;           /* output side */
  /* without TS_RESAMPLE_AFFINE: sx = x0 + ox * dx, sy = y0 + oy * dy */
  float x0, dx, y0, dy;
  /* with it: n = -1 + o * step, t = affine (n) [then warp], s = c + k * reflect (t) */
  float step, cx, kx, cy, ky;
  float affine[6];        /* [a b c; d e f]: x' = a x + b y + c, y' = d x + e y + f */
  float warp[8];          /* x' = (h0 x + h1 y + h2) / (h6 x + h7 y + 1), y' likewise with h3..h5 */
  float pad_x0, pad_y0, pad_x1, pad_y1;  /* the source image's extent, in stored pixels */
  float brightness_logit; /* fastai's LightingTfm: logit (v) + brightness ... */
  float contrast;         /* ... times contrast, then the sigmoid */
} ts_resample_item;

/* Sets @it for an output of @size pixels sampling the box (@box_x, @box_y,
 * @box_w, @box_h) of a @src_w x @src_h image stored whole at offset 0;
 * @affine and @warp are NULL when absent, and ignored for @size 1 (one pixel
 * has no normalised grid to move).  No padding, no lighting: set flags and
 * fields for those after. */
void ts_resample_item_init (ts_resample_item *it, int size, int src_w, int src_h, double box_x,
                            double box_y, double box_w, double box_h, const double affine[6],
                            const double warp[8]);

/* The smallest rectangle of the source that every sample of @it reads
 * (bilinear taps included), clipped to the @src_w x @src_h image: a copy of
 * just that region, passed to ts_resample_item_crop, resamples to the same
 * values as the whole image, but for float rounding (~1e-5).  Never empty: samples beyond
 * the image read its edge pixels. */
void ts_resample_item_region (const ts_resample_item *it, int src_w, int src_h, int *x, int *y,
                             int *w, int *h);
/* Moves @it's coordinates to a stored copy of the region at (@x, @y) of size
 * @w x @h. */
void ts_resample_item_crop (ts_resample_item *it, int x, int y, int w, int h);

/* The host reference: writes @out ([3][size][size]) from the RGB pixels
 * @pixels (already at @it's offset), normalised as (v / 255 - mean) / std.
 * Lighting goes through an interpolated table of quarter grey levels
 * (ts-resample.c): at most 2e-3 off ts_resample_light after Normalize, in the
 * table's first and last interval. */
void ts_resample_image (const uint8_t *pixels, const ts_resample_item *it, const float mean[3],
                        const float std[3], float *out);

/* --- per-pixel arithmetic, shared with the CUDA kernel --- */

/* grid_sample's reflection about -1 and 1 (align_corners=True) */
TS_HD float
ts_resample_reflect (float x)
{
  if (x >= -1.0f && x <= 1.0f)
    return x;
  x = fmodf (x + 1.0f, 4.0f);
  if (x < 0.0f)
    x += 4.0f;
  return x <= 2.0f ? x - 1.0f : 3.0f - x;
}

/* Source coordinates (stored pixels) of output pixel (@ox, @oy). */
TS_HD void
ts_resample_coords (const ts_resample_item *it, int ox, int oy, float *sx, float *sy)
{
  float nx, ny, tx, ty;

  if (!(it->flags & TS_RESAMPLE_AFFINE))
    {
      *sx = it->x0 + (float) ox * it->dx;
      *sy = it->y0 + (float) oy * it->dy;
      return;
    }
  nx = -1.0f + (float) ox * it->step;
  ny = -1.0f + (float) oy * it->step;
  tx = it->affine[0] * nx + it->affine[1] * ny + it->affine[2];
  ty = it->affine[3] * nx + it->affine[4] * ny + it->affine[5];
  if (it->flags & TS_RESAMPLE_WARP)
    {
      const float *h = it->warp;
      float d = h[6] * tx + h[7] * ty + 1.0f;
      float wx = (h[0] * tx + h[1] * ty + h[2]) / d;
      float wy = (h[3] * tx + h[4] * ty + h[5]) / d;
      tx = wx;
      ty = wy;
    }
  *sx = it->cx + it->kx * ts_resample_reflect (tx);
  *sy = it->cy + it->ky * ts_resample_reflect (ty);
}

/* The bilinear sample at (@x, @y) of @it's stored pixels @px, in 0..255,
 * into @v; black when padding asks for it and the point lies outside the
 * image. */
TS_HD void
ts_resample_sample (const uint8_t *px, const ts_resample_item *it, float x, float y, float v[3])
{
  const int w = it->width, h = it->height;
  const float maxx = (float) (w - 1), maxy = (float) (h - 1);
  int x0, y0, x1, y1;
  float fx, fy;
  const uint8_t *q00, *q01, *q10, *q11;

  if ((it->flags & TS_RESAMPLE_PAD_ZEROS)
      && (x < it->pad_x0 || y < it->pad_y0 || x > it->pad_x1 || y > it->pad_y1))
    {
      v[0] = v[1] = v[2] = 0.0f;
      return;
    }
  /* clamping the coordinate is the same as clamping the taps; written so
   * that a NaN (a warp whose denominator reaches 0) clamps to 0 too instead
   * of reading far outside the image */
  x = x > 0.0f ? (x < maxx ? x : maxx) : 0.0f;
  y = y > 0.0f ? (y < maxy ? y : maxy) : 0.0f;
  x0 = (int) x;
  y0 = (int) y;
  fx = x - (float) x0;
  fy = y - (float) y0;
  x1 = x0 < w - 1 ? x0 + 1 : x0;
  y1 = y0 < h - 1 ? y0 + 1 : y0;
  q00 = px + ((size_t) y0 * w + x0) * 3;
  q01 = px + ((size_t) y0 * w + x1) * 3;
  q10 = px + ((size_t) y1 * w + x0) * 3;
  q11 = px + ((size_t) y1 * w + x1) * 3;
  for (int c = 0; c < 3; c++)
    {
      float top = q00[c] + fx * (float) (q01[c] - q00[c]);
      float bot = q10[c] + fx * (float) (q11[c] - q10[c]);
      v[c] = top + fy * (bot - top);
    }
}

/* fastai's lighting on a [0, 1] value: sigmoid ((logit (v) + b) * c), with v
 * kept inside (0, 1) as fastai's logit does. */
TS_HD float
ts_resample_light (float v, float brightness_logit, float contrast)
{
  float l;

  if (v < 1e-7f)
    v = 1e-7f;
  if (v > 1.0f - 1e-7f)
    v = 1.0f - 1e-7f;
  l = (logf (v / (1.0f - v)) + brightness_logit) * contrast;
  return 1.0f / (1.0f + expf (-l));
}

#ifdef __cplusplus
}
#endif
