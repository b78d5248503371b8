/* tagsight-batch-page.h: fastai's show_batch, live: the grid drawn by
 * ts-showbatch with the item and batch transform settings beside it. */
#pragma once

#include <adwaita.h>

#include "tagsight-dataset.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_BATCH_PAGE (tagsight_batch_page_get_type ())
G_DECLARE_FINAL_TYPE (TagsightBatchPage, tagsight_batch_page, TAGSIGHT, BATCH_PAGE, GtkWidget)

/* NULL (or a dataset without a datablock) shows an empty page. */
void tagsight_batch_page_set_dataset (TagsightBatchPage *self, TagsightDataset *dataset);
/* New crops and augmentations: the next seed. */
void tagsight_batch_page_reroll (TagsightBatchPage *self);
/* The last grid shown, or NULL. */
GdkPaintable *tagsight_batch_page_get_paintable (TagsightBatchPage *self);

G_END_DECLS
