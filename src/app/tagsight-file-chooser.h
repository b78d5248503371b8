/* tagsight-file-chooser.h: one file or folder from the user, through the
 * native file chooser (the portal in a Flatpak).  GTK 4.8 has no
 * GtkFileDialog; this keeps GtkFileChooserNative's deprecations and its
 * response plumbing in one place. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef struct {
  const char *name;                 /* "Tagsight projects" */
  const char *const *patterns;      /* "*.tagsight", or MIME types such as "text/csv" */
} TagsightChooserFilter;

typedef struct {
  const char *title;
  GtkFileChooserAction action;
  const char *accept;               /* "_Open", "_Save" */
  const char *folder;               /* where it starts; NULL or "": the chooser's choice */
  const char *name;                 /* ACTION_SAVE: the suggested name */
  const char *suffix;               /* ACTION_SAVE: added when the name lacks it */
  const TagsightChooserFilter *filters;   /* NULL or ended by a { NULL } row */
} TagsightChooser;

/* @path: the chosen file or folder; NULL when the user chose something that
 * is not a local file.  Not called when the user cancels. */
typedef void (*TagsightChosenFunc) (const char *path, gpointer user_data);

/* Shows a modal chooser over @parent's window; @destroy (may be NULL) is
 * called on @user_data once it is closed, whatever the answer. */
void tagsight_choose_file (GtkWidget *parent, const TagsightChooser *c, TagsightChosenFunc done,
                           gpointer user_data, GDestroyNotify destroy);

G_END_DECLS
