/* test-status-nls.c: the engine's, data layer's and learn layer's error
 * messages come out in the user's language.  ts_error translates its format
 * in the "tagsight" domain, so a program that bound the domain (the app,
 * the CLI) shows a German user a German message, not an English one inside
 * a German sentence, nor English words pasted into a translated one.  The
 * CLI's own error line and the summary's counts are checked here too.  The
 * domain is bound to this build's compiled catalogues (ts_test_use_language). */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "cli-i18n.h"
#include "ts-backend.h"
#include "ts-datablock.h"
#include "ts-model.h"
#include "ts-preds.h"
#include "ts-session.h"
#include "ts-status.h"
#include "ts-summary.h"
#include "ts-tensor.h"
#include "ts-test.h"
#include "ts-weights.h"
#ifdef TS_TEST_SHOWBATCH
#include "ts-showbatch.h"
#endif

#ifdef TS_ENABLE_NLS
/* A real failure inside the engine, reported in German. */
static void
test_engine_error_german (void)
{
  int64_t shape[2] = { 2, 3 };

  if (!ts_test_use_language ("de"))
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
  if (!ts_test_use_language ("fr"))
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
  if (!ts_test_use_language ("de"))
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

  if (!ts_test_use_language ("de"))
    return;
  setlocale (LC_ALL, "C");
  g_assert_null (ts_tensor_new (NULL, 2, shape));
  g_assert_cmpstr (ts_last_error (), ==, "tensor: no backend");
}

/* What the user can do after a GPU failure is said in their language: the
 * CUDA backend's checks build their messages with ts_device_error, which
 * needs no GPU.  Only CUDA's own texts (its error string and name) stay
 * English. */
static void
test_device_advice (void)
{
  if (!ts_test_use_language ("de"))
    return;
  g_assert_cmpint (ts_device_error ("memset", "out of memory", "cudaErrorMemoryAllocation",
                                    TS_DEVICE_ADVICE_SMALLER_BATCH), ==, TS_ERR_DEVICE);
  g_assert_cmpstr (ts_last_error (), ==, "CUDA memset fehlgeschlagen: out of memory "
                   "(cudaErrorMemoryAllocation); versuchen Sie eine kleinere Batch-Größe oder "
                   "die CPU");
  if (!ts_test_use_language ("fr"))
    return;
  ts_device_error ("conv2d", "an illegal memory access was encountered",
                   "cudaErrorIllegalAddress", TS_DEVICE_ADVICE_RESTART);
  g_assert_cmpstr (ts_last_error (), ==, "CUDA conv2d a échoué : an illegal memory access was "
                   "encountered (cudaErrorIllegalAddress) ; le GPU ne pourra plus servir avant "
                   "le redémarrage du programme : continuez sur le CPU");
}

/* A CSV of @header and @rows in @dir (no image in it); returns its path. */
static char *
write_csv_rows (const char *dir, const char *header, const char *rows)
{
  char *csv = g_build_filename (dir, "labels.csv", NULL);
  char *text = g_strdup_printf ("%s\n%s", header, rows);

  g_assert_true (g_file_set_contents (csv, text, -1, NULL));
  g_free (text);
  return csv;
}

/* A CSV with one row, "a.jpg,cat,False", under @header, in @dir. */
static char *
write_csv (const char *dir, const char *header)
{
  return write_csv_rows (dir, header, "a.jpg,cat,False\n");
}

/* The missing column is named in the translation's own words (not "no file
 * name column" with the English "file name" in it), the found columns in
 * its quotation marks. */
static void
test_missing_column_german (void)
{
  char *dir, *csv, *want;
  ts_datablock_config cfg;
  ts_datablock *db = NULL;

  if (!ts_test_use_language ("de"))
    return;
  dir = ts_test_tmpdir ();
  csv = write_csv (dir, "Fname,labels,is_valid");
  ts_datablock_config_init (&cfg);
  cfg.fname_col = "fname";
  g_assert_cmpint (ts_datablock_load (csv, &cfg, &db), ==, TS_ERR_FORMAT);
  g_assert_null (db);
  want = g_strdup_printf ("%s, Zeile 1: keine Dateinamen-Spalte „fname“ (gefundene Spalten: "
                          "„Fname“, „labels“, „is_valid“); meinten Sie „Fname“?", csv);
  g_assert_cmpstr (ts_last_error (), ==, want);
  g_free (want);
  g_free (csv);
  ts_test_rmdir (dir);
  g_free (dir);
}

/* "no usable images" lists the problems in the translation's words,
 * separators and typography (French puts a space before the colon, also
 * between an image's path and the system's reason). */
static void
test_no_usable_images (void)
{
  char *dir, *csv, *img, *want;
  ts_datablock_config cfg;
  ts_datablock *db = NULL;

  if (!ts_test_use_language ("fr"))
    return;
  dir = ts_test_tmpdir ();
  csv = write_csv (dir, "fname,labels,is_valid");
  img = g_build_filename (dir, "a.jpg", NULL);
  ts_datablock_config_init (&cfg);
  g_assert_cmpint (ts_datablock_load (csv, &cfg, &db), ==, TS_OK);
  g_assert_cmpint (ts_datablock_check_images (db), ==, TS_ERR_IO);
  want = g_strdup_printf ("%s : aucune image utilisable (fichiers d’image manquants : 1, la "
                          "première à la ligne 2 [%s : %s])", csv, img, strerror (ENOENT));
  g_assert_cmpstr (ts_last_error (), ==, want);
  g_free (want);
  ts_datablock_free (db);
  g_free (img);
  g_free (csv);
  ts_test_rmdir (dir);
  g_free (dir);
}

/* The summary's counts each take their own plural form: one skipped row of
 * two is "1 ignorée" (not the rows' "ignorées"), one row with a problem is
 * "1 trouvé". */
static void
test_summary_plurals_french (void)
{
  char *dir, *csv, *text;
  ts_summary_options opt;
  ts_summary *s = NULL;

  if (!ts_test_use_language ("fr"))
    return;
  dir = ts_test_tmpdir ();
  /* b.jpg's row lacks the labels column: skipped */
  csv = write_csv_rows (dir, "fname,labels,is_valid", "a.jpg,cat,False\nb.jpg\n");
  ts_summary_options_init (&opt);
  opt.check_images = 0;
  g_assert_cmpint (ts_summary_run (csv, NULL, &opt, &s), ==, TS_OK);
  text = ts_summary_render_text (s, 0);
  g_assert_nonnull (strstr (text, " 1 sur 2 lignes utilisables (1 ignorée, voir Problèmes)\n"));
  g_assert_nonnull (strstr (text, "\nProblèmes : 1 trouvé, de 1 sorte\n"));
  /* a space delimiter in words: quoted, it was an unreadable «   » */
  g_assert_nonnull (strstr (text, "colonne « labels » séparée par un espace, "));
  free (text);
  ts_summary_free (s);
  g_free (csv);
  ts_test_rmdir (dir);
  g_free (dir);
}

/* Fewer training images than the batch size: one image is not "1 images",
 * although ts_error's formats have no plural forms. */
static void
test_session_batch_size_french (void)
{
  char *dir, *csv, *want;
  ts_session_config cfg;
  ts_session s;

  if (!ts_test_use_language ("fr"))
    return;
  dir = ts_test_tmpdir ();
  csv = write_csv (dir, "fname,labels,is_valid");
  ts_session_config_init (&cfg);
  cfg.csv = csv;
  cfg.bs = 2;
  g_assert_cmpint (ts_session_open (&cfg, &s), ==, TS_ERR_INVALID);
  want = g_strdup_printf ("%s : moins d’images d’entraînement (1) que la taille de lot 2 "
                          "(utilisez une taille de lot plus petite)", csv);
  g_assert_cmpstr (ts_last_error (), ==, want);
  ts_session_close (&s);
  g_free (want);
  g_free (csv);
  ts_test_rmdir (dir);
  g_free (dir);
}

/* get_preds over images that all fail: the reason is joined in the
 * translation's typography ("lue : ", not the English "lue: "). */
static void
test_preds_unreadable_french (void)
{
  ts_model_config mc = { "tiny", 1, TS_HEAD_FASTAI, 1 };
  char *vocab[] = { "cat" };
  char *dir, *csv, *img, *want;
  ts_modelfile_meta meta = { 0 };
  ts_datablock_config cfg;
  ts_datablock *db = NULL;
  ts_backend *be;
  ts_model *m = NULL;
  ts_preds p;

  if (!ts_test_use_language ("fr"))
    return;
  dir = ts_test_tmpdir ();
  csv = write_csv_rows (dir, "fname,labels,is_valid", "a.jpg,cat,True\n");
  img = g_build_filename (dir, "a.jpg", NULL);
  ts_datablock_config_init (&cfg);
  g_assert_cmpint (ts_datablock_load (csv, &cfg, &db), ==, TS_OK);
  be = ts_backend_cpu_new (1);
  g_assert_nonnull (be);
  g_assert_cmpint (ts_model_new (be, &mc, &m), ==, TS_OK);
  meta.vocab = vocab;
  meta.n_vocab = 1;
  meta.input_height = meta.input_width = 16;
  meta.norm = ts_normalization_imagenet ();
  g_assert_cmpint (ts_model_get_preds (m, &meta, db, TS_PREDS_AUTO, 1, 1, NULL, &p), ==,
                   TS_ERR_INVALID);
  want = g_strdup_printf ("%s : aucune image n’a pu être lue : ", csv);
  g_assert_true (g_str_has_prefix (ts_last_error (), want));
  g_assert_nonnull (strstr (ts_last_error (), img));
  ts_preds_clear (&p);
  ts_model_free (m);
  ts_backend_free (be);
  ts_datablock_free (db);
  g_free (want);
  g_free (img);
  g_free (csv);
  ts_test_rmdir (dir);
  g_free (dir);
}

/* tagsight-cli's error line: "tagsight-cli CMD", then the message, joined in
 * the translation's typography (French puts a space before the colon). */
static void
test_cli_error_line_french (void)
{
  if (g_test_subprocess ())
    {
      if (ts_test_use_language ("fr"))
        {
          textdomain (GETTEXT_PACKAGE);
          cli_fail ("summary", "labels.csv : introuvable");
          cli_fail (NULL, "interrompu");
        }
      return;
    }
  /* skips here, where the skip is seen, when the catalogue is missing */
  if (!ts_test_use_language ("fr"))
    return;
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("tagsight-cli summary : labels.csv : introuvable\n"
                             "tagsight-cli : interrompu\n");
}

#ifdef TS_TEST_SHOWBATCH
/* show_batch's message when every image was skipped: the set's name is part
 * of the translated sentence, not an English word pasted into it. */
static void
test_showbatch_skipped_german (void)
{
  char *dir, *csv, *img, *want;
  ts_datablock_config cfg;
  ts_loader_config lc;
  ts_datablock *db = NULL;
  ts_showbatch *grid = NULL;

  if (!ts_test_use_language ("de"))
    return;
  dir = ts_test_tmpdir ();
  csv = write_csv (dir, "fname,labels,is_valid");
  img = g_build_filename (dir, "a.jpg", NULL);
  ts_datablock_config_init (&cfg);
  g_assert_cmpint (ts_datablock_load (csv, &cfg, &db), ==, TS_OK);
  ts_loader_config_init (&lc);
  g_assert_cmpint (ts_showbatch_collect (db, &lc, 1, 0, 0, &grid), ==, TS_ERR_INVALID);
  want = g_strdup_printf ("show_batch: kein lesbares Trainingsbild (1 übersprungen: %s: %s)",
                          img, strerror (ENOENT));
  g_assert_cmpstr (ts_last_error (), ==, want);
  g_free (want);
  ts_datablock_free (db);
  g_free (img);
  g_free (csv);
  ts_test_rmdir (dir);
  g_free (dir);
}
#endif
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
  g_test_add_func ("/status-nls/device-advice", test_device_advice);
  g_test_add_func ("/status-nls/missing-column-german", test_missing_column_german);
  g_test_add_func ("/status-nls/no-usable-images-french", test_no_usable_images);
  g_test_add_func ("/status-nls/summary-plurals-french", test_summary_plurals_french);
  g_test_add_func ("/status-nls/session-batch-size-french", test_session_batch_size_french);
  g_test_add_func ("/status-nls/preds-unreadable-french", test_preds_unreadable_french);
  g_test_add_func ("/status-nls/cli-error-line-french", test_cli_error_line_french);
#ifdef TS_TEST_SHOWBATCH
  g_test_add_func ("/status-nls/showbatch-skipped-german", test_showbatch_skipped_german);
#endif
#else
  g_test_add_func ("/status-nls/built-without-gettext", test_built_without_gettext);
#endif
  return g_test_run ();
}
