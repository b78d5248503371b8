/* cuda-test.h: the few GLib test calls the CUDA tests use, either from GLib
 * (the meson suite) or, with -DTS_CUDA_TEST_NO_GLIB, from this tiny TAP
 * harness so that scripts/gpu-check can build the tests on a machine that
 * has a compiler and the CUDA toolkit but no GLib. */
#pragma once

#ifndef TS_CUDA_TEST_NO_GLIB
#include <glib.h>
#else

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRUE 1
#define FALSE 0

typedef void (*ts_mini_fn) (void);

static struct {
  const char *path[64];
  ts_mini_fn fn[64];
  int n;
  int skipped, failed;
  char skip_msg[1024];
  jmp_buf abort_test;
} ts_mini;

static inline void
g_test_init (int *argc, char ***argv, ...)
{
  (void) argc;
  (void) argv;
}

static inline void
g_test_add_func (const char *path, ts_mini_fn fn)
{
  if (ts_mini.n < 64)
    {
      ts_mini.path[ts_mini.n] = path;
      ts_mini.fn[ts_mini.n++] = fn;
    }
}

static inline void
g_test_skip (const char *msg)
{
  ts_mini.skipped = 1;
  snprintf (ts_mini.skip_msg, sizeof ts_mini.skip_msg, "%s", msg);
}

static inline void
g_test_fail (void)
{
  ts_mini.failed = 1;
}

static inline void __attribute__ ((format (printf, 1, 2)))
g_test_message (const char *fmt, ...)
{
  va_list ap;
  printf ("# ");
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  printf ("\n");
  fflush (stdout);
}

static inline const char *
g_getenv (const char *name)
{
  return getenv (name);
}

static inline void
ts_mini_assert_failed (const char *file, int line, const char *expr)
{
  printf ("# %s:%d: assertion failed: %s\n", file, line, expr);
  ts_mini.failed = 1;
  longjmp (ts_mini.abort_test, 1);
}

#define g_assert_true(e) \
  do { if (!(e)) ts_mini_assert_failed (__FILE__, __LINE__, #e); } while (0)
#define g_assert_nonnull(e) g_assert_true ((e) != NULL)
#define g_assert_null(e) g_assert_true ((e) == NULL)
#define g_assert_false(e) g_assert_true (!(e))
#define g_assert_cmpint(a, op, b) g_assert_true ((long long) (a) op (long long) (b))
#define g_assert_cmphex(a, op, b) g_assert_cmpint (a, op, b)
#define g_assert_cmpfloat(a, op, b) g_assert_true ((double) (a) op (double) (b))
#define g_assert_cmpstr(a, op, b) g_assert_true (strcmp ((a), (b)) op 0)
#define g_assert_cmpmem(a, la, b, lb) \
  g_assert_true ((la) == (lb) && memcmp ((a), (b), (size_t) (la)) == 0)
#define G_N_ELEMENTS(a) (sizeof (a) / sizeof ((a)[0]))

static inline size_t
g_strlcat (char *dst, const char *src, size_t size)
{
  size_t n = strlen (dst);
  if (n < size)
    snprintf (dst + n, size - n, "%s", src);
  return n + strlen (src);
}

static inline int
g_test_run (void)
{
  volatile int failures = 0;

  printf ("1..%d\n", ts_mini.n);
  for (int i = 0; i < ts_mini.n; i++)
    {
      ts_mini.skipped = ts_mini.failed = 0;
      printf ("# Start of %s\n", ts_mini.path[i]);
      fflush (stdout);
      if (setjmp (ts_mini.abort_test) == 0)
        ts_mini.fn[i] ();
      if (ts_mini.failed)
        {
          printf ("not ok %d %s\n", i + 1, ts_mini.path[i]);
          failures++;
        }
      else if (ts_mini.skipped)
        printf ("ok %d %s # SKIP %s\n", i + 1, ts_mini.path[i], ts_mini.skip_msg);
      else
        printf ("ok %d %s\n", i + 1, ts_mini.path[i]);
      fflush (stdout);
    }
  return failures ? 1 : 0;
}

#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The host emulation's count of device allocations (tests/cuda/emu/
 * fake-cudart.c); its address is NULL with the real runtime. */
extern long ts_fake_cuda_mallocs __attribute__ ((weak));

/* Skips the test, saying why there is no GPU backend (@reason: what
 * ts_backend_cuda_new wrote) */
static inline void
ts_cuda_test_skip_no_gpu (const char *reason)
{
  char msg[600];
  snprintf (msg, sizeof msg, "%s%s",
            strncmp (reason, "no CUDA device", 14) ? "no CUDA device: " : "", reason);
  g_test_skip (msg);
}

/* 1 when the backend under test is the host emulation, not a GPU */
static inline int
ts_cuda_test_emulated (void)
{
  return &ts_fake_cuda_mallocs != NULL;
}

/* The defaults of the op and training tests: their tolerances are for
 * exact FP32 through our own kernels unless the run asks for TF32 or cuDNN
 * (scripts/gpu-check and tests/cuda/meson.build run each variant) */
static inline void
ts_cuda_test_default_env (void)
{
  setenv ("TS_CUDA_TF32", "0", 0);
  setenv ("TS_CUDA_CUDNN", "0", 0);
}

/* An environment variable set for a while (libc's calls: scripts/gpu-check
 * builds the tests without GLib): ts_cuda_test_setenv sets @name to @value
 * and returns what it was, ts_cuda_test_restore puts that back (unset when
 * it was unset) */
typedef struct {
  const char *name;
  char *was;   /* NULL: unset */
} ts_cuda_test_env;

static inline ts_cuda_test_env
ts_cuda_test_setenv (const char *name, const char *value)
{
  const char *was = getenv (name);
  ts_cuda_test_env saved = { name, was ? strdup (was) : NULL };

  setenv (name, value, 1);
  return saved;
}

static inline void
ts_cuda_test_restore (ts_cuda_test_env saved)
{
  if (saved.was)
    setenv (saved.name, saved.was, 1);
  else
    unsetenv (saved.name);
  free (saved.was);
}
