/* cmd-thresholds.c: `tagsight-cli thresholds MODEL CSV [--valid-only]`:
 * get_preds with the model's own preprocessing (its recorded size and
 * normalisation, fastai's validation resize), then the chapter's threshold
 * sweep: accuracy_multi, F1, precision and recall against the threshold, the
 * best threshold per metric, per-class AP / F1 / best threshold, the
 * all-negative baseline and one JSON line.
 *
 * Rows: the CSV's validation rows (is_valid) when it has any, else every row
 * (a held-out labelled CSV); --valid-only refuses that fallback.  Labels are
 * matched to the model's vocab by name. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-commands.h"
#include "cli-i18n.h"
#include "cli-train-common.h"
#include "ts-preds.h"
#include "ts-metrics.h"
#include "ts-thresholds.h"

static void
usage (FILE *out)
{
  fprintf (out, "%s",
           _("Usage: tagsight-cli thresholds MODEL.safetensors CSV [OPTIONS]\n\n"
             "Sweeps the decision threshold of a trained model on the CSV's validation rows\n"
             "(every row when it has none).\n\n"
             "  --valid-only   only validation rows; fail when the CSV has none\n"
             "  --bs N         batch size (64)\n"
             "  --threads N    compute and loader threads (number of cores)\n"
             "  --save         write the best threshold and per-class thresholds into MODEL\n"));
}

static void
json_num (const char *key, double v)
{
  if (isfinite (v))
    printf ("\"%s\": %.6g, ", key, v);
  else
    printf ("\"%s\": null, ", key);
}

static void
json_str (const char *s)
{
  putchar ('"');
  for (; *s; s++)
    if (*s == '"' || *s == '\\')
      printf ("\\%c", *s);
    else if ((unsigned char) *s < 0x20)
      printf ("\\u%04x", *s);
    else
      putchar (*s);
  putchar ('"');
}

/* The sweep's table: threshold, accuracy_multi, F1 micro and macro, micro
 * precision and recall. */
static void
sweep_table (const ts_preds *p, const ts_threshold_sweep *sw)
{
  const int n = p->n, c = p->n_classes;
  const char *h[6] = {
    /* TRANSLATORS: a column header: the decision threshold */
    _("thresh"), "accuracy_multi", "f1_micro", "f1_macro", _("precision"), _("recall"),
  };
  int w[5] = { 8, 15, 9, 9, 10 };
  ts_prf micro, macro;

  for (int i = 0; i < 5; i++)
    {
      w[i] = cli_col_width (h[i], w[i]);
      cli_pad (stdout, h[i], w[i]);
      putchar (' ');
    }
  printf ("%s\n", h[5]);
  for (int i = 0; i < sw->n_thresh; i++)
    {
      ts_prf_at (p->probs, p->targets, n, c, sw->thresh[i], NULL, &micro, &macro);
      printf ("%-*.3f %-*.4f %-*.4f %-*.4f %-*.4f %.4f\n", w[0], sw->thresh[i], w[1],
              sw->accuracy[i], w[2], sw->f1_micro[i], w[3], sw->f1_macro[i], w[4],
              micro.precision, micro.recall);
    }
}

/* Per class at the best accuracy_multi threshold. */
static void
class_table (const ts_modelfile_meta *meta, const ts_metrics_report *rep,
             const ts_threshold_sweep *sw, const ts_prf *pc)
{
  const char *h[8] = {
    _("class"), _("AP"), _("F1"), _("best F1"),
    /* TRANSLATORS: a column header: the threshold the best F1 is reached at */
    C_("threshold column", "at"),
    _("precision"), _("recall"), _("support"),
  };
  int w[8] = { 20, 8, 8, 8, 8, 10, 10, 8 };

  for (int i = 0; i < 8; i++)
    {
      w[i] = cli_col_width (h[i], w[i]);
      cli_pad (stdout, h[i], i == 0 ? w[i] : -w[i]);
      putchar (i < 7 ? ' ' : '\n');
    }
  for (int k = 0; k < meta->n_vocab; k++)
    {
      cli_pad (stdout, meta->vocab[k], w[0]);
      printf (" %*.4f %*.4f %*.4f %*.3f %*.4f %*.4f %*lld\n", w[1], rep->ap[k], w[2], pc[k].f1,
              w[3], sw->best_class_f1[k].value, w[4], sw->best_class_f1[k].thresh, w[5],
              pc[k].precision, w[6], pc[k].recall, w[7], (long long) pc[k].support);
    }
}

static void
report (const char *model, const char *csv, const ts_modelfile_meta *meta, const ts_preds *p,
        int valid_rows)
{
  char rows[128], classes[64];
  const int n = p->n, c = p->n_classes;
  double coarse[TS_SWEEP_COARSE_N], fine[TS_SWEEP_FINE_N];
  ts_threshold_sweep sw = { 0 }, swf = { 0 };
  ts_metrics_report rep = { 0 };
  ts_prf micro, macro;
  ts_prf *pc = calloc ((size_t) c, sizeof *pc);

  ts_sweep_coarse (coarse);
  ts_sweep_fine (fine);
  if (!pc || ts_metrics_compute (p->probs, p->targets, n, c, meta->threshold, &rep) != TS_OK
      || ts_threshold_sweep_run (p->probs, p->targets, n, c, coarse, TS_SWEEP_COARSE_N,
                                 &sw) != TS_OK
      || ts_threshold_sweep_run (p->probs, p->targets, n, c, fine, TS_SWEEP_FINE_N,
                                 &swf) != TS_OK)
    {
      cli_fail ("thresholds", ts_last_error ());
      goto out;
    }

  if (valid_rows)
    snprintf (rows, sizeof rows, ngettext ("%d validation image", "%d validation images", n), n);
  else
    snprintf (rows, sizeof rows, ngettext ("%d image (every row)", "%d images (every row)", n), n);
  snprintf (classes, sizeof classes, ngettext ("%d class", "%d classes", c), c);
  /* TRANSLATORS: "MODEL on CSV: 159 validation images, 3 classes, 128x128 px" */
  printf (_("%s on %s: %s, %s, %dx%d px\n"), model, csv, rows, classes, meta->input_height,
          meta->input_width);
  printf ("valid_loss %.6f\n\n", p->loss);
  sweep_table (p, &sw);
  printf (_("\nbest accuracy_multi %.4f at %.3f (finer: %.4f at %.2f); at the model's %.3g: "
            "%.4f\n"),
          sw.best_accuracy.value, sw.best_accuracy.thresh, swf.best_accuracy.value,
          swf.best_accuracy.thresh, meta->threshold, rep.accuracy_multi);
  printf (_("best F1 micro %.4f at %.3f;  best F1 macro %.4f at %.3f\n"), sw.best_f1_micro.value,
          sw.best_f1_micro.thresh, sw.best_f1_macro.value, sw.best_f1_macro.thresh);
  printf (_("mAP %.4f (VOC2007 11-point %.4f);  all-negative baseline %.4f\n"), rep.map,
          rep.map_voc07, rep.all_negative_baseline);
  printf ("\n");

  ts_prf_at (p->probs, p->targets, n, c, sw.best_accuracy.thresh, pc, &micro, &macro);
  class_table (meta, &rep, &sw, pc);
  printf (_("(F1, precision and recall per class at the best accuracy_multi threshold %.3f)\n"),
          sw.best_accuracy.thresh);
  if (p->n_unmatched_labels)
    printf (ngettext ("note: %d label in the CSV is not in the model's vocab and was ignored\n",
                      "note: %d labels in the CSV are not in the model's vocab and were "
                      "ignored\n", p->n_unmatched_labels), p->n_unmatched_labels);

  printf ("{\"n\": %d, ", n);
  json_num ("valid_loss", p->loss);
  json_num ("thresh", meta->threshold);
  json_num ("accuracy_multi", rep.accuracy_multi);
  json_num ("accuracy_multi_best", sw.best_accuracy.value);
  json_num ("best_thresh", sw.best_accuracy.thresh);
  json_num ("f1_micro_best", sw.best_f1_micro.value);
  json_num ("best_thresh_f1_micro", sw.best_f1_micro.thresh);
  json_num ("f1_macro_best", sw.best_f1_macro.value);
  json_num ("best_thresh_f1_macro", sw.best_f1_macro.thresh);
  json_num ("mAP", rep.map);
  json_num ("mAP_voc07", rep.map_voc07);
  json_num ("all_negative_baseline", rep.all_negative_baseline);
  printf ("\"classes\": [");
  for (int k = 0; k < c; k++)
    {
      printf ("%s{\"name\": ", k ? ", " : "");
      json_str (meta->vocab[k]);
      printf (", ");
      json_num ("ap", rep.ap[k]);
      json_num ("best_f1", sw.best_class_f1[k].value);
      printf ("\"best_thresh\": %.6g}", sw.best_class_f1[k].thresh);
    }
  printf ("]}\n");

out:
  free (pc);
  ts_metrics_report_clear (&rep);
  ts_threshold_sweep_clear (&sw);
  ts_threshold_sweep_clear (&swf);
}

/* the sweep's best thresholds into the model file (rewritten atomically) */
static ts_status
save_thresholds (const char *path, ts_model *m, ts_modelfile_meta *meta, const ts_preds *p)
{
  double coarse[TS_SWEEP_COARSE_N];
  ts_threshold_sweep sw = { 0 };
  ts_status st;

  ts_sweep_coarse (coarse);
  if ((st = ts_threshold_sweep_run (p->probs, p->targets, p->n, p->n_classes, coarse,
                                    TS_SWEEP_COARSE_N, &sw)) != TS_OK)
    return st;
  free (meta->class_thresholds);
  meta->class_thresholds = malloc ((size_t) p->n_classes * sizeof (float));
  if (!meta->class_thresholds)
    st = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
  else
    {
      for (int k = 0; k < p->n_classes; k++)
        meta->class_thresholds[k] = (float) sw.best_class_f1[k].thresh;
      meta->has_best_threshold = 1;
      meta->best_threshold = (float) sw.best_accuracy.thresh;
      st = ts_modelfile_save (path, m, meta);
    }
  ts_threshold_sweep_clear (&sw);
  return st;
}

static int
parse_count (const char *name, const char *arg, int lo, int *out)
{
  char *end;
  long v;

  errno = 0;
  v = strtol (arg, &end, 10);
  if (errno || *end || end == arg || v < lo || v > 4096)
    {
      fprintf (stderr, _("tagsight-cli thresholds: --%s: '%s' is not a whole number >= %d\n"),
               name, arg, lo);
      return -1;
    }
  *out = (int) v;
  return 0;
}

int
cmd_thresholds (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "valid-only", no_argument, NULL, 'v' },
    { "bs", required_argument, NULL, 'b' },
    { "threads", required_argument, NULL, 't' },
    { "save", no_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int valid_only = 0, save = 0, bs = 64, threads = 0, c, rc = 1;
  const char *model_path, *csv;
  ts_modelfile_meta meta = { 0 };
  ts_datablock_config dbc;
  ts_datablock *db = NULL;
  ts_backend *be = NULL;
  ts_model *m = NULL;
  ts_preds p = { 0 };
  ts_status st;

  optind = 1;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    switch (c)
      {
      case 'v': valid_only = 1; break;
      case 's': save = 1; break;
      case 'b': if (parse_count ("bs", optarg, 1, &bs) < 0) return 2; break;
      case 't': if (parse_count ("threads", optarg, 0, &threads) < 0) return 2; break;
      case 'h': usage (stdout); return 0;
      default: usage (stderr); return 2;
      }
  if (argc - optind != 2)
    {
      usage (stderr);
      return 2;
    }
  model_path = argv[optind];
  csv = argv[optind + 1];
  if (threads == 0)
    {
      long nc = sysconf (_SC_NPROCESSORS_ONLN);
      threads = nc > 0 ? (int) nc : 1;
    }

  if ((be = ts_backend_cpu_new (threads)) == NULL)
    {
      fprintf (stderr, "%s", _("tagsight-cli thresholds: could not start the CPU backend\n"));
      return 1;
    }
  if ((st = ts_modelfile_load (model_path, be, &m, &meta)) != TS_OK)
    goto fail;
  if (meta.input_height != meta.input_width)
    {
      st = ts_error (TS_ERR_UNSUPPORTED, "%s: non-square input %dx%d", model_path,
                     meta.input_height, meta.input_width);
      goto fail;
    }
  ts_datablock_config_init (&dbc);
  if ((st = ts_datablock_load (csv, &dbc, &db)) != TS_OK)
    goto fail;
  if ((st = ts_model_get_preds (m, &meta, db, valid_only ? TS_PREDS_VALID : TS_PREDS_AUTO, bs,
                                threads, NULL, &p)) != TS_OK)
    goto fail;
  cli_skipped_note ("thresholds", p.n_skipped, p.skip_message);
  report (model_path, csv, &meta, &p, p.valid_rows);
  fflush (stdout);
  if (save)
    {
      if ((st = save_thresholds (model_path, m, &meta, &p)) != TS_OK)
        goto fail;
      fprintf (stderr, _("tagsight-cli thresholds: wrote the thresholds into %s\n"), model_path);
    }
  rc = 0;
  goto out;

fail:
  cli_fail ("thresholds", ts_last_error ());
out:
  ts_preds_clear (&p);
  ts_datablock_free (db);
  ts_model_free (m);
  ts_modelfile_meta_clear (&meta);
  ts_backend_free (be);
  return rc;
}
