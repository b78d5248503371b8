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

const char *
cli_pgettext (const char *ctx_msgid, const char *msgid)
{
#ifdef TS_ENABLE_NLS
  const char *t = gettext (ctx_msgid);
  return t == ctx_msgid ? msgid : t;
#else
  (void) ctx_msgid;
  return msgid;
#endif
}

int
cli_fail (const char *cmd, const char *message)
{
  char prefix[64];

  if (cmd)
    snprintf (prefix, sizeof prefix, "tagsight-cli %s", cmd);
  else
    snprintf (prefix, sizeof prefix, "tagsight-cli");
  /* TRANSLATORS: command prefix, then the message, as in "tagsight-cli
     summary: labels.csv: no such file" */
  fprintf (stderr, _("%s: %s\n"), prefix, message);
  return 1;
}

int
cli_text_width (const char *s)
{
  int w = 0;
  for (; *s; s++)
    w += ((unsigned char) *s & 0xC0) != 0x80;
  return w;
}

int
cli_col_width (const char *header, int min)
{
  int w = cli_text_width (header);
  return w > min ? w : min;
}

void
cli_pad (FILE *out, const char *s, int width)
{
  int right = width < 0, w = right ? -width : width;
  int fill = w - cli_text_width (s);

  if (fill < 0)
    fill = 0;
  if (right)
    fprintf (out, "%*s%s", fill, "", s);
  else
    fprintf (out, "%s%*s", s, fill, "");
}
