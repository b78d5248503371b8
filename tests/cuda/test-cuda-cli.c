/* test-cuda-cli.c: tagsight-cli's GPU paths on the emulated GPU.
 *
 * TS_CLI is tagsight-cli-emu here (tests/cuda/meson.build): the CLI's own
 * objects linked with tests/cuda/emu's backend (the kernels as C++, the fake
 * CUDA runtime, cuBLAS and cuDNN), so that what a user sees with --device
 * cuda runs on every CI machine: the device line, --precision bf16 and its
 * float32 fallback note, bench's JSON, and a GPU lost mid-run followed by
 * resume --device cpu from the last checkpoint.  The fake's switches are
 * environment variables the CLI inherits (tests/cuda/emu/fake-*.c):
 * TS_FAKE_CUDA_NO_DEVICE, TS_FAKE_CUDNN_NO_BF16, TS_FAKE_CUDA_FAIL_AFTER.
 *
 * TS_TEST_EMU_CUDNN: the fake cuDNN is built (cudnn.h was found), which bf16
 * needs; TS_TEST_CLI_PROJECT: the CLI has projects and resume (the store). */
#include "ts-config.h"

#include <stdlib.h>
#include <string.h>

#include "ts-json.h"
#include "ts-test.h"

/* the fake runtime's device (fake-cudart.c), as the backend describes it */
#define FAKE_DEVICE "emulated GPU (host) (sm_90, 1 GiB, cuda:0, "

/* tiny images and the tiny architecture: seconds a run on the emulation */
#define DEMO_ARGS "--n", "48", "--size", "32", "--seed", "3"
#define TRAIN_ARGS "d/train.csv", "--arch", "tiny", "--bs", "8", "--size", "24", "--lr", "1e-2", \
  "--threads", "2", "--seed", "5", "--device", "cuda"

static char *demo_dir;   /* d/ (demo-data) inside it; made by the first test that needs it */

/* tagsight-cli-emu @args (NULL-terminated) in @dir with the environment
 * variable @var set to @value (none when @var is NULL), which must exit with
 * @expect_rc: its stdout, its stderr into *@err */
static char *
run_with (const char *dir, const char *var, const char *value, int expect_rc, char **err,
          const char *const *args)
{
  char *out, *e = NULL;

  if (var)
    g_setenv (var, value, TRUE);
  out = ts_test_run_cli_expect (dir, expect_rc, args, &e);
  if (var)
    g_unsetenv (var);
  g_test_message ("$ %s%s%s tagsight-cli-emu %s ...\n%s%s", var ? var : "", var ? "=" : "",
                  var ? value : "", args[0], out, e);
  if (err)
    *err = e;
  else
    g_free (e);
  return out;
}

/* The folder holding the demo data, or NULL after g_test_skip (no Cairo) */
static const char *
demo (void)
{
#ifdef TS_HAVE_CAIRO
  const char *args[] = { "demo-data", "d", DEMO_ARGS, NULL };

  if (demo_dir == NULL)
    {
      demo_dir = ts_test_tmpdir ();
      g_free (run_with (demo_dir, NULL, NULL, 0, NULL, args));
    }
  return demo_dir;
#else
  g_test_skip ("demo-data needs Cairo, which this build has not");
  return NULL;
#endif
}

static gboolean
need_cudnn (void)
{
  if (!TS_TEST_EMU_CUDNN)
    g_test_skip ("bf16 needs cuDNN: the fake one is not built (no cudnn.h)");
  return TS_TEST_EMU_CUDNN;
}

/* N of the bf16 fallback note ("bf16: N convolution calls ran in float32"), 0 when absent */
static long
fallback_note (const char *out)
{
  const char *note = strstr (out, "bf16: ");
  char *end;
  long n;

  if (note == NULL)
    return 0;
  n = strtol (note + strlen ("bf16: "), &end, 10);
  g_assert_true (g_str_has_prefix (end, " convolution calls ran in float32"));
  return n;
}

/* @dev, @len bytes, describes the emulated GPU ("emulated GPU (host)
 * (sm_90, ...)"), with " (bf16)" after it when @bf16 */
static void
assert_device (const char *dev, size_t len, gboolean bf16)
{
  static const char tail[] = ") (bf16)";
  size_t n = sizeof tail - 1;

  g_assert_true (g_str_has_prefix (dev, FAKE_DEVICE));
  g_assert_cmpint (len >= n && memcmp (dev + len - n, tail, n) == 0, ==, bf16);
}

/* The run's header line names the device: "... on DEVICE\n", or in a
 * project "... on DEVICE; run N in P\n" */
static void
assert_device_line (const char *out, gboolean bf16)
{
  const char *dev = strstr (out, " on " FAKE_DEVICE), *run;
  size_t len;

  g_assert_nonnull (dev);
  dev += strlen (" on ");
  len = strcspn (dev, "\n");
  if ((run = g_strstr_len (dev, (gssize) len, "; run ")) != NULL)
    len = (size_t) (run - dev);
  assert_device (dev, len, bf16);
}

/* train --device cuda [--precision bf16] on the demo data (one frozen and
 * one unfrozen epoch) with @var=@value: the run completes, its header names
 * the emulated GPU, the model is written; its stdout */
static char *
train_on_gpu (const char *precision, const char *var, const char *value)
{
  const char *args[] = { "train", TRAIN_ARGS, "--epochs", "1", "--freeze-epochs", "1",
                         "--precision", precision, "--out", "m.safetensors", NULL };
  char *out, *err = NULL, *model;

  if (!demo ())
    return NULL;
  model = g_build_filename (demo_dir, "m.safetensors", NULL);
  g_remove (model);
  out = run_with (demo_dir, var, value, 0, &err, args);
  assert_device_line (out, strcmp (precision, "bf16") == 0);
  g_assert_nonnull (strstr (out, "\"completed\": true"));
  g_assert_true (g_file_test (model, G_FILE_TEST_IS_REGULAR));
  g_assert_nonnull (strstr (err, "wrote "));
  g_free (model);
  g_free (err);
  return out;
}

/* The CLI runs the fake runtime: without its device, --device cuda is
 * refused with the way out, and auto goes to the CPU; with it, auto goes to
 * the GPU */
static void
test_no_device (void)
{
  const char *cuda[] = { "bench", "--device", "cuda", "--arch", "tiny", "--bs", "2", "--size",
                         "16", "--steps", "1", "--warmup", "0", NULL };
  const char *any[] = { "bench", "--device", "auto", "--arch", "tiny", "--bs", "2", "--size",
                        "16", "--steps", "1", "--warmup", "0", NULL };
  g_autofree char *pinned = g_strdup (g_getenv ("TAGSIGHT_DEVICE"));
  char *out, *err = NULL;

  g_free (run_with (NULL, "TS_FAKE_CUDA_NO_DEVICE", "1", 1, &err, cuda));
  g_assert_nonnull (strstr (err, "(--device cpu)"));
  g_free (err);
  /* auto as a user gets it (tests/meson.build pins it to the CPU) */
  g_setenv ("TAGSIGHT_DEVICE", "auto", TRUE);
  out = run_with (NULL, "TS_FAKE_CUDA_NO_DEVICE", "1", 0, NULL, any);
  g_assert_nonnull (strstr (out, "BLAS kernels"));   /* the CPU's header */
  g_free (out);
  out = run_with (NULL, NULL, NULL, 0, NULL, any);
  g_assert_nonnull (strstr (out, " on " FAKE_DEVICE));
  g_free (out);
  if (pinned != NULL)
    g_setenv ("TAGSIGHT_DEVICE", pinned, TRUE);
  else
    g_unsetenv ("TAGSIGHT_DEVICE");
  /* the same with the device there: on it (tests/meson.build pins auto to
   * the CPU with TAGSIGHT_DEVICE, which must not hide --device cuda) */
  out = run_with (NULL, NULL, NULL, 0, NULL, cuda);
  g_assert_nonnull (strstr (out, " on " FAKE_DEVICE));
  g_free (out);
}

static void
test_train (void)
{
  char *out = train_on_gpu ("fp32", NULL, NULL);

  if (out == NULL)
    return;
  g_assert_nonnull (strstr (out, TS_TEST_EMU_CUDNN ? FAKE_DEVICE "cuDNN, "
                                                   : FAKE_DEVICE "im2col + cuBLAS, "));
  g_assert_cmpint (fallback_note (out), ==, 0);
  g_free (out);
}

/* bf16 on cuDNN's bfloat16 NHWC convolutions: none falls back */
static void
test_train_bf16 (void)
{
  char *out;

  if (!need_cudnn () || (out = train_on_gpu ("bf16", NULL, NULL)) == NULL)
    return;
  g_assert_cmpint (fallback_note (out), ==, 0);
  g_free (out);
}

/* cuDNN without a bfloat16 algorithm for the stem (3 input channels), as
 * a real one may be: those calls run in float32, the run goes on, and the
 * CLI says how many did */
static void
test_train_bf16_fallback (void)
{
  char *out;

  if (!need_cudnn () || (out = train_on_gpu ("bf16", "TS_FAKE_CUDNN_NO_BF16", "3")) == NULL)
    return;
  g_assert_cmpint (fallback_note (out), >, 0);
  g_free (out);
}

/* lr-find --device cuda in bf16: its header names the GPU with "(bf16)",
 * it suggests a learning rate, and with the stem's layer left without a
 * bf16 algorithm it says how many calls ran in float32 */
static void
test_lr_find_bf16 (void)
{
  const char *args[] = { "lr-find", "d/train.csv", "--arch", "tiny", "--bs", "8", "--size", "24",
                         "--threads", "2", "--seed", "5", "--device", "cuda", "--precision",
                         "bf16", NULL };
  char *out;

  if (!need_cudnn () || !demo ())
    return;
  out = run_with (demo_dir, NULL, NULL, 0, NULL, args);
  assert_device_line (out, TRUE);
  g_assert_nonnull (strstr (out, "suggestions: valley "));
  g_assert_cmpint (fallback_note (out), ==, 0);
  g_free (out);
  out = run_with (demo_dir, "TS_FAKE_CUDNN_NO_BF16", "3", 0, NULL, args);
  assert_device_line (out, TRUE);
  g_assert_cmpint (fallback_note (out), >, 0);
  g_free (out);
}

/* The last line of @out that starts with @start ("{\"impl\": "), parsed */
static ts_json *
json_line (const char *out, const char *start)
{
  const char *line = g_strrstr (out, start);
  ts_json *j = NULL;

  g_assert_nonnull (line);
  g_assert_cmpint (ts_json_parse (line, strcspn (line, "\n"), start, &j), ==, TS_OK);
  return j;
}

static const char *
json_text (const ts_json *j, const char *key)
{
  const ts_json *v = ts_json_get (j, key);

  g_assert_nonnull (v);
  g_assert_cmpint (v->type, ==, TS_JSON_STRING);
  return v->string;
}

static long
json_count (const ts_json *j, const char *key)
{
  const ts_json *v = ts_json_get (j, key);

  g_assert_nonnull (v);
  g_assert_true (v->type == TS_JSON_NUMBER && v->is_integer && v->integer >= 0);
  return (long) v->integer;
}

/* bench --device cuda in @precision, with @var=@value: its JSON's device and
 * precision, and its counts of bf16 fallbacks and cuDNN fall-through: @fallbacks
 * (-1: more than 0), none refused, short of memory or exhausted */
static void
check_bench (const char *precision, const char *var, const char *value, long fallbacks)
{
  const char *args[] = { "bench", "--device", "cuda", "--precision", precision, "--arch", "tiny",
                         "--bs", "4", "--size", "32", "--classes", "3", "--steps", "1",
                         "--warmup", "1", NULL };
  char *out = run_with (NULL, var, value, 0, NULL, args);
  ts_json *j = json_line (out, "{\"impl\": ");
  long n = json_count (j, "bf16_fallbacks");

  g_assert_nonnull (strstr (out, " on " FAKE_DEVICE));
  g_assert_cmpstr (json_text (j, "device"), ==, "cuda");
  g_assert_cmpstr (json_text (j, "precision"), ==, precision);
  if (fallbacks < 0)
    g_assert_cmpint (n, >, 0);
  else
    g_assert_cmpint (n, ==, fallbacks);
  g_assert_cmpint (fallback_note (out), ==, n);   /* the note says the JSON's count */
  g_assert_cmpint (json_count (j, "dnn_refused"), ==, 0);
  g_assert_cmpint (json_count (j, "dnn_no_memory"), ==, 0);
  g_assert_cmpint (json_count (j, "dnn_exhausted"), ==, 0);
  ts_json_free (j);
  g_free (out);
}

static void
test_bench (void)
{
  check_bench ("fp32", NULL, NULL, 0);
}

static void
test_bench_bf16 (void)
{
  if (!need_cudnn ())
    return;
  check_bench ("bf16", NULL, NULL, 0);
  check_bench ("bf16", "TS_FAKE_CUDNN_NO_BF16", "3", -1);
}

/* `runs P --json`'s line of run 1: its status, device and message */
static ts_json *
run_record (const char *dir)
{
  const char *args[] = { "runs", "p.tagsight", "--json", NULL };
  char *out = run_with (dir, NULL, NULL, 0, NULL, args);
  ts_json *j = json_line (out, "{\"run\": 1, ");

  g_free (out);
  return j;
}

/* The command a failed run's stderr gives to go on on the CPU
 * ("... on the CPU: tagsight-cli resume P N --device cpu"), as arguments
 * after the program's name */
static char **
resume_hint (const char *err)
{
  static const char lead[] = "to go on from the last completed epoch on the CPU: tagsight-cli ";
  const char *hint = strstr (err, lead);
  g_autofree char *line = NULL;
  char **argv = NULL;

  g_assert_nonnull (hint);
  hint += strlen (lead);
  line = g_strndup (hint, strcspn (hint, "\n"));
  g_assert_true (g_shell_parse_argv (line, NULL, &argv, NULL));
  g_assert_cmpstr (argv[0], ==, "resume");
  return argv;
}

/* The GPU lost mid-run (TS_FAKE_CUDA_FAIL_AFTER: the Nth kernel launch or
 * copy leaves cudaErrorLaunchFailure, as a kernel's fault or an Xid does)
 * in a run recorded in a project: train fails with CUDA's error, the
 * advice to go on on the CPU and the command that does, the run is
 * recorded as failed with its last epoch's checkpoint, and that command
 * (resume P 1 --device cpu) finishes it from there, in fp32 when it was
 * bf16 (and says so).
 *
 * An epoch queues about 350 operations on the emulated GPU (measured in
 * bf16 and fp32, through cuDNN or im2col alike), so the first two of the 21
 * epochs (1 frozen + 20) end near 900 and the run near 7000: the 2500th
 * falls mid-run, and still would with half or twice the backend's work. */
#define EPOCHS "20"
#define FAIL_AFTER "2500"
/* CUDA's error, then ts_device_error's advice for a lost context */
#define LOST_ADVICE "unspecified launch failure (cudaErrorLaunchFailure); the GPU cannot be " \
  "used again until the program is restarted: continue on the CPU"

static void
test_gpu_lost (void)
{
  const char *precision = TS_TEST_EMU_CUDNN ? "bf16" : "fp32";
  const char *train[] = { "train", TRAIN_ARGS, "--epochs", EPOCHS, "--freeze-epochs", "1",
                          "--precision", precision, "--project", "p.tagsight", NULL };
  char *out, *err = NULL, *at, **resume;
  ts_json *j;
  long saved;

  if (!TS_TEST_CLI_PROJECT)
    {
      g_test_skip ("the CLI has no projects in this build (no store)");
      return;
    }
  if (!demo ())
    return;
  out = run_with (demo_dir, "TS_FAKE_CUDA_FAIL_AFTER", FAIL_AFTER, 1, &err, train);
  assert_device_line (out, TS_TEST_EMU_CUDNN);
  g_assert_nonnull (strstr (err, LOST_ADVICE));
  /* and the command that goes on, which is run below as it is given */
  resume = resume_hint (err);
  j = json_line (out, "{\"run\": 1, ");
  g_assert_cmpstr (json_text (j, "status"), ==, "failed");
  /* mid-run, past the frozen epoch and the first unfrozen one, so that the
   * resume below goes on from a GPU epoch's checkpoint; else FAIL_AFTER is
   * no longer mid-run (see above) */
  saved = json_count (j, "checkpoints");
  if (saved < 2 || saved > 20)
    g_error ("the GPU failed after %ld of 21 epochs: move FAIL_AFTER", saved);
  ts_json_free (j);
  g_free (out);
  g_free (err);
  /* the project has what happened: the GPU it ran on, CUDA's error */
  j = run_record (demo_dir);
  g_assert_cmpstr (json_text (j, "status"), ==, "failed");
  assert_device (json_text (j, "device"), strlen (json_text (j, "device")), TS_TEST_EMU_CUDNN);
  g_assert_nonnull (strstr (json_text (j, "message"), "cudaErrorLaunchFailure"));
  ts_json_free (j);

  out = run_with (demo_dir, NULL, NULL, 0, &err, (const char *const *) resume);
  g_strfreev (resume);
  /* from the last checkpoint, the frozen epoch's and unfrozen epochs 0 to
   * saved - 2: it goes on at unfrozen epoch saved - 1 */
  at = g_strdup_printf ("resuming run 1 at phase 1, epoch %ld\n", saved - 1);
  g_assert_nonnull (strstr (out, at));
  j = json_line (out, "{\"run\": 1, ");
  g_assert_cmpstr (json_text (j, "status"), ==, "finished");
  ts_json_free (j);
  g_assert_nonnull (strstr (err, "wrote "));
  if (TS_TEST_EMU_CUDNN)
    g_assert_nonnull (strstr (err, "was started with --precision bf16, which this device cannot "
                                   "run; it goes on in fp32"));
  j = run_record (demo_dir);
  g_assert_cmpstr (json_text (j, "status"), ==, "finished");
  g_assert_true (g_str_has_prefix (json_text (j, "device"), "CPU ("));
  ts_json_free (j);
  g_free (at);
  g_free (out);
  g_free (err);
}

/* The same without a project: train fails with the same advice, once (no
 * validation is tried on the lost GPU), and says that nothing is kept to
 * go on from, and how to keep it next time */
static void
test_gpu_lost_no_project (void)
{
  const char *train[] = { "train", TRAIN_ARGS, "--epochs", EPOCHS, "--freeze-epochs", "1",
                          NULL };
  char *err = NULL, *first;

  if (!demo ())
    return;
  g_free (run_with (demo_dir, "TS_FAKE_CUDA_FAIL_AFTER", FAIL_AFTER, 1, &err, train));
  first = strstr (err, LOST_ADVICE);
  g_assert_nonnull (first);
  g_assert_null (strstr (first + 1, LOST_ADVICE));
  g_assert_nonnull (strstr (err, "without --project no epoch is kept: train again with "
                                 "--device cpu"));
  g_free (err);
}

int
main (int argc, char **argv)
{
  static const struct {
    const char *path;
    GTestFunc func;
  } tests[] = {
    { "/cuda/cli/no-device", test_no_device },
    { "/cuda/cli/train", test_train },
    { "/cuda/cli/train-bf16", test_train_bf16 },
    { "/cuda/cli/train-bf16-fallback", test_train_bf16_fallback },
    { "/cuda/cli/lr-find-bf16", test_lr_find_bf16 },
    { "/cuda/cli/bench", test_bench },
    { "/cuda/cli/bench-bf16", test_bench_bf16 },
    { "/cuda/cli/gpu-lost", test_gpu_lost },
    { "/cuda/cli/gpu-lost-no-project", test_gpu_lost_no_project },
  };
  int rc;

  g_test_init (&argc, &argv, NULL);
  for (size_t i = 0; i < G_N_ELEMENTS (tests); i++)
    g_test_add_func (tests[i].path, tests[i].func);
  rc = g_test_run ();
  /* the demo data the tests shared */
  if (demo_dir)
    ts_test_rmdir (demo_dir);
  g_free (demo_dir);
  return rc;
}
