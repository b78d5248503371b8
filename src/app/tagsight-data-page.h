/* tagsight-data-page.h: the column mapping, the summary and the thumbnail grid. */
#pragma once

#include <adwaita.h>

#include "tagsight-dataset.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_DATA_PAGE (tagsight_data_page_get_type ())
G_DECLARE_FINAL_TYPE (TagsightDataPage, tagsight_data_page, TAGSIGHT, DATA_PAGE, GtkWidget)

/* Loads @csv_path on a worker thread with the mapping detected afresh.
 * "dataset-changed" (TagsightDataset or NULL) fires when a load finishes
 * usable or not; "failed" (a message) when it gives nothing usable. */
void tagsight_data_page_open (TagsightDataPage *self, const char *csv_path);
/* As tagsight_data_page_open, with the images in @image_dir instead of the
 * folder found beside the CSV (NULL: found as usual). */
void tagsight_data_page_open_with_images (TagsightDataPage *self, const char *csv_path,
                                          const char *image_dir);
/* Reloads the open CSV with @folder granted (the folder chooser's answer,
 * also "data.choose-folder"): the CSV and its images are looked for there
 * (tagsight_dataset_resolve_folder).  Opening another CSV forgets it. */
void tagsight_data_page_set_data_folder (TagsightDataPage *self, const char *folder);
const char *tagsight_data_page_get_data_folder (TagsightDataPage *self);
TagsightDataset *tagsight_data_page_get_dataset (TagsightDataPage *self);
gboolean tagsight_data_page_get_busy (TagsightDataPage *self);

G_END_DECLS
