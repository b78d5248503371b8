/* ts-image.c: JPEG (TurboJPEG) and PNG (libpng) decoding to 8-bit RGB, with
 * EXIF orientation, DCT scaling and a bound on huge images. */
#include "ts-image.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <unistd.h>

/* A decoded image never exceeds this many pixels (about 200 MB of RGB): a
 * hostile or broken header must not make us allocate gigabytes. */
#define TS_IMAGE_MAX_PIXELS ((size_t) 64 * 1024 * 1024)
/* Files bigger than this are refused before reading them. */
#define TS_IMAGE_MAX_FILE ((long) 512 * 1024 * 1024)

typedef enum { FMT_UNKNOWN, FMT_JPEG, FMT_PNG } image_format;

static image_format
sniff (const uint8_t *d, size_t n)
{
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
    return FMT_JPEG;
  if (n >= 8 && memcmp (d, "\x89PNG\r\n\x1a\n", 8) == 0)
    return FMT_PNG;
  return FMT_UNKNOWN;
}

static ts_status
read_file (const char *path, uint8_t **data, size_t *size)
{
  /* O_NONBLOCK: opening a FIFO must not wait for a writer (it has no effect
   * on the regular files read here) */
  int fd = open (path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  struct stat st;
  uint8_t *buf;
  size_t len, got = 0;

  *data = NULL;
  *size = 0;
  if (fd < 0)
    return ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));
  if (fstat (fd, &st) != 0)
    {
      ts_status err = ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));
      close (fd);
      return err;
    }
  if (!S_ISREG (st.st_mode))
    {
      close (fd);
      if (S_ISDIR (st.st_mode))
        return ts_error (TS_ERR_IO, "%s: is a folder", path);
      return ts_error (TS_ERR_IO, "%s: not a regular file", path);
    }
  if (st.st_size == 0)
    {
      close (fd);
      return ts_error (TS_ERR_FORMAT, "%s: empty file", path);
    }
  if (st.st_size > TS_IMAGE_MAX_FILE)
    {
      close (fd);
      return ts_error (TS_ERR_UNSUPPORTED, "%s: file too large (%lld bytes)", path,
                       (long long) st.st_size);
    }
  len = (size_t) st.st_size;
  buf = malloc (len);
  if (buf == NULL)
    {
      close (fd);
      return ts_error (TS_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, len);
    }
  while (got < len)
    {
      ssize_t n = read (fd, buf + got, len - got);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          ts_status err = n < 0 ? ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno))
                                : ts_error (TS_ERR_IO, "%s: read error (the file shrank)", path);
          free (buf);
          close (fd);
          return err;
        }
      got += (size_t) n;
    }
  close (fd);
  *data = buf;
  *size = len;
  return TS_OK;
}

/* ---- EXIF ---------------------------------------------------------------- */

static unsigned
rd16 (const uint8_t *p, int be)
{
  return be ? (unsigned) (p[0] << 8 | p[1]) : (unsigned) (p[1] << 8 | p[0]);
}

static uint32_t
rd32 (const uint8_t *p, int be)
{
  return be ? ((uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3])
            : ((uint32_t) p[3] << 24 | (uint32_t) p[2] << 16 | (uint32_t) p[1] << 8 | p[0]);
}

/* Orientation (tag 0x0112) from a TIFF block; 1 when absent or malformed,
 * because a broken EXIF block should not make an otherwise good image fail. */
static int
tiff_orientation (const uint8_t *t, size_t n)
{
  int be;
  uint32_t ifd;
  unsigned count;

  if (n < 8)
    return 1;
  if (t[0] == 'I' && t[1] == 'I')
    be = 0;
  else if (t[0] == 'M' && t[1] == 'M')
    be = 1;
  else
    return 1;
  if (rd16 (t + 2, be) != 42)
    return 1;
  ifd = rd32 (t + 4, be);
  if (ifd > n - 2)
    return 1;
  count = rd16 (t + ifd, be);
  for (unsigned i = 0; i < count; i++)
    {
      size_t e = (size_t) ifd + 2 + (size_t) i * 12;
      if (e + 12 > n)
        break;
      if (rd16 (t + e, be) == 0x0112 && rd16 (t + e + 2, be) == 3)
        {
          unsigned v = rd16 (t + e + 8, be);
          return v >= 1 && v <= 8 ? (int) v : 1;
        }
    }
  return 1;
}

/* The next marker at or after *@i: stray bytes (libjpeg skips them with a
 * warning) and fill 0xFF bytes are passed over, *@i is left on the marker's
 * 0xFF and its code returned; -1 when the data ends first.  The one walk
 * both marker loops below take, so that they skip the same bytes. */
static int
jpeg_next_marker (const uint8_t *d, size_t n, size_t *i)
{
  while (*i + 1 < n)
    {
      if (d[*i] != 0xFF)
        {
          const uint8_t *ff = memchr (d + *i, 0xFF, n - *i);
          if (ff == NULL)
            return -1;
          *i = (size_t) (ff - d);
        }
      else if (d[*i + 1] == 0xFF)
        (*i)++;
      else
        return d[*i + 1];
    }
  return -1;
}

/* TEM and RSTn stand alone: no length follows */
static int
jpeg_marker_alone (int marker)
{
  return marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7);
}

typedef struct {
  int orientation;
  int adobe;          /* an APP14 "Adobe" marker: CMYK samples are stored inverted */
  /* progressive, or a first scan with fewer components than the frame:
   * libjpeg then keeps every DCT coefficient of the whole image in memory
   * (about 3 bytes a pixel), whatever the scale it decodes at */
  int whole_image;
  size_t sos;         /* offset of the first start-of-scan marker; 0: none found */
} jpeg_markers;

static void
scan_jpeg_markers (const uint8_t *d, size_t n, jpeg_markers *m)
{
  size_t i = 2;
  unsigned frame_components = 0;
  int marker;

  m->orientation = 1;
  m->adobe = 0;
  m->whole_image = 0;
  m->sos = 0;
  /* (stray bytes between segments are skipped, as libjpeg does with a
   * warning, or the frame's size limits would be missed) */
  while ((marker = jpeg_next_marker (d, n, &i)) >= 0 && i + 4 <= n)
    {
      unsigned len;

      if (marker == 0xDA)  /* start of scan */
        {
          if (i + 4 < n && d[i + 4] < frame_components)
            m->whole_image = 1;
          m->sos = i;
          return;
        }
      if (marker == 0xD9)  /* end of image */
        return;
      if (jpeg_marker_alone (marker))
        {
          i += 2;
          continue;
        }
      len = (unsigned) (d[i + 2] << 8 | d[i + 3]);
      if (len < 2 || i + 2 + len > n)
        return;
      if (marker == 0xE1 && len >= 8 && memcmp (d + i + 4, "Exif\0\0", 6) == 0)
        m->orientation = tiff_orientation (d + i + 10, len - 8);
      else if (marker == 0xEE && len >= 7 && memcmp (d + i + 4, "Adobe", 5) == 0)
        m->adobe = 1;
      else if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8
               && marker != 0xCC && len >= 8)
        {
          /* SOFn: progressive (2, 6, 10, 14) and the number of components */
          if ((marker & 3) == 2)
            m->whole_image = 1;
          frame_components = d[i + 9];
        }
      i += 2 + len;
    }
}

/* Whether a JPEG's data, from its first scan (@mk->sos, after
 * scan_jpeg_markers walked the header), reaches the end-of-image marker:
 * entropy-coded data up to the next marker, later segments skipped by their
 * length.  libjpeg reports only the first warning of a decode, so a file
 * truncated after a harmless one (stray bytes before a marker) is found by
 * this instead. */
static int
jpeg_reaches_eoi (const uint8_t *d, size_t n, const jpeg_markers *mk)
{
  size_t i = mk->sos;
  int marker;

  /* (scan data is skipped as stray bytes are) */
  while ((marker = jpeg_next_marker (d, n, &i)) >= 0)
    {
      if (marker == 0xD9)
        return 1;
      if (marker == 0x00 || jpeg_marker_alone (marker))
        i += 2;   /* a stuffed 0xFF in scan data */
      else
        {
          size_t len;
          if (i + 4 > n)
            return 0;
          len = (size_t) (d[i + 2] << 8 | d[i + 3]);
          if (len < 2)
            return 0;
          i += 2 + len;
        }
    }
  return 0;
}

/* The largest image decoding may make: the decoded pixels, or for a
 * whole-image JPEG its coefficients at full size. */
static ts_status
jpeg_check_size (const char *name, int w, int h, const jpeg_markers *mk)
{
  if (mk->whole_image && (size_t) w * (size_t) h > TS_IMAGE_MAX_PIXELS)
    return ts_error (TS_ERR_UNSUPPORTED, "%s: progressive JPEG too large (%dx%d): decoding "
                     "it needs the whole image in memory, at any scale", name, w, h);
  if ((size_t) ((w + 7) / 8) * (size_t) ((h + 7) / 8) > TS_IMAGE_MAX_PIXELS)
    return ts_error (TS_ERR_UNSUPPORTED, "%s: JPEG too large (%dx%d)", name, w, h);
  return TS_OK;
}

/* Applies EXIF orientation @o (PIL's ImageOps.exif_transpose) into a new buffer. */
static ts_status
apply_orientation (ts_image *img, int o)
{
  int w = img->width, h = img->height;
  int ow = o >= 5 ? h : w, oh = o >= 5 ? w : h;
  uint8_t *dst;

  if (o <= 1 || o > 8)
    return TS_OK;
  dst = malloc ((size_t) ow * oh * 3);
  if (dst == NULL)
    return ts_error (TS_ERR_NOMEM, "out of memory applying the EXIF orientation");
  for (int y = 0; y < oh; y++)
    for (int x = 0; x < ow; x++)
      {
        int sx, sy;
        switch (o)
          {
          case 2: sx = w - 1 - x; sy = y; break;
          case 3: sx = w - 1 - x; sy = h - 1 - y; break;
          case 4: sx = x; sy = h - 1 - y; break;
          case 5: sx = y; sy = x; break;
          case 6: sx = y; sy = h - 1 - x; break;
          case 7: sx = w - 1 - y; sy = h - 1 - x; break;
          default: sx = w - 1 - y; sy = x; break;  /* 8 */
          }
        memcpy (dst + ((size_t) y * ow + x) * 3, img->pixels + ((size_t) sy * w + sx) * 3, 3);
      }
  free (img->pixels);
  img->pixels = dst;
  img->width = ow;
  img->height = oh;
  return TS_OK;
}

/* Area-average downscale so that the longer side is at most @max_side.  Only
 * huge images get here (after DCT scaling), so the cost does not matter. */
static ts_status
bound_size (ts_image *img, int max_side)
{
  int w = img->width, h = img->height, longer = w > h ? w : h;
  int ow, oh;
  uint8_t *dst;

  if (max_side <= 0 || longer <= max_side)
    return TS_OK;
  ow = (int) ((double) w * max_side / longer + 0.5);
  oh = (int) ((double) h * max_side / longer + 0.5);
  if (ow < 1)
    ow = 1;
  if (oh < 1)
    oh = 1;
  dst = malloc ((size_t) ow * oh * 3);
  if (dst == NULL)
    return ts_error (TS_ERR_NOMEM, "out of memory bounding a %dx%d image", w, h);
  for (int y = 0; y < oh; y++)
    {
      int y0 = (int) ((long) y * h / oh), y1 = (int) ((long) (y + 1) * h / oh);
      if (y1 <= y0)
        y1 = y0 + 1;
      for (int x = 0; x < ow; x++)
        {
          int x0 = (int) ((long) x * w / ow), x1 = (int) ((long) (x + 1) * w / ow);
          unsigned long sum[3] = { 0, 0, 0 };
          if (x1 <= x0)
            x1 = x0 + 1;
          for (int yy = y0; yy < y1; yy++)
            for (int xx = x0; xx < x1; xx++)
              for (int c = 0; c < 3; c++)
                sum[c] += img->pixels[((size_t) yy * w + xx) * 3 + c];
          for (int c = 0; c < 3; c++)
            {
              unsigned long cnt = (unsigned long) (y1 - y0) * (x1 - x0);
              dst[((size_t) y * ow + x) * 3 + c] = (uint8_t) ((sum[c] + cnt / 2) / cnt);
            }
        }
    }
  free (img->pixels);
  img->pixels = dst;
  img->width = ow;
  img->height = oh;
  return TS_OK;
}

/* ---- JPEG ---------------------------------------------------------------- */

static pthread_key_t tj_key;
static pthread_once_t tj_once = PTHREAD_ONCE_INIT;

static void
tj_destroy (void *h)
{
  tjDestroy (h);
}

static void
tj_key_init (void)
{
  pthread_key_create (&tj_key, tj_destroy);
}

/* One decompressor per thread: creating one costs more than decoding a
 * thumbnail-sized image. */
static tjhandle
tj_decompressor (void)
{
  tjhandle h;

  pthread_once (&tj_once, tj_key_init);
  h = pthread_getspecific (tj_key);
  if (h == NULL)
    {
      h = tjInitDecompress ();
      if (h != NULL)
        pthread_setspecific (tj_key, h);
    }
  return h;
}

/* After a failed call a TurboJPEG 2.x handle can keep stale state ("Bogus DQT
 * index" on the next good file), so a failure throws the handle away. */
static void
tj_discard (void)
{
  tjhandle h = pthread_getspecific (tj_key);

  if (h != NULL)
    {
      tjDestroy (h);
      pthread_setspecific (tj_key, NULL);
    }
}

static const char *
jpeg_mode (int colorspace)
{
  switch (colorspace)
    {
    case TJCS_GRAY: return "L";
    case TJCS_CMYK:
    case TJCS_YCCK: return "CMYK";
    default: return "RGB";
    }
}

/* The DCT scaling factor (<= 1) for a w x h JPEG: the smallest one that keeps
 * the shorter side >= min_side.  When the longer side is then still above
 * max_side, the smallest one that keeps the longer side >= max_side (max_side
 * wins; bound_size trims the rest with an area average). */
/* Only 1/1, 1/2, 1/4 and 1/8 have SIMD inverse DCTs in libjpeg-turbo; the
 * other eighths run plain C and decode slower than the full size (measured:
 * 3/4 of a 500x333 JPEG at 0.65x the speed of 1/1), so they are never used. */
static int
fast_factor (tjscalingfactor f)
{
  return f.num == 1 && (f.denom == 1 || f.denom == 2 || f.denom == 4 || f.denom == 8);
}

static tjscalingfactor
choose_scale (int w, int h, int min_side, int max_side)
{
  int n_sf = 0;
  tjscalingfactor *sf = tjGetScalingFactors (&n_sf);
  tjscalingfactor best = { 1, 1 };
  int shorter = w < h ? w : h, longer = w > h ? w : h;

  if (sf == NULL)
    return best;
  if (min_side > 0)
    for (int i = 0; i < n_sf; i++)
      if (fast_factor (sf[i]) && TJSCALED (shorter, sf[i]) >= min_side
          && sf[i].num * best.denom < best.num * sf[i].denom)
        best = sf[i];
  if (max_side > 0 && TJSCALED (longer, best) > max_side)
    for (int i = 0; i < n_sf; i++)
      if (fast_factor (sf[i]) && TJSCALED (longer, sf[i]) >= max_side
          && sf[i].num * best.denom < best.num * sf[i].denom)
        best = sf[i];
  return best;
}

/* What a failed TurboJPEG decode's message means: -1 an error (the decode
 * stopped), 0 a warning common in good real-world files (extraneous bytes
 * before a marker and the like), 1 a warning that the image is incomplete:
 * libjpeg reports a truncated stream only as a warning and fills the rest
 * with grey; like PIL ("image file is truncated") we refuse such an image
 * rather than train on a half-grey picture.  libjpeg's JWRN_* texts,
 * specific prefixes first. */
static int
jpeg_warning_kind (const char *msg)
{
  static const struct { const char *prefix; int fatal; } warnings[] = {
    { "Premature end of JPEG file", 1 },
    { "Corrupt JPEG data: premature end of data segment", 1 },
    { "Corrupt JPEG data: bad Huffman code", 1 },
    { "Corrupt JPEG data", 0 },
    { "Unknown Adobe color transform", 0 },
    { "Inconsistent progression sequence", 0 },
    { "Warning: unknown JFIF revision", 0 },
    { "Invalid SOS parameters for sequential JPEG", 0 },
    { "Application transferred too many scanlines", 0 },
  };

  for (size_t k = 0; k < sizeof warnings / sizeof warnings[0]; k++)
    if (strncmp (msg, warnings[k].prefix, strlen (warnings[k].prefix)) == 0)
      return warnings[k].fatal;
  return -1;
}

static void
cmyk_to_rgb (const uint8_t *cmyk, uint8_t *rgb, size_t n, int inverted)
{
  for (size_t i = 0; i < n; i++)
    {
      unsigned c = cmyk[4 * i], m = cmyk[4 * i + 1], y = cmyk[4 * i + 2], k = cmyk[4 * i + 3];
      if (!inverted)
        {
          c = 255 - c;
          m = 255 - m;
          y = 255 - y;
          k = 255 - k;
        }
      /* stored inverted: c is 255 - cyan ink, so red = (255-C)(255-K)/255 = c*k/255 */
      rgb[3 * i] = (uint8_t) ((c * k + 127) / 255);
      rgb[3 * i + 1] = (uint8_t) ((m * k + 127) / 255);
      rgb[3 * i + 2] = (uint8_t) ((y * k + 127) / 255);
    }
}

static ts_status
jpeg_header (const uint8_t *data, size_t size, const char *name, int *w, int *h, int *subsamp,
             int *cs)
{
  tjhandle tj = tj_decompressor ();

  if (tj == NULL)
    return ts_error (TS_ERR_NOMEM, "%s: cannot create a JPEG decompressor", name);
  *w = *h = 0;
  *subsamp = *cs = -1;
  if (tjDecompressHeader3 (tj, data, (unsigned long) size, w, h, subsamp, cs) != 0)
    {
      /* TurboJPEG fails a call that only warned ("extraneous bytes before
       * marker"), with the header read in full: such files are fine.  After
       * a fatal error the outputs are left unset. */
      int warned_only = tjGetErrorCode (tj) == TJERR_WARNING && *w > 0 && *h > 0
                        && *subsamp >= 0 && *cs >= 0;
      ts_status st = warned_only ? TS_OK
                                 : ts_error (TS_ERR_FORMAT, "%s: not a readable JPEG (%s)", name,
                                             tjGetErrorStr2 (tj));
      tj_discard ();
      if (st != TS_OK)
        return st;
    }
  if (*w <= 0 || *h <= 0)
    return ts_error (TS_ERR_FORMAT, "%s: JPEG with an empty size %dx%d", name, *w, *h);
  return TS_OK;
}

static ts_status
jpeg_decode (const uint8_t *data, size_t size, const char *name, int min_side, int max_side,
             ts_image *out)
{
  tjhandle tj;
  int w, h, subsamp, cs, sw, sh, is_cmyk;
  tjscalingfactor sf;
  jpeg_markers mk;
  uint8_t *buf;
  ts_status st;

  st = jpeg_header (data, size, name, &w, &h, &subsamp, &cs);
  if (st != TS_OK)
    return st;
  scan_jpeg_markers (data, size, &mk);
  if ((st = jpeg_check_size (name, w, h, &mk)) != TS_OK)
    return st;
  tj = tj_decompressor ();
  if (tj == NULL)
    return ts_error (TS_ERR_NOMEM, "%s: cannot create a JPEG decompressor", name);
  sf = choose_scale (w, h, min_side, max_side);
  sw = TJSCALED (w, sf);
  sh = TJSCALED (h, sf);
  /* a huge image with no bound asked for: the largest fast factor that fits */
  while ((size_t) sw * (size_t) sh > TS_IMAGE_MAX_PIXELS && sf.denom < 8)
    {
      sf.num = 1;
      sf.denom *= 2;
      sw = TJSCALED (w, sf);
      sh = TJSCALED (h, sf);
    }
  if ((size_t) sw * (size_t) sh > TS_IMAGE_MAX_PIXELS)
    return ts_error (TS_ERR_UNSUPPORTED, "%s: JPEG too large (%dx%d, decoded %dx%d)",
                     name, w, h, sw, sh);
  is_cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
  buf = malloc ((size_t) sw * sh * (is_cmyk ? 4 : 3));
  if (buf == NULL)
    return ts_error (TS_ERR_NOMEM, "%s: out of memory for %dx%d pixels", name, sw, sh);
  if (tjDecompress2 (tj, data, (unsigned long) size, buf, sw, 0, sh,
                     is_cmyk ? TJPF_CMYK : TJPF_RGB, TJFLAG_FASTDCT | TJFLAG_FASTUPSAMPLE) != 0)
    {
      const char *msg = tjGetErrorStr2 (tj);
      /* After a warning TurboJPEG reports any later fatal error as a warning
       * too, with the fatal error's message: only a warning's own text
       * means the decode ran to the end. */
      if (tjGetErrorCode (tj) == TJERR_FATAL || jpeg_warning_kind (msg) != 0)
        {
          st = ts_error (TS_ERR_FORMAT, "%s: corrupt or truncated JPEG (%s)", name, msg);
          tj_discard ();
          free (buf);
          return st;
        }
      if (mk.sos == 0 || !jpeg_reaches_eoi (data, size, &mk))
        {
          st = ts_error (TS_ERR_FORMAT, "%s: corrupt or truncated JPEG (the data ends before "
                         "the end-of-image marker; first warning: %s)", name, msg);
          tj_discard ();
          free (buf);
          return st;
        }
      tj_discard ();
    }
  if (is_cmyk)
    {
      uint8_t *rgb = malloc ((size_t) sw * sh * 3);
      if (rgb == NULL)
        {
          free (buf);
          return ts_error (TS_ERR_NOMEM, "%s: out of memory", name);
        }
      cmyk_to_rgb (buf, rgb, (size_t) sw * sh, mk.adobe);
      free (buf);
      buf = rgb;
    }
  out->pixels = buf;
  out->width = sw;
  out->height = sh;
  st = apply_orientation (out, mk.orientation);
  if (st == TS_OK)
    st = bound_size (out, max_side);
  if (st != TS_OK)
    {
      ts_error_prefix (st, "%s", name);
      ts_image_clear (out);
    }
  return st;
}

/* ---- PNG ----------------------------------------------------------------- */

typedef struct {
  const uint8_t *data;
  size_t size, pos;
  char msg[256];
  jmp_buf jmp;
} png_source;

static void
png_read_cb (png_structp png, png_bytep dst, size_t n)
{
  png_source *src = png_get_io_ptr (png);

  if (n > src->size - src->pos)
    png_error (png, "file is truncated");
  memcpy (dst, src->data + src->pos, n);
  src->pos += n;
}

static void
png_error_cb (png_structp png, png_const_charp msg)
{
  png_source *src = png_get_error_ptr (png);

  snprintf (src->msg, sizeof src->msg, "%s", msg);
  longjmp (src->jmp, 1);
}

static void
png_warning_cb (png_structp png, png_const_charp msg)
{
  /* Warnings (bad ancillary chunks, sRGB profile complaints) leave the pixels
   * intact; PIL ignores them too. */
}

static const char *
png_mode (int color_type, int depth)
{
  switch (color_type)
    {
    case PNG_COLOR_TYPE_GRAY: return depth == 16 ? "I" : depth == 1 ? "1" : "L";
    case PNG_COLOR_TYPE_GRAY_ALPHA: return "LA";
    case PNG_COLOR_TYPE_PALETTE: return "P";
    case PNG_COLOR_TYPE_RGB_ALPHA: return "RGBA";
    default: return "RGB";
    }
}

/* Decodes (pixels != NULL) or only reads the header of a PNG.  Every libpng
 * call sits behind the setjmp; the volatile locals survive the longjmp. */
static ts_status
png_decode (const uint8_t *data, size_t size, const char *name, int max_side, ts_image *out,
            ts_image_info *info)
{
  png_source src = { .data = data, .size = size, .pos = 0 };
  png_structp png;
  png_infop pinfo;
  uint8_t *volatile pixels = NULL;
  png_bytep *volatile rows = NULL;
  png_uint_32 w, h;
  int depth, color_type, interlace;
  volatile int orientation = 1;

  png = png_create_read_struct (PNG_LIBPNG_VER_STRING, &src, png_error_cb, png_warning_cb);
  if (png == NULL)
    return ts_error (TS_ERR_NOMEM, "%s: cannot create a PNG reader", name);
  pinfo = png_create_info_struct (png);
  if (pinfo == NULL)
    {
      png_destroy_read_struct (&png, NULL, NULL);
      return ts_error (TS_ERR_NOMEM, "%s: cannot create a PNG reader", name);
    }
  if (setjmp (src.jmp))
    {
      free (pixels);
      free (rows);
      png_destroy_read_struct (&png, &pinfo, NULL);
      return ts_error (TS_ERR_FORMAT, "%s: corrupt or truncated PNG (%s)", name, src.msg);
    }
  png_set_read_fn (png, &src, png_read_cb);
  png_set_user_limits (png, 65535, 65535);
  png_read_info (png, pinfo);
  png_get_IHDR (png, pinfo, &w, &h, &depth, &color_type, &interlace, NULL, NULL);
#ifdef PNG_eXIf_SUPPORTED
  {
    png_uint_32 exif_len = 0;
    png_bytep exif = NULL;
    if (png_get_eXIf_1 (png, pinfo, &exif_len, &exif) && exif != NULL)
      orientation = tiff_orientation (exif, exif_len);
  }
#endif
  if (info != NULL)
    {
      info->width = (int) w;
      info->height = (int) h;
      info->orientation = orientation;
      info->format = "png";
      info->mode = png_mode (color_type, depth);
      if (png_get_valid (png, pinfo, PNG_INFO_tRNS) && color_type == PNG_COLOR_TYPE_RGB)
        info->mode = "RGB";
    }
  if ((size_t) w * h > TS_IMAGE_MAX_PIXELS)
    {
      png_destroy_read_struct (&png, &pinfo, NULL);
      return ts_error (TS_ERR_UNSUPPORTED, "%s: PNG too large (%ux%u)", name, (unsigned) w,
                       (unsigned) h);
    }
  if (out == NULL)
    {
      png_destroy_read_struct (&png, &pinfo, NULL);
      return TS_OK;
    }

  /* palette, low bit depths and tRNS to 8-bit; 16 bits down to 8; grey to
   * RGB; alpha dropped, as PIL's convert("RGB") does. */
  png_set_expand (png);
  png_set_strip_16 (png);
  png_set_gray_to_rgb (png);
  png_set_strip_alpha (png);
  png_set_interlace_handling (png);
  png_read_update_info (png, pinfo);
  if (png_get_rowbytes (png, pinfo) != (size_t) w * 3)
    png_error (png, "unexpected row layout after conversion");

  pixels = malloc ((size_t) w * h * 3);
  rows = malloc (sizeof (png_bytep) * h);
  if (pixels == NULL || rows == NULL)
    png_error (png, "out of memory");
  for (png_uint_32 y = 0; y < h; y++)
    rows[y] = pixels + (size_t) y * w * 3;
  png_read_image (png, rows);
  png_read_end (png, NULL);
  png_destroy_read_struct (&png, &pinfo, NULL);
  free (rows);

  out->pixels = pixels;
  out->width = (int) w;
  out->height = (int) h;
  {
    ts_status st = apply_orientation (out, orientation);
    if (st == TS_OK)
      st = bound_size (out, max_side);
    if (st != TS_OK)
      {
        ts_error_prefix (st, "%s", name);
        ts_image_clear (out);
      }
    return st;
  }
}

/* ---- public -------------------------------------------------------------- */

static ts_status
probe_memory (const uint8_t *data, size_t size, const char *name, ts_image_info *info)
{
  memset (info, 0, sizeof *info);
  switch (sniff (data, size))
    {
    case FMT_JPEG:
      {
        int w, h, subsamp, cs;
        jpeg_markers mk;
        ts_status st = jpeg_header (data, size, name, &w, &h, &subsamp, &cs);
        if (st != TS_OK)
          return st;
        scan_jpeg_markers (data, size, &mk);
        if ((st = jpeg_check_size (name, w, h, &mk)) != TS_OK)
          return st;
        info->width = w;
        info->height = h;
        info->orientation = mk.orientation;
        info->format = "jpeg";
        info->mode = jpeg_mode (cs);
        return TS_OK;
      }
    case FMT_PNG:
      return png_decode (data, size, name, 0, NULL, info);
    default:
      return ts_error (TS_ERR_FORMAT, "%s: not a JPEG or PNG file", name);
    }
}

ts_status
ts_image_probe (const char *path, ts_image_info *info)
{
  uint8_t *data;
  size_t size;
  ts_status st = read_file (path, &data, &size);

  if (st != TS_OK)
    return st;
  st = probe_memory (data, size, path, info);
  free (data);
  return st;
}

ts_status
ts_image_load_memory (const uint8_t *data, size_t size, const char *name, int min_side,
                      int max_side, ts_image *out)
{
  out->pixels = NULL;
  out->width = out->height = 0;
  if (name == NULL)
    name = "(memory)";
  switch (sniff (data, size))
    {
    case FMT_JPEG:
      return jpeg_decode (data, size, name, min_side, max_side, out);
    case FMT_PNG:
      return png_decode (data, size, name, max_side, out, NULL);
    default:
      return ts_error (TS_ERR_FORMAT, "%s: not a JPEG or PNG file", name);
    }
}

ts_status
ts_image_load (const char *path, int min_side, int max_side, ts_image *out)
{
  uint8_t *data;
  size_t size;
  ts_status st;

  out->pixels = NULL;
  out->width = out->height = 0;
  st = read_file (path, &data, &size);
  if (st != TS_OK)
    return st;
  st = ts_image_load_memory (data, size, path, min_side, max_side, out);
  free (data);
  return st;
}

void
ts_image_clear (ts_image *img)
{
  if (img == NULL)
    return;
  free (img->pixels);
  img->pixels = NULL;
  img->width = img->height = 0;
}

ts_status
ts_image_save_jpeg (const ts_image *img, const char *path, int quality)
{
  tjhandle tj = tjInitCompress ();
  unsigned char *jpeg = NULL;
  unsigned long size = 0;
  FILE *f;
  ts_status st = TS_OK;

  if (tj == NULL)
    return ts_error (TS_ERR_NOMEM, "%s: cannot create a JPEG compressor", path);
  if (tjCompress2 (tj, img->pixels, img->width, 0, img->height, TJPF_RGB, &jpeg, &size,
                   TJSAMP_420, quality, TJFLAG_ACCURATEDCT) != 0)
    {
      st = ts_error (TS_ERR_INVALID, "%s: JPEG encoding failed (%s)", path, tjGetErrorStr2 (tj));
      tjDestroy (tj);
      tjFree (jpeg);
      return st;
    }
  tjDestroy (tj);
  f = fopen (path, "wb");
  if (f == NULL)
    st = ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));
  else
    {
      if (fwrite (jpeg, 1, size, f) != size)
        st = ts_error (TS_ERR_IO, "%s: write failed", path);
      if (fclose (f) != 0 && st == TS_OK)
        st = ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));
    }
  tjFree (jpeg);
  return st;
}

typedef struct {
  char msg[256];
  jmp_buf jmp;
} png_sink;

static void
png_write_error_cb (png_structp png, png_const_charp msg)
{
  png_sink *s = png_get_error_ptr (png);

  snprintf (s->msg, sizeof s->msg, "%s", msg);
  longjmp (s->jmp, 1);
}

ts_status
ts_image_save_png (const ts_image *img, const char *path)
{
  png_sink sink = { .msg = "" };
  FILE *volatile f;
  png_structp png;
  png_infop pinfo;

  f = fopen (path, "wb");
  if (f == NULL)
    return ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));
  png = png_create_write_struct (PNG_LIBPNG_VER_STRING, &sink, png_write_error_cb, png_warning_cb);
  pinfo = png ? png_create_info_struct (png) : NULL;
  if (pinfo == NULL)
    {
      png_destroy_write_struct (&png, NULL);
      fclose (f);
      return ts_error (TS_ERR_NOMEM, "%s: cannot create a PNG writer", path);
    }
  if (setjmp (sink.jmp))
    {
      png_destroy_write_struct (&png, &pinfo);
      fclose (f);
      return ts_error (TS_ERR_IO, "%s: PNG write failed (%s)", path, sink.msg);
    }
  png_init_io (png, f);
  png_set_IHDR (png, pinfo, (png_uint_32) img->width, (png_uint_32) img->height, 8,
                PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                PNG_FILTER_TYPE_DEFAULT);
  png_write_info (png, pinfo);
  for (int y = 0; y < img->height; y++)
    png_write_row (png, img->pixels + (size_t) y * img->width * 3);
  png_write_end (png, NULL);
  png_destroy_write_struct (&png, &pinfo);
  if (fclose (f) != 0)
    return ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));
  return TS_OK;
}
