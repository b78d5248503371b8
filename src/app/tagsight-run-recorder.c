/* tagsight-run-recorder.c: training runs recorded in a project (see
 * tagsight-run-recorder.h). */
#include "tagsight-run-recorder.h"

#include <glib/gi18n.h>
#include <math.h>
#include <string.h>

#include "ts-json.h"
#include "ts-session.h"

struct _TagsightRunRecorder
{
  GObject parent_instance;

  TagsightTrainPage *page;        /* borrowed: the window owns both */
  TagsightTraining *training;
  gulong handlers[4];

  /* where the next run goes */
  TagsightProject *project;
  gint64 dataset_id;
  TagsightDataset *dataset;

  /* the run in flight: kept even when the window switches project meanwhile */
  gint64 run_id;
  TagsightProject *run_project;
  TagsightDataset *run_dataset;
  gint64 ending_run;              /* the run whose end is being recorded */
  gboolean write_failed;          /* reported once per run */
  gboolean device_known;          /* the session's device name recorded */
  gint64 continue_run;            /* the next start continues this run */
  int continue_phase, continue_epoch;
  /* a continued run is reopened (its later metrics, predictions and end
   * cleared) at its first event, once its checkpoint has loaded: a resume
   * refused before that leaves the run as it was */
  gboolean reopen_pending;
};

G_DEFINE_FINAL_TYPE (TagsightRunRecorder, tagsight_run_recorder, G_TYPE_OBJECT)

enum { SIGNAL_RUN_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* --- the recipe ---------------------------------------------------------- */

static void
arg (GPtrArray *args, const char *name, char *value)
{
  g_ptr_array_add (args, g_strdup (name));
  g_ptr_array_add (args, value);
}

/* The tagsight-cli train arguments that rebuild the same run, so a run
 * started here can be repeated (or resumed) from a terminal. */
static GPtrArray *
cli_args (const TagsightTrainSettings *s)
{
  GPtrArray *a = g_ptr_array_new_with_free_func (g_free);
  char num[G_ASCII_DTOSTR_BUF_SIZE];

  arg (a, "--arch", g_strdup (s->arch));
  if (s->pretrained != NULL && *s->pretrained)
    arg (a, "--pretrained", g_canonicalize_filename (s->pretrained, NULL));
  arg (a, "--epochs", g_strdup_printf ("%d", s->epochs));
  arg (a, "--freeze-epochs", g_strdup_printf ("%d", s->freeze_epochs));
  arg (a, "--lr", g_strdup (g_ascii_dtostr (num, sizeof num, s->lr)));
  arg (a, "--bs", g_strdup_printf ("%d", s->bs));
  arg (a, "--size", g_strdup_printf ("%d", s->size));
  arg (a, "--min-scale", g_strdup (g_ascii_dtostr (num, sizeof num, s->min_scale)));
  arg (a, "--aug", g_strdup (ts_aug_preset_name ((ts_aug_preset) s->aug)));
  arg (a, "--thresh", g_strdup (g_ascii_dtostr (num, sizeof num, s->thresh)));
  arg (a, "--threads", g_strdup_printf ("%d", s->threads > 0 ? s->threads
                                                            : (int) g_get_num_processors ()));
  arg (a, "--seed", g_strdup_printf ("%" G_GUINT64_FORMAT, s->seed));
  if (s->device != NULL && *s->device)
    arg (a, "--device", g_strdup (s->device));
  /* the request, not what the device gave: Resume on a GPU goes on in bf16
   * (the device recorded says what ran); float32, the CLI's default, is left
   * out so that such recipes read as before */
  if (s->precision == TS_PRECISION_BF16)
    arg (a, "--precision", g_strdup (ts_precision_name (TS_PRECISION_BF16)));
  if (s->has_mapping)
    {
      if (s->fname_col != NULL)
        arg (a, "--fname-col", g_strdup (s->fname_col));
      if (s->labels_col != NULL)
        arg (a, "--labels-col", g_strdup (s->labels_col));
      if (s->label_delim != NULL)
        arg (a, "--delim", g_strdup (s->label_delim));
      if (s->image_dir != NULL)
        arg (a, "--images", g_canonicalize_filename (s->image_dir, NULL));
      if (s->split == TS_SPLIT_COLUMN && s->split_col != NULL)
        arg (a, "--split-col", g_strdup (s->split_col));
      else if (s->split == TS_SPLIT_RANDOM)
        arg (a, "--valid-pct", g_strdup (g_ascii_dtostr (num, sizeof num, s->valid_pct)));
      else if (s->split == TS_SPLIT_NONE)
        g_ptr_array_add (a, g_strdup ("--no-split"));
    }
  g_ptr_array_add (a, g_canonicalize_filename (s->csv != NULL ? s->csv : "", NULL));
  return a;
}

char *
tagsight_run_recipe_json (const TagsightTrainSettings *s)
{
  g_autoptr (GPtrArray) args = cli_args (s);
  g_autofree char *csv = g_canonicalize_filename (s->csv != NULL ? s->csv : "", NULL);
  ts_strbuf b = { 0 };
  char *out;

  /* the CLI's keys (cli-project.c), plus where the run came from */
  ts_strbuf_printf (&b, "{\"command\": \"fine_tune\", \"source\": \"app\", \"csv\": ");
  ts_strbuf_json_string (&b, csv);
  ts_strbuf_printf (&b, ", \"arch\": ");
  ts_strbuf_json_string (&b, s->arch != NULL ? s->arch : "");
  ts_strbuf_printf (&b, ", \"epochs\": %d, \"freeze_epochs\": %d, \"lr\": %.17g, \"bs\": %d, "
                    "\"size\": %d, \"seed\": %" G_GUINT64_FORMAT ", \"threads\": %d, "
                    "\"thresh\": %.17g, \"aug\": \"%s\", \"precision\": \"%s\", "
                    "\"device\": ", s->epochs,
                    s->freeze_epochs, s->lr, s->bs, s->size, s->seed,
                    s->threads > 0 ? s->threads : (int) g_get_num_processors (), s->thresh,
                    ts_aug_preset_name ((ts_aug_preset) s->aug),
                    ts_precision_name ((ts_precision) s->precision));
  ts_strbuf_json_string (&b, s->device != NULL && *s->device ? s->device : "auto");
  ts_strbuf_printf (&b, ", \"args\": [");
  for (guint i = 0; i < args->len; i++)
    {
      if (i > 0)
        ts_strbuf_printf (&b, ", ");
      ts_strbuf_json_string (&b, args->pdata[i]);
    }
  ts_strbuf_printf (&b, "]}");
  out = b.failed ? NULL : g_strndup (b.data, b.len);
  ts_strbuf_clear (&b);
  return out;
}

/* The value of option @name in @a at @i: "--name value" or "--name=value";
 * NULL when @a[@i] is not that option.  Moves @i past the value. */
static const char *
opt_value (char **a, int n, int *i, const char *name)
{
  size_t len = strlen (name);

  if (strncmp (a[*i], name, len) != 0)
    return NULL;
  if (a[*i][len] == '=')
    return a[*i] + len + 1;
  if (a[*i][len] == '\0' && *i + 1 < n)
    return a[++*i];
  return NULL;
}

gboolean
tagsight_train_settings_from_recipe (const char *recipe_json, TagsightTrainSettings *s,
                                     GError **error)
{
  ts_json *recipe = NULL;
  const ts_json *args;
  g_autoptr (GPtrArray) a = g_ptr_array_new_with_free_func (g_free);
  const char *v, *bad = NULL;
  int n;

  tagsight_train_settings_init (s);
  if (ts_json_parse (recipe_json, strlen (recipe_json), "recipe", &recipe) != TS_OK
      || (args = ts_json_get (recipe, "args")) == NULL || args->type != TS_JSON_ARRAY)
    {
      ts_json_free (recipe);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _("The run’s recipe has no arguments to rebuild it from"));
      return FALSE;
    }
  for (size_t i = 0; i < args->len; i++)
    g_ptr_array_add (a, g_strdup (args->items[i].type == TS_JSON_STRING
                                  ? args->items[i].string : ""));
  ts_json_free (recipe);
  n = (int) a->len;
  /* the inverse of cli_args (the CLI's train options, which a CLI run
   * records as typed) */
  for (int i = 0; i < n && bad == NULL; i++)
    {
      char **p = (char **) a->pdata;

#define STR(opt, field) if ((v = opt_value (p, n, &i, opt)) != NULL) { g_free (s->field); s->field = g_strdup (v); continue; }
#define NUM(opt, field, conv) if ((v = opt_value (p, n, &i, opt)) != NULL) { s->field = conv; continue; }
      STR ("--arch", arch);
      STR ("--pretrained", pretrained);
      STR ("--device", device);
      NUM ("--epochs", epochs, atoi (v));
      NUM ("--freeze-epochs", freeze_epochs, atoi (v));
      NUM ("--lr", lr, g_ascii_strtod (v, NULL));
      NUM ("--bs", bs, atoi (v));
      NUM ("--size", size, atoi (v));
      NUM ("--min-scale", min_scale, g_ascii_strtod (v, NULL));
      NUM ("--thresh", thresh, g_ascii_strtod (v, NULL));
      NUM ("--threads", threads, atoi (v));
      NUM ("--seed", seed, g_ascii_strtoull (v, NULL, 10));
      if ((v = opt_value (p, n, &i, "--precision")) != NULL)
        {
          int precision = ts_precision_from_name (v);

          if (precision < 0)
            bad = v;
          else
            s->precision = precision;
          continue;
        }
      if ((v = opt_value (p, n, &i, "--aug")) != NULL)
        {
          bad = v;
          for (int k = TS_AUG_NONE; k <= TS_AUG_FASTAI; k++)
            if (strcmp (v, ts_aug_preset_name ((ts_aug_preset) k)) == 0)
              s->aug = k, bad = NULL;
          continue;
        }
      /* the column mapping: any of these means the run had one */
#define MAP(opt, field) if ((v = opt_value (p, n, &i, opt)) != NULL) { s->has_mapping = TRUE; g_free (s->field); s->field = g_strdup (v); continue; }
      MAP ("--fname-col", fname_col);
      MAP ("--labels-col", labels_col);
      MAP ("--delim", label_delim);
      MAP ("--images", image_dir);
      MAP ("--split-col", split_col);
#undef MAP
      if ((v = opt_value (p, n, &i, "--valid-pct")) != NULL)
        {
          s->has_mapping = TRUE;
          s->split = TS_SPLIT_RANDOM;
          s->valid_pct = g_ascii_strtod (v, NULL);
          continue;
        }
      if (strcmp (p[i], "--no-split") == 0)
        {
          s->has_mapping = TRUE;
          s->split = TS_SPLIT_NONE;
          continue;
        }
#undef STR
#undef NUM
      if (p[i][0] == '-')
        bad = p[i];
      else
        {
          g_free (s->csv);
          s->csv = g_strdup (p[i]);
        }
    }
  if (s->split_col != NULL)
    s->split = TS_SPLIT_COLUMN;
  if (bad != NULL || s->csv == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   bad != NULL ? _("The run’s recipe has an option the app does not know "
                                   "(%s): resume it with tagsight-cli resume")
                               : _("The run’s recipe names no CSV"), bad);
      tagsight_train_settings_clear (s);
      return FALSE;
    }
  return TRUE;
}

/* --- recording ----------------------------------------------------------- */

static void
write_failed (TagsightRunRecorder *self, GError *error)
{
  /* training goes on: a full disk must not stop it, but say so once */
  if (!self->write_failed)
    g_warning ("recording run %" G_GINT64_FORMAT " in the project failed: %s", self->run_id,
               error->message);
  self->write_failed = TRUE;
  g_error_free (error);
}

/* The run in flight, begun at "starting"; FALSE when none is recorded. */
static gboolean
ensure_run (TagsightRunRecorder *self)
{
  return self->run_id != 0;
}

/* A run being recorded, reopened first if it continues one (see
 * reopen_pending): the training events' guard. */
static gboolean
ensure_run_reopened (TagsightRunRecorder *self)
{
  GError *error = NULL;

  if (!ensure_run (self))
    return FALSE;
  if (self->reopen_pending)
    {
      self->reopen_pending = FALSE;
      if (!tagsight_project_reopen_run (self->run_project, self->run_id, self->continue_phase,
                                        self->continue_epoch, &error))
        write_failed (self, error);
    }
  return TRUE;
}

/* A run is starting (main thread, before its session opens): record it, or
 * reopen the run it continues, and send its epoch checkpoints beside the
 * project so that it can be resumed after a crash (`tagsight-cli resume`
 * and the Runs page's Resume). */
static void
on_starting (TagsightTraining *training, const TagsightTrainSettings *s,
             TagsightRunRecorder *self)
{
  g_autofree char *recipe = NULL, *ckpt = NULL;
  g_autoptr (TagsightRun) run = NULL;
  GError *error = NULL;
  gint64 run_id = 0;

  self->run_id = 0;
  self->device_known = FALSE;
  if (self->project == NULL)
    return;
  if (self->continue_run != 0)
    {
      run_id = self->continue_run;
      self->continue_run = 0;
      self->reopen_pending = TRUE;
    }
  else if ((recipe = tagsight_run_recipe_json (s)) == NULL
           || !tagsight_project_begin_run (self->project,
                                           self->dataset_id > 0 ? self->dataset_id : 0, recipe,
                                           s->device != NULL && *s->device ? s->device : "auto",
                                           &run_id, &error))
    {
      if (error != NULL)
        {
          g_warning ("could not record the run in %s: %s",
                     tagsight_project_get_path (self->project), error->message);
          g_error_free (error);
        }
      return;
    }
  ckpt = tagsight_project_run_file (self->project, run_id, "ckpt");
  /* known before the first epoch ends, as the CLI does: a kill right after
   * the first checkpoint's rename must still find it; its start names the
   * run in its checkpoints (the number comes back in another project) */
  if (!tagsight_project_set_run_checkpoint (self->project, run_id, ckpt, &error)
      || (run = tagsight_project_get_run (self->project, run_id, &error)) == NULL)
    g_clear_error (&error);   /* recorded as failed writes go: training goes on */
  else
    tagsight_training_set_run_checkpoint (training, ckpt, run_id, run->started);
  self->run_id = run_id;
  self->run_project = g_object_ref (self->project);
  g_set_object (&self->run_dataset, self->dataset);
  self->write_failed = FALSE;
  g_signal_emit (self, signals[SIGNAL_RUN_CHANGED], 0, self->run_id);
}

static void
on_phase (TagsightTraining *training, const ts_phase_event *ev, TagsightRunRecorder *self)
{
  g_autofree char *device = NULL;
  GError *error = NULL;

  if (!ensure_run_reopened (self) || self->device_known)
    return;
  /* the session is open by its first event: record what it computes on,
   * e.g. "CPU (8 threads)" (a resumed run records where it continued) */
  self->device_known = TRUE;
  device = tagsight_training_dup_device_name (training);
  if (device != NULL
      && !tagsight_project_set_run_device (self->run_project, self->run_id, device, &error))
    write_failed (self, error);
}

static void
on_batch (TagsightTraining *training, const ts_batch_event *ev, TagsightRunRecorder *self)
{
  GError *error = NULL;

  if (!ensure_run_reopened (self))
    return;
  /* one commit per batch, as the CLI: a crash loses at most this batch */
  if (!tagsight_project_add_batch_metrics (self->run_project, self->run_id, ev->phase, ev->epoch,
                                           ev->batch, ev->step, ev->loss, ev->smooth_loss,
                                           ev->lr[ev->n_groups > 0 ? ev->n_groups - 1 : 0],
                                           ev->mom, &error))
    write_failed (self, error);
}

static void
on_epoch (TagsightTraining *training, const ts_epoch_event *ev, TagsightRunRecorder *self)
{
  GError *error = NULL;

  if (!ensure_run_reopened (self))
    return;
  if (!tagsight_project_add_epoch_metrics (self->run_project, self->run_id, ev->phase, ev->epoch,
                                           ev->train_loss, ev->valid_loss, ev->accuracy_multi,
                                           ev->seconds, &error))
    write_failed (self, error);
}

/* --- the end of a run ---------------------------------------------------- */

typedef struct {
  gint64 run_id;
  TagsightProject *project;
  TagsightDataset *dataset;
  int status;
  char *message;
  TagsightPreds *preds;
  char *preds_error;
} Ending;

static void
ending_free (gpointer data)
{
  Ending *e = data;

  g_clear_object (&e->project);
  g_clear_object (&e->dataset);
  g_free (e->message);
  tagsight_preds_free (e->preds);
  g_free (e->preds_error);
  g_free (e);
}

/* "dir/name.tagsight" -> "dir/name-runN.safetensors", as the CLI names it */
static char *
model_path_for (TagsightProject *project, gint64 run_id)
{
  return tagsight_project_run_file (project, run_id, "safetensors");
}

static void
end_run (GTask *task)
{
  TagsightRunRecorder *self = g_task_get_source_object (task);
  Ending *e = g_task_get_task_data (task);
  GError *error = NULL;
  TagsightRunStatus status = e->status == TS_OK ? TAGSIGHT_RUN_FINISHED
                             : e->status == TS_ERR_CANCELLED ? TAGSIGHT_RUN_CANCELLED
                             : TAGSIGHT_RUN_FAILED;

  if (!tagsight_project_end_run (e->project, e->run_id, status, e->message, &error))
    write_failed (self, error);
  if (self->ending_run == e->run_id)
    self->ending_run = 0;
  g_signal_emit (self, signals[SIGNAL_RUN_CHANGED], 0, e->run_id);
  if (e->preds != NULL)
    g_task_return_pointer (task, g_steal_pointer (&e->preds), (GDestroyNotify) tagsight_preds_free);
  else
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED, "%s",
                             e->preds_error != NULL ? e->preds_error
                                                    : _("The run has no predictions"));
  g_object_unref (task);
}

static void
on_model_saved (GObject *source, GAsyncResult *result, gpointer data)
{
  GTask *task = data;
  Ending *e = g_task_get_task_data (task);
  g_autofree char *path = model_path_for (e->project, e->run_id);
  GError *error = NULL;

  if (!tagsight_training_save_finish (TAGSIGHT_TRAINING (source), result, &error))
    {
      /* the trained weights are now only in the checkpoint: a finished run
       * could not be resumed, so the run fails, saying why, and Resume
       * writes the model (as the CLI does) */
      if (e->status == TS_OK)
        {
          e->status = TS_ERR_IO;
          g_free (e->message);
          e->message = g_strdup_printf (_("The model could not be written: %s"), error->message);
        }
      write_failed (g_task_get_source_object (task), error);
    }
  else if (!tagsight_project_add_model (e->project, e->run_id, path, NULL, &error))
    write_failed (g_task_get_source_object (task), error);
  end_run (task);
}

static void
save_model (GTask *task)
{
  TagsightRunRecorder *self = g_task_get_source_object (task);
  Ending *e = g_task_get_task_data (task);
  g_autofree char *path = NULL;

  if (!tagsight_training_has_model (self->training))
    {
      end_run (task);
      return;
    }
  path = model_path_for (e->project, e->run_id);
  tagsight_training_save_async (self->training, path, -1.0, NULL, NULL, on_model_saved, task);
}

static void
on_preds (GObject *source, GAsyncResult *result, gpointer data)
{
  GTask *task = data;
  Ending *e = g_task_get_task_data (task);
  g_autoptr (GError) error = NULL;
  const ts_datablock *db = e->dataset != NULL ? tagsight_dataset_get_datablock (e->dataset)
                                               : NULL;

  e->preds = tagsight_training_get_preds_finish (TAGSIGHT_TRAINING (source), result, &error);
  if (e->preds == NULL)
    e->preds_error = g_strdup (error->message);
  /* get_preds walks the validation items in order: row i is valid_idx[i],
   * the datablock item index the CLI records too */
  else if (db != NULL && e->preds->n == db->n_valid && e->preds->n_classes == db->n_vocab)
    {
      GError *werror = NULL;

      if (!tagsight_project_set_predictions (e->project, e->run_id, e->preds->n,
                                             e->preds->n_classes, db->valid_idx,
                                             e->preds->probs, e->preds->targets, &werror))
        write_failed (g_task_get_source_object (task), werror);
    }
  else
    g_warning ("run %" G_GINT64_FORMAT ": %d predictions for %d validation items: not recorded",
               e->run_id, e->preds->n, db != NULL ? db->n_valid : -1);
  save_model (task);
}

gboolean
tagsight_run_recorder_finish_async (TagsightRunRecorder *self, int status, const char *message,
                                    GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;
  Ending *e;

  g_return_val_if_fail (TAGSIGHT_IS_RUN_RECORDER (self), FALSE);
  /* a run that failed before its first event is recorded too, as the CLI
   * does; a resume refused before its first event leaves its run as it was */
  if (!ensure_run (self))
    return FALSE;
  if (self->reopen_pending)
    {
      gint64 run_id = self->run_id;

      self->reopen_pending = FALSE;
      self->run_id = 0;
      g_clear_object (&self->run_project);
      g_clear_object (&self->run_dataset);
      g_signal_emit (self, signals[SIGNAL_RUN_CHANGED], 0, run_id);
      return FALSE;
    }
  e = g_new0 (Ending, 1);
  e->run_id = self->run_id;
  e->project = g_steal_pointer (&self->run_project);
  e->dataset = g_steal_pointer (&self->run_dataset);
  e->status = status;
  e->message = g_strdup (message);
  /* until end_run, the run is still being recorded (predictions, model,
   * status): the window must not switch or copy the project meanwhile */
  self->ending_run = self->run_id;
  self->run_id = 0;
  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_task_data (task, e, ending_free);
  if ((status == TS_OK || status == TS_ERR_CANCELLED)
      && tagsight_training_has_model (self->training))
    tagsight_training_get_preds_async (self->training, NULL, on_preds, task);
  else
    {
      e->preds_error = g_strdup (message != NULL ? message : _("The run has no model"));
      end_run (task);
    }
  return TRUE;
}

TagsightPreds *
tagsight_run_recorder_finish_finish (TagsightRunRecorder *self, GAsyncResult *result,
                                     GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- boilerplate --------------------------------------------------------- */

void
tagsight_run_recorder_set_target (TagsightRunRecorder *self, TagsightProject *project,
                                  gint64 dataset_id, TagsightDataset *dataset)
{
  g_set_object (&self->project, project);
  self->dataset_id = dataset_id;
  g_set_object (&self->dataset, dataset);
}

gint64
tagsight_run_recorder_get_run (TagsightRunRecorder *self)
{
  return self->run_id != 0 ? self->run_id : self->ending_run;
}

void
tagsight_run_recorder_continue_run (TagsightRunRecorder *self, gint64 run_id, int phase,
                                    int epoch)
{
  self->continue_run = run_id;
  self->continue_phase = phase;
  self->continue_epoch = epoch;
}

static void
tagsight_run_recorder_dispose (GObject *object)
{
  TagsightRunRecorder *self = TAGSIGHT_RUN_RECORDER (object);

  if (self->training != NULL)
    for (guint i = 0; i < G_N_ELEMENTS (self->handlers); i++)
      g_clear_signal_handler (&self->handlers[i], self->training);
  g_clear_object (&self->training);
  g_clear_object (&self->project);
  g_clear_object (&self->dataset);
  g_clear_object (&self->run_project);
  g_clear_object (&self->run_dataset);
  G_OBJECT_CLASS (tagsight_run_recorder_parent_class)->dispose (object);
}

static void
tagsight_run_recorder_class_init (TagsightRunRecorderClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = tagsight_run_recorder_dispose;
  signals[SIGNAL_RUN_CHANGED] = g_signal_new ("run-changed", G_TYPE_FROM_CLASS (klass),
                                              G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                              G_TYPE_NONE, 1, G_TYPE_INT64);
}

static void
tagsight_run_recorder_init (TagsightRunRecorder *self)
{
}

TagsightRunRecorder *
tagsight_run_recorder_new (TagsightTrainPage *page)
{
  TagsightRunRecorder *self = g_object_new (TAGSIGHT_TYPE_RUN_RECORDER, NULL);

  self->page = page;
  self->training = g_object_ref (tagsight_train_page_get_training (page));
  self->handlers[0] = g_signal_connect (self->training, "phase", G_CALLBACK (on_phase), self);
  self->handlers[1] = g_signal_connect (self->training, "batch", G_CALLBACK (on_batch), self);
  self->handlers[2] = g_signal_connect (self->training, "epoch", G_CALLBACK (on_epoch), self);
  self->handlers[3] = g_signal_connect (self->training, "starting", G_CALLBACK (on_starting),
                                        self);
  return self;
}
