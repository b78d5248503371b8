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
#include "ts-preds.h"

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

static int
apply_to_project (const char *project, const char *csv, const ts_datablock *db,
                  const ts_modelfile_meta *meta, const ts_preds *pr, const ts_label_report *rep,
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
  ts_preds pr = { 0 };
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
  n_valid = db->n_valid;
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
  if ((st = ts_model_get_preds (m, &meta, db, valid_only ? TS_PREDS_VALID : TS_PREDS_ALL,
                                PRED_BATCH, threads, NULL, &pr)) != TS_OK
      || (st = ts_label_issues_find (pr.probs, pr.targets, pr.n, meta.n_vocab, meta.threshold,
                                     &rep)) != TS_OK)
    {
      fprintf (stderr, "tagsight-cli label-issues: %s\n", ts_last_error ());
      goto out;
    }
  if (pr.n_unknown_classes)
    fprintf (stderr, "tagsight-cli label-issues: %d label(s) of the CSV are not in the model's "
             "vocab and are ignored\n", pr.n_unknown_classes);
  if (pr.n_skipped > 0)
    fprintf (stderr, "tagsight-cli label-issues: note: %d unreadable image%s skipped (first: "
             "%s)\n", pr.n_skipped, pr.n_skipped == 1 ? "" : "s", pr.skip_message);

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
  ts_preds_clear (&pr);
  ts_datablock_free (db);
  ts_model_free (m);
  ts_modelfile_meta_clear (&meta);
  if (be)
    ts_backend_free (be);
  return rc;
}
