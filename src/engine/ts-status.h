/* ts-status.h: error reporting for the plain-C layers (engine, data, learn).
 *
 * Every fallible call returns a ts_status.  The human-readable message lives in
 * a thread-local buffer so that worker threads never clobber each other's
 * errors; callers copy it (ts_last_error) before making another call.
 */
#pragma once

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TS_OK = 0,
  TS_ERR_INVALID,     /* bad argument or configuration */
  TS_ERR_IO,          /* file missing, unreadable, write failed */
  TS_ERR_FORMAT,      /* file readable but malformed (CSV, JPEG, safetensors, tflite) */
  TS_ERR_SHAPE,       /* tensor shapes do not fit */
  TS_ERR_NOMEM,       /* allocation failed */
  TS_ERR_UNSUPPORTED, /* valid input we do not handle */
  TS_ERR_NUMERIC,     /* NaN / Inf */
  TS_ERR_CANCELLED,   /* stopped by the user */
  TS_ERR_DEVICE,      /* backend (CUDA) failure */
} ts_status;

/* Records a printf-style message for the current thread and returns @status,
 * so errors read `return ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));`
 * The format is a msgid: it is translated in the "tagsight" domain when the
 * program bound one, so pass a string literal (po/meson.build extracts it). */
ts_status ts_error (ts_status status, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
ts_status ts_verror (ts_status status, const char *fmt, va_list ap);

/* Prefixes the current message with more context ("loading model.safetensors: ...")
 * and returns @status unchanged. */
ts_status ts_error_prefix (ts_status status, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* What the user can do after a GPU call failed; the message says it. */
typedef enum {
  TS_DEVICE_ADVICE_NONE,
  TS_DEVICE_ADVICE_SMALLER_BATCH, /* out of GPU memory: a smaller batch, or the CPU */
  TS_DEVICE_ADVICE_RESTART,       /* the process lost the GPU until it restarts: the CPU */
} ts_device_advice;

/* Records "CUDA @op failed: @error (@code)" with @advice's way out, one
 * translated sentence, and returns TS_ERR_DEVICE.  The CUDA backend's
 * checks build their messages here, where a test without a GPU reaches
 * them; @error and @code are CUDA's own (English) texts. */
ts_status ts_device_error (const char *op, const char *error, const char *code,
                           ts_device_advice advice);

/* The last message recorded on this thread ("" when none). */
const char *ts_last_error (void);
void ts_clear_error (void);

const char *ts_status_name (ts_status status);

#ifdef __cplusplus
}
#endif
