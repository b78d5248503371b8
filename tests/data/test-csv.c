/* The RFC 4180 reader: each feature, line tracking, and every defect with
 * its line and column. */
#include <string.h>

#include "ts-csv.h"
#include "ts-test.h"

/* Reads all of @text; returns the records' fields joined as "a|b" per
 * record, records separated by "\n", and the start lines. */
typedef struct {
  GPtrArray *rows;     /* char*: fields joined by '|' */
  GArray *lines;       /* int */
  GArray *end_lines;   /* int */
  GArray *defects;     /* ts_csv_record copies (fields not kept) */
  int had_bom;
} parsed;

static parsed *
parse (const char *text, size_t len)
{
  parsed *p = g_new0 (parsed, 1);
  ts_csv *csv;
  ts_csv_record rec;
  int r;

  p->rows = g_ptr_array_new_with_free_func (g_free);
  p->lines = g_array_new (FALSE, FALSE, sizeof (int));
  p->end_lines = g_array_new (FALSE, FALSE, sizeof (int));
  p->defects = g_array_new (FALSE, FALSE, sizeof (ts_csv_record));
  g_assert_cmpint (ts_csv_open_memory (text, len, "test.csv", &csv), ==, TS_OK);
  while ((r = ts_csv_next (csv, &rec)) > 0)
    {
      GString *s = g_string_new (NULL);
      for (int i = 0; i < rec.n_fields; i++)
        {
          if (i)
            g_string_append_c (s, '|');
          g_string_append (s, rec.fields[i]);
        }
      g_ptr_array_add (p->rows, g_string_free (s, FALSE));
      g_array_append_val (p->lines, rec.line);
      g_array_append_val (p->end_lines, rec.end_line);
      rec.fields = NULL;
      g_array_append_val (p->defects, rec);
    }
  g_assert_cmpint (r, ==, 0);
  p->had_bom = ts_csv_had_bom (csv);
  ts_csv_free (csv);
  return p;
}

static parsed *
parse_str (const char *text)
{
  return parse (text, strlen (text));
}

static void
parsed_free (parsed *p)
{
  g_ptr_array_unref (p->rows);
  g_array_unref (p->lines);
  g_array_unref (p->end_lines);
  g_array_unref (p->defects);
  g_free (p);
}

#define ROW(p, i) ((const char *) g_ptr_array_index ((p)->rows, (i)))
#define LINE(p, i) g_array_index ((p)->lines, int, (i))
#define END_LINE(p, i) g_array_index ((p)->end_lines, int, (i))
#define DEFECT(p, i) (&g_array_index ((p)->defects, ts_csv_record, (i)))

static void
test_simple_lf (void)
{
  parsed *p = parse_str ("fname,labels,is_valid\na.jpg,cat dog,True\nb.jpg,,False\n");

  g_assert_cmpuint (p->rows->len, ==, 3);
  g_assert_cmpstr (ROW (p, 0), ==, "fname|labels|is_valid");
  g_assert_cmpstr (ROW (p, 1), ==, "a.jpg|cat dog|True");
  g_assert_cmpstr (ROW (p, 2), ==, "b.jpg||False");
  g_assert_cmpint (LINE (p, 2), ==, 3);
  g_assert_cmpint (DEFECT (p, 1)->defect, ==, TS_CSV_DEFECT_NONE);
  g_assert_false (p->had_bom);
  parsed_free (p);
}

static void
test_crlf_and_cr (void)
{
  parsed *p = parse_str ("a,b\r\n1,2\r\n3,4");

  g_assert_cmpuint (p->rows->len, ==, 3);
  g_assert_cmpstr (ROW (p, 1), ==, "1|2");
  g_assert_cmpstr (ROW (p, 2), ==, "3|4");
  g_assert_cmpint (LINE (p, 2), ==, 3);
  parsed_free (p);

  /* old Mac line ends */
  p = parse_str ("a,b\r1,2\r");
  g_assert_cmpuint (p->rows->len, ==, 2);
  g_assert_cmpstr (ROW (p, 1), ==, "1|2");
  g_assert_cmpint (LINE (p, 1), ==, 2);
  parsed_free (p);
}

static void
test_quoted_comma_and_quotes (void)
{
  parsed *p = parse_str ("\"x,y\",z\n\"he said \"\"hi\"\"\",\"\"\n\"\"\"\",\",\"\n");

  g_assert_cmpuint (p->rows->len, ==, 3);
  g_assert_cmpstr (ROW (p, 0), ==, "x,y|z");
  g_assert_cmpstr (ROW (p, 1), ==, "he said \"hi\"|");
  g_assert_cmpstr (ROW (p, 2), ==, "\"|,");
  parsed_free (p);
}

static void
test_embedded_newlines (void)
{
  parsed *p = parse_str ("a,b\n\"one\ntwo\",x\n\"three\r\nfour\r\nfive\",y\r\nlast,z\n");

  g_assert_cmpuint (p->rows->len, ==, 4);
  g_assert_cmpstr (ROW (p, 1), ==, "one\ntwo|x");
  g_assert_cmpint (LINE (p, 1), ==, 2);
  g_assert_cmpint (END_LINE (p, 1), ==, 3);
  /* line breaks inside quotes are kept as written */
  g_assert_cmpstr (ROW (p, 2), ==, "three\r\nfour\r\nfive|y");
  g_assert_cmpint (LINE (p, 2), ==, 4);
  g_assert_cmpint (END_LINE (p, 2), ==, 6);
  g_assert_cmpstr (ROW (p, 3), ==, "last|z");
  g_assert_cmpint (LINE (p, 3), ==, 7);
  parsed_free (p);
}

static void
test_bom (void)
{
  parsed *p = parse_str ("\xEF\xBB\xBF" "fname,labels\r\na.jpg,x\r\n");

  g_assert_true (p->had_bom);
  g_assert_cmpstr (ROW (p, 0), ==, "fname|labels");
  g_assert_cmpint (LINE (p, 0), ==, 1);
  g_assert_cmpint (LINE (p, 1), ==, 2);
  parsed_free (p);

  /* a BOM-like sequence later in the file is ordinary text (U+FEFF) */
  p = parse_str ("a\n\xEF\xBB\xBF" "b\n");
  g_assert_false (p->had_bom);
  g_assert_cmpstr (ROW (p, 1), ==, "\xEF\xBB\xBF" "b");
  parsed_free (p);
}

static void
test_blank_lines_and_empty_fields (void)
{
  parsed *p = parse_str ("\na,b\n\n\n,\n\r\n\"\",\"\"\n");

  g_assert_cmpuint (p->rows->len, ==, 3);
  g_assert_cmpint (LINE (p, 0), ==, 2);
  g_assert_cmpstr (ROW (p, 1), ==, "|");
  g_assert_cmpint (LINE (p, 1), ==, 5);
  g_assert_cmpstr (ROW (p, 2), ==, "|");
  g_assert_cmpint (LINE (p, 2), ==, 7);
  parsed_free (p);

  p = parse_str ("");
  g_assert_cmpuint (p->rows->len, ==, 0);
  parsed_free (p);
}

static void
test_stray_quotes_lenient (void)
{
  /* like pandas: a quote inside an unquoted field is a literal, text after a
   * closing quote is appended */
  parsed *p = parse_str ("ab\"c,d\n\"ab\"c,d\n");

  g_assert_cmpstr (ROW (p, 0), ==, "ab\"c|d");
  g_assert_cmpstr (ROW (p, 1), ==, "abc|d");
  g_assert_cmpint (DEFECT (p, 0)->defect, ==, TS_CSV_DEFECT_NONE);
  parsed_free (p);
}

static void
test_utf8 (void)
{
  char buf[256];
  parsed *p = parse_str ("fname,labels\n"
                         "caf\xC3\xA9.jpg,\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80\n"
                         "x\xFF.jpg,a\n"
                         "\"multi\nli\xC3(e\",b\n"
                         "\xC0\xAF,overlong\n"
                         "\xED\xA0\x80,surrogate\n"
                         "\xF4\x90\x80\x80,too big\n"
                         "\xE6\x97,truncated\n");

  g_assert_cmpuint (p->rows->len, ==, 8);
  g_assert_cmpint (DEFECT (p, 1)->defect, ==, TS_CSV_DEFECT_NONE);
  g_assert_cmpstr (ROW (p, 1), ==, "caf\xC3\xA9.jpg|\xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80");

  g_assert_cmpint (DEFECT (p, 2)->defect, ==, TS_CSV_DEFECT_BAD_UTF8);
  g_assert_cmpint (DEFECT (p, 2)->defect_line, ==, 3);
  g_assert_cmpint (DEFECT (p, 2)->defect_column, ==, 2);
  ts_csv_defect_describe (DEFECT (p, 2), buf, sizeof buf);
  g_assert_nonnull (strstr (buf, "invalid UTF-8 at line 3, column 2"));

  /* inside a quoted field spanning lines: the physical line of the byte */
  g_assert_cmpint (DEFECT (p, 3)->defect, ==, TS_CSV_DEFECT_BAD_UTF8);
  g_assert_cmpint (LINE (p, 3), ==, 4);
  g_assert_cmpint (DEFECT (p, 3)->defect_line, ==, 5);
  g_assert_cmpint (DEFECT (p, 3)->defect_column, ==, 3);

  for (int i = 4; i < 8; i++)
    {
      g_assert_cmpint (DEFECT (p, i)->defect, ==, TS_CSV_DEFECT_BAD_UTF8);
      g_assert_cmpint (DEFECT (p, i)->defect_line, ==, LINE (p, i));
      g_assert_cmpint (DEFECT (p, i)->defect_column, ==, 1);
    }
  parsed_free (p);
}

static void
test_nul_byte (void)
{
  static const char text[] = "a,b\n1,x\0y\n2,z\n";
  parsed *p = parse (text, sizeof text - 1);

  g_assert_cmpuint (p->rows->len, ==, 3);
  g_assert_cmpint (DEFECT (p, 1)->defect, ==, TS_CSV_DEFECT_NUL_BYTE);
  g_assert_cmpint (DEFECT (p, 1)->defect_line, ==, 2);
  g_assert_cmpint (DEFECT (p, 1)->defect_column, ==, 4);
  g_assert_cmpint (DEFECT (p, 2)->defect, ==, TS_CSV_DEFECT_NONE);
  parsed_free (p);
}

static void
test_unterminated_quote (void)
{
  char buf[256];
  parsed *p = parse_str ("a,b\n1,2\n3,\"oops\n4,5\n6,\xFF\n");

  /* the open quote swallows the rest: one defective record, reported where
   * the quote opened (not at the bad byte after it) */
  g_assert_cmpuint (p->rows->len, ==, 3);
  g_assert_cmpint (LINE (p, 2), ==, 3);
  g_assert_cmpint (DEFECT (p, 2)->defect, ==, TS_CSV_DEFECT_UNTERMINATED_QUOTE);
  g_assert_cmpint (DEFECT (p, 2)->defect_line, ==, 3);
  g_assert_cmpint (DEFECT (p, 2)->defect_column, ==, 3);
  ts_csv_defect_describe (DEFECT (p, 2), buf, sizeof buf);
  g_assert_nonnull (strstr (buf, "line 3, column 3 never closes"));
  parsed_free (p);
}

/* Lines of only spaces or tabs are blank lines to pandas (skip_blank_lines):
 * skipped, not one-field records that would read as malformed rows. */
static void
test_whitespace_lines (void)
{
  parsed *p = parse_str ("a,b\n  \n1,2\n\t \r\n \"x\",y\n  ");

  g_assert_cmpuint (p->rows->len, ==, 3);
  g_assert_cmpstr (ROW (p, 1), ==, "1|2");
  g_assert_cmpint (LINE (p, 1), ==, 3);
  /* leading blanks of a real record are kept, as pandas keeps them */
  g_assert_cmpstr (ROW (p, 2), ==, " \"x\"|y");
  g_assert_cmpint (LINE (p, 2), ==, 5);
  parsed_free (p);
}

/* A 1 MB line full of defects (bad UTF-8, NUL bytes, quoted fields) reads in
 * linear time: the column of a defect is worked out once, not per byte. */
static void
test_long_defective_lines (void)
{
  static const char fill[] = { '\xFF', '\0' };
  const size_t n = 1 << 20;

  for (int k = 0; k < 3; k++)
    {
      GString *s = g_string_new ("a,b\nx,");
      gint64 t0 = g_get_monotonic_time ();
      parsed *p;

      for (size_t i = 0; i < n; i++)
        {
          if (k < 2)
            g_string_append_c (s, fill[k]);
          else if (i % 4 == 0)
            g_string_append (s, ",\"q\"");
        }
      g_string_append (s, "\ny,z\n");
      p = parse (s->str, s->len);
      g_test_message ("kind %d: %.3f s", k, (g_get_monotonic_time () - t0) / 1e6);
      g_assert_cmpint (g_get_monotonic_time () - t0, <, 2 * G_USEC_PER_SEC);
      g_assert_cmpuint (p->rows->len, ==, 3);
      g_assert_cmpint (DEFECT (p, 1)->defect, ==,
                       k == 0 ? TS_CSV_DEFECT_BAD_UTF8
                              : k == 1 ? TS_CSV_DEFECT_NUL_BYTE : TS_CSV_DEFECT_NONE);
      if (k < 2)
        g_assert_cmpint (DEFECT (p, 1)->defect_column, ==, 3);
      g_assert_cmpstr (ROW (p, 2), ==, "y|z");
      parsed_free (p);
      g_string_free (s, TRUE);
    }

  /* an unterminated quote after a long line still names its own column */
  {
    GString *s = g_string_new ("a,b\n");
    parsed *p;

    for (size_t i = 0; i < n / 4; i++)
      g_string_append (s, "\"q\",");
    g_string_append (s, "\"open\nmore\n");
    p = parse (s->str, s->len);
    g_assert_cmpuint (p->rows->len, ==, 2);
    g_assert_cmpint (DEFECT (p, 1)->defect, ==, TS_CSV_DEFECT_UNTERMINATED_QUOTE);
    g_assert_cmpint (DEFECT (p, 1)->defect_line, ==, 2);
    g_assert_cmpint (DEFECT (p, 1)->defect_column, ==, (int) (n / 4) * 4 + 1);
    parsed_free (p);
    g_string_free (s, TRUE);
  }
}

static void
test_open_missing_file (void)
{
  ts_csv *csv = NULL;

  g_assert_cmpint (ts_csv_open ("/nonexistent/tagsight.csv", &csv), ==, TS_ERR_IO);
  g_assert_null (csv);
  g_assert_nonnull (strstr (ts_last_error (), "/nonexistent/tagsight.csv"));
}

static void
test_open_file (void)
{
  char *dir = ts_test_tmpdir ();
  char *path = g_build_filename (dir, "t.csv", NULL);
  GString *big = g_string_new ("fname,labels\n");
  ts_csv *csv;
  ts_csv_record rec;
  int n = 0;

  /* bigger than one read chunk */
  for (int i = 0; i < 20000; i++)
    g_string_append_printf (big, "img_%05d.jpg,\"a, b\"\n", i);
  g_assert_true (g_file_set_contents (path, big->str, (gssize) big->len, NULL));
  g_assert_cmpint (ts_csv_open (path, &csv), ==, TS_OK);
  g_assert_cmpstr (ts_csv_name (csv), ==, path);
  while (ts_csv_next (csv, &rec) > 0)
    {
      if (n == 20000)
        {
          g_assert_cmpstr (rec.fields[0], ==, "img_19999.jpg");
          g_assert_cmpstr (rec.fields[1], ==, "a, b");
          g_assert_cmpint (rec.line, ==, 20001);
        }
      n++;
    }
  g_assert_cmpint (n, ==, 20001);
  ts_csv_free (csv);
  g_string_free (big, TRUE);
  g_free (path);
  ts_test_rmdir (dir);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/csv/simple-lf", test_simple_lf);
  g_test_add_func ("/csv/crlf-and-cr", test_crlf_and_cr);
  g_test_add_func ("/csv/quoted-comma-and-quotes", test_quoted_comma_and_quotes);
  g_test_add_func ("/csv/embedded-newlines", test_embedded_newlines);
  g_test_add_func ("/csv/bom", test_bom);
  g_test_add_func ("/csv/blank-lines-and-empty-fields", test_blank_lines_and_empty_fields);
  g_test_add_func ("/csv/stray-quotes-lenient", test_stray_quotes_lenient);
  g_test_add_func ("/csv/utf8", test_utf8);
  g_test_add_func ("/csv/nul-byte", test_nul_byte);
  g_test_add_func ("/csv/unterminated-quote", test_unterminated_quote);
  g_test_add_func ("/csv/whitespace-lines", test_whitespace_lines);
  g_test_add_func ("/csv/long-defective-lines", test_long_defective_lines);
  g_test_add_func ("/csv/open-missing-file", test_open_missing_file);
  g_test_add_func ("/csv/open-file", test_open_file);
  return g_test_run ();
}
