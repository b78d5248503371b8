/* learn-mem-source.h: a ts_data_source over images held in memory, for the
 * learner tests (no files, no decoding): a tiny synthetic multi-label task
 * where class 0 brightens the top half and class 1 the bottom half. */
#pragma once

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ts-learner.h"
#include "ts-rng.h"

typedef struct {
  int n, size, n_classes, bs, shuffle, drop_last;
  float *x, *y;
  int *order;
  int pos;
  ts_batch batch;
  uint64_t seed;
  int nan_at_batch;      /* -1: never; else the batch (of any epoch) whose input is NaN */
  int batches_served;
} mem_source;

static int
mem_n_batches (void *self)
{
  mem_source *s = self;
  return s->drop_last ? s->n / s->bs : (s->n + s->bs - 1) / s->bs;
}

static int
mem_n_items (void *self)
{
  return ((mem_source *) self)->n;
}

static ts_status
mem_start_epoch (void *self, int epoch)
{
  mem_source *s = self;
  for (int i = 0; i < s->n; i++)
    s->order[i] = i;
  if (s->shuffle)
    {
      ts_rng r;
      ts_rng_seed (&r, s->seed, (uint64_t) epoch);
      ts_rng_shuffle (&r, s->order, s->n);
    }
  s->pos = 0;
  return TS_OK;
}

static ts_status
mem_next (void *self, ts_batch **out)
{
  mem_source *s = self;
  int left = s->n - s->pos, m = left < s->bs ? left : s->bs;
  size_t px = (size_t) 3 * s->size * s->size;

  *out = NULL;
  if (m <= 0 || (s->drop_last && m < s->bs))
    return TS_OK;
  for (int r = 0; r < m; r++)
    {
      int it = s->order[s->pos + r];
      memcpy (s->batch.x + r * px, s->x + it * px, px * sizeof (float));
      memcpy (s->batch.y + r * s->n_classes, s->y + it * s->n_classes,
              (size_t) s->n_classes * sizeof (float));
      s->batch.items[r] = it;
    }
  if (s->batches_served == s->nan_at_batch)
    s->batch.x[0] = NAN;
  s->batches_served++;
  s->batch.n = m;
  s->batch.index = s->pos / s->bs;
  s->pos += m;
  *out = &s->batch;
  return TS_OK;
}

static void
mem_release (void *self, ts_batch *b)
{
  (void) self;
  (void) b;
}

/* @n images of @size px; labels drawn from @seed (about a fifth with none). */
static inline mem_source *
mem_source_new (int n, int size, int bs, int train, uint64_t seed)
{
  mem_source *s = calloc (1, sizeof *s);
  size_t px = (size_t) 3 * size * size;
  ts_rng r;

  s->n = n;
  s->size = size;
  s->n_classes = 2;
  s->bs = bs;
  s->shuffle = train;
  s->drop_last = train;
  s->seed = seed;
  s->nan_at_batch = -1;
  s->x = malloc ((size_t) n * px * sizeof (float));
  s->y = calloc ((size_t) n * 2, sizeof (float));
  s->order = malloc ((size_t) n * sizeof (int));
  s->batch.x = malloc ((size_t) bs * px * sizeof (float));
  s->batch.y = malloc ((size_t) bs * 2 * sizeof (float));
  s->batch.items = malloc ((size_t) bs * sizeof (int));
  ts_rng_seed (&r, seed, 99);
  for (int i = 0; i < n; i++)
    {
      float *img = s->x + i * px;
      int top = ts_rng_uniform (&r) < 0.45, bottom = ts_rng_uniform (&r) < 0.45;
      s->y[i * 2 + 0] = top;
      s->y[i * 2 + 1] = bottom;
      for (int c = 0; c < 3; c++)
        for (int yy = 0; yy < size; yy++)
          for (int xx = 0; xx < size; xx++)
            {
              float v = (float) ts_rng_normal (&r) * 0.5f;
              if ((yy < size / 2 && top) || (yy >= size / 2 && bottom))
                v += 1.5f;
              img[(c * size + yy) * size + xx] = v;
            }
    }
  return s;
}

static inline void
mem_source_free (mem_source *s)
{
  free (s->x);
  free (s->y);
  free (s->order);
  free (s->batch.x);
  free (s->batch.y);
  free (s->batch.items);
  free (s);
}

static inline void
mem_source_as_data (mem_source *s, ts_data_source *d)
{
  d->self = s;
  d->n_batches = mem_n_batches;
  d->n_items = mem_n_items;
  d->start_epoch = mem_start_epoch;
  d->next = mem_next;
  d->release = mem_release;
}
