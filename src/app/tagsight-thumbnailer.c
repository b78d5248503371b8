/* tagsight-thumbnailer.c: background thumbnail decoding (see tagsight-thumbnailer.h). */
#include "tagsight-thumbnailer.h"

#include "ts-image.h"

struct _TagsightThumbnailer
{
  GObject parent_instance;

  GThreadPool *pool;
  int side;
  guint max_cached;
  GQueue cached;          /* items holding a thumbnail, oldest first */
  gint generation;        /* atomic: jobs from an older one are dropped */
  guint64 seq;
};

typedef struct {
  TagsightThumbnailer *self;
  TagsightItem *item;
  char *path;
  int generation;
  guint64 seq;
  /* result */
  guint8 *pixels;
  int width, height;
  char *error;
} Job;

G_DEFINE_FINAL_TYPE (TagsightThumbnailer, tagsight_thumbnailer, G_TYPE_OBJECT)

static void
job_free (Job *job)
{
  g_object_unref (job->self);
  g_object_unref (job->item);
  g_free (job->path);
  g_free (job->pixels);
  g_free (job->error);
  g_free (job);
}

guint8 *
tagsight_thumbnail_scale (const guint8 *rgb, int w, int h, int side, int *out_w, int *out_h)
{
  double f = MIN (1.0, (double) side / MAX (w, h));
  int ow = MAX (1, (int) (w * f + 0.5)), oh = MAX (1, (int) (h * f + 0.5));
  guint8 *out = g_malloc ((gsize) ow * oh * 3);

  /* each output pixel averages the source box it covers */
  for (int y = 0; y < oh; y++)
    {
      int sy0 = (int) ((gint64) y * h / oh), sy1 = MAX (sy0 + 1, (int) ((gint64) (y + 1) * h / oh));

      for (int x = 0; x < ow; x++)
        {
          int sx0 = (int) ((gint64) x * w / ow);
          int sx1 = MAX (sx0 + 1, (int) ((gint64) (x + 1) * w / ow));
          guint sum[3] = { 0, 0, 0 }, n = 0;

          for (int sy = sy0; sy < sy1; sy++)
            for (int sx = sx0; sx < sx1; sx++)
              {
                const guint8 *p = rgb + ((gsize) sy * w + sx) * 3;

                sum[0] += p[0];
                sum[1] += p[1];
                sum[2] += p[2];
                n++;
              }
          for (int c = 0; c < 3; c++)
            out[((gsize) y * ow + x) * 3 + c] = (guint8) ((sum[c] + n / 2) / n);
        }
    }
  *out_w = ow;
  *out_h = oh;
  return out;
}

static gboolean
deliver (gpointer data)
{
  Job *job = data;
  TagsightThumbnailer *self = job->self;

  tagsight_item_set_thumbnail_pending (job->item, FALSE);
  if (job->generation != g_atomic_int_get (&self->generation))
    return G_SOURCE_REMOVE;
  if (job->pixels != NULL)
    {
      g_autoptr (GBytes) bytes = g_bytes_new_take (g_steal_pointer (&job->pixels),
                                                   (gsize) job->width * job->height * 3);
      g_autoptr (GdkTexture) texture =
        gdk_memory_texture_new (job->width, job->height, GDK_MEMORY_R8G8B8, bytes,
                                (gsize) job->width * 3);

      tagsight_item_set_thumbnail (job->item, GDK_PAINTABLE (texture));
      g_queue_push_tail (&self->cached, g_object_ref (job->item));
      while (self->cached.length > self->max_cached)
        {
          g_autoptr (TagsightItem) old = g_queue_pop_head (&self->cached);

          tagsight_item_set_thumbnail (old, NULL);
        }
    }
  else
    tagsight_item_set_thumbnail_failed (job->item, job->error);
  return G_SOURCE_REMOVE;
}

static void
work (gpointer data, gpointer user_data)
{
  Job *job = data;
  ts_image img = { 0 };

  if (job->generation == g_atomic_int_get (&job->self->generation))
    {
      if (ts_image_load (job->path, job->self->side, 0, &img) == TS_OK)
        {
          job->pixels = tagsight_thumbnail_scale (img.pixels, img.width, img.height,
                                                  job->self->side, &job->width, &job->height);
          ts_image_clear (&img);
        }
      else
        job->error = g_strdup (ts_last_error ());
    }
  /* always queued: g_main_context_invoke would run deliver right here, on
   * this worker, whenever no thread owns the main context (between a test's
   * iterations, after g_application_run returned), setting the items'
   * thumbnails, and so their bound GtkPictures, off the main thread */
  g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, deliver, job, (GDestroyNotify) job_free);
}

static int
newest_first (gconstpointer a, gconstpointer b, gpointer user_data)
{
  const Job *ja = a, *jb = b;

  return ja->seq < jb->seq ? 1 : ja->seq > jb->seq ? -1 : 0;
}

static void
tagsight_thumbnailer_finalize (GObject *object)
{
  TagsightThumbnailer *self = TAGSIGHT_THUMBNAILER (object);

  g_thread_pool_free (self->pool, TRUE, TRUE);
  g_queue_clear_full (&self->cached, g_object_unref);
  G_OBJECT_CLASS (tagsight_thumbnailer_parent_class)->finalize (object);
}

static void
tagsight_thumbnailer_class_init (TagsightThumbnailerClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = tagsight_thumbnailer_finalize;
}

static void
tagsight_thumbnailer_init (TagsightThumbnailer *self)
{
  int threads = MAX (1, MIN (4, (int) g_get_num_processors () - 1));

  g_queue_init (&self->cached);
  self->pool = g_thread_pool_new (work, self, threads, FALSE, NULL);
  g_thread_pool_set_sort_function (self->pool, newest_first, NULL);
}

TagsightThumbnailer *
tagsight_thumbnailer_new (int side, guint max_cached)
{
  TagsightThumbnailer *self = g_object_new (TAGSIGHT_TYPE_THUMBNAILER, NULL);

  self->side = side;
  self->max_cached = MAX (max_cached, 16);
  return self;
}

void
tagsight_thumbnailer_request (TagsightThumbnailer *self, TagsightItem *item)
{
  Job *job;

  if (tagsight_item_get_thumbnail (item) != NULL || tagsight_item_get_thumbnail_pending (item)
      || tagsight_item_get_thumbnail_error (item) != NULL)
    return;
  job = g_new0 (Job, 1);
  job->self = g_object_ref (self);
  job->item = g_object_ref (item);
  job->path = g_strdup (tagsight_item_get_path (item));
  job->generation = g_atomic_int_get (&self->generation);
  job->seq = ++self->seq;
  tagsight_item_set_thumbnail_pending (item, TRUE);
  g_thread_pool_push (self->pool, job, NULL);
}

void
tagsight_thumbnailer_reset (TagsightThumbnailer *self)
{
  g_atomic_int_inc (&self->generation);
  g_queue_clear_full (&self->cached, g_object_unref);
}
