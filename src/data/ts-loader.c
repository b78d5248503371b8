/* ts-loader.c: worker threads decode and transform whole batches into a ring
 * of prefetch slots; the consumer takes them strictly in order.
 *
 * Every random choice for an item derives from (seed, epoch, item), so a batch
 * is the same bytes whatever the number of threads or their timing. */
#include "ts-loader.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts-backend.h"
#include "ts-image.h"
#include "ts-rng.h"
#include "ts-transform.h"

enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_OUT };

typedef struct {
  ts_batch b;
  int state;
  size_t src_cap;          /* bytes allocated at b.src (deferred resample) */
} slot;

struct ts_loader {
  const ts_datablock *db;
  ts_loader_config cfg;
  int valid;
  const int *items;        /* datablock item indices of this split */
  int n_items, n_batches, n_vocab;
  int min_side, max_side;
  size_t row_floats;

  /* decoded images kept between epochs, indexed by position in items; filled
   * until cache_bytes and never evicted (with a fresh shuffle each epoch every
   * item is equally likely next, so eviction would buy nothing) */
  ts_image *cache;
  size_t cache_used;
  unsigned char *failed;        /* per item: SKIP_* flags */
  char **messages;              /* per item left out: its first error (a later
                                   epoch's batch names it without trying again) */
  int n_skipped;
  const char *skip_message;     /* the first skipped item's */

  pthread_mutex_t mu;
  pthread_cond_t work_cv, ready_cv;
  pthread_t *threads;
  int n_threads;
  slot *slots;
  int n_slots;
  int *order;              /* positions, in this epoch's order */
  uint64_t epoch_seed;
  int epoch;
  int ended;               /* the caller saw the end of the epoch; the workers
                              already fill epoch + 1 */
  int active, quit, generation, busy;
  int next_fill, next_take;

  /* cfg.stager's two stages: batch i's bytes go to stages[i % 2] when it is
   * ready and next to be taken, so its copy runs while the batch before it
   * computes; a stage is its batch's until the batch is released */
  void *stages[2];
  ts_batch *stage_owner[2];
};

void
ts_aug_params_preset (ts_aug_params *p, ts_aug_preset preset)
{
  memset (p, 0, sizeof *p);
  p->flip_p = 0.5f;
  p->min_zoom = 1.0f;
  p->max_zoom = 1.0f;
  p->p_affine = 0.75f;
  p->p_lighting = 0.75f;
  if (preset == TS_AUG_NONE)
    return;
  p->do_flip = 1;
  if (preset == TS_AUG_FLIP)
    return;
  p->max_rotate = 10.0f;
  p->max_zoom = 1.1f;
  p->max_warp = 0.2f;
  p->max_lighting = 0.2f;
}

void
ts_loader_config_init (ts_loader_config *cfg)
{
  static const float mean[3] = { 0.485f, 0.456f, 0.406f };
  static const float std[3] = { 0.229f, 0.224f, 0.225f };

  memset (cfg, 0, sizeof *cfg);
  cfg->size = 128;
  cfg->min_scale = 0.35;
  cfg->random_resized_crop = 1;
  cfg->resize_method = TS_RESIZE_CROP;
  ts_aug_params_preset (&cfg->aug, TS_AUG_FASTAI);
  cfg->batch_size = 64;
  cfg->shuffle = 1;
  cfg->drop_last = 1;
  cfg->cache_bytes = (size_t) 256 << 20;
  memcpy (cfg->mean, mean, sizeof mean);
  memcpy (cfg->std, std, sizeof std);
}

static void *
host_alloc (const ts_loader *l, size_t bytes)
{
  return l->cfg.host_alloc ? l->cfg.host_alloc (bytes, l->cfg.host_ud) : malloc (bytes);
}

static void
host_free (const ts_loader *l, void *p)
{
  if (p == NULL)
    return;
  if (l->cfg.host_free)
    l->cfg.host_free (p, l->cfg.host_ud);
  else
    free (p);
}

/* Why an item was left out: it cannot be decoded (never tried again), or a
 * batch had no memory for it (tried again next time; counted once). */
enum { SKIP_UNREADABLE = 1, SKIP_NO_MEMORY = 2 };

/* The error the item at @pos was first left out with; its path when there
 * was no memory to keep the error.  With the lock held. */
static const char *
item_message (const ts_loader *l, int pos)
{
  return l->messages[pos] ? l->messages[pos] : l->db->items[l->items[pos]].path;
}

/* Records that the item at @pos was left out for @why (the first message is
 * kept); each item counts once however often it is left out. */
static void
note_skip (ts_loader *l, int pos, int why, const char *message)
{
  pthread_mutex_lock (&l->mu);
  if (l->messages[pos] == NULL)
    l->messages[pos] = strdup (message);
  if (l->failed[pos] == 0 && l->n_skipped++ == 0)
    l->skip_message = item_message (l, pos);
  l->failed[pos] |= why;
  pthread_mutex_unlock (&l->mu);
}

/* Counts the item at @pos, recorded with note_skip, as left out of @b. */
static void
batch_skip (ts_loader *l, ts_batch *b, int pos)
{
  if (b->n_skipped++ > 0)
    return;
  pthread_mutex_lock (&l->mu);
  b->skip_message = item_message (l, pos);
  pthread_mutex_unlock (&l->mu);
}

/* Whether the batch a worker began in generation @gen is no longer wanted
 * (a new epoch, or the loader is being freed): it stops early. */
static int
stale (ts_loader *l, int gen)
{
  int r;

  pthread_mutex_lock (&l->mu);
  r = gen != l->generation;
  pthread_mutex_unlock (&l->mu);
  return r;
}

/* With the lock held: gives @b's stage back, once its copy has read @b's
 * bytes (the caller is about to let a worker refill them). */
static void
unstage (ts_loader *l, ts_batch *b)
{
  if (b->stage == NULL)
    return;
  l->cfg.stager->stage_wait (b->stage);
  for (int k = 0; k < 2; k++)
    if (l->stage_owner[k] == b)
      l->stage_owner[k] = NULL;
  b->stage = NULL;
}

/* With the lock held: stages the batch next to be taken when it is ready
 * and its stage is free (the consumer released the batch two before it).
 * Called when any of those changes: a batch is ready, taken or released.
 * (After the end of an epoch the next to be taken is the following epoch's
 * first, which the workers fill already.) */
static void
stage_next (ts_loader *l)
{
  slot *s;
  int k = l->next_take % 2;

  if (l->stages[k] == NULL || !l->active || l->next_take >= l->n_batches)
    return;
  s = &l->slots[l->next_take % l->n_slots];
  if (s->state != SLOT_READY || s->b.n == 0 || s->b.stage != NULL || l->stage_owner[k])
    return;
  if (l->cfg.stager->stage_upload (l->stages[k], s->b.src, s->b.src_bytes))
    {
      s->b.stage = l->stages[k];
      l->stage_owner[k] = &s->b;
    }
}

/* ts_loader_config's allocator over a backend's host_alloc / host_free */
static void *
backend_host_alloc (size_t bytes, void *ud)
{
  return ((const ts_backend_i *) ud)->host_alloc (bytes);
}

static void
backend_host_free (void *ptr, void *ud)
{
  ((const ts_backend_i *) ud)->host_free (ptr);
}

void
ts_loader_config_feed (ts_loader_config *lc, ts_backend *be)
{
  const char *env = getenv ("TS_DEVICE_RESAMPLE");
  int device = be->i->host_alloc && be->i->host_free;

  if (device)
    {
      /* batches in the backend's page-locked memory: uploads without staging */
      lc->host_alloc = backend_host_alloc;
      lc->host_free = backend_host_free;
      lc->host_ud = (void *) be->i;   /* the static table: outlives the backend */
    }
  lc->defer_resample = be->i->resample_batch != NULL
                       && (env && *env ? atoi (env) != 0 : device);
  /* used with the deferred resample from page-locked batches (ts_loader_new) */
  lc->stager = be->i->stage_new ? be->i : NULL;
}

/* Decodes (or finds in the cache) the image at position @pos.  Returns NULL
 * for an unreadable one; *owned says whether the caller must free it. */
static const ts_image *
get_image (ts_loader *l, int pos, ts_image *tmp, int *owned)
{
  const ts_item *it = &l->db->items[l->items[pos]];
  size_t bytes;

  *owned = 0;
  pthread_mutex_lock (&l->mu);
  if (l->cache[pos].pixels != NULL)
    {
      pthread_mutex_unlock (&l->mu);
      return &l->cache[pos];
    }
  if (l->failed[pos] & SKIP_UNREADABLE)
    {
      pthread_mutex_unlock (&l->mu);
      return NULL;
    }
  pthread_mutex_unlock (&l->mu);

  if (ts_image_load (it->path, l->min_side, l->max_side, tmp) != TS_OK)
    {
      note_skip (l, pos, SKIP_UNREADABLE, ts_last_error ());
      return NULL;
    }
  bytes = (size_t) tmp->width * tmp->height * 3;
  pthread_mutex_lock (&l->mu);
  if (l->cache[pos].pixels == NULL && l->cache_used + bytes <= l->cfg.cache_bytes)
    {
      l->cache[pos] = *tmp;
      l->cache_used += bytes;
      pthread_mutex_unlock (&l->mu);
      return &l->cache[pos];
    }
  pthread_mutex_unlock (&l->mu);
  *owned = 1;
  return tmp;
}

/* Room for @more bytes after the slot's source bytes; 0 when out of memory. */
static int
reserve_src (ts_loader *l, slot *s, size_t more)
{
  size_t need = s->b.src_bytes + more, cap = s->src_cap > 0 ? s->src_cap : 4096;
  uint8_t *p;

  if (need <= s->src_cap)
    return 1;
  while (cap < need)
    cap *= 2;
  /* page-locked allocations are slow: grow by doubling, keep the high-water mark */
  if ((p = host_alloc (l, cap)) == NULL)
    return 0;
  if (s->b.src_bytes)
    memcpy (p, s->b.src, s->b.src_bytes);
  host_free (l, s->b.src);
  s->b.src = p;
  s->src_cap = cap;
  return 1;
}

/* The deferred form of ts_tfm_item: the region of @img the resample reads,
 * appended to the slot's source bytes, and its plan as row b.n. */
static int
defer_item (ts_loader *l, slot *s, const ts_image *img, ts_rng *rng)
{
  ts_batch *b = &s->b;
  ts_resample_item *it = &b->resample[b->n];
  int x, y, w, h;
  size_t row;

  ts_tfm_item_deferred (img, &l->cfg, l->valid, rng, it, &x, &y, &w, &h);
  row = (size_t) w * 3;
  if (!reserve_src (l, s, row * h))
    return 0;
  it->offset = (int64_t) b->src_bytes;
  for (int r = 0; r < h; r++)
    memcpy (b->src + b->src_bytes + r * row,
            img->pixels + ((size_t) (y + r) * img->width + x) * 3, row);
  b->src_bytes += row * h;
  return 1;
}

static void
fill_batch (ts_loader *l, slot *s, int index, const int *order, uint64_t epoch_seed, int gen)
{
  ts_batch *b = &s->b;
  int bs = l->cfg.batch_size;
  int start = index * bs, end = start + bs;

  if (end > l->n_items)
    end = l->n_items;
  b->n = 0;
  b->index = index;
  b->src_bytes = 0;
  b->n_skipped = 0;
  b->skip_message = "";
  for (int k = start; k < end && !stale (l, gen); k++)
    {
      int pos = order[k], owned, item = l->items[pos];
      ts_image tmp;
      const ts_image *img = get_image (l, pos, &tmp, &owned);
      const ts_item *it = &l->db->items[item];
      float *y = b->y + (size_t) b->n * l->n_vocab;
      ts_rng rng;

      if (img == NULL)
        {
          batch_skip (l, b, pos);
          continue;
        }
      ts_rng_seed (&rng, epoch_seed, (uint64_t) item);
      if (!l->cfg.defer_resample)
        ts_tfm_item (img, &l->cfg, l->valid, &rng, b->x + (size_t) b->n * l->row_floats);
      else if (!defer_item (l, s, img, &rng))
        {
          ts_error (TS_ERR_NOMEM, "%s: out of memory for its pixels in a batch", it->path);
          note_skip (l, pos, SKIP_NO_MEMORY, ts_last_error ());
          batch_skip (l, b, pos);
          if (owned)
            ts_image_clear (&tmp);
          continue;
        }
      if (owned)
        ts_image_clear (&tmp);
      memset (y, 0, sizeof (float) * l->n_vocab);
      for (int j = 0; j < it->n_labels; j++)
        if (it->labels[j] >= 0 && it->labels[j] < l->n_vocab)
          y[it->labels[j]] = 1.0f;
      b->items[b->n++] = item;
    }
}

static void *
worker (void *data)
{
  ts_loader *l = data;

  pthread_mutex_lock (&l->mu);
  for (;;)
    {
      slot *s;
      int index, gen;
      uint64_t seed;
      const int *order;

      while (!l->quit
             && !(l->active && l->next_fill < l->n_batches
                  && l->slots[l->next_fill % l->n_slots].state == SLOT_FREE))
        pthread_cond_wait (&l->work_cv, &l->mu);
      if (l->quit)
        break;
      index = l->next_fill++;
      s = &l->slots[index % l->n_slots];
      s->state = SLOT_FILLING;
      gen = l->generation;
      seed = l->epoch_seed;
      order = l->order;
      l->busy++;
      pthread_mutex_unlock (&l->mu);

      fill_batch (l, s, index, order, seed, gen);

      pthread_mutex_lock (&l->mu);
      l->busy--;
      s->state = gen == l->generation ? SLOT_READY : SLOT_FREE;
      stage_next (l);
      pthread_cond_broadcast (&l->ready_cv);
      pthread_cond_broadcast (&l->work_cv);
    }
  pthread_mutex_unlock (&l->mu);
  return NULL;
}

static int
n_cores (void)
{
  long n = sysconf (_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int) n : 1;
}

/* The batch buffers, each with the allocator that made it; and the slot array. */
static void
free_slots (ts_loader *l)
{
  if (l->slots)
    for (int i = 0; i < l->n_slots; i++)
      {
        ts_batch *b = &l->slots[i].b;
        host_free (l, b->x);
        host_free (l, b->src);
        host_free (l, b->resample);
        free (b->y);
        free (b->items);
      }
  free (l->slots);
  l->slots = NULL;
}

ts_status
ts_loader_new (const ts_datablock *db, const ts_loader_config *cfg, int valid, ts_loader **out)
{
  ts_loader *l;
  int bs = cfg->batch_size, n_slots;

  *out = NULL;
  if (cfg->size < 1 || cfg->size > 4096)
    return ts_error (TS_ERR_INVALID, "loader: image size %d out of range", cfg->size);
  if (bs < 1)
    return ts_error (TS_ERR_INVALID, "loader: batch size %d must be positive", bs);
  if (cfg->random_resized_crop && !valid && (cfg->min_scale <= 0 || cfg->min_scale > 1))
    return ts_error (TS_ERR_INVALID, "loader: min_scale %g must be in (0, 1]", cfg->min_scale);
  for (int c = 0; c < 3; c++)
    if (cfg->std[c] == 0.0f)
      return ts_error (TS_ERR_INVALID, "loader: normalisation std[%d] is zero", c);

  l = calloc (1, sizeof *l);
  if (l == NULL)
    return ts_error (TS_ERR_NOMEM, "loader: out of memory");
  l->db = db;
  l->cfg = *cfg;
  if (!l->cfg.host_alloc || !l->cfg.host_free)
    l->cfg.host_alloc = NULL, l->cfg.host_free = NULL;   /* a pair or neither */
  l->valid = valid;
  if (valid)
    {
      l->cfg.shuffle = 0;
      l->cfg.drop_last = 0;
    }
  l->items = valid ? db->valid_idx : db->train_idx;
  l->n_items = valid ? db->n_valid : db->n_train;
  l->n_vocab = db->n_vocab;
  l->n_batches = l->cfg.drop_last ? l->n_items / bs : (l->n_items + bs - 1) / bs;
  l->min_side = ts_tfm_decode_min_side (&l->cfg, valid);
  /* huge images are bounded; never below what the transforms need */
  l->max_side = 4 * l->min_side > 2048 ? 4 * l->min_side : 2048;
  l->row_floats = (size_t) 3 * cfg->size * cfg->size;
  l->n_threads = cfg->n_workers > 0 ? cfg->n_workers : n_cores ();
  l->n_slots = cfg->prefetch > 0 ? cfg->prefetch : 2 * l->n_threads;
  if (l->n_slots < 2)
    l->n_slots = 2;
  if (l->n_slots > l->n_batches && l->n_batches >= 2)
    l->n_slots = l->n_batches;

  l->cache = calloc ((size_t) l->n_items + 1, sizeof *l->cache);
  l->failed = calloc ((size_t) l->n_items + 1, 1);
  l->messages = calloc ((size_t) l->n_items + 1, sizeof *l->messages);
  l->skip_message = "";
  l->order = calloc ((size_t) l->n_items + 1, sizeof *l->order);
  l->slots = calloc ((size_t) l->n_slots, sizeof *l->slots);
  l->threads = calloc ((size_t) l->n_threads, sizeof *l->threads);
  if (!l->cache || !l->failed || !l->messages || !l->order || !l->slots || !l->threads)
    goto nomem;
  for (int i = 0; i < l->n_slots; i++)
    {
      ts_batch *b = &l->slots[i].b;
      if (!l->cfg.defer_resample)
        b->x = host_alloc (l, sizeof (float) * l->row_floats * bs);
      else if ((b->resample = host_alloc (l, sizeof *b->resample * bs)) != NULL)
        /* a first guess (a whole training source per image); grows when short */
        reserve_src (l, &l->slots[i], (size_t) bs * 3 * l->min_side * l->min_side * 3 / 2);
      memcpy (b->mean, l->cfg.mean, sizeof b->mean);
      memcpy (b->std, l->cfg.std, sizeof b->std);
      b->y = malloc (sizeof (float) * ((size_t) l->n_vocab * bs + 1));
      b->items = malloc (sizeof (int) * bs);
      if (!(b->x || b->resample) || !b->y || !b->items)
        goto nomem;
    }
  if (!l->cfg.defer_resample || !l->cfg.host_alloc)
    l->cfg.stager = NULL;   /* stages copy page-locked batch bytes */
  /* as big as the batches' first guess (reserve_src) */
  for (int k = 0; k < 2 && l->cfg.stager; k++)
    l->stages[k] = l->cfg.stager->stage_new (l->slots[0].src_cap);   /* NULL: that half unstaged */
  pthread_mutex_init (&l->mu, NULL);
  pthread_cond_init (&l->work_cv, NULL);
  pthread_cond_init (&l->ready_cv, NULL);
  for (int i = 0; i < l->n_threads; i++)
    if (pthread_create (&l->threads[i], NULL, worker, l) != 0)
      {
        l->n_threads = i;
        ts_loader_free (l);
        return ts_error (TS_ERR_NOMEM, "loader: cannot start worker thread %d", i);
      }
  *out = l;
  return TS_OK;

nomem:
  /* the real slot count: cfg->prefetch may be 0 (two per worker) */
  n_slots = l->n_slots;
  free_slots (l);
  free (l->cache);
  free (l->failed);
  free (l->messages);
  free (l->order);
  free (l->threads);
  free (l);
  return ts_error (TS_ERR_NOMEM, "loader: out of memory for %d slots of %d images",
                   n_slots, bs);
}

void
ts_loader_free (ts_loader *l)
{
  if (l == NULL)
    return;
  pthread_mutex_lock (&l->mu);
  l->quit = 1;
  l->generation++;   /* batches being filled stop early */
  pthread_cond_broadcast (&l->work_cv);
  pthread_mutex_unlock (&l->mu);
  for (int i = 0; i < l->n_threads; i++)
    pthread_join (l->threads[i], NULL);
  for (int i = 0; i < l->n_slots; i++)
    unstage (l, &l->slots[i].b);
  for (int k = 0; k < 2; k++)
    if (l->stages[k])
      l->cfg.stager->stage_free (l->stages[k]);
  pthread_mutex_destroy (&l->mu);
  pthread_cond_destroy (&l->work_cv);
  pthread_cond_destroy (&l->ready_cv);
  free_slots (l);
  for (int i = 0; i < l->n_items; i++)
    {
      ts_image_clear (&l->cache[i]);
      free (l->messages[i]);
    }
  free (l->cache);
  free (l->failed);
  free (l->messages);
  free (l->order);
  free (l->threads);
  free (l);
}

int
ts_loader_n_batches (const ts_loader *l)
{
  return l->n_batches;
}

int
ts_loader_n_items (const ts_loader *l)
{
  return l->n_items;
}

/* With the lock held and no worker busy: lays out @epoch and lets the
 * workers go.  With @keep_out, a batch the caller still holds stays its own
 * until released. */
static void
arm_epoch (ts_loader *l, int epoch, int keep_out)
{
  uint64_t x = l->cfg.seed ^ 0x6c6f61646572ULL;  /* "loader" */

  l->generation++;
  for (int i = 0; i < l->n_slots; i++)
    if (!keep_out || l->slots[i].state != SLOT_OUT)
      {
        unstage (l, &l->slots[i].b);
        l->slots[i].state = SLOT_FREE;
      }
  for (int i = 0; i < l->n_items; i++)
    l->order[i] = i;
  if (l->cfg.shuffle)
    {
      ts_rng rng;
      ts_rng_seed (&rng, l->cfg.seed, 0x5348554646ULL + (uint64_t) epoch);  /* "SHUFF" */
      ts_rng_shuffle (&rng, l->order, l->n_items);
    }
  x += (uint64_t) epoch * 0x9e3779b97f4a7c15ULL;
  l->epoch_seed = ts_splitmix64 (&x);
  l->epoch = epoch;
  l->next_fill = 0;
  l->next_take = 0;
  l->ended = 0;
  l->active = 1;
  pthread_cond_broadcast (&l->work_cv);
}

ts_status
ts_loader_start_epoch (ts_loader *l, int epoch)
{
  pthread_mutex_lock (&l->mu);
  /* the epoch the workers began on their own when the last one ended; the
   * validation set has no randomness, so any of its epochs will do */
  if (l->active && (l->epoch == epoch || l->valid) && l->next_take == 0)
    {
      l->ended = 0;
      pthread_mutex_unlock (&l->mu);
      return TS_OK;
    }
  /* stop the current epoch: batches being filled stop early and are dropped */
  l->active = 0;
  l->generation++;
  while (l->busy > 0)
    pthread_cond_wait (&l->ready_cv, &l->mu);
  arm_epoch (l, epoch, 0);
  pthread_mutex_unlock (&l->mu);
  return TS_OK;
}

ts_status
ts_loader_next (ts_loader *l, ts_batch **out)
{
  int passed_skipped = 0;
  const char *passed_message = NULL;

  *out = NULL;
  pthread_mutex_lock (&l->mu);
  if (!l->active)
    {
      pthread_mutex_unlock (&l->mu);
      return ts_error (TS_ERR_INVALID, "loader: ts_loader_next before ts_loader_start_epoch");
    }
  while (!l->ended && l->next_take < l->n_batches)
    {
      slot *s = &l->slots[l->next_take % l->n_slots];
      while (s->state != SLOT_READY)
        pthread_cond_wait (&l->ready_cv, &l->mu);
      l->next_take++;
      if (s->b.n == 0)
        {
          /* every item of this batch was left out: the next batch counts them */
          passed_skipped += s->b.n_skipped;
          if (passed_message == NULL)
            passed_message = s->b.skip_message;
          s->state = SLOT_FREE;
          stage_next (l);   /* the batch after it comes up */
          pthread_cond_broadcast (&l->work_cv);
          continue;
        }
      s->state = SLOT_OUT;
      if (passed_skipped > 0)
        {
          s->b.skip_message = passed_message;
          s->b.n_skipped += passed_skipped;
        }
      *out = &s->b;
      stage_next (l);   /* the batch after it, while this one computes */
      break;
    }
  if (*out == NULL && !l->ended)
    {
      /* the end of the epoch: the workers start on the next one, so that its
       * first batches are ready when the caller asks for them (every batch
       * of this epoch was taken, so no worker is busy on it) */
      arm_epoch (l, l->epoch + 1, 1);
      l->ended = 1;
    }
  pthread_mutex_unlock (&l->mu);
  return TS_OK;
}

void
ts_loader_release (ts_loader *l, ts_batch *b)
{
  if (b == NULL)
    return;
  pthread_mutex_lock (&l->mu);
  unstage (l, b);
  for (int i = 0; i < l->n_slots; i++)
    if (&l->slots[i].b == b)
      l->slots[i].state = SLOT_FREE;
  stage_next (l);   /* its stage may be what the next batch waited for */
  pthread_cond_broadcast (&l->work_cv);
  pthread_mutex_unlock (&l->mu);
}

ts_status
ts_batch_to_tensor (const ts_batch *b, ts_tensor *x)
{
  if (b->x != NULL)
    return ts_tensor_from_host (x, b->x, x->numel);
  return ts_backend_resample_batch (x->be, b->src, b->src_bytes, b->stage, b->resample, b->n,
                                    b->mean, b->std, x);
}

int
ts_loader_n_skipped (const ts_loader *l)
{
  ts_loader *m = (ts_loader *) l;
  int n;

  pthread_mutex_lock (&m->mu);
  n = m->n_skipped;
  pthread_mutex_unlock (&m->mu);
  return n;
}

const char *
ts_loader_skip_message (const ts_loader *l)
{
  ts_loader *m = (ts_loader *) l;
  const char *s;

  pthread_mutex_lock (&m->mu);
  s = m->skip_message;
  pthread_mutex_unlock (&m->mu);
  return s;
}

size_t
ts_loader_cache_bytes (const ts_loader *l)
{
  ts_loader *m = (ts_loader *) l;
  size_t n;

  pthread_mutex_lock (&m->mu);
  n = m->cache_used;
  pthread_mutex_unlock (&m->mu);
  return n;
}

int
ts_loader_decode_min_side (const ts_loader *l)
{
  return l->min_side;
}
