/* cmd-label-issues.c: `tagsight-cli label-issues MODEL CSV [--top K]`: the
 * confident-learning label-issue finder on a model's predictions for a CSV's
 * items, ranked; optionally accepts suggestions into a project and exports
 * the corrected CSV. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-commands.h"
#include "cli-train-common.h"
#include "tagsight-project.h"
#include "ts-label-issues.h"
#include "ts-loader.h"

#define PRED_BATCH 32

static void
usage (FILE *out)
{
  fprintf (out, "Usage: tagsight-cli label-issues MODEL.safetensors CSV [OPTIONS]\n\n"
           "Flags labels that are probably missing or spurious (confident learning:\n"
           "per-class thresholds from the mean predicted probability), ranked by the\n"
           "model's confidence that the given label is wrong.\n"
           "Use out-of-sample predictions: by default the CSV's validation items (all\n"
           "items when it has none).\n\n"
           "  --top K            print the K best-ranked issues (20; 0: all)\n"
           "  --split valid|all  the items to inspect\n"
           "  --threads N        compute threads (1)\n"
           "  --project P        record the data set in project P (created when missing)\n"
           "  --accept K         with --project: accept the K best suggestions as label edits\n"
           "  --export OUT.csv   with --project: write the CSV with the corrected labels\n");
}

typedef struct {
  int *items;          /* datablock item of each row */
  int n;
  float *probs, *given;
} preds;

/* The model's probabilities for the chosen items, through the data loader
 * (fastai's validation transform, @threads decoding workers); images that
 * cannot be read are skipped and counted, as thresholds and training do. */
static ts_status
predict_items (ts_model *m, const ts_modelfile_meta *meta, const ts_datablock *db, int valid_only,
               int threads, preds *out)
{
  const int c = meta->n_vocab, size = meta->input_height;
  ts_loader_config lc;
  ts_loader *loader = NULL;
  ts_datablock all;
  int *all_idx = NULL;
  ts_tensor *x = NULL;
  float *logits = NULL;
  int *map = NULL, n_unknown = 0, cap;
  ts_status st = TS_OK;
  ts_batch *b;

  memset (out, 0, sizeof *out);
  ts_loader_config_init (&lc);
  lc.size = size;
  lc.batch_size = PRED_BATCH;
  lc.n_workers = threads;
  memcpy (lc.mean, meta->norm.mean, sizeof lc.mean);
  memcpy (lc.std, meta->norm.std, sizeof lc.std);
  cap = valid_only ? db->n_valid : db->n_items;
  out->items = malloc ((size_t) (cap + 1) * sizeof (int));
  map = malloc ((size_t) (db->n_vocab + 1) * sizeof (int));
  out->probs = calloc ((size_t) cap * c + 1, sizeof (float));
  out->given = calloc ((size_t) cap * c + 1, sizeof (float));
  logits = malloc ((size_t) PRED_BATCH * c * sizeof (float));
  x = ts_tensor_new_4d (ts_model_backend (m), PRED_BATCH, 3, size, size);
  if (!out->items || !map || !out->probs || !out->given || !logits || !x)
    {
      st = ts_error (TS_ERR_NOMEM, "out of memory for %d items", cap);
      goto done;
    }
  /* the CSV's labels by the model's vocab (the CSV may lack or add classes) */
  for (int v = 0; v < db->n_vocab; v++)
    {
      map[v] = -1;
      for (int k = 0; k < c; k++)
        if (strcmp (db->vocab[v], meta->vocab[k]) == 0)
          map[v] = k;
      if (map[v] < 0)
        n_unknown++;
    }
  if (n_unknown)
    fprintf (stderr, "tagsight-cli label-issues: %d label(s) of the CSV are not in the model's "
             "vocab and are ignored\n", n_unknown);
  if (valid_only)
    st = ts_loader_new (db, &lc, 1, &loader);
  else
    {
      /* every item with the validation transform: a copy of the datablock
       * whose validation list is all of them (the loader keeps the copy) */
      if ((all_idx = malloc ((size_t) (db->n_items + 1) * sizeof (int))) == NULL)
        {
          st = ts_error (TS_ERR_NOMEM, "out of memory for %d items", cap);
          goto done;
        }
      for (int i = 0; i < db->n_items; i++)
        all_idx[i] = i;
      all = *db;
      all.valid_idx = all_idx;
      all.n_valid = db->n_items;
      st = ts_loader_new (&all, &lc, 1, &loader);
    }
  if (st != TS_OK
      || (st = ts_model_prepare (m, PRED_BATCH, size, size)) != TS_OK
      || (st = ts_loader_start_epoch (loader, 0)) != TS_OK)
    goto done;
  while ((st = ts_loader_next (loader, &b)) == TS_OK && b)
    {
      ts_tensor xv = *x, *lg;

      /* a view of the first b->n rows: the last batch may be short */
      xv.shape[0] = b->n;
      xv.numel = (int64_t) b->n * 3 * size * size;
      xv.owns_data = 0;
      if ((st = ts_tensor_from_host (&xv, b->x, xv.numel)) == TS_OK
          && (st = ts_model_forward (m, &xv, 0, &lg)) == TS_OK)
        st = ts_tensor_to_host (lg, logits, (int64_t) b->n * c);
      for (int r = 0; r < b->n && st == TS_OK && out->n < cap; r++, out->n++)
        {
          const ts_item *it = &db->items[b->items[r]];

          out->items[out->n] = b->items[r];
          for (int j = 0; j < it->n_labels; j++)
            if (map[it->labels[j]] >= 0)
              out->given[(size_t) out->n * c + map[it->labels[j]]] = 1.0f;
          for (int k = 0; k < c; k++)
            out->probs[(size_t) out->n * c + k] = 1.0f / (1.0f + expf (-logits[r * c + k]));
        }
      ts_loader_release (loader, b);
      if (st != TS_OK)
        {
          while (ts_loader_next (loader, &b) == TS_OK && b)
            ts_loader_release (loader, b);
          break;
        }
    }
  if (st == TS_OK && ts_loader_n_skipped (loader) > 0)
    fprintf (stderr, "tagsight-cli label-issues: note: %d unreadable image%s skipped (first: "
             "%s)\n", ts_loader_n_skipped (loader), ts_loader_n_skipped (loader) == 1 ? "" : "s",
             ts_loader_skip_message (loader));
  if (st == TS_OK && out->n == 0)
    st = ts_error (TS_ERR_INVALID, "%s: no image could be read", db->csv_path);

done:
  ts_loader_free (loader);
  free (all_idx);
  ts_tensor_free (x);
  free (logits);
  free (map);
  return st;
}

static int
apply_to_project (const char *project, const char *csv, const ts_datablock *db,
                  const ts_modelfile_meta *meta, const preds *pr, const ts_label_report *rep,
                  int accept, const char *export_path)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightProject) p = tagsight_project_open (project, TAGSIGHT_PROJECT_OPEN_CREATE,
                                                         &error);
  g_autoptr (GPtrArray) items = NULL;
  g_autoptr (GHashTable) by_fname = NULL;
  gint64 ds;
  int n_applied = 0;

  if (!p || !(ds = tagsight_project_find_or_add_dataset (p, csv, &error))
      || !(items = tagsight_project_list_items (p, ds, &error)))
    {
      fprintf (stderr, "tagsight-cli label-issues: %s\n", error->message);
      return 1;
    }
  by_fname = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < items->len; i++)
    g_hash_table_insert (by_fname, ((TagsightItem *) items->pdata[i])->fname, items->pdata[i]);
  for (int j = 0; j < rep->n_issues && j < accept; j++)
    {
      const ts_label_issue *is = &rep->issues[j];
      const ts_item *it = &db->items[pr->items[is->item]];
      TagsightItem *ti = g_hash_table_lookup (by_fname, it->fname);
      gint64 edit = 0;

      if (!ti)
        {
          fprintf (stderr, "tagsight-cli label-issues: %s is not in the project's data set\n",
                   it->fname);
          return 1;
        }
      if (!tagsight_project_toggle_label (p, ti->id, meta->vocab[is->cls],
                                          is->kind == TS_LABEL_ISSUE_MISSING, "label-issues",
                                          &edit, &error))
        {
          fprintf (stderr, "tagsight-cli label-issues: %s\n", error->message);
          return 1;
        }
      n_applied += edit > 0;
    }
  if (accept > 0)
    fprintf (stderr, "tagsight-cli label-issues: %d suggestion(s) accepted as label edits in %s\n",
             n_applied, project);
  if (export_path)
    {
      if (!tagsight_project_export_labels_csv (p, ds, export_path, &error))
        {
          fprintf (stderr, "tagsight-cli label-issues: %s\n", error->message);
          return 1;
        }
      fprintf (stderr, "tagsight-cli label-issues: wrote %s\n", export_path);
    }
  return 0;
}

int
cmd_label_issues (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "top", required_argument, NULL, 't' },
    { "split", required_argument, NULL, 's' },
    { "threads", required_argument, NULL, 'n' },
    { "project", required_argument, NULL, 'p' },
    { "accept", required_argument, NULL, 'a' },
    { "export", required_argument, NULL, 'x' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *project = NULL, *export_path = NULL, *split = NULL;
  int top = 20, accept = 0, threads = 1, c, rc = 1, valid_only, n_valid = 0;
  ts_modelfile_meta meta = { 0 };
  ts_datablock_config dbc;
  ts_datablock *db = NULL;
  ts_backend *be = NULL;
  ts_model *m = NULL;
  preds pr = { 0 };
  ts_label_report rep = { 0 };
  ts_status st;

  optind = 1;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    {
      char *end = NULL;
      long v = 0;
      if (c == 't' || c == 'a' || c == 'n')
        {
          errno = 0;
          v = strtol (optarg, &end, 10);
          if (errno || *end || end == optarg || v < (c == 'n' ? 1 : 0) || v > 100000000)
            {
              fprintf (stderr, "tagsight-cli label-issues: '%s' is not a valid count\n", optarg);
              return 2;
            }
        }
      switch (c)
        {
        case 't': top = (int) v; break;
        case 'a': accept = (int) v; break;
        case 'n': threads = (int) v; break;
        case 's': split = optarg; break;
        case 'p': project = optarg; break;
        case 'x': export_path = optarg; break;
        case 'h': usage (stdout); return 0;
        default: usage (stderr); return 2;
        }
    }
  if (optind != argc - 2 || (split && strcmp (split, "valid") && strcmp (split, "all")))
    {
      usage (stderr);
      return 2;
    }
  if ((accept > 0 || export_path) && !project)
    {
      fprintf (stderr, "tagsight-cli label-issues: --accept and --export need --project\n");
      return 2;
    }
  if (!(be = ts_backend_cpu_new (threads)))
    {
      fprintf (stderr, "tagsight-cli label-issues: could not start the CPU backend\n");
      return 1;
    }
  if ((st = ts_modelfile_load (argv[optind], be, &m, &meta)) != TS_OK)
    {
      fprintf (stderr, "tagsight-cli label-issues: %s\n", ts_last_error ());
      goto out;
    }
  if (meta.input_height != meta.input_width || meta.n_vocab < 1)
    {
      fprintf (stderr, "tagsight-cli label-issues: %s: unsupported input %dx%d or empty vocab\n",
               argv[optind], meta.input_width, meta.input_height);
      goto out;
    }
  ts_datablock_config_init (&dbc);
  if ((st = ts_datablock_load (argv[optind + 1], &dbc, &db)) != TS_OK)
    {
      fprintf (stderr, "tagsight-cli label-issues: %s\n", ts_last_error ());
      goto out;
    }
  for (int i = 0; i < db->n_items; i++)
    n_valid += db->items[i].is_valid;
  valid_only = split ? strcmp (split, "valid") == 0 : n_valid > 0;
  if (valid_only && n_valid == 0)
    {
      fprintf (stderr, "tagsight-cli label-issues: %s has no validation items\n",
               argv[optind + 1]);
      goto out;
    }
  if (!valid_only && n_valid > 0)
    fprintf (stderr, "tagsight-cli label-issues: warning: training items are in-sample; their "
             "labels were learnt, so issues among them are under-reported\n");
  if ((st = predict_items (m, &meta, db, valid_only, threads, &pr)) != TS_OK
      || (st = ts_label_issues_find (pr.probs, pr.given, pr.n, meta.n_vocab, meta.threshold,
                                     &rep)) != TS_OK)
    {
      fprintf (stderr, "tagsight-cli label-issues: %s\n", ts_last_error ());
      goto out;
    }

  printf ("%d %s items, %d classes: %d possible label issues\n\n", pr.n,
          valid_only ? "validation" : "", meta.n_vocab, rep.n_issues);
  printf ("%-5s %-30s %-40s %8s %8s %8s\n", "rank", "item", "issue", "prob", "thresh", "margin");
  for (int j = 0; j < rep.n_issues && (top == 0 || j < top); j++)
    {
      const ts_label_issue *is = &rep.issues[j];
      char what[128];
      snprintf (what, sizeof what, "probably %s label %s", is->kind == TS_LABEL_ISSUE_MISSING
                ? "missing" : "spurious", meta.vocab[is->cls]);
      printf ("%-5d %-30s %-40s %8.4f %8.4f %8.4f\n", j + 1,
              db->items[pr.items[is->item]].fname, what, is->prob, is->threshold, is->margin);
    }
  printf ("\nper class (confusion at threshold %.2f; t_pos / t_neg: mean probability of the "
          "items with / without it)\n", meta.threshold);
  printf ("%-16s %8s %8s %6s %6s %6s %6s %8s %8s\n", "class", "t_pos", "t_neg", "tp", "fp", "fn",
          "tn", "missing", "spurious");
  for (int k = 0; k < meta.n_vocab; k++)
    printf ("%-16s %8.4f %8.4f %6lld %6lld %6lld %6lld %8lld %8lld\n", meta.vocab[k],
            rep.thresh_pos[k], rep.thresh_neg[k], (long long) rep.confusion[k].tp,
            (long long) rep.confusion[k].fp, (long long) rep.confusion[k].fn,
            (long long) rep.confusion[k].tn, (long long) rep.joint[k].fp,
            (long long) rep.joint[k].fn);
  if (meta.n_vocab <= 24)
    {
      printf ("\nlabel co-occurrence (items carrying both)\n%-16s", "");
      for (int k = 0; k < meta.n_vocab; k++)
        printf (" %6.6s", meta.vocab[k]);
      printf ("\n");
      for (int a = 0; a < meta.n_vocab; a++)
        {
          printf ("%-16s", meta.vocab[a]);
          for (int b = 0; b < meta.n_vocab; b++)
            printf (" %6lld", (long long) rep.cooccur[(size_t) a * meta.n_vocab + b]);
          printf ("\n");
        }
    }
  fflush (stdout);
  rc = 0;
  if (project)
    rc = apply_to_project (project, argv[optind + 1], db, &meta, &pr, &rep, accept, export_path);

out:
  ts_label_report_clear (&rep);
  free (pr.items);
  free (pr.probs);
  free (pr.given);
  ts_datablock_free (db);
  ts_model_free (m);
  ts_modelfile_meta_clear (&meta);
  if (be)
    ts_backend_free (be);
  return rc;
}
