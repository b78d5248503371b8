/* test-transform.c: geometry of RandomResizedCrop, the validation resize,
 * Resize, flip, rotation, lighting and determinism. */
#include <math.h>
#include <string.h>

#include "ts-test.h"
#include "ts-transform.h"

/* Where @p's resample samples output pixel (@ox, @oy) of a @size tile, in
 * source pixels: the pipeline's own mapping (ts-resample.h, float). */
static void
map_pixel (const ts_tfm_plan *p, int size, int ox, int oy, double *sx, double *sy)
{
  ts_resample_item it;
  float x, y;

  ts_tfm_resample_item (p, size, 1 << 20, 1 << 20, &it);
  ts_resample_coords (&it, ox, oy, &x, &y);
  *sx = x;
  *sy = y;
}

static ts_image
make_image (int w, int h)
{
  ts_image img = { g_malloc0 ((size_t) w * h * 3), w, h };
  return img;
}

static void
test_rrc_boxes (void)
{
  static const int dims[][2] = { { 500, 333 }, { 333, 500 }, { 100, 100 }, { 640, 480 },
                                 { 37, 1000 }, { 17, 13 } };

  for (size_t d = 0; d < G_N_ELEMENTS (dims); d++)
    for (uint64_t seed = 0; seed < 2000; seed++)
      {
        int w = dims[d][0], h = dims[d][1];
        double ratio;
        ts_tfm_plan p;
        ts_rng rng;

        ts_rng_seed (&rng, seed, 1);
        ts_tfm_random_resized_crop (&p, w, h, 0.35, &rng);
        g_assert_cmpfloat (p.box_x, >=, 0);
        g_assert_cmpfloat (p.box_y, >=, 0);
        g_assert_cmpfloat (p.box_w, >=, 1);
        g_assert_cmpfloat (p.box_h, >=, 1);
        g_assert_cmpfloat (p.box_x + p.box_w, <=, w);
        g_assert_cmpfloat (p.box_y + p.box_h, <=, h);
        /* integer boxes, as fastai's */
        g_assert_cmpfloat (p.box_x, ==, floor (p.box_x));
        g_assert_cmpfloat (p.box_w, ==, floor (p.box_w));
        ratio = p.box_w / p.box_h;
        if (w >= 40 && h >= 40)
          {
            /* rounding to whole pixels moves the ratio and area a little */
            g_assert_cmpfloat (ratio, >=, 0.75 * 0.97);
            g_assert_cmpfloat (ratio, <=, 4.0 / 3.0 * 1.03);
            g_assert_cmpfloat (p.box_w * p.box_h, >=, 0.35 * w * h * 0.95);
          }
        g_assert_false (p.has_affine || p.has_warp || p.has_lighting);
      }
}

static void
test_rrc_fallback (void)
{
  ts_tfm_plan p;
  ts_rng rng;

  /* 10:1 with min_scale 0.9: no try fits, so the centre crop at ratio 4/3 */
  ts_rng_seed (&rng, 5, 0);
  ts_tfm_random_resized_crop (&p, 1000, 100, 0.9, &rng);
  g_assert_cmpfloat (p.box_w, ==, 133);
  g_assert_cmpfloat (p.box_h, ==, 100);
  g_assert_cmpfloat (p.box_x, ==, (1000 - 133) / 2);
  g_assert_cmpfloat (p.box_y, ==, 0);
  /* 1:10: ratio 3/4 */
  ts_tfm_random_resized_crop (&p, 100, 1000, 0.9, &rng);
  g_assert_cmpfloat (p.box_w, ==, 100);
  g_assert_cmpfloat (p.box_h, ==, 133);
  g_assert_cmpfloat (p.box_y, ==, (1000 - 133) / 2);
}

static void
test_val_resize (void)
{
  ts_tfm_plan p;
  double sx, sy;

  g_assert_cmpint (ts_tfm_val_xtra (128), ==, 24);
  g_assert_cmpint (128 + ts_tfm_val_xtra (128), ==, 152);
  g_assert_cmpint (224 + ts_tfm_val_xtra (224), ==, 256);
  ts_tfm_val_crop (&p, 500, 333, 128);
  /* output pixel p is pixel p + 12 of the 152 x 152 squish of the whole image */
  for (int o = 0; o < 128; o += 17)
    {
      /* float coordinates near 400 carry ~3e-5 of rounding */
      map_pixel (&p, 128, o, o, &sx, &sy);
      g_assert_cmpfloat (fabs (sx - ((o + 12 + 0.5) * 500.0 / 152 - 0.5)), <, 1e-4);
      g_assert_cmpfloat (fabs (sy - ((o + 12 + 0.5) * 333.0 / 152 - 0.5)), <, 1e-4);
    }
}

static void
test_resize_methods (void)
{
  ts_image img = make_image (200, 100);
  float *out = g_malloc (sizeof (float) * 3 * 50 * 50);
  const float mean[3] = { 0, 0, 0 }, std[3] = { 1, 1, 1 };
  ts_tfm_plan p;

  memset (img.pixels, 255, 200 * 100 * 3);
  ts_tfm_resize (&p, 200, 100, TS_RESIZE_CROP, 0, NULL);
  g_assert_cmpfloat (p.box_w, ==, 100);
  g_assert_cmpfloat (p.box_x, ==, 50);
  ts_tfm_resize (&p, 200, 100, TS_RESIZE_SQUISH, 0, NULL);
  g_assert_cmpfloat (p.box_w, ==, 200);
  g_assert_cmpfloat (p.box_h, ==, 100);
  ts_tfm_resize (&p, 200, 100, TS_RESIZE_PAD, 0, NULL);
  g_assert_cmpfloat (p.box_w, ==, 200);
  g_assert_cmpfloat (p.box_h, ==, 200);
  g_assert_cmpfloat (p.box_y, ==, -50);
  ts_tfm_apply (&img, &p, 50, mean, std, out);
  /* the top and bottom quarters are padding (black), the middle is the image */
  g_assert_cmpfloat (out[2 * 50 + 25], ==, 0.0f);
  g_assert_cmpfloat (out[25 * 50 + 25], ==, 1.0f);
  g_assert_cmpfloat (out[47 * 50 + 25], ==, 0.0f);
  g_free (out);
  g_free (img.pixels);
}

static void
test_flip (void)
{
  ts_image img = make_image (8, 8);
  float *out = g_malloc (sizeof (float) * 3 * 64);
  const float mean[3] = { 0, 0, 0 }, std[3] = { 1, 1, 1 };
  ts_aug_params aug;
  ts_tfm_plan p;
  ts_rng rng;

  /* a distinct value in every column of the red channel */
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 8; x++)
      img.pixels[(y * 8 + x) * 3] = (uint8_t) (x * 30 + y);
  ts_aug_params_preset (&aug, TS_AUG_FLIP);
  aug.flip_p = 1.0f;
  ts_tfm_plan_identity (&p, 8, 8);
  ts_rng_seed (&rng, 1, 2);
  ts_tfm_augment (&p, &aug, &rng);
  g_assert_true (p.has_affine);
  ts_tfm_apply (&img, &p, 8, mean, std, out);
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 8; x++)
      g_assert_cmpfloat (fabsf (out[y * 8 + x] * 255.0f - ((7 - x) * 30 + y)), <, 1e-3);
  /* flip_p 0: untouched */
  aug.flip_p = 0.0f;
  ts_tfm_plan_identity (&p, 8, 8);
  ts_tfm_augment (&p, &aug, &rng);
  g_assert_false (p.has_affine);
  g_free (out);
  g_free (img.pixels);
}

static void
test_rotation (void)
{
  ts_image img = make_image (9, 9);
  float *out = g_malloc (sizeof (float) * 3 * 81);
  const float mean[3] = { 0, 0, 0 }, std[3] = { 1, 1, 1 };
  ts_aug_params aug;
  ts_tfm_plan p;
  int best = -1;

  /* a white pixel right of the centre; fastai's rotate_mat for 90 degrees
   * [[cos, sin], [-sin, cos]] samples the source at (y, -x), so the point
   * shows below the centre */
  img.pixels[(4 * 9 + 6) * 3] = 255;
  ts_tfm_plan_identity (&p, 9, 9);
  p.has_affine = 1;
  p.affine[0] = 0; p.affine[1] = 1; p.affine[2] = 0;
  p.affine[3] = -1; p.affine[4] = 0; p.affine[5] = 0;
  ts_tfm_apply (&img, &p, 9, mean, std, out);
  for (int i = 0; i < 81; i++)
    if (best < 0 || out[i] > out[best])
      best = i;
  g_assert_cmpint (best % 9, ==, 4);
  g_assert_cmpint (best / 9, ==, 6);
  g_assert_cmpfloat (out[best], >, 0.99f);

  /* drawn angles stay within max_rotate and the matrix is a rotation */
  ts_aug_params_preset (&aug, TS_AUG_NONE);
  aug.max_rotate = 10.0f;
  aug.p_affine = 1.0f;
  for (uint64_t s = 0; s < 500; s++)
    {
      ts_rng rng;
      double deg;
      ts_rng_seed (&rng, s, 0);
      ts_tfm_plan_identity (&p, 9, 9);
      ts_tfm_augment (&p, &aug, &rng);
      if (!p.has_affine)
        continue;
      deg = atan2 (p.affine[1], p.affine[0]) * 180 / M_PI;
      g_assert_cmpfloat (fabs (deg), <=, 10.0 + 1e-9);
      g_assert_cmpfloat (fabs (p.affine[0] - p.affine[4]), <, 1e-12);
      g_assert_cmpfloat (fabs (p.affine[1] + p.affine[3]), <, 1e-12);
    }
  g_free (out);
  g_free (img.pixels);
}

static void
test_zoom_warp_lighting (void)
{
  ts_image img = make_image (32, 32);
  float *out = g_malloc (sizeof (float) * 3 * 32 * 32);
  const float mean[3] = { 0, 0, 0 }, std[3] = { 1, 1, 1 };
  ts_aug_params aug;
  int n_warp = 0, n_light = 0;

  memset (img.pixels, 128, 32 * 32 * 3);
  ts_aug_params_preset (&aug, TS_AUG_FASTAI);
  for (uint64_t s = 0; s < 200; s++)
    {
      ts_tfm_plan p;
      ts_rng rng;
      ts_rng_seed (&rng, s, 7);
      ts_tfm_plan_identity (&p, 32, 32);
      ts_tfm_augment (&p, &aug, &rng);
      /* every output pixel maps inside the source (reflection padding) */
      for (int y = 0; y < 32; y += 3)
        for (int x = 0; x < 32; x += 3)
          {
            double sx, sy;
            map_pixel (&p, 32, x, y, &sx, &sy);
            g_assert_true (sx >= -0.5 && sx <= 31.5 && sy >= -0.5 && sy <= 31.5);
          }
      n_warp += p.has_warp;
      if (p.has_lighting)
        {
          double v = 128.0 / 255.0, b = 1.0 / (1.0 + exp (-p.brightness_logit));
          double want = 1.0 / (1.0 + exp (-(log (v / (1 - v)) + log (b / (1 - b))) * p.contrast));
          n_light++;
          /* brightness change in 0.5 * (1 +- 0.2); contrast in (0.8, 1.25) */
          g_assert_cmpfloat (b, >=, 0.4 - 1e-6);
          g_assert_cmpfloat (b, <=, 0.6 + 1e-6);
          g_assert_cmpfloat (p.contrast, >=, 0.8f - 1e-6f);
          g_assert_cmpfloat (p.contrast, <=, 1.25f + 1e-6f);
          ts_tfm_apply (&img, &p, 32, mean, std, out);
          g_assert_cmpfloat (fabs (out[16 * 32 + 16] - want), <, 2e-3);
        }
    }
  /* p = 0.75 each: most plans warp and most change the lighting */
  g_assert_cmpint (n_warp, >, 120);
  g_assert_cmpint (n_light, >, 150);
  g_free (out);
  g_free (img.pixels);
}

static void
test_warp (void)
{
  const double xt = 0.13, yt = -0.17;
  const double orig[4][2] = { { -1, -1 }, { -1, 1 }, { 1, -1 }, { 1, 1 } };
  const double targ[4][2] = { { -1 - yt, -1 - xt }, { -1 + yt, 1 + xt },
                              { 1 + yt, -1 + xt }, { 1 - yt, 1 - xt } };
  double h[8];
  ts_tfm_plan p;

  g_assert_true (ts_tfm_warp_coeffs (xt, yt, h));
  for (int i = 0; i < 4; i++)
    {
      double x = targ[i][0], y = targ[i][1], d = h[6] * x + h[7] * y + 1;
      g_assert_cmpfloat (fabs ((h[0] * x + h[1] * y + h[2]) / d - orig[i][0]), <, 1e-12);
      g_assert_cmpfloat (fabs ((h[3] * x + h[4] * y + h[5]) / d - orig[i][1]), <, 1e-12);
    }
  /* no warp: the identity */
  g_assert_true (ts_tfm_warp_coeffs (0, 0, h));
  for (int i = 0; i < 8; i++)
    g_assert_cmpfloat (fabs (h[i] - (i == 0 || i == 4 ? 1 : 0)), <, 1e-12);
  /* the plan applies it: output pixel at a moved corner samples the corner */
  ts_tfm_plan_identity (&p, 11, 11);
  p.has_warp = ts_tfm_warp_coeffs (0.2, 0.0, p.warp);
  {
    double sx, sy;
    /* the centre (0, 0) goes to (h2, h5), in pixels of the 11 x 11 grid */
    map_pixel (&p, 11, 5, 5, &sx, &sy);
    g_assert_cmpfloat (fabs (sx - (p.warp[2] + 1) * 5), <, 1e-5);
    g_assert_cmpfloat (fabs (sy - (p.warp[5] + 1) * 5), <, 1e-5);
    g_assert_cmpfloat (fabs (p.warp[2]) + fabs (p.warp[5]), >, 1e-3);
  }
}

/* Flip, rotate, zoom and warp against PyTorch's affine_grid + fastai's
 * perspective + grid_sample (reflection, align_corners) from
 * make-grid-reference.py: the same geometry as fastai's batch transforms. */
static void
test_torch_parity (void)
{
  char *src_path = ts_test_fixture_path ("images/grid-src.png");
  char *ref_path = ts_test_fixture_path ("images/grid-ref.bin");
  const size_t n = 3 * 32 * 32, rec = 8 * sizeof (double) + n * sizeof (float);
  const float mean[3] = { 0, 0, 0 }, std[3] = { 1, 1, 1 };
  float *out = g_malloc (n * sizeof (float));
  gchar *ref;
  gsize len;
  ts_image img;

  g_assert_cmpint (ts_image_load (src_path, 0, 0, &img), ==, TS_OK);
  g_assert_true (g_file_get_contents (ref_path, &ref, &len, NULL));
  g_assert_cmpuint (len % rec, ==, 0);
  for (gsize k = 0; k < len / rec; k++)
    {
      double par[8];
      float want, max_err = 0;
      ts_tfm_plan p;

      memcpy (par, ref + k * rec, sizeof par);
      ts_tfm_plan_identity (&p, 32, 32);
      p.has_affine = 1;
      memcpy (p.affine, par, 6 * sizeof (double));
      if (par[6] != 0 || par[7] != 0)
        p.has_warp = ts_tfm_warp_coeffs (par[6], par[7], p.warp);
      ts_tfm_apply (&img, &p, 32, mean, std, out);
      for (size_t i = 0; i < n; i++)
        {
          memcpy (&want, ref + k * rec + sizeof par + i * sizeof (float), sizeof want);
          if (fabsf (out[i] - want) > max_err)
            max_err = fabsf (out[i] - want);
        }
      g_test_message ("case %" G_GSIZE_FORMAT ": max abs error %.2e", k, max_err);
      g_assert_cmpfloat (max_err, <, 1e-4);
    }
  ts_image_clear (&img);
  g_free (ref);
  g_free (out);
  g_free (src_path);
  g_free (ref_path);
}

static void
test_determinism (void)
{
  ts_image img = make_image (50, 40);
  size_t n = 3 * 24 * 24;
  float *a = g_malloc (sizeof (float) * n), *b = g_malloc (sizeof (float) * n);
  ts_loader_config cfg;
  ts_rng r1, r2;

  for (int i = 0; i < 50 * 40 * 3; i++)
    img.pixels[i] = (uint8_t) (i * 7 % 256);
  ts_loader_config_init (&cfg);
  cfg.size = 24;
  ts_rng_seed (&r1, 99, 3);
  ts_rng_seed (&r2, 99, 3);
  ts_tfm_item (&img, &cfg, 0, &r1, a);
  ts_tfm_item (&img, &cfg, 0, &r2, b);
  g_assert_cmpmem (a, n * sizeof (float), b, n * sizeof (float));
  ts_rng_seed (&r2, 100, 3);
  ts_tfm_item (&img, &cfg, 0, &r2, b);
  g_assert_true (memcmp (a, b, n * sizeof (float)) != 0);
  /* validation ignores the generator */
  ts_tfm_item (&img, &cfg, 1, &r1, a);
  ts_tfm_item (&img, &cfg, 1, &r2, b);
  g_assert_cmpmem (a, n * sizeof (float), b, n * sizeof (float));
  g_free (a);
  g_free (b);
  g_free (img.pixels);
}

static void
test_decode_min_side (void)
{
  ts_loader_config cfg;

  ts_loader_config_init (&cfg);
  g_assert_cmpint (ts_tfm_decode_min_side (&cfg, 1), ==, 152);
  g_assert_cmpint (ts_tfm_decode_min_side (&cfg, 0), ==, 160);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/transform/rrc-boxes", test_rrc_boxes);
  g_test_add_func ("/transform/rrc-fallback", test_rrc_fallback);
  g_test_add_func ("/transform/val-resize", test_val_resize);
  g_test_add_func ("/transform/resize-methods", test_resize_methods);
  g_test_add_func ("/transform/flip", test_flip);
  g_test_add_func ("/transform/rotation", test_rotation);
  g_test_add_func ("/transform/zoom-warp-lighting", test_zoom_warp_lighting);
  g_test_add_func ("/transform/warp", test_warp);
  g_test_add_func ("/transform/torch-parity", test_torch_parity);
  g_test_add_func ("/transform/determinism", test_determinism);
  g_test_add_func ("/transform/decode-min-side", test_decode_min_side);
  return g_test_run ();
}
