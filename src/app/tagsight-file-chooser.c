/* tagsight-file-chooser.c: see tagsight-file-chooser.h. */
#include "tagsight-file-chooser.h"

#include <glib/gi18n.h>
#include <string.h>

typedef struct {
  TagsightChosenFunc done;
  gpointer user_data;
  GDestroyNotify destroy;
  char *suffix;
} Pending;

static void
on_response (GtkNativeDialog *dialog, int response, Pending *p)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      G_GNUC_BEGIN_IGNORE_DEPRECATIONS
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      G_GNUC_END_IGNORE_DEPRECATIONS
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path != NULL && p->suffix != NULL && !g_str_has_suffix (path, p->suffix))
        {
          char *with = g_strconcat (path, p->suffix, NULL);

          g_free (path);
          path = with;
        }
      p->done (path, p->user_data);
    }
  g_object_unref (dialog);
  if (p->destroy != NULL)
    p->destroy (p->user_data);
  g_free (p->suffix);
  g_free (p);
}

static void
add_filter (GtkFileChooser *chooser, const TagsightChooserFilter *f)
{
  GtkFileFilter *filter = gtk_file_filter_new ();

  gtk_file_filter_set_name (filter, f->name);
  for (const char *const *pat = f->patterns; pat != NULL && *pat != NULL; pat++)
    if (strchr (*pat, '/') != NULL)
      gtk_file_filter_add_mime_type (filter, *pat);
    else
      gtk_file_filter_add_pattern (filter, *pat);
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  gtk_file_chooser_add_filter (chooser, filter);
  G_GNUC_END_IGNORE_DEPRECATIONS
  g_object_unref (filter);
}

void
tagsight_choose_file (GtkWidget *parent, const TagsightChooser *c, TagsightChosenFunc done,
                      gpointer user_data, GDestroyNotify destroy)
{
  GtkRoot *root = parent != NULL ? gtk_widget_get_root (parent) : NULL;
  Pending *p = g_new0 (Pending, 1);
  GtkFileChooserNative *dialog;

  p->done = done;
  p->user_data = user_data;
  p->destroy = destroy;
  p->suffix = g_strdup (c->suffix);
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  dialog = gtk_file_chooser_native_new (c->title, GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                        c->action, c->accept, _("_Cancel"));
  for (const TagsightChooserFilter *f = c->filters; f != NULL && f->name != NULL; f++)
    add_filter (GTK_FILE_CHOOSER (dialog), f);
  if (c->name != NULL)
    gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (dialog), c->name);
  if (c->folder != NULL && c->folder[0] != '\0')
    {
      g_autoptr (GFile) folder = g_file_new_for_path (c->folder);

      gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (dialog), folder, NULL);
    }
  G_GNUC_END_IGNORE_DEPRECATIONS
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  g_signal_connect (dialog, "response", G_CALLBACK (on_response), p);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}
