/* tagsight-export-page.c: the Export and Predict page (see tagsight-export-page.h). */
#include "tagsight-export-page.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <math.h>
#include <unistd.h>

#include "tagsight-settings.h"
#include "tagsight-file-chooser.h"

struct _TagsightExportPage
{
  GtkWidget parent_instance;

  AdwActionRow *save_row;
  AdwActionRow *onnx_row;
  AdwPreferencesGroup *predict_group;
  GtkLabel *thresh_label;
  GtkListBox *list;

  TagsightTraining *training;
  double thresh;
  float *class_thresh;
  int n_class_thresh;
  gboolean per_class;
  char *snapshot;              /* the model file Predict reads */
  GPtrArray *texts;            /* one per prediction shown */
  gboolean predicting;
};

G_DEFINE_FINAL_TYPE (TagsightExportPage, tagsight_export_page, GTK_TYPE_WIDGET)

enum { SIGNAL_SAVED, SIGNAL_PREDICTED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
update_thresh_label (TagsightExportPage *self)
{
  g_autofree char *text = NULL;

  if (self->per_class && self->class_thresh != NULL)
    text = g_strdup (_("Labels are shown over each class’s own threshold (from Results)."));
  else if (self->thresh >= 0)
    text = g_strdup_printf (_("Labels are shown over the threshold %.2f chosen on Results."),
                            self->thresh);
  else
    text = g_strdup (_("Labels are shown over the threshold training used."));
  gtk_label_set_text (self->thresh_label, text);
}

void
tagsight_export_page_set_training (TagsightExportPage *self, TagsightTraining *training)
{
  g_set_object (&self->training, training);
}

void
tagsight_export_page_set_thresholds (TagsightExportPage *self, double thresh,
                                     const float *class_thresh, int n, gboolean per_class)
{
  self->thresh = thresh;
  g_clear_pointer (&self->class_thresh, g_free);
  self->n_class_thresh = 0;
  if (class_thresh != NULL && n > 0)
    {
      self->class_thresh = g_memdup2 (class_thresh, sizeof (float) * n);
      self->n_class_thresh = n;
    }
  self->per_class = per_class;
  update_thresh_label (self);
}

/* --- saving ---------------------------------------------------------------- */

typedef struct {
  TagsightExportPage *self;
  gboolean onnx;
  char *path;
  char **images;               /* set: predict after the snapshot is written */
} SaveData;

static void predict_snapshot (TagsightExportPage *self, char **images);

static void
on_saved (GObject *source, GAsyncResult *result, gpointer data)
{
  SaveData *sd = data;
  TagsightExportPage *self = sd->self;
  g_autoptr (GError) error = NULL;
  gboolean ok = tagsight_training_save_finish (TAGSIGHT_TRAINING (source), result, &error);

  if (sd->images != NULL)
    {
      if (ok)
        predict_snapshot (self, g_steal_pointer (&sd->images));
      else
        {
          g_autofree char *msg = g_strdup_printf (_("Could not prepare the model: %s"),
                                                  error->message);

          self->predicting = FALSE;
          g_signal_emit (self, signals[SIGNAL_SAVED], 0, FALSE, msg);
        }
    }
  else
    {
      g_autofree char *msg = NULL;

      if (ok)
        {
          g_autofree char *dir = g_path_get_dirname (sd->path);

          msg = g_strdup_printf (_("Saved %s"), sd->path);
          adw_action_row_set_subtitle (sd->onnx ? self->onnx_row : self->save_row, msg);
          tagsight_settings_set_string ("last-folder", dir);
        }
      else
        msg = g_strdup_printf (_("Could not save %s: %s"), sd->path, error->message);
      g_signal_emit (self, signals[SIGNAL_SAVED], 0, ok, msg);
    }
  g_strfreev (sd->images);
  g_free (sd->path);
  g_object_unref (sd->self);
  g_free (sd);
}

static void
save_to (TagsightExportPage *self, const char *path, char **images, gboolean onnx)
{
  SaveData *sd = g_new0 (SaveData, 1);
  const float *ct = self->n_class_thresh > 0 ? self->class_thresh : NULL;

  sd->self = g_object_ref (self);
  sd->path = g_strdup (path);
  sd->images = images;
  sd->onnx = onnx;
  if (onnx)
    tagsight_training_export_onnx_async (self->training, path, self->thresh, ct, NULL, on_saved,
                                         sd);
  else
    tagsight_training_save_async (self->training, path, self->thresh, ct, NULL, on_saved, sd);
}

static void
save (TagsightExportPage *self, const char *path, gboolean onnx)
{
  if (self->training == NULL || !tagsight_training_has_model (self->training))
    {
      g_signal_emit (self, signals[SIGNAL_SAVED], 0, FALSE,
                     _("No model to save yet: train one first"));
      return;
    }
  save_to (self, path, NULL, onnx);
}

void
tagsight_export_page_save (TagsightExportPage *self, const char *path)
{
  save (self, path, FALSE);
}

void
tagsight_export_page_save_onnx (TagsightExportPage *self, const char *path)
{
  save (self, path, TRUE);
}

static void
on_onnx_chosen (const char *path, gpointer self)
{
  if (path != NULL)
    tagsight_export_page_save_onnx (self, path);
}

static void
save_onnx_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  const TagsightChooser c = { _("Export as ONNX"), GTK_FILE_CHOOSER_ACTION_SAVE, _("_Save"),
                              .name = "model.onnx", .suffix = ".onnx" };

  tagsight_choose_file (widget, &c, on_onnx_chosen, g_object_ref (widget), g_object_unref);
}

/* --- predicting ------------------------------------------------------------- */

typedef struct {
  char *model;
  char **images;
  gboolean per_class;
  /* results */
  int n_classes;
  char **vocab;
  float *probs;                /* [n_images, n_classes] */
  float *thresh;               /* [n_classes]: what applies */
  char **errors;               /* NULL or a message per image */
  GdkPixbuf **thumbs;
  char *error;                 /* the model could not be loaded */
} PredictJob;

static void
predict_job_free (gpointer data)
{
  PredictJob *job = data;
  guint n = job->images != NULL ? g_strv_length (job->images) : 0;

  for (guint i = 0; job->thumbs != NULL && i < n; i++)
    g_clear_object (&job->thumbs[i]);
  g_free (job->thumbs);
  if (job->errors != NULL)
    for (guint i = 0; i < n; i++)
      g_free (job->errors[i]);
  g_free (job->errors);
  g_free (job->model);
  g_strfreev (job->images);
  g_strfreev (job->vocab);
  g_free (job->probs);
  g_free (job->thresh);
  g_free (job->error);
  g_free (job);
}

static void
predict_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  PredictJob *job = task_data;
  guint n = g_strv_length (job->images);
  ts_predictor p;

  job->errors = g_new0 (char *, n);
  job->thumbs = g_new0 (GdkPixbuf *, n);
  if (ts_predictor_open (job->model, 0, &p) != TS_OK)
    {
      job->error = g_strdup (ts_last_error ());
      ts_predictor_close (&p);
      g_task_return_boolean (task, TRUE);
      return;
    }
  job->n_classes = p.meta.n_vocab;
  job->vocab = g_new0 (char *, p.meta.n_vocab + 1);
  job->thresh = g_new (float, p.meta.n_vocab);
  for (int k = 0; k < p.meta.n_vocab; k++)
    {
      job->vocab[k] = g_strdup (p.meta.vocab[k]);
      job->thresh[k] = job->per_class && p.meta.class_thresholds ? p.meta.class_thresholds[k]
                       : p.meta.has_best_threshold ? p.meta.best_threshold : p.meta.threshold;
    }
  job->probs = g_new0 (float, (gsize) n * p.meta.n_vocab);
  for (guint i = 0; i < n; i++)
    {
      if (ts_predictor_run (&p, job->images[i], job->probs + (gsize) i * p.meta.n_vocab)
          != TS_OK)
        job->errors[i] = g_strdup (ts_last_error ());
      job->thumbs[i] = gdk_pixbuf_new_from_file_at_scale (job->images[i], 96, 96, TRUE, NULL);
    }
  ts_predictor_close (&p);
  g_task_return_boolean (task, TRUE);
}

static GtkWidget *
prediction_row (PredictJob *job, guint i, char **text_out)
{
  g_autofree char *base = g_path_get_basename (job->images[i]);
  GtkWidget *row = adw_action_row_new ();
  GString *markup = g_string_new (NULL);
  GString *plain = g_string_new (NULL);
  gboolean any = FALSE;
  g_autofree char *title = g_markup_escape_text (base, -1);

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), TRUE);
  g_string_append_printf (plain, "%s:", base);
  if (job->errors[i] != NULL)
    {
      g_autofree char *esc = g_markup_escape_text (job->errors[i], -1);

      g_string_append (markup, esc);
      g_string_append_printf (plain, " %s", job->errors[i]);
    }
  else
    {
      GString *all = g_string_new (NULL);

      /* the labels over the threshold first (names: their probabilities are
       * on the next line), then every class's probability */
      for (int k = 0; k < job->n_classes; k++)
        {
          float p = job->probs[(gsize) i * job->n_classes + k];
          g_autofree char *esc = g_markup_escape_text (job->vocab[k], -1);

          g_string_append_printf (all, "%s%s %.3f", all->len ? "   " : "", esc, p);
          if (p > job->thresh[k])
            {
              g_string_append_printf (markup, "%s<b>%s</b>", any ? ", " : "", esc);
              g_string_append_printf (plain, " %s %.3f", job->vocab[k], p);
              any = TRUE;
            }
        }
      if (!any)
        g_string_append_printf (markup, "<i>%s</i>", _("no label over the threshold"));
      g_string_append_printf (markup, "\n<span alpha='60%%'>%s</span>", all->str);
      g_string_free (all, TRUE);
    }
  if (job->errors[i] == NULL && !any)
    g_string_append (plain, _(" (no label)"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), markup->str);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 2);
  if (job->thumbs[i] != NULL)
    {
      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      GdkTexture *texture = gdk_texture_new_for_pixbuf (job->thumbs[i]);
      G_GNUC_END_IGNORE_DEPRECATIONS
      GtkWidget *picture = gtk_picture_new_for_paintable (GDK_PAINTABLE (texture));

      gtk_widget_set_size_request (picture, 64, 64);
      gtk_widget_set_margin_top (picture, 6);
      gtk_widget_set_margin_bottom (picture, 6);
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), picture);
      g_object_unref (texture);
    }
  g_string_free (markup, TRUE);
  *text_out = g_string_free (plain, FALSE);
  return row;
}

static void
on_predicted (GObject *source, GAsyncResult *result, gpointer data)
{
  g_autoptr (TagsightExportPage) self = data;
  PredictJob *job = g_task_get_task_data (G_TASK (result));
  guint n = g_strv_length (job->images);

  self->predicting = FALSE;
  if (self->list == NULL)
    return;   /* disposed meanwhile */
  if (job->error != NULL)
    {
      g_autofree char *msg = g_strdup_printf (_("Could not load the model: %s"), job->error);

      g_signal_emit (self, signals[SIGNAL_SAVED], 0, FALSE, msg);
      return;
    }
  /* newest first, so a drop shows at the top */
  for (guint i = n; i-- > 0;)
    {
      char *text = NULL;
      GtkWidget *row = prediction_row (job, i, &text);

      gtk_list_box_prepend (self->list, row);
      g_ptr_array_insert (self->texts, 0, text);
    }
  g_signal_emit (self, signals[SIGNAL_PREDICTED], 0);
}

static void
predict_snapshot (TagsightExportPage *self, char **images)
{
  g_autoptr (GTask) task = g_task_new (NULL, NULL, on_predicted, g_object_ref (self));
  PredictJob *job = g_new0 (PredictJob, 1);

  job->model = g_strdup (self->snapshot);
  job->images = images;
  job->per_class = self->per_class;
  g_task_set_task_data (task, job, predict_job_free);
  g_task_run_in_thread (task, predict_thread);
}

void
tagsight_export_page_predict (TagsightExportPage *self, const char *const *paths)
{
  if (paths == NULL || paths[0] == NULL || self->predicting)
    return;
  if (self->training == NULL || !tagsight_training_has_model (self->training))
    {
      g_signal_emit (self, signals[SIGNAL_SAVED], 0, FALSE,
                     _("No model yet: train one, or open one on the Results page"));
      return;
    }
  self->predicting = TRUE;
  /* the model as it is now, with the thresholds chosen now */
  save_to (self, self->snapshot, g_strdupv ((char **) paths), FALSE);
}

int
tagsight_export_page_get_n_predictions (TagsightExportPage *self)
{
  return (int) self->texts->len;
}

const char *
tagsight_export_page_get_prediction (TagsightExportPage *self, int i)
{
  g_return_val_if_fail (i >= 0 && (guint) i < self->texts->len, NULL);
  return g_ptr_array_index (self->texts, i);
}

/* --- choosing and dropping images ------------------------------------------- */

static void
on_images_chosen (GtkNativeDialog *dialog, int response, TagsightExportPage *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      g_autoptr (GListModel) files = gtk_file_chooser_get_files (GTK_FILE_CHOOSER (dialog));
      G_GNUC_END_IGNORE_DEPRECATIONS
      g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
      g_auto (GStrv) paths = NULL;

      for (guint i = 0; i < g_list_model_get_n_items (files); i++)
        {
          g_autoptr (GFile) file = g_list_model_get_item (files, i);
          g_autofree char *path = g_file_get_path (file);

          if (path != NULL)
            g_strv_builder_add (builder, path);
        }
      paths = g_strv_builder_end (builder);
      tagsight_export_page_predict (self, (const char *const *) paths);
    }
  g_object_unref (dialog);
}

static void
choose_images_action (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  GtkRoot *root = gtk_widget_get_root (widget);
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  GtkFileChooserNative *dialog =
    gtk_file_chooser_native_new (_("Choose Images"), GTK_IS_WINDOW (root) ? GTK_WINDOW (root)
                                                                         : NULL,
                                 GTK_FILE_CHOOSER_ACTION_OPEN, _("_Predict"), _("_Cancel"));
  GtkFileFilter *filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, _("Images (JPEG, PNG)"));
  gtk_file_filter_add_mime_type (filter, "image/jpeg");
  gtk_file_filter_add_mime_type (filter, "image/png");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (dialog), filter);
  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (dialog), TRUE);
  g_object_unref (filter);
  G_GNUC_END_IGNORE_DEPRECATIONS
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  /* the page lives until the answer, whenever it comes (a portal may answer
   * after the window is gone) */
  g_signal_connect_data (dialog, "response", G_CALLBACK (on_images_chosen), g_object_ref (widget),
                         (GClosureNotify) (void (*) (void)) g_object_unref, 0);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

static gboolean
on_drop (GtkDropTarget *target, const GValue *value, double x, double y,
         TagsightExportPage *self)
{
  GSList *files = g_value_get_boxed (value);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
  g_auto (GStrv) paths = NULL;

  for (GSList *l = files; l != NULL; l = l->next)
    {
      g_autofree char *path = g_file_get_path (l->data);

      if (path != NULL)
        g_strv_builder_add (builder, path);
    }
  paths = g_strv_builder_end (builder);
  tagsight_export_page_predict (self, (const char *const *) paths);
  return paths[0] != NULL;
}

/* --- boilerplate ---------------------------------------------------------------- */

static void
tagsight_export_page_dispose (GObject *object)
{
  TagsightExportPage *self = TAGSIGHT_EXPORT_PAGE (object);
  GtkWidget *child;

  g_clear_object (&self->training);
  gtk_widget_dispose_template (GTK_WIDGET (self), TAGSIGHT_TYPE_EXPORT_PAGE);
  /* the template's root is not a bound child: unparent it by hand */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (tagsight_export_page_parent_class)->dispose (object);
}

static void
tagsight_export_page_finalize (GObject *object)
{
  TagsightExportPage *self = TAGSIGHT_EXPORT_PAGE (object);

  if (self->snapshot != NULL)
    g_unlink (self->snapshot);
  g_free (self->snapshot);
  g_free (self->class_thresh);
  g_ptr_array_unref (self->texts);
  G_OBJECT_CLASS (tagsight_export_page_parent_class)->finalize (object);
}

static void
tagsight_export_page_class_init (TagsightExportPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = tagsight_export_page_dispose;
  object_class->finalize = tagsight_export_page_finalize;
  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/tagsight/Tagsight/tagsight-export-page.ui");
  gtk_widget_class_bind_template_child (widget_class, TagsightExportPage, save_row);
  gtk_widget_class_bind_template_child (widget_class, TagsightExportPage, onnx_row);
  gtk_widget_class_bind_template_child (widget_class, TagsightExportPage, predict_group);
  gtk_widget_class_bind_template_child (widget_class, TagsightExportPage, thresh_label);
  gtk_widget_class_bind_template_child (widget_class, TagsightExportPage, list);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_install_action (widget_class, "export.choose-images", NULL,
                                   choose_images_action);
  gtk_widget_class_install_action (widget_class, "export.save-onnx", NULL, save_onnx_action);

  signals[SIGNAL_SAVED] = g_signal_new ("saved", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                        0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_BOOLEAN,
                                        G_TYPE_STRING);
  signals[SIGNAL_PREDICTED] = g_signal_new ("predicted", G_TYPE_FROM_CLASS (klass),
                                            G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                            0);
}

static void
tagsight_export_page_init (TagsightExportPage *self)
{
  static int counter;
  GtkDropTarget *drop = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "tagsight", NULL);
  g_autofree char *name = g_strdup_printf ("predict-%d-%d.safetensors", (int) getpid (),
                                           g_atomic_int_add (&counter, 1));

  gtk_widget_init_template (GTK_WIDGET (self));
  g_mkdir_with_parents (dir, 0700);
  self->snapshot = g_build_filename (dir, name, NULL);
  self->texts = g_ptr_array_new_with_free_func (g_free);
  self->thresh = -1;
  update_thresh_label (self);
  if (!tagsight_training_can_export_onnx ())
    {
      gtk_widget_action_set_enabled (GTK_WIDGET (self), "export.save-onnx", FALSE);
      adw_action_row_set_subtitle (self->onnx_row, _("Not built: this Tagsight has no ONNX "
                                                     "export (protobuf-c was missing)"));
    }
  g_signal_connect (drop, "drop", G_CALLBACK (on_drop), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (drop));
}
