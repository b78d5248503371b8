/* cli-i18n.c: binding tagsight-cli's message catalogue (see cli-i18n.h). */
#include "cli-i18n.h"

#include <locale.h>

void
cli_i18n_init (void)
{
  setlocale (LC_ALL, "");
  /* option values (--lr 3e-3), JSON lines and CSV numbers are read and
   * written with a decimal point whatever the user's locale */
  setlocale (LC_NUMERIC, "C");
#ifdef TS_ENABLE_NLS
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
#endif
}
