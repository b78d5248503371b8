/* ts-transform.c: fastai's RandomResizedCrop / Resize / aug_transforms /
 * Normalize as one coordinate mapping and one bilinear resample per image. */
#include "ts-transform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void
ts_tfm_plan_identity (ts_tfm_plan *p, int src_w, int src_h)
{
  memset (p, 0, sizeof *p);
  p->box_w = src_w;
  p->box_h = src_h;
  p->contrast = 1.0f;
}

void
ts_tfm_random_resized_crop (ts_tfm_plan *p, int w, int h, double min_scale, ts_rng *rng)
{
  const double ratio_lo = 3.0 / 4.0, ratio_hi = 4.0 / 3.0;
  int cw, ch;

  ts_tfm_plan_identity (p, w, h);
  for (int attempt = 0; attempt < 10; attempt++)
    {
      double area = ts_rng_uniform_range (rng, min_scale, 1.0) * w * h;
      double ratio = exp (ts_rng_uniform_range (rng, log (ratio_lo), log (ratio_hi)));
      int nw = (int) lround (sqrt (area * ratio));
      int nh = (int) lround (sqrt (area / ratio));
      if (nw <= w && nh <= h && nw > 0 && nh > 0)
        {
          /* random.randint is inclusive at both ends */
          p->box_x = (double) ts_rng_below (rng, (uint64_t) (w - nw) + 1);
          p->box_y = (double) ts_rng_below (rng, (uint64_t) (h - nh) + 1);
          p->box_w = nw;
          p->box_h = nh;
          return;
        }
    }
  if ((double) w / h < ratio_lo)
    {
      cw = w;
      ch = (int) (w / ratio_lo);
    }
  else if ((double) w / h > ratio_hi)
    {
      cw = (int) (h * ratio_hi);
      ch = h;
    }
  else
    {
      cw = w;
      ch = h;
    }
  p->box_x = (w - cw) / 2;
  p->box_y = (h - ch) / 2;
  p->box_w = cw;
  p->box_h = ch;
}

int
ts_tfm_val_xtra (int size)
{
  return (int) ceil (size * 0.14 / 8.0) * 8;
}

void
ts_tfm_val_crop (ts_tfm_plan *p, int w, int h, int size)
{
  int big = size + ts_tfm_val_xtra (size);
  int off = (big - size) / 2;

  /* whole image -> big x big (squish), then the centre size x size of that:
   * in source pixels, a box of size/big of each side starting at off/big */
  ts_tfm_plan_identity (p, w, h);
  p->box_x = (double) off * w / big;
  p->box_y = (double) off * h / big;
  p->box_w = (double) size * w / big;
  p->box_h = (double) size * h / big;
}

void
ts_tfm_resize (ts_tfm_plan *p, int w, int h, ts_resize_method method, int random, ts_rng *rng)
{
  double pct_x = 0.5, pct_y = 0.5, m;
  int cw, ch;

  ts_tfm_plan_identity (p, w, h);
  if (random && method != TS_RESIZE_SQUISH)
    {
      pct_x = ts_rng_uniform (rng);
      pct_y = ts_rng_uniform (rng);
    }
  if (method == TS_RESIZE_SQUISH)
    return;
  /* fastai: the square of the shorter side (crop) or the longer side (pad) */
  m = method == TS_RESIZE_PAD ? (w > h ? w : h) : (w < h ? w : h);
  cw = ch = (int) m;
  p->box_x = (int) (pct_x * (w - cw));
  p->box_y = (int) (pct_y * (h - ch));
  p->box_w = cw;
  p->box_h = ch;
  p->pad_zeros = method == TS_RESIZE_PAD;
}

/* fastai's _draw_mask: the drawn value with probability p, else neutral. */
static double
draw_masked (ts_rng *rng, double p, double lo, double hi, double neutral)
{
  int on = ts_rng_uniform (rng) < p;
  double v = ts_rng_uniform_range (rng, lo, hi);
  return on ? v : neutral;
}

static void
mat3_mul (double r[9], const double a[9], const double b[9])
{
  double t[9];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      t[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
  memcpy (r, t, sizeof t);
}

/* Solves the 8x8 system of fastai's _find_coeffs by Gaussian elimination with
 * partial pivoting; the coefficients map points p2 onto p1. */
static int
find_coeffs (const double p1[4][2], const double p2[4][2], double h[8])
{
  double a[8][9];

  for (int i = 0; i < 4; i++)
    {
      double *r0 = a[2 * i], *r1 = a[2 * i + 1];
      r0[0] = p2[i][0]; r0[1] = p2[i][1]; r0[2] = 1; r0[3] = 0; r0[4] = 0; r0[5] = 0;
      r0[6] = -p1[i][0] * p2[i][0]; r0[7] = -p1[i][0] * p2[i][1]; r0[8] = p1[i][0];
      r1[0] = 0; r1[1] = 0; r1[2] = 0; r1[3] = p2[i][0]; r1[4] = p2[i][1]; r1[5] = 1;
      r1[6] = -p1[i][1] * p2[i][0]; r1[7] = -p1[i][1] * p2[i][1]; r1[8] = p1[i][1];
    }
  for (int c = 0; c < 8; c++)
    {
      int piv = c;
      for (int r = c + 1; r < 8; r++)
        if (fabs (a[r][c]) > fabs (a[piv][c]))
          piv = r;
      if (fabs (a[piv][c]) < 1e-12)
        return 0;
      if (piv != c)
        for (int k = 0; k < 9; k++)
          {
            double t = a[c][k];
            a[c][k] = a[piv][k];
            a[piv][k] = t;
          }
      for (int r = 0; r < 8; r++)
        if (r != c)
          {
            double f = a[r][c] / a[c][c];
            for (int k = c; k < 9; k++)
              a[r][k] -= f * a[c][k];
          }
    }
  for (int i = 0; i < 8; i++)
    h[i] = a[i][8] / a[i][i];
  return 1;
}

int
ts_tfm_warp_coeffs (double xt, double yt, double h[8])
{
  const double orig[4][2] = { { -1, -1 }, { -1, 1 }, { 1, -1 }, { 1, 1 } };
  const double targ[4][2] = { { -1 - yt, -1 - xt }, { -1 + yt, 1 + xt },
                              { 1 + yt, -1 + xt }, { 1 - yt, 1 - xt } };

  return find_coeffs (orig, targ, h);
}

void
ts_tfm_augment (ts_tfm_plan *p, const ts_aug_params *aug, ts_rng *rng)
{
  double m[9] = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
  int any = 0;

  /* aug_transforms' order: Flip, Warp, Rotate, Zoom, Brightness, Contrast;
   * the affine ones multiply as flip @ rotate @ zoom, the warp acts on the
   * coordinates the affine produced. */
  if (aug->do_flip && ts_rng_uniform (rng) < aug->flip_p)
    {
      double f[9] = { -1, 0, 0, 0, 1, 0, 0, 0, 1 };
      mat3_mul (m, m, f);
      any = 1;
    }
  if (aug->max_warp > 0)
    {
      double xt = draw_masked (rng, aug->p_affine, -aug->max_warp, aug->max_warp, 0.0);
      double yt = draw_masked (rng, aug->p_affine, -aug->max_warp, aug->max_warp, 0.0);
      if (xt != 0.0 || yt != 0.0)
        {
          p->has_warp = ts_tfm_warp_coeffs (xt, yt, p->warp);
        }
    }
  if (aug->max_rotate > 0)
    {
      double deg = draw_masked (rng, aug->p_affine, -aug->max_rotate, aug->max_rotate, 0.0);
      if (deg != 0.0)
        {
          double t = deg * M_PI / 180.0, c = cos (t), s = sin (t);
          double r[9] = { c, s, 0, -s, c, 0, 0, 0, 1 };
          mat3_mul (m, m, r);
          any = 1;
        }
    }
  if (aug->min_zoom < 1.0f || aug->max_zoom > 1.0f)
    {
      double s = 1.0 / draw_masked (rng, aug->p_affine, aug->min_zoom, aug->max_zoom, 1.0);
      double col = ts_rng_uniform (rng), row = ts_rng_uniform (rng);
      if (s != 1.0)
        {
          double z[9] = { s, 0, (1 - s) * (2 * col - 1), 0, s, (1 - s) * (2 * row - 1), 0, 0, 1 };
          mat3_mul (m, m, z);
          any = 1;
        }
    }
  if (any)
    {
      p->has_affine = 1;
      memcpy (p->affine, m, 6 * sizeof (double));
    }
  if (aug->max_lighting > 0)
    {
      double l = aug->max_lighting;
      double b = draw_masked (rng, aug->p_lighting, 0.5 * (1 - l), 0.5 * (1 + l), 0.5);
      double c = exp (draw_masked (rng, aug->p_lighting, log (1 - l), -log (1 - l), 0.0));
      if (b != 0.5 || c != 1.0)
        {
          p->has_lighting = 1;
          p->brightness_logit = (float) log (b / (1 - b));
          p->contrast = (float) c;
        }
    }
}

void
ts_tfm_resample_item (const ts_tfm_plan *p, int size, int src_w, int src_h, ts_resample_item *it)
{
  ts_resample_item_init (it, size, src_w, src_h, p->box_x, p->box_y, p->box_w, p->box_h,
                         p->has_affine ? p->affine : NULL, p->has_warp ? p->warp : NULL);
  if (p->pad_zeros)
    it->flags |= TS_RESAMPLE_PAD_ZEROS;
  if (p->has_lighting)
    {
      it->flags |= TS_RESAMPLE_LIGHTING;
      it->brightness_logit = p->brightness_logit;
      it->contrast = p->contrast;
    }
}

void
ts_tfm_apply (const ts_image *src, const ts_tfm_plan *p, int size, const float mean[3],
              const float std[3], float *out)
{
  ts_resample_item it;

  ts_tfm_resample_item (p, size, src->width, src->height, &it);
  ts_resample_image (src->pixels, &it, mean, std, out);
}

void
ts_tfm_item_plan (int src_w, int src_h, const ts_loader_config *cfg, int valid, ts_rng *rng,
                  ts_tfm_plan *plan)
{
  if (cfg->random_resized_crop)
    {
      if (valid)
        ts_tfm_val_crop (plan, src_w, src_h, cfg->size);
      else
        ts_tfm_random_resized_crop (plan, src_w, src_h, cfg->min_scale, rng);
    }
  else
    ts_tfm_resize (plan, src_w, src_h, cfg->resize_method, !valid, rng);
  if (!valid)
    ts_tfm_augment (plan, &cfg->aug, rng);
}

void
ts_tfm_item (const ts_image *src, const ts_loader_config *cfg, int valid, ts_rng *rng,
             float *out)
{
  ts_tfm_plan plan;

  ts_tfm_item_plan (src->width, src->height, cfg, valid, rng, &plan);
  ts_tfm_apply (src, &plan, cfg->size, cfg->mean, cfg->std, out);
}

void
ts_tfm_item_deferred (const ts_image *src, const ts_loader_config *cfg, int valid,
                      ts_rng *rng, ts_resample_item *it, int *x, int *y, int *w, int *h)
{
  ts_tfm_plan plan;

  ts_tfm_item_plan (src->width, src->height, cfg, valid, rng, &plan);
  ts_tfm_resample_item (&plan, cfg->size, src->width, src->height, it);
  ts_resample_item_region (it, src->width, src->height, x, y, w, h);
  ts_resample_item_crop (it, *x, *y, *w, *h);
}

int
ts_tfm_decode_min_side (const ts_loader_config *cfg, int valid)
{
  if (cfg->random_resized_crop && valid)
    return cfg->size + ts_tfm_val_xtra (cfg->size);
  /* Training crops cover 35-100% of the image (mean 68%): with the shorter
   * side kept >= 1.25 * size, the mean crop is still a downscale and only the
   * smallest ones upsample, by at most ~1.3x for min_scale 0.35.  Asking for
   * size / sqrt (min_scale * 3/4) instead (never upsampling) would make
   * 500x333 sources decode at full size, about twice the decoding time
   * (bench/RESULTS.md). */
  return (int) ceil (cfg->size * 1.25);
}
