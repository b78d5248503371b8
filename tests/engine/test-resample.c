/* test-resample.c: the CPU backend's resample_batch (ts-resample.h) against a
 * reference in double written from the formulas rather than from the item's
 * float fields (box mapping, the normalised affine matrix and perspective
 * warp, reflection, clamp-to-edge bilinear, zero padding, fastai's lighting,
 * Normalize); cropped items against whole ones; a degenerate warp; and the
 * argument checks of ts_backend_resample_batch. */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "ts-backend.h"
#include "ts-resample.h"
#include "ts-rng.h"

#define SIZE 20
/* Without lighting the op and the reference compute the same bilinear mix,
 * the item's constants and the coordinates in float against double: measured
 * 1.3e-5 to 1.7e-5 over six random images (random pixels are the steepest
 * images there are; the error is about 255 * |coordinate error| / 255 / std). */
#define TOL_PLAIN 5e-5
/* ts_resample_image reads lighting from a table of quarter grey levels,
 * interpolated linearly.  The curve bends most in the table's first and last
 * interval at contrast < 1: at contrast 0.8 and brightness logit +-0.4 (the
 * extremes of fastai's default max_lighting 0.2, and of the cases below) the
 * interpolation is off by up to 4.4e-4, 2.0e-3 after Normalize (worked out on
 * a fine grid); elsewhere by < 1e-5.  Measured here: up to 1.3e-5 (these
 * random images seldom sample the ends). */
#define TOL_LIGHT 2.5e-3
/* ... and on average far less (measured up to 1.3e-6): a table with its
 * scale off by one entry, or read without interpolation, is ~1e-3 off on
 * average */
#define TOL_LIGHT_MEAN 2e-5
/* A cropped item moves its float constants by whole pixels: the same points
 * up to the rounding of the coordinates (measured up to 6.7e-6) ... */
#define TOL_CROP 1e-5
/* ... which lighting's curve can steepen: at most ~4 times near black at
 * contrast 0.8, /std after Normalize (measured up to 4.1e-6) */
#define TOL_CROP_LIGHT 5e-4

static const float mean[3] = { 0.485f, 0.456f, 0.406f };
static const float stdv[3] = { 0.229f, 0.224f, 0.225f };

/* Test images, stored one after another in one buffer at odd offsets, with
 * filler between them that no sample may read. */
typedef struct {
  int w, h;
  size_t offset;
} rs_image;

enum { IMG_SQUARE, IMG_WIDE, IMG_TINY, N_IMAGES };
static const int image_dims[N_IMAGES][2] = { { 20, 20 }, { 41, 33 }, { 7, 5 } };
static rs_image images[N_IMAGES];
static uint8_t *src;
static size_t src_bytes;

typedef struct {
  const char *name;
  int img;
  double box[4];                /* x, y, w, h in source pixels */
  const double *affine, *warp;  /* NULL when absent */
  int pad;
  int lighting;
  double brightness_logit, contrast;
} rs_case;

/* rotation by 20 degrees, zoom in 1.25x, a small shift */
static const double rot_in[6] = { 0.75175, -0.27362, 0.05, 0.27362, 0.75175, -0.04 };
/* rotation by -35 degrees, zoom out 1.4x and a horizontal flip: corners read
 * reflected pixels */
static const double flip_out[6] = { -1.14681, 0.80301, 0.1, -0.80301, -1.14681, 0.2 };
static const double persp[8] = { 1.04, 0.06, 0.03, -0.05, 0.97, -0.02, 0.12, -0.09 };

static const rs_case cases[] = {
  { "identity", IMG_SQUARE, { 0, 0, 20, 20 }, NULL, NULL, 0, 0, 0, 1 },
  { "box crop", IMG_WIDE, { 6.3, 4.7, 27.5, 22.1 }, NULL, NULL, 0, 0, 0, 1 },
  { "upscale", IMG_WIDE, { 10.2, 8.6, 7.5, 6.25 }, NULL, NULL, 0, 0, 0, 1 },
  { "affine rotate + zoom in", IMG_WIDE, { 0, 0, 41, 33 }, rot_in, NULL, 0, 0, 0, 1 },
  { "affine zoom out + flip", IMG_WIDE, { 3.2, 1.4, 30, 30 }, flip_out, NULL, 0, 0, 0, 1 },
  { "affine + warp", IMG_WIDE, { 2.5, 0.5, 36, 31 }, rot_in, persp, 0, 0, 0, 1 },
  { "warp only, tiny image", IMG_TINY, { 0, 0, 7, 5 }, NULL, persp, 0, 0, 0, 1 },
  { "pad zeros", IMG_WIDE, { -8.4, -12.2, 57.6, 57.6 }, NULL, NULL, 1, 0, 0, 1 },
  /* a corner of the image and black beyond its right and bottom edges */
  { "pad zeros, corner", IMG_WIDE, { 20.7, 15.2, 30.5, 30.5 }, NULL, NULL, 1, 0, 0, 1 },
  { "pad zeros + affine", IMG_WIDE, { -8.4, -12.2, 57.6, 57.6 }, rot_in, NULL, 1, 0, 0, 1 },
  { "lighting", IMG_WIDE, { 4, 3, 33, 28 }, NULL, NULL, 0, 1, 0.35, 1.25 },
  { "lighting, low contrast + warp", IMG_TINY, { 0, 0, 7, 5 }, rot_in, persp, 0, 1, -0.4,
    0.8 },
  { "lighting + pad zeros", IMG_SQUARE, { -3.3, -2.9, 26.5, 26.5 }, NULL, NULL, 1, 1, 0.1,
    1.1 },
};
#define N_CASES ((int) G_N_ELEMENTS (cases))

static void
make_images (void)
{
  ts_rng rng;
  size_t at = 5;

  ts_rng_seed (&rng, 11, 3);
  for (int i = 0; i < N_IMAGES; i++)
    {
      images[i].w = image_dims[i][0];
      images[i].h = image_dims[i][1];
      images[i].offset = at;
      at += (size_t) images[i].w * images[i].h * 3 + 3;   /* 3 filler bytes */
    }
  src_bytes = at;
  src = g_malloc (src_bytes);
  memset (src, 0xee, src_bytes);
  for (int i = 0; i < N_IMAGES; i++)
    for (int j = 0; j < images[i].w * images[i].h * 3; j++)
      src[images[i].offset + j] = (uint8_t) ts_rng_below (&rng, 256);
}

static void
item_for (const rs_case *k, int size, ts_resample_item *it)
{
  const rs_image *im = &images[k->img];

  ts_resample_item_init (it, size, im->w, im->h, k->box[0], k->box[1], k->box[2], k->box[3],
                         k->affine, k->warp);
  it->offset = (int64_t) im->offset;
  if (k->pad)
    it->flags |= TS_RESAMPLE_PAD_ZEROS;
  if (k->lighting)
    {
      it->flags |= TS_RESAMPLE_LIGHTING;
      it->brightness_logit = (float) k->brightness_logit;
      it->contrast = (float) k->contrast;
    }
}

/* --- the reference, in double --- */

/* grid_sample's reflection about -1 and 1: a triangle wave of period 4 */
static double
ref_reflect (double t)
{
  double u = fmod (t + 1.0, 4.0);

  if (u < 0.0)
    u += 4.0;
  return u <= 2.0 ? u - 1.0 : 3.0 - u;
}

static double
ref_pixel (const rs_image *im, int x, int y, int c)
{
  x = x < 0 ? 0 : x >= im->w ? im->w - 1 : x;
  y = y < 0 ? 0 : y >= im->h ? im->h - 1 : y;
  return src[im->offset + ((size_t) y * im->w + x) * 3 + c];
}

/* Output pixel (ox, oy) of @k at @size, normalised, into v[3].  1 when the
 * sample lies within 1e-4 pixel of the padding's edge, where float rounding
 * may fairly land on either side. */
static int
ref_sample (const rs_case *k, int size, int ox, int oy, double v[3])
{
  const rs_image *im = &images[k->img];
  double gx = ox, gy = oy, sx, sy, x0, y0, fx, fy;
  int near_edge = 0;

  /* with batch transforms: output pixel -> [-1, 1] (align_corners), the
   * matrix, the warp, reflection, and back to output pixels; a one-pixel
   * output has no such grid (ts_resample_item_init takes the box alone) */
  if ((k->affine || k->warp) && size > 1)
    {
      static const double identity[6] = { 1, 0, 0, 0, 1, 0 };
      const double *a = k->affine ? k->affine : identity;
      double nx = -1.0 + 2.0 * ox / (size - 1), ny = -1.0 + 2.0 * oy / (size - 1);
      double tx = a[0] * nx + a[1] * ny + a[2], ty = a[3] * nx + a[4] * ny + a[5];

      if (k->warp)
        {
          const double *h = k->warp;
          double d = h[6] * tx + h[7] * ty + 1.0;
          double wx = (h[0] * tx + h[1] * ty + h[2]) / d;
          double wy = (h[3] * tx + h[4] * ty + h[5]) / d;
          tx = wx;
          ty = wy;
        }
      gx = (ref_reflect (tx) + 1.0) * (size - 1) / 2.0;
      gy = (ref_reflect (ty) + 1.0) * (size - 1) / 2.0;
    }
  /* pixel centres: output pixel g covers [g, g + 1) of size, mapped onto the box */
  sx = k->box[0] + (gx + 0.5) * k->box[2] / size - 0.5;
  sy = k->box[1] + (gy + 0.5) * k->box[3] / size - 0.5;
  if (k->pad)
    {
      double lo_x = -0.5, hi_x = im->w - 0.5, lo_y = -0.5, hi_y = im->h - 0.5;
      double edge = fmin (fmin (fabs (sx - lo_x), fabs (sx - hi_x)),
                          fmin (fabs (sy - lo_y), fabs (sy - hi_y)));
      near_edge = edge < 1e-4;
      if (sx < lo_x || sx > hi_x || sy < lo_y || sy > hi_y)
        {
          for (int c = 0; c < 3; c++)
            v[c] = 0.0;
          goto light;
        }
    }
  /* bilinear over the four taps, each clamped to the image */
  x0 = floor (sx);
  y0 = floor (sy);
  fx = sx - x0;
  fy = sy - y0;
  for (int c = 0; c < 3; c++)
    {
      int ix = (int) x0, iy = (int) y0;
      double top = (1 - fx) * ref_pixel (im, ix, iy, c) + fx * ref_pixel (im, ix + 1, iy, c);
      double bot = (1 - fx) * ref_pixel (im, ix, iy + 1, c)
                   + fx * ref_pixel (im, ix + 1, iy + 1, c);
      v[c] = (1 - fy) * top + fy * bot;
    }
light:
  for (int c = 0; c < 3; c++)
    {
      double u = v[c] / 255.0;
      if (k->lighting)
        {
          double l;
          u = fmin (fmax (u, 1e-7), 1.0 - 1e-7);
          l = (log (u / (1.0 - u)) + k->brightness_logit) * k->contrast;
          u = 1.0 / (1.0 + exp (-l));
        }
      v[c] = (u - mean[c]) / stdv[c];
    }
  return near_edge;
}

/* max |out - reference| over @k's [3][size][size] tile, the mean into
 * *mean_err; *skipped counts the samples at the padding's edge */
static double
ref_max_err (const rs_case *k, int size, const float *out, double *mean_err, int *skipped)
{
  const size_t plane = (size_t) size * size;
  double err = 0.0, sum = 0.0;

  *skipped = 0;
  for (int oy = 0; oy < size; oy++)
    for (int ox = 0; ox < size; ox++)
      {
        double v[3];
        if (ref_sample (k, size, ox, oy, v))
          {
            (*skipped)++;
            continue;
          }
        for (int c = 0; c < 3; c++)
          {
            double d = fabs (out[c * plane + (size_t) oy * size + ox] - v[c]);
            err = fmax (err, d);
            sum += d;
          }
      }
  *mean_err = sum / (3.0 * (plane - *skipped));
  return err;
}

/* --- running the op --- */

/* out [n][3][size][size] from resample_batch on @be */
static float *
run_batch (ts_backend *be, const uint8_t *buf, size_t bytes, const ts_resample_item *items,
           int n, int size)
{
  ts_tensor *out = ts_tensor_new_4d (be, n, 3, size, size);
  float *host;

  g_assert_nonnull (out);
  be->i->fill (be, out, 123.25f);   /* garbage, so that a pixel left unwritten shows */
  g_assert_cmpint (ts_backend_resample_batch (be, buf, bytes, NULL, items, n, mean, stdv, out), ==,
                   TS_OK);
  host = g_new (float, out->numel);
  g_assert_cmpint (ts_tensor_to_host (out, host, out->numel), ==, TS_OK);
  ts_tensor_free (out);
  return host;
}

static void
test_reference (void)
{
  ts_backend *be1 = ts_backend_cpu_new (1), *be3 = ts_backend_cpu_new (3);
  ts_resample_item items[N_CASES];
  const size_t per = (size_t) 3 * SIZE * SIZE;
  double worst_plain = 0.0, worst_light = 0.0;
  float *out, *out1;

  for (int i = 0; i < N_CASES; i++)
    item_for (&cases[i], SIZE, &items[i]);
  out = run_batch (be3, src, src_bytes, items, N_CASES, SIZE);
  for (int i = 0; i < N_CASES; i++)
    {
      int skipped;
      double mean_err, err = ref_max_err (&cases[i], SIZE, out + i * per, &mean_err, &skipped);

      g_test_message ("%-30s |op - reference| max %.3g, mean %.3g%s", cases[i].name, err,
                      mean_err, skipped ? " (samples at the padding's edge skipped)" : "");
      g_assert_cmpint (skipped, <, SIZE);
      g_assert_cmpfloat (err, <, cases[i].lighting ? TOL_LIGHT : TOL_PLAIN);
      if (cases[i].lighting)
        g_assert_cmpfloat (mean_err, <, TOL_LIGHT_MEAN);
      if (cases[i].lighting)
        worst_light = fmax (worst_light, err);
      else
        worst_plain = fmax (worst_plain, err);
    }
  g_test_message ("worst: %.3g without lighting (tolerance %.0e), %.3g with (%.1e)",
                  worst_plain, TOL_PLAIN, worst_light, TOL_LIGHT);
  /* whole images per thread: any thread count gives the same bits */
  out1 = run_batch (be1, src, src_bytes, items, N_CASES, SIZE);
  g_assert_cmpmem (out, N_CASES * per * sizeof (float), out1, N_CASES * per * sizeof (float));
  g_free (out);
  g_free (out1);
  ts_backend_free (be1);
  ts_backend_free (be3);
}

/* a one-pixel output: the box's centre (ts_resample_item_init keeps the box
 * mapping and ignores the matrix, which has no grid to act on) */
static void
test_size_one (void)
{
  static const rs_case one[] = {
    { "size 1, box", IMG_WIDE, { 6.3, 4.7, 27.5, 22.1 }, NULL, NULL, 0, 0, 0, 1 },
    { "size 1, tiny image", IMG_TINY, { 0, 0, 7, 5 }, NULL, NULL, 0, 0, 0, 1 },
    { "size 1, matrix ignored", IMG_WIDE, { 1.5, 2.5, 30, 30 }, rot_in, persp, 0, 0, 0, 1 },
    { "size 1, lighting", IMG_WIDE, { 1.5, 2.5, 30, 30 }, NULL, NULL, 0, 1, 0.2, 0.9 },
  };
  ts_backend *be = ts_backend_cpu_new (2);
  ts_resample_item items[G_N_ELEMENTS (one)];
  float *out;

  for (size_t i = 0; i < G_N_ELEMENTS (one); i++)
    item_for (&one[i], 1, &items[i]);
  out = run_batch (be, src, src_bytes, items, G_N_ELEMENTS (one), 1);
  for (size_t i = 0; i < G_N_ELEMENTS (one); i++)
    {
      int skipped;
      double mean_err, err = ref_max_err (&one[i], 1, out + i * 3, &mean_err, &skipped);

      g_test_message ("%-30s max |op - reference| %.3g", one[i].name, err);
      g_assert_cmpfloat (err, <, one[i].lighting ? TOL_LIGHT : TOL_PLAIN);
    }
  g_free (out);
  ts_backend_free (be);
}

/* Each item's region copied alone into a packed buffer (as the loader
 * stores deferred images) resamples to the whole image's values, up to the
 * rounding of the moved coordinates (and with lighting, one table step). */
static void
test_crop (void)
{
  ts_backend *be = ts_backend_cpu_new (3);
  ts_resample_item whole[N_CASES], cropped[N_CASES];
  const size_t per = (size_t) 3 * SIZE * SIZE;
  size_t bytes = 1;   /* an odd first offset */
  uint8_t *buf;
  int smaller = 0;
  double worst = 0.0;
  float *a, *b;

  buf = g_malloc (src_bytes * N_CASES);
  for (int i = 0; i < N_CASES; i++)
    {
      const rs_image *im = &images[cases[i].img];
      int x, y, w, h;

      item_for (&cases[i], SIZE, &whole[i]);
      cropped[i] = whole[i];
      ts_resample_item_region (&whole[i], im->w, im->h, &x, &y, &w, &h);
      g_assert_true (x >= 0 && y >= 0 && w >= 1 && h >= 1 && x + w <= im->w && y + h <= im->h);
      smaller += w * h < im->w * im->h;
      ts_resample_item_crop (&cropped[i], x, y, w, h);
      cropped[i].offset = (int64_t) bytes;
      for (int r = 0; r < h; r++)
        memcpy (buf + bytes + (size_t) r * w * 3,
                src + im->offset + ((size_t) (y + r) * im->w + x) * 3, (size_t) w * 3);
      bytes += (size_t) w * h * 3;
    }
  /* the crops, upscale and zoom-in cases read a part of their image only */
  g_assert_cmpint (smaller, >=, 3);
  a = run_batch (be, src, src_bytes, whole, N_CASES, SIZE);
  b = run_batch (be, buf, bytes, cropped, N_CASES, SIZE);
  for (int i = 0; i < N_CASES; i++)
    {
      double err = 0.0, tol = cases[i].lighting ? TOL_CROP_LIGHT : TOL_CROP;

      for (size_t j = 0; j < per; j++)
        err = fmax (err, fabs (a[i * per + j] - b[i * per + j]));
      g_test_message ("%-30s max |cropped - whole| %.3g", cases[i].name, err);
      g_assert_cmpfloat (err, <, tol);
      if (!cases[i].lighting)
        worst = fmax (worst, err);
    }
  g_test_message ("cropped items without lighting: max |cropped - whole| %.3g (%d of %d "
                  "regions smaller than their image)", worst, smaller, N_CASES);
  g_free (a);
  g_free (b);
  g_free (buf);
  ts_backend_free (be);
}

/* A perspective warp whose denominator reaches 0 on the output's right edge
 * (then inf, and NaN after reflection): finite values, and no read outside
 * the image (ASan would see one). */
static void
test_degenerate_warp (void)
{
  static const double flat[8] = { 1, 0, 0, 0, 1, 0, -1, 0 };
  const rs_case k = { "degenerate warp", IMG_TINY, { 0, 0, 7, 5 }, NULL, flat, 0, 0, 0, 1 };
  ts_backend *be = ts_backend_cpu_new (1);
  ts_resample_item it;
  float *out;

  item_for (&k, 9, &it);
  out = run_batch (be, src, src_bytes, &it, 1, 9);
  for (int i = 0; i < 3 * 9 * 9; i++)
    g_assert_true (isfinite (out[i]));
  g_free (out);
  ts_backend_free (be);
}

/* expects @st and an error message that contains @what */
static void
expect_error (ts_status got, ts_status st, const char *what)
{
  g_assert_cmpint (got, ==, st);
  g_assert_nonnull (strstr (ts_last_error (), what));
  ts_clear_error ();
}

static void
test_bad_args (void)
{
  ts_backend *be = ts_backend_cpu_new (1);
  ts_resample_item items[2];
  ts_tensor *out = ts_tensor_new_4d (be, 2, 3, 8, 8);
  ts_tensor *wide = ts_tensor_new_4d (be, 2, 3, 8, 9), *grey = ts_tensor_new_4d (be, 2, 1, 8, 8);
  ts_tensor *three = ts_tensor_new_4d (be, 3, 3, 8, 8);
  int64_t s3[3] = { 2, 3, 64 };
  ts_tensor *flat = ts_tensor_new (be, 3, s3);
  const size_t end = images[IMG_TINY].offset + 7 * 5 * 3;

  item_for (&cases[1], 8, &items[0]);
  item_for (&cases[6], 8, &items[1]);   /* the last image: its pixels end at @end */
  be->i->fill (be, out, 7.0f);
  ts_clear_error ();
  expect_error (ts_backend_resample_batch (be, src, src_bytes, NULL, items, 2, mean, stdv, wide),
                TS_ERR_SHAPE, "[2, 3, 8, 9]");
  expect_error (ts_backend_resample_batch (be, src, src_bytes, NULL, items, 2, mean, stdv, grey),
                TS_ERR_SHAPE, "[2, 1, 8, 8]");
  expect_error (ts_backend_resample_batch (be, src, src_bytes, NULL, items, 2, mean, stdv, three),
                TS_ERR_SHAPE, "[3, 3, 8, 8]");
  expect_error (ts_backend_resample_batch (be, src, src_bytes, NULL, items, 2, mean, stdv, flat),
                TS_ERR_SHAPE, "expected [2, 3, size, size]");
  expect_error (ts_backend_resample_batch (be, src, src_bytes, NULL, items, 0, mean, stdv, out),
                TS_ERR_SHAPE, "resample");
  items[1].size = 9;
  expect_error (ts_backend_resample_batch (be, src, src_bytes, NULL, items, 2, mean, stdv, out),
                TS_ERR_SHAPE, "item 1");
  items[1].size = 8;
  /* pixels one byte past the source, an offset past it, a negative one, no pixels */
  expect_error (ts_backend_resample_batch (be, src, end - 1, NULL, items, 2, mean, stdv, out),
                TS_ERR_INVALID, "item 1");
  items[1].offset = (int64_t) src_bytes + 1;
  expect_error (ts_backend_resample_batch (be, src, src_bytes, NULL, items, 2, mean, stdv, out),
                TS_ERR_INVALID, "item 1");
  items[1].offset = -3;
  expect_error (ts_backend_resample_batch (be, src, src_bytes, NULL, items, 2, mean, stdv, out),
                TS_ERR_INVALID, "item 1");
  items[1].offset = (int64_t) images[IMG_TINY].offset;
  items[1].width = 0;
  expect_error (ts_backend_resample_batch (be, src, src_bytes, NULL, items, 2, mean, stdv, out),
                TS_ERR_INVALID, "item 1");
  items[1].width = 7;
  /* nothing was written by the refused calls */
  for (int64_t i = 0; i < out->numel; i++)
    g_assert_cmpfloat (out->data[i], ==, 7.0f);
  /* pixels that end exactly at the source's end are fine */
  g_assert_cmpint (ts_backend_resample_batch (be, src, end, NULL, items, 2, mean, stdv, out), ==,
                   TS_OK);
  ts_tensor_free (out);
  ts_tensor_free (wide);
  ts_tensor_free (grey);
  ts_tensor_free (three);
  ts_tensor_free (flat);
  ts_backend_free (be);
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  /* small batches would otherwise run on one thread: split them anyway */
  g_setenv ("TS_CPU_MIN_PARALLEL_WORK", "0", TRUE);
  make_images ();
  g_test_add_func ("/engine/resample/reference", test_reference);
  g_test_add_func ("/engine/resample/size-one", test_size_one);
  g_test_add_func ("/engine/resample/crop", test_crop);
  g_test_add_func ("/engine/resample/degenerate-warp", test_degenerate_warp);
  g_test_add_func ("/engine/resample/bad-args", test_bad_args);
  rc = g_test_run ();
  g_free (src);
  return rc;
}
