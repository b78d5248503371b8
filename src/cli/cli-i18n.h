/* cli-i18n.h: gettext for tagsight-cli, which has no GLib: glibc's libintl
 * when meson found it (TS_ENABLE_NLS), the English text otherwise.  The
 * strings are extracted with the same keywords as the app's (_, N_,
 * ngettext); main () binds the catalogue (cli_i18n_init). */
#pragma once

#ifdef TS_ENABLE_NLS
#include <libintl.h>
#define _(msgid) gettext (msgid)
#else
#define _(msgid) (msgid)
#define ngettext(msgid, plural, n) ((n) == 1 ? (msgid) : (plural))
#endif
#define N_(msgid) (msgid)

/* The user's locale for messages and text, the "tagsight" catalogue from
 * the install's locale folder; numbers stay in the C locale. */
void cli_i18n_init (void);
