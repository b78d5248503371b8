/* cmd-train.c: `tagsight-cli train CSV ...`: fastai's fine_tune with its
 * table, a threshold-sweep summary and one final JSON line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-commands.h"
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
  double epoch_times[256];
  int n_epoch_times;
} train_ui;

static void
fmt_time (double s, char *buf, size_t n)
{
  int t = (int) (s + 0.5);
  snprintf (buf, n, "%02d:%02d", t / 60, t % 60);
}

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
  printf ("%-8s %-12s %-12s %-16s %s\n", "epoch", "train_loss", "valid_loss", "accuracy_multi",
          "time");
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
  printf ("] %d/%d  loss %.4f", ev->batch + 1, ev->n_batches, ev->smooth_loss);
  fflush (stdout);
  ui->bar_shown = 1;
}

static void
ui_epoch (void *user, const ts_epoch_event *ev)
{
  train_ui *ui = user;
  char t[16];

  clear_bar (ui);
  fmt_time (ev->seconds, t, sizeof t);
  printf ("%-8d %-12.6f %-12.6f %-16.6f %s\n", ev->epoch, ev->train_loss, ev->valid_loss,
          ev->accuracy_multi, t);
  fflush (stdout);
  if (ui->n_epoch_times < 256)
    ui->epoch_times[ui->n_epoch_times++] = ev->seconds;
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
  fprintf (out, "Usage: tagsight-cli train CSV [OPTIONS]\n\n"
           "fastai's fine_tune(epochs, lr, freeze_epochs) on the CSV's images.\n\n");
  cli_train_usage (out);
#ifdef TS_CLI_HAVE_PROJECT
  fprintf (out, "  --project P         record the run in project P (created when missing), with a\n"
           "                      checkpoint each epoch for tagsight-cli resume\n");
#endif
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
  char devname[160];
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
      fprintf (stderr, "tagsight-cli train: %s\n", ts_last_error ());
      ts_session_close (&s);
      return 1;
    }
  ui.tty = isatty (STDOUT_FILENO);
  printf ("%s: %d training and %d validation images, %d classes; %s, fine_tune(%d, %g, "
          "freeze_epochs=%d) on %s\n", o.csv, s.db->n_train, s.db->n_valid, s.db->n_vocab,
          o.arch, o.epochs, o.lr, o.freeze_epochs,
          ts_backend_describe (s.be, devname, sizeof devname));
  ts_learner_set_events (s.learner, &ev);

  cli_sigint_catch (s.learner);
  train_st = ts_learner_fine_tune (s.learner, o.epochs, o.lr, o.freeze_epochs);
  cli_sigint_release ();

  if (train_st == TS_ERR_CANCELLED)
    fprintf (stderr, "tagsight-cli train: %s; keeping the model as it is\n", ts_last_error ());
  else if (train_st != TS_OK)
    {
      fprintf (stderr, "tagsight-cli train: %s\n", ts_last_error ());
      rc = 1;
    }

  /* final metrics and the sweep on the validation set */
  if (s.db->n_valid > 0)
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
          fprintf (stderr, "tagsight-cli train: validation: %s\n", ts_last_error ());
          rc = 1;
        }
      else
        {
          best_thresh = sw.best_accuracy.thresh;
          /* per class: the threshold of its best F1, for predict and the app */
          if ((class_thresh = malloc ((size_t) s.db->n_vocab * sizeof (float))) != NULL)
            for (int k = 0; k < s.db->n_vocab; k++)
              class_thresh[k] = (float) sw.best_class_f1[k].thresh;
          printf ("\nthreshold sweep on %d validation images (linspace(0.05, 0.99, 29)):\n", n);
          printf ("  accuracy_multi: %.4f at %.2f, best %.4f at %.3f (finer: %.4f at %.2f)\n",
                  rep.accuracy_multi, o.thresh, sw.best_accuracy.value, sw.best_accuracy.thresh,
                  swf.best_accuracy.value, swf.best_accuracy.thresh);
          printf ("  F1 micro: best %.4f at %.3f;  F1 macro: best %.4f at %.3f\n",
                  sw.best_f1_micro.value, sw.best_f1_micro.thresh, sw.best_f1_macro.value,
                  sw.best_f1_macro.thresh);
          printf ("  mAP %.4f (VOC2007 11-point %.4f);  all-negative baseline %.4f\n",
                  rep.map, rep.map_voc07, rep.all_negative_baseline);
          printf ("  %-20s %8s %8s %8s %8s %10s\n", "class", "AP", "F1", "best F1", "at",
                  "positives");
          for (int k = 0; k < s.db->n_vocab; k++)
            printf ("  %-20s %8.4f %8.4f %8.4f %8.3f %10lld\n", s.db->vocab[k], rep.ap[k],
                    rep.per_class[k].f1, sw.best_class_f1[k].value, sw.best_class_f1[k].thresh,
                    (long long) rep.per_class[k].support);

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
          printf ("\"epoch_times\": [");
          for (int i = 0; i < ui.n_epoch_times; i++)
            printf ("%s%.3f", i ? ", " : "", ui.epoch_times[i]);
          printf ("], ");
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

  /* a cancelled run is still saved; a failed one keeps its last good weights too */
  if (o.out && (train_st == TS_OK || train_st == TS_ERR_CANCELLED || train_st == TS_ERR_NUMERIC))
    {
      if ((st = ts_session_save_model (&s, o.out, best_thresh, class_thresh)) != TS_OK)
        {
          fprintf (stderr, "tagsight-cli train: %s\n", ts_last_error ());
          rc = 1;
        }
      else
        fprintf (stderr, "tagsight-cli train: wrote %s\n", o.out);
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
