/* cmd-runs.c: `tagsight-cli runs P.tagsight`: the runs of a project as a
 * table (or JSON lines), and the export of a data set's corrected labels. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-commands.h"
#include "cli-i18n.h"
#include "tagsight-project.h"
#include "ts-json.h"

static void
usage (FILE *out)
{
  fprintf (out, "%s",
           _("Usage: tagsight-cli runs PROJECT.tagsight [OPTIONS]\n\n"
             "Lists the training runs recorded in a project.\n\n"
             "  --json                one JSON object per run\n"
             "  --epochs RUN          the per-epoch metrics of one run\n"
             "  --export-labels OUT   write the first data set's CSV with its corrected labels\n"
             "  --dataset ID          the data set for --export-labels\n"));
}

/* A run's status for people; the JSON lines keep the English names. */
static const char *
status_text (TagsightRunStatus status)
{
  const char *s = tagsight_run_status_to_string (status);

  if (!s)
    return "?";
  if (strcmp (s, "running") == 0)
    /* TRANSLATORS: a training run's status in tagsight-cli runs */
    return C_("run status", "running");
  if (strcmp (s, "finished") == 0)
    return C_("run status", "finished");
  if (strcmp (s, "cancelled") == 0)
    return C_("run status", "cancelled");
  if (strcmp (s, "failed") == 0)
    return C_("run status", "failed");
  return s;
}

static void
fmt_num (char *buf, size_t n, double v)
{
  if (isfinite (v))
    snprintf (buf, n, "%.4f", v);
  else
    snprintf (buf, n, "-");
}

static char *
recipe_summary (const char *recipe)
{
  ts_json *j = NULL;
  char *out;
  const ts_json *arch, *ep, *fe, *lr;

  if (!recipe || ts_json_parse (recipe, strlen (recipe), "recipe", &j) != TS_OK)
    return g_strdup ("?");
  arch = ts_json_get (j, "arch");
  ep = ts_json_get (j, "epochs");
  fe = ts_json_get (j, "freeze_epochs");
  lr = ts_json_get (j, "lr");
  out = g_strdup_printf ("%s %d+%d lr %g", arch && arch->type == TS_JSON_STRING ? arch->string
                         : "?", fe ? (int) fe->number : 0, ep ? (int) ep->number : 0,
                         lr ? lr->number : 0.0);
  ts_json_free (j);
  return out;
}

static void
json_num (const char *key, double v)
{
  if (isfinite (v))
    printf (", \"%s\": %.6g", key, v);
  else
    printf (", \"%s\": null", key);
}

static void
json_str (const char *key, const char *v)
{
  ts_strbuf b = { 0 };

  if (!v)
    {
      printf (", \"%s\": null", key);
      return;
    }
  ts_strbuf_json_string (&b, v);
  printf (", \"%s\": %.*s", key, (int) b.len, b.data);
  ts_strbuf_clear (&b);
}

static int
print_epochs (TagsightProject *p, gint64 run)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) em = tagsight_project_get_epoch_metrics (p, run, &error);

  if (!em)
    return cli_fail ("runs", error->message);
  const char *h[6] = {
    _("phase"), _("epoch"), _("train_loss"), _("valid_loss"),
    /* TRANSLATORS: a column header: accuracy_multi of the epoch */
    _("accuracy"),
    /* TRANSLATORS: a column header: how long the epoch took */
    _("seconds"),
  };
  int w[5] = { 6, 6, 12, 12, 12 };

  for (int i = 0; i < 5; i++)
    {
      w[i] = cli_col_width (h[i], w[i]);
      cli_pad (stdout, h[i], w[i]);
      putchar (' ');
    }
  printf ("%s\n", h[5]);
  for (guint i = 0; i < em->len; i++)
    {
      TagsightEpochMetrics *m = &g_array_index (em, TagsightEpochMetrics, i);
      printf ("%-*d %-*d %-*.6f %-*.6f %-*.6f %.1f\n", w[0], m->phase, w[1], m->epoch, w[2],
              m->train_loss, w[3], m->valid_loss, w[4], m->accuracy, m->seconds);
    }
  return 0;
}

int
cmd_runs (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "json", no_argument, NULL, 'j' },
    { "epochs", required_argument, NULL, 'e' },
    { "export-labels", required_argument, NULL, 'x' },
    { "dataset", required_argument, NULL, 'd' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightProject) p = NULL;
  g_autoptr (GPtrArray) runs = NULL;
  const char *export_path = NULL;
  gint64 epochs_of = 0, dataset = 0;
  int json = 0, c;
  const char *h[9] = {
    /* TRANSLATORS: column headers of tagsight-cli runs: the run's number, its
     * status, when it started, its recipe, epochs done, losses, accuracy and
     * the model file */
    _("run"), _("status"), _("started"), _("recipe"), _("epochs"), _("train_loss"),
    _("valid_loss"), _("accuracy"), _("model"),
  };
  int w[8] = { 4, 10, 24, 26, 6, 10, 10, 10 };

  optind = 1;
  while ((c = getopt_long (argc, argv, "h", longopts, NULL)) != -1)
    switch (c)
      {
      case 'j': json = 1; break;
      case 'e': epochs_of = g_ascii_strtoll (optarg, NULL, 10); break;
      case 'x': export_path = optarg; break;
      case 'd': dataset = g_ascii_strtoll (optarg, NULL, 10); break;
      case 'h': usage (stdout); return 0;
      default: usage (stderr); return 2;
      }
  if (optind != argc - 1)
    {
      usage (stderr);
      return 2;
    }
  p = tagsight_project_open (argv[optind], 0, &error);
  if (!p)
    return cli_fail ("runs", error->message);
  if (tagsight_project_is_read_only (p))
    /* TRANSLATORS: project file, why it is read-only (e.g. "its folder cannot be
     * written") */
    fprintf (stderr, _("tagsight-cli runs: %s is read-only (%s): read without changing it\n"),
             tagsight_project_get_path (p), tagsight_project_get_read_only_reason (p));
  if (epochs_of > 0)
    return print_epochs (p, epochs_of);
  if (export_path)
    {
      if (dataset == 0)
        {
          g_autoptr (GPtrArray) ds = tagsight_project_list_datasets (p, &error);
          if (ds && ds->len > 0)
            dataset = ((TagsightDataset *) ds->pdata[0])->id;
        }
      if (dataset == 0 || !tagsight_project_export_labels_csv (p, dataset, export_path, &error))
        return cli_fail ("runs", error ? error->message : _("the project has no data set"));
      fprintf (stderr, _("tagsight-cli runs: wrote %s\n"), export_path);
      return 0;
    }
  if (!(runs = tagsight_project_list_runs (p, &error)))
    return cli_fail ("runs", error->message);
  if (!json)
    {
      /* the status column fits every translated status */
      for (int st = TAGSIGHT_RUN_RUNNING; st <= TAGSIGHT_RUN_FAILED; st++)
        w[1] = cli_col_width (status_text ((TagsightRunStatus) st), w[1]);
      for (int k = 0; k < 8; k++)
        {
          w[k] = cli_col_width (h[k], w[k]);
          cli_pad (stdout, h[k], k == 4 ? -w[k] : w[k]);
          putchar (' ');
        }
      printf ("%s\n", h[8]);
    }
  for (guint i = 0; i < runs->len; i++)
    {
      TagsightRun *r = runs->pdata[i];
      g_autofree char *sum = recipe_summary (r->recipe);
      char tl[32], vl[32], ac[32];

      if (json)
        {
          printf ("{\"run\": %" G_GINT64_FORMAT, r->id);
          json_str ("status", tagsight_run_status_to_string (r->status));
          json_str ("started", r->started);
          json_str ("ended", r->ended);
          json_str ("device", r->device);
          printf (", \"epochs\": %d", r->n_epochs_done);
          json_num ("train_loss", r->last_train_loss);
          json_num ("valid_loss", r->last_valid_loss);
          json_num ("accuracy_multi", r->last_accuracy);
          json_str ("model", r->model_path);
          json_str ("checkpoint", r->checkpoint);
          json_str ("message", r->message);
          printf (", \"recipe\": %s}\n", r->recipe ? r->recipe : "null");
          continue;
        }
      fmt_num (tl, sizeof tl, r->last_train_loss);
      fmt_num (vl, sizeof vl, r->last_valid_loss);
      fmt_num (ac, sizeof ac, r->last_accuracy);
      printf ("%-*lld ", w[0], (long long) r->id);
      cli_pad (stdout, status_text (r->status), w[1]);
      printf (" %-*.23s %-*.26s %*d %-*s %-*s %-*s %s\n", w[2], r->started ? r->started : "",
              w[3], sum, w[4], r->n_epochs_done, w[5], tl, w[6], vl, w[7], ac,
              r->model_path ? r->model_path : "-");
    }
  return 0;
}
