#include "ts-status.h"

#include <stdio.h>
#include <string.h>

#define TS_ERROR_MAX 2048

static _Thread_local char ts_error_buf[TS_ERROR_MAX];

ts_status
ts_verror (ts_status status, const char *fmt, va_list ap)
{
  vsnprintf (ts_error_buf, sizeof ts_error_buf, fmt, ap);
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
  vsnprintf (prefix, sizeof prefix, fmt, ap);
  va_end (ap);
  memcpy (old, ts_error_buf, sizeof old);
  /* both halves bounded so the result always fits: the message is cut, never overrun */
  snprintf (ts_error_buf, sizeof ts_error_buf, "%.1000s: %.1000s", prefix, old);
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
