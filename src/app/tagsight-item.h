/* tagsight-item.h: one datablock item in the thumbnail grid's list model. */
#pragma once

#include <gtk/gtk.h>

#include "tagsight-dataset.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_ITEM (tagsight_item_get_type ())
G_DECLARE_FINAL_TYPE (TagsightItem, tagsight_item, TAGSIGHT, ITEM, GObject)

TagsightItem *tagsight_item_new (TagsightDataset *dataset, int index);

int          tagsight_item_get_index (TagsightItem *self);
const char  *tagsight_item_get_fname (TagsightItem *self);
const char  *tagsight_item_get_path (TagsightItem *self);
gboolean     tagsight_item_get_is_valid (TagsightItem *self);
int          tagsight_item_get_csv_line (TagsightItem *self);
gboolean     tagsight_item_has_label (TagsightItem *self, int vocab_index);
/* The vocab names of its labels, NULL-terminated; owned by the item. */
const char *const *tagsight_item_get_label_names (TagsightItem *self);

/* The thumbnail (a property, "thumbnail", so the grid can bind it); NULL
 * until the thumbnailer delivers one. */
GdkPaintable *tagsight_item_get_thumbnail (TagsightItem *self);
void          tagsight_item_set_thumbnail (TagsightItem *self, GdkPaintable *thumbnail);
/* Set by the thumbnailer while a decode is queued, to avoid queueing twice;
 * *failed when the image could not be decoded. */
gboolean      tagsight_item_get_thumbnail_pending (TagsightItem *self);
void          tagsight_item_set_thumbnail_pending (TagsightItem *self, gboolean pending);
void          tagsight_item_set_thumbnail_failed (TagsightItem *self, const char *message);
const char   *tagsight_item_get_thumbnail_error (TagsightItem *self);

G_END_DECLS
