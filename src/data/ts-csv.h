/* ts-csv.h: an RFC 4180 CSV reader (quoted fields with embedded commas,
 * doubled quotes and line breaks; CRLF, LF or CR line ends; a UTF-8 byte order
 * mark), that keeps the physical line where each record starts so every
 * complaint can name it.
 *
 * Like pandas (which fastai reads CSVs with), blank lines (and lines of only
 * spaces and tabs) are skipped and a stray quote inside an unquoted field is
 * kept as a literal character.
 * Defects that make a record unreliable (invalid UTF-8, a NUL byte, a quote
 * that never closes) do not stop the reader: the record is returned with
 * ->defect set, so the caller can skip it and report where it was.
 */
#pragma once

#include <stddef.h>

#include "ts-status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TS_CSV_DEFECT_NONE,
  TS_CSV_DEFECT_BAD_UTF8,           /* a byte sequence that is not UTF-8 */
  TS_CSV_DEFECT_NUL_BYTE,           /* a zero byte: a binary file, or UTF-16 */
  TS_CSV_DEFECT_UNTERMINATED_QUOTE, /* the quoted field swallowed the rest of the file */
} ts_csv_defect;

typedef struct {
  char **fields;        /* NUL-terminated; owned by the reader until the next call */
  int n_fields;
  int line;             /* 1-based physical line where the record starts */
  int end_line;         /* line where it ends (> line with quoted line breaks) */
  ts_csv_defect defect; /* the first defect found in the record */
  int defect_line;      /* where it is: 1-based line and character column */
  int defect_column;
} ts_csv_record;

typedef struct ts_csv ts_csv;

/* Reads the whole file; fails only when it cannot be read. */
ts_status ts_csv_open (const char *path, ts_csv **out);
/* Parses a copy of @data; @name is used in messages. */
ts_status ts_csv_open_memory (const char *data, size_t size, const char *name, ts_csv **out);
void ts_csv_free (ts_csv *csv);

/* Fills @rec with the next record and returns 1; returns 0 at the end, -1
 * when out of memory (message in ts_last_error). */
int ts_csv_next (ts_csv *csv, ts_csv_record *rec);

const char *ts_csv_name (const ts_csv *csv);
/* Whether the input started with a UTF-8 byte order mark (it is skipped). */
int ts_csv_had_bom (const ts_csv *csv);

/* One line of English for a record's defect, e.g. "invalid UTF-8 at line 4,
 * column 7"; "" when the record has none. */
const char *ts_csv_defect_describe (const ts_csv_record *rec, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
