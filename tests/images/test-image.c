/* test-image.c: decoding every image kind, EXIF orientation, DCT scaling,
 * bounded huge images, truncated and corrupt files. */
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "ts-image.h"
#include "ts-test.h"

/* The 4 x 2 grid of 8 px blocks written by make-fixtures.py. */
static const uint8_t colours[8][3] = {
  { 220, 40, 40 }, { 40, 200, 40 }, { 40, 40, 220 }, { 230, 230, 40 },
  { 40, 220, 220 }, { 220, 40, 220 }, { 250, 250, 250 }, { 20, 20, 20 },
};

static char *
fixture (const char *name)
{
  char rel[256];
  g_snprintf (rel, sizeof rel, "images/%s", name);
  return ts_test_fixture_path (rel);
}

static void
check_pattern (const ts_image *img, int gray, int tol)
{
  g_assert_cmpint (img->width, ==, 32);
  g_assert_cmpint (img->height, ==, 16);
  for (int i = 0; i < 8; i++)
    {
      int x = (i % 4) * 8 + 4, y = (i / 4) * 8 + 4;
      const uint8_t *p = img->pixels + ((size_t) y * img->width + x) * 3;
      int want[3];
      if (gray)
        {
          int l = (colours[i][0] * 299 + colours[i][1] * 587 + colours[i][2] * 114) / 1000;
          want[0] = want[1] = want[2] = l;
        }
      else
        for (int c = 0; c < 3; c++)
          want[c] = colours[i][c];
      for (int c = 0; c < 3; c++)
        if (abs (p[c] - want[c]) > tol)
          g_error ("block %d channel %d: got %d, want %d", i, c, p[c], want[c]);
    }
}

static void
load_fixture (const char *name, int min_side, ts_image *img)
{
  char *path = fixture (name);
  ts_status st = ts_image_load (path, min_side, 0, img);
  if (st != TS_OK)
    g_error ("%s: %s", name, ts_last_error ());
  g_free (path);
}

static void
test_kinds (void)
{
  static const struct { const char *name, *format, *mode; int gray, tol; } kinds[] = {
    { "rgb.jpg", "jpeg", "RGB", 0, 10 },
    { "gray.jpg", "jpeg", "L", 1, 10 },
    { "cmyk.jpg", "jpeg", "CMYK", 0, 10 },
    { "rgb.png", "png", "RGB", 0, 0 },
    { "rgba.png", "png", "RGBA", 0, 0 },
    { "gray.png", "png", "L", 1, 1 },
    { "palette.png", "png", "P", 0, 0 },
    { "gray-alpha.png", "png", "LA", 1, 1 },
    { "gray16.png", "png", "I", 1, 1 },
    { "rgb16.png", "png", "RGB", 0, 0 },
  };

  for (size_t k = 0; k < G_N_ELEMENTS (kinds); k++)
    {
      char *path = fixture (kinds[k].name);
      ts_image_info info;
      ts_image img;

      g_test_message ("%s", kinds[k].name);
      g_assert_cmpint (ts_image_probe (path, &info), ==, TS_OK);
      g_assert_cmpstr (info.format, ==, kinds[k].format);
      g_assert_cmpstr (info.mode, ==, kinds[k].mode);
      g_assert_cmpint (info.width, ==, 32);
      g_assert_cmpint (info.height, ==, 16);
      g_assert_cmpint (info.orientation, ==, 1);
      load_fixture (kinds[k].name, 0, &img);
      check_pattern (&img, kinds[k].gray, kinds[k].tol);
      ts_image_clear (&img);
      g_free (path);
    }
}

static void
test_exif (void)
{
  for (int o = 1; o <= 8; o++)
    {
      char name[32];
      char *path;
      ts_image_info info;
      ts_image img;

      g_snprintf (name, sizeof name, "exif-%d.jpg", o);
      path = fixture (name);
      g_assert_cmpint (ts_image_probe (path, &info), ==, TS_OK);
      g_assert_cmpint (info.orientation, ==, o);
      /* stored size is before orientation: transposed for 5..8 */
      g_assert_cmpint (info.width, ==, o >= 5 ? 16 : 32);
      load_fixture (name, 0, &img);
      check_pattern (&img, 0, 12);
      ts_image_clear (&img);
      g_free (path);
    }
  /* a PNG's eXIf chunk is honoured too */
  {
    char *path = fixture ("exif-6.png");
    ts_image_info info;
    ts_image img;
    g_assert_cmpint (ts_image_probe (path, &info), ==, TS_OK);
    g_assert_cmpint (info.orientation, ==, 6);
    g_assert_cmpint (info.width, ==, 16);
    load_fixture ("exif-6.png", 0, &img);
    check_pattern (&img, 0, 0);
    ts_image_clear (&img);
    g_free (path);
  }
}

static void
test_bad_files (void)
{
  const char *bad[] = { "truncated.jpg", "corrupt.jpg", "header-only.jpg", "truncated.png",
                        "corrupt.png", "not-an-image.jpg", "does-not-exist.jpg" };

  for (size_t i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      char *path = fixture (bad[i]);
      ts_image img = { (uint8_t *) 1, 1, 1 };
      ts_status st = ts_image_load (path, 0, 0, &img);

      g_test_message ("%s: %s", bad[i], ts_last_error ());
      g_assert_cmpint (st, !=, TS_OK);
      g_assert_null (img.pixels);
      g_assert_nonnull (strstr (ts_last_error (), bad[i]));
      g_free (path);
    }
  /* a buffer of every length cut from a good JPEG: never a crash */
  {
    char *path = fixture ("rgb.jpg");
    gchar *data;
    gsize len;
    g_assert_true (g_file_get_contents (path, &data, &len, NULL));
    for (gsize n = 0; n < len; n += 7)
      {
        ts_image img;
        if (ts_image_load_memory ((const uint8_t *) data, n, "cut.jpg", 0, 0, &img) == TS_OK)
          ts_image_clear (&img);
      }
    g_free (data);
    g_free (path);
  }
}

/* A JPEG whose header claims 20000 x 20000 pixels: refused or bounded, never
 * a crash or a 1.2 GB allocation. */
static void
test_huge_header (void)
{
  char *path = fixture ("rgb.jpg");
  gchar *data;
  gsize len;
  ts_image_info info;
  ts_image img;
  ts_status st;
  char *dir = ts_test_tmpdir (), *huge = g_build_filename (dir, "huge.jpg", NULL);

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  for (gsize i = 2; i + 9 < len; i++)
    if ((guint8) data[i] == 0xFF && ((guint8) data[i + 1] == 0xC0 || (guint8) data[i + 1] == 0xC2))
      {
        data[i + 5] = 0x4E; data[i + 6] = 0x20;  /* height 20000 */
        data[i + 7] = 0x4E; data[i + 8] = 0x20;  /* width 20000 */
        break;
      }
  g_assert_true (g_file_set_contents (huge, data, (gssize) len, NULL));
  g_assert_cmpint (ts_image_probe (huge, &info), ==, TS_OK);
  g_assert_cmpint (info.width, ==, 20000);
  st = ts_image_load (huge, 0, 1024, &img);
  g_test_message ("huge: %s", st == TS_OK ? "decoded" : ts_last_error ());
  if (st == TS_OK)
    {
      g_assert_cmpint (img.width, <=, 1024);
      ts_image_clear (&img);
    }
  g_free (data);
  g_free (path);
  g_free (huge);
  ts_test_rmdir (dir);
  g_free (dir);
}

/* The pattern of rgb.jpg with 3 stray bytes between two header segments: a
 * libjpeg warning ("extraneous bytes before marker") that PIL and every
 * viewer shrug off.  @cut > 0 keeps only that many bytes. */
static gchar *
jpeg_with_stray_bytes (gsize *len)
{
  char *path = fixture ("rgb.jpg");
  gchar *data, *out;
  gsize n, seg;

  g_assert_true (g_file_get_contents (path, &data, &n, NULL));
  g_free (path);
  /* SOI, then the first segment (APP0) by its length */
  g_assert_cmpint ((guint8) data[2], ==, 0xFF);
  seg = 4 + (gsize) ((guint8) data[4] << 8 | (guint8) data[5]);
  out = g_malloc (n + 3);
  memcpy (out, data, seg);
  memset (out + seg, 0, 3);
  memcpy (out + seg + 3, data + seg, n - seg);
  g_free (data);
  *len = n + 3;
  return out;
}

static gsize
find_marker (const gchar *data, gsize len, guint8 marker)
{
  for (gsize i = 2; i + 1 < len; i++)
    if ((guint8) data[i] == 0xFF && (guint8) data[i + 1] == marker)
      return i;
  g_assert_not_reached ();
  return 0;
}

/* A warning in the headers is no reason to refuse an image; a truncated or
 * broken scan after it still is (libjpeg only reports the first warning). */
static void
test_jpeg_warnings (void)
{
  char *dir = ts_test_tmpdir ();
  char *path = g_build_filename (dir, "stray.jpg", NULL);
  gsize len, sos;
  gchar *data = jpeg_with_stray_bytes (&len);
  ts_image_info info;
  ts_image img;

  g_assert_true (g_file_set_contents (path, data, (gssize) len, NULL));
  if (ts_image_probe (path, &info) != TS_OK)
    g_error ("probe: %s", ts_last_error ());
  g_assert_cmpint (info.width, ==, 32);
  g_assert_cmpstr (info.mode, ==, "RGB");
  if (ts_image_load (path, 0, 0, &img) != TS_OK)
    g_error ("load: %s", ts_last_error ());
  check_pattern (&img, 0, 10);
  ts_image_clear (&img);

  /* the same file cut inside its scan: the truncation warning comes second */
  sos = find_marker (data, len, 0xDA);
  for (gsize cut = sos + 20; cut < len - 2; cut += (len - sos) / 4)
    {
      img.pixels = (uint8_t *) 1;
      g_assert_true (g_file_set_contents (path, data, (gssize) cut, NULL));
      g_assert_cmpint (ts_image_load (path, 0, 0, &img), ==, TS_ERR_FORMAT);
      g_test_message ("cut at %zu of %zu: %s", cut, len, ts_last_error ());
      g_assert_null (img.pixels);
      g_assert_nonnull (strstr (ts_last_error (), path));
      g_assert_nonnull (strstr (ts_last_error (), "truncated"));
    }

  /* a broken Huffman table segment in the scan, the file's structure intact
   * to its end: a fatal error after the warning, which TurboJPEG reports as
   * a warning */
  {
    gchar *bad = g_memdup2 (data, len);
    gsize at = sos + 4 + (gsize) ((guint8) data[sos + 2] << 8 | (guint8) data[sos + 3]) + 8;

    memcpy (bad + at, "\xFF\xC4\x00\x03\x00", 5);
    g_assert_true (g_file_set_contents (path, bad, (gssize) len, NULL));
    img.pixels = (uint8_t *) 1;
    g_assert_cmpint (ts_image_load (path, 0, 0, &img), ==, TS_ERR_FORMAT);
    g_test_message ("bogus marker: %s", ts_last_error ());
    g_assert_null (img.pixels);
    g_assert_nonnull (strstr (ts_last_error (), path));
    g_free (bad);
  }
  g_free (data);
  g_free (path);
  ts_test_rmdir (dir);
  g_free (dir);
}

/* A progressive JPEG of @w x @h (the test pattern scaled up). */
static gchar *
progressive_jpeg (int w, int h, gsize *len)
{
  tjhandle tj = tjInitCompress ();
  unsigned char *jpeg = NULL;
  unsigned long size = 0;
  uint8_t *rgb = g_malloc ((size_t) w * h * 3);
  gchar *out;

  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      memcpy (rgb + ((size_t) y * w + x) * 3, colours[(y * 2 / h) * 4 + x * 4 / w], 3);
  g_assert_nonnull (tj);
  g_assert_cmpint (tjCompress2 (tj, rgb, w, 0, h, TJPF_RGB, &jpeg, &size, TJSAMP_420, 95,
                                TJFLAG_PROGRESSIVE), ==, 0);
  out = g_memdup2 (jpeg, size);
  *len = size;
  tjFree (jpeg);
  tjDestroy (tj);
  g_free (rgb);
  return out;
}

/* Progressive JPEGs decode; but libjpeg holds every DCT coefficient of one in
 * memory whatever the scale it is decoded at, so a header claiming 20000 x
 * 20000 pixels (1.2 GB of coefficients, from a file of a few hundred bytes) is
 * refused by probe and load alike, quickly. */
static void
test_progressive (void)
{
  char *dir = ts_test_tmpdir ();
  char *path = g_build_filename (dir, "prog.jpg", NULL);
  gsize len, sof;
  gchar *data = progressive_jpeg (32, 16, &len);
  ts_image_info info;
  ts_image img;
  gint64 t0;

  g_assert_true (g_file_set_contents (path, data, (gssize) len, NULL));
  g_assert_cmpint (ts_image_probe (path, &info), ==, TS_OK);
  g_assert_cmpint (info.width, ==, 32);
  if (ts_image_load (path, 0, 0, &img) != TS_OK)
    g_error ("%s", ts_last_error ());
  check_pattern (&img, 0, 12);
  ts_image_clear (&img);

  sof = find_marker (data, len, 0xC2);
  data[sof + 5] = 0x4E; data[sof + 6] = 0x20;  /* height 20000 */
  data[sof + 7] = 0x4E; data[sof + 8] = 0x20;  /* width 20000 */
  g_assert_true (g_file_set_contents (path, data, (gssize) len, NULL));
  t0 = g_get_monotonic_time ();
  g_assert_cmpint (ts_image_probe (path, &info), ==, TS_ERR_UNSUPPORTED);
  g_assert_nonnull (strstr (ts_last_error (), path));
  g_assert_nonnull (strstr (ts_last_error (), "too large"));
  img.pixels = (uint8_t *) 1;
  g_assert_cmpint (ts_image_load (path, 128, 1024, &img), ==, TS_ERR_UNSUPPORTED);
  g_test_message ("%s", ts_last_error ());
  g_assert_null (img.pixels);
  g_assert_nonnull (strstr (ts_last_error (), path));
  g_assert_nonnull (strstr (ts_last_error (), "20000x20000"));
  g_assert_cmpint (g_get_monotonic_time () - t0, <, G_USEC_PER_SEC / 2);
  {
    /* three stray bytes before the frame header (libjpeg skips them with a
     * warning) must not hide it from the size check */
    GByteArray *stray = g_byte_array_new ();

    g_byte_array_append (stray, (const guint8 *) data, (guint) sof);
    g_byte_array_append (stray, (const guint8 *) "\x00\x01\x02", 3);
    g_byte_array_append (stray, (const guint8 *) data + sof, (guint) (len - sof));
    g_assert_true (g_file_set_contents (path, (const char *) stray->data, stray->len, NULL));
    g_byte_array_unref (stray);
    g_assert_cmpint (ts_image_probe (path, &info), ==, TS_ERR_UNSUPPORTED);
    g_assert_cmpint (ts_image_load (path, 128, 1024, &img), ==, TS_ERR_UNSUPPORTED);
    g_assert_nonnull (strstr (ts_last_error (), "20000x20000"));
  }
  g_free (data);
  g_free (path);
  ts_test_rmdir (dir);
  g_free (dir);
}

/* A folder or a FIFO where an image should be: an error naming it, never a
 * read of a directory or an open that waits for a writer forever. */
static void
test_not_regular_files (void)
{
  char *dir = ts_test_tmpdir ();
  char *folder = g_build_filename (dir, "d.jpg", NULL);
  char *fifo = g_build_filename (dir, "fifo.jpg", NULL);
  ts_image_info info;
  ts_image img;

  g_assert_cmpint (g_mkdir (folder, 0755), ==, 0);
  g_assert_cmpint (mkfifo (fifo, 0644), ==, 0);
  g_assert_cmpint (ts_image_load (folder, 0, 0, &img), !=, TS_OK);
  g_test_message ("%s", ts_last_error ());
  g_assert_nonnull (strstr (ts_last_error (), folder));
  g_assert_nonnull (strstr (ts_last_error (), "is a folder"));
  g_assert_cmpint (ts_image_probe (fifo, &info), !=, TS_OK);
  g_test_message ("%s", ts_last_error ());
  g_assert_nonnull (strstr (ts_last_error (), fifo));
  g_assert_nonnull (strstr (ts_last_error (), "not a regular file"));
  g_assert_cmpint (ts_image_load (fifo, 0, 0, &img), !=, TS_OK);
  g_free (folder);
  g_free (fifo);
  ts_test_rmdir (dir);
  g_free (dir);
}

static char *
write_jpeg (const char *dir, int w, int h)
{
  ts_image img = { g_malloc ((size_t) w * h * 3), w, h };
  char *path = g_build_filename (dir, "big.jpg", NULL);

  for (int i = 0; i < w * h * 3; i++)
    img.pixels[i] = (uint8_t) (i * 13 % 251);
  g_assert_cmpint (ts_image_save_jpeg (&img, path, 85), ==, TS_OK);
  g_free (img.pixels);
  return path;
}

static void
test_dct_scaling (void)
{
  char *dir = ts_test_tmpdir ();
  char *path = write_jpeg (dir, 640, 480);
  /* min_side -> expected decoded size: the smallest of 1/8, 1/4, 1/2, 1/1
   * (the factors with SIMD IDCTs) that keeps the shorter side >= min_side */
  static const struct { int min_side, w, h; } cases[] = {
    { 0, 640, 480 }, { 60, 80, 60 }, { 61, 160, 120 }, { 120, 160, 120 }, { 121, 320, 240 },
    { 128, 320, 240 }, { 152, 320, 240 }, { 240, 320, 240 }, { 241, 640, 480 },
    { 480, 640, 480 }, { 1000, 640, 480 },
  };

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      ts_image img;
      if (ts_image_load (path, cases[i].min_side, 0, &img) != TS_OK)
        g_error ("%s", ts_last_error ());
      g_assert_cmpint (img.width, ==, cases[i].w);
      g_assert_cmpint (img.height, ==, cases[i].h);
      ts_image_clear (&img);
    }
  /* max_side bounds huge images: DCT to 320, then area-average to 300 */
  {
    ts_image img;
    g_assert_cmpint (ts_image_load (path, 0, 300, &img), ==, TS_OK);
    g_assert_cmpint (img.width, ==, 300);
    g_assert_cmpint (img.height, ==, 225);
    ts_image_clear (&img);
    g_assert_cmpint (ts_image_load (path, 0, 320, &img), ==, TS_OK);
    g_assert_cmpint (img.width, ==, 320);
    ts_image_clear (&img);
  }
  g_free (path);
  ts_test_rmdir (dir);
  g_free (dir);
}

static void
test_png_roundtrip (void)
{
  char *dir = ts_test_tmpdir ();
  char *path = g_build_filename (dir, "a.png", NULL);
  ts_image img = { g_malloc (7 * 5 * 3), 7, 5 }, back;

  for (int i = 0; i < 7 * 5 * 3; i++)
    img.pixels[i] = (uint8_t) (i * 31);
  g_assert_cmpint (ts_image_save_png (&img, path), ==, TS_OK);
  g_assert_cmpint (ts_image_load (path, 0, 0, &back), ==, TS_OK);
  g_assert_cmpint (back.width, ==, 7);
  g_assert_cmpint (back.height, ==, 5);
  g_assert_cmpmem (back.pixels, 7 * 5 * 3, img.pixels, 7 * 5 * 3);
  /* bounded PNG */
  ts_image_clear (&back);
  g_assert_cmpint (ts_image_load (path, 0, 3, &back), ==, TS_OK);
  g_assert_cmpint (back.width, ==, 3);
  g_assert_cmpint (back.height, ==, 2);
  ts_image_clear (&back);
  g_free (img.pixels);
  g_free (path);
  ts_test_rmdir (dir);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/image/kinds", test_kinds);
  g_test_add_func ("/image/exif", test_exif);
  g_test_add_func ("/image/bad-files", test_bad_files);
  g_test_add_func ("/image/huge-header", test_huge_header);
  g_test_add_func ("/image/jpeg-warnings", test_jpeg_warnings);
  g_test_add_func ("/image/progressive", test_progressive);
  g_test_add_func ("/image/not-regular-files", test_not_regular_files);
  g_test_add_func ("/image/dct-scaling", test_dct_scaling);
  g_test_add_func ("/image/png-roundtrip", test_png_roundtrip);
  return g_test_run ();
}
