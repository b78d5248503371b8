#include "ts-csv.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts-i18n.h"

struct ts_csv {
  char *name;
  unsigned char *data;
  size_t size;
  size_t pos;
  int line;            /* physical line of data[pos] */
  size_t line_start;   /* offset where that line starts, for columns */
  int had_bom;

  /* the current record: field bytes back to back, each NUL-terminated */
  char *buf;
  size_t buf_len, buf_cap;
  size_t *offsets;
  size_t offsets_cap;
  char **fields;
  size_t fields_cap;
};

static ts_status
grow (void **p, size_t *cap, size_t need, size_t elem)
{
  size_t n = *cap ? *cap : 64;
  void *q;

  if (need <= *cap)
    return TS_OK;
  while (n < need)
    n *= 2;
  q = realloc (*p, n * elem);
  if (q == NULL)
    return ts_error (TS_ERR_NOMEM, "out of memory reading a CSV file");
  *p = q;
  *cap = n;
  return TS_OK;
}

static ts_status
csv_init (ts_csv *csv, const char *name)
{
  csv->name = strdup (name ? name : "(memory)");
  if (csv->name == NULL)
    return ts_error (TS_ERR_NOMEM, "out of memory");
  csv->line = 1;
  if (csv->size >= 3 && csv->data[0] == 0xEF && csv->data[1] == 0xBB && csv->data[2] == 0xBF)
    {
      csv->had_bom = 1;
      csv->pos = 3;
      csv->line_start = 3;
    }
  return TS_OK;
}

ts_status
ts_csv_open_memory (const char *data, size_t size, const char *name, ts_csv **out)
{
  ts_csv *csv = calloc (1, sizeof *csv);

  *out = NULL;
  if (csv == NULL || (csv->data = malloc (size + 1)) == NULL)
    {
      free (csv);
      return ts_error (TS_ERR_NOMEM, "out of memory");
    }
  memcpy (csv->data, data, size);
  csv->size = size;
  if (csv_init (csv, name) != TS_OK)
    {
      ts_csv_free (csv);
      return TS_ERR_NOMEM;
    }
  *out = csv;
  return TS_OK;
}

ts_status
ts_csv_open (const char *path, ts_csv **out)
{
  FILE *f;
  ts_csv *csv;
  size_t cap = 0;
  ts_status s;

  *out = NULL;
  f = fopen (path, "rb");
  if (f == NULL)
    return ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));
  csv = calloc (1, sizeof *csv);
  if (csv == NULL)
    {
      fclose (f);
      return ts_error (TS_ERR_NOMEM, "out of memory");
    }
  for (;;)
    {
      size_t got;

      if ((s = grow ((void **) &csv->data, &cap, csv->size + 65536 + 1, 1)) != TS_OK)
        goto fail;
      got = fread (csv->data + csv->size, 1, cap - csv->size - 1, f);
      csv->size += got;
      if (got == 0)
        break;
    }
  if (ferror (f))
    {
      s = ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));
      goto fail;
    }
  fclose (f);
  if (csv_init (csv, path) != TS_OK)
    {
      ts_csv_free (csv);
      return TS_ERR_NOMEM;
    }
  *out = csv;
  return TS_OK;

fail:
  fclose (f);
  ts_csv_free (csv);
  return s;
}

void
ts_csv_free (ts_csv *csv)
{
  if (csv == NULL)
    return;
  free (csv->name);
  free (csv->data);
  free (csv->buf);
  free (csv->offsets);
  free (csv->fields);
  free (csv);
}

const char *
ts_csv_name (const ts_csv *csv)
{
  return csv->name;
}

int
ts_csv_had_bom (const ts_csv *csv)
{
  return csv->had_bom;
}

/* Length of the well-formed UTF-8 sequence starting at @p (p[0] >= 0x80), or
 * 0: overlong forms, surrogates and code points past U+10FFFF are rejected, as
 * Python's decoder does. */
static size_t
utf8_sequence (const unsigned char *p, size_t avail)
{
  unsigned c = p[0];
  size_t n;

  if (c >= 0xC2 && c <= 0xDF)
    n = 2;
  else if (c >= 0xE0 && c <= 0xEF)
    n = 3;
  else if (c >= 0xF0 && c <= 0xF4)
    n = 4;
  else
    return 0;
  if (avail < n)
    return 0;
  for (size_t i = 1; i < n; i++)
    if ((p[i] & 0xC0) != 0x80)
      return 0;
  if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F)
      || (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F))
    return 0;
  return n;
}

/* Character column (1-based) of byte offset @at on the line starting at
 * @line_start.  It costs the length of the line, so it is worked out only for
 * the one defect a record reports: per byte, a long line of defects would
 * take quadratic time. */
static int
column_at (const ts_csv *csv, size_t line_start, size_t at)
{
  int col = 1;

  for (size_t i = line_start; i < at; i++)
    if ((csv->data[i] & 0xC0) != 0x80)
      col++;
  return col;
}

/* Notes a defect at byte @at of the current line, unless the record has one. */
static void
set_defect (ts_csv *csv, ts_csv_record *rec, ts_csv_defect defect, size_t at)
{
  if (rec->defect != TS_CSV_DEFECT_NONE)
    return;
  rec->defect = defect;
  rec->defect_line = csv->line;
  rec->defect_column = column_at (csv, csv->line_start, at);
}

static ts_status
put (ts_csv *csv, const unsigned char *bytes, size_t n)
{
  if (grow ((void **) &csv->buf, &csv->buf_cap, csv->buf_len + n + 1, 1) != TS_OK)
    return TS_ERR_NOMEM;
  memcpy (csv->buf + csv->buf_len, bytes, n);
  csv->buf_len += n;
  return TS_OK;
}

/* Length of the line break at @pos (CRLF, LF or a lone CR), 0 if none. */
static size_t
line_break_at (const ts_csv *csv, size_t pos)
{
  if (pos >= csv->size)
    return 0;
  if (csv->data[pos] == '\n')
    return 1;
  if (csv->data[pos] == '\r')
    return pos + 1 < csv->size && csv->data[pos + 1] == '\n' ? 2 : 1;
  return 0;
}

static void
new_line (ts_csv *csv, size_t break_len)
{
  csv->pos += break_len;
  csv->line++;
  csv->line_start = csv->pos;
}

/* Copies one ordinary byte or UTF-8 sequence at csv->pos into the field,
 * noting a defect when it is not valid UTF-8 or a NUL. */
static ts_status
put_char (ts_csv *csv, ts_csv_record *rec)
{
  const unsigned char *p = csv->data + csv->pos;
  size_t n = 1;

  if (p[0] == 0)
    set_defect (csv, rec, TS_CSV_DEFECT_NUL_BYTE, csv->pos);
  else if (p[0] >= 0x80)
    {
      n = utf8_sequence (p, csv->size - csv->pos);
      if (n == 0)
        {
          set_defect (csv, rec, TS_CSV_DEFECT_BAD_UTF8, csv->pos);
          n = 1;
        }
    }
  csv->pos += n;
  return put (csv, p, n);
}


int
ts_csv_next (ts_csv *csv, ts_csv_record *rec)
{
  static const unsigned char nul = 0;
  int n_fields = 0;

  memset (rec, 0, sizeof *rec);

  /* pandas (skip_blank_lines) ignores empty lines between records, and
   * lines of only spaces and tabs too */
  for (;;)
    {
      size_t end = csv->pos, br;

      while (end < csv->size && (csv->data[end] == ' ' || csv->data[end] == '\t'))
        end++;
      if (end < csv->size && (br = line_break_at (csv, end)) > 0)
        {
          csv->pos = end;
          new_line (csv, br);
          continue;
        }
      if (end >= csv->size)
        csv->pos = end;
      break;
    }
  if (csv->pos >= csv->size)
    return 0;

  rec->line = csv->line;
  csv->buf_len = 0;

  for (;;)
    {
      /* one field: an optional quoted part, then an unquoted tail */
      if (grow ((void **) &csv->offsets, &csv->offsets_cap, (size_t) n_fields + 1,
                sizeof (size_t)) != TS_OK)
        goto nomem;
      csv->offsets[n_fields++] = csv->buf_len;

      if (csv->pos < csv->size && csv->data[csv->pos] == '"')
        {
          int open_line = csv->line;
          size_t open_at = csv->pos, open_line_start = csv->line_start;
          int closed = 0;

          csv->pos++;
          while (csv->pos < csv->size)
            {
              size_t br;

              if (csv->data[csv->pos] == '"')
                {
                  if (csv->pos + 1 < csv->size && csv->data[csv->pos + 1] == '"')
                    {
                      if (put (csv, (const unsigned char *) "\"", 1) != TS_OK)
                        goto nomem;
                      csv->pos += 2;
                      continue;
                    }
                  csv->pos++;
                  closed = 1;
                  break;
                }
              if ((br = line_break_at (csv, csv->pos)) > 0)
                {
                  if (put (csv, csv->data + csv->pos, br) != TS_OK)
                    goto nomem;
                  new_line (csv, br);
                  continue;
                }
              if (put_char (csv, rec) != TS_OK)
                goto nomem;
            }
          if (!closed)
            {
              /* The quote's own position is what the user needs to fix, so it
               * takes precedence over anything found after it. */
              rec->defect = TS_CSV_DEFECT_UNTERMINATED_QUOTE;
              rec->defect_line = open_line;
              rec->defect_column = column_at (csv, open_line_start, open_at);
            }
        }

      while (csv->pos < csv->size && csv->data[csv->pos] != ','
             && line_break_at (csv, csv->pos) == 0)
        if (put_char (csv, rec) != TS_OK)
          goto nomem;

      if (put (csv, &nul, 1) != TS_OK)
        goto nomem;

      if (csv->pos < csv->size && csv->data[csv->pos] == ',')
        {
          csv->pos++;
          continue;
        }
      rec->end_line = csv->line;
      if (csv->pos < csv->size)
        new_line (csv, line_break_at (csv, csv->pos));
      break;
    }

  if (grow ((void **) &csv->fields, &csv->fields_cap, (size_t) n_fields, sizeof (char *))
      != TS_OK)
    goto nomem;
  for (int i = 0; i < n_fields; i++)
    csv->fields[i] = csv->buf + csv->offsets[i];
  rec->fields = csv->fields;
  rec->n_fields = n_fields;
  return 1;

nomem:
  csv->pos = csv->size;
  memset (rec, 0, sizeof *rec);
  ts_error (TS_ERR_NOMEM, "%s: out of memory at line %d", csv->name, csv->line);
  return -1;
}

const char *
ts_csv_defect_describe (const ts_csv_record *rec, char *buf, size_t size)
{
  switch (rec->defect)
    {
    case TS_CSV_DEFECT_NONE:
      snprintf (buf, size, "%s", "");
      break;
    case TS_CSV_DEFECT_BAD_UTF8:
      snprintf (buf, size, TS_ ("invalid UTF-8 at line %d, column %d (save the file as UTF-8)"),
                rec->defect_line, rec->defect_column);
      break;
    case TS_CSV_DEFECT_NUL_BYTE:
      snprintf (buf, size, TS_ ("NUL byte at line %d, column %d (binary or UTF-16 file?)"),
                rec->defect_line, rec->defect_column);
      break;
    case TS_CSV_DEFECT_UNTERMINATED_QUOTE:
      snprintf (buf, size,
                TS_ ("unterminated quote: the quote at line %d, column %d never closes, so "
                     "the rest of the file was read as one field"),
                rec->defect_line, rec->defect_column);
      break;
    }
  return buf;
}
