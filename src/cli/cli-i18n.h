/* cli-i18n.h: gettext for tagsight-cli, which has no GLib: glibc's libintl
 * when meson found it (TS_ENABLE_NLS), the English text otherwise.  The
 * strings are extracted with the same keywords as the app's (_, N_, C_,
 * ngettext); main () binds the catalogue (cli_i18n_init). */
#pragma once

#include <stdio.h>

#ifdef TS_ENABLE_NLS
#include <libintl.h>
#define _(msgid) gettext (msgid)
/* msgid @msgid in context @ctx (GLib's C_: the catalogue key is ctx\004msgid) */
#define C_(ctx, msgid) cli_pgettext (ctx "\004" msgid, msgid)
#else
#define _(msgid) (msgid)
#define C_(ctx, msgid) (msgid)
#define ngettext(msgid, plural, n) ((n) == 1 ? (msgid) : (plural))
#endif
#define N_(msgid) (msgid)

/* The user's locale for messages and text, the "tagsight" catalogue from
 * the install's locale folder; numbers stay in the C locale. */
void cli_i18n_init (void);
/* The translation of @ctx_msgid ("context\004msgid"), else @msgid. */
const char *cli_pgettext (const char *ctx_msgid, const char *msgid);

/* "tagsight-cli @cmd: @message" (@cmd NULL: "tagsight-cli: @message") and a
 * newline on stderr, the joiner translated (French puts a space before the
 * colon); returns 1, a command's exit status after an error. */
int cli_fail (const char *cmd, const char *message);

/* Tables with translated headers: widths count columns, one a code point
 * (printf's counts bytes, which a translated "Präzision" outgrows). */
int cli_text_width (const char *s);
/* The width of a column headed @header: @min, or the header's if wider. */
int cli_col_width (const char *header, int min);
/* @s left-aligned in @width columns (@width < 0: right-aligned in -@width);
 * never cut. */
void cli_pad (FILE *out, const char *s, int width);
