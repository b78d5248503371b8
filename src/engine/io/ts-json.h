/* ts-json.h: a small JSON reader and writer for file headers and metadata
 * (safetensors headers, model file metadata).  Not a general-purpose library:
 * documents are small, so the parser builds a tree and reports the first
 * error with its byte offset. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TS_JSON_NULL,
  TS_JSON_BOOL,
  TS_JSON_NUMBER,
  TS_JSON_STRING,
  TS_JSON_ARRAY,
  TS_JSON_OBJECT,
} ts_json_type;

typedef struct ts_json ts_json;
struct ts_json {
  ts_json_type type;
  int boolean;
  double number;
  int64_t integer;     /* exact value when is_integer */
  int is_integer;
  char *string;        /* STRING: UTF-8, NUL-terminated (may contain no NUL) */
  size_t len;          /* STRING: bytes; ARRAY/OBJECT: number of items */
  ts_json *items;      /* ARRAY / OBJECT values */
  char **keys;         /* OBJECT keys, parallel to items */
};

/* Parses @len bytes.  On error returns TS_ERR_FORMAT with "@what: ... at byte N". */
ts_status ts_json_parse (const char *text, size_t len, const char *what, ts_json **out);
void ts_json_free (ts_json *v);

/* NULL when absent or @v is not an object. */
const ts_json *ts_json_get (const ts_json *v, const char *key);

/* A growable string for writing JSON. */
typedef struct {
  char *data;
  size_t len, cap;
  int failed;          /* allocation failed at some point */
} ts_strbuf;

void ts_strbuf_append (ts_strbuf *b, const char *s, size_t n);
void ts_strbuf_printf (ts_strbuf *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Appends @s as a quoted JSON string with escapes. */
void ts_strbuf_json_string (ts_strbuf *b, const char *s);
void ts_strbuf_clear (ts_strbuf *b);

#ifdef __cplusplus
}
#endif
