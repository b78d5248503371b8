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
#include "cli-i18n.h"
#include "cli-train-common.h"
#include "tagsight-project.h"
#include "ts-label-issues.h"
#include "ts-preds.h"

#define PRED_BATCH 32

static void
usage (FILE *out)
{
  fprintf (out, "%s",
           _("Usage: tagsight-cli label-issues MODEL.safetensors CSV [OPTIONS]\n\n"
             "Flags labels that are probably missing or spurious (confident learning:\n"
             "per-class thresholds from the mean predicted probability), ranked by the\n"
             "model's confidence that the given label is wrong.\n"
             "Use out-of-sample predictions: by default the CSV's validation items (all\n"
             "items when it has none).\n\n"));
  fprintf (out, "%s",
           _("  --top K            print the K best-ranked issues (20; 0: all)\n"
             "  --split valid|all  the items to inspect\n"
             "  --threads N        compute threads (1)\n"
             "  --project P        record the data set in project P (created when missing)\n"
             "  --accept K         with --project: accept the K best suggestions as label edits\n"
             "  --export OUT.csv   with --project: write the CSV with the corrected labels\n"));
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
    return cli_fail ("label-issues", error->message);
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
          fprintf (stderr, _("tagsight-cli label-issues: %s is not in the project's data set\n"),
                   it->fname);
          return 1;
        }
      if (!tagsight_project_toggle_label (p, ti->id, meta->vocab[is->cls],
                                          is->kind == TS_LABEL_ISSUE_MISSING, "label-issues",
                                          &edit, &error))
        return cli_fail ("label-issues", error->message);
      n_applied += edit > 0;
    }
  if (accept > 0)
    fprintf (stderr, ngettext ("tagsight-cli label-issues: %d suggestion accepted as a label edit "
                               "in %s\n",
                               "tagsight-cli label-issues: %d suggestions accepted as label edits "
                               "in %s\n", n_applied), n_applied, project);
  if (export_path)
    {
      if (!tagsight_project_export_labels_csv (p, ds, export_path, &error))
        return cli_fail ("label-issues", error->message);
      fprintf (stderr, _("tagsight-cli label-issues: wrote %s\n"), export_path);
    }
  return 0;
}

/* The ranked issues and the per-class table. */
static void
print_issues (const ts_datablock *db, const ts_modelfile_meta *meta, const ts_preds *pr,
              const ts_label_report *rep, int valid_only, int top)
{
  char items[128], classes[64], issues[64];
  const char *h[6] = {
    /* TRANSLATORS: column headers of the ranked label issues: rank, file
     * name, what is wrong, the predicted probability, the class threshold
     * and how far over or under it */
    _("rank"), _("item"), _("issue"), _("prob"), _("thresh"), _("margin"),
  };
  const char *hc[9] = {
    /* TRANSLATORS: t_pos, t_neg, tp, fp, fn and tn stay as they are (the
     * confident-learning names); missing and spurious count the label issues */
    _("class"), "t_pos", "t_neg", "tp", "fp", "fn", "tn", _("missing"), _("spurious"),
  };
  int w[6] = { 5, 30, 40, 8, 8, 8 }, wc[9] = { 16, 8, 8, 6, 6, 6, 6, 8, 8 };

  if (valid_only)
    snprintf (items, sizeof items, ngettext ("%d validation item", "%d validation items", pr->n),
              pr->n);
  else
    snprintf (items, sizeof items, ngettext ("%d item", "%d items", pr->n), pr->n);
  snprintf (classes, sizeof classes, ngettext ("%d class", "%d classes", meta->n_vocab),
            meta->n_vocab);
  snprintf (issues, sizeof issues, ngettext ("%d possible label issue", "%d possible label issues",
                                             rep->n_issues), rep->n_issues);
  /* TRANSLATORS: "159 validation items, 3 classes: 12 possible label issues" */
  printf (_("%s, %s: %s\n\n"), items, classes, issues);

  /* the issue column is 40 wide for the English phrases; a longer
   * translation widens it by the difference */
  {
    int extra = 0, d;
    d = cli_text_width (_("probably missing label %s"))
        - cli_text_width ("probably missing label %s");
    extra = d > extra ? d : extra;
    d = cli_text_width (_("probably spurious label %s"))
        - cli_text_width ("probably spurious label %s");
    extra = d > extra ? d : extra;
    w[2] += extra;
  }
  for (int i = 0; i < 6; i++)
    {
      w[i] = cli_col_width (h[i], w[i]);
      cli_pad (stdout, h[i], i < 3 ? w[i] : -w[i]);
      putchar (i < 5 ? ' ' : '\n');
    }
  for (int j = 0; j < rep->n_issues && (top == 0 || j < top); j++)
    {
      const ts_label_issue *is = &rep->issues[j];
      char what[256];
      snprintf (what, sizeof what, is->kind == TS_LABEL_ISSUE_MISSING
                ? _("probably missing label %s") : _("probably spurious label %s"),
                meta->vocab[is->cls]);
      printf ("%-*d ", w[0], j + 1);
      cli_pad (stdout, db->items[pr->items[is->item]].fname, w[1]);
      putchar (' ');
      cli_pad (stdout, what, w[2]);
      printf (" %*.4f %*.4f %*.4f\n", w[3], is->prob, w[4], is->threshold, w[5], is->margin);
    }
  printf (_("\nper class (confusion at threshold %.2f; t_pos / t_neg: mean probability of the "
            "items with / without it)\n"), meta->threshold);
  for (int i = 0; i < 9; i++)
    {
      wc[i] = cli_col_width (hc[i], wc[i]);
      cli_pad (stdout, hc[i], i == 0 ? wc[i] : -wc[i]);
      putchar (i < 8 ? ' ' : '\n');
    }
  for (int k = 0; k < meta->n_vocab; k++)
    {
      cli_pad (stdout, meta->vocab[k], wc[0]);
      printf (" %*.4f %*.4f %*lld %*lld %*lld %*lld %*lld %*lld\n", wc[1], rep->thresh_pos[k],
              wc[2], rep->thresh_neg[k], wc[3], (long long) rep->confusion[k].tp, wc[4],
              (long long) rep->confusion[k].fp, wc[5], (long long) rep->confusion[k].fn, wc[6],
              (long long) rep->confusion[k].tn, wc[7], (long long) rep->joint[k].fp, wc[8],
              (long long) rep->joint[k].fn);
    }
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
              fprintf (stderr, _("tagsight-cli label-issues: '%s' is not a valid count\n"),
                       optarg);
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
      fprintf (stderr, "%s", _("tagsight-cli label-issues: --accept and --export need --project\n"));
      return 2;
    }
  if (!(be = ts_backend_cpu_new (threads)))
    {
      fprintf (stderr, "%s", _("tagsight-cli label-issues: could not start the CPU backend\n"));
      return 1;
    }
  if ((st = ts_modelfile_load (argv[optind], be, &m, &meta)) != TS_OK)
    {
      cli_fail ("label-issues", ts_last_error ());
      goto out;
    }
  if (meta.input_height != meta.input_width || meta.n_vocab < 1)
    {
      fprintf (stderr, _("tagsight-cli label-issues: %s: unsupported input %dx%d or empty "
                         "vocab\n"), argv[optind], meta.input_width, meta.input_height);
      goto out;
    }
  ts_datablock_config_init (&dbc);
  if ((st = ts_datablock_load (argv[optind + 1], &dbc, &db)) != TS_OK)
    {
      cli_fail ("label-issues", ts_last_error ());
      goto out;
    }
  n_valid = db->n_valid;
  valid_only = split ? strcmp (split, "valid") == 0 : n_valid > 0;
  if (valid_only && n_valid == 0)
    {
      fprintf (stderr, _("tagsight-cli label-issues: %s has no validation items\n"),
               argv[optind + 1]);
      goto out;
    }
  if (!valid_only && n_valid > 0)
    fprintf (stderr, "%s", _("tagsight-cli label-issues: warning: training items are in-sample; "
                             "their labels were learnt, so issues among them are "
                             "under-reported\n"));
  if ((st = ts_model_get_preds (m, &meta, db, valid_only ? TS_PREDS_VALID : TS_PREDS_ALL,
                                PRED_BATCH, threads, NULL, &pr)) != TS_OK
      || (st = ts_label_issues_find (pr.probs, pr.targets, pr.n, meta.n_vocab, meta.threshold,
                                     &rep)) != TS_OK)
    {
      cli_fail ("label-issues", ts_last_error ());
      goto out;
    }
  if (pr.n_unknown_classes)
    fprintf (stderr, ngettext ("tagsight-cli label-issues: %d label of the CSV is not in the "
                               "model's vocab and is ignored\n",
                               "tagsight-cli label-issues: %d labels of the CSV are not in the "
                               "model's vocab and are ignored\n", pr.n_unknown_classes),
             pr.n_unknown_classes);
  cli_skipped_note ("label-issues", pr.n_skipped, pr.skip_message);

  print_issues (db, &meta, &pr, &rep, valid_only, top);
  if (meta.n_vocab <= 24)
    {
      printf ("%s", _("\nlabel co-occurrence (items carrying both)\n"));
      printf ("%-16s", "");
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
