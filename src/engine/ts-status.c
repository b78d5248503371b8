#include "ts-status.h"

#include <stdio.h>
#include <string.h>

/* Messages are translated here, once for every call site: the format is the
 * msgid (po/meson.build tells xgettext that ts_error's second argument is
 * one) and the catalogue's version is formatted instead.  glibc's gettext,
 * not GLib, so the engine stays GLib-free; a program that binds no
 * "tagsight" domain (the tests) gets English. */
#include "ts-i18n.h"

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

ts_status
ts_device_error (const char *op, const char *error, const char *code, ts_device_advice advice)
{
  /* one whole sentence per advice, so that a translation never has to fit
   * an English (or translated) half-sentence into its own grammar */
  switch (advice)
    {
    case TS_DEVICE_ADVICE_SMALLER_BATCH:
      return ts_error (TS_ERR_DEVICE, "CUDA %s failed: %s (%s); try a smaller batch size or "
                       "the CPU", op, error, code);
    case TS_DEVICE_ADVICE_RESTART:
      return ts_error (TS_ERR_DEVICE, "CUDA %s failed: %s (%s); the GPU cannot be used again "
                       "until the program is restarted: continue on the CPU", op, error, code);
    case TS_DEVICE_ADVICE_NONE:
      break;
    }
  return ts_error (TS_ERR_DEVICE, "CUDA %s failed: %s (%s)", op, error, code);
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
