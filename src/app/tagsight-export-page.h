/* tagsight-export-page.h: the Export and Predict page: saving the model
 * file, and predicting dropped or chosen images with the threshold(s)
 * chosen on the Results page.  Decoding and inference run on a worker
 * thread, on a snapshot of the session's model written to the cache folder.
 *
 * Actions (group "export"): choose-images, save-onnx.
 * Signals: "saved" (gboolean ok, const char *message), "predicted" (). */
#pragma once

#include <adwaita.h>

#include "tagsight-training.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_EXPORT_PAGE (tagsight_export_page_get_type ())
G_DECLARE_FINAL_TYPE (TagsightExportPage, tagsight_export_page, TAGSIGHT, EXPORT_PAGE, GtkWidget)

void tagsight_export_page_set_training (TagsightExportPage *self, TagsightTraining *training);
/* @thresh < 0: none chosen (the model's training threshold applies);
 * @class_thresh: NULL or @n values (copied); @per_class: Predict applies them. */
void tagsight_export_page_set_thresholds (TagsightExportPage *self, double thresh,
                                          const float *class_thresh, int n, gboolean per_class);
/* Writes the model file; "saved" tells how it went. */
void tagsight_export_page_save (TagsightExportPage *self, const char *path);
/* The same as ONNX (when the build has ONNX export). */
void tagsight_export_page_save_onnx (TagsightExportPage *self, const char *path);
/* Predicts @paths (NULL-terminated); "predicted" fires when the list shows them. */
void tagsight_export_page_predict (TagsightExportPage *self, const char *const *paths);

int tagsight_export_page_get_n_predictions (TagsightExportPage *self);
/* "name: Label 0.93, ..." with the labels over the threshold, or the error. */
const char *tagsight_export_page_get_prediction (TagsightExportPage *self, int i);

G_END_DECLS
