/* ts-test-as-user.h: file modes bind every user but root, so a test of what
 * a read-only file or folder does runs its check as nobody when the test
 * itself runs as root (in a child process: the test goes on as root). */
#pragma once

#include <glib.h>
#include <grp.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#define TS_TEST_NOBODY 65534
#define TS_TEST_CANNOT_DROP 77
#define TS_TEST_CANNOT_REACH 78

/* Leaves root for nobody; _exit()s TS_TEST_CANNOT_DROP when it cannot.  Does
 * nothing for another user.  Also a GSpawnChildSetupFunc. */
static inline void
ts_test_become_nobody (gpointer unused)
{
  if (geteuid () != 0)
    return;
  if (setgroups (0, NULL) != 0 || setgid (TS_TEST_NOBODY) != 0 || setuid (TS_TEST_NOBODY) != 0)
    _exit (TS_TEST_CANNOT_DROP);
}

/* The test is skipped, saying why, when a child run as nobody exited with
 * one of the codes above; TRUE when it did not. */
static inline gboolean
ts_test_as_user_ran (int wait_status)
{
  if (!WIFEXITED (wait_status))
    return TRUE;
  if (WEXITSTATUS (wait_status) == TS_TEST_CANNOT_DROP)
    {
      g_test_skip ("running as root, which ignores file modes, and cannot become nobody "
                   "(uid 65534) to check them");
      return FALSE;
    }
  if (WEXITSTATUS (wait_status) == TS_TEST_CANNOT_REACH)
    {
      g_test_skip ("the test folder cannot be reached by nobody (uid 65534), who checks the "
                   "file modes that root ignores; set TMPDIR to a folder others can enter");
      return FALSE;
    }
  return TRUE;
}

/* Runs @check (@data) as a user that file modes bind: this one, or nobody
 * in a child process when this is root.  @dir must be reachable by that
 * user.  FALSE, the test skipped, when it could not run. */
static inline gboolean
ts_test_run_as_user (const char *dir, void (*check) (gpointer), gpointer data)
{
  pid_t pid;
  int status = 0;

  if (geteuid () != 0)
    {
      check (data);
      return TRUE;
    }
  fflush (stdout);
  fflush (stderr);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      ts_test_become_nobody (NULL);
      if (access (dir, X_OK) != 0)
        _exit (TS_TEST_CANNOT_REACH);
      check (data);
      _exit (0);
    }
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  if (!ts_test_as_user_ran (status))
    return FALSE;
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    g_error ("the check run as nobody failed (wait status %d)", status);
  return TRUE;
}
