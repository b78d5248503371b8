/* tagsight-results-page.h: the Results page: accuracy_multi, F1, precision
 * and recall against the threshold on the validation set, a draggable
 * threshold (and a spin button kept in sync), the best threshold, the
 * all-negative baseline and a per-class table with an optional per-class
 * threshold.
 *
 * Actions (group "results"): open-model, use-best.
 * Signals: "thresholds-changed" (), "ready" (gboolean ok): predictions
 * arrived (or failed, with a toast-worthy message in
 * tagsight_results_page_get_error). */
#pragma once

#include <adwaita.h>

#include "tagsight-chart.h"
#include "tagsight-dataset.h"
#include "tagsight-training.h"

G_BEGIN_DECLS

#define TAGSIGHT_TYPE_RESULTS_PAGE (tagsight_results_page_get_type ())
G_DECLARE_FINAL_TYPE (TagsightResultsPage, tagsight_results_page, TAGSIGHT, RESULTS_PAGE,
                      GtkWidget)

typedef struct {
  double accuracy_multi;
  double f1, precision, recall;   /* micro: counts pooled over classes */
} TagsightResultValues;

/* The metrics when each class k is predicted positive for p > @thresh[k]. */
void tagsight_results_values_at (const float *probs, const float *targets, int n, int c,
                                 const double *thresh, TagsightResultValues *out);

void tagsight_results_page_set_training (TagsightResultsPage *self, TagsightTraining *training);
void tagsight_results_page_set_dataset (TagsightResultsPage *self, TagsightDataset *dataset);
/* get_preds on the training's session, on its worker thread. */
void tagsight_results_page_refresh (TagsightResultsPage *self);
/* Shows @preds (taken). */
void tagsight_results_page_set_preds (TagsightResultsPage *self, TagsightPreds *preds);
gboolean tagsight_results_page_has_results (TagsightResultsPage *self);
const char *tagsight_results_page_get_error (TagsightResultsPage *self);
/* Opens a model file on the open data set, then predicts its validation set. */
void tagsight_results_page_open_model (TagsightResultsPage *self, const char *path);

double tagsight_results_page_get_threshold (TagsightResultsPage *self);
void tagsight_results_page_set_threshold (TagsightResultsPage *self, double thresh);
/* the sweep's best accuracy_multi threshold; NAN without results */
double tagsight_results_page_get_best_threshold (TagsightResultsPage *self);
gboolean tagsight_results_page_get_per_class (TagsightResultsPage *self);
void tagsight_results_page_set_per_class (TagsightResultsPage *self, gboolean per_class);
/* Each class's best-F1 threshold (n_classes values; the best accuracy_multi
 * threshold for a class whose F1 is 0 everywhere), NULL without results. */
const float *tagsight_results_page_get_class_thresholds (TagsightResultsPage *self,
                                                         int *n_classes);
/* The values shown, at the threshold(s) in use. */
void tagsight_results_page_get_values (TagsightResultsPage *self, TagsightResultValues *out);
const char *tagsight_results_page_get_values_text (TagsightResultsPage *self);

/* The per-class table: class, AP, F1, precision, recall, support, best threshold. */
int tagsight_results_page_get_n_class_rows (TagsightResultsPage *self);
const char *tagsight_results_page_get_class_cell (TagsightResultsPage *self, int row,
                                                  int column);
TagsightChart *tagsight_results_page_get_chart (TagsightResultsPage *self);

G_END_DECLS
