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
#include "cli-train-common.h"
#include "ts-metrics.h"
#include "ts-thresholds.h"

static void
usage (FILE *out)
{
  fprintf (out, "Usage: tagsight-cli thresholds MODEL.safetensors CSV [OPTIONS]\n\n"
           "Sweeps the decision threshold of a trained model on the CSV's validation rows\n"
           "(every row when it has none).\n\n"
           "  --valid-only   only validation rows; fail when the CSV has none\n"
           "  --bs N         batch size (64)\n"
           "  --threads N    compute and loader threads (number of cores)\n"
           "  --save         write the best threshold and per-class thresholds into MODEL\n");
}

typedef struct {
  int n, c;
  float *probs, *targets;
  double loss;
  int n_unmatched;         /* CSV labels the model does not know */
} preds;

/* Runs the model over @loader's items; targets follow the model's vocab. */
static ts_status
get_preds (ts_model *m, const ts_modelfile_meta *meta, const ts_datablock *db,
           ts_loader *loader, int bs, preds *out)
{
  const int c = meta->n_vocab, size = meta->input_height;
  int *map = NULL, cap = ts_loader_n_items (loader);
  float *logits = NULL;
  double loss_sum = 0.0;
  ts_tensor *x = NULL;
  ts_status st;
  ts_batch *b;

  memset (out, 0, sizeof *out);
  out->c = c;
  map = malloc ((size_t) (db->n_vocab + 1) * sizeof (int));
  out->probs = malloc ((size_t) (cap + 1) * c * sizeof (float));
  out->targets = calloc ((size_t) (cap + 1) * c, sizeof (float));
  logits = malloc ((size_t) bs * c * sizeof (float));
  x = ts_tensor_new_4d (ts_model_backend (m), bs, 3, size, size);
  if (!map || !out->probs || !out->targets || !logits || !x)
    {
      st = ts_error (TS_ERR_NOMEM, "thresholds: out of memory for %d images", cap);
      goto done;
    }
  for (int j = 0; j < db->n_vocab; j++)
    {
      map[j] = -1;
      for (int k = 0; k < c; k++)
        if (strcmp (db->vocab[j], meta->vocab[k]) == 0)
          map[j] = k;
    }
  if ((st = ts_model_prepare (m, bs, size, size)) != TS_OK
      || (st = ts_loader_start_epoch (loader, 0)) != TS_OK)
    goto done;
  while ((st = ts_loader_next (loader, &b)) == TS_OK && b)
    {
      ts_tensor xv = *x, *y;

      /* a view of the first b->n rows: the last batch may be short */
      xv.shape[0] = b->n;
      xv.numel = (int64_t) b->n * 3 * size * size;
      xv.owns_data = 0;
      if ((st = ts_tensor_from_host (&xv, b->x, xv.numel)) == TS_OK
          && (st = ts_model_forward (m, &xv, 0, &y)) == TS_OK)
        st = ts_tensor_to_host (y, logits, (int64_t) b->n * c);
      for (int r = 0; r < b->n && st == TS_OK && out->n < cap; r++, out->n++)
        {
          const ts_item *it = &db->items[b->items[r]];
          float *t = out->targets + (int64_t) out->n * c;

          for (int l = 0; l < it->n_labels; l++)
            if (map[it->labels[l]] >= 0)
              t[map[it->labels[l]]] = 1.0f;
            else
              out->n_unmatched++;
          for (int k = 0; k < c; k++)
            {
              double z = logits[r * c + k];
              out->probs[(int64_t) out->n * c + k] = (float) (1.0 / (1.0 + exp (-z)));
              /* BCEWithLogits, the stable form */
              loss_sum += fmax (z, 0.0) - z * t[k] + log1p (exp (-fabs (z)));
            }
        }
      ts_loader_release (loader, b);
      if (st != TS_OK)
        {
          while (ts_loader_next (loader, &b) == TS_OK && b)
            ts_loader_release (loader, b);
          break;
        }
    }
  out->loss = out->n ? loss_sum / ((double) out->n * c) : NAN;

done:
  ts_tensor_free (x);
  free (logits);
  free (map);
  return st;
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

static void
report (const char *model, const char *csv, const ts_modelfile_meta *meta, const preds *p,
        const char *rows)
{
  const int n = p->n, c = p->c;
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
      fprintf (stderr, "tagsight-cli thresholds: %s\n", ts_last_error ());
      goto out;
    }

  printf ("%s on %s: %d %s, %d classes, %dx%d px\n", model, csv, n, rows, c,
          meta->input_height, meta->input_width);
  printf ("valid_loss %.6f\n\n", p->loss);
  printf ("%-8s %-15s %-9s %-9s %-10s %s\n", "thresh", "accuracy_multi", "f1_micro", "f1_macro",
          "precision", "recall");
  for (int i = 0; i < sw.n_thresh; i++)
    {
      ts_prf_at (p->probs, p->targets, n, c, sw.thresh[i], NULL, &micro, &macro);
      printf ("%-8.3f %-15.4f %-9.4f %-9.4f %-10.4f %.4f\n", sw.thresh[i], sw.accuracy[i],
              sw.f1_micro[i], sw.f1_macro[i], micro.precision, micro.recall);
    }
  printf ("\nbest accuracy_multi %.4f at %.3f (finer: %.4f at %.2f); at the model's %.3g: %.4f\n",
          sw.best_accuracy.value, sw.best_accuracy.thresh, swf.best_accuracy.value,
          swf.best_accuracy.thresh, meta->threshold, rep.accuracy_multi);
  printf ("best F1 micro %.4f at %.3f;  best F1 macro %.4f at %.3f\n", sw.best_f1_micro.value,
          sw.best_f1_micro.thresh, sw.best_f1_macro.value, sw.best_f1_macro.thresh);
  printf ("mAP %.4f (VOC2007 11-point %.4f);  all-negative baseline %.4f\n\n", rep.map,
          rep.map_voc07, rep.all_negative_baseline);

  ts_prf_at (p->probs, p->targets, n, c, sw.best_accuracy.thresh, pc, &micro, &macro);
  printf ("%-20s %8s %8s %8s %8s %10s %10s %8s\n", "class", "AP", "F1", "best F1", "at",
          "precision", "recall", "support");
  for (int k = 0; k < c; k++)
    printf ("%-20s %8.4f %8.4f %8.4f %8.3f %10.4f %10.4f %8lld\n", meta->vocab[k], rep.ap[k],
            pc[k].f1, sw.best_class_f1[k].value, sw.best_class_f1[k].thresh, pc[k].precision,
            pc[k].recall, (long long) pc[k].support);
  printf ("(F1, precision and recall per class at the best accuracy_multi threshold %.3f)\n",
          sw.best_accuracy.thresh);
  if (p->n_unmatched)
    printf ("note: %d labels in the CSV are not in the model's vocab and were ignored\n",
            p->n_unmatched);

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
save_thresholds (const char *path, ts_model *m, ts_modelfile_meta *meta, const preds *p)
{
  double coarse[TS_SWEEP_COARSE_N];
  ts_threshold_sweep sw = { 0 };
  ts_status st;

  ts_sweep_coarse (coarse);
  if ((st = ts_threshold_sweep_run (p->probs, p->targets, p->n, p->c, coarse,
                                    TS_SWEEP_COARSE_N, &sw)) != TS_OK)
    return st;
  free (meta->class_thresholds);
  meta->class_thresholds = malloc ((size_t) p->c * sizeof (float));
  if (!meta->class_thresholds)
    st = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
  else
    {
      for (int k = 0; k < p->c; k++)
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
      fprintf (stderr, "tagsight-cli thresholds: --%s: '%s' is not a whole number >= %d\n",
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
  int valid_only = 0, save = 0, bs = 64, threads = 0, c, rc = 1, use_valid;
  const char *model_path, *csv;
  ts_modelfile_meta meta = { 0 };
  ts_datablock_config dbc;
  ts_datablock *db = NULL;
  ts_loader_config lc;
  ts_loader *loader = NULL;
  ts_backend *be = NULL;
  ts_model *m = NULL;
  preds p = { 0 };
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
      fprintf (stderr, "tagsight-cli thresholds: could not start the CPU backend\n");
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
  use_valid = db->n_valid > 0;
  if (!use_valid && valid_only)
    {
      st = ts_error (TS_ERR_INVALID, "%s: no validation rows (is_valid) to sweep on", csv);
      goto fail;
    }
  if (!use_valid && db->n_train == 0)
    {
      st = ts_error (TS_ERR_INVALID, "%s: no usable rows", csv);
      goto fail;
    }

  ts_loader_config_init (&lc);
  lc.size = meta.input_height;
  lc.batch_size = bs;
  lc.n_workers = threads;
  memcpy (lc.mean, meta.norm.mean, sizeof lc.mean);
  memcpy (lc.std, meta.norm.std, sizeof lc.std);
  if (use_valid)
    st = ts_loader_new (db, &lc, 1, &loader);
  else
    {
      /* no split: every row, with the validation transform (the loader keeps
       * the index array it is given, not the datablock's fields) */
      int *valid_idx = db->valid_idx;
      db->valid_idx = db->train_idx;
      db->n_valid = db->n_train;
      st = ts_loader_new (db, &lc, 1, &loader);
      db->valid_idx = valid_idx;
      db->n_valid = 0;
    }
  if (st != TS_OK)
    goto fail;
  if ((st = get_preds (m, &meta, db, loader, bs, &p)) != TS_OK)
    goto fail;
  if (p.n == 0)
    {
      st = ts_error (TS_ERR_INVALID, "%s: no image could be read", csv);
      goto fail;
    }
  report (model_path, csv, &meta, &p, use_valid ? "validation images" : "images (every row)");
  fflush (stdout);
  if (save)
    {
      if ((st = save_thresholds (model_path, m, &meta, &p)) != TS_OK)
        goto fail;
      fprintf (stderr, "tagsight-cli thresholds: wrote the thresholds into %s\n", model_path);
    }
  rc = 0;
  goto out;

fail:
  fprintf (stderr, "tagsight-cli thresholds: %s\n", ts_last_error ());
out:
  free (p.probs);
  free (p.targets);
  ts_loader_free (loader);
  ts_datablock_free (db);
  ts_model_free (m);
  ts_modelfile_meta_clear (&meta);
  ts_backend_free (be);
  return rc;
}
