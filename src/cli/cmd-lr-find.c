/* cmd-lr-find.c: `tagsight-cli lr-find CSV ...`: fastai's lr_find on the
 * frozen model (as right after cnn_learner), printing the curve and the
 * valley and steep suggestions. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-commands.h"
#include "cli-i18n.h"
#include "cli-train-common.h"
#include "ts-lr-find.h"

static void
usage (FILE *out)
{
  fprintf (out, "%s",
           _("Usage: tagsight-cli lr-find CSV [OPTIONS]\n\n"
             "fastai's lr_find: lr from 1e-7 to 10 over 100 steps on the frozen model.\n\n"
             "  --num-it N          steps (100)\n"));
  cli_lr_find_usage (out);
}

int
cmd_lr_find (int argc, char **argv)
{
  struct option longopts[40];
  cli_train_opts o;
  ts_session_config sc;
  ts_session s;
  ts_lr_find_config cfg;
  ts_lr_find_result r;
  ts_status st;
  char counts[256], devname[256];
  int n_long = 0, c;

  cli_train_opts_init (&o);
  ts_lr_find_config_init (&cfg);
  while (cli_lr_find_long_opts[n_long].name)
    {
      longopts[n_long] = cli_lr_find_long_opts[n_long];
      n_long++;
    }
  longopts[n_long++] = (struct option) { "num-it", required_argument, NULL, 'n' };
  longopts[n_long++] = (struct option) { "help", no_argument, NULL, 'h' };
  longopts[n_long] = (struct option) { NULL, 0, NULL, 0 };
  optind = 1;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    {
      int res;
      if (c == 'h')
        {
          usage (stdout);
          return 0;
        }
      if (c == 'n')
        {
          char *end;
          long v = strtol (optarg, &end, 10);
          if (*end || v < 6 || v > 100000)
            {
              fprintf (stderr, _("tagsight-cli lr-find: --num-it: '%s' (6 or more)\n"), optarg);
              return 2;
            }
          cfg.num_it = (int) v;
          continue;
        }
      res = cli_train_opt ("lr-find", &o, c, optarg);
      if (res < 0)
        return 2;
      if (res == 0)
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
  if (cli_datablock_opts_check ("lr-find", &o.db) < 0)
    return 2;
  o.csv = argv[optind];
  if (cli_datablock_detect ("lr-find", &o.db, o.csv, stderr) < 0)
    return 1;
  cli_train_session_config (&o, &sc);
  if ((st = ts_session_open (&sc, &s)) != TS_OK)
    {
      cli_fail ("lr-find", ts_last_error ());
      ts_session_close (&s);
      return 1;
    }
  /* TRANSLATORS: CSV: "205 training and 159 validation images, 3 classes";
   * architecture, fastai's lr_find(start_lr, end_lr, num_it) on the device */
  printf (_("%s: %s; %s, lr_find(%g, %g, num_it=%d) on %s\n"), o.csv,
          cli_counts_text (counts, sizeof counts, s.db->n_train, s.db->n_valid, s.db->n_vocab),
          o.arch, cfg.start_lr, cfg.end_lr, cfg.num_it,
          ts_session_describe_device (&s, devname, sizeof devname));
  cli_device_resample_note (&s);
  /* vision_learner freezes a pretrained body; a model from scratch sweeps unfrozen */
  if (o.pretrained)
    ts_learner_freeze (s.learner);
  cli_sigint_catch (s.learner);
  st = ts_learner_lr_find (s.learner, &cfg, &r);
  cli_sigint_release ();
  if (st != TS_OK && st != TS_ERR_CANCELLED)
    {
      cli_fail ("lr-find", ts_last_error ());
      ts_session_close (&s);
      return 1;
    }
  if (st == TS_ERR_CANCELLED)
    fprintf (stderr, _("tagsight-cli lr-find: %s; the curve so far:\n"), ts_last_error ());
  {
    /* TRANSLATORS: the first column of lr-find's curve; fastai's lr and
     * smoothed_loss stay as they are */
    int w = cli_col_width (_("step"), 6);
    cli_pad (stdout, _("step"), w);
    printf (" %-12s %s\n", "lr", "smoothed_loss");
    for (int i = 0; i < r.n; i++)
      printf ("%-*d %-12.4e %.6f\n", w, i, r.lrs[i], r.losses[i]);
  }
  if (r.diverged)
    printf (ngettext ("stopped: the loss diverged after %d step\n",
                      "stopped: the loss diverged after %d steps\n", r.n), r.n);
  if (isfinite (r.valley))
    printf (_("suggestions: valley %.3e (step %d), steep %.3e (step %d)\n"), r.valley,
            r.valley_idx, r.steep, r.steep_idx);
  else
    printf ("%s", _("suggestions: none (too few points; use more training images or "
                    "--num-it)\n"));
  printf ("{\"valley\": %.6g, \"steep\": %.6g, \"points\": %d, \"diverged\": %s}\n",
          isfinite (r.valley) ? r.valley : 0.0, isfinite (r.steep) ? r.steep : 0.0, r.n,
          r.diverged ? "true" : "false");
  ts_lr_find_result_clear (&r);
  cli_session_notes ("lr-find", &s);
  ts_session_close (&s);
  return st == TS_ERR_CANCELLED ? 130 : 0;
}
