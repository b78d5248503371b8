/* tagsight-store.h: the project store (src/store/tagsight-project.h) as the
 * app includes it.  The store and the app both have a TagsightDataset and a
 * TagsightItem (a project's rows; the app's GObjects for an opened CSV and
 * its thumbnails), so the app sees the store's two as TagsightStoreDataset
 * and TagsightStoreItem.  App code includes this, never tagsight-project.h. */
#pragma once

#define TagsightDataset TagsightStoreDataset
#define TagsightItem TagsightStoreItem
#include "tagsight-project.h"
#undef TagsightDataset
#undef TagsightItem
