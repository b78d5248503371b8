/* tagsight-thumbnailer.h: decodes thumbnails on worker threads and hands
 * them back to the main context, keeping a bounded number in memory. */
#pragma once

#include "tagsight-item.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_THUMBNAILER (tagsight_thumbnailer_get_type ())
G_DECLARE_FINAL_TYPE (TagsightThumbnailer, tagsight_thumbnailer, TAGSIGHT, THUMBNAILER, GObject)

TagsightThumbnailer *tagsight_thumbnailer_new (int side, guint max_cached);
/* Queues @item unless it has a thumbnail or one is on its way.  Most recent
 * requests are decoded first: they are what the user is looking at. */
void tagsight_thumbnailer_request (TagsightThumbnailer *self, TagsightItem *item);
/* Drops queued work (a new data set was opened). */
void tagsight_thumbnailer_reset (TagsightThumbnailer *self);

/* Scales an RGB image down to fit @side x @side (box filter); the result
 * is newly allocated, *out_w x *out_h. */
guint8 *tagsight_thumbnail_scale (const guint8 *rgb, int w, int h, int side, int *out_w,
                                  int *out_h);

G_END_DECLS
