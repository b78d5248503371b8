/* ts-i18n.h: translating the text the plain-C layers (engine, data, learn)
 * write for people, without GLib: glibc's gettext in the "tagsight" domain
 * when meson found it (TS_ENABLE_NLS), the English text otherwise.  The
 * program binds the domain (setlocale + bindtextdomain); a program that
 * does not (the tests) gets English.  xgettext knows TS_ and TS_NG from
 * po/meson.build.  Error messages need neither: ts_error translates its
 * format itself (ts-status.h).  Include it from .c files only: it defines
 * macros. */
#pragma once

#ifdef TS_ENABLE_NLS
#include <libintl.h>
#define TS_(msgid) dgettext ("tagsight", msgid)
#define TS_NG(msgid, plural, n) dngettext ("tagsight", msgid, plural, n)
#else
#define TS_(msgid) (msgid)
#define TS_NG(msgid, plural, n) ((n) == 1 ? (msgid) : (plural))
#endif
