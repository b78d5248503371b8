/* test-fuzz-replay.c: every seed and every saved crash reproducer under
 * tests/fuzz/ runs through the fuzz targets' entry points (without libFuzzer),
 * so what the fuzzers once found stays fixed; under -Db_sanitize this is an
 * ASan/UBSan run of the same inputs. */
#include "ts-test.h"

#define LLVMFuzzerTestOneInput fuzz_pth_one
#include "../fuzz/fuzz-pth.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#include "../fuzz/fuzz-safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_tflite_one
#include "../fuzz/fuzz-tflite.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_fn) (const uint8_t *data, size_t size);

static int
replay_dir (const char *kind, const char *sub, fuzz_fn fn)
{
  char *dir = g_test_build_filename (G_TEST_DIST, "fuzz", sub, kind, NULL);
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;
  int n = 0;

  if (d == NULL)
    {
      g_free (dir);
      return 0;
    }
  while ((name = g_dir_read_name (d)) != NULL)
    {
      char *path = g_build_filename (dir, name, NULL);
      gchar *bytes;
      gsize size;

      if (g_file_get_contents (path, &bytes, &size, NULL))
        {
          fn ((const uint8_t *) bytes, size);
          /* every prefix of small inputs too: truncation is the common damage */
          for (gsize cut = 0; size <= 4096 && cut < size; cut += 1 + cut / 8)
            fn ((const uint8_t *) bytes, cut);
          g_free (bytes);
          n++;
        }
      g_free (path);
    }
  g_dir_close (d);
  g_free (dir);
  return n;
}

static void
test_replay (gconstpointer data)
{
  const char *kind = data;
  fuzz_fn fn = strcmp (kind, "pth") == 0 ? fuzz_pth_one
             : strcmp (kind, "safetensors") == 0 ? fuzz_safetensors_one : fuzz_tflite_one;
  int seeds = replay_dir (kind, "seeds", fn), regressions = replay_dir (kind, "regressions", fn);

  g_test_message ("%s: %d seeds, %d regression inputs replayed", kind, seeds, regressions);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/fuzz-replay/pth", "pth", test_replay);
  g_test_add_data_func ("/fuzz-replay/safetensors", "safetensors", test_replay);
  g_test_add_data_func ("/fuzz-replay/tflite", "tflite", test_replay);
  return g_test_run ();
}
