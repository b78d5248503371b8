/* tagsight-start-page.c: the start page (see tagsight-start-page.h). */
#include "tagsight-start-page.h"

#include <glib/gi18n.h>

#define MAX_RECENT 6

struct _TagsightStartPage
{
  GtkWidget parent_instance;

  AdwStatusPage *status_page;
  GtkWidget *progress_box;
  GtkLabel *progress_label;
  GtkProgressBar *progress_bar;
  GtkWidget *recent_group;
  GtkListBox *recent_list;
  gulong recent_changed_id;
};

G_DEFINE_FINAL_TYPE (TagsightStartPage, tagsight_start_page, GTK_TYPE_WIDGET)

static int
newest_first (gconstpointer a, gconstpointer b)
{
  GDateTime *ta = gtk_recent_info_get_modified (*(GtkRecentInfo **) a);
  GDateTime *tb = gtk_recent_info_get_modified (*(GtkRecentInfo **) b);

  return g_date_time_compare (tb, ta);
}

void
tagsight_start_page_reload_recent (TagsightStartPage *self)
{
  GtkRecentManager *manager = gtk_recent_manager_get_default ();
  GList *items = gtk_recent_manager_get_items (manager);
  g_autoptr (GPtrArray) mine = g_ptr_array_new ();
  GtkWidget *child;
  guint shown = 0;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->recent_list))) != NULL)
    gtk_list_box_remove (self->recent_list, child);
  for (GList *l = items; l != NULL; l = l->next)
    if (gtk_recent_info_has_application (l->data, g_get_application_name ())
        && (g_str_has_suffix (gtk_recent_info_get_uri (l->data), ".csv")
            || g_str_has_suffix (gtk_recent_info_get_uri (l->data), ".tagsight")))
      g_ptr_array_add (mine, l->data);
  g_ptr_array_sort (mine, newest_first);
  for (guint i = 0; i < mine->len && shown < MAX_RECENT; i++)
    {
      GtkRecentInfo *info = g_ptr_array_index (mine, i);
      g_autoptr (GFile) file = g_file_new_for_uri (gtk_recent_info_get_uri (info));
      g_autofree char *path = g_file_get_path (file);
      g_autofree char *parent = NULL;
      g_autofree char *base = NULL;
      GtkWidget *row;

      if (path == NULL || !g_file_test (path, G_FILE_TEST_EXISTS))
        continue;
      parent = g_path_get_dirname (path);
      base = g_path_get_basename (path);
      row = adw_action_row_new ();
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), base);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), parent);
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      /* a project (runs, label edits) and a bare data set look different */
      adw_action_row_add_prefix (ADW_ACTION_ROW (row),
                                 gtk_image_new_from_icon_name (
                                   g_str_has_suffix (path, ".tagsight")
                                   ? "document-open-recent-symbolic"
                                   : "x-office-spreadsheet-symbolic"));
      gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                                 gtk_image_new_from_icon_name ("go-next-symbolic"));
      gtk_actionable_set_action_name (GTK_ACTIONABLE (row), "win.open-path");
      gtk_actionable_set_action_target (GTK_ACTIONABLE (row), "s", path);
      gtk_list_box_append (self->recent_list, row);
      shown++;
    }
  gtk_widget_set_visible (self->recent_group, shown > 0);
  g_list_free_full (items, (GDestroyNotify) gtk_recent_info_unref);
}

void
tagsight_start_page_set_progress (TagsightStartPage *self, const char *text, double fraction)
{
  gtk_widget_set_visible (self->progress_box, text != NULL);
  if (text == NULL)
    return;
  gtk_label_set_text (self->progress_label, text);
  if (fraction < 0)
    gtk_progress_bar_pulse (self->progress_bar);
  else
    gtk_progress_bar_set_fraction (self->progress_bar, fraction);
}

static void
on_recent_changed (GtkRecentManager *manager, TagsightStartPage *self)
{
  tagsight_start_page_reload_recent (self);
}

static void
tagsight_start_page_dispose (GObject *object)
{
  TagsightStartPage *self = TAGSIGHT_START_PAGE (object);
  GtkWidget *child;

  g_clear_signal_handler (&self->recent_changed_id, gtk_recent_manager_get_default ());
  gtk_widget_dispose_template (GTK_WIDGET (self), TAGSIGHT_TYPE_START_PAGE);
  /* the template's root is not a bound child: unparent it by hand */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (tagsight_start_page_parent_class)->dispose (object);
}

static void
tagsight_start_page_class_init (TagsightStartPageClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  G_OBJECT_CLASS (klass)->dispose = tagsight_start_page_dispose;
  gtk_widget_class_set_template_from_resource (
    widget_class, "/io/github/tagsight/Tagsight/tagsight-start-page.ui");
  gtk_widget_class_bind_template_child (widget_class, TagsightStartPage, status_page);
  gtk_widget_class_bind_template_child (widget_class, TagsightStartPage, progress_box);
  gtk_widget_class_bind_template_child (widget_class, TagsightStartPage, progress_label);
  gtk_widget_class_bind_template_child (widget_class, TagsightStartPage, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, TagsightStartPage, recent_group);
  gtk_widget_class_bind_template_child (widget_class, TagsightStartPage, recent_list);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
tagsight_start_page_init (TagsightStartPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->recent_changed_id = g_signal_connect (gtk_recent_manager_get_default (), "changed",
                                              G_CALLBACK (on_recent_changed), self);
  tagsight_start_page_reload_recent (self);
}
