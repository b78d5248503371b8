/* ts-showbatch.c: collects augmented images exactly as the loader makes them
 * and draws them as a labelled grid with Cairo. */
#include "ts-showbatch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts-image.h"
#include "ts-rng.h"
#include "ts-transform.h"

#define PAD 8

static int
font_px (int size)
{
  return size / 11 > 11 ? size / 11 : 11;
}

void
ts_showbatch_layout (int n, int size, int *cols, int *rows, int *width, int *height)
{
  int c = (int) ceil (sqrt (n > 0 ? n : 1));
  int r = (n + c - 1) / c;
  int label_h = (int) lround (font_px (size) * 1.8);

  if (r < 1)
    r = 1;
  if (cols)
    *cols = c;
  if (rows)
    *rows = r;
  if (width)
    *width = PAD + c * (size + PAD);
  if (height)
    *height = PAD + r * (size + label_h + PAD);
}

static char *
join_labels (const ts_datablock *db, int item)
{
  const ts_item *it = &db->items[item];
  size_t len = 1;
  char *s;

  for (int i = 0; i < it->n_labels; i++)
    len += strlen (db->vocab[it->labels[i]]) + 1;
  s = malloc (len);
  if (s == NULL)
    return NULL;
  s[0] = '\0';
  for (int i = 0; i < it->n_labels; i++)
    {
      if (i > 0)
        strcat (s, ";");
      strcat (s, db->vocab[it->labels[i]]);
    }
  return s;
}

/* Normalised CHW floats back to RGB bytes. */
static void
to_rgb (const float *x, int size, const float mean[3], const float std[3], uint8_t *out)
{
  size_t plane = (size_t) size * size;

  for (size_t i = 0; i < plane; i++)
    for (int c = 0; c < 3; c++)
      {
        float v = (x[c * plane + i] * std[c] + mean[c]) * 255.0f;
        out[i * 3 + c] = (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : lroundf (v));
      }
}

static ts_showbatch *
grid_new (int n, int size)
{
  ts_showbatch *g = calloc (1, sizeof *g);

  if (g == NULL)
    return NULL;
  g->size = size;
  g->pixels = calloc ((size_t) n, sizeof *g->pixels);
  g->labels = calloc ((size_t) n, sizeof *g->labels);
  g->items = calloc ((size_t) n, sizeof *g->items);
  if (!g->pixels || !g->labels || !g->items)
    {
      ts_showbatch_free (g);
      return NULL;
    }
  return g;
}

static ts_status
add_cell (ts_showbatch *g, const ts_datablock *db, int item, const float *x,
          const ts_loader_config *cfg)
{
  int i = g->n;

  g->pixels[i] = malloc ((size_t) g->size * g->size * 3);
  g->labels[i] = join_labels (db, item);
  if (g->pixels[i] == NULL || g->labels[i] == NULL)
    {
      free (g->pixels[i]);
      free (g->labels[i]);
      g->pixels[i] = NULL;
      g->labels[i] = NULL;
      return ts_error (TS_ERR_NOMEM, "show_batch: out of memory");
    }
  to_rgb (x, g->size, cfg->mean, cfg->std, g->pixels[i]);
  g->items[i] = item;
  g->n++;
  return TS_OK;
}

static ts_status
collect_batch (const ts_datablock *db, const ts_loader_config *cfg, int n, int valid,
               ts_showbatch *g)
{
  ts_loader_config lc = *cfg;
  ts_loader *l;
  ts_batch *b;
  ts_status st;

  lc.batch_size = n;
  lc.drop_last = 0;
  lc.cache_bytes = 0;
  lc.prefetch = 2;
  /* the worker on the next batch costs little: it stops when the loader is
   * freed (one worker is no faster, and each batch counts its own skips) */
  lc.n_workers = 2;
  if ((st = ts_loader_new (db, &lc, valid, &l)) != TS_OK)
    return st;
  ts_loader_start_epoch (l, 0);
  st = ts_loader_next (l, &b);
  /* the batch's own record: the loader's may name the next batch's image,
   * which the other worker fills at the same time */
  if (st == TS_OK && b != NULL && b->n_skipped > 0)
    {
      g->n_skipped = b->n_skipped;
      snprintf (g->skip_message, sizeof g->skip_message, "%s", b->skip_message);
    }
  if (st == TS_OK && b == NULL)
    st = valid ? ts_error (TS_ERR_INVALID, "show_batch: no readable validation image "
                           "(%d skipped: %s)", ts_loader_n_skipped (l),
                           ts_loader_skip_message (l))
               : ts_error (TS_ERR_INVALID, "show_batch: no readable training image "
                           "(%d skipped: %s)", ts_loader_n_skipped (l),
                           ts_loader_skip_message (l));
  if (st == TS_OK)
    {
      size_t row = (size_t) 3 * cfg->size * cfg->size;
      for (int i = 0; i < b->n && st == TS_OK; i++)
        st = add_cell (g, db, b->items[i], b->x + row * i, cfg);
      ts_loader_release (l, b);
    }
  ts_loader_free (l);
  return st;
}

static ts_status
collect_unique (const ts_datablock *db, const ts_loader_config *cfg, int n, int valid,
                ts_showbatch *g)
{
  const int *idx = valid ? db->valid_idx : db->train_idx;
  int count = valid ? db->n_valid : db->n_train;
  ts_image img = { 0 };
  float *x;
  ts_rng pick;
  ts_status st = TS_ERR_INVALID;
  int item = -1;

  /* the first readable image from a seeded starting point */
  ts_rng_seed (&pick, cfg->seed, 0x756e69717565ULL);  /* "unique" */
  for (int k = 0, start = count ? (int) ts_rng_below (&pick, (uint64_t) count) : 0;
       k < count; k++)
    {
      item = idx[(start + k) % count];
      st = ts_image_load (db->items[item].path, ts_tfm_decode_min_side (cfg, valid), 0, &img);
      if (st == TS_OK)
        break;
      if (g->n_skipped++ == 0)
        snprintf (g->skip_message, sizeof g->skip_message, "%s", ts_last_error ());
    }
  if (count == 0)
    return valid ? ts_error (TS_ERR_INVALID, "show_batch: the validation set is empty")
                 : ts_error (TS_ERR_INVALID, "show_batch: the training set is empty");
  if (st != TS_OK)
    return ts_error_prefix (st, "show_batch: no readable image");
  x = malloc (sizeof (float) * 3 * cfg->size * cfg->size);
  if (x == NULL)
    {
      ts_image_clear (&img);
      return ts_error (TS_ERR_NOMEM, "show_batch: out of memory");
    }
  for (int k = 0; k < n && st == TS_OK; k++)
    {
      ts_rng rng;
      ts_rng_seed (&rng, cfg->seed, 0x1000 + (uint64_t) k);
      ts_tfm_item (&img, cfg, valid, &rng, x);
      st = add_cell (g, db, item, x, cfg);
    }
  free (x);
  ts_image_clear (&img);
  return st;
}

ts_status
ts_showbatch_collect (const ts_datablock *db, const ts_loader_config *cfg, int n, int unique,
                      int valid, ts_showbatch **out)
{
  ts_showbatch *g;
  ts_status st;

  *out = NULL;
  if (n < 1 || n > 1024)
    return ts_error (TS_ERR_INVALID, "show_batch: --n must be from 1 to 1024 (got %d)", n);
  g = grid_new (n, cfg->size);
  if (g == NULL)
    return ts_error (TS_ERR_NOMEM, "show_batch: out of memory");
  st = unique ? collect_unique (db, cfg, n, valid, g) : collect_batch (db, cfg, n, valid, g);
  if (st != TS_OK)
    {
      ts_showbatch_free (g);
      return st;
    }
  *out = g;
  return TS_OK;
}

void
ts_showbatch_free (ts_showbatch *g)
{
  if (g == NULL)
    return;
  for (int i = 0; i < g->n; i++)
    {
      free (g->pixels[i]);
      free (g->labels[i]);
    }
  free (g->pixels);
  free (g->labels);
  free (g->items);
  free (g);
}

/* Shows @text centred in @width, cut with an ellipsis when it does not fit. */
static void
draw_label (cairo_t *cr, const char *text, double x, double y, double width)
{
  cairo_text_extents_t ext;
  size_t len = strlen (text);
  char *buf = malloc (len + 4);

  if (buf == NULL)
    return;
  memcpy (buf, text, len + 1);
  cairo_text_extents (cr, buf, &ext);
  while (ext.x_advance > width && len > 0)
    {
      len--;
      /* back off over UTF-8 continuation bytes */
      while (len > 0 && ((unsigned char) text[len] & 0xC0) == 0x80)
        len--;
      memcpy (buf, text, len);
      memcpy (buf + len, "\xe2\x80\xa6", 4);
      cairo_text_extents (cr, buf, &ext);
    }
  cairo_move_to (cr, x + (width - ext.x_advance) / 2, y);
  cairo_show_text (cr, buf);
  free (buf);
}

void
ts_showbatch_draw (const ts_showbatch *g, cairo_t *cr)
{
  int cols, width, height, S = g->size, font = font_px (S);
  int label_h = (int) lround (font * 1.8);

  ts_showbatch_layout (g->n, S, &cols, NULL, &width, &height);
  cairo_save (cr);
  cairo_rectangle (cr, 0, 0, width, height);
  cairo_set_source_rgb (cr, 1, 1, 1);
  cairo_fill (cr);
  cairo_select_font_face (cr, "Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size (cr, font);
  for (int i = 0; i < g->n; i++)
    {
      int x = PAD + (i % cols) * (S + PAD), y = PAD + (i / cols) * (S + label_h + PAD);
      cairo_surface_t *img = cairo_image_surface_create (CAIRO_FORMAT_RGB24, S, S);
      unsigned char *data = cairo_image_surface_get_data (img);
      int stride = cairo_image_surface_get_stride (img);

      if (cairo_surface_status (img) != CAIRO_STATUS_SUCCESS)
        {
          cairo_surface_destroy (img);
          continue;
        }
      cairo_surface_flush (img);
      for (int yy = 0; yy < S; yy++)
        for (int xx = 0; xx < S; xx++)
          {
            const uint8_t *p = g->pixels[i] + ((size_t) yy * S + xx) * 3;
            uint32_t px = 0xFF000000u | (uint32_t) p[0] << 16 | (uint32_t) p[1] << 8 | p[2];
            memcpy (data + (size_t) yy * stride + xx * 4, &px, 4);
          }
      cairo_surface_mark_dirty (img);
      cairo_set_source_surface (cr, img, x, y);
      cairo_paint (cr);
      cairo_surface_destroy (img);
      cairo_set_source_rgb (cr, 0.15, 0.15, 0.15);
      draw_label (cr, g->labels[i], x, y + S + font * 1.25, S);
    }
  cairo_restore (cr);
}

ts_status
ts_showbatch_write_png (const ts_showbatch *g, const char *path)
{
  int width, height;
  cairo_surface_t *surf;
  cairo_t *cr;
  cairo_status_t cs;

  ts_showbatch_layout (g->n, g->size, NULL, NULL, &width, &height);
  surf = cairo_image_surface_create (CAIRO_FORMAT_RGB24, width, height);
  cr = cairo_create (surf);
  ts_showbatch_draw (g, cr);
  cs = cairo_status (cr);
  cairo_destroy (cr);
  if (cs == CAIRO_STATUS_SUCCESS)
    cs = cairo_surface_write_to_png (surf, path);
  cairo_surface_destroy (surf);
  if (cs != CAIRO_STATUS_SUCCESS)
    return ts_error (TS_ERR_IO, "%s: cannot write the PNG (%s)", path,
                     cairo_status_to_string (cs));
  return TS_OK;
}
