/* ts-test.h: helpers shared by the GLib test programs. */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>

/* Path of @rel inside ../shared (TS_SHARED_DIR), or NULL after g_test_skip()
 * when it is absent: a user's fresh clone has no ../shared. */
static inline char *
ts_test_shared_path (const char *rel)
{
  const char *dir = g_getenv ("TS_SHARED_DIR");
  char *path;

  if (dir == NULL)
    dir = "../shared";
  path = g_build_filename (dir, rel, NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      char *msg = g_strdup_printf ("%s not found (no ../shared)", path);
      g_test_skip (msg);
      g_free (msg);
      g_free (path);
      return NULL;
    }
  return path;
}

/* Path of a committed fixture under tests/fixtures. */
static inline char *
ts_test_fixture_path (const char *rel)
{
  return g_test_build_filename (G_TEST_DIST, "fixtures", rel, NULL);
}

/* A fresh temporary directory; remove it with ts_test_rmdir. */
static inline char *
ts_test_tmpdir (void)
{
  GError *error = NULL;
  char *dir = g_dir_make_tmp ("tagsight-test-XXXXXX", &error);
  g_assert_no_error (error);
  return dir;
}

static inline void
ts_test_rmdir (const char *dir)
{
  char *cmd = g_strdup_printf ("rm -rf '%s'", dir);
  int rc = system (cmd);
  (void) rc;
  g_free (cmd);
}

/* Path of the built tagsight-cli (TS_CLI), for tests that run the CLI. */
static inline const char *
ts_test_cli (void)
{
  const char *cli = g_getenv ("TS_CLI");
  g_assert_nonnull (cli);
  return cli;
}

/* Runs tagsight-cli with @args (NULL-terminated, after the program's name)
 * in @dir (NULL: the current folder) and returns its wait status; its stdout
 * and stderr go into *@out and *@err, or nowhere when those are NULL. */
static inline int
ts_test_run_cli (const char *dir, const char *const *args, char **out, char **err)
{
  GPtrArray *argv = g_ptr_array_new ();
  GError *error = NULL;
  int status = 0;
  GSpawnFlags flags = (out ? 0 : G_SPAWN_STDOUT_TO_DEV_NULL)
                      | (err ? 0 : G_SPAWN_STDERR_TO_DEV_NULL);

  g_ptr_array_add (argv, (char *) ts_test_cli ());
  for (; *args; args++)
    g_ptr_array_add (argv, (char *) *args);
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (dir, (char **) argv->pdata, NULL, flags, NULL, NULL, out, err,
                               &status, &error));
  g_assert_no_error (error);
  g_ptr_array_unref (argv);
  return status;
}

/* The exit code of a wait status (the test fails on a signal). */
static inline int
ts_test_exit_code (int status)
{
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

/* ts_test_run_cli, which must exit with @expect_rc (else the test fails and
 * shows both streams): its stdout; its stderr into *@err_out unless NULL. */
static inline char *
ts_test_run_cli_expect (const char *dir, int expect_rc, const char *const *args, char **err_out)
{
  char *out = NULL, *err = NULL;
  int status = ts_test_run_cli (dir, args, &out, &err);

  if (!WIFEXITED (status) || WEXITSTATUS (status) != expect_rc)
    g_error ("tagsight-cli %s: status %d (expected %d)\nstdout:\n%s\nstderr:\n%s", args[0], status,
             expect_rc, out, err);
  if (err_out)
    *err_out = err;
  else
    g_free (err);
  return out;
}

/* ts_test_run_cli with @args split as the shell would: stdout and stderr
 * logged and returned together, the wait status in *@status. */
static inline char *
ts_test_run_cli_line (const char *args, int *status)
{
  char **argv = NULL, *out = NULL, *err = NULL, *both;
  GError *error = NULL;

  g_assert_true (g_shell_parse_argv (args, NULL, &argv, &error));
  g_assert_no_error (error);
  *status = ts_test_run_cli (NULL, (const char *const *) argv, &out, &err);
  g_test_message ("$ %s %s\n%s%s", ts_test_cli (), args, out, err);
  both = g_strconcat (out, err, NULL);
  g_strfreev (argv);
  g_free (out);
  g_free (err);
  return both;
}

/* A full disk without root or a tmpfs: until ts_test_unlimit_file_size, a
 * write that would make a file larger than @bytes fails with EFBIG (SIGXFSZ
 * is ignored), as one on a full disk fails with ENOSPC. */
static inline struct rlimit *
ts_test_saved_fsize (void)
{
  static struct rlimit saved;
  return &saved;
}

static inline void
ts_test_limit_file_size (rlim_t bytes)
{
  struct rlimit r;

  signal (SIGXFSZ, SIG_IGN);
  g_assert_cmpint (getrlimit (RLIMIT_FSIZE, ts_test_saved_fsize ()), ==, 0);
  r = *ts_test_saved_fsize ();
  r.rlim_cur = bytes;
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &r), ==, 0);
}

static inline void
ts_test_unlimit_file_size (void)
{
  g_assert_cmpint (setrlimit (RLIMIT_FSIZE, ts_test_saved_fsize ()), ==, 0);
}

#if defined (TS_ENABLE_NLS) && defined (TS_TEST_LOCALEDIR)
#include <libintl.h>
#include <locale.h>

/* Binds the "tagsight" domain to this build's compiled catalogues
 * (TS_TEST_LOCALEDIR: po/<lang>/LC_MESSAGES/tagsight.mo) and switches the
 * messages to @lang, or skips: the catalogue is missing (no msgfmt) or the
 * system has no UTF-8 locale.  C.UTF-8 plus LANGUAGE is enough for glibc's
 * gettext, so no de_DE locale needs to be installed; glibc ignores LANGUAGE
 * only under plain "C". */
static inline gboolean
ts_test_use_language (const char *lang)
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
   * translations: glibc caches them by locale name, not by LANGUAGE, and
   * forgets them only when the locale really changes (hence "C" first) */
  g_setenv ("LANGUAGE", lang, TRUE);
  setlocale (LC_ALL, "C");
  if (setlocale (LC_ALL, "C.UTF-8") == NULL && setlocale (LC_ALL, "en_US.UTF-8") == NULL)
    {
      g_test_skip ("no UTF-8 locale installed (locale -a)");
      return FALSE;
    }
  bindtextdomain ("tagsight", TS_TEST_LOCALEDIR);
  bind_textdomain_codeset ("tagsight", "UTF-8");
  return TRUE;
}
#endif
