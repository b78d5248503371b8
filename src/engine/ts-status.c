#include "ts-status.h"

#include <stdio.h>
#include <string.h>

/* Messages are translated here, once for every call site: the format is the
 * msgid (po/meson.build tells xgettext that ts_error's second argument is
 * one) and the catalogue's version is formatted instead.  glibc's gettext,
 * not GLib, so the engine stays GLib-free; a program that binds no
 * "tagsight" domain (the tests) gets English.  TS_ is src/data/ts-i18n.h's,
 * which the engine cannot include (it sits below the data layer). */
#ifdef TS_ENABLE_NLS
#include <libintl.h>
#define TS_(msgid) dgettext ("tagsight", msgid)
#else
#define TS_(msgid) (msgid)
#endif

#define TS_ERROR_MAX 2048

static _Thread_local char ts_error_buf[TS_ERROR_MAX];

ts_status
ts_verror (ts_status status, const char *fmt, va_list ap)
{
  vsnprintf (ts_error_buf, sizeof ts_error_buf, TS_ (fmt), ap);
  return status;
}

ts_status
ts_error (ts_status status, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  ts_verror (status, fmt, ap);
  va_end (ap);
  return status;
}

ts_status
ts_error_prefix (ts_status status, const char *fmt, ...)
{
  char prefix[TS_ERROR_MAX];
  char old[TS_ERROR_MAX];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (prefix, sizeof prefix, TS_ (fmt), ap);
  va_end (ap);
  memcpy (old, ts_error_buf, sizeof old);
  /* TRANSLATORS: context, then the error message, as in "loading
     model.safetensors: unexpected end of file".  Keep the %.1000s: both
     halves are bounded so that the result always fits (it is cut, never
     overrun). */
  snprintf (ts_error_buf, sizeof ts_error_buf, TS_ ("%.1000s: %.1000s"), prefix, old);
  return status;
}

const char *
ts_last_error (void)
{
  return ts_error_buf;
}

void
ts_clear_error (void)
{
  ts_error_buf[0] = '\0';
}

const char *
ts_status_name (ts_status status)
{
  switch (status)
    {
    case TS_OK: return "ok";
    case TS_ERR_INVALID: return "invalid argument";
    case TS_ERR_IO: return "I/O error";
    case TS_ERR_FORMAT: return "malformed file";
    case TS_ERR_SHAPE: return "shape mismatch";
    case TS_ERR_NOMEM: return "out of memory";
    case TS_ERR_UNSUPPORTED: return "unsupported";
    case TS_ERR_NUMERIC: return "numerical error";
    case TS_ERR_CANCELLED: return "cancelled";
    case TS_ERR_DEVICE: return "device error";
    }
  return "unknown error";
}
