/* test-status-nls.c: the engine's error messages come out in the user's
 * language.  ts_error translates its format in the "tagsight" domain, so a
 * program that bound the domain (the app, the CLI) shows a German user a
 * German message, not an English one inside a German sentence.  The domain
 * is bound to this build's compiled catalogues (TS_TEST_LOCALEDIR). */
#include <glib.h>
#include <inttypes.h>
#include <locale.h>
#include <stdlib.h>

#include "ts-status.h"
#include "ts-tensor.h"

#ifdef TS_ENABLE_NLS
#include <libintl.h>

/* Binds the domain and switches the messages to @lang, or skips: the
 * catalogue is missing (no msgfmt) or the system has no UTF-8 locale.
 * C.UTF-8 plus LANGUAGE is enough for glibc's gettext, so no de_DE locale
 * needs to be installed; glibc ignores LANGUAGE only under plain "C". */
static gboolean
use_language (const char *lang)
{
  char *mo = g_build_filename (TS_TEST_LOCALEDIR, lang, "LC_MESSAGES", "tagsight.mo", NULL);
  gboolean have = g_file_test (mo, G_FILE_TEST_IS_REGULAR);

  g_free (mo);
  if (!have)
    {
      g_test_skip ("no compiled catalogue in the build (msgfmt missing?)");
      return FALSE;
    }
  /* before setlocale, which also makes gettext forget the last language's
   * translations */
  g_setenv ("LANGUAGE", lang, TRUE);
  if (setlocale (LC_ALL, "C.UTF-8") == NULL && setlocale (LC_ALL, "en_US.UTF-8") == NULL)
    {
      g_test_skip ("no UTF-8 locale installed (locale -a)");
      return FALSE;
    }
  bindtextdomain ("tagsight", TS_TEST_LOCALEDIR);
  bind_textdomain_codeset ("tagsight", "UTF-8");
  return TRUE;
}

/* A real failure inside the engine, reported in German. */
static void
test_engine_error_german (void)
{
  int64_t shape[2] = { 2, 3 };

  if (!use_language ("de"))
    return;
  ts_clear_error ();
  g_assert_null (ts_tensor_new (NULL, 2, shape));
  g_assert_cmpstr (ts_last_error (), ==, "Tensor: kein Backend");
}

/* The context a caller adds is translated too, with the language's own
 * joiner (French puts a space before the colon). */
static void
test_prefix_french (void)
{
  if (!use_language ("fr"))
    return;
  ts_error (TS_ERR_IO, "%s: read error", "a.jpg");
  g_assert_cmpint (ts_error_prefix (TS_ERR_IO, "epoch %d", 3), ==, TS_ERR_IO);
  g_assert_cmpstr (ts_last_error (), ==, "époque 3 : a.jpg : erreur de lecture");
}

/* A format with <inttypes.h> macros is a system-dependent msgid ("%<PRId64>"
 * in the catalogue); the translation must still receive int64_t arguments. */
static void
test_inttypes_format (void)
{
  if (!use_language ("de"))
    return;
  ts_error (TS_ERR_SHAPE, "%s: tensor %s has %" PRId64 " values, the model %" PRId64, "ck",
            "fc.weight", (int64_t) 5000000000, (int64_t) 6);
  g_assert_cmpstr (ts_last_error (), ==, "ck: Tensor fc.weight hat 5000000000 Werte, das Modell 6");
}

/* The C locale means English, whatever LANGUAGE says. */
static void
test_c_locale_english (void)
{
  int64_t shape[2] = { 2, 3 };

  if (!use_language ("de"))
    return;
  setlocale (LC_ALL, "C");
  g_assert_null (ts_tensor_new (NULL, 2, shape));
  g_assert_cmpstr (ts_last_error (), ==, "tensor: no backend");
}
#else
static void
test_built_without_gettext (void)
{
  g_test_skip ("the engine was built without gettext: its messages stay English");
}
#endif

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#ifdef TS_ENABLE_NLS
  g_test_add_func ("/status-nls/engine-error-german", test_engine_error_german);
  g_test_add_func ("/status-nls/prefix-french", test_prefix_french);
  g_test_add_func ("/status-nls/inttypes-format", test_inttypes_format);
  g_test_add_func ("/status-nls/c-locale-english", test_c_locale_english);
#else
  g_test_add_func ("/status-nls/built-without-gettext", test_built_without_gettext);
#endif
  return g_test_run ();
}
