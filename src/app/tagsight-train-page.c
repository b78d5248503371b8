/* tagsight-train-page.c: the Train page (see tagsight-train-page.h). */
#include "tagsight-train-page.h"

#include "ts-backend-select.h"

#include <glib/gi18n.h>
#include <math.h>

#include "tagsight-settings.h"
#include "tagsight-file-chooser.h"

#define N_COLUMNS 6

static const char *const arch_names[] = {
  "resnet18", "resnet34", "resnet50", "mobilenet_v2", "tiny",
};

struct _TagsightTrainPage
{
  GtkWidget parent_instance;

  AdwComboRow *arch_row;
  AdwActionRow *device_row;
  GtkToggleButton *auto_button, *cpu_button, *cuda_button;
  AdwActionRow *precision_row;
  GtkSwitch *precision_switch;
  AdwActionRow *weights_row;
  GtkWidget *weights_clear_button;
  GtkSpinButton *threads_spin;
  GtkSpinButton *epochs_spin;
  GtkSpinButton *freeze_spin;
  GtkSpinButton *lr_spin;
  GtkSpinButton *bs_spin;
  GtkSpinButton *size_spin;
  GtkLabel *status_label;
  gboolean lr_finding;
  GtkProgressBar *progress;
  GtkStack *chart_stack;
  TagsightChart *chart;
  TagsightChart *lr_chart;
  GtkLabel *lr_label;
  GtkGrid *epoch_grid;

  TagsightDataset *dataset;
  TagsightTraining *training;
  char *pretrained;
  char *refusal;               /* why runs cannot start (a read-only project), or NULL */
  guint pulse_id;              /* the progress bar pulses while the LR finder runs */

  /* the run in progress */
  guint raw_series, smooth_series, valid_series, metric_series;
  int phase_offset;            /* epochs of the phases before the current one */
  int cur_phase_epochs;
  int run_freeze_epochs;       /* the running fine_tune's frozen phase length */
  int total_epochs;
  gboolean cur_frozen;
  /* continuing the run shown: its chart and table go on, less the batches
   * of the epoch it stopped in, dropped at the first batch */
  gboolean trim_pending;
  /* the run's first phase names its device: phase 0, or the second phase
   * of a run continued there (on the CPU after the GPU failed, say) */
  gboolean device_pending;
  GPtrArray *cells;            /* row-major strings of the epoch table */
  gint64 started_us;
  guint tick_id;
  gint64 last_frame_us;
  int n_frames;
  double sum_frame_ms, max_frame_ms;
  guint probe_id;              /* a 10 ms timeout: how late the main loop runs it */
  gint64 last_probe_us;
  double max_gap_ms;
  double max_gap_at_s;         /* when, from the start */
  double setup_gap_ms;         /* the longest before the first batch (set-up, page loads) */
  gboolean measuring;          /* the first batch has come: training proper */
};

G_DEFINE_FINAL_TYPE (TagsightTrainPage, tagsight_train_page, GTK_TYPE_WIDGET)

enum { SIGNAL_FINISHED, SIGNAL_CONTINUE_RUN, N_SIGNALS };
static guint signals[N_SIGNALS];

/* This page's jobs: training (its tick runs) and the LR finder; not another
 * page's evaluation, which Stop must not cancel. */
static gboolean
own_job_running (TagsightTrainPage *self)
{
  return tagsight_training_get_busy (self->training) && (self->tick_id != 0 || self->lr_finding);
}

static void
update_actions (TagsightTrainPage *self)
{
  GtkWidget *w = GTK_WIDGET (self);
  gboolean busy = tagsight_training_get_busy (self->training);
  gboolean usable = self->dataset != NULL && tagsight_dataset_get_datablock (self->dataset);

  gtk_widget_action_set_enabled (w, "train.start", usable && !busy && self->refusal == NULL);
  gtk_widget_action_set_enabled (w, "train.lr-find", usable && !busy);
  /* the LR finder stops at its next step too */
  gtk_widget_action_set_enabled (w, "train.stop", own_job_running (self));
  {
    g_autofree char *ckpt = tagsight_training_dup_resumable (self->training);

    gtk_widget_action_set_enabled (w, "train.continue",
                                   !busy && ckpt != NULL && self->refusal == NULL);
  }
  gtk_widget_action_set_enabled (w, "train.choose-weights", !busy);
  gtk_widget_action_set_enabled (w, "train.clear-weights", !busy);
}

void
tagsight_train_page_set_dataset (TagsightTrainPage *self, TagsightDataset *dataset)
{
  g_set_object (&self->dataset, dataset);
  update_actions (self);
}

TagsightTraining *
tagsight_train_page_get_training (TagsightTrainPage *self)
{
  return self->training;
}

void
tagsight_train_page_set_refusal (TagsightTrainPage *self, const char *why)
{
  if (g_strcmp0 (why, self->refusal) == 0)
    return;
  /* the status line says why Start is greyed out, and forgets it after */
  if (!tagsight_training_get_busy (self->training)
      && (why != NULL
          || g_strcmp0 (gtk_label_get_text (self->status_label), self->refusal) == 0))
    gtk_label_set_text (self->status_label, why != NULL ? why : "");
  g_free (self->refusal);
  self->refusal = g_strdup (why);
  update_actions (self);
}

/* --- settings ---------------------------------------------------------- */

void
tagsight_train_page_set_pretrained (TagsightTrainPage *self, const char *path)
{
  g_autofree char *base = path != NULL ? g_path_get_basename (path) : NULL;

  g_free (self->pretrained);
  self->pretrained = g_strdup (path);
  adw_action_row_set_subtitle (self->weights_row,
                               base != NULL ? base : _("None: random initialisation"));
  gtk_widget_set_visible (self->weights_clear_button, path != NULL);
}

/* The device the buttons show, which is what runs: the setting they write
 * may say otherwise (a saved CUDA that gave way to Automatic in a window
 * without a usable GPU, on_cuda_probed; no schema to keep it in) */
static const char *
chosen_device (TagsightTrainPage *self)
{
  return gtk_toggle_button_get_active (self->cpu_button)    ? "cpu"
         : gtk_toggle_button_get_active (self->cuda_button) ? "cuda"
                                                            : "auto";
}

void
tagsight_train_page_get_settings (TagsightTrainPage *self, TagsightTrainSettings *out)
{
  guint arch = adw_combo_row_get_selected (self->arch_row);

  tagsight_train_settings_init (out);
  g_free (out->arch);
  out->arch = g_strdup (arch_names[MIN (arch, G_N_ELEMENTS (arch_names) - 1)]);
  out->pretrained = g_strdup (self->pretrained);
  out->epochs = gtk_spin_button_get_value_as_int (self->epochs_spin);
  out->freeze_epochs = gtk_spin_button_get_value_as_int (self->freeze_spin);
  out->lr = gtk_spin_button_get_value (self->lr_spin);
  out->bs = gtk_spin_button_get_value_as_int (self->bs_spin);
  out->size = gtk_spin_button_get_value_as_int (self->size_spin);
  out->threads = gtk_spin_button_get_value_as_int (self->threads_spin);
  out->device = g_strdup (chosen_device (self));
  /* what the switch shows is what runs (it starts from the setting) */
  out->precision = gtk_switch_get_active (self->precision_switch) ? TS_PRECISION_BF16
                                                                 : TS_PRECISION_F32;
  if (self->dataset != NULL)
    {
      const TagsightMapping *m = tagsight_dataset_get_mapping (self->dataset);

      out->csv = g_strdup (tagsight_dataset_get_path (self->dataset));
      out->has_mapping = TRUE;
      out->fname_col = g_strdup (m->fname_col);
      out->labels_col = g_strdup (m->labels_col);
      out->label_delim = g_strdup (m->label_delim);
      out->image_dir = g_strdup (m->image_dir);
      out->split = m->split;
      out->split_col = g_strdup (m->split_col);
      out->valid_pct = m->valid_pct;
    }
}

void
tagsight_train_page_set_settings (TagsightTrainPage *self, const TagsightTrainSettings *s)
{
  for (guint i = 0; i < G_N_ELEMENTS (arch_names); i++)
    if (g_strcmp0 (s->arch, arch_names[i]) == 0)
      adw_combo_row_set_selected (self->arch_row, i);
  tagsight_train_page_set_pretrained (self, s->pretrained);
  gtk_spin_button_set_value (self->epochs_spin, s->epochs);
  gtk_spin_button_set_value (self->freeze_spin, s->freeze_epochs);
  gtk_spin_button_set_value (self->lr_spin, s->lr);
  gtk_spin_button_set_value (self->bs_spin, s->bs);
  gtk_spin_button_set_value (self->size_spin, s->size);
  gtk_spin_button_set_value (self->threads_spin, s->threads);
}

double
tagsight_train_page_get_lr (TagsightTrainPage *self)
{
  return gtk_spin_button_get_value (self->lr_spin);
}

/* --- the epoch table ---------------------------------------------------- */

static void
add_row (TagsightTrainPage *self, const char *const *texts, gboolean header)
{
  int row = (int) (self->cells->len / N_COLUMNS) + 1;

  for (int c = 0; c < N_COLUMNS; c++)
    {
      GtkWidget *label = gtk_label_new (texts[c]);

      gtk_label_set_xalign (GTK_LABEL (label), c == 0 ? 0 : 1);
      gtk_widget_add_css_class (label, header ? "heading" : "numeric");
      gtk_grid_attach (self->epoch_grid, label, c, header ? 0 : row, 1, 1);
      if (!header)
        g_ptr_array_add (self->cells, g_strdup (texts[c]));
    }
}

static void
clear_table (TagsightTrainPage *self)
{
  const char *header[N_COLUMNS] = {
    _("epoch"), _("phase"), _("train_loss"), _("valid_loss"), _("accuracy_multi"), _("time"),
  };
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->epoch_grid))) != NULL)
    gtk_grid_remove (self->epoch_grid, child);
  g_ptr_array_set_size (self->cells, 0);
  add_row (self, header, TRUE);
}

int
tagsight_train_page_get_n_epoch_rows (TagsightTrainPage *self)
{
  return (int) (self->cells->len / N_COLUMNS);
}

const char *
tagsight_train_page_get_device_text (TagsightTrainPage *self)
{
  return adw_action_row_get_subtitle (self->device_row);
}

const char *
tagsight_train_page_get_status_text (TagsightTrainPage *self)
{
  return gtk_label_get_text (self->status_label);
}

const char *
tagsight_train_page_get_epoch_cell (TagsightTrainPage *self, int row, int column)
{
  guint i = (guint) (row * N_COLUMNS + column);

  g_return_val_if_fail (column >= 0 && column < N_COLUMNS && i < self->cells->len, NULL);
  return g_ptr_array_index (self->cells, i);
}

TagsightChart *
tagsight_train_page_get_chart (TagsightTrainPage *self)
{
  return self->chart;
}

TagsightChart *
tagsight_train_page_get_lr_chart (TagsightTrainPage *self)
{
  return self->lr_chart;
}

/* --- frame times: how responsive the window stays while training ------- */

static gboolean
on_tick (GtkWidget *widget, GdkFrameClock *clock, gpointer data)
{
  TagsightTrainPage *self = TAGSIGHT_TRAIN_PAGE (widget);
  gint64 now = g_get_monotonic_time ();

  if (self->last_frame_us > 0)
    {
      double ms = (now - self->last_frame_us) / 1000.0;

      self->n_frames++;
      self->sum_frame_ms += ms;
      self->max_frame_ms = MAX (self->max_frame_ms, ms);
    }
  self->last_frame_us = now;
  return G_SOURCE_CONTINUE;
}

static gboolean
on_probe (gpointer data)
{
  TagsightTrainPage *self = data;
  gint64 now = g_get_monotonic_time ();

  if (self->last_probe_us > 0 && (now - self->last_probe_us) / 1000.0 > self->max_gap_ms)
    {
      self->max_gap_ms = (now - self->last_probe_us) / 1000.0;
      self->max_gap_at_s = (now - self->started_us) / 1e6;
    }
  self->last_probe_us = now;
  return G_SOURCE_CONTINUE;
}

double
tagsight_train_page_get_max_main_loop_gap (TagsightTrainPage *self)
{
  return self->max_gap_ms;
}

void
tagsight_train_page_get_frame_times (TagsightTrainPage *self, int *n_frames, double *mean_ms,
                                     double *max_ms)
{
  *n_frames = self->n_frames;
  *mean_ms = self->n_frames > 0 ? self->sum_frame_ms / self->n_frames : NAN;
  *max_ms = self->n_frames > 0 ? self->max_frame_ms : NAN;
}

static void
stop_ticks (TagsightTrainPage *self)
{
  if (self->tick_id != 0)
    gtk_widget_remove_tick_callback (GTK_WIDGET (self), self->tick_id);
  self->tick_id = 0;
  g_clear_handle_id (&self->probe_id, g_source_remove);
}

/* --- training ----------------------------------------------------------- */

static void
reset_chart (TagsightTrainPage *self)
{
  GdkRGBA raw, smooth, valid, metric;

  gdk_rgba_parse (&raw, "rgba(53,132,228,0.35)");
  gdk_rgba_parse (&smooth, "#1c71d8");
  gdk_rgba_parse (&valid, "#ff7800");
  gdk_rgba_parse (&metric, "#2ec27e");
  tagsight_chart_clear (self->chart);
  self->raw_series = tagsight_chart_add_line (self->chart, _("train loss"), NULL, NULL, 0,
                                              &raw, 1);
  self->smooth_series = tagsight_chart_add_line (self->chart, _("smoothed"), NULL, NULL, 0,
                                                 &smooth, 2);
  self->valid_series = tagsight_chart_add_line (self->chart, _("valid loss"), NULL, NULL, 0,
                                                &valid, 2.5);
  self->metric_series = tagsight_chart_add_line (self->chart, _("accuracy_multi"), NULL, NULL,
                                                 0, &metric, 2.5);
  tagsight_chart_set_x_range (self->chart, 0, MAX (self->total_epochs, 1));
  tagsight_chart_set_y_range (self->chart, 0, NAN);
}

static void
on_phase (TagsightTraining *training, const ts_phase_event *ev, TagsightTrainPage *self)
{
  /* fine_tune's second phase follows its frozen epochs (also when a resumed
   * run's first event is that phase's) */
  self->phase_offset = ev->phase > 0 ? self->run_freeze_epochs : 0;
  self->cur_phase_epochs = ev->n_epochs;
  self->cur_frozen = ev->frozen;
  if (self->device_pending)
    {
      g_autofree char *device = tagsight_training_dup_device_name (training);
      g_autofree char *text = g_strdup_printf (_("Training on %s…"), device ? device : "?");

      g_autofree char *used =
        tagsight_training_get_device_resample (training)
          ? g_strdup_printf (_("This run: %s, which also resizes and augments the images"),
                             device ? device : "?")
          : g_strdup_printf (_("This run: %s"), device ? device : "?");

      gtk_label_set_text (self->status_label, text);
      adw_action_row_set_subtitle (self->device_row, used);
      self->device_pending = FALSE;
    }
  /* fine_tune's boundary: the body starts learning here (once: a run
   * continued in its second phase has it already) */
  if (ev->phase > 0 && !ev->frozen)
    {
      tagsight_chart_clear_markers (self->chart);
      tagsight_chart_add_marker (self->chart, self->phase_offset, _("unfrozen"), NULL);
    }
}

static void
format_time (double seconds, char *buf, gsize size)
{
  int s = (int) round (seconds);

  g_snprintf (buf, size, "%02d:%02d", s / 60, s % 60);
}

static void
on_batch (TagsightTraining *training, const ts_batch_event *ev, TagsightTrainPage *self)
{
  double x = self->phase_offset + ev->epoch + (ev->batch + 1.0) / MAX (ev->n_batches, 1);
  double frac = x / MAX (self->total_epochs, 1);
  double elapsed = (g_get_monotonic_time () - self->started_us) / 1e6;
  char left[32], text[192], epoch[64], batch[64];

  if (self->trim_pending)
    {
      double from = self->phase_offset + ev->epoch;
      guint series[] = { self->raw_series, self->smooth_series, self->valid_series,
                         self->metric_series };

      self->trim_pending = FALSE;
      for (guint i = 0; i < G_N_ELEMENTS (series); i++)
        tagsight_chart_truncate_line (self->chart, series[i], from);
    }
  /* frame times count from the first batch: before it, the session is being
   * set up and the pages that just got data lay themselves out */
  if (!self->measuring)
    {
      self->measuring = TRUE;
      self->setup_gap_ms = self->max_gap_ms;
      self->n_frames = 0;
      self->sum_frame_ms = self->max_frame_ms = 0;
      self->max_gap_ms = 0;
    }
  if (isfinite (ev->loss))
    tagsight_chart_append_point (self->chart, self->raw_series, x, ev->loss);
  if (isfinite (ev->smooth_loss))
    tagsight_chart_append_point (self->chart, self->smooth_series, x, ev->smooth_loss);
  gtk_progress_bar_set_fraction (self->progress, CLAMP (frac, 0, 1));
  format_time (frac > 0 ? elapsed / frac * (1 - frac) : 0, left, sizeof left);
  /* TRANSLATORS: part of the progress text "Frozen epoch 2 of 5, batch 7 of 40 — 01:10 left";
   * the plural form follows the number of epochs (the second number) */
  g_snprintf (epoch, sizeof epoch, ngettext ("epoch %d of %d", "epoch %d of %d", ev->n_epochs),
              ev->epoch + 1, ev->n_epochs);
  /* TRANSLATORS: part of the progress text "Frozen epoch 2 of 5, batch 7 of 40 — 01:10 left";
   * the plural form follows the number of batches (the second number) */
  g_snprintf (batch, sizeof batch, ngettext ("batch %d of %d", "batch %d of %d", ev->n_batches),
              ev->batch + 1, ev->n_batches);
  /* TRANSLATORS: the progress text: the phase (Frozen or Unfrozen), "epoch 2 of 5",
   * "batch 7 of 40" and the time left; reorder with %1$s … %4$s */
  g_snprintf (text, sizeof text, _("%s %s, %s — %s left"),
              self->cur_frozen ? _("Frozen") : _("Unfrozen"), epoch, batch, left);
  gtk_progress_bar_set_text (self->progress, text);
}

static void
on_epoch (TagsightTraining *training, const ts_epoch_event *ev, TagsightTrainPage *self)
{
  double x = self->phase_offset + ev->epoch + 1;
  char cols[N_COLUMNS][32];
  const char *texts[N_COLUMNS];

  if (isfinite (ev->valid_loss))
    tagsight_chart_append_point (self->chart, self->valid_series, x, ev->valid_loss);
  if (isfinite (ev->accuracy_multi))
    tagsight_chart_append_point (self->chart, self->metric_series, x, ev->accuracy_multi);
  /* fastai's table: epochs count from 0 within each fit */
  g_snprintf (cols[0], 32, "%d", ev->epoch);
  g_strlcpy (cols[1], self->cur_frozen ? _("frozen") : _("unfrozen"), 32);
  g_snprintf (cols[2], 32, "%.6f", ev->train_loss);
  g_snprintf (cols[3], 32, "%.6f", ev->valid_loss);
  g_snprintf (cols[4], 32, "%.6f", ev->accuracy_multi);
  format_time (ev->seconds, cols[5], 32);
  for (int c = 0; c < N_COLUMNS; c++)
    texts[c] = cols[c];
  add_row (self, texts, FALSE);
}

static void
on_finished (TagsightTraining *training, int status, const char *message,
             TagsightTrainPage *self)
{
  /* the run's completed epochs, those before a Continue too */
  int done = tagsight_train_page_get_n_epoch_rows (self);
  g_autofree char *text = NULL;
  /* what Continue would go on from (the wording follows the button) */
  g_autofree char *resumable = tagsight_training_dup_resumable (training);
  long fallbacks;
  int n;
  double mean_ms, max_ms;

  stop_ticks (self);
  tagsight_train_page_get_frame_times (self, &n, &mean_ms, &max_ms);
  g_debug ("frame times while training: %d frames, mean %.1f ms, max %.1f ms; longest main "
           "loop stall %.1f ms, %.1f s into the run (%.1f s; %.1f ms before the first batch)",
           n, mean_ms, max_ms, self->max_gap_ms, self->max_gap_at_s,
           (g_get_monotonic_time () - self->started_us) / 1e6, self->setup_gap_ms);
  if (status != TS_OK)
    gtk_progress_bar_set_text (self->progress, status == TS_ERR_CANCELLED ? _("Stopped")
                                                                          : _("Failed"));
  if (status == TS_OK)
    {
      text = g_strdup_printf (ngettext ("Finished: %d epoch", "Finished: %d epochs", done), done);
      gtk_progress_bar_set_fraction (self->progress, 1);
      gtk_progress_bar_set_text (self->progress, _("Done"));
    }
  else if (status == TS_ERR_CANCELLED)
    text = resumable != NULL ? g_strdup_printf (_("Stopped: the model has the weights of the last "
                                         "completed epoch (%d)"), done)
                    : g_strdup (_("Stopped before the first epoch ended"));
  else if (status == TS_ERR_DEVICE)
    /* the GPU failed (out of memory, a lost device): the app goes on; the
     * message has the engine's advice for the kind of failure (a smaller
     * batch for memory), this the way on from here */
    text = resumable != NULL ? g_strdup_printf (_("Training failed on the GPU: %s. Choose the CPU above "
                                         "and press Continue to go on from the last completed "
                                         "epoch."), message != NULL ? message : "")
                    : g_strdup_printf (_("Training failed on the GPU: %s. No epoch was "
                                         "completed: choose the CPU above and press Start."),
                                       message != NULL ? message : "");
  else
    text = g_strdup_printf (_("Training failed: %s"), message != NULL ? message : "");
  if (status == TS_ERR_CANCELLED && message != NULL)
    {
      g_free (text);
      text = g_strdup (message);
    }
  fallbacks = tagsight_training_get_bf16_fallbacks (training);
  if (fallbacks > 0)
    {
      /* slower layers, not wrong ones: said, so that the run's speed is
       * read for what it measured */
      g_autofree char *note = g_strdup_printf (
        ngettext ("%ld convolution call ran in float32: cuDNN has no bfloat16 algorithm for "
                  "its layer.",
                  "%ld convolution calls ran in float32: cuDNN has no bfloat16 algorithm for "
                  "their layers.", fallbacks), fallbacks);
      char *both = g_strdup_printf (g_str_has_suffix (text, ".") ? "%s %s" : "%s. %s", text,
                                    note);

      g_free (text);
      text = both;
    }
  gtk_label_set_text (self->status_label, text);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->status_label), text);
  update_actions (self);
  g_signal_emit (self, signals[SIGNAL_FINISHED], 0, status, message);
}

/* Starts a run of @s (a fresh fine_tune, or one continuing from
 * @checkpoint) and sets the page up to follow it. */
static gboolean
begin_run (TagsightTrainPage *self, const TagsightTrainSettings *s, const char *checkpoint)
{
  g_autofree char *shown = tagsight_training_dup_resumable (self->training);
  gboolean ok;

  if (tagsight_training_get_busy (self->training))
    return FALSE;
  if (self->refusal != NULL)
    {
      gtk_label_set_text (self->status_label, self->refusal);
      return FALSE;
    }
  self->phase_offset = 0;
  self->cur_phase_epochs = 0;
  self->run_freeze_epochs = s->freeze_epochs;
  self->cur_frozen = s->freeze_epochs > 0;
  self->total_epochs = s->epochs + s->freeze_epochs;
  /* the last run, continued from where it stopped, keeps its chart and table */
  self->trim_pending = checkpoint != NULL && g_strcmp0 (checkpoint, shown) == 0;
  self->device_pending = TRUE;
  if (!self->trim_pending)
    {
      reset_chart (self);
      clear_table (self);
    }
  gtk_stack_set_visible_child_name (self->chart_stack, "training");
  ok = checkpoint != NULL ? tagsight_training_resume (self->training, s, checkpoint)
                          : tagsight_training_start (self->training, s);
  if (!ok)
    return FALSE;
  self->started_us = g_get_monotonic_time ();
  self->n_frames = 0;
  self->sum_frame_ms = self->max_frame_ms = 0;
  self->last_frame_us = 0;
  stop_ticks (self);
  self->tick_id = gtk_widget_add_tick_callback (GTK_WIDGET (self), on_tick, NULL, NULL);
  self->max_gap_ms = 0;
  self->setup_gap_ms = 0;
  self->measuring = FALSE;
  self->last_probe_us = 0;
  self->probe_id = g_timeout_add (10, on_probe, self);
  gtk_progress_bar_set_fraction (self->progress, 0);
  gtk_progress_bar_set_text (self->progress, _("Preparing the data and the model…"));
  gtk_label_set_text (self->status_label, checkpoint != NULL
                      ? _("Continuing from the last completed epoch…") : _("Training…"));
  update_actions (self);
  return TRUE;
}

gboolean
tagsight_train_page_start (TagsightTrainPage *self)
{
  TagsightTrainSettings s;
  gboolean ok;

  if (tagsight_training_get_busy (self->training) || self->dataset == NULL)
    return FALSE;
  tagsight_train_page_get_settings (self, &s);
  tagsight_settings_set_int ("threads", s.threads);
  ok = begin_run (self, &s, NULL);
  tagsight_train_settings_clear (&s);
  return ok;
}

gboolean
tagsight_train_page_resume (TagsightTrainPage *self, const TagsightTrainSettings *settings,
                            const char *checkpoint)
{
  TagsightTrainSettings s = *settings;

  /* the device chosen now: a run that failed on the GPU goes on on the CPU */
  s.device = (char *) chosen_device (self);
  return begin_run (self, &s, checkpoint);
}

/* Continues the last run from its last completed epoch (it was stopped or
 * failed, a lost GPU say) with its own settings on the device chosen now.
 * A project's run is continued by whoever records it ("continue-run"), in
 * the same run, as the Runs page's Resume does. */
static gboolean
continue_last_run (TagsightTrainPage *self)
{
  TagsightTrainSettings s;
  g_autofree char *ckpt = tagsight_training_dup_resumable (self->training);
  gint64 run_id = tagsight_training_get_resumable_run (self->training);
  gboolean ok, handled = FALSE;

  if (ckpt == NULL || tagsight_training_get_busy (self->training))
    return FALSE;
  if (run_id != 0)
    g_signal_emit (self, signals[SIGNAL_CONTINUE_RUN], 0, run_id, ckpt, &handled);
  if (handled)
    return TRUE;
  if (!tagsight_training_dup_last_settings (self->training, &s))
    return FALSE;
  ok = tagsight_train_page_resume (self, &s, ckpt);
  tagsight_train_settings_clear (&s);
  return ok;
}

void
tagsight_train_page_stop (TagsightTrainPage *self)
{
  if (!own_job_running (self))
    return;
  tagsight_training_stop (self->training);
  /* the LR finder says so under its own plot; training in the status line */
  gtk_label_set_text (self->lr_finding ? self->lr_label : self->status_label,
                      _("Stopping at the end of this batch…"));
}

gboolean
tagsight_train_page_get_busy (TagsightTrainPage *self)
{
  return tagsight_training_get_busy (self->training);
}

gboolean
tagsight_train_page_get_running (TagsightTrainPage *self)
{
  return own_job_running (self);
}

/* --- the LR finder ------------------------------------------------------ */

static void
on_lr_picked (TagsightChart *chart, double lr, TagsightTrainPage *self)
{
  gtk_spin_button_set_value (self->lr_spin, lr);
}

static void
on_lr_found (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (TagsightTrainPage) self = data;
  g_autoptr (GError) error = NULL;
  const ts_lr_find_result *r =
    tagsight_training_lr_find_finish (TAGSIGHT_TRAINING (source), result, &error);
  g_autofree char *text = NULL;
  GdkRGBA valley, steep;

  self->lr_finding = FALSE;
  g_clear_handle_id (&self->pulse_id, g_source_remove);
  if (self->progress == NULL)
    return;   /* disposed meanwhile */
  gtk_progress_bar_set_fraction (self->progress, 0);
  gtk_progress_bar_set_text (self->progress, "");
  update_actions (self);
  if (r == NULL)
    {
      if (g_error_matches (error, TAGSIGHT_TRAINING_ERROR, TS_ERR_CANCELLED))
        text = g_strdup (_("The LR finder was stopped."));
      else
        text = g_strdup_printf (_("The LR finder failed: %s"), error->message);
      gtk_label_set_text (self->lr_label, text);
      return;
    }
  gdk_rgba_parse (&valley, "#2ec27e");
  gdk_rgba_parse (&steep, "#9141ac");
  tagsight_chart_clear (self->lr_chart);
  tagsight_chart_add_line (self->lr_chart, _("smoothed loss"), r->lrs, r->losses, r->n, NULL, 2);
  if (isfinite (r->valley))
    tagsight_chart_add_marker (self->lr_chart, r->valley, _("valley"), &valley);
  if (isfinite (r->steep))
    tagsight_chart_add_marker (self->lr_chart, r->steep, _("steep"), &steep);
  tagsight_chart_set_threshold_visible (self->lr_chart, TRUE);
  if (isfinite (r->valley))
    {
      tagsight_chart_set_threshold (self->lr_chart, r->valley);
      gtk_spin_button_set_value (self->lr_spin, r->valley);
      text = g_strdup_printf (_("Suggestions: valley %.2g, steep %.2g (the learning rate is set "
                                "to the valley). Click or drag on the plot to pick another."),
                              r->valley, r->steep);
    }
  else
    text = g_strdup (_("Too few points for a suggestion: the loss diverged early."));
  gtk_label_set_text (self->lr_label, text);
}

static gboolean
pulse (gpointer data)
{
  gtk_progress_bar_pulse (TAGSIGHT_TRAIN_PAGE (data)->progress);
  return G_SOURCE_CONTINUE;
}

static void
lr_find_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  TagsightTrainPage *self = TAGSIGHT_TRAIN_PAGE (widget);
  TagsightTrainSettings s;

  if (tagsight_training_get_busy (self->training) || self->dataset == NULL)
    return;
  tagsight_train_page_get_settings (self, &s);
  self->lr_finding = TRUE;
  gtk_label_set_text (self->lr_label, _("Running the LR finder…"));
  gtk_progress_bar_set_text (self->progress, _("Running the LR finder…"));
  g_clear_handle_id (&self->pulse_id, g_source_remove);
  self->pulse_id = g_timeout_add (120, pulse, self);
  gtk_stack_set_visible_child_name (self->chart_stack, "lr-find");
  tagsight_training_lr_find_async (self->training, &s, NULL, on_lr_found, g_object_ref (self));
  tagsight_train_settings_clear (&s);
  update_actions (self);
}

/* --- actions ------------------------------------------------------------ */

static void
start_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  tagsight_train_page_start (TAGSIGHT_TRAIN_PAGE (widget));
}

static void
continue_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  continue_last_run (TAGSIGHT_TRAIN_PAGE (widget));
}

static void
stop_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  tagsight_train_page_stop (TAGSIGHT_TRAIN_PAGE (widget));
}

static void
on_weights_chosen (const char *path, gpointer self)
{
  if (path != NULL)
    tagsight_train_page_set_pretrained (self, path);
}

static void
choose_weights_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  static const char *const weights[] = { "*.safetensors", "*.pth", "*.tflite", NULL };
  const TagsightChooserFilter filters[] = {
    { _("Weights (.safetensors, .pth, .tflite)"), weights }, { NULL } };
  const TagsightChooser c = { _("Pretrained Weights"), GTK_FILE_CHOOSER_ACTION_OPEN, _("_Open"),
                              .filters = filters };

  tagsight_choose_file (widget, &c, on_weights_chosen, g_object_ref (widget), g_object_unref);
}

static void
clear_weights_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  tagsight_train_page_set_pretrained (TAGSIGHT_TRAIN_PAGE (widget), NULL);
}

/* --- boilerplate -------------------------------------------------------- */

static void
tagsight_train_page_dispose (GObject *object)
{
  TagsightTrainPage *self = TAGSIGHT_TRAIN_PAGE (object);
  GtkWidget *child;

  stop_ticks (self);
  g_clear_handle_id (&self->pulse_id, g_source_remove);
  if (self->training != NULL)
    {
      /* a run in progress keeps the training alive and finishes on its own */
      tagsight_training_stop (self->training);
      g_signal_handlers_disconnect_by_data (self->training, self);
      g_clear_object (&self->training);
    }
  g_clear_object (&self->dataset);
  gtk_widget_dispose_template (GTK_WIDGET (self), TAGSIGHT_TYPE_TRAIN_PAGE);
  /* the template's root is not a bound child: unparent it by hand */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (tagsight_train_page_parent_class)->dispose (object);
}

static void
tagsight_train_page_finalize (GObject *object)
{
  TagsightTrainPage *self = TAGSIGHT_TRAIN_PAGE (object);

  g_free (self->pretrained);
  g_free (self->refusal);
  g_ptr_array_unref (self->cells);
  G_OBJECT_CLASS (tagsight_train_page_parent_class)->finalize (object);
}

static void
tagsight_train_page_class_init (TagsightTrainPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = tagsight_train_page_dispose;
  object_class->finalize = tagsight_train_page_finalize;
  g_type_ensure (TAGSIGHT_TYPE_CHART);
  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/tagsight/Tagsight/tagsight-train-page.ui");
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, arch_row);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, device_row);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, auto_button);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, cpu_button);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, cuda_button);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, precision_row);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, precision_switch);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, weights_row);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, weights_clear_button);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, threads_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, epochs_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, freeze_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, lr_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, bs_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, size_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, status_label);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, progress);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, chart_stack);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, chart);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, lr_chart);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, lr_label);
  gtk_widget_class_bind_template_child (widget_class, TagsightTrainPage, epoch_grid);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);

  gtk_widget_class_install_action (widget_class, "train.start", NULL, start_action);
  gtk_widget_class_install_action (widget_class, "train.stop", NULL, stop_action);
  gtk_widget_class_install_action (widget_class, "train.continue", NULL, continue_action);
  gtk_widget_class_install_action (widget_class, "train.lr-find", NULL, lr_find_action);
  gtk_widget_class_install_action (widget_class, "train.choose-weights", NULL,
                                   choose_weights_action);
  gtk_widget_class_install_action (widget_class, "train.clear-weights", NULL,
                                   clear_weights_action);

  signals[SIGNAL_FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                           2, G_TYPE_INT, G_TYPE_STRING);
  signals[SIGNAL_CONTINUE_RUN] =
    g_signal_new ("continue-run", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  g_signal_accumulator_true_handled, NULL, NULL, G_TYPE_BOOLEAN, 2, G_TYPE_INT64,
                  G_TYPE_STRING);
}

/* The device buttons write the setting that the next run reads. */
static void
on_device_toggled (GtkToggleButton *button, TagsightTrainPage *self)
{
  if (!gtk_toggle_button_get_active (button))
    return;
  tagsight_settings_set_string ("default-device", chosen_device (self));
}

/* The precision switch writes the setting too, so the next start has it. */
static void
on_precision_toggled (GtkSwitch *sw, GParamSpec *pspec, TagsightTrainPage *self)
{
  tagsight_settings_set_string ("precision",
                                ts_precision_name (gtk_switch_get_active (sw) ? TS_PRECISION_BF16
                                                                              : TS_PRECISION_F32));
}

/* a control no run of a build without CUDA could use: insensitive, saying why */
static void
grey_out_without_cuda (GtkWidget *w)
{
  gtk_widget_set_sensitive (w, FALSE);
  gtk_widget_set_tooltip_text (w, _("Not built: this Tagsight has no CUDA backend"));
}

/* Whether "cuda" would find a GPU, off the main thread: loading the driver
 * may take a moment.  Returns the reason it would not, or NULL. */
static void
probe_cuda_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  char why[512];

  if (ts_backend_cuda_usable (why, sizeof why))
    g_task_return_pointer (task, NULL, NULL);
  else
    g_task_return_pointer (task, g_strdup (why), g_free);
}

/* A build with CUDA on a machine without a usable GPU (no driver, say):
 * the CUDA button greyed out, saying why, before a run could fail on it.
 * A saved choice of CUDA gives way to Automatic for this window only: the
 * setting stays for when the GPU is back. */
static void
on_cuda_probed (GObject *source, GAsyncResult *result, gpointer data)
{
  TagsightTrainPage *self = TAGSIGHT_TRAIN_PAGE (source);
  g_autofree char *why = g_task_propagate_pointer (G_TASK (result), NULL);
  g_autofree char *tip = NULL;

  /* (the task holds the page: one closed meanwhile is not disposed yet) */
  if (why == NULL)
    return;
  if (gtk_toggle_button_get_active (self->cuda_button))
    {
      g_signal_handlers_block_by_func (self->auto_button, on_device_toggled, self);
      gtk_toggle_button_set_active (self->auto_button, TRUE);
      g_signal_handlers_unblock_by_func (self->auto_button, on_device_toggled, self);
    }
  gtk_widget_set_sensitive (GTK_WIDGET (self->cuda_button), FALSE);
  /* TRANSLATORS: the CUDA button's tooltip; %s is why no GPU can be used */
  tip = g_strdup_printf (_("Unavailable: %s"), why);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->cuda_button), tip);
}

static void
setup_precision_switch (TagsightTrainPage *self)
{
  g_autofree char *precision = tagsight_settings_dup_string ("precision", "fp32");

  /* without a CUDA backend no run could use it: off and greyed out, saying
   * why, and the setting kept for a build that has one */
  if (!ts_backend_have_cuda ())
    {
      grey_out_without_cuda (GTK_WIDGET (self->precision_row));
      return;
    }
  gtk_switch_set_active (self->precision_switch,
                         ts_precision_from_name (precision) == TS_PRECISION_BF16);
  g_signal_connect (self->precision_switch, "notify::active", G_CALLBACK (on_precision_toggled),
                    self);
}

static void
tagsight_train_page_init (TagsightTrainPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->cells = g_ptr_array_new_with_free_func (g_free);
  self->training = tagsight_training_new ();
  g_signal_connect (self->training, "phase", G_CALLBACK (on_phase), self);
  g_signal_connect (self->training, "batch", G_CALLBACK (on_batch), self);
  g_signal_connect (self->training, "epoch", G_CALLBACK (on_epoch), self);
  g_signal_connect (self->training, "finished", G_CALLBACK (on_finished), self);
  /* one-shot jobs (an evaluation after a run, an open) end without "finished" */
  g_signal_connect_swapped (self->training, "notify::busy", G_CALLBACK (update_actions), self);
  g_signal_connect (self->lr_chart, "threshold-changed", G_CALLBACK (on_lr_picked), self);
  gtk_spin_button_set_value (self->threads_spin, tagsight_settings_get_int ("threads", 0));
  {
    g_autofree char *device = tagsight_settings_dup_string ("default-device", "auto");

    if (!ts_backend_have_cuda ())
      grey_out_without_cuda (GTK_WIDGET (self->cuda_button));
    if (g_strcmp0 (device, "cpu") == 0)
      gtk_toggle_button_set_active (self->cpu_button, TRUE);
    else if (g_strcmp0 (device, "cuda") == 0 && ts_backend_have_cuda ())
      gtk_toggle_button_set_active (self->cuda_button, TRUE);
    else
      gtk_toggle_button_set_active (self->auto_button, TRUE);
    g_signal_connect (self->auto_button, "toggled", G_CALLBACK (on_device_toggled), self);
    g_signal_connect (self->cpu_button, "toggled", G_CALLBACK (on_device_toggled), self);
    g_signal_connect (self->cuda_button, "toggled", G_CALLBACK (on_device_toggled), self);
    if (ts_backend_have_cuda ())
      {
        g_autoptr (GTask) task = g_task_new (self, NULL, on_cuda_probed, NULL);
        g_task_run_in_thread (task, probe_cuda_thread);
      }
  }
  setup_precision_switch (self);
  clear_table (self);
  self->total_epochs = 7;
  reset_chart (self);
  tagsight_chart_set_axis_titles (self->chart, _("epoch"), _("loss / accuracy_multi"));
  tagsight_chart_set_log_x (self->lr_chart, TRUE);
  tagsight_chart_set_axis_titles (self->lr_chart, _("learning rate (log scale)"), _("loss"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->chart), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("Training chart: training loss per batch, raw and smoothed, "
                                    "validation loss and accuracy_multi per epoch"), -1);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self->lr_chart), GTK_ACCESSIBLE_PROPERTY_LABEL,
                                  _("LR finder chart: smoothed loss against the learning rate "
                                    "on a log axis, with the valley and steep suggestions"), -1);
  update_actions (self);
}
