/* test-backend-select.c: ts_backend_new_by_name, with or without CUDA in the build. */
#include <dlfcn.h>
#include <string.h>

#include "cuda-test.h"
#include "ts-backend-select.h"

static void
test_names (void)
{
  char err[512], desc[256];
  ts_backend *be;

  be = ts_backend_new_by_name ("cpu", 1, err, sizeof err);
  g_assert_nonnull (be);
  g_assert_true (strcmp (be->i->name, "cpu") == 0);
  g_assert_true (strstr (ts_backend_describe (be, desc, sizeof desc), "CPU") != NULL);
  ts_backend_free (be);

  /* auto always gives a backend: CUDA when a device is there, else the CPU */
  be = ts_backend_new_by_name ("auto", 1, err, sizeof err);
  g_assert_nonnull (be);
  g_test_message ("auto: %s", ts_backend_describe (be, desc, sizeof desc));
  ts_backend_free (be);
  be = ts_backend_new_by_name (NULL, 1, err, sizeof err);
  g_assert_nonnull (be);
  ts_backend_free (be);

  be = ts_backend_new_by_name ("tpu", 1, err, sizeof err);
  g_assert_true (be == NULL);
  g_assert_true (strstr (err, "unknown device \"tpu\"") != NULL);

  be = ts_backend_new_by_name ("cuda:x", 1, err, sizeof err);
  g_assert_true (be == NULL);
  g_assert_true (strstr (err, "cuda") != NULL);

  /* "cuda": a backend on a GPU machine, else a reason that names the way out */
  be = ts_backend_new_by_name ("cuda", 1, err, sizeof err);
  if (be)
    {
      g_assert_true (strcmp (be->i->name, "cuda") == 0);
      g_test_message ("cuda: %s", ts_backend_describe (be, desc, sizeof desc));
      ts_backend_free (be);
    }
  else
    {
      void *driver = dlopen ("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);

      g_test_message ("cuda: %s", err);
      g_assert_true (strstr (err, "--device cpu") != NULL);
      g_assert_true (strstr (ts_last_error (), "--device cpu") != NULL);
      /* a machine without the NVIDIA driver is told so, not the runtime's
       * "driver version is insufficient" */
      if (driver == NULL && ts_backend_have_cuda ())
        g_assert_true (strstr (err, "no NVIDIA driver is installed") != NULL);
      if (driver != NULL)
        dlclose (driver);
    }
  g_test_message ("built with CUDA: %s", ts_backend_have_cuda () ? "yes" : "no");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cuda/select/names", test_names);
  return g_test_run ();
}
