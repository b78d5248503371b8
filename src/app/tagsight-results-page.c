/* tagsight-results-page.c: the Results page (see tagsight-results-page.h). */
#include "tagsight-results-page.h"
#include "tagsight-file-chooser.h"

#include <glib/gi18n.h>
#include <math.h>

#include "ts-metrics.h"
#include "ts-thresholds.h"

#define N_CLASS_COLUMNS 7

struct _TagsightResultsPage
{
  GtkWidget parent_instance;

  GtkStack *stack;
  AdwStatusPage *empty_page;
  GtkSpinButton *thresh_spin;
  GtkLabel *values_label;
  GtkLabel *summary_label;
  TagsightChart *chart;
  GtkSwitch *per_class_switch;
  GtkGrid *class_grid;

  TagsightTraining *training;
  TagsightDataset *dataset;
  TagsightPreds *preds;
  ts_threshold_sweep sweep;
  gboolean have_sweep;
  double *ap;                  /* [n_classes] */
  float *class_thresh;         /* best F1 per class */
  GPtrArray *cells;
  char *values_text;
  char *error;
  gboolean syncing;
  TagsightResultValues values;
};

G_DEFINE_FINAL_TYPE (TagsightResultsPage, tagsight_results_page, GTK_TYPE_WIDGET)

enum { SIGNAL_THRESHOLDS_CHANGED, SIGNAL_READY, N_SIGNALS };
static guint signals[N_SIGNALS];

/* --- the math ------------------------------------------------------------ */

void
tagsight_results_values_at (const float *probs, const float *targets, int n, int c,
                            const double *thresh, TagsightResultValues *out)
{
  gint64 tp = 0, fp = 0, fn = 0, right = 0;

  for (int i = 0; i < n; i++)
    for (int k = 0; k < c; k++)
      {
        /* fastai's accuracy_multi: positive when strictly over the threshold */
        int pred = probs[(gsize) i * c + k] > thresh[k];
        int targ = targets[(gsize) i * c + k] > 0.5f;

        right += pred == targ;
        tp += pred && targ;
        fp += pred && !targ;
        fn += !pred && targ;
      }
  out->accuracy_multi = n * c > 0 ? (double) right / ((double) n * c) : NAN;
  out->precision = tp + fp > 0 ? (double) tp / (tp + fp) : 0;
  out->recall = tp + fn > 0 ? (double) tp / (tp + fn) : 0;
  out->f1 = 2 * tp + fp + fn > 0 ? 2.0 * tp / (2 * tp + fp + fn) : 0;
}

static void
fill_thresholds (TagsightResultsPage *self, double *th)
{
  double t = gtk_spin_button_get_value (self->thresh_spin);
  gboolean per_class = gtk_switch_get_active (self->per_class_switch);

  for (int k = 0; k < self->preds->n_classes; k++)
    th[k] = per_class ? self->class_thresh[k] : t;
}

/* --- the per-class table --------------------------------------------------- */

static void
grid_row (TagsightResultsPage *self, int row, const char *const *texts, gboolean header)
{
  for (int col = 0; col < N_CLASS_COLUMNS; col++)
    {
      GtkWidget *label = gtk_label_new (texts[col]);

      gtk_label_set_xalign (GTK_LABEL (label), col == 0 ? 0 : 1);
      gtk_widget_add_css_class (label, header ? "heading" : "numeric");
      gtk_grid_attach (self->class_grid, label, col, row, 1, 1);
      if (!header)
        g_ptr_array_add (self->cells, g_strdup (texts[col]));
    }
}

static void
update_table (TagsightResultsPage *self, const double *th)
{
  const char *header[N_CLASS_COLUMNS] = {
    _("class"), _("AP"), _("F1"), _("precision"), _("recall"), _("support"), _("best threshold"),
  };
  int n = self->preds->n, c = self->preds->n_classes;
  g_autofree ts_prf *prf = g_new0 (ts_prf, c);
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->class_grid))) != NULL)
    gtk_grid_remove (self->class_grid, child);
  g_ptr_array_set_size (self->cells, 0);
  grid_row (self, 0, header, TRUE);
  for (int k = 0; k < c; k++)
    {
      ts_prf at[64];
      g_autofree ts_prf *all = c > 64 ? g_new0 (ts_prf, c) : NULL;
      ts_prf micro, macro;
      char cols[N_CLASS_COLUMNS][64];
      const char *texts[N_CLASS_COLUMNS];

      ts_prf_at (self->preds->probs, self->preds->targets, n, c, th[k], all ? all : at, &micro,
                 &macro);
      prf[k] = (all ? all : at)[k];
      g_strlcpy (cols[0], self->preds->vocab[k], 64);
      if (isnan (self->ap[k]))
        g_strlcpy (cols[1], "—", 64);
      else
        g_snprintf (cols[1], 64, "%.3f", self->ap[k]);
      g_snprintf (cols[2], 64, "%.3f", prf[k].f1);
      g_snprintf (cols[3], 64, "%.3f", prf[k].precision);
      g_snprintf (cols[4], 64, "%.3f", prf[k].recall);
      g_snprintf (cols[5], 64, "%" G_GINT64_FORMAT, (gint64) prf[k].support);
      g_snprintf (cols[6], 64, "%.2f", self->class_thresh[k]);
      for (int col = 0; col < N_CLASS_COLUMNS; col++)
        texts[col] = cols[col];
      grid_row (self, k + 1, texts, FALSE);
    }
}

static void
update_values (TagsightResultsPage *self)
{
  g_autofree double *th = NULL;
  gboolean per_class;

  if (self->preds == NULL)
    return;
  per_class = gtk_switch_get_active (self->per_class_switch);
  th = g_new (double, self->preds->n_classes);
  fill_thresholds (self, th);
  tagsight_results_values_at (self->preds->probs, self->preds->targets, self->preds->n,
                              self->preds->n_classes, th, &self->values);
  g_free (self->values_text);
  self->values_text =
    g_strdup_printf (_("%s: accuracy_multi <b>%.4f</b>   F1 <b>%.4f</b>   precision <b>%.4f</b>"
                       "   recall <b>%.4f</b>"),
                     per_class ? _("At the per-class thresholds") : _("At this threshold"),
                     self->values.accuracy_multi, self->values.f1, self->values.precision,
                     self->values.recall);
  gtk_label_set_markup (self->values_label, self->values_text);
  gtk_widget_set_sensitive (GTK_WIDGET (self->thresh_spin), !per_class);
  tagsight_chart_set_threshold_visible (self->chart, !per_class);
  update_table (self, th);
}

/* --- the chart and the sweep ------------------------------------------------ */

static void
show_preds (TagsightResultsPage *self)
{
  TagsightPreds *p = self->preds;
  double grid[TS_SWEEP_FINE_N], prec[TS_SWEEP_FINE_N], rec[TS_SWEEP_FINE_N];
  double base_x[2] = { 0, 1 }, base_y[2];
  GdkRGBA acc_c, f1_c, p_c, r_c, base_c, best_c;
  g_autofree char *summary = NULL;
  ts_metrics_report report = { 0 };

  ts_sweep_fine (grid);
  if (self->have_sweep)
    ts_threshold_sweep_clear (&self->sweep);
  self->have_sweep = ts_threshold_sweep_run (p->probs, p->targets, p->n, p->n_classes, grid,
                                             TS_SWEEP_FINE_N, &self->sweep) == TS_OK;
  if (!self->have_sweep || ts_metrics_compute (p->probs, p->targets, p->n, p->n_classes,
                                               p->thresh, &report) != TS_OK)
    {
      g_free (self->error);
      self->error = g_strdup (ts_last_error ());
      gtk_stack_set_visible_child_name (self->stack, "empty");
      adw_status_page_set_description (self->empty_page, self->error);
      return;
    }
  for (int i = 0; i < TS_SWEEP_FINE_N; i++)
    {
      ts_prf micro, macro;

      ts_prf_at (p->probs, p->targets, p->n, p->n_classes, grid[i], NULL, &micro, &macro);
      prec[i] = micro.precision;
      rec[i] = micro.recall;
    }
  g_free (self->ap);
  self->ap = g_memdup2 (report.ap, sizeof (double) * p->n_classes);
  g_free (self->class_thresh);
  self->class_thresh = g_new (float, p->n_classes);
  /* a class whose F1 is 0 at every threshold (no validation positive, or
   * none found) would get the sweep's first value, 0.01, and be predicted
   * everywhere: it gets the best global threshold instead */
  for (int k = 0; k < p->n_classes; k++)
    self->class_thresh[k] = (float) (self->sweep.best_class_f1[k].value > 0
                                     ? self->sweep.best_class_f1[k].thresh
                                     : self->sweep.best_accuracy.thresh);

  gdk_rgba_parse (&acc_c, "#3584e4");
  gdk_rgba_parse (&f1_c, "#ff7800");
  gdk_rgba_parse (&p_c, "#2ec27e");
  gdk_rgba_parse (&r_c, "#9141ac");
  gdk_rgba_parse (&base_c, "#77767b");
  gdk_rgba_parse (&best_c, "#26a269");
  base_y[0] = base_y[1] = report.all_negative_baseline;
  tagsight_chart_clear (self->chart);
  tagsight_chart_add_line (self->chart, _("accuracy_multi"), grid, self->sweep.accuracy,
                           TS_SWEEP_FINE_N, &acc_c, 2.5);
  tagsight_chart_add_line (self->chart, _("F1"), grid, self->sweep.f1_micro, TS_SWEEP_FINE_N,
                           &f1_c, 2);
  tagsight_chart_add_line (self->chart, _("precision"), grid, prec, TS_SWEEP_FINE_N, &p_c, 1.5);
  tagsight_chart_add_line (self->chart, _("recall"), grid, rec, TS_SWEEP_FINE_N, &r_c, 1.5);
  tagsight_chart_add_line (self->chart, _("all-negative baseline"), base_x, base_y, 2, &base_c,
                           1);
  tagsight_chart_add_marker (self->chart, self->sweep.best_accuracy.thresh, _("best"), &best_c);
  tagsight_chart_set_x_range (self->chart, 0, 1);
  tagsight_chart_set_y_range (self->chart, 0, 1);

  summary = g_strdup_printf (_("%d validation images, %d classes; loss %.4f; mAP %.3f. Best "
                               "accuracy_multi %.4f at %.2f (the all-negative baseline is %.4f); "
                               "best F1 %.4f at %.2f."),
                             p->n, p->n_classes, p->loss, report.map,
                             self->sweep.best_accuracy.value, self->sweep.best_accuracy.thresh,
                             report.all_negative_baseline, self->sweep.best_f1_micro.value,
                             self->sweep.best_f1_micro.thresh);
  gtk_label_set_text (self->summary_label, summary);
  ts_metrics_report_clear (&report);

  self->syncing = TRUE;
  gtk_spin_button_set_value (self->thresh_spin, self->sweep.best_accuracy.thresh);
  self->syncing = FALSE;
  tagsight_chart_set_threshold (self->chart, gtk_spin_button_get_value (self->thresh_spin));
  g_clear_pointer (&self->error, g_free);
  gtk_stack_set_visible_child_name (self->stack, "results");
  update_values (self);
}

void
tagsight_results_page_set_preds (TagsightResultsPage *self, TagsightPreds *preds)
{
  tagsight_preds_free (self->preds);
  self->preds = preds;
  show_preds (self);
  /* thresholds first: whoever reacts to "ready" (Predict) sees the chosen ones */
  g_signal_emit (self, signals[SIGNAL_THRESHOLDS_CHANGED], 0);
  g_signal_emit (self, signals[SIGNAL_READY], 0, self->error == NULL);
}

/* --- threshold changes -------------------------------------------------------- */

static void
on_spin_changed (GtkSpinButton *spin, TagsightResultsPage *self)
{
  if (self->syncing)
    return;
  tagsight_chart_set_threshold (self->chart, gtk_spin_button_get_value (spin));
  update_values (self);
  g_signal_emit (self, signals[SIGNAL_THRESHOLDS_CHANGED], 0);
}

static void
on_chart_threshold (TagsightChart *chart, double x, TagsightResultsPage *self)
{
  /* the spin button rounds to its step; the chart follows it, so both show one value */
  gtk_spin_button_set_value (self->thresh_spin, x);
  tagsight_chart_set_threshold (self->chart, gtk_spin_button_get_value (self->thresh_spin));
}

static void
on_per_class (GObject *sw, GParamSpec *pspec, TagsightResultsPage *self)
{
  update_values (self);
  g_signal_emit (self, signals[SIGNAL_THRESHOLDS_CHANGED], 0);
}

/* --- getting predictions ------------------------------------------------------ */

static void
fail (TagsightResultsPage *self, const char *message)
{
  g_free (self->error);
  self->error = g_strdup (message);
  gtk_stack_set_visible_child_name (self->stack, self->preds != NULL ? "results" : "empty");
  if (self->preds == NULL)
    adw_status_page_set_description (self->empty_page, message);
  g_signal_emit (self, signals[SIGNAL_READY], 0, FALSE);
}

static void
on_preds (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (TagsightResultsPage) self = data;
  g_autoptr (GError) error = NULL;
  TagsightPreds *preds = tagsight_training_get_preds_finish (TAGSIGHT_TRAINING (source), result,
                                                            &error);

  if (self->stack == NULL)
    {
      tagsight_preds_free (preds);
      return;   /* disposed meanwhile: the template pointers are cleared */
    }
  if (preds == NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("Could not predict the validation set: %s"),
                                              error->message);
      fail (self, msg);
      return;
    }
  tagsight_results_page_set_preds (self, preds);
}

void
tagsight_results_page_refresh (TagsightResultsPage *self)
{
  if (self->training == NULL)
    return;
  gtk_stack_set_visible_child_name (self->stack, "busy");
  tagsight_training_get_preds_async (self->training, NULL, on_preds, g_object_ref (self));
}

static void
on_model_opened (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (TagsightResultsPage) self = data;
  g_autoptr (GError) error = NULL;

  if (!tagsight_training_open_finish (TAGSIGHT_TRAINING (source), result, &error)
      && self->stack != NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("Could not open the model: %s"), error->message);
      fail (self, msg);
      return;
    }
  if (self->stack != NULL && error == NULL)
    tagsight_results_page_refresh (self);
}

void
tagsight_results_page_open_model (TagsightResultsPage *self, const char *path)
{
  TagsightTrainSettings s;

  if (self->training == NULL)
    return;
  if (self->dataset == NULL || tagsight_dataset_get_datablock (self->dataset) == NULL)
    {
      fail (self, _("Open a data set first: the model is evaluated on its validation images"));
      return;
    }
  tagsight_train_settings_init (&s);
  s.csv = g_strdup (tagsight_dataset_get_path (self->dataset));
  s.model_file = g_strdup (path);
  s.bs = MIN (16, MAX (1, tagsight_dataset_get_datablock (self->dataset)->n_train));
  {
    const TagsightMapping *m = tagsight_dataset_get_mapping (self->dataset);

    s.has_mapping = TRUE;
    s.fname_col = g_strdup (m->fname_col);
    s.labels_col = g_strdup (m->labels_col);
    s.label_delim = g_strdup (m->label_delim);
    s.image_dir = g_strdup (m->image_dir);
    s.split = m->split;
    s.split_col = g_strdup (m->split_col);
    s.valid_pct = m->valid_pct;
  }
  gtk_stack_set_visible_child_name (self->stack, "busy");
  tagsight_training_open_async (self->training, &s, NULL, on_model_opened, g_object_ref (self));
  tagsight_train_settings_clear (&s);
}

static void
on_model_chosen (const char *path, gpointer self)
{
  if (path != NULL)
    tagsight_results_page_open_model (self, path);
}

static void
open_model_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  static const char *const models[] = { "*.safetensors", NULL };
  const TagsightChooserFilter filters[] = {
    { _("Tagsight models (.safetensors)"), models }, { NULL } };
  const TagsightChooser c = { _("Open a Model"), GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"),
                              .filters = filters };

  tagsight_choose_file (widget, &c, on_model_chosen, g_object_ref (widget), g_object_unref);
}

static void
use_best_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TagsightResultsPage *self = TAGSIGHT_RESULTS_PAGE (widget);

  if (self->have_sweep)
    tagsight_results_page_set_threshold (self, self->sweep.best_accuracy.thresh);
}

/* --- accessors ------------------------------------------------------------------ */

void
tagsight_results_page_set_training (TagsightResultsPage *self, TagsightTraining *training)
{
  g_set_object (&self->training, training);
}

void
tagsight_results_page_set_dataset (TagsightResultsPage *self, TagsightDataset *dataset)
{
  g_set_object (&self->dataset, dataset);
}

gboolean
tagsight_results_page_has_results (TagsightResultsPage *self)
{
  return self->preds != NULL && self->have_sweep;
}

const char *
tagsight_results_page_get_error (TagsightResultsPage *self)
{
  return self->error;
}

double
tagsight_results_page_get_threshold (TagsightResultsPage *self)
{
  return gtk_spin_button_get_value (self->thresh_spin);
}

void
tagsight_results_page_set_threshold (TagsightResultsPage *self, double thresh)
{
  gtk_spin_button_set_value (self->thresh_spin, thresh);
}

double
tagsight_results_page_get_best_threshold (TagsightResultsPage *self)
{
  return self->have_sweep ? self->sweep.best_accuracy.thresh : NAN;
}

gboolean
tagsight_results_page_get_per_class (TagsightResultsPage *self)
{
  return gtk_switch_get_active (self->per_class_switch);
}

void
tagsight_results_page_set_per_class (TagsightResultsPage *self, gboolean per_class)
{
  gtk_switch_set_active (self->per_class_switch, per_class);
}

const float *
tagsight_results_page_get_class_thresholds (TagsightResultsPage *self, int *n_classes)
{
  if (n_classes != NULL)
    *n_classes = self->preds != NULL ? self->preds->n_classes : 0;
  return self->preds != NULL && self->have_sweep ? self->class_thresh : NULL;
}

void
tagsight_results_page_get_values (TagsightResultsPage *self, TagsightResultValues *out)
{
  *out = self->values;
}

const char *
tagsight_results_page_get_values_text (TagsightResultsPage *self)
{
  return self->values_text;
}

int
tagsight_results_page_get_n_class_rows (TagsightResultsPage *self)
{
  return (int) (self->cells->len / N_CLASS_COLUMNS);
}

const char *
tagsight_results_page_get_class_cell (TagsightResultsPage *self, int row, int column)
{
  guint i = (guint) (row * N_CLASS_COLUMNS + column);

  g_return_val_if_fail (column >= 0 && column < N_CLASS_COLUMNS && i < self->cells->len, NULL);
  return g_ptr_array_index (self->cells, i);
}

TagsightChart *
tagsight_results_page_get_chart (TagsightResultsPage *self)
{
  return self->chart;
}

/* --- boilerplate ------------------------------------------------------------------ */

static void
tagsight_results_page_dispose (GObject *object)
{
  TagsightResultsPage *self = TAGSIGHT_RESULTS_PAGE (object);
  GtkWidget *child;

  g_clear_object (&self->training);
  g_clear_object (&self->dataset);
  gtk_widget_dispose_template (GTK_WIDGET (self), TAGSIGHT_TYPE_RESULTS_PAGE);
  /* the template's root is not a bound child: unparent it by hand */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (tagsight_results_page_parent_class)->dispose (object);
}

static void
tagsight_results_page_finalize (GObject *object)
{
  TagsightResultsPage *self = TAGSIGHT_RESULTS_PAGE (object);

  tagsight_preds_free (self->preds);
  if (self->have_sweep)
    ts_threshold_sweep_clear (&self->sweep);
  g_free (self->ap);
  g_free (self->class_thresh);
  g_ptr_array_unref (self->cells);
  g_free (self->values_text);
  g_free (self->error);
  G_OBJECT_CLASS (tagsight_results_page_parent_class)->finalize (object);
}

static void
tagsight_results_page_class_init (TagsightResultsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = tagsight_results_page_dispose;
  object_class->finalize = tagsight_results_page_finalize;
  g_type_ensure (TAGSIGHT_TYPE_CHART);
  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/tagsight/Tagsight/tagsight-results-page.ui");
  gtk_widget_class_bind_template_child (widget_class, TagsightResultsPage, stack);
  gtk_widget_class_bind_template_child (widget_class, TagsightResultsPage, empty_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightResultsPage, thresh_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightResultsPage, values_label);
  gtk_widget_class_bind_template_child (widget_class, TagsightResultsPage, summary_label);
  gtk_widget_class_bind_template_child (widget_class, TagsightResultsPage, chart);
  gtk_widget_class_bind_template_child (widget_class, TagsightResultsPage, per_class_switch);
  gtk_widget_class_bind_template_child (widget_class, TagsightResultsPage, class_grid);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_install_action (widget_class, "results.open-model", NULL, open_model_action);
  gtk_widget_class_install_action (widget_class, "results.use-best", NULL, use_best_action);

  signals[SIGNAL_THRESHOLDS_CHANGED] =
    g_signal_new ("thresholds-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL,
                  NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_READY] = g_signal_new ("ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_BOOLEAN);
}

static void
tagsight_results_page_init (TagsightResultsPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->cells = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (self->thresh_spin, "value-changed", G_CALLBACK (on_spin_changed), self);
  g_signal_connect (self->chart, "threshold-changed", G_CALLBACK (on_chart_threshold), self);
  g_signal_connect (self->per_class_switch, "notify::active", G_CALLBACK (on_per_class), self);
  tagsight_chart_set_threshold_visible (self->chart, TRUE);
  tagsight_chart_set_axis_titles (self->chart, _("threshold"), NULL);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->chart), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Threshold chart: accuracy_multi, F1, precision and recall "
                                    "on the validation set against the decision threshold, with "
                                    "the best threshold and the all-negative baseline; drag to "
                                    "choose the threshold"), -1);
}
