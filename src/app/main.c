/* main.c: the tagsight executable. */
#include <glib/gi18n.h>
#include <locale.h>

#include "tagsight-application.h"

int
main (int argc, char **argv)
{
  g_autoptr (TagsightApplication) app = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  g_set_application_name (_("Tagsight"));
  app = tagsight_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
