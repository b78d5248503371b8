/* test-store-nls.c: the store's error messages come out in the user's
 * language.  The app and the CLI show them inside their own translated
 * sentences ("Das Projekt konnte nicht gespeichert werden: %s"), so an
 * English message there, or English words pasted into a translated one,
 * would be seen.  The domain is bound to this build's compiled catalogues
 * (ts_test_use_language). */
#include <string.h>

#include "tagsight-project.h"
#include "ts-test.h"

#ifdef TS_ENABLE_NLS
/* A new, empty project @name in @dir; returns its path. */
static char *
make_project (const char *dir, const char *name)
{
  char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightProject) p = tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_CREATE,
                                                         &error);

  g_assert_no_error (error);
  return path;
}

/* A read-only project: its reason (what the CLI and the app show) and the
 * error of a write, what was being done included, in German. */
static void
test_read_only_german (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = make_project (dir, "p.tagsight");
  g_autofree char *want_write = NULL, *want_check = NULL;
  g_autoptr (TagsightProject) p = NULL;
  g_autoptr (GError) error = NULL;
  const char *abs;

  if (!ts_test_use_language ("de"))
    goto out;
  p = tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_READ_ONLY, &error);
  g_assert_no_error (error);
  abs = tagsight_project_get_path (p);
  g_assert_cmpstr (tagsight_project_get_read_only_reason (p), ==, "schreibgeschützt geöffnet");
  g_assert_false (tagsight_project_set_setting (p, "page", "data", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_READ_ONLY);
  want_write = g_strdup_printf ("%s: Speichern einer Einstellung: das Projekt ist "
                                "schreibgeschützt (schreibgeschützt geöffnet); speichern Sie "
                                "eine Kopie dort, wo Sie schreiben können („Projekt speichern "
                                "unter“ in der App, oder kopieren Sie die Datei), um es zu "
                                "ändern", abs);
  g_assert_cmpstr (error->message, ==, want_write);
  g_clear_error (&error);
  /* the CLI's refusal before train and resume */
  g_assert_false (tagsight_project_check_writable (p, &error));
  want_check = g_strdup_printf ("%s: das Projekt ist schreibgeschützt (schreibgeschützt "
                                "geöffnet); speichern Sie eine Kopie dort, wo Sie schreiben "
                                "können („Projekt speichern unter“ in der App, oder kopieren "
                                "Sie die Datei), um es zu ändern", abs);
  g_assert_cmpstr (error->message, ==, want_check);

out:
  ts_test_rmdir (dir);
}

/* A data set from an empty CSV: refused in German, not with the English
 * reason after a translated joiner. */
static void
test_empty_csv_german (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = make_project (dir, "p.tagsight");
  g_autofree char *csv = g_build_filename (dir, "empty.csv", NULL);
  g_autofree char *want = NULL;
  g_autoptr (TagsightProject) p = NULL;
  g_autoptr (GError) error = NULL;
  gint64 id = 0;

  if (!ts_test_use_language ("de"))
    goto out;
  g_assert_true (g_file_set_contents (csv, "", 0, NULL));
  p = tagsight_project_open (path, 0, &error);
  g_assert_no_error (error);
  g_assert_false (tagsight_project_add_dataset (p, csv, NULL, NULL, NULL, NULL, &id, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  want = g_strdup_printf ("%s: Die Datei ist leer", csv);
  g_assert_cmpstr (error->message, ==, want);

out:
  ts_test_rmdir (dir);
}

/* A file that is not a project: SQLite's verdict in the store's French
 * words, what was being done translated, joined with French typography. */
static void
test_corrupt_french (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "notes.tagsight", NULL);
  g_autofree char *text = g_strnfill (4096, 'x');
  g_autofree char *want = NULL;
  g_autoptr (TagsightProject) p = NULL;
  g_autoptr (GError) error = NULL;

  if (!ts_test_use_language ("fr"))
    goto out;
  g_assert_true (g_file_set_contents (path, text, -1, NULL));
  p = tagsight_project_open (path, 0, &error);
  g_assert_null (p);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  want = g_strdup_printf ("%s : ouverture : le fichier est corrompu ou n’est pas un projet "
                          "Tagsight", path);
  g_assert_cmpstr (error->message, ==, want);

out:
  ts_test_rmdir (dir);
}
#else
static void
test_built_without_gettext (void)
{
  g_test_skip ("built without gettext: the store's messages stay English");
}
#endif

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#ifdef TS_ENABLE_NLS
  g_test_add_func ("/store-nls/read-only-german", test_read_only_german);
  g_test_add_func ("/store-nls/empty-csv-german", test_empty_csv_german);
  g_test_add_func ("/store-nls/corrupt-french", test_corrupt_french);
#else
  g_test_add_func ("/store-nls/built-without-gettext", test_built_without_gettext);
#endif
  return g_test_run ();
}
