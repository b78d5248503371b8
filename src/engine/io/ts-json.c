/* ts-json.c: recursive-descent JSON parser (RFC 8259) and string writer. */
#include "ts-json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

typedef struct {
  const char *s;
  size_t len, pos;
  const char *what;
  ts_status status;
} parser;

static ts_status
fail (parser *p, const char *msg)
{
  if (p->status == TS_OK)
    p->status = ts_error (TS_ERR_FORMAT, "%s: invalid JSON: %s at byte %zu", p->what, msg, p->pos);
  return p->status;
}

static void
skip_ws (parser *p)
{
  while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                             p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
    p->pos++;
}

static int
hex4 (parser *p, unsigned *out)
{
  unsigned v = 0;

  if (p->pos + 4 > p->len)
    return 0;
  for (int i = 0; i < 4; i++)
    {
      char c = p->s[p->pos++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= (unsigned) (c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= (unsigned) (c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= (unsigned) (c - 'A' + 10);
      else
        return 0;
    }
  *out = v;
  return 1;
}

static size_t
put_utf8 (char *dst, unsigned cp)
{
  if (cp < 0x80)
    {
      dst[0] = (char) cp;
      return 1;
    }
  if (cp < 0x800)
    {
      dst[0] = (char) (0xc0 | (cp >> 6));
      dst[1] = (char) (0x80 | (cp & 0x3f));
      return 2;
    }
  if (cp < 0x10000)
    {
      dst[0] = (char) (0xe0 | (cp >> 12));
      dst[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
      dst[2] = (char) (0x80 | (cp & 0x3f));
      return 3;
    }
  dst[0] = (char) (0xf0 | (cp >> 18));
  dst[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
  dst[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
  dst[3] = (char) (0x80 | (cp & 0x3f));
  return 4;
}

/* The decoded string is never longer than its escaped source. */
static ts_status
parse_string (parser *p, char **out, size_t *out_len)
{
  size_t start = ++p->pos, n = 0;
  char *buf;

  while (p->pos < p->len && p->s[p->pos] != '"')
    p->pos += p->s[p->pos] == '\\' ? 2 : 1;
  if (p->pos >= p->len)
    return fail (p, "unterminated string");
  buf = malloc (p->pos - start + 1);
  if (buf == NULL)
    return p->status = ts_error (TS_ERR_NOMEM, "%s: out of memory", p->what);
  p->pos = start;
  while (p->s[p->pos] != '"')
    {
      unsigned char c = (unsigned char) p->s[p->pos++];
      if (c < 0x20)
        {
          free (buf);
          return fail (p, "control character in string");
        }
      if (c != '\\')
        {
          buf[n++] = (char) c;
          continue;
        }
      c = (unsigned char) p->s[p->pos++];
      switch (c)
        {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u':
          {
            unsigned cp, lo;
            if (!hex4 (p, &cp))
              {
                free (buf);
                return fail (p, "bad \\u escape");
              }
            if (cp >= 0xd800 && cp < 0xdc00 && p->pos + 6 <= p->len &&
                p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u')
              {
                p->pos += 2;
                if (!hex4 (p, &lo) || lo < 0xdc00 || lo > 0xdfff)
                  {
                    free (buf);
                    return fail (p, "bad surrogate pair");
                  }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
              }
            /* 6 escaped bytes always hold the <= 4 encoded ones */
            n += put_utf8 (buf + n, cp);
            break;
          }
        default:
          free (buf);
          return fail (p, "bad escape");
        }
    }
  p->pos++;
  buf[n] = '\0';
  *out = buf;
  *out_len = n;
  return TS_OK;
}

static ts_status parse_value (parser *p, ts_json *v, int depth);

static ts_status
push_item (parser *p, ts_json *v, size_t *cap)
{
  if (v->len == *cap)
    {
      size_t ncap = *cap ? *cap * 2 : 8;
      ts_json *items = realloc (v->items, ncap * sizeof *items);
      if (items == NULL)
        return p->status = ts_error (TS_ERR_NOMEM, "%s: out of memory", p->what);
      v->items = items;
      if (v->type == TS_JSON_OBJECT)
        {
          char **keys = realloc (v->keys, ncap * sizeof *keys);
          if (keys == NULL)
            return p->status = ts_error (TS_ERR_NOMEM, "%s: out of memory", p->what);
          v->keys = keys;
        }
      *cap = ncap;
    }
  memset (&v->items[v->len], 0, sizeof v->items[0]);
  if (v->type == TS_JSON_OBJECT)
    v->keys[v->len] = NULL;
  v->len++;
  return TS_OK;
}

typedef struct {
  const char *key;
  size_t offset;
} key_pos;

static int
key_pos_cmp (const void *a, const void *b)
{
  const key_pos *x = a, *y = b;
  int c = strcmp (x->key, y->key);

  if (c != 0)
    return c;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* A repeated key makes a reader pick one of the values while another reader
 * (or a counting pass) picks the other, so duplicates are an error, reported
 * at the second occurrence.  Keys compare as C strings, as every lookup does,
 * so "a" and "a\u0000" are the same key.  Sorting keeps a hostile header
 * with millions of keys from going quadratic. */
static ts_status
check_duplicate_keys (parser *p, const ts_json *v, key_pos *kp)
{
  const key_pos *dup = NULL;

  if (v->len < 2)
    return TS_OK;
  qsort (kp, v->len, sizeof *kp, key_pos_cmp);
  for (size_t i = 1; i < v->len; i++)
    if (strcmp (kp[i].key, kp[i - 1].key) == 0 &&
        (dup == NULL || kp[i].offset < dup->offset))
      dup = &kp[i];
  if (dup == NULL)
    return TS_OK;
  p->pos = dup->offset;
  if (p->status == TS_OK)
    p->status = ts_error (TS_ERR_FORMAT, "%s: invalid JSON: duplicate key \"%.*s\" at byte %zu",
                          p->what, 64, dup->key, dup->offset);
  return p->status;
}

static ts_status parse_container_items (parser *p, ts_json *v, int depth, key_pos **kp,
                                        size_t *kcap);

static ts_status
parse_container (parser *p, ts_json *v, int depth)
{
  key_pos *kp = NULL;
  size_t kcap = 0;
  ts_status s = parse_container_items (p, v, depth, &kp, &kcap);

  if (s == TS_OK && v->type == TS_JSON_OBJECT)
    s = check_duplicate_keys (p, v, kp);
  free (kp);
  return s;
}

static ts_status
parse_container_items (parser *p, ts_json *v, int depth, key_pos **kp, size_t *kcap)
{
  int object = p->s[p->pos] == '{';
  char close = object ? '}' : ']';
  size_t cap = 0;

  v->type = object ? TS_JSON_OBJECT : TS_JSON_ARRAY;
  p->pos++;
  skip_ws (p);
  if (p->pos < p->len && p->s[p->pos] == close)
    {
      p->pos++;
      return TS_OK;
    }
  for (;;)
    {
      skip_ws (p);
      if (push_item (p, v, &cap) != TS_OK)
        return p->status;
      if (object)
        {
          size_t klen;
          size_t kstart = p->pos;
          if (p->pos >= p->len || p->s[p->pos] != '"')
            return fail (p, "expected a key");
          if (parse_string (p, &v->keys[v->len - 1], &klen) != TS_OK)
            return p->status;
          if (v->len > *kcap)
            {
              size_t ncap = *kcap ? *kcap * 2 : 8;
              key_pos *nkp = realloc (*kp, ncap * sizeof *nkp);
              if (nkp == NULL)
                return p->status = ts_error (TS_ERR_NOMEM, "%s: out of memory", p->what);
              *kp = nkp;
              *kcap = ncap;
            }
          (*kp)[v->len - 1] = (key_pos) { v->keys[v->len - 1], kstart };
          skip_ws (p);
          if (p->pos >= p->len || p->s[p->pos] != ':')
            return fail (p, "expected ':'");
          p->pos++;
        }
      if (parse_value (p, &v->items[v->len - 1], depth + 1) != TS_OK)
        return p->status;
      skip_ws (p);
      if (p->pos >= p->len)
        return fail (p, "unexpected end");
      if (p->s[p->pos] == ',')
        {
          p->pos++;
          continue;
        }
      if (p->s[p->pos] == close)
        {
          p->pos++;
          return TS_OK;
        }
      return fail (p, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static ts_status
parse_number (parser *p, ts_json *v)
{
  size_t start = p->pos;
  char tmp[64];
  int is_int = 1;

  if (p->s[p->pos] == '-')
    p->pos++;
  if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
    return fail (p, "bad number");
  while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
    p->pos++;
  if (p->pos < p->len && p->s[p->pos] == '.')
    {
      is_int = 0;
      p->pos++;
      if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
        return fail (p, "bad number");
      while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        p->pos++;
    }
  if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
    {
      is_int = 0;
      p->pos++;
      if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
        p->pos++;
      if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9')
        return fail (p, "bad number");
      while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
        p->pos++;
    }
  if (p->pos - start >= sizeof tmp)
    return fail (p, "number too long");
  memcpy (tmp, p->s + start, p->pos - start);
  tmp[p->pos - start] = '\0';
  v->type = TS_JSON_NUMBER;
  v->number = strtod (tmp, NULL);
  if (is_int)
    {
      errno = 0;
      v->integer = strtoll (tmp, NULL, 10);
      v->is_integer = errno == 0;
    }
  return TS_OK;
}

static ts_status
parse_value (parser *p, ts_json *v, int depth)
{
  char c;

  if (depth > MAX_DEPTH)
    return fail (p, "nested too deeply");
  skip_ws (p);
  if (p->pos >= p->len)
    return fail (p, "unexpected end");
  c = p->s[p->pos];
  if (c == '{' || c == '[')
    return parse_container (p, v, depth);
  if (c == '"')
    {
      v->type = TS_JSON_STRING;
      return parse_string (p, &v->string, &v->len);
    }
  if (c == '-' || (c >= '0' && c <= '9'))
    return parse_number (p, v);
  if (p->len - p->pos >= 4 && memcmp (p->s + p->pos, "true", 4) == 0)
    {
      v->type = TS_JSON_BOOL;
      v->boolean = 1;
      p->pos += 4;
      return TS_OK;
    }
  if (p->len - p->pos >= 5 && memcmp (p->s + p->pos, "false", 5) == 0)
    {
      v->type = TS_JSON_BOOL;
      p->pos += 5;
      return TS_OK;
    }
  if (p->len - p->pos >= 4 && memcmp (p->s + p->pos, "null", 4) == 0)
    {
      v->type = TS_JSON_NULL;
      p->pos += 4;
      return TS_OK;
    }
  return fail (p, "unexpected character");
}

static void
json_clear (ts_json *v)
{
  if (v->type == TS_JSON_ARRAY || v->type == TS_JSON_OBJECT)
    {
      for (size_t i = 0; i < v->len; i++)
        {
          json_clear (&v->items[i]);
          if (v->keys)
            free (v->keys[i]);
        }
      free (v->items);
      free (v->keys);
    }
  free (v->string);
}

void
ts_json_free (ts_json *v)
{
  if (v == NULL)
    return;
  json_clear (v);
  free (v);
}

ts_status
ts_json_parse (const char *text, size_t len, const char *what, ts_json **out)
{
  parser p = { text, len, 0, what ? what : "JSON", TS_OK };
  ts_json *v = calloc (1, sizeof *v);

  *out = NULL;
  if (v == NULL)
    return ts_error (TS_ERR_NOMEM, "%s: out of memory", p.what);
  if (parse_value (&p, v, 0) == TS_OK)
    {
      skip_ws (&p);
      if (p.pos != p.len)
        fail (&p, "trailing characters");
    }
  if (p.status != TS_OK)
    {
      ts_json_free (v);
      return p.status;
    }
  *out = v;
  return TS_OK;
}

const ts_json *
ts_json_get (const ts_json *v, const char *key)
{
  if (v == NULL || v->type != TS_JSON_OBJECT)
    return NULL;
  for (size_t i = 0; i < v->len; i++)
    if (strcmp (v->keys[i], key) == 0)
      return &v->items[i];
  return NULL;
}

void
ts_strbuf_append (ts_strbuf *b, const char *s, size_t n)
{
  if (b->failed)
    return;
  if (b->len + n + 1 > b->cap)
    {
      size_t ncap = b->cap ? b->cap : 256;
      char *d;
      while (ncap < b->len + n + 1)
        ncap *= 2;
      d = realloc (b->data, ncap);
      if (d == NULL)
        {
          b->failed = 1;
          return;
        }
      b->data = d;
      b->cap = ncap;
    }
  memcpy (b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void
ts_strbuf_printf (ts_strbuf *b, const char *fmt, ...)
{
  char small[256];
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (small, sizeof small, fmt, ap);
  va_end (ap);
  if (n < 0)
    {
      b->failed = 1;
      return;
    }
  if ((size_t) n < sizeof small)
    {
      ts_strbuf_append (b, small, (size_t) n);
      return;
    }
  {
    char *big = malloc ((size_t) n + 1);
    if (big == NULL)
      {
        b->failed = 1;
        return;
      }
    va_start (ap, fmt);
    vsnprintf (big, (size_t) n + 1, fmt, ap);
    va_end (ap);
    ts_strbuf_append (b, big, (size_t) n);
    free (big);
  }
}

void
ts_strbuf_json_string (ts_strbuf *b, const char *s)
{
  ts_strbuf_append (b, "\"", 1);
  for (; *s; s++)
    {
      unsigned char c = (unsigned char) *s;
      if (c == '"')
        ts_strbuf_append (b, "\\\"", 2);
      else if (c == '\\')
        ts_strbuf_append (b, "\\\\", 2);
      else if (c == '\n')
        ts_strbuf_append (b, "\\n", 2);
      else if (c == '\r')
        ts_strbuf_append (b, "\\r", 2);
      else if (c == '\t')
        ts_strbuf_append (b, "\\t", 2);
      else if (c < 0x20)
        ts_strbuf_printf (b, "\\u%04x", c);
      else
        ts_strbuf_append (b, (const char *) &c, 1);
    }
  ts_strbuf_append (b, "\"", 1);
}

void
ts_strbuf_clear (ts_strbuf *b)
{
  free (b->data);
  memset (b, 0, sizeof *b);
}
