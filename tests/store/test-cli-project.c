/* test-cli-project.c: the CLI end to end: `train --project` SIGKILLed after
 * its first checkpoint, `runs`, `resume`, and the resumed run's final state
 * bit for bit equal to an uninterrupted run's; then `label-issues` accepting
 * suggestions into the project and exporting the corrected CSV, and skipping
 * an unreadable image.
 *
 * This file is built only with the store (tests/store/meson.build), so the
 * store's commands must be there; demo-data must be there when Cairo was
 * found (TS_HAVE_CAIRO in ts-config.h).  A missing command is a failure
 * then, not a skip. */
#include "ts-config.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tagsight-project.h"
#include "ts-safetensors.h"
#include "ts-test.h"
#include "ts-test-as-user.h"

static gboolean
cli_has (const char *cmd)
{
  g_autofree char *out = NULL;
  const char *argv[] = { ts_test_cli (), "--help", NULL };

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL,
                               &out, NULL, NULL, NULL));
  return strstr (out, cmd) != NULL;
}

/* Whether a command the build configured in is really there: fails when it
 * should be and is not; FALSE (the caller skips) only when not configured. */
static gboolean
need_cli (const char *cmd, gboolean configured)
{
  if (cli_has (cmd))
    return TRUE;
  if (configured)
    g_error ("tagsight-cli has no %s, though this build configured it in", cmd);
  g_test_skip_printf ("tagsight-cli has no %s in this build", cmd);
  return FALSE;
}

#ifdef TS_HAVE_CAIRO
#define HAVE_DEMO_DATA TRUE
#else
#define HAVE_DEMO_DATA FALSE
#endif

/* stdout; stderr into *@err_out when not NULL */
static char *
run_cli_err (const char *dir, int expect_rc, char **err_out, const char *first, ...)
  G_GNUC_NULL_TERMINATED;

static char *
run_cli_va (const char *dir, int expect_rc, char **err_out, const char *first, va_list ap)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new ();

  for (const char *a = first; a; a = va_arg (ap, const char *))
    g_ptr_array_add (args, (char *) a);
  g_ptr_array_add (args, NULL);
  return ts_test_run_cli_expect (dir, expect_rc, (const char *const *) args->pdata, err_out);
}

static char *
run_cli_err (const char *dir, int expect_rc, char **err_out, const char *first, ...)
{
  va_list ap;
  char *out;

  va_start (ap, first);
  out = run_cli_va (dir, expect_rc, err_out, first, ap);
  va_end (ap);
  return out;
}

static char *
run_cli (const char *dir, int expect_rc, const char *first, ...) G_GNUC_NULL_TERMINATED;

static char *
run_cli (const char *dir, int expect_rc, const char *first, ...)
{
  va_list ap;
  char *out;

  va_start (ap, first);
  out = run_cli_va (dir, expect_rc, NULL, first, ap);
  va_end (ap);
  return out;
}

/* 12 epochs of 320 images: the run goes on for 11 epochs (about a second)
 * after its first checkpoint appears, so the kill below lands mid-run. */
#define TRAIN_ARGS "d/train.csv", "--arch", "tiny", "--epochs", "12", "--freeze-epochs", "1", \
  "--bs", "16", "--size", "32", "--threads", "1", "--seed", "3"

static void
test_train_kill_resume (void)
{
  g_autofree char *dir = NULL, *ck_full = NULL, *ck_k = NULL, *out = NULL;
  ts_safetensors *a = NULL, *b = NULL;
  const char *argv[] = { ts_test_cli (), "train", TRAIN_ARGS, "--project", "k.tagsight", NULL };
  GPid pid;
  int status;
  gint64 deadline;
  g_autoptr (GError) error = NULL;

  if (!need_cli ("demo-data", HAVE_DEMO_DATA) || !need_cli ("resume", TRUE)
      || !need_cli ("runs", TRUE) || !need_cli ("label-issues", TRUE))
    return;
  dir = ts_test_tmpdir ();
  g_free (run_cli (dir, 0, "demo-data", "d", "--n", "320", "--size", "40", NULL));
  g_free (run_cli (dir, 0, "train", TRAIN_ARGS, "--project", "full.tagsight", NULL));

  /* the same run, killed as soon as its first checkpoint exists */
  ck_k = g_build_filename (dir, "k-run1.ckpt", NULL);
  g_assert_true (g_spawn_async (dir, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD
                                | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                                NULL, &pid, &error));
  deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  while (!g_file_test (ck_k, G_FILE_TEST_EXISTS) && g_get_monotonic_time () < deadline)
    g_usleep (500);
  kill (pid, SIGKILL);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  if (!g_file_test (ck_k, G_FILE_TEST_EXISTS))
    g_error ("no checkpoint %s within 2 minutes of starting the run", ck_k);
  /* a run that finished first would make the resume below test nothing */
  if (!WIFSIGNALED (status) || WTERMSIG (status) != SIGKILL)
    g_error ("the run was not killed mid-run (wait status %d): it finished before the kill",
             status);
  out = run_cli (dir, 0, "runs", "k.tagsight", "--json", NULL);
  g_assert_nonnull (strstr (out, "\"status\": \"running\""));
  g_clear_pointer (&out, g_free);

  out = run_cli (dir, 0, "resume", "k.tagsight", NULL);
  g_assert_nonnull (strstr (out, "resuming run 1"));
  g_assert_nonnull (strstr (out, "\"status\": \"finished\""));
  g_clear_pointer (&out, g_free);
  out = run_cli (dir, 0, "runs", "k.tagsight", NULL);
  g_assert_nonnull (strstr (out, "finished"));
  g_clear_pointer (&out, g_free);
  /* a finished run has nothing to resume */
  g_free (run_cli (dir, 2, "resume", "k.tagsight", NULL));

  /* the final checkpoints hold weights, buffers and Adam state: identical */
  ck_full = g_build_filename (dir, "full-run1.ckpt", NULL);
  g_assert_cmpint (ts_safetensors_open (ck_full, &a), ==, TS_OK);
  g_assert_cmpint (ts_safetensors_open (ck_k, &b), ==, TS_OK);
  g_assert_cmpstr (ts_safetensors_meta (a, "epoch"), ==, "12");
  g_assert_cmpstr (ts_safetensors_meta (b, "epoch"), ==, "12");
  g_assert_cmpint (a->n_entries, ==, b->n_entries);
  g_assert_cmpuint (a->data_size, ==, b->data_size);
  if (memcmp (a->data, b->data, a->data_size) != 0)
    g_error ("the resumed run's final state differs from the uninterrupted run's");
  ts_safetensors_free (a);
  ts_safetensors_free (b);

  /* label issues on the validation items, accepted into the project, exported */
  out = run_cli (dir, 0, "label-issues", "k-run1.safetensors", "d/train.csv", "--top", "5",
                 "--project", "k.tagsight", "--accept", "3", "--export", "fixed.csv", NULL);
  g_assert_nonnull (strstr (out, "possible label issues"));
  g_assert_nonnull (strstr (out, "co-occurrence"));
  {
    g_autofree char *orig = NULL, *fixed = NULL, *p1 = g_build_filename (dir, "d/train.csv",
                                                                          NULL);
    g_autofree char *p2 = g_build_filename (dir, "fixed.csv", NULL);
    g_auto (GStrv) l1 = NULL, l2 = NULL;
    int changed = 0;
    g_assert_true (g_file_get_contents (p1, &orig, NULL, NULL));
    g_assert_true (g_file_get_contents (p2, &fixed, NULL, NULL));
    l1 = g_strsplit (orig, "\n", -1);
    l2 = g_strsplit (fixed, "\n", -1);
    g_assert_cmpuint (g_strv_length (l1), ==, g_strv_length (l2));
    for (int i = 0; l1[i]; i++)
      changed += strcmp (l1[i], l2[i]) != 0;
    g_assert_cmpint (changed, >=, 1);
    g_assert_cmpint (changed, <=, 3);
  }

  g_clear_pointer (&out, g_free);

  /* an unreadable validation image is skipped and counted, not fatal */
  {
    g_autofree char *csv = NULL, *bad = NULL, *err = NULL, *bad_path = NULL;
    g_auto (GStrv) lines = NULL;
    g_autofree char *p1 = g_build_filename (dir, "d/train.csv", NULL);

    g_assert_true (g_file_get_contents (p1, &csv, NULL, NULL));
    lines = g_strsplit (csv, "\n", -1);
    for (int i = 1; lines[i] && !bad; i++)
      if (g_str_has_suffix (lines[i], ",True"))
        bad = g_strndup (lines[i], strcspn (lines[i], ","));
    g_assert_nonnull (bad);
    bad_path = g_build_filename (dir, "d", "train", bad, NULL);
    if (!g_file_test (bad_path, G_FILE_TEST_EXISTS))
      {
        g_free (bad_path);
        bad_path = g_build_filename (dir, "d", bad, NULL);
      }
    g_assert_true (g_file_test (bad_path, G_FILE_TEST_EXISTS));
    g_assert_true (g_file_set_contents (bad_path, "not a JPEG", -1, NULL));
    out = run_cli_err (dir, 0, &err, "label-issues", "k-run1.safetensors", "d/train.csv",
                       "--threads", "2", NULL);
    g_test_message ("%s", err);
    g_assert_nonnull (strstr (out, "possible label issues"));
    g_assert_nonnull (strstr (err, "1 unreadable image skipped"));
    g_assert_nonnull (strstr (err, bad));
    g_clear_pointer (&out, g_free);
  }
  ts_test_rmdir (dir);
}

/* The validation predictions recorded for run 1 of @project (0: none). */
static int
n_predictions (const char *dir, const char *project)
{
  g_autofree char *path = g_build_filename (dir, project, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightProject) p = tagsight_project_open (path, 0, &error);
  g_autofree int *rows = NULL;
  g_autofree float *probs = NULL, *targets = NULL;
  int n = 0, n_classes = 0;

  g_assert_no_error (error);
  if (!tagsight_project_get_predictions (p, 1, &n, &n_classes, &rows, &probs, &targets, NULL))
    return 0;
  return n;
}

/* The run's line in `runs --json`. */
static char *
run_json (const char *dir, const char *project)
{
  return run_cli (dir, 0, "runs", project, "--json", NULL);
}

/* @from without its last tensor, written to @to: a checkpoint that parses
 * but does not fit the learner. */
static void
drop_last_tensor (const char *from, const char *to)
{
  ts_safetensors *sf;
  ts_st_tensor *t;
  float **data;
  const char **kv;
  int n;

  g_assert_cmpint (ts_safetensors_open (from, &sf), ==, TS_OK);
  n = sf->n_entries - 1;
  t = g_new0 (ts_st_tensor, n);
  data = g_new0 (float *, n);
  for (int i = 0; i < n; i++)
    {
      const ts_st_entry *e = &sf->entries[i];
      data[i] = g_new (float, e->numel > 0 ? e->numel : 1);
      g_assert_cmpint (ts_safetensors_read_f32 (sf, e, data[i], e->numel), ==, TS_OK);
      t[i].name = e->name;
      t[i].ndim = e->ndim;
      t[i].shape = e->shape;
      t[i].data = data[i];
    }
  kv = g_new0 (const char *, 2 * sf->n_meta + 1);
  for (int i = 0; i < sf->n_meta; i++)
    {
      kv[2 * i] = sf->meta_keys[i];
      kv[2 * i + 1] = sf->meta_values[i];
    }
  g_assert_cmpint (ts_safetensors_write (to, t, n, kv, sf->n_meta), ==, TS_OK);
  for (int i = 0; i < n; i++)
    g_free (data[i]);
  g_free (data);
  g_free (t);
  g_free (kv);
  ts_safetensors_free (sf);
}

/* The tensor bytes of two safetensors files are the same (their headers may
 * name other paths in the recipe). */
static void
assert_same_tensors (const char *a_path, const char *b_path)
{
  ts_safetensors *a, *b;

  g_assert_cmpint (ts_safetensors_open (a_path, &a), ==, TS_OK);
  g_assert_cmpint (ts_safetensors_open (b_path, &b), ==, TS_OK);
  g_assert_cmpint (a->n_entries, ==, b->n_entries);
  g_assert_cmpmem (a->data, a->data_size, b->data, b->data_size);
  ts_safetensors_free (a);
  ts_safetensors_free (b);
}

#define SMALL_ARGS "d/train.csv", "--arch", "tiny", "--epochs", "2", "--freeze-epochs", "1", \
  "--bs", "8", "--size", "32", "--threads", "1", "--seed", "3"

/* In a fresh folder (returned): demo data, a reference run of SMALL_ARGS
 * in ref.tagsight (its model ref-run1.safetensors), and the same run in
 * m.tagsight with --out in the missing folder models/: trained, checkpoint
 * kept, model not written, so the run failed and is left to resume.
 * @model gets models/m.safetensors; the CLI's stderr is checked to name it. */
static char *
run_with_unwritten_model (char **model)
{
  char *dir = ts_test_tmpdir (), *err = NULL;

  *model = g_build_filename (dir, "models", "m.safetensors", NULL);
  g_free (run_cli (dir, 0, "demo-data", "d", "--n", "48", "--size", "40", NULL));
  g_free (run_cli (dir, 0, "train", SMALL_ARGS, "--project", "ref.tagsight", NULL));
  g_free (run_cli_err (dir, 1, &err, "train", SMALL_ARGS, "--project", "m.tagsight", "--out",
                       *model, NULL));
  g_test_message ("%s", err);
  g_assert_nonnull (strstr (err, *model));
  g_free (err);
  return dir;
}

/* Training ends well but the model cannot be written (here: --out in a
 * folder that is not there; a full disk alike): the run is not "finished"
 * (resume would refuse it and the weights would be only in the checkpoint)
 * but failed, saying why, and resume writes the model.  A resume whose
 * checkpoint does not load changes nothing in the project: the run keeps its
 * status, message and predictions. */
static void
test_model_write_failed (void)
{
  g_autofree char *dir = NULL, *out = NULL, *err = NULL, *models = NULL, *model = NULL;
  g_autofree char *ckpt = NULL, *good = NULL, *before = NULL, *ref = NULL;

  if (!need_cli ("demo-data", HAVE_DEMO_DATA) || !need_cli ("resume", TRUE))
    return;
  dir = run_with_unwritten_model (&model);
  models = g_path_get_dirname (model);
  ckpt = g_build_filename (dir, "m-run1.ckpt", NULL);
  good = g_build_filename (dir, "good.ckpt", NULL);
  ref = g_build_filename (dir, "ref-run1.safetensors", NULL);
  before = run_json (dir, "m.tagsight");
  g_test_message ("%s", before);
  g_assert_nonnull (strstr (before, "\"status\": \"failed\""));
  g_assert_nonnull (strstr (before, model));
  g_assert_cmpint (n_predictions (dir, "m.tagsight"), >, 0);

  /* another project's run 1 (deleted and made again under the same name,
   * say): the same run number, model and data, but not this run's */
  g_assert_cmpint (g_rename (ckpt, good), ==, 0);
  {
    g_autofree char *other = g_build_filename (dir, "ref-run1.ckpt", NULL);
    g_autofree char *bytes = NULL;
    gsize len;
    g_assert_true (g_file_get_contents (other, &bytes, &len, NULL));
    g_assert_true (g_file_set_contents (ckpt, bytes, (gssize) len, NULL));
  }
  g_free (run_cli_err (dir, 1, &err, "resume", "m.tagsight", NULL));
  g_test_message ("%s", err);
  g_assert_nonnull (strstr (err, ckpt));
  g_assert_nonnull (strstr (err, "another run"));
  g_clear_pointer (&err, g_free);
  out = run_json (dir, "m.tagsight");
  g_assert_cmpstr (out, ==, before);
  g_clear_pointer (&out, g_free);

  /* a checkpoint that parses but does not fit: refused, nothing changed */
  drop_last_tensor (good, ckpt);
  g_free (run_cli_err (dir, 1, &err, "resume", "m.tagsight", NULL));
  g_test_message ("%s", err);
  g_assert_nonnull (strstr (err, ckpt));
  g_assert_nonnull (strstr (err, "the learner needs"));
  g_clear_pointer (&err, g_free);
  out = run_json (dir, "m.tagsight");
  g_assert_cmpstr (out, ==, before);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (n_predictions (dir, "m.tagsight"), >, 0);

  /* the checkpoint back and the folder there: resume writes the model, the
   * uninterrupted run's */
  g_assert_cmpint (g_rename (good, ckpt), ==, 0);
  g_assert_cmpint (g_mkdir (models, 0755), ==, 0);
  out = run_cli (dir, 0, "resume", "m.tagsight", NULL);
  g_assert_nonnull (strstr (out, "\"status\": \"finished\""));
  g_clear_pointer (&out, g_free);
  assert_same_tensors (ref, model);
  out = run_json (dir, "m.tagsight");
  g_assert_nonnull (strstr (out, "\"status\": \"finished\""));
  g_clear_pointer (&out, g_free);
  ts_test_rmdir (dir);
}

/* A run recorded with --precision bf16 (the app records the switch's
 * request whatever device the run lands on) resumed on the CPU, where bf16
 * cannot run: it goes on in fp32, says so, and ends with the model an fp32
 * run makes (bf16 is how activations are stored, not part of the weights). */
static void
test_resume_bf16_on_cpu (void)
{
  g_autofree char *dir = NULL, *out = NULL, *err = NULL, *models = NULL, *model = NULL;
  g_autofree char *ref = NULL, *project = NULL;
  sqlite3 *db = NULL;

  if (!need_cli ("demo-data", HAVE_DEMO_DATA) || !need_cli ("resume", TRUE))
    return;
  dir = run_with_unwritten_model (&model);
  models = g_path_get_dirname (model);
  ref = g_build_filename (dir, "ref-run1.safetensors", NULL);
  project = g_build_filename (dir, "m.tagsight", NULL);
  g_assert_cmpint (sqlite3_open (project, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "UPDATE runs SET recipe = replace (recipe, '\"--seed\"', "
                                 "'\"--precision\", \"bf16\", \"--seed\"') WHERE id = 1",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_changes (db), ==, 1);
  sqlite3_close (db);
  g_assert_cmpint (g_mkdir (models, 0755), ==, 0);

  out = run_cli_err (dir, 0, &err, "resume", "m.tagsight", "--device", "cpu", NULL);
  g_test_message ("%s", err);
  g_assert_nonnull (strstr (err, "was started with --precision bf16"));
  g_assert_nonnull (strstr (err, "fp32"));
  g_assert_nonnull (strstr (out, "\"status\": \"finished\""));
  assert_same_tensors (ref, model);
  ts_test_rmdir (dir);
}

/* Names in @dir containing @part, space-separated ("" when none). */
static char *
files_with (const char *dir, const char *part)
{
  GString *s = g_string_new (NULL);
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;

  while ((name = g_dir_read_name (d)) != NULL)
    if (strstr (name, part))
      g_string_append_printf (s, "%s%s", s->len ? " " : "", name);
  g_dir_close (d);
  return g_string_free (s, FALSE);
}

#define LONG_ARGS "d/train.csv", "--arch", "tiny", "--epochs", "100", "--freeze-epochs", "1", \
  "--bs", "16", "--size", "32", "--threads", "1", "--seed", "3"

/* One run, one trainer: resume while another process still trains the run
 * (the app, or a second terminal) is refused before it changes anything; once
 * that process is gone (SIGKILL), resume works, removes the temporary file a
 * checkpoint write killed midway left, and leaves no lock file behind. */
static void
test_resume_busy (void)
{
  g_autofree char *dir = NULL, *ck = NULL, *out = NULL, *err = NULL, *before = NULL;
  g_autofree char *stale = NULL, *stale_model = NULL, *other = NULL, *left = NULL;
  const char *train[] = { ts_test_cli (), "train", LONG_ARGS, "--project", "b.tagsight", NULL };
  const char *resume[] = { ts_test_cli (), "resume", "b.tagsight", NULL };
  g_autoptr (GError) error = NULL;
  GStatBuf ck_before;
  GPid pid;
  int status;
  gint64 deadline;

  if (!need_cli ("demo-data", HAVE_DEMO_DATA) || !need_cli ("resume", TRUE))
    return;
  dir = ts_test_tmpdir ();
  ck = g_build_filename (dir, "b-run1.ckpt", NULL);
  stale = g_build_filename (dir, "b-run1.ckpt.tmp-Ab12Cd", NULL);
  stale_model = g_build_filename (dir, "b-run1.safetensors.tmp-x9Y8z7", NULL);
  other = g_build_filename (dir, "b-run10.ckpt.tmp-Ab12Cd", NULL);
  g_free (run_cli (dir, 0, "demo-data", "d", "--n", "160", "--size", "40", NULL));

  g_assert_true (g_spawn_async (dir, (char **) train, NULL, G_SPAWN_DO_NOT_REAP_CHILD
                                | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                                NULL, &pid, &error));
  deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  while (!g_file_test (ck, G_FILE_TEST_EXISTS) && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_true (g_file_test (ck, G_FILE_TEST_EXISTS));
  before = run_json (dir, "b.tagsight");
  g_free (run_cli_err (dir, 1, &err, "resume", "b.tagsight", NULL));
  g_test_message ("%s", err);
  g_assert_nonnull (strstr (err, "another process"));
  g_assert_nonnull (strstr (err, ck));
  g_clear_pointer (&err, g_free);
  /* the trainer is still at it (100 epochs take seconds), and its run is as it was */
  g_assert_cmpint (waitpid (pid, &status, WNOHANG), ==, 0);
  out = run_json (dir, "b.tagsight");
  g_assert_nonnull (strstr (out, "\"status\": \"running\""));
  g_clear_pointer (&out, g_free);
  kill (pid, SIGKILL);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFSIGNALED (status));

  /* as a kill during a checkpoint write leaves it (or the model's); another
   * run's is not ours */
  g_assert_true (g_file_set_contents (stale, "partial", -1, NULL));
  g_assert_true (g_file_set_contents (stale_model, "partial", -1, NULL));
  g_assert_true (g_file_set_contents (other, "partial", -1, NULL));
  g_assert_cmpint (g_stat (ck, &ck_before), ==, 0);
  g_assert_true (g_spawn_async (dir, (char **) resume, NULL, G_SPAWN_DO_NOT_REAP_CHILD
                                | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                                NULL, &pid, &error));
  deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  while ((g_file_test (stale, G_FILE_TEST_EXISTS) || g_file_test (stale_model,
                                                                   G_FILE_TEST_EXISTS))
         && g_get_monotonic_time () < deadline)
    g_usleep (1000);
  g_assert_false (g_file_test (stale, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (stale_model, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (other, G_FILE_TEST_EXISTS));
  /* Ctrl-C once the resumed run is training (it wrote a checkpoint: a new
   * file, renamed over the old one): it stops, cancelled and resumable */
  for (;;)
    {
      GStatBuf now;
      if (g_stat (ck, &now) == 0 && now.st_ino != ck_before.st_ino)
        break;
      if (g_get_monotonic_time () >= deadline)
        {
          kill (pid, SIGKILL);   /* not left training after the test */
          g_error ("the resumed run wrote no checkpoint in time");
        }
      g_usleep (1000);
    }
  kill (pid, SIGINT);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 130);
  out = run_json (dir, "b.tagsight");
  g_assert_nonnull (strstr (out, "\"status\": \"cancelled\""));
  left = files_with (dir, ".lock");
  g_assert_cmpstr (left, ==, "");
  g_clear_pointer (&left, g_free);
  left = files_with (dir, "b-run1.ckpt.tmp-");
  g_assert_cmpstr (left, ==, "");
  ts_test_rmdir (dir);
}

static void
test_bad_project (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "junk.tagsight", NULL);
  const char *argv[] = { ts_test_cli (), "runs", path, NULL };
  g_autofree char *err = NULL;
  int status;

  if (!need_cli ("runs", TRUE))
    return;
  g_assert_true (g_file_set_contents (path, "this is not a database, but it is long enough to "
                                      "look like one to a careless reader.............", -1,
                                      NULL));
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                               NULL, &err, &status, NULL));
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 1);
  g_assert_nonnull (strstr (err, "junk.tagsight"));
  g_assert_nonnull (strstr (err, "corrupt or not a Tagsight project"));
  ts_test_rmdir (dir);
}

/* tagsight-cli as a user file modes bind (nobody when this is root): the
 * exit status; stdout and stderr into *@out and *@err. */
static int
run_cli_as_user (const char *dir, char **out, char **err, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  int status = 0;

  g_ptr_array_add (argv, (char *) ts_test_cli ());
  for (; *args; args++)
    g_ptr_array_add (argv, (char *) *args);
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (dir, (char **) argv->pdata, NULL, 0, ts_test_become_nobody, NULL,
                               out, err, &status, &error));
  g_assert_no_error (error);
  return status;
}

/* A project in a folder that cannot be written (a colleague's share, a
 * read-only mount): `runs` lists it and says it is read-only; `train` and
 * `resume` refuse, naming the file and the way out, and change nothing. */
static void
test_read_only_project (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *shared = g_build_filename (dir, "shared", NULL);
  g_autofree char *path = g_build_filename (shared, "p.tagsight", NULL);
  g_autofree char *csv = g_build_filename (dir, "train.csv", NULL);
  g_autofree char *before = NULL, *after = NULL, *wal = g_strconcat (path, "-wal", NULL);
  g_autofree char *out = NULL, *err = NULL;
  gsize n_before, n_after;
  int status;

  if (!need_cli ("runs", TRUE) || !need_cli ("resume", TRUE))
    return;
  g_assert_cmpint (g_mkdir (shared, 0755), ==, 0);
  g_assert_true (g_file_set_contents (csv, "fname,labels,is_valid\na.jpg,cat,True\n", -1, NULL));
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (TagsightProject) p = tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_CREATE,
                                                           &error);
    gint64 ds = 0, run = 0;

    g_assert_no_error (error);
    g_assert_true (tagsight_project_add_dataset (p, csv, NULL, NULL, NULL, NULL, &ds, &error));
    g_assert_true (tagsight_project_begin_run (p, ds, "{\"arch\": \"tiny\", \"args\": []}", "cpu",
                                               &run, &error));
    g_assert_true (tagsight_project_add_epoch_metrics (p, run, 0, 0, 0.5, 0.25, 0.75, 1,
                                                       &error));
    g_assert_true (tagsight_project_end_run (p, run, TAGSIGHT_RUN_CANCELLED, "stopped", &error));
  }
  g_assert_true (g_file_get_contents (path, &before, &n_before, NULL));
  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  g_assert_cmpint (g_chmod (path, 0666), ==, 0);
  g_assert_cmpint (g_chmod (shared, 0555), ==, 0);

  {
    const char *const args[] = { "runs", path, "--json", NULL };

    status = run_cli_as_user (dir, &out, &err, args);
    if (!ts_test_as_user_ran (status))
      goto out;
    g_assert_true (WIFEXITED (status));
    g_assert_cmpint (WEXITSTATUS (status), ==, 0);
    g_assert_nonnull (strstr (out, "\"run\": 1"));
    g_assert_nonnull (strstr (out, "\"valid_loss\": 0.25"));
    g_assert_nonnull (strstr (err, "is read-only"));
    g_assert_nonnull (strstr (err, "its folder cannot be written"));
  }
  {
    const char *const args[] = { "train", csv, "--arch", "tiny", "--project", path, NULL };

    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    status = run_cli_as_user (dir, &out, &err, args);
    g_assert_true (WIFEXITED (status));
    g_assert_cmpint (WEXITSTATUS (status), ==, 1);
    g_assert_nonnull (strstr (err, path));
    g_assert_nonnull (strstr (err, "is read-only"));
    g_assert_nonnull (strstr (err, "save a copy"));
  }
  {
    const char *const args[] = { "resume", path, "1", NULL };

    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    status = run_cli_as_user (dir, &out, &err, args);
    g_assert_true (WIFEXITED (status));
    g_assert_cmpint (WEXITSTATUS (status), ==, 1);
    g_assert_nonnull (strstr (err, "tagsight-cli resume: "));
    g_assert_nonnull (strstr (err, "is read-only"));
  }
  g_assert_true (g_file_get_contents (path, &after, &n_after, NULL));
  g_assert_cmpmem (before, n_before, after, n_after);
  g_assert_false (g_file_test (wal, G_FILE_TEST_EXISTS));

out:
  g_chmod (shared, 0755);
  ts_test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/store/cli/train-kill-resume", test_train_kill_resume);
  g_test_add_func ("/store/cli/bad-project", test_bad_project);
  g_test_add_func ("/store/cli/model-write-failed", test_model_write_failed);
  g_test_add_func ("/store/cli/resume-busy", test_resume_busy);
  g_test_add_func ("/store/cli/resume-bf16-on-cpu", test_resume_bf16_on_cpu);
  g_test_add_func ("/store/cli/read-only-project", test_read_only_project);
  return g_test_run ();
}
