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
  gboolean train;   /* --train and the settings it uses */
  gboolean lr_find; /* --lr-find */
  char **predict;   /* --predict */
  char *arch;
  char *pretrained; /* --pretrained */
  int epochs, freeze_epochs, bs, size;
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
  if (self->train || self->arch != NULL || self->pretrained != NULL || self->epochs >= 0
      || self->freeze_epochs >= 0 || self->bs > 0 || self->size > 0)
    {
      TagsightTrainPage *page = tagsight_window_get_train_page (window);
      TagsightTrainSettings s;

      tagsight_train_page_get_settings (page, &s);
      if (self->arch != NULL)
        {
          g_free (s.arch);
          s.arch = g_strdup (self->arch);
        }
      if (self->pretrained != NULL)
        {
          g_free (s.pretrained);
          s.pretrained = g_strdup (self->pretrained);
        }
      if (self->epochs >= 0)
        s.epochs = self->epochs;
      if (self->freeze_epochs >= 0)
        s.freeze_epochs = self->freeze_epochs;
      if (self->bs > 0)
        s.bs = self->bs;
      if (self->size > 0)
        s.size = self->size;
      tagsight_train_page_set_settings (page, &s);
      tagsight_train_settings_clear (&s);
      tagsight_window_set_autostart (window, self->train);
      self->train = FALSE;
    }
  if (self->lr_find)
    tagsight_window_set_auto_lr_find (window, TRUE);
  if (self->predict != NULL)
    tagsight_window_set_auto_predict (window, (const char *const *) self->predict);
  self->lr_find = FALSE;
  g_clear_pointer (&self->predict, g_strfreev);
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

  /* the file first: a project restores its page, and --page wins over it */
  if (path != NULL)
    tagsight_window_open (window, path);
  apply_options (self, window);
  gtk_window_present (GTK_WINDOW (window));
  if (path == NULL)
    tagsight_window_toast (window, _("Only local files can be opened"));
}

/* --NAME N, a whole number from @min to @max, into *out (unchanged when the
 * option is absent); FALSE after printing why on a bad value. */
static gboolean
lookup_count (GVariantDict *options, const char *name, gint64 min, gint64 max, int *out)
{
  const char *str;
  gint64 v;

  if (!g_variant_dict_lookup (options, name, "&s", &str))
    return TRUE;
  if (!g_ascii_string_to_signed (str, 10, min, max, &v, NULL))
    {
      g_printerr (_("tagsight: --%s expects a whole number from %lld to %lld, got “%s”\n"),
                  name, (long long) min, (long long) max, str);
      return FALSE;
    }
  *out = (int) v;
  return TRUE;
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
      static const char *const pages[] = { "start", "data", "batch", "train", "results",
                                           "export", "runs", "labels", NULL };

      if (!g_strv_contains (pages, page))
        {
          g_printerr (_("tagsight: --page expects start, data, batch, train, results, export, "
                        "runs or labels, got “%s”\n"), page);
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
  self->train = g_variant_dict_contains (options, "train");
  self->lr_find = g_variant_dict_contains (options, "lr-find");
  g_variant_dict_lookup (options, "predict", "^aay", &self->predict);
  if (g_variant_dict_lookup (options, "arch", "s", &self->arch))
    {
      static const char *const archs[] = { "resnet18", "resnet34", "resnet50", "mobilenet_v2",
                                           "tiny", NULL };

      if (!g_strv_contains (archs, self->arch))
        {
          g_printerr (_("tagsight: --arch expects resnet18, resnet34, resnet50, mobilenet_v2 or "
                        "tiny, got “%s”\n"), self->arch);
          return 2;
        }
    }
  if (g_variant_dict_lookup (options, "pretrained", "^ay", &self->pretrained)
      && !g_file_test (self->pretrained, G_FILE_TEST_IS_REGULAR))
    {
      g_printerr (_("tagsight: --pretrained: no such file “%s”\n"), self->pretrained);
      return 2;
    }
  if (!lookup_count (options, "epochs", 0, 1000, &self->epochs)
      || !lookup_count (options, "freeze-epochs", 0, 1000, &self->freeze_epochs)
      || !lookup_count (options, "batch-size", 1, 4096, &self->bs)
      || !lookup_count (options, "image-size", 16, 2048, &self->size))
    return 2;
  return -1;
}

/* Closes the windows, as their close buttons do: one whose run goes on
 * asks first and closes once the run has stopped; the application ends
 * with its last window (never while a training thread runs). */
static void
quit_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  /* a copy: closing changes the application's list */
  GList *windows = g_list_copy (gtk_application_get_windows (GTK_APPLICATION (user_data)));

  for (GList *l = windows; l != NULL; l = l->next)
    g_object_ref (l->data);
  for (GList *l = windows; l != NULL; l = l->next)
    gtk_window_close (l->data);
  g_list_free_full (windows, g_object_unref);
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
    { "win.save", { "<Control>s", NULL } },
    { "win.save-as", { "<Control><Shift>s", NULL } },
    { "win.reroll", { "<Control>r", NULL } },
    { "win.train", { "<Control>t", NULL } },
    { "win.stop", { "<Control>period", NULL } },
    { "win.export", { "<Control>e", NULL } },
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
  g_free (TAGSIGHT_APPLICATION (object)->arch);
  g_free (TAGSIGHT_APPLICATION (object)->pretrained);
  g_strfreev (TAGSIGHT_APPLICATION (object)->predict);
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
    { "page", 0, 0, G_OPTION_ARG_STRING, NULL,
      N_("Page to show: start, data, batch, train, results, export, runs or labels"),
      N_("PAGE") },
    { "train", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Start training as soon as the data is open"),
      NULL },
    { "arch", 0, 0, G_OPTION_ARG_STRING, NULL,
      N_("Architecture: resnet18, resnet34, resnet50, mobilenet_v2 or tiny"), N_("ARCH") },
    { "pretrained", 0, 0, G_OPTION_ARG_FILENAME, NULL,
      N_("Pretrained body weights: .safetensors, a PyTorch .pth or a MobileNetV2 .tflite"),
      N_("FILE") },
    /* numbers as strings (lookup_count): GApplication leaves an int option
     * of 0 out of the dictionary, so --freeze-epochs=0 was lost */
    { "epochs", 0, 0, G_OPTION_ARG_STRING, NULL, N_("Unfrozen epochs"), N_("N") },
    { "freeze-epochs", 0, 0, G_OPTION_ARG_STRING, NULL, N_("Frozen epochs"), N_("N") },
    { "batch-size", 0, 0, G_OPTION_ARG_STRING, NULL, N_("Batch size"), N_("N") },
    { "image-size", 0, 0, G_OPTION_ARG_STRING, NULL, N_("Image side in pixels"), N_("PX") },
    { "lr-find", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Run the LR finder as soon as the data is open"),
      NULL },
    { "predict", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, NULL,
      N_("Images to predict once a model is trained (repeatable)"), N_("IMAGE") },
    { "window-size", 0, 0, G_OPTION_ARG_STRING, NULL, N_("Window size, e.g. 1400x900"),
      N_("WxH") },
    { "demo", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Open the demo data set"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Print the version and exit"), NULL },
    { NULL },
  };

  self->epochs = self->freeze_epochs = -1;
  g_application_add_main_option_entries (G_APPLICATION (self), options);
  g_application_set_option_context_parameter_string (G_APPLICATION (self),
                                                     _("[FILE.csv|PROJECT.tagsight]"));
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
