/* tagsight-label-report.c: a run's label inspection, without widgets (see
 * tagsight-label-report.h). */
#include "tagsight-label-report.h"

#include <gio/gio.h>
#include <glib/gi18n.h>
#include <stdlib.h>
#include <string.h>

#include "ts-json.h"
#include "ts-session.h"

void
tagsight_label_report_free (TagsightLabelReport *r)
{
  if (r == NULL)
    return;
  g_clear_object (&r->project);
  g_free (r->rows);
  g_free (r->probs);
  g_free (r->targets);
  g_strfreev (r->vocab);
  ts_label_report_clear (&r->report);
  free (r->top_losses);
  if (r->fnames != NULL)
    for (int i = 0; i < r->n; i++)
      g_free (r->fnames[i]);
  g_free (r->fnames);
  g_free (r->item_ids);
  if (r->labels != NULL)
    for (int i = 0; i < r->n; i++)
      g_free (r->labels[i]);
  g_free (r->labels);
  g_clear_pointer (&r->rejected, g_hash_table_unref);
  g_free (r);
}

/* The threshold the run reported accuracy_multi at: the recipe's, else the
 * session default the CLI trains with (the chapter's 0.2). */
static double
run_threshold (const char *recipe_json)
{
  ts_session_config cfg;
  ts_json *recipe = NULL;
  double t;

  ts_session_config_init (&cfg);
  t = cfg.thresh;
  if (recipe_json != NULL
      && ts_json_parse (recipe_json, strlen (recipe_json), "recipe", &recipe) == TS_OK)
    {
      const ts_json *v = ts_json_get (recipe, "thresh");

      if (v != NULL && v->type == TS_JSON_NUMBER && v->number > 0 && v->number < 1)
        t = v->number;
      ts_json_free (recipe);
    }
  return t;
}

static char *
rejected_key (gint64 dataset_id)
{
  return g_strdup_printf ("label-issues.rejected.%" G_GINT64_FORMAT, dataset_id);
}

static char *
suggestion_key (TagsightLabelReport *r, int issue)
{
  const ts_label_issue *is = &r->report.issues[issue];

  return g_strdup_printf ("%s\t%s\t%s", r->fnames[is->item], r->vocab[is->cls],
                          ts_label_issue_kind_name (is->kind));
}

static void
load_rejected (TagsightLabelReport *r)
{
  g_autofree char *key = rejected_key (r->dataset_id);
  g_autofree char *saved = tagsight_project_dup_setting (r->project, key);
  g_auto (GStrv) lines = saved != NULL ? g_strsplit (saved, "\n", -1) : NULL;

  for (int i = 0; lines != NULL && lines[i] != NULL; i++)
    if (*lines[i] != '\0')
      g_hash_table_add (r->rejected, g_strdup (lines[i]));
}

static gboolean
save_rejected (TagsightLabelReport *r, GError **error)
{
  g_autofree char *key = rejected_key (r->dataset_id);
  GList *keys = g_list_sort (g_hash_table_get_keys (r->rejected), (GCompareFunc) g_strcmp0);
  g_autoptr (GString) s = g_string_new (NULL);

  /* sorted: the same set always writes the same text */
  for (GList *l = keys; l != NULL; l = l->next)
    g_string_append_printf (s, "%s\n", (char *) l->data);
  g_list_free (keys);
  return tagsight_project_set_setting (r->project, key, s->str, error);
}

gboolean
tagsight_label_report_refresh (TagsightLabelReport *r, GError **error)
{
  g_autoptr (GPtrArray) items = tagsight_project_list_items (r->project, r->dataset_id, error);
  g_autoptr (GHashTable) by_fname = NULL;

  if (items == NULL)
    return FALSE;
  by_fname = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint i = 0; i < items->len; i++)
    g_hash_table_insert (by_fname, ((TagsightStoreItem *) items->pdata[i])->fname,
                         items->pdata[i]);
  for (int i = 0; i < r->n; i++)
    {
      TagsightStoreItem *it = g_hash_table_lookup (by_fname, r->fnames[i]);

      r->item_ids[i] = it != NULL ? it->id : 0;
      g_free (r->labels[i]);
      r->labels[i] = g_strdup (it != NULL ? it->labels : "");
    }
  return TRUE;
}

TagsightLabelReport *
tagsight_label_report_new (TagsightProject *project, gint64 run_id, const ts_datablock *db,
                           GError **error)
{
  g_autoptr (TagsightLabelReport) r = g_new0 (TagsightLabelReport, 1);
  g_autoptr (TagsightRun) run = tagsight_project_get_run (project, run_id, error);

  if (run == NULL)
    return NULL;
  r->project = g_object_ref (project);
  r->run_id = run_id;
  r->dataset_id = run->dataset_id;
  r->rejected = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (!tagsight_project_get_predictions (project, run_id, &r->n, &r->n_classes, &r->rows,
                                         &r->probs, &r->targets, error))
    return NULL;
  if (r->n == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("Run %lld has no validation predictions (it stopped before they were made, "
                     "or its data set has no validation items)"), (long long) run_id);
      return NULL;
    }
  if (r->dataset_id == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("Run %lld has no data set recorded"), (long long) run_id);
      return NULL;
    }
  /* the vocab is the data set's: the same CSV gives the same sorted labels */
  if (db->n_vocab != r->n_classes)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   ngettext ("The data set has %d class now, run %lld predicted %d: the CSV "
                             "changed since the run",
                             "The data set has %d classes now, run %lld predicted %d: the CSV "
                             "changed since the run", db->n_vocab),
                   db->n_vocab, (long long) run_id, r->n_classes);
      return NULL;
    }
  r->vocab = g_new0 (char *, r->n_classes + 1);
  for (int k = 0; k < r->n_classes; k++)
    r->vocab[k] = g_strdup (db->vocab[k]);
  r->fnames = g_new0 (char *, r->n);
  r->item_ids = g_new0 (gint64, r->n);
  r->labels = g_new0 (char *, r->n);
  for (int i = 0; i < r->n; i++)
    {
      if (r->rows[i] < 0 || r->rows[i] >= db->n_items)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       _("Run %lld predicted item %d, the data set has %d: the CSV changed "
                         "since the run"), (long long) run_id, r->rows[i], db->n_items);
          return NULL;
        }
      r->fnames[i] = g_strdup (db->items[r->rows[i]].fname);
    }
  r->thresh = run_threshold (run->recipe);
  if (ts_label_issues_find (r->probs, r->targets, r->n, r->n_classes, r->thresh, &r->report)
      != TS_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s", ts_last_error ());
      return NULL;
    }
  if ((r->top_losses = ts_label_report_top_losses (&r->report)) == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "out of memory");
      return NULL;
    }
  if (!tagsight_label_report_refresh (r, error))
    return NULL;
  load_rejected (r);
  return g_steal_pointer (&r);
}

gboolean
tagsight_label_report_has_label (TagsightLabelReport *r, int row, int cls)
{
  /* the project keeps labels normalised: sorted, single spaces */
  const char *labels = r->labels[row], *name = r->vocab[cls];
  gsize len = strlen (name);

  for (const char *p = labels; p != NULL && *p != '\0';)
    {
      const char *end = strchr (p, ' ');
      gsize n = end != NULL ? (gsize) (end - p) : strlen (p);

      if (n == len && strncmp (p, name, len) == 0)
        return TRUE;
      p = end != NULL ? end + 1 : NULL;
    }
  return FALSE;
}

TagsightSuggestionState
tagsight_label_report_get_state (TagsightLabelReport *r, int issue)
{
  const ts_label_issue *is = &r->report.issues[issue];
  gboolean has = tagsight_label_report_has_label (r, is->item, is->cls);
  g_autofree char *key = NULL;

  /* accepted is what the labels say now, so undo and redo need no bookkeeping */
  if (is->kind == TS_LABEL_ISSUE_MISSING ? has : !has)
    return TAGSIGHT_SUGGESTION_ACCEPTED;
  key = suggestion_key (r, issue);
  return g_hash_table_contains (r->rejected, key) ? TAGSIGHT_SUGGESTION_REJECTED
                                                  : TAGSIGHT_SUGGESTION_OPEN;
}

gboolean
tagsight_label_report_accept (TagsightLabelReport *r, int issue, GError **error)
{
  const ts_label_issue *is = &r->report.issues[issue];
  gint64 item = r->item_ids[is->item];

  if (item == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   _("%s is not in the project’s data set"), r->fnames[is->item]);
      return FALSE;
    }
  /* the same call as tagsight-cli label-issues --accept */
  if (!tagsight_project_toggle_label (r->project, item, r->vocab[is->cls],
                                      is->kind == TS_LABEL_ISSUE_MISSING, "label-issues", NULL,
                                      error))
    return FALSE;
  return tagsight_label_report_refresh (r, error);
}

gboolean
tagsight_label_report_reject (TagsightLabelReport *r, int issue, gboolean rejected,
                              GError **error)
{
  g_autofree char *key = suggestion_key (r, issue);

  if (rejected)
    g_hash_table_add (r->rejected, g_steal_pointer (&key));
  else
    g_hash_table_remove (r->rejected, key);
  return save_rejected (r, error);
}
