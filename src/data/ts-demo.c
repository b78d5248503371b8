/* ts-demo.c: synthetic scenes of 0 to 4 shapes from 8 classes on gradient and
 * noise backgrounds, drawn with Cairo and written as JPEGs with a CSV. */
#include "ts-demo.h"

#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ts-rng.h"

const char *const ts_demo_classes[TS_DEMO_N_CLASSES] = {
  "circle", "cross", "diamond", "heart", "ring", "square", "star", "triangle",
};

enum { CIRCLE, CROSS, DIAMOND, HEART, RING, SQUARE, STAR, TRIANGLE };

void
ts_demo_config_init (ts_demo_config *cfg)
{
  cfg->n = 500;
  cfg->size = 160;
  cfg->seed = 42;
  cfg->valid_pct = 0.2;
  cfg->none_pct = 0.15;
  cfg->quality = 90;
}

typedef struct {
  double r, g, b;
} rgb;

static rgb
hsv (double h, double s, double v)
{
  double c = v * s, x = c * (1 - fabs (fmod (h / 60.0, 2) - 1)), m = v - c;
  rgb o;
  int sector = (int) (h / 60.0) % 6;

  switch (sector)
    {
    case 0: o = (rgb) { c, x, 0 }; break;
    case 1: o = (rgb) { x, c, 0 }; break;
    case 2: o = (rgb) { 0, c, x }; break;
    case 3: o = (rgb) { 0, x, c }; break;
    case 4: o = (rgb) { x, 0, c }; break;
    default: o = (rgb) { c, 0, x }; break;
    }
  o.r += m;
  o.g += m;
  o.b += m;
  return o;
}

static double
luma (rgb c)
{
  return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
}

/* Traces shape @cls of radius r centred at the origin (the caller has
 * translated and rotated). */
static void
trace_shape (cairo_t *cr, int cls, double r)
{
  switch (cls)
    {
    case CIRCLE:
      cairo_arc (cr, 0, 0, r, 0, 2 * M_PI);
      break;
    case RING:
      cairo_arc (cr, 0, 0, r, 0, 2 * M_PI);
      cairo_new_sub_path (cr);
      cairo_arc_negative (cr, 0, 0, 0.58 * r, 2 * M_PI, 0);
      break;
    case SQUARE:
      cairo_rectangle (cr, -0.78 * r, -0.78 * r, 1.56 * r, 1.56 * r);
      break;
    case DIAMOND:
      cairo_move_to (cr, 0, -r);
      cairo_line_to (cr, 0.62 * r, 0);
      cairo_line_to (cr, 0, r);
      cairo_line_to (cr, -0.62 * r, 0);
      cairo_close_path (cr);
      break;
    case TRIANGLE:
      for (int i = 0; i < 3; i++)
        {
          double a = -M_PI / 2 + i * 2 * M_PI / 3;
          if (i == 0)
            cairo_move_to (cr, r * cos (a), r * sin (a) + 0.2 * r);
          else
            cairo_line_to (cr, r * cos (a), r * sin (a) + 0.2 * r);
        }
      cairo_close_path (cr);
      break;
    case STAR:
      for (int i = 0; i < 10; i++)
        {
          double a = -M_PI / 2 + i * M_PI / 5, rr = i % 2 ? 0.42 * r : r;
          if (i == 0)
            cairo_move_to (cr, rr * cos (a), rr * sin (a));
          else
            cairo_line_to (cr, rr * cos (a), rr * sin (a));
        }
      cairo_close_path (cr);
      break;
    case CROSS:
      {
        double t = 0.26 * r;
        cairo_move_to (cr, -t, -r);
        cairo_line_to (cr, t, -r);
        cairo_line_to (cr, t, -t);
        cairo_line_to (cr, r, -t);
        cairo_line_to (cr, r, t);
        cairo_line_to (cr, t, t);
        cairo_line_to (cr, t, r);
        cairo_line_to (cr, -t, r);
        cairo_line_to (cr, -t, t);
        cairo_line_to (cr, -r, t);
        cairo_line_to (cr, -r, -t);
        cairo_line_to (cr, -t, -t);
        cairo_close_path (cr);
        break;
      }
    default: /* HEART */
      cairo_move_to (cr, 0, 0.9 * r);
      cairo_curve_to (cr, -0.3 * r, 0.6 * r, -r, 0.15 * r, -r, -0.35 * r);
      cairo_curve_to (cr, -r, -0.85 * r, -0.25 * r, -1.0 * r, 0, -0.5 * r);
      cairo_curve_to (cr, 0.25 * r, -1.0 * r, r, -0.85 * r, r, -0.35 * r);
      cairo_curve_to (cr, r, 0.15 * r, 0.3 * r, 0.6 * r, 0, 0.9 * r);
      cairo_close_path (cr);
      break;
    }
}

ts_status
ts_demo_render (const ts_demo_config *cfg, int index, ts_image *out, unsigned *class_mask,
                int *is_valid)
{
  const int S = cfg->size;
  cairo_surface_t *surf;
  cairo_t *cr;
  cairo_pattern_t *grad;
  ts_rng rng;
  rgb bg0, bg1;
  double cx[4], cy[4], cr_[4];
  int n_shapes, stride;
  unsigned char *data;
  double noise, ga;

  out->pixels = NULL;
  *class_mask = 0;
  if (S < 16 || S > 4096)
    return ts_error (TS_ERR_INVALID, "demo data: size %d out of range (16..4096)", S);
  ts_rng_seed (&rng, cfg->seed, (uint64_t) index);
  *is_valid = ts_rng_uniform (&rng) < cfg->valid_pct;
  n_shapes = ts_rng_uniform (&rng) < cfg->none_pct ? 0 : 1 + (int) ts_rng_below (&rng, 4);

  surf = cairo_image_surface_create (CAIRO_FORMAT_RGB24, S, S);
  cr = cairo_create (surf);
  if (cairo_status (cr) != CAIRO_STATUS_SUCCESS)
    {
      cairo_destroy (cr);
      cairo_surface_destroy (surf);
      return ts_error (TS_ERR_NOMEM, "demo data: cannot create a %dx%d Cairo surface", S, S);
    }

  /* background: a muted two-colour gradient at a random angle */
  {
    double h = ts_rng_uniform_range (&rng, 0, 360), a = ts_rng_uniform_range (&rng, 0, 2 * M_PI);
    ga = a;
    bg0 = hsv (h, ts_rng_uniform_range (&rng, 0.05, 0.4), ts_rng_uniform_range (&rng, 0.25, 0.95));
    bg1 = hsv (fmod (h + ts_rng_uniform_range (&rng, -60, 60) + 360, 360),
               ts_rng_uniform_range (&rng, 0.05, 0.4), ts_rng_uniform_range (&rng, 0.25, 0.95));
    grad = cairo_pattern_create_linear (S / 2.0 - cos (a) * S / 2, S / 2.0 - sin (a) * S / 2,
                                        S / 2.0 + cos (a) * S / 2, S / 2.0 + sin (a) * S / 2);
    cairo_pattern_add_color_stop_rgb (grad, 0, bg0.r, bg0.g, bg0.b);
    cairo_pattern_add_color_stop_rgb (grad, 1, bg1.r, bg1.g, bg1.b);
    cairo_set_source (cr, grad);
    cairo_paint (cr);
    cairo_pattern_destroy (grad);
  }

  for (int i = 0; i < n_shapes; i++)
    {
      int cls = (int) ts_rng_below (&rng, TS_DEMO_N_CLASSES);
      double r = S * ts_rng_uniform_range (&rng, 0.11, 0.21);
      double rot;
      double x = 0, y = 0;
      int placed = 0;
      rgb col = { 0, 0, 0 };

      /* no overlap, so every labelled shape stays recognisable; a shape that
       * finds no room is left out (and so is its label) */
      for (int attempt = 0; attempt < 40 && !placed; attempt++)
        {
          placed = 1;
          x = ts_rng_uniform_range (&rng, r, S - r);
          y = ts_rng_uniform_range (&rng, r, S - r);
          for (int j = 0; j < i; j++)
            if (hypot (x - cx[j], y - cy[j]) < 1.05 * (r + cr_[j]))
              placed = 0;
        }
      if (!placed)
        {
          cx[i] = cy[i] = -1e9;
          cr_[i] = 0;
          continue;
        }
      cx[i] = x;
      cy[i] = y;
      cr_[i] = r;
      rot = cls == STAR || cls == CIRCLE || cls == RING
              ? ts_rng_uniform_range (&rng, 0, 2 * M_PI)
              : ts_rng_uniform_range (&rng, -0.26, 0.26);
      /* contrast with the background under the shape: the best of a few draws */
      {
        double t = ((x - S / 2.0) * cos (ga) + (y - S / 2.0) * sin (ga)) / S + 0.5;
        double local, best = -1;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        local = luma (bg0) * (1 - t) + luma (bg1) * t;
        for (int k = 0; k < 8 && best < 0.3; k++)
          {
            rgb cand = hsv (ts_rng_uniform_range (&rng, 0, 360),
                            ts_rng_uniform_range (&rng, 0.55, 1.0),
                            ts_rng_uniform_range (&rng, 0.2, 1.0));
            if (fabs (luma (cand) - local) > best)
              {
                best = fabs (luma (cand) - local);
                col = cand;
              }
          }
      }
      cairo_save (cr);
      cairo_translate (cr, x, y);
      cairo_rotate (cr, rot);
      trace_shape (cr, cls, r);
      cairo_set_fill_rule (cr, CAIRO_FILL_RULE_EVEN_ODD);
      cairo_set_source_rgb (cr, col.r, col.g, col.b);
      if (ts_rng_uniform (&rng) < 0.4)
        {
          cairo_fill_preserve (cr);
          cairo_set_line_width (cr, 1.0 + S / 160.0);
          cairo_set_source_rgb (cr, col.r * 0.4, col.g * 0.4, col.b * 0.4);
          cairo_stroke (cr);
        }
      else
        cairo_fill (cr);
      cairo_restore (cr);
      *class_mask |= 1u << cls;
    }
  cairo_destroy (cr);
  cairo_surface_flush (surf);

  out->width = out->height = S;
  out->pixels = malloc ((size_t) S * S * 3);
  if (out->pixels == NULL)
    {
      cairo_surface_destroy (surf);
      return ts_error (TS_ERR_NOMEM, "demo data: out of memory");
    }
  data = cairo_image_surface_get_data (surf);
  stride = cairo_image_surface_get_stride (surf);
  noise = ts_rng_uniform_range (&rng, 2.0, 14.0);
  for (int yy = 0; yy < S; yy++)
    for (int xx = 0; xx < S; xx++)
      {
        uint32_t px;
        memcpy (&px, data + (size_t) yy * stride + xx * 4, 4);
        for (int c = 0; c < 3; c++)
          {
            double v = (double) ((px >> (16 - 8 * c)) & 0xFF) + noise * ts_rng_normal (&rng);
            out->pixels[((size_t) yy * S + xx) * 3 + c] =
              (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : lround (v));
          }
      }
  cairo_surface_destroy (surf);
  return TS_OK;
}

static ts_status
make_dir (const char *path)
{
  if (mkdir (path, 0755) != 0 && errno != EEXIST)
    return ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));
  return TS_OK;
}

ts_status
ts_demo_write (const char *dir, const ts_demo_config *cfg, ts_demo_summary *summary)
{
  size_t len = strlen (dir) + 64;
  char *path = malloc (len), *tmp_csv = malloc (len);
  FILE *csv = NULL;
  ts_status st = TS_OK;
  ts_demo_summary sum;

  memset (&sum, 0, sizeof sum);
  if (path == NULL || tmp_csv == NULL)
    {
      free (path);
      free (tmp_csv);
      return ts_error (TS_ERR_NOMEM, "demo data: out of memory");
    }
  if (cfg->n < 1)
    {
      st = ts_error (TS_ERR_INVALID, "demo data: --n must be at least 1 (got %d)", cfg->n);
      goto out;
    }
  if ((st = make_dir (dir)) != TS_OK)
    goto out;
  snprintf (path, len, "%s/train", dir);
  if ((st = make_dir (path)) != TS_OK)
    goto out;
  /* written aside and renamed: a half-written CSV never looks like a data set */
  snprintf (tmp_csv, len, "%s/.train.csv.tmp", dir);
  csv = fopen (tmp_csv, "w");
  if (csv == NULL)
    {
      st = ts_error (TS_ERR_IO, "%s: %s", tmp_csv, strerror (errno));
      goto out;
    }
  fprintf (csv, "fname,labels,is_valid\n");
  for (int i = 0; i < cfg->n; i++)
    {
      ts_image img;
      unsigned mask;
      int valid, first = 1;

      if ((st = ts_demo_render (cfg, i, &img, &mask, &valid)) != TS_OK)
        goto out;
      snprintf (path, len, "%s/train/%05d.jpg", dir, i);
      st = ts_image_save_jpeg (&img, path, cfg->quality);
      ts_image_clear (&img);
      if (st != TS_OK)
        goto out;
      fprintf (csv, "%05d.jpg,", i);
      for (int c = 0; c < TS_DEMO_N_CLASSES; c++)
        if (mask & (1u << c))
          {
            fprintf (csv, "%s%s", first ? "" : " ", ts_demo_classes[c]);
            first = 0;
            sum.class_images[c]++;
            sum.n_labels++;
          }
      fprintf (csv, ",%s\n", valid ? "True" : "False");
      sum.n_images++;
      sum.n_valid += valid;
      sum.n_empty += mask == 0;
    }
  if (fclose (csv) != 0)
    {
      csv = NULL;
      st = ts_error (TS_ERR_IO, "%s: %s", tmp_csv, strerror (errno));
      goto out;
    }
  csv = NULL;
  snprintf (path, len, "%s/train.csv", dir);
  if (rename (tmp_csv, path) != 0)
    st = ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));

out:
  if (csv != NULL)
    {
      fclose (csv);
      remove (tmp_csv);
    }
  if (summary != NULL)
    *summary = sum;
  free (path);
  free (tmp_csv);
  return st;
}
