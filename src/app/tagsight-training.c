/* tagsight-training.c: sessions on a worker thread (see tagsight-training.h). */
#include "tagsight-training.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "ts-backend-select.h"
#include "ts-checkpoint.h"
#include "ts-preds.h"
#ifdef TAGSIGHT_HAVE_INTERCHANGE
#include "ts-pth.h"
#endif
#ifdef TS_HAVE_ONNX
#include "ts-onnx.h"
#include "ts-transform.h"
#endif

struct _TagsightTraining
{
  GObject parent_instance;

  ts_session session;
  gboolean open;               /* session holds a model */
  gboolean evaluating_file;    /* opened from a model file and not trained since */
  TagsightTrainSettings settings;   /* what the open session borrows its strings from */
  ts_datablock_config dbc;
  gboolean busy;
  gboolean has_model;          /* main thread's view of open */
  int n_classes;               /* main thread's copy of the session's vocab size */
  long bf16_fallbacks;         /* main thread: the last run's (ts_backend_bf16_fallbacks) */
  char *checkpoint;            /* epoch-end weights of the running fine_tune */
  int stop_requested;          /* atomic: read by the running thread at each batch */
  int stop_after_epoch;        /* atomic: read by the running thread at each epoch's end */
  int stop_at_batch;           /* atomic: stop once the run has done this many batches (0: no) */
  int fail_at_batch;           /* atomic: the device fails after this many batches (0: no) */
  char *fail_message;          /* and says this; set before fail_at_batch */
  int batches_done;            /* the running thread's count, for stop_at_batch */
  GThread *thread;
  GMutex job_lock;
  ts_learner *job_learner;     /* the running one-shot job's, under job_lock */
  char *device_name;           /* the open session's backend, under job_lock */
  gboolean device_resample;    /* that backend also resizes and augments, under job_lock */
  /* set by a "starting" handler for the run about to start */
  char *run_checkpoint;
  gint64 run_id;
  char *run_started;
  char *resumable;             /* main thread: what the last run left to continue from */
  gint64 resumable_run;        /* and the run its checkpoints named (0: none) */
  char *resumable_started;
};

G_DEFINE_FINAL_TYPE (TagsightTraining, tagsight_training, G_TYPE_OBJECT)
G_DEFINE_QUARK (tagsight-training-error-quark, tagsight_training_error)

enum { PROP_0, PROP_BUSY, N_PROPS };
static GParamSpec *props[N_PROPS];

/* Main thread: the one place busy changes, so that "notify::busy" tells the
 * pages when a job (training, the LR finder, an evaluation, an open) begins
 * and ends. */
static void
set_busy (TagsightTraining *self, gboolean busy)
{
  if (self->busy == busy)
    return;
  self->busy = busy;
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_BUSY]);
}

enum { SIGNAL_STARTING, SIGNAL_PHASE, SIGNAL_BATCH, SIGNAL_EPOCH, SIGNAL_FINISHED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* --- settings ---------------------------------------------------------- */

void
tagsight_train_settings_init (TagsightTrainSettings *s)
{
  ts_session_config c;

  ts_session_config_init (&c);
  memset (s, 0, sizeof *s);
  s->arch = g_strdup (c.arch);
  s->epochs = c.epochs;
  s->freeze_epochs = c.freeze_epochs;
  s->bs = c.bs;
  s->size = c.size;
  s->lr = c.lr;
  s->min_scale = c.min_scale;
  s->thresh = c.thresh;
  s->aug = c.aug;
  s->seed = c.seed;
  s->precision = c.precision;
  s->valid_pct = 0.2;
}

void
tagsight_train_settings_clear (TagsightTrainSettings *s)
{
  g_free (s->csv);
  g_free (s->arch);
  g_free (s->pretrained);
  g_free (s->model_file);
  g_free (s->fname_col);
  g_free (s->labels_col);
  g_free (s->label_delim);
  g_free (s->image_dir);
  g_free (s->split_col);
  g_free (s->device);
  memset (s, 0, sizeof *s);
}

static void
settings_copy (const TagsightTrainSettings *src, TagsightTrainSettings *dst)
{
  *dst = *src;
  dst->csv = g_strdup (src->csv);
  dst->arch = g_strdup (src->arch);
  dst->pretrained = g_strdup (src->pretrained);
  dst->model_file = g_strdup (src->model_file);
  dst->fname_col = g_strdup (src->fname_col);
  dst->labels_col = g_strdup (src->labels_col);
  dst->label_delim = g_strdup (src->label_delim);
  dst->image_dir = g_strdup (src->image_dir);
  dst->split_col = g_strdup (src->split_col);
  dst->device = g_strdup (src->device);
}

void
tagsight_preds_free (TagsightPreds *p)
{
  if (p == NULL)
    return;
  free (p->probs);
  free (p->targets);
  g_strfreev (p->vocab);
  g_free (p);
}

/* --- the session, on the worker thread --------------------------------- */

#ifdef TAGSIGHT_HAVE_INTERCHANGE
/* .pth files too; the unused tensors (an ImageNet classifier) are expected */
static ts_status
load_pretrained_any (ts_model *m, const char *path, ts_normalization *norm)
{
  ts_load_report rep = { 0 };
  ts_status st = ts_model_load_pretrained_any (m, path, norm, &rep);

  ts_load_report_clear (&rep);
  return st;
}
#endif

/* The session config for @s (whose strings it borrows). */
static void
make_config (const TagsightTrainSettings *s, ts_datablock_config *dbc, ts_session_config *cfg)
{
  ts_datablock_config_init (dbc);
  if (s->has_mapping)
    {
      dbc->fname_col = s->fname_col;
      dbc->labels_col = s->labels_col;
      dbc->label_delim = s->label_delim;
      dbc->image_dir = s->image_dir;
      dbc->split = s->split;
      dbc->split_col = s->split_col;
      dbc->valid_pct = s->valid_pct;
    }
  ts_session_config_init (cfg);
  cfg->csv = s->csv;
  cfg->datablock = dbc;
  cfg->arch = s->arch;
  cfg->pretrained = s->pretrained && *s->pretrained ? s->pretrained : NULL;
  cfg->model_file = s->model_file && *s->model_file ? s->model_file : NULL;
  cfg->epochs = s->epochs;
  cfg->freeze_epochs = s->freeze_epochs;
  cfg->lr = s->lr;
  cfg->bs = s->bs;
  cfg->size = s->size;
  cfg->min_scale = s->min_scale;
  cfg->aug = (ts_aug_preset) s->aug;
  cfg->thresh = s->thresh;
  cfg->threads = s->threads;
  cfg->device = s->device;
  cfg->precision = (ts_precision) s->precision;
  /* the switch has "no effect on the CPU": a run that lands there ("auto"
   * without a GPU, a resume moved off it) goes on in float32 instead of
   * failing; the device name tells which it got */
  cfg->precision_fallback = 1;
  cfg->seed = s->seed;
#ifdef TAGSIGHT_HAVE_INTERCHANGE
  cfg->load_pretrained = load_pretrained_any;
#endif
}

/* ts_session_open, leaving @session closed on failure with the message kept. */
static ts_status
open_session (const ts_session_config *cfg, ts_session *session)
{
  ts_status st = ts_session_open (cfg, session);

  if (st != TS_OK)
    {
      g_autofree char *msg = g_strdup (ts_last_error ());

      ts_session_close (session);
      ts_error (st, "%s", msg);   /* close may have set another message */
    }
  return st;
}

/* Closes any previous session and opens one from the copied settings.  Runs
 * while busy, so nothing else touches the session. */
static ts_status
reopen (TagsightTraining *self, const TagsightTrainSettings *settings)
{
  ts_session_config cfg;
  ts_status st;

  if (self->open)
    ts_session_close (&self->session);
  self->open = FALSE;
  self->evaluating_file = FALSE;
  tagsight_train_settings_clear (&self->settings);
  settings_copy (settings, &self->settings);
  make_config (&self->settings, &self->dbc, &cfg);
  if ((st = open_session (&cfg, &self->session)) != TS_OK)
    return st;
  self->open = TRUE;
  {
    char buf[256];
    char *name = g_strdup (ts_session_describe_device (&self->session, buf, sizeof buf));

    g_mutex_lock (&self->job_lock);
    g_free (self->device_name);
    self->device_name = name;
    self->device_resample = self->session.device_resample;
    g_mutex_unlock (&self->job_lock);
  }
  return TS_OK;
}

/* Main thread, once no job runs: what the main thread may read without
 * touching the session, which a job's thread may be replacing. */
static void
sync_main_view (TagsightTraining *self)
{
  self->has_model = self->open;
  self->n_classes = self->open ? self->session.db->n_vocab : 0;
  set_busy (self, FALSE);
}

/* --- events to the main context ---------------------------------------- */

typedef enum { MSG_PHASE, MSG_BATCH, MSG_EPOCH, MSG_FINISHED } MsgKind;

typedef struct {
  TagsightTraining *self;
  MsgKind kind;
  union {
    ts_phase_event phase;
    ts_batch_event batch;
    ts_epoch_event epoch;
  } ev;
  char name[32];
  ts_status status;
  char *message;
  char *resumable;             /* MSG_FINISHED: a checkpoint to continue from */
  gint64 resumable_run;        /* and its owner */
  char *resumable_started;
  long bf16_fallbacks;         /* MSG_FINISHED: ts_backend_bf16_fallbacks of the run */
} Msg;

static gboolean
deliver (gpointer data)
{
  Msg *m = data;
  TagsightTraining *self = m->self;

  switch (m->kind)
    {
    case MSG_PHASE:
      m->ev.phase.name = m->name;
      g_signal_emit (self, signals[SIGNAL_PHASE], 0, &m->ev.phase);
      break;
    case MSG_BATCH:
      g_signal_emit (self, signals[SIGNAL_BATCH], 0, &m->ev.batch);
      break;
    case MSG_EPOCH:
      g_signal_emit (self, signals[SIGNAL_EPOCH], 0, &m->ev.epoch);
      break;
    case MSG_FINISHED:
      if (self->thread != NULL)
        g_thread_join (g_steal_pointer (&self->thread));
      sync_main_view (self);
      g_free (self->resumable);
      self->resumable = g_steal_pointer (&m->resumable);
      self->resumable_run = self->resumable != NULL ? m->resumable_run : 0;
      g_free (self->resumable_started);
      self->resumable_started = g_steal_pointer (&m->resumable_started);
      self->bf16_fallbacks = m->bf16_fallbacks;
      g_signal_emit (self, signals[SIGNAL_FINISHED], 0, (int) m->status, m->message);
      break;
    }
  return G_SOURCE_REMOVE;
}

static void
msg_free (gpointer data)
{
  Msg *m = data;

  g_object_unref (m->self);
  g_free (m->message);
  g_free (m->resumable);
  g_free (m->resumable_started);
  g_free (m);
}

/* Always queued (g_main_context_invoke would run it right here when no
 * thread owns the main context), at GTask's priority, so the events arrive
 * in order and before anything the run's end triggers. */
static void
post (TagsightTraining *self, Msg *m)
{
  m->self = g_object_ref (self);
  g_idle_add_full (G_PRIORITY_DEFAULT, deliver, m, msg_free);
}

static void
on_phase (void *user, const ts_phase_event *ev)
{
  Msg *m = g_new0 (Msg, 1);

  m->kind = MSG_PHASE;
  m->ev.phase = *ev;
  g_strlcpy (m->name, ev->name ? ev->name : "", sizeof m->name);
  post (user, m);
}

static void
on_batch (void *user, const ts_batch_event *ev)
{
  TagsightTraining *self = user;
  Msg *m = g_new0 (Msg, 1);

  /* the learner is the training thread's: Stop is relayed from here */
  int at = g_atomic_int_get (&self->stop_at_batch);
  int fail_at = g_atomic_int_get (&self->fail_at_batch);
  int done = ++self->batches_done;

  if (fail_at > 0 && done == fail_at)
    {
      /* as a GPU lost between two steps: the backend refuses from here on,
       * and the learner's next step returns the failure */
      ts_error (TS_ERR_DEVICE, "%s", self->fail_message);
      ts_backend_record_failure (self->session.be, TS_ERR_DEVICE);
    }
  if (g_atomic_int_get (&self->stop_requested) || (done >= at && at > 0))
    ts_learner_cancel (self->session.learner);

  m->kind = MSG_BATCH;
  m->ev.batch = *ev;
  post (user, m);
}

static void
on_epoch (void *user, const ts_epoch_event *ev)
{
  TagsightTraining *self = user;
  Msg *m = g_new0 (Msg, 1);

  m->kind = MSG_EPOCH;
  m->ev.epoch = *ev;
  post (self, m);
  /* here, on the training thread: the run stops before the next epoch's
   * first batch, with this epoch's checkpoint written */
  if (g_atomic_int_get (&self->stop_after_epoch))
    ts_learner_cancel (self->session.learner);
}

typedef struct {
  TagsightTraining *self;
  TagsightTrainSettings settings;
  char *checkpoint;            /* where the epochs go (NULL: the scratch file) */
  gint64 run_id;               /* tags them (0: none) */
  char *run_started;
  char *resume_from;           /* a checkpoint to continue from, or NULL */
  gint64 resume_run;           /* the run it must belong to (0: not checked) */
  char *resume_started;
} TrainJob;

/* Loads @job's checkpoint into the open session's learner and tells the
 * checkpointer where the schedule stands. */
static ts_status
resume_into (TagsightTraining *self, TrainJob *job, ts_checkpointer *ckpt,
             ts_checkpoint_resume **resume)
{
  ts_checkpoint_pos pos;
  ts_status st = ts_checkpoint_load (job->resume_from, self->session.learner, &pos, resume);

  if (st == TS_OK)
    ts_checkpointer_continue_from (ckpt, &pos);
  return st;
}

/* Why @job's checkpoint to resume from is not its run's (the owner a
 * project's run wrote into it), or NULL when it is; the check's status in
 * *@st.  The file is not touched. */
static char *
foreign_checkpoint (TrainJob *job, ts_status *st)
{
  char run[32];
  ts_checkpoint_pos pos;
  ts_checkpoint_owner_info o;

  if (job->resume_run == 0)
    return NULL;
  g_snprintf (run, sizeof run, "%" G_GINT64_FORMAT, job->resume_run);
  *st = ts_checkpoint_check_owner (job->resume_from, run, job->resume_started, &pos, &o);
  return *st != TS_OK ? g_strdup (ts_last_error ()) : NULL;
}

static gpointer
train_thread (gpointer data)
{
  TrainJob *job = data;
  TagsightTraining *self = job->self;
  ts_learner_events events = { .user = self, .phase_begin = on_phase, .batch_end = on_batch,
                                .epoch_end = on_epoch };
  const char *path = job->checkpoint != NULL ? job->checkpoint : self->checkpoint;
  char run_str[32];
  /* the project's run: the app's Resume and tagsight-cli resume check both */
  const char *meta[4] = { TS_CHECKPOINT_META_RUN, run_str, TS_CHECKPOINT_META_RUN_STARTED,
                          job->run_started != NULL ? job->run_started : "" };
  ts_checkpointer ckpt;
  ts_checkpoint_resume *resume = NULL;
  gboolean have_ckpt = FALSE;
  ts_status st;
  Msg *m = g_new0 (Msg, 1);

  g_snprintf (run_str, sizeof run_str, "%" G_GINT64_FORMAT, job->run_id);
  /* refused before anything changes: the open session and the file stay,
   * and nothing is offered to continue from it */
  if (job->resume_from != NULL && (m->message = foreign_checkpoint (job, &st)) != NULL)
    ;
  else if ((st = reopen (self, &job->settings)) == TS_OK)
    {
      /* each completed epoch is written out, so Stop can go back to it and a
       * failed run (a lost GPU, say) can continue from it */
      ts_status cst = ts_checkpointer_init (&ckpt, self->session.learner, path, &events,
                                            job->run_id != 0 ? meta : NULL,
                                            job->run_id != 0 ? 2 : 0);

      have_ckpt = cst == TS_OK;
      if (!have_ckpt)
        ts_learner_set_events (self->session.learner, &events);
      if (job->resume_from != NULL)
        st = have_ckpt ? resume_into (self, job, &ckpt, &resume) : cst;
      if (g_atomic_int_get (&self->stop_requested))
        ts_learner_cancel (self->session.learner);
      if (st == TS_OK)
        st = ts_learner_fine_tune (self->session.learner, job->settings.epochs,
                                   job->settings.lr, job->settings.freeze_epochs);
      if (st == TS_ERR_CANCELLED && have_ckpt && ckpt.n_saved > 0)
        {
          ts_checkpoint_pos pos;
          ts_checkpoint_resume *back = NULL;

          if (ts_checkpoint_load (path, self->session.learner, &pos, &back) != TS_OK)
            m->message = g_strdup_printf (_("Stopped; the last epoch’s weights could not be "
                                            "restored: %s"), ts_last_error ());
          ts_checkpoint_resume_free (back);
        }
      else if (st != TS_OK && st != TS_ERR_CANCELLED)
        m->message = g_strdup (ts_last_error ());
      ts_learner_set_events (self->session.learner, NULL);
      if (st != TS_OK && have_ckpt && ckpt.n_saved > 0)
        {
          m->resumable = g_strdup (path);
          m->resumable_run = job->run_id;
          m->resumable_started = g_strdup (job->run_started);
        }
      else if (st != TS_OK && job->resume_from != NULL)
        {
          m->resumable = g_strdup (job->resume_from);
          m->resumable_run = job->resume_run;
          m->resumable_started = g_strdup (job->resume_started);
        }
      if (have_ckpt)
        ts_checkpointer_clear (&ckpt);
      /* a project's checkpoint stays (resume, as the CLI's); the scratch one
       * only while there is something to continue */
      if (job->checkpoint == NULL && m->resumable == NULL)
        g_unlink (self->checkpoint);
    }
  else
    m->message = g_strdup (ts_last_error ());
  /* a session's backend is its run's (reopen makes one a run) */
  m->bf16_fallbacks = self->open ? ts_backend_bf16_fallbacks (self->session.be) : 0;
  /* a model on a GPU that failed can be neither evaluated nor saved there:
   * no model then (Continue opens a session again, on the device chosen) */
  if (st == TS_ERR_DEVICE && self->open)
    {
      ts_session_close (&self->session);
      self->open = FALSE;
    }
  ts_checkpoint_resume_free (resume);
  m->kind = MSG_FINISHED;
  m->status = st;
  post (self, m);
  tagsight_train_settings_clear (&job->settings);
  g_free (job->checkpoint);
  g_free (job->run_started);
  g_free (job->resume_from);
  g_free (job->resume_started);
  g_object_unref (job->self);
  g_free (job);
  return NULL;
}

static gboolean
start_job (TagsightTraining *self, const TagsightTrainSettings *settings, const char *resume_from)
{
  TrainJob *job;
  /* continuing what the last run left: its checkpoint names that run */
  gboolean own_resumable = resume_from != NULL && g_strcmp0 (resume_from, self->resumable) == 0;

  g_return_val_if_fail (TAGSIGHT_IS_TRAINING (self), FALSE);
  if (self->busy)
    return FALSE;
  g_clear_pointer (&self->run_checkpoint, g_free);
  g_clear_pointer (&self->run_started, g_free);
  self->run_id = 0;
  g_signal_emit (self, signals[SIGNAL_STARTING], 0, settings);
  job = g_new0 (TrainJob, 1);
  /* else a project's run continued from its checkpoint (the Runs page's
   * Resume): the checkpoint must name the run the "starting" handler gave */
  job->resume_run = own_resumable ? self->resumable_run : self->run_id;
  job->resume_started = g_strdup (own_resumable ? self->resumable_started : self->run_started);
  set_busy (self, TRUE);
  self->has_model = FALSE;
  self->n_classes = 0;
  g_clear_pointer (&self->resumable, g_free);
  g_atomic_int_set (&self->stop_requested, 0);
  g_atomic_int_set (&self->stop_after_epoch, 0);
  g_atomic_int_set (&self->stop_at_batch, 0);
  g_atomic_int_set (&self->fail_at_batch, 0);
  self->batches_done = 0;
  job->self = g_object_ref (self);
  settings_copy (settings, &job->settings);
  job->checkpoint = g_steal_pointer (&self->run_checkpoint);
  job->run_id = self->run_id;
  job->run_started = g_steal_pointer (&self->run_started);
  job->resume_from = g_strdup (resume_from);
  self->thread = g_thread_new ("tagsight-train", train_thread, job);
  return TRUE;
}

gboolean
tagsight_training_start (TagsightTraining *self, const TagsightTrainSettings *settings)
{
  return start_job (self, settings, NULL);
}

gboolean
tagsight_training_resume (TagsightTraining *self, const TagsightTrainSettings *settings,
                          const char *checkpoint)
{
  g_return_val_if_fail (checkpoint != NULL, FALSE);
  return start_job (self, settings, checkpoint);
}

void
tagsight_training_stop_after_epoch (TagsightTraining *self)
{
  g_atomic_int_set (&self->stop_after_epoch, 1);
}

void
tagsight_training_stop_at_batch (TagsightTraining *self, int n)
{
  g_atomic_int_set (&self->stop_at_batch, n);
}

void
tagsight_training_fail_at_batch (TagsightTraining *self, int n, const char *message)
{
  g_free (self->fail_message);
  self->fail_message = g_strdup (message);
  /* a full barrier: the training thread reads the message after the count */
  g_atomic_int_set (&self->fail_at_batch, n);
}

void
tagsight_training_set_run_checkpoint (TagsightTraining *self, const char *path, gint64 run_id,
                                      const char *run_started)
{
  g_free (self->run_checkpoint);
  self->run_checkpoint = g_strdup (path);
  self->run_id = run_id;
  g_free (self->run_started);
  self->run_started = g_strdup (run_started);
}

char *
tagsight_training_dup_resumable (TagsightTraining *self)
{
  return g_strdup (self->resumable);
}

gint64
tagsight_training_get_resumable_run (TagsightTraining *self)
{
  return self->resumable != NULL ? self->resumable_run : 0;
}

gboolean
tagsight_training_dup_last_settings (TagsightTraining *self, TagsightTrainSettings *out)
{
  /* self->settings is the worker's while a job runs */
  if (self->busy || self->settings.csv == NULL)
    return FALSE;
  settings_copy (&self->settings, out);
  return TRUE;
}

void
tagsight_training_stop (TagsightTraining *self)
{
  if (!self->busy)
    return;
  g_atomic_int_set (&self->stop_requested, 1);
  /* a one-shot job (the LR finder, predictions) stops at its next batch */
  g_mutex_lock (&self->job_lock);
  if (self->job_learner != NULL)
    ts_learner_cancel (self->job_learner);
  g_mutex_unlock (&self->job_lock);
}

gboolean
tagsight_training_get_busy (TagsightTraining *self)
{
  return self->busy;
}

gboolean
tagsight_training_has_model (TagsightTraining *self)
{
  return self->has_model;
}

gboolean
tagsight_training_get_device_resample (TagsightTraining *self)
{
  gboolean on;

  g_mutex_lock (&self->job_lock);
  on = self->device_resample;
  g_mutex_unlock (&self->job_lock);
  return on;
}

long
tagsight_training_get_bf16_fallbacks (TagsightTraining *self)
{
  return self->bf16_fallbacks;
}

char *
tagsight_training_dup_device_name (TagsightTraining *self)
{
  char *name;

  g_mutex_lock (&self->job_lock);
  name = g_strdup (self->device_name);
  g_mutex_unlock (&self->job_lock);
  return name;
}

/* --- one-shot jobs ------------------------------------------------------ */

typedef enum { JOB_OPEN, JOB_LR_FIND, JOB_PREDS, JOB_SAVE } JobKind;

typedef struct {
  JobKind kind;
  TagsightTrainSettings settings;
  ts_lr_find_result lr;
  char *path;
  double best_thresh;
  float *class_thresh;
  gboolean onnx;
  GAsyncReadyCallback callback;
  gpointer user_data;
} Job;

static void
job_free (gpointer data)
{
  Job *job = data;

  tagsight_train_settings_clear (&job->settings);
  ts_lr_find_result_clear (&job->lr);
  g_free (job->path);
  g_free (job->class_thresh);
  g_free (job);
}

/* ts_onnx_export prepares the model for one image, which would take the
 * learner's buffers away: a copy read back from a model file is exported. */
static ts_status
export_onnx (TagsightTraining *self, Job *job)
{
#ifdef TS_HAVE_ONNX
  g_autofree char *tmp = g_strconcat (job->path, ".model-tmp.safetensors", NULL);
  ts_modelfile_meta meta = { 0 };
  ts_onnx_options o = { 0 };
  ts_backend *be;
  ts_model *m = NULL;
  ts_status st;

  if ((st = ts_session_save_model (&self->session, tmp, job->best_thresh,
                                   job->class_thresh)) != TS_OK)
    return st;
  if ((be = ts_backend_cpu_new (1)) == NULL)
    {
      g_unlink (tmp);
      return ts_error (TS_ERR_NOMEM, "could not start the CPU backend");
    }
  if ((st = ts_modelfile_load (tmp, be, &m, &meta)) == TS_OK)
    {
      o.sigmoid = 1;
      o.input_height = meta.input_height;
      o.input_width = meta.input_width;
      o.norm = meta.norm;
      /* fastai's validation transform: squish to size + val_xtra, centre crop */
      o.squish_size = meta.input_height + ts_tfm_val_xtra (meta.input_height);
      o.vocab = (const char *const *) meta.vocab;
      o.n_vocab = meta.n_vocab;
      o.threshold = meta.has_best_threshold ? meta.best_threshold : meta.threshold;
      o.class_thresholds = meta.class_thresholds;
      o.recipe_json = meta.recipe_json;
      st = ts_onnx_export (m, &o, job->path);
    }
  ts_modelfile_meta_clear (&meta);
  ts_model_free (m);
  ts_backend_free (be);
  g_unlink (tmp);
  return st;
#else
  return ts_error (TS_ERR_UNSUPPORTED, "%s: this Tagsight was built without ONNX export",
                   job->path);
#endif
}

gboolean
tagsight_training_can_export_onnx (void)
{
#ifdef TS_HAVE_ONNX
  return TRUE;
#else
  return FALSE;
#endif
}

static void
on_job_cancelled (GCancellable *cancellable, gpointer data)
{
  TagsightTraining *self = data;

  g_atomic_int_set (&self->stop_requested, 1);
  g_mutex_lock (&self->job_lock);
  if (self->job_learner != NULL)
    ts_learner_cancel (self->job_learner);
  g_mutex_unlock (&self->job_lock);
}

/* Makes @learner the one Stop and @cancellable cancel while the job runs;
 * NULL ends that.  Returns the handler to pass back when ending. */
static gulong
watch_learner (TagsightTraining *self, ts_learner *learner, GCancellable *cancellable,
               gulong handler)
{
  if (learner == NULL && cancellable != NULL && handler != 0)
    g_cancellable_disconnect (cancellable, handler);   /* waits for a running handler */
  g_mutex_lock (&self->job_lock);
  self->job_learner = learner;
  /* a Stop that came before the learner existed */
  if (learner != NULL && g_atomic_int_get (&self->stop_requested))
    ts_learner_cancel (learner);
  g_mutex_unlock (&self->job_lock);
  if (learner != NULL && cancellable != NULL)
    return g_cancellable_connect (cancellable, G_CALLBACK (on_job_cancelled), self, NULL);
  return 0;
}

/* A session opened from a model file (Results, Open Model…): the file is read
 * again and run over the validation items the way the CLI's thresholds does
 * (ts_model_get_preds), leaving the session's model and learner untouched. */
static ts_status
model_file_preds (TagsightTraining *self, GCancellable *cancellable, TagsightPreds *p)
{
  int threads = self->settings.threads > 0 ? self->settings.threads
                                           : (int) g_get_num_processors ();
  ts_modelfile_meta meta = { 0 };
  ts_preds pr = { 0 };
  ts_backend *be;
  ts_model *m = NULL;
  ts_status st;
  gulong handler = 0;

  if ((be = ts_backend_cpu_new (threads)) == NULL)
    return ts_error (TS_ERR_NOMEM, "could not start the CPU backend");
  if ((st = ts_modelfile_load (self->settings.model_file, be, &m, &meta)) == TS_OK)
    {
      if (cancellable != NULL)
        handler = g_cancellable_connect (cancellable, G_CALLBACK (on_job_cancelled), self, NULL);
      st = ts_model_get_preds (m, &meta, self->session.db, TS_PREDS_VALID, self->settings.bs,
                               threads, &self->stop_requested, &pr);
      if (cancellable != NULL)
        g_cancellable_disconnect (cancellable, handler);
    }
  if (st == TS_OK)
    {
      p->probs = g_steal_pointer (&pr.probs);
      p->targets = g_steal_pointer (&pr.targets);
      p->n = pr.n;
      p->loss = pr.loss;
      p->n_classes = meta.n_vocab;
      p->vocab = g_new0 (char *, meta.n_vocab + 1);
      for (int k = 0; k < meta.n_vocab; k++)
        p->vocab[k] = g_strdup (meta.vocab[k]);
      p->thresh = meta.threshold;
    }
  ts_preds_clear (&pr);
  ts_modelfile_meta_clear (&meta);
  ts_model_free (m);
  ts_backend_free (be);
  return st;
}

static void
job_done (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  TagsightTraining *self = source_object;
  Job *job = task_data;
  ts_status st = TS_OK;

  switch (job->kind)
    {
    case JOB_OPEN:
      st = reopen (self, &job->settings);
      self->evaluating_file = st == TS_OK && self->settings.model_file != NULL
                              && *self->settings.model_file;
      break;
    case JOB_LR_FIND:
      {
        /* a session of its own: the trained one, if any, stays as it is */
        ts_datablock_config dbc;
        ts_session_config cfg;
        ts_session session;

        make_config (&job->settings, &dbc, &cfg);
        if ((st = open_session (&cfg, &session)) == TS_OK)
          {
            ts_lr_find_config lcfg;
            gulong handler;

            ts_lr_find_config_init (&lcfg);
            /* as the CLI: vision_learner freezes a pretrained body; a model
             * from scratch sweeps unfrozen */
            if (cfg.pretrained != NULL)
              ts_learner_freeze (session.learner);
            handler = watch_learner (self, session.learner, cancellable, 0);
            st = ts_learner_lr_find (session.learner, &lcfg, &job->lr);
            watch_learner (self, NULL, cancellable, handler);
            if (st != TS_OK)
              {
                g_autofree char *msg = g_strdup (ts_last_error ());

                ts_session_close (&session);
                ts_error (st, "%s", msg);
              }
            else
              ts_session_close (&session);
          }
        break;
      }
    case JOB_PREDS:
      {
        TagsightPreds *p = g_new0 (TagsightPreds, 1);
        const ts_datablock *db = self->session.db;

        if (!self->open)
          st = ts_error (TS_ERR_INVALID, "no model");
        else if (db->n_valid == 0)
          st = ts_error (TS_ERR_INVALID, "%s: no validation images", self->settings.csv);
        else if (self->evaluating_file)
          {
            if ((st = model_file_preds (self, cancellable, p)) == TS_OK)
              {
                g_task_return_pointer (task, p, (GDestroyNotify) tagsight_preds_free);
                return;
              }
          }
        else
          {
            gulong handler;

            /* the cancel of a stopped training run is not this job's */
            ts_learner_reset_cancel (self->session.learner);
            handler = watch_learner (self, self->session.learner, cancellable, 0);
            st = ts_learner_get_preds (self->session.learner, NULL, &p->probs, &p->targets,
                                       NULL, &p->n, &p->loss);
            watch_learner (self, NULL, cancellable, handler);
            /* a stopped get_preds must not leave the learner cancelled */
            ts_learner_reset_cancel (self->session.learner);
          }
        if (st != TS_OK)
          {
            tagsight_preds_free (p);
            break;
          }
        p->n_classes = db->n_vocab;
        p->vocab = g_new0 (char *, db->n_vocab + 1);
        for (int k = 0; k < db->n_vocab; k++)
          p->vocab[k] = g_strdup (db->vocab[k]);
        p->thresh = self->settings.thresh;
        g_task_return_pointer (task, p, (GDestroyNotify) tagsight_preds_free);
        return;
      }
    case JOB_SAVE:
      if (!self->open)
        st = ts_error (TS_ERR_INVALID, "no model to save");
      else if (job->onnx)
        st = export_onnx (self, job);
      else
        st = ts_session_save_model (&self->session, job->path, job->best_thresh,
                                    job->class_thresh);
      break;
    }
  if (st != TS_OK)
    g_task_return_new_error (task, TAGSIGHT_TRAINING_ERROR, st, "%s", ts_last_error ());
  else
    g_task_return_boolean (task, TRUE);
}

/* busy ends before the caller's callback, so that it may start the next job */
static void
on_job_returned (GObject *source, GAsyncResult *result, gpointer data)
{
  Job *job = g_task_get_task_data (G_TASK (result));

  sync_main_view (TAGSIGHT_TRAINING (source));
  if (job->callback != NULL)
    job->callback (source, result, job->user_data);
}

static void
run_job (TagsightTraining *self, Job *job, GCancellable *cancellable,
         GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;

  job->callback = callback;
  job->user_data = user_data;
  if (self->busy)
    {
      task = g_task_new (self, cancellable, callback, user_data);
      g_task_set_task_data (task, job, job_free);
      g_task_return_new_error (task, TAGSIGHT_TRAINING_ERROR, TS_ERR_INVALID, "%s",
                               _("Busy: wait for the running job or stop it"));
      return;
    }
  set_busy (self, TRUE);
  g_atomic_int_set (&self->stop_requested, 0);
  if (job->kind == JOB_OPEN)
    {
      /* the session is being replaced: its model, and the last run's
       * checkpoint, no longer belong to it (kept when refused as busy) */
      self->has_model = FALSE;
      self->n_classes = 0;
      g_clear_pointer (&self->resumable, g_free);
    }
  task = g_task_new (self, cancellable, on_job_returned, NULL);
  g_task_set_task_data (task, job, job_free);
  g_task_set_return_on_cancel (task, FALSE);
  g_task_run_in_thread (task, job_done);
}

void
tagsight_training_open_async (TagsightTraining *self, const TagsightTrainSettings *settings,
                              GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
  Job *job = g_new0 (Job, 1);

  job->kind = JOB_OPEN;
  settings_copy (settings, &job->settings);
  run_job (self, job, cancellable, callback, user_data);
}

gboolean
tagsight_training_open_finish (TagsightTraining *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
tagsight_training_lr_find_async (TagsightTraining *self, const TagsightTrainSettings *settings,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  Job *job = g_new0 (Job, 1);

  job->kind = JOB_LR_FIND;
  settings_copy (settings, &job->settings);
  run_job (self, job, cancellable, callback, user_data);
}

const ts_lr_find_result *
tagsight_training_lr_find_finish (TagsightTraining *self, GAsyncResult *result, GError **error)
{
  Job *job = g_task_get_task_data (G_TASK (result));

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return NULL;
  return &job->lr;
}

void
tagsight_training_get_preds_async (TagsightTraining *self, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data)
{
  Job *job = g_new0 (Job, 1);

  job->kind = JOB_PREDS;
  run_job (self, job, cancellable, callback, user_data);
}

TagsightPreds *
tagsight_training_get_preds_finish (TagsightTraining *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Save and ONNX export differ by one flag.  Only main-thread state is read
 * here: while busy, a job's thread may be replacing the session (run_job
 * then answers Busy). */
static void
save_job (TagsightTraining *self, const char *path, gboolean onnx, double best_thresh,
          const float *class_thresh, GCancellable *cancellable, GAsyncReadyCallback callback,
          gpointer user_data)
{
  Job *job = g_new0 (Job, 1);

  job->kind = JOB_SAVE;
  job->onnx = onnx;
  job->path = g_strdup (path);
  job->best_thresh = best_thresh;
  if (class_thresh != NULL && !self->busy && self->has_model)
    job->class_thresh = g_memdup2 (class_thresh, sizeof (float) * self->n_classes);
  run_job (self, job, cancellable, callback, user_data);
}

void
tagsight_training_save_async (TagsightTraining *self, const char *path, double best_thresh,
                              const float *class_thresh, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  save_job (self, path, FALSE, best_thresh, class_thresh, cancellable, callback, user_data);
}

void
tagsight_training_export_onnx_async (TagsightTraining *self, const char *path, double best_thresh,
                                     const float *class_thresh, GCancellable *cancellable,
                                     GAsyncReadyCallback callback, gpointer user_data)
{
  save_job (self, path, TRUE, best_thresh, class_thresh, cancellable, callback, user_data);
}

gboolean
tagsight_training_save_finish (TagsightTraining *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- boilerplate ------------------------------------------------------- */

static void
tagsight_training_finalize (GObject *object)
{
  TagsightTraining *self = TAGSIGHT_TRAINING (object);

  /* every job holds a reference: nothing runs by now */
  if (self->open)
    ts_session_close (&self->session);
  tagsight_train_settings_clear (&self->settings);
  g_unlink (self->checkpoint);   /* the scratch file, if a run left it */
  g_free (self->checkpoint);
  g_free (self->device_name);
  g_free (self->fail_message);
  g_free (self->run_checkpoint);
  g_free (self->run_started);
  g_free (self->resumable);
  g_free (self->resumable_started);
  g_mutex_clear (&self->job_lock);
  G_OBJECT_CLASS (tagsight_training_parent_class)->finalize (object);
}

static void
tagsight_training_get_property (GObject *object, guint prop_id, GValue *value,
                                GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_BUSY:
      g_value_set_boolean (value, TAGSIGHT_TRAINING (object)->busy);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
tagsight_training_class_init (TagsightTrainingClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = tagsight_training_finalize;
  G_OBJECT_CLASS (klass)->get_property = tagsight_training_get_property;
  props[PROP_BUSY] = g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                                           G_PARAM_READABLE | G_PARAM_STATIC_STRINGS
                                           | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (G_OBJECT_CLASS (klass), N_PROPS, props);

  signals[SIGNAL_PHASE] = g_signal_new ("phase", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                        0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIGNAL_BATCH] = g_signal_new ("batch", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                        0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIGNAL_EPOCH] = g_signal_new ("epoch", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                        0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  signals[SIGNAL_STARTING] = g_signal_new ("starting", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                           1, G_TYPE_POINTER);
  signals[SIGNAL_FINISHED] = g_signal_new ("finished", G_TYPE_FROM_CLASS (klass),
                                           G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL, G_TYPE_NONE,
                                           2, G_TYPE_INT, G_TYPE_STRING);
}

static void
tagsight_training_init (TagsightTraining *self)
{
  static int counter;
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "tagsight", NULL);
  g_autofree char *name = g_strdup_printf ("epoch-%d-%d.ckpt", (int) getpid (),
                                           g_atomic_int_add (&counter, 1));

  g_mutex_init (&self->job_lock);
  g_mkdir_with_parents (dir, 0700);
  self->checkpoint = g_build_filename (dir, name, NULL);
}

TagsightTraining *
tagsight_training_new (void)
{
  return g_object_new (TAGSIGHT_TYPE_TRAINING, NULL);
}
