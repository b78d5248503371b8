/* ts-transform.h: fastai's item and batch transforms for one image, composed
 * into a single coordinate mapping and a single bilinear resample from the
 * decoded image (never two lossy resamples).
 *
 * Coordinates: the output grid is size x size; fastai's batch transforms work
 * in normalised coordinates [-1, 1] with align_corners=True (-1 and 1 are the
 * centres of the first and last pixels).  The item transform is a box in the
 * source image (PIL's crop + resize: output pixel p samples the box at
 * (p + 0.5) * box_w / size - 0.5).
 */
#pragma once

#include "ts-image.h"
#include "ts-loader.h"
#include "ts-resample.h"
#include "ts-rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  /* item transform: the source box resized to the output square */
  double box_x, box_y, box_w, box_h;
  int pad_zeros;          /* samples outside the source are black (Resize pad) */

  /* batch transforms (normalised coordinates): src = warp (affine (out)),
   * then reflected into [-1, 1] as fastai's padding_mode='reflection' */
  int has_affine;
  double affine[6];       /* [a b c; d e f]: x' = a x + b y + c, y' = d x + e y + f */
  int has_warp;
  double warp[8];         /* perspective coefficients (fastai's _find_coeffs) */

  /* lighting, in logit space as fastai's LightingTfm */
  int has_lighting;
  float brightness_logit; /* added: logit (change) */
  float contrast;         /* multiplied */
} ts_tfm_plan;

void ts_tfm_plan_identity (ts_tfm_plan *p, int src_w, int src_h);

/* fastai's RandomResizedCrop(size, min_scale, ratio=(3/4, 4/3)) on the
 * training set: ten tries, then a centre crop at the nearest allowed ratio. */
void ts_tfm_random_resized_crop (ts_tfm_plan *p, int src_w, int src_h, double min_scale,
                                 ts_rng *rng);
/* RandomResizedCrop on the validation set: the whole image squished to
 * size + val_xtra, then a centre crop of size. */
void ts_tfm_val_crop (ts_tfm_plan *p, int src_w, int src_h, int size);
int ts_tfm_val_xtra (int size);  /* ceil (0.14 * size / 8) * 8 */
/* fastai's Resize(size, method): crop takes a random (training) or centred
 * (validation) square of the shorter side; pad the longer side's square. */
void ts_tfm_resize (ts_tfm_plan *p, int src_w, int src_h, ts_resize_method method, int random,
                    ts_rng *rng);

/* aug_transforms: flip, rotate, zoom, warp and lighting, each drawn with its
 * probability. */
void ts_tfm_augment (ts_tfm_plan *p, const ts_aug_params *aug, ts_rng *rng);

/* fastai's Warp for magnitudes (xt, yt): the perspective that takes the
 * moved corners (-1-yt, -1-xt), (-1+yt, 1+xt), (1+yt, -1+xt), (1-yt, 1-xt)
 * back to (-1, -1), (-1, 1), (1, -1), (1, 1).  0 when degenerate. */
int ts_tfm_warp_coeffs (double xt, double yt, double h[8]);

/* The engine's description of @p's resample for an output of @size pixels
 * from a @src_w x @src_h image. */
void ts_tfm_resample_item (const ts_tfm_plan *p, int size, int src_w, int src_h,
                           ts_resample_item *it);

/* Resamples @src into @out ([3][size][size], CHW), applying lighting and
 * then (x - mean) / std on [0, 1] pixels; mean = 0, std = 1 gives [0, 1]. */
void ts_tfm_apply (const ts_image *src, const ts_tfm_plan *p, int size, const float mean[3],
                   const float std[3], float *out);

/* The whole per-item pipeline of the loader: item transform (training or
 * validation as @cfg says), augmentation when training, resample.  @rng is
 * not used (and may be NULL) when @valid is set. */
void ts_tfm_item (const ts_image *src, const ts_loader_config *cfg, int valid, ts_rng *rng,
                  float *out);
/* Its first half: the plan for a @src_w x @src_h image (the same draws from
 * @rng as ts_tfm_item). */
void ts_tfm_item_plan (int src_w, int src_h, const ts_loader_config *cfg, int valid, ts_rng *rng,
                       ts_tfm_plan *plan);
/* ts_tfm_item without the resample, for a backend to do it: @it for the
 * region (@x, @y, @w, @h) of @src that the resample reads, which the caller
 * copies out (rows of @w * 3 bytes) and places at it->offset. */
void ts_tfm_item_deferred (const ts_image *src, const ts_loader_config *cfg, int valid,
                           ts_rng *rng, ts_resample_item *it, int *x, int *y, int *w, int *h);

/* The shorter side a JPEG should keep when decoded for @cfg (ts_image_load's
 * min_side): size + val_xtra for validation, 1.25 * size for training. */
int ts_tfm_decode_min_side (const ts_loader_config *cfg, int valid);

#ifdef __cplusplus
}
#endif
