/* ts-test.h: helpers shared by the GLib test programs. */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>

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
