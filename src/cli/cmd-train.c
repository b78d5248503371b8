/* cmd-train.c: `tagsight-cli train CSV ...`: fastai's fine_tune with its
 * table, a threshold-sweep summary and one final JSON line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-commands.h"
#include "cli-i18n.h"
#include "cli-train-common.h"
#include "ts-backend-select.h"
#include "ts-metrics.h"
#include "ts-thresholds.h"
#ifdef TS_CLI_HAVE_PROJECT
#include "cli-project.h"
#endif

typedef struct {
  int tty;
  int bar_shown;
  double epoch_times[256], wait_times[256], valid_times[256];
  int n_epoch_times;
} train_ui;

static void
clear_bar (train_ui *ui)
{
  if (ui->bar_shown)
    {
      printf ("\r\033[K");
      ui->bar_shown = 0;
    }
}

static void
ui_phase (void *user, const ts_phase_event *ev)
{
  train_ui *ui = user;
  clear_bar (ui);
  if (ev->phase > 0)
    printf ("\n");
  cli_epoch_header (stdout);
  fflush (stdout);
}

static void
ui_batch (void *user, const ts_batch_event *ev)
{
  train_ui *ui = user;
  int width = 30, done;

  if (!ui->tty)
    return;
  done = (ev->batch + 1) * width / (ev->n_batches > 0 ? ev->n_batches : 1);
  printf ("\r\033[K%d/%d [", ev->epoch, ev->n_epochs);
  for (int i = 0; i < width; i++)
    putchar (i < done ? '#' : '.');
  printf ("] %d/%d  %s %.4f", ev->batch + 1, ev->n_batches, _("loss"), ev->smooth_loss);
  fflush (stdout);
  ui->bar_shown = 1;
}

static void
ui_epoch (void *user, const ts_epoch_event *ev)
{
  train_ui *ui = user;

  clear_bar (ui);
  cli_epoch_row (stdout, ev);
  fflush (stdout);
  if (ui->n_epoch_times < 256)
    {
      ui->wait_times[ui->n_epoch_times] = ev->wait_seconds;
      ui->valid_times[ui->n_epoch_times] = ev->valid_seconds;
      ui->epoch_times[ui->n_epoch_times++] = ev->seconds;
    }
}

/* "key": [1.234, ...], in the final JSON line */
static void
json_seconds (const char *key, const double *v, int n)
{
  printf ("\"%s\": [", key);
  for (int i = 0; i < n; i++)
    printf ("%s%.3f", i ? ", " : "", v[i]);
  printf ("], ");
}

static void
ui_failed (void *user, ts_status st, const char *msg)
{
  (void) st;
  (void) msg;
  clear_bar (user);
}

static void
ui_finished (void *user, ts_status st)
{
  (void) st;
  clear_bar (user);
}

static void
usage (FILE *out)
{
  fprintf (out, "%s", _("Usage: tagsight-cli train CSV [OPTIONS]\n\n"
                        "fastai's fine_tune(epochs, lr, freeze_epochs) on the CSV's images.\n\n"));
  cli_train_usage (out);
#ifdef TS_CLI_HAVE_PROJECT
  fprintf (out, "%s",
           _("  --project P         record the run in project P (created when missing), with a\n"
             "                      checkpoint each epoch for tagsight-cli resume\n"));
#endif
}

/* per class: AP, F1 at --thresh, the best F1 and its threshold */
static void
class_table (char **vocab, int n_vocab, const ts_metrics_report *rep,
             const ts_threshold_sweep *sw)
{
  const char *h[6] = {
    _("class"), _("AP"), _("F1"), _("best F1"),
    /* TRANSLATORS: a column header: the threshold the best F1 is reached at */
    C_("threshold column", "at"),
    /* TRANSLATORS: a column header: how many validation images carry the class */
    _("positives"),
  };
  int w[6] = { 20, 8, 8, 8, 8, 10 };

  for (int i = 0; i < 6; i++)
    w[i] = cli_col_width (h[i], w[i]);
  printf ("  ");
  cli_pad (stdout, h[0], w[0]);
  for (int i = 1; i < 6; i++)
    {
      putchar (' ');
      cli_pad (stdout, h[i], -w[i]);
    }
  putchar ('\n');
  for (int k = 0; k < n_vocab; k++)
    {
      printf ("  ");
      cli_pad (stdout, vocab[k], w[0]);
      printf (" %*.4f %*.4f %*.4f %*.3f %*lld\n", w[1], rep->ap[k], w[2], rep->per_class[k].f1,
              w[3], sw->best_class_f1[k].value, w[4], sw->best_class_f1[k].thresh, w[5],
              (long long) rep->per_class[k].support);
    }
}

static void
json_num (const char *key, double v, int last)
{
  if (isfinite (v))
    printf ("\"%s\": %.6g%s", key, v, last ? "" : ", ");
  else
    printf ("\"%s\": null%s", key, last ? "" : ", ");
}

int
cmd_train (int argc, char **argv)
{
  struct option longopts[40];
  cli_train_opts o;
  ts_session_config sc;
  ts_session s;
  train_ui ui = { 0 };
  ts_learner_events ev = { &ui, ui_phase, ui_batch, ui_epoch, ui_finished, ui_failed };
  ts_status st, train_st;
  int n_long = 0, c, rc = 0;
  char devname[160], counts[256];
#ifdef TS_CLI_HAVE_PROJECT
  const char *project = NULL;
#endif
  float *probs = NULL, *targets = NULL;
  int n = 0;
  double valid_loss = NAN, best_thresh = -1.0;
  float *class_thresh = NULL;

  cli_train_opts_init (&o);
  while (cli_train_long_opts[n_long].name)
    {
      longopts[n_long] = cli_train_long_opts[n_long];
      n_long++;
    }
  longopts[n_long++] = (struct option) { "help", no_argument, NULL, 'h' };
#ifdef TS_CLI_HAVE_PROJECT
  longopts[n_long++] = (struct option) { "project", required_argument, NULL, CLI_PROJECT_OPT };
#endif
  longopts[n_long] = (struct option) { NULL, 0, NULL, 0 };
  optind = 1;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    {
      int r;
      if (c == 'h')
        {
          usage (stdout);
          return 0;
        }
#ifdef TS_CLI_HAVE_PROJECT
      if (c == CLI_PROJECT_OPT)
        {
          project = optarg;
          continue;
        }
#endif
      r = cli_train_opt ("train", &o, c, optarg);
      if (r < 0)
        return 2;
      if (r == 0)
        {
          usage (stderr);
          return 2;
        }
    }
  if (optind != argc - 1)
    {
      usage (stderr);
      return 2;
    }
  if (cli_datablock_opts_check ("train", &o.db) < 0)
    return 2;
  o.csv = argv[optind];
  if (cli_datablock_detect ("train", &o.db, o.csv, stderr) < 0)
    return 1;
#ifdef TS_CLI_HAVE_PROJECT
  /* recorded, checkpointed and resumable: cli-project.c runs it */
  if (project)
    return cli_project_train (&o, project, argv + 1, argc - 1);
#endif

  cli_train_session_config (&o, &sc);
  if ((st = ts_session_open (&sc, &s)) != TS_OK)
    {
      cli_fail ("train", ts_last_error ());
      ts_session_close (&s);
      return 1;
    }
  ui.tty = isatty (STDOUT_FILENO);
  /* TRANSLATORS: CSV: "205 training and 159 validation images, 3 classes";
   * architecture, fine_tune(epochs, lr, freeze_epochs) on the device */
  printf (_("%s: %s; %s, fine_tune(%d, %g, freeze_epochs=%d) on %s\n"), o.csv,
          cli_counts_text (counts, sizeof counts, s.db->n_train, s.db->n_valid, s.db->n_vocab),
          o.arch, o.epochs, o.lr, o.freeze_epochs,
          ts_session_describe_device (&s, devname, sizeof devname));
  cli_device_resample_note (&s);
  ts_learner_set_events (s.learner, &ev);

  cli_sigint_catch (s.learner);
  train_st = ts_learner_fine_tune (s.learner, o.epochs, o.lr, o.freeze_epochs);
  cli_sigint_release ();

  if (train_st == TS_ERR_CANCELLED)
    fprintf (stderr, _("tagsight-cli train: %s; keeping the model as it is\n"),
             ts_last_error ());
  else if (train_st != TS_OK)
    {
      cli_fail ("train", ts_last_error ());
      rc = 1;
    }
  /* the GPU is gone: no validation on it, and nothing to save from it */
  if (train_st == TS_ERR_DEVICE)
    fprintf (stderr, _("tagsight-cli train: without --project no epoch is kept: train again "
                       "with --device cpu or a smaller --bs, and with --project P to be able "
                       "to resume from the last completed epoch\n"));

  /* final metrics and the sweep on the validation set */
  if (s.db->n_valid > 0 && train_st != TS_ERR_DEVICE)
    {
      ts_metrics_report rep = { 0 };
      ts_threshold_sweep sw = { 0 }, swf = { 0 };
      double coarse[TS_SWEEP_COARSE_N], fine[TS_SWEEP_FINE_N];

      /* a Ctrl-C that stopped training must not stop the evaluation too */
      ts_learner_reset_cancel (s.learner);
      st = ts_learner_get_preds (s.learner, NULL, &probs, &targets, NULL, &n, &valid_loss);
      if (st == TS_OK)
        st = ts_metrics_compute (probs, targets, n, s.db->n_vocab, o.thresh, &rep);
      ts_sweep_coarse (coarse);
      ts_sweep_fine (fine);
      if (st == TS_OK)
        st = ts_threshold_sweep_run (probs, targets, n, s.db->n_vocab, coarse,
                                     TS_SWEEP_COARSE_N, &sw);
      if (st == TS_OK)
        st = ts_threshold_sweep_run (probs, targets, n, s.db->n_vocab, fine, TS_SWEEP_FINE_N,
                                     &swf);
      if (st != TS_OK)
        {
          fprintf (stderr, _("tagsight-cli train: validation: %s\n"), ts_last_error ());
          rc = 1;
        }
      else
        {
          best_thresh = sw.best_accuracy.thresh;
          /* per class: the threshold of its best F1, for predict and the app */
          if ((class_thresh = malloc ((size_t) s.db->n_vocab * sizeof (float))) != NULL)
            for (int k = 0; k < s.db->n_vocab; k++)
              class_thresh[k] = (float) sw.best_class_f1[k].thresh;
          printf (ngettext ("\nthreshold sweep on %d validation image "
                            "(linspace(0.05, 0.99, 29)):\n",
                            "\nthreshold sweep on %d validation images "
                            "(linspace(0.05, 0.99, 29)):\n", n), n);
          printf (_("  accuracy_multi: %.4f at %.2f, best %.4f at %.3f (finer: %.4f at %.2f)\n"),
                  rep.accuracy_multi, o.thresh, sw.best_accuracy.value, sw.best_accuracy.thresh,
                  swf.best_accuracy.value, swf.best_accuracy.thresh);
          printf (_("  F1 micro: best %.4f at %.3f;  F1 macro: best %.4f at %.3f\n"),
                  sw.best_f1_micro.value, sw.best_f1_micro.thresh, sw.best_f1_macro.value,
                  sw.best_f1_macro.thresh);
          printf ("  ");
          printf (_("mAP %.4f (VOC2007 11-point %.4f);  all-negative baseline %.4f\n"),
                  rep.map, rep.map_voc07, rep.all_negative_baseline);
          class_table (s.db->vocab, s.db->n_vocab, &rep, &sw);

          printf ("{");
          json_num ("valid_loss", valid_loss, 0);
          json_num ("accuracy_multi", rep.accuracy_multi, 0);
          json_num ("thresh", o.thresh, 0);
          json_num ("accuracy_multi_best", sw.best_accuracy.value, 0);
          json_num ("best_thresh", sw.best_accuracy.thresh, 0);
          json_num ("mAP", rep.map, 0);
          json_num ("mAP_voc07", rep.map_voc07, 0);
          json_num ("f1_micro", rep.micro.f1, 0);
          json_num ("f1_macro", rep.macro.f1, 0);
          json_num ("all_negative_baseline", rep.all_negative_baseline, 0);
          json_seconds ("epoch_times", ui.epoch_times, ui.n_epoch_times);
          json_seconds ("loader_wait_times", ui.wait_times, ui.n_epoch_times);
          json_seconds ("valid_times", ui.valid_times, ui.n_epoch_times);
          json_num ("train_images_per_s", ts_learner_train_images_per_s (s.learner), 0);
          printf ("\"completed\": %s}\n", train_st == TS_OK ? "true" : "false");
        }
      ts_metrics_report_clear (&rep);
      ts_threshold_sweep_clear (&sw);
      ts_threshold_sweep_clear (&swf);
    }
  else
    {
      printf ("{\"valid_loss\": null, \"train_images_per_s\": %.6g, \"completed\": %s}\n",
              ts_learner_train_images_per_s (s.learner), train_st == TS_OK ? "true" : "false");
    }
  fflush (stdout);
  cli_session_notes ("train", &s);

  /* a cancelled run is still saved; a failed one keeps its last good weights too */
  if (o.out && (train_st == TS_OK || train_st == TS_ERR_CANCELLED || train_st == TS_ERR_NUMERIC))
    {
      if ((st = ts_session_save_model (&s, o.out, best_thresh, class_thresh)) != TS_OK)
        {
          cli_fail ("train", ts_last_error ());
          rc = 1;
        }
      else
        fprintf (stderr, _("tagsight-cli train: wrote %s\n"), o.out);
    }
  free (probs);
  free (targets);
  free (class_thresh);
  ts_session_close (&s);
  /* a failed save outranks the interruption: the user must learn the model is not there */
  if (rc != 0)
    return rc;
  return train_st == TS_ERR_CANCELLED ? 130 : 0;
}
