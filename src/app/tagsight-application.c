/* tagsight-application.c: the application (see tagsight-application.h). */
#include "tagsight-application.h"

#include <glib/gi18n.h>
#include <stdio.h>

#include "tagsight-window.h"
#include "ts-config.h"

struct _TagsightApplication
{
  AdwApplication parent_instance;

  char *page;       /* --page */
  int width, height;/* --window-size */
  gboolean demo;    /* --demo */
};

G_DEFINE_FINAL_TYPE (TagsightApplication, tagsight_application, ADW_TYPE_APPLICATION)

static TagsightWindow *
get_window (TagsightApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (window == NULL)
    window = GTK_WINDOW (tagsight_window_new (ADW_APPLICATION (self)));
  return TAGSIGHT_WINDOW (window);
}

static void
apply_options (TagsightApplication *self, TagsightWindow *window)
{
  if (self->width > 0)
    gtk_window_set_default_size (GTK_WINDOW (window), self->width, self->height);
  if (self->page != NULL)
    tagsight_window_set_page (window, self->page);
  if (self->demo)
    tagsight_window_open_demo (window);
  self->demo = FALSE;
  g_clear_pointer (&self->page, g_free);
}

static void
tagsight_application_activate (GApplication *app)
{
  TagsightApplication *self = TAGSIGHT_APPLICATION (app);
  TagsightWindow *window = get_window (self);

  apply_options (self, window);
  gtk_window_present (GTK_WINDOW (window));
}

static void
tagsight_application_open (GApplication *app, GFile **files, int n_files, const char *hint)
{
  TagsightApplication *self = TAGSIGHT_APPLICATION (app);
  TagsightWindow *window = get_window (self);
  g_autofree char *path = g_file_get_path (files[0]);

  apply_options (self, window);
  gtk_window_present (GTK_WINDOW (window));
  if (path != NULL)
    tagsight_window_open_csv (window, path);
  else
    tagsight_window_toast (window, _("Only local files can be opened"));
}

static int
tagsight_application_handle_local_options (GApplication *app, GVariantDict *options)
{
  TagsightApplication *self = TAGSIGHT_APPLICATION (app);
  const char *page = NULL, *size = NULL;

  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("tagsight %s\n", TS_VERSION);
      return 0;
    }
  if (g_variant_dict_lookup (options, "page", "&s", &page))
    {
      if (g_strcmp0 (page, "start") != 0 && g_strcmp0 (page, "data") != 0
          && g_strcmp0 (page, "batch") != 0)
        {
          g_printerr (_("tagsight: --page expects start, data or batch, got “%s”\n"), page);
          return 2;
        }
      self->page = g_strdup (page);
    }
  if (g_variant_dict_lookup (options, "window-size", "&s", &size)
      && (sscanf (size, "%dx%d", &self->width, &self->height) != 2 || self->width < 360
          || self->height < 294))
    {
      g_printerr (_("tagsight: --window-size expects WIDTHxHEIGHT, e.g. 1400x900, got “%s”\n"),
                  size);
      return 2;
    }
  self->demo = g_variant_dict_contains (options, "demo");
  return -1;
}

static void
quit_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  g_application_quit (G_APPLICATION (user_data));
}

static void
about_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  static const char *developers[] = { "The Tagsight authors", NULL };
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (user_data));

  adw_show_about_window (window,
                         "application-name", _("Tagsight"),
                         "application-icon", TS_APP_ID,
                         "version", TS_VERSION,
                         "comments", _("Train, inspect and export multi-label image classifiers"),
                         "developers", developers,
                         "license-type", GTK_LICENSE_GPL_3_0,
                         NULL);
}

static void
tagsight_application_startup (GApplication *app)
{
  static const GActionEntry entries[] = {
    { "quit", quit_action, NULL, NULL, NULL, { 0 } },
    { "about", about_action, NULL, NULL, NULL, { 0 } },
  };
  static const struct { const char *action; const char *accels[2]; } accels[] = {
    { "app.quit", { "<Control>q", NULL } },
    { "win.open", { "<Control>o", NULL } },
    { "win.reroll", { "<Control>r", NULL } },
    { "win.show-help-overlay", { "<Control>question", NULL } },
  };

  G_APPLICATION_CLASS (tagsight_application_parent_class)->startup (app);
  g_action_map_add_action_entries (G_ACTION_MAP (app), entries, G_N_ELEMENTS (entries), app);
  for (guint i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (app), accels[i].action,
                                           accels[i].accels);
}

static void
tagsight_application_finalize (GObject *object)
{
  g_free (TAGSIGHT_APPLICATION (object)->page);
  G_OBJECT_CLASS (tagsight_application_parent_class)->finalize (object);
}

static void
tagsight_application_class_init (TagsightApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = tagsight_application_finalize;
  app_class->activate = tagsight_application_activate;
  app_class->open = tagsight_application_open;
  app_class->startup = tagsight_application_startup;
  app_class->handle_local_options = tagsight_application_handle_local_options;
}

static void
tagsight_application_init (TagsightApplication *self)
{
  static const GOptionEntry options[] = {
    { "page", 0, 0, G_OPTION_ARG_STRING, NULL, N_("Page to show: start, data or batch"),
      N_("PAGE") },
    { "window-size", 0, 0, G_OPTION_ARG_STRING, NULL, N_("Window size, e.g. 1400x900"),
      N_("WxH") },
    { "demo", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Open the demo data set"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Print the version and exit"), NULL },
    { NULL },
  };

  g_application_add_main_option_entries (G_APPLICATION (self), options);
  g_application_set_option_context_parameter_string (G_APPLICATION (self), _("[FILE.csv]"));
}

TagsightApplication *
tagsight_application_new (void)
{
  return g_object_new (TAGSIGHT_TYPE_APPLICATION,
                       "application-id", TS_APP_ID,
                       "flags", G_APPLICATION_HANDLES_OPEN,
                       "resource-base-path", "/io/github/tagsight/Tagsight",
                       NULL);
}
