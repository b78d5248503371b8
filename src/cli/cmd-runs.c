/* cmd-runs.c: `tagsight-cli runs P.tagsight`: the runs of a project as a
 * table (or JSON lines), and the export of a data set's corrected labels. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli-commands.h"
#include "tagsight-project.h"
#include "ts-json.h"

static void
usage (FILE *out)
{
  fprintf (out, "Usage: tagsight-cli runs PROJECT.tagsight [OPTIONS]\n\n"
           "Lists the training runs recorded in a project.\n\n"
           "  --json                one JSON object per run\n"
           "  --epochs RUN          the per-epoch metrics of one run\n"
           "  --export-labels OUT   write the first data set's CSV with its corrected labels\n"
           "  --dataset ID          the data set for --export-labels\n");
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
    {
      fprintf (stderr, "tagsight-cli runs: %s\n", error->message);
      return 1;
    }
  printf ("%-6s %-6s %-12s %-12s %-12s %s\n", "phase", "epoch", "train_loss", "valid_loss",
          "accuracy", "seconds");
  for (guint i = 0; i < em->len; i++)
    {
      TagsightEpochMetrics *m = &g_array_index (em, TagsightEpochMetrics, i);
      printf ("%-6d %-6d %-12.6f %-12.6f %-12.6f %.1f\n", m->phase, m->epoch, m->train_loss,
              m->valid_loss, m->accuracy, m->seconds);
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
    {
      fprintf (stderr, "tagsight-cli runs: %s\n", error->message);
      return 1;
    }
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
        {
          fprintf (stderr, "tagsight-cli runs: %s\n", error ? error->message
                   : "the project has no data set");
          return 1;
        }
      fprintf (stderr, "tagsight-cli runs: wrote %s\n", export_path);
      return 0;
    }
  if (!(runs = tagsight_project_list_runs (p, &error)))
    {
      fprintf (stderr, "tagsight-cli runs: %s\n", error->message);
      return 1;
    }
  if (!json)
    printf ("%-4s %-10s %-24s %-26s %6s %-10s %-10s %-10s %s\n", "run", "status", "started",
            "recipe", "epochs", "train_loss", "valid_loss", "accuracy", "model");
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
      printf ("%-4" G_GINT64_FORMAT " %-10s %-24.23s %-26.26s %6d %-10s %-10s %-10s %s\n", r->id,
              tagsight_run_status_to_string (r->status), r->started, sum, r->n_epochs_done, tl,
              vl, ac, r->model_path ? r->model_path : "-");
    }
  return 0;
}
