/* test-crash.c: a child process records runs, metrics and label edits in a
 * loop and is SIGKILLed at random moments, many times; after each kill the
 * project must pass PRAGMA integrity_check and hold every row the child
 * reported committed (through a pipe, after each commit returned). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tagsight-project.h"
#include "ts-rng.h"
#include "ts-test.h"

#define N_KILLS 40
#define N_ITEMS 12

static void
report (int fd, const char *fmt, ...)
{
  char buf[256];
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (buf, sizeof buf, fmt, ap);
  va_end (ap);
  /* one write() of < PIPE_BUF bytes: a line arrives whole or not at all */
  if (write (fd, buf, (size_t) n) != n)
    _exit (3);
}

static G_GNUC_NORETURN void
child_main (const char *path, gint64 ds, int fd, guint64 seed)
{
  GError *error = NULL;
  TagsightProject *p = tagsight_project_open (path, 0, &error);
  GPtrArray *items;
  ts_rng r;
  static const char *const labels[] = { "cat", "dog", "bird", "car" };

  if (!p)
    _exit (2);
  items = tagsight_project_list_items (p, ds, &error);
  if (!items)
    _exit (2);
  ts_rng_seed (&r, seed, 1);
  for (int iter = 0; iter < 100000; iter++)
    {
      gint64 run = 0, edit = 0;
      TagsightItem *it = items->pdata[ts_rng_below (&r, items->len)];
      const char *lab = labels[ts_rng_below (&r, G_N_ELEMENTS (labels))];
      int present = ts_rng_below (&r, 2);

      if (!tagsight_project_begin_run (p, ds, "{\"arch\": \"tiny\"}", "cpu", &run, &error))
        _exit (4);
      report (fd, "R %" G_GINT64_FORMAT "\n", run);
      for (int b = 0; b < 5; b++)
        {
          if (!tagsight_project_add_batch_metrics (p, run, 0, 0, b, b, 0.5 + b, 0.5, 1e-3, 0.9,
                                                   &error))
            _exit (4);
          report (fd, "B %" G_GINT64_FORMAT " %d\n", run, b);
        }
      if (!tagsight_project_add_epoch_metrics (p, run, 0, 0, 0.4, 0.5, 0.9, 1.0, &error))
        _exit (4);
      report (fd, "E %" G_GINT64_FORMAT "\n", run);
      if (!tagsight_project_toggle_label (p, it->id, lab, present, "user", &edit, &error))
        _exit (4);
      if (edit > 0)
        report (fd, "L %" G_GINT64_FORMAT " %" G_GINT64_FORMAT "\n", edit, it->id);
      if (ts_rng_below (&r, 4) == 0)
        {
          gint64 item = 0;
          if (tagsight_project_undo (p, &item, &error))
            report (fd, "U %" G_GINT64_FORMAT "\n", item);
          else if (error)
            _exit (4);
        }
      if (!tagsight_project_end_run (p, run, TAGSIGHT_RUN_FINISHED, NULL, &error))
        _exit (4);
      report (fd, "F %" G_GINT64_FORMAT "\n", run);
    }
  _exit (0);
}

static void
check_reported (TagsightProject *p, gint64 ds, const char *lines, int *n_checked)
{
  g_auto (GStrv) v = g_strsplit (lines, "\n", -1);
  g_autoptr (GPtrArray) edits = tagsight_project_list_label_edits (p, ds, NULL);
  g_autoptr (GHashTable) edit_ids = g_hash_table_new (g_int64_hash, g_int64_equal);
  GError *error = NULL;

  g_assert_nonnull (edits);
  for (guint i = 0; i < edits->len; i++)
    g_hash_table_add (edit_ids, &((TagsightLabelEdit *) edits->pdata[i])->id);
  /* the last element is an unfinished line (or empty): only whole lines count */
  for (int i = 0; v[i] && v[i + 1]; i++)
    {
      char kind;
      gint64 a = 0, b = 0;
      if (sscanf (v[i], "%c %" G_GINT64_FORMAT " %" G_GINT64_FORMAT, &kind, &a, &b) < 2)
        g_error ("bad report line '%s'", v[i]);
      if (kind == 'R' || kind == 'F' || kind == 'E')
        {
          g_autoptr (TagsightRun) run = tagsight_project_get_run (p, a, &error);
          g_assert_no_error (error);
          if (kind == 'F')
            g_assert_cmpint (run->status, ==, TAGSIGHT_RUN_FINISHED);
          if (kind == 'E')
            g_assert_cmpint (run->n_epochs_done, ==, 1);
        }
      else if (kind == 'B')
        {
          g_autoptr (GArray) bm = tagsight_project_get_batch_metrics (p, a, &error);
          g_assert_no_error (error);
          g_assert_cmpuint (bm->len, >, (guint) b);
          g_assert_cmpint (g_array_index (bm, TagsightBatchMetrics, b).batch, ==, b);
        }
      else if (kind == 'L')
        g_assert_true (g_hash_table_contains (edit_ids, &a));
      (*n_checked)++;
    }
}

/* The labels of each item must be what its edit history says. */
static void
check_history (TagsightProject *p, gint64 ds, const GPtrArray *csv_items)
{
  g_autoptr (GPtrArray) edits = tagsight_project_list_label_edits (p, ds, NULL);
  g_autoptr (GPtrArray) items = tagsight_project_list_items (p, ds, NULL);
  g_autoptr (GHashTable) expect = g_hash_table_new (g_int64_hash, g_int64_equal);

  for (guint i = 0; i < items->len; i++)
    {
      TagsightItem *it = items->pdata[i];
      g_hash_table_insert (expect, &it->id, ((TagsightItem *) csv_items->pdata[i])->labels);
    }
  for (guint i = 0; i < edits->len; i++)
    {
      TagsightLabelEdit *e = edits->pdata[i];
      if (strcmp (e->state, "applied") == 0)
        {
          g_assert_cmpstr (g_hash_table_lookup (expect, &e->item_id), ==, e->old_labels);
          g_hash_table_insert (expect, &e->item_id, e->new_labels);
        }
    }
  for (guint i = 0; i < items->len; i++)
    {
      TagsightItem *it = items->pdata[i];
      g_assert_cmpstr (it->labels, ==, g_hash_table_lookup (expect, &it->id));
    }
}

static void
test_sigkill (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *path = g_build_filename (dir, "crash.tagsight", NULL);
  g_autofree char *csv = g_build_filename (dir, "train.csv", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) csv_items = NULL;
  GString *text = g_string_new ("fname,labels,is_valid\n");
  TagsightProject *p;
  gint64 ds = 0;
  ts_rng r;
  int n_checked = 0;

  for (int i = 0; i < N_ITEMS; i++)
    g_string_append_printf (text, "%d.jpg,%s,%s\n", i, i % 2 ? "cat" : "dog",
                            i % 3 ? "False" : "True");
  g_assert_true (g_file_set_contents (csv, text->str, -1, NULL));
  g_string_free (text, TRUE);
  p = tagsight_project_open (path, TAGSIGHT_PROJECT_OPEN_CREATE, &error);
  g_assert_no_error (error);
  g_assert_true (tagsight_project_add_dataset (p, csv, NULL, NULL, NULL, NULL, &ds, &error));
  csv_items = tagsight_project_list_items (p, ds, &error);
  g_object_unref (p);

  ts_rng_seed (&r, 20261128, 0);
  for (int k = 0; k < N_KILLS; k++)
    {
      GString *got = g_string_new (NULL);
      int fds[2], status;
      char buf[4096];
      ssize_t n;
      pid_t pid;
      struct timespec delay;
      guint64 us = 2000 + ts_rng_below (&r, 60000);   /* 2 to 62 ms */

      g_assert_cmpint (pipe (fds), ==, 0);
      pid = fork ();
      g_assert_cmpint (pid, >=, 0);
      if (pid == 0)
        {
          close (fds[0]);
          child_main (path, ds, fds[1], (guint64) k + 1);
        }
      close (fds[1]);
      delay.tv_sec = 0;
      delay.tv_nsec = (long) us * 1000;
      nanosleep (&delay, NULL);
      kill (pid, SIGKILL);
      g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
      if (!(WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL))
        g_error ("the child ended by itself (status %d) before the kill", status);
      while ((n = read (fds[0], buf, sizeof buf)) > 0)
        g_string_append_len (got, buf, n);
      close (fds[0]);

      p = tagsight_project_open (path, 0, &error);
      g_assert_no_error (error);
      {
        g_autofree char *rep = NULL;
        gboolean ok = tagsight_project_check_integrity (p, &rep, &error);
        g_assert_no_error (error);
        if (!ok)
          g_error ("after kill %d: integrity_check says %s", k, rep);
      }
      check_reported (p, ds, got->str, &n_checked);
      check_history (p, ds, csv_items);
      g_object_unref (p);
      g_string_free (got, TRUE);
    }
  g_test_message ("%d kills, %d committed rows checked", N_KILLS, n_checked);
  g_assert_cmpint (n_checked, >, N_KILLS);
  ts_test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/store/crash/sigkill", test_sigkill);
  return g_test_run ();
}
