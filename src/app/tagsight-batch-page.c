/* tagsight-batch-page.c: the Batch page (see tagsight-batch-page.h). */
#include "tagsight-batch-page.h"

#include <glib/gi18n.h>

#include "ts-loader.h"
#include "ts-showbatch.h"

struct _TagsightBatchPage
{
  GtkWidget parent_instance;

  GtkSpinButton *n_spin;
  GtkSwitch *unique_switch;
  GtkSwitch *valid_switch;
  GtkSpinButton *size_spin;
  GtkSpinButton *min_scale_spin;
  GtkSwitch *flip_switch;
  GtkSpinButton *rotate_spin;
  GtkSpinButton *zoom_spin;
  GtkSpinButton *warp_spin;
  GtkSpinButton *lighting_spin;
  GtkStack *view_stack;
  GtkPicture *picture;
  AdwStatusPage *message_page;
  GtkSpinner *spinner;

  TagsightDataset *dataset;
  guint64 seed;
  gboolean rendering;
  gboolean dirty;      /* settings changed while a render ran */
};

G_DEFINE_FINAL_TYPE (TagsightBatchPage, tagsight_batch_page, GTK_TYPE_WIDGET)

typedef struct {
  TagsightDataset *dataset;
  ts_loader_config cfg;
  int n, unique, valid;
  int scale;           /* the monitor's scale: labels stay sharp at 2x */
  /* result */
  GBytes *pixels;      /* Cairo ARGB32, premultiplied */
  int width, height, stride;
} RenderJob;

static void render (TagsightBatchPage *self);

static void
render_job_free (RenderJob *job)
{
  g_clear_object (&job->dataset);
  g_clear_pointer (&job->pixels, g_bytes_unref);
  g_free (job);
}

static void
render_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  RenderJob *job = task_data;
  const ts_datablock *db = tagsight_dataset_get_datablock (job->dataset);
  ts_showbatch *grid = NULL;
  cairo_surface_t *surface;
  cairo_t *cr;
  int cols, rows;

  if (ts_showbatch_collect (db, &job->cfg, job->n, job->unique, job->valid, &grid) != TS_OK)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", ts_last_error ());
      return;
    }
  ts_showbatch_layout (grid->n, grid->size, &cols, &rows, &job->width, &job->height);
  job->width *= job->scale;
  job->height *= job->scale;
  surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, job->width, job->height);
  cr = cairo_create (surface);
  cairo_scale (cr, job->scale, job->scale);
  ts_showbatch_draw (grid, cr);
  cairo_destroy (cr);
  cairo_surface_flush (surface);
  if (cairo_surface_status (surface) != CAIRO_STATUS_SUCCESS)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED, _("Drawing failed: %s"),
                               cairo_status_to_string (cairo_surface_status (surface)));
      cairo_surface_destroy (surface);
      ts_showbatch_free (grid);
      return;
    }
  job->stride = cairo_image_surface_get_stride (surface);
  job->pixels = g_bytes_new (cairo_image_surface_get_data (surface),
                             (gsize) job->stride * job->height);
  cairo_surface_destroy (surface);
  ts_showbatch_free (grid);
  g_task_return_boolean (task, TRUE);
}

static void
show_message (TagsightBatchPage *self, const char *icon, const char *title, const char *text)
{
  adw_status_page_set_icon_name (self->message_page, icon);
  adw_status_page_set_title (self->message_page, title);
  adw_status_page_set_description (self->message_page, text);
  gtk_stack_set_visible_child_name (self->view_stack, "message");
}

static void
on_rendered (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (TagsightBatchPage) self = user_data;
  g_autoptr (GError) error = NULL;
  RenderJob *job = g_task_get_task_data (G_TASK (result));

  self->rendering = FALSE;
  if (self->picture == NULL)
    return;  /* the page was destroyed while the grid was drawn */
  gtk_spinner_stop (self->spinner);
  if (self->dirty || job->dataset != self->dataset)
    {
      /* stale: the settings moved on while it ran */
      self->dirty = FALSE;
      render (self);
      return;
    }
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      show_message (self, "dialog-warning-symbolic", _("Could Not Make a Batch"), error->message);
      return;
    }
  {
    g_autoptr (GdkTexture) texture =
      gdk_memory_texture_new (job->width, job->height, GDK_MEMORY_DEFAULT, job->pixels,
                              job->stride);
    g_autofree char *label = NULL;

    if (job->valid)
      label = g_strdup_printf (ngettext ("%d validation image as the model sees it",
                                         "%d validation images as the model sees them", job->n),
                               job->n);
    else if (job->unique)
      label = g_strdup_printf (ngettext ("One image under %d augmentation",
                                         "One image under %d augmentations", job->n), job->n);
    else
      label = g_strdup_printf (ngettext ("A batch of %d image as training sees it",
                                         "A batch of %d images as training sees it", job->n),
                               job->n);

    gtk_picture_set_paintable (self->picture, GDK_PAINTABLE (texture));
    gtk_accessible_update_property (GTK_ACCESSIBLE (self->picture),
                                    GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
    gtk_stack_set_visible_child_name (self->view_stack, "picture");
  }
}

static void
render (TagsightBatchPage *self)
{
  g_autoptr (GTask) task = NULL;
  RenderJob *job;

  if (self->dataset == NULL || tagsight_dataset_get_datablock (self->dataset) == NULL)
    {
      show_message (self, "view-grid-symbolic", _("No Data Yet"),
                    _("Open a CSV to preview its batches."));
      return;
    }
  if (self->rendering)
    {
      self->dirty = TRUE;
      return;
    }
  job = g_new0 (RenderJob, 1);
  job->dataset = g_object_ref (self->dataset);
  ts_loader_config_init (&job->cfg);
  job->cfg.size = gtk_spin_button_get_value_as_int (self->size_spin);
  job->cfg.min_scale = gtk_spin_button_get_value (self->min_scale_spin);
  ts_aug_params_preset (&job->cfg.aug, TS_AUG_FASTAI);
  job->cfg.aug.do_flip = gtk_switch_get_active (self->flip_switch);
  job->cfg.aug.max_rotate = (float) gtk_spin_button_get_value (self->rotate_spin);
  job->cfg.aug.max_zoom = (float) gtk_spin_button_get_value (self->zoom_spin);
  job->cfg.aug.max_warp = (float) gtk_spin_button_get_value (self->warp_spin);
  job->cfg.aug.max_lighting = (float) gtk_spin_button_get_value (self->lighting_spin);
  job->cfg.seed = self->seed;
  job->cfg.n_workers = 2;
  job->n = gtk_spin_button_get_value_as_int (self->n_spin);
  job->unique = gtk_switch_get_active (self->unique_switch);
  job->valid = gtk_switch_get_active (self->valid_switch);
  job->scale = MAX (1, gtk_widget_get_scale_factor (GTK_WIDGET (self)));

  self->rendering = TRUE;
  gtk_spinner_start (self->spinner);
  task = g_task_new (NULL, NULL, on_rendered, g_object_ref (self));
  g_task_set_task_data (task, job, (GDestroyNotify) render_job_free);
  g_task_run_in_thread (task, render_thread);
}

void
tagsight_batch_page_set_dataset (TagsightBatchPage *self, TagsightDataset *dataset)
{
  g_return_if_fail (TAGSIGHT_IS_BATCH_PAGE (self));
  if (!g_set_object (&self->dataset, dataset))
    return;
  render (self);
}

void
tagsight_batch_page_reroll (TagsightBatchPage *self)
{
  g_return_if_fail (TAGSIGHT_IS_BATCH_PAGE (self));
  self->seed++;
  render (self);
}

GdkPaintable *
tagsight_batch_page_get_paintable (TagsightBatchPage *self)
{
  return gtk_picture_get_paintable (self->picture);
}

static void
tagsight_batch_page_dispose (GObject *object)
{
  TagsightBatchPage *self = TAGSIGHT_BATCH_PAGE (object);
  GtkWidget *child;

  gtk_widget_dispose_template (GTK_WIDGET (self), TAGSIGHT_TYPE_BATCH_PAGE);
  /* the template's root is not a bound child: unparent it by hand */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  g_clear_object (&self->dataset);
  G_OBJECT_CLASS (tagsight_batch_page_parent_class)->dispose (object);
}

static void
tagsight_batch_page_class_init (TagsightBatchPageClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = tagsight_batch_page_dispose;
  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/tagsight/Tagsight/tagsight-batch-page.ui");
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, n_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, unique_switch);
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, valid_switch);
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, size_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, min_scale_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, flip_switch);
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, rotate_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, zoom_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, warp_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, lighting_spin);
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, view_stack);
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, picture);
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, message_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightBatchPage, spinner);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
tagsight_batch_page_init (TagsightBatchPage *self)
{
  GtkWidget *live[7];

  gtk_widget_init_template (GTK_WIDGET (self));
  live[0] = GTK_WIDGET (self->n_spin);
  live[1] = GTK_WIDGET (self->size_spin);
  live[2] = GTK_WIDGET (self->min_scale_spin);
  live[3] = GTK_WIDGET (self->rotate_spin);
  live[4] = GTK_WIDGET (self->zoom_spin);
  live[5] = GTK_WIDGET (self->warp_spin);
  live[6] = GTK_WIDGET (self->lighting_spin);
  for (guint i = 0; i < G_N_ELEMENTS (live); i++)
    g_signal_connect_swapped (live[i], "value-changed", G_CALLBACK (render), self);
  g_signal_connect_swapped (self->unique_switch, "notify::active", G_CALLBACK (render), self);
  g_signal_connect_swapped (self->valid_switch, "notify::active", G_CALLBACK (render), self);
  g_signal_connect_swapped (self->flip_switch, "notify::active", G_CALLBACK (render), self);
  render (self);
}
