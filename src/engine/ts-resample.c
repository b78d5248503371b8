/* ts-resample.c: setting up a ts_resample_item and the host resample. */
#include "ts-resample.h"

#include <math.h>
#include <string.h>

/* Lighting then Normalize, as a table over the resampled value in quarter
 * grey levels (0..255 in steps of 1/4), read with linear interpolation: far
 * cheaper than a log and an exp per sample.  (The nearest entry alone was
 * 3.1e-3 off the exact formula at fastai's strongest default lighting, 1.4e-2
 * after Normalize, enough to hide a lighting bug from the device parity
 * tests.) */
#define LIGHT_STEPS 4
#define LIGHT_LUT (255 * LIGHT_STEPS + 1)

void
ts_resample_item_init (ts_resample_item *it, int size, int src_w, int src_h, double box_x,
                       double box_y, double box_w, double box_h, const double affine[6],
                       const double warp[8])
{
  static const double identity[6] = { 1, 0, 0, 0, 1, 0 };

  memset (it, 0, sizeof *it);
  it->width = src_w;
  it->height = src_h;
  it->size = size;
  it->contrast = 1.0f;
  it->pad_x0 = -0.5f;
  it->pad_y0 = -0.5f;
  it->pad_x1 = (float) src_w - 0.5f;
  it->pad_y1 = (float) src_h - 0.5f;
  /* the constants are worked out in double, then each sample is float */
  it->x0 = (float) (box_x + 0.5 * box_w / size - 0.5);
  it->dx = (float) (box_w / size);
  it->y0 = (float) (box_y + 0.5 * box_h / size - 0.5);
  it->dy = (float) (box_h / size);
  /* a one-pixel output has no normalised grid (its -1 would also be its 1) */
  if ((affine == NULL && warp == NULL) || size < 2)
    return;
  it->flags |= TS_RESAMPLE_AFFINE;
  it->step = (float) (2.0 / (size - 1));
  it->kx = (float) (0.5 * (size - 1) * box_w / size);
  it->ky = (float) (0.5 * (size - 1) * box_h / size);
  it->cx = (float) (box_x + (0.5 * (size - 1) + 0.5) * box_w / size - 0.5);
  it->cy = (float) (box_y + (0.5 * (size - 1) + 0.5) * box_h / size - 0.5);
  for (int i = 0; i < 6; i++)
    it->affine[i] = (float) (affine ? affine : identity)[i];
  if (warp != NULL)
    {
      it->flags |= TS_RESAMPLE_WARP;
      for (int i = 0; i < 8; i++)
        it->warp[i] = (float) warp[i];
    }
}

/* [lo, hi] of the pixels that samples spread over [a, b] read, clipped to
 * [0, n - 1]; one pixel of margin each side absorbs float rounding. */
static void
tap_span (double a, double b, int n, int *lo, int *hi)
{
  double l = floor (a) - 1.0, h = floor (b) + 2.0;

  /* a sample beyond the image clamps to its edge pixel, so keep that one */
  l = l < 0.0 ? 0.0 : l > n - 1 ? n - 1 : l;
  h = h < 0.0 ? 0.0 : h > n - 1 ? n - 1 : h;
  *lo = (int) l;
  *hi = (int) h;
}

void
ts_resample_item_region (const ts_resample_item *it, int src_w, int src_h, int *x, int *y,
                         int *w, int *h)
{
  double ax, bx, ay, by;
  int x0, x1, y0, y1;

  if (it->flags & TS_RESAMPLE_AFFINE)
    {
      /* reflection keeps every normalised point within [-1, 1] */
      ax = (double) it->cx - fabs ((double) it->kx);
      bx = (double) it->cx + fabs ((double) it->kx);
      ay = (double) it->cy - fabs ((double) it->ky);
      by = (double) it->cy + fabs ((double) it->ky);
    }
  else
    {
      double ex = (double) it->dx * (it->size - 1), ey = (double) it->dy * (it->size - 1);
      ax = fmin (it->x0, it->x0 + ex);
      bx = fmax (it->x0, it->x0 + ex);
      ay = fmin (it->y0, it->y0 + ey);
      by = fmax (it->y0, it->y0 + ey);
    }
  tap_span (ax, bx, src_w, &x0, &x1);
  tap_span (ay, by, src_h, &y0, &y1);
  *x = x0;
  *y = y0;
  *w = x1 - x0 + 1;
  *h = y1 - y0 + 1;
}

void
ts_resample_item_crop (ts_resample_item *it, int x, int y, int w, int h)
{
  it->x0 -= (float) x;
  it->cx -= (float) x;
  it->pad_x0 -= (float) x;
  it->pad_x1 -= (float) x;
  it->y0 -= (float) y;
  it->cy -= (float) y;
  it->pad_y0 -= (float) y;
  it->pad_y1 -= (float) y;
  it->width = w;
  it->height = h;
}

static void
build_light_lut (const ts_resample_item *it, const float scale[3], const float shift[3],
                 float lut[3][LIGHT_LUT])
{
  for (int i = 0; i < LIGHT_LUT; i++)
    {
      float lit = ts_resample_light ((float) i / (LIGHT_LUT - 1), it->brightness_logit,
                                     it->contrast);
      for (int c = 0; c < 3; c++)
        lut[c][i] = lit * scale[c] + shift[c];
    }
}

void
ts_resample_image (const uint8_t *pixels, const ts_resample_item *it, const float mean[3],
                   const float std[3], float *out)
{
  const int size = it->size;
  const size_t plane = (size_t) size * size;
  const int lighting = (it->flags & TS_RESAMPLE_LIGHTING) != 0;
  float lut[3][LIGHT_LUT];
  float scale[3], shift[3];

  for (int c = 0; c < 3; c++)
    {
      scale[c] = 1.0f / std[c];
      shift[c] = -mean[c] / std[c];
    }
  if (lighting)
    build_light_lut (it, scale, shift, lut);
  for (int oy = 0; oy < size; oy++)
    {
      float *o[3] = { out + (size_t) oy * size, out + plane + (size_t) oy * size,
                      out + 2 * plane + (size_t) oy * size };

      for (int ox = 0; ox < size; ox++)
        {
          float sx, sy, v[3];

          ts_resample_coords (it, ox, oy, &sx, &sy);
          ts_resample_sample (pixels, it, sx, sy, v);   /* 0..255 */
          if (lighting)
            {
              /* bilinear weights sum to 1, so v stays within 0..255 but
               * for rounding, which the clamp catches */
              for (int c = 0; c < 3; c++)
                {
                  float f = v[c] * LIGHT_STEPS;
                  int k = (int) f;
                  k = k < LIGHT_LUT - 2 ? k : LIGHT_LUT - 2;
                  f -= (float) k;
                  o[c][ox] = lut[c][k] + f * (lut[c][k + 1] - lut[c][k]);
                }
            }
          else
            for (int c = 0; c < 3; c++)
              o[c][ox] = v[c] * (scale[c] / 255.0f) + shift[c];
        }
    }
}
