/* ts-checkpoint.c: epoch-boundary checkpoints and exact resume. */
#include "ts-checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ts-atomic-write.h"
#include "ts-learner-private.h"
#include "ts-safetensors.h"
/* The dropout counter is the model's only RNG state and ts-model.h has no
 * accessor for it yet; read it from the engine's model struct. */
#include "../engine/models/ts-model-private.h"

struct ts_checkpoint_resume {
  ts_optimizer_snapshot *opt;
};

/* --- names --- */

static char *
tensor_key (const char *kind, const char *name)
{
  size_t n = strlen (kind) + strlen (name) + 2;
  char *s = malloc (n);
  if (s)
    snprintf (s, n, "%s/%s", kind, name);
  return s;
}

/* Every tensor of a checkpoint: parameters, buffers, then the Adam state. */
typedef struct {
  int n;
  char **names;
  ts_tensor **tensors;
} ckpt_layout;

static void
layout_clear (ckpt_layout *lay)
{
  for (int i = 0; i < lay->n; i++)
    free (lay->names[i]);
  free (lay->names);
  free (lay->tensors);
  memset (lay, 0, sizeof *lay);
}

static ts_status
layout_build (ts_learner *l, ckpt_layout *lay)
{
  ts_model *m = l->model;
  int np = ts_model_n_params (m), nb = ts_model_n_buffers (m);
  int no = ts_optimizer_n_params (l->opt);
  int cap = np + nb + 2 * no, k = 0;

  memset (lay, 0, sizeof *lay);
  if (no != np)
    return ts_error (TS_ERR_INVALID, "checkpoint: the optimizer has %d parameters, the model %d",
                     no, np);
  lay->names = calloc ((size_t) cap + 1, sizeof *lay->names);
  lay->tensors = calloc ((size_t) cap + 1, sizeof *lay->tensors);
  if (!lay->names || !lay->tensors)
    goto nomem;
  for (int i = 0; i < np; i++, k++)
    {
      lay->names[k] = tensor_key ("param", ts_model_param (m, i)->name);
      lay->tensors[k] = ts_model_param (m, i)->value;
      lay->n = k + 1;
      if (!lay->names[k])
        goto nomem;
    }
  for (int i = 0; i < nb; i++, k++)
    {
      lay->names[k] = tensor_key ("buffer", ts_model_buffer (m, i)->name);
      lay->tensors[k] = ts_model_buffer (m, i)->value;
      lay->n = k + 1;
      if (!lay->names[k])
        goto nomem;
    }
  for (int i = 0; i < no; i++)
    {
      const char *name = ts_model_param (m, i)->name;
      lay->names[k] = tensor_key ("adam.grad_avg", name);
      lay->tensors[k] = ts_optimizer_grad_avg (l->opt, i);
      lay->n = ++k;
      lay->names[k] = tensor_key ("adam.sqr_avg", name);
      lay->tensors[k] = ts_optimizer_sqr_avg (l->opt, i);
      lay->n = ++k;
      if (!lay->names[k - 1] || !lay->names[k - 2])
        goto nomem;
    }
  return TS_OK;

nomem:
  layout_clear (lay);
  return ts_error (TS_ERR_NOMEM, "checkpoint: out of memory");
}

/* --- saving --- */

ts_status
ts_checkpoint_save (ts_learner *l, const char *path, const ts_checkpoint_pos *pos,
                    const char *const *meta_kv, int n_meta)
{
  enum { N_OWN = 9 };
  ckpt_layout lay;
  ts_st_tensor *st_t = NULL;
  float **host = NULL;
  const char **kv = NULL;
  char vals[N_OWN][64], *steps = NULL;
  int np = ts_model_n_params (l->model);
  size_t steps_len = 0, steps_cap = (size_t) np * 12 + 2;
  ts_status st;

  if ((st = layout_build (l, &lay)) != TS_OK)
    return ts_error_prefix (st, "%s", path);
  st_t = calloc ((size_t) lay.n + 1, sizeof *st_t);
  host = calloc ((size_t) lay.n + 1, sizeof *host);
  kv = calloc ((size_t) 2 * (N_OWN + 1 + (n_meta > 0 ? n_meta : 0)), sizeof *kv);
  steps = malloc (steps_cap);
  if (!st_t || !host || !kv || !steps)
    {
      st = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
      goto out;
    }
  for (int i = 0; i < lay.n; i++)
    {
      ts_tensor *t = lay.tensors[i];
      host[i] = malloc ((size_t) (t->numel > 0 ? t->numel : 1) * sizeof (float));
      if (!host[i])
        {
          st = ts_error (TS_ERR_NOMEM, "%s: out of memory for %s", path, lay.names[i]);
          goto out;
        }
      if ((st = ts_tensor_to_host (t, host[i], t->numel)) != TS_OK)
        {
          st = ts_error_prefix (st, "%s: %s", path, lay.names[i]);
          goto out;
        }
      st_t[i].name = lay.names[i];
      st_t[i].ndim = t->ndim;
      st_t[i].shape = t->shape;
      st_t[i].data = host[i];
    }
  steps[0] = '\0';
  for (int i = 0; i < np; i++)
    steps_len += (size_t) snprintf (steps + steps_len, steps_cap - steps_len, "%s%d",
                                    i ? " " : "", ts_optimizer_param_step (l->opt, i));

  /* %a keeps the double exact: the resumed smoothed loss is bit for bit the same */
  snprintf (vals[0], sizeof vals[0], "%s", TS_CHECKPOINT_FORMAT);
  snprintf (vals[1], sizeof vals[1], "%d", TS_CHECKPOINT_VERSION);
  snprintf (vals[2], sizeof vals[2], "%d", pos->phase);
  snprintf (vals[3], sizeof vals[3], "%d", pos->epoch);
  snprintf (vals[4], sizeof vals[4], "%d", pos->epochs_seen);
  snprintf (vals[5], sizeof vals[5], "%" PRIu64, pos->dropout_counter);
  snprintf (vals[6], sizeof vals[6], "%a", pos->smooth_val);
  snprintf (vals[7], sizeof vals[7], "%d", pos->smooth_count);
  snprintf (vals[8], sizeof vals[8], "%s", ts_model_arch (l->model));
  {
    static const char *const keys[N_OWN] = {
      "format", "version", "phase", "epoch", "epochs_seen", "dropout_counter", "smooth_val",
      "smooth_count", "arch",
    };
    int k = 0;
    for (int i = 0; i < N_OWN; i++)
      {
        kv[k++] = keys[i];
        kv[k++] = vals[i];
      }
    kv[k++] = "adam_steps";
    kv[k++] = steps;
    for (int i = 0; i < n_meta; i++)
      {
        kv[k++] = meta_kv[2 * i];
        kv[k++] = meta_kv[2 * i + 1];
      }
    st = ts_safetensors_write (path, st_t, lay.n, kv, k / 2);
  }

out:
  if (host)
    for (int i = 0; i < lay.n; i++)
      free (host[i]);
  free (host);
  free (st_t);
  free (kv);
  free (steps);
  layout_clear (&lay);
  return st;
}

/* --- reading --- */

static ts_status
meta_int64 (const ts_safetensors *sf, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
  const char *v = ts_safetensors_meta (sf, key);
  char *end;
  long long x;

  if (!v)
    return ts_error (TS_ERR_FORMAT, "%s: checkpoint metadata has no \"%s\"", sf->path, key);
  errno = 0;
  x = strtoll (v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi)
    return ts_error (TS_ERR_FORMAT, "%s: checkpoint metadata \"%s\" is \"%s\"", sf->path, key, v);
  *out = x;
  return TS_OK;
}

static ts_status
read_pos (const ts_safetensors *sf, ts_checkpoint_pos *pos)
{
  const char *fmt = ts_safetensors_meta (sf, "format"), *sv, *dc;
  int64_t v;
  char *end;
  ts_status st;

  memset (pos, 0, sizeof *pos);
  if (!fmt || strcmp (fmt, TS_CHECKPOINT_FORMAT) != 0)
    return ts_error (TS_ERR_FORMAT, "%s: not a Tagsight checkpoint (format \"%s\")", sf->path,
                     fmt ? fmt : "");
  if ((st = meta_int64 (sf, "version", 0, INT32_MAX, &v)) != TS_OK)
    return st;
  if (v > TS_CHECKPOINT_VERSION)
    return ts_error (TS_ERR_UNSUPPORTED, "%s: checkpoint version %d is newer than this "
                     "Tagsight's (%d)", sf->path, (int) v, TS_CHECKPOINT_VERSION);
  if ((st = meta_int64 (sf, "phase", 0, 64, &v)) != TS_OK)
    return st;
  pos->phase = (int) v;
  if ((st = meta_int64 (sf, "epoch", 0, INT32_MAX, &v)) != TS_OK)
    return st;
  pos->epoch = (int) v;
  if ((st = meta_int64 (sf, "epochs_seen", 0, INT32_MAX, &v)) != TS_OK)
    return st;
  pos->epochs_seen = (int) v;
  if ((st = meta_int64 (sf, "smooth_count", 0, INT32_MAX, &v)) != TS_OK)
    return st;
  pos->smooth_count = (int) v;
  dc = ts_safetensors_meta (sf, "dropout_counter");
  errno = 0;
  if (!dc || (pos->dropout_counter = strtoull (dc, &end, 10), errno || end == dc || *end))
    return ts_error (TS_ERR_FORMAT, "%s: checkpoint metadata \"dropout_counter\" is missing or "
                     "invalid", sf->path);
  sv = ts_safetensors_meta (sf, "smooth_val");
  if (!sv || (pos->smooth_val = strtod (sv, &end), end == sv || *end))
    return ts_error (TS_ERR_FORMAT, "%s: checkpoint metadata \"smooth_val\" is missing or "
                     "invalid", sf->path);
  return TS_OK;
}

ts_status
ts_checkpoint_read_meta (const char *path, ts_checkpoint_pos *pos, const char *const *keys,
                         char **values, int n)
{
  ts_safetensors *sf;
  ts_status st;

  for (int i = 0; i < n; i++)
    values[i] = NULL;
  if ((st = ts_safetensors_open (path, &sf)) != TS_OK)
    return st;
  st = read_pos (sf, pos);
  for (int i = 0; i < n && st == TS_OK; i++)
    {
      const char *v = ts_safetensors_meta (sf, keys[i]);
      if (v && !(values[i] = strdup (v)))
        st = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
    }
  if (st != TS_OK)
    for (int i = 0; i < n; i++)
      {
        free (values[i]);
        values[i] = NULL;
      }
  ts_safetensors_free (sf);
  return st;
}

ts_status
ts_checkpoint_read_pos (const char *path, ts_checkpoint_pos *pos, const char *meta_key,
                        char **meta_value)
{
  char *unused = NULL;

  if (meta_key && meta_value)
    return ts_checkpoint_read_meta (path, pos, &meta_key, meta_value, 1);
  return ts_checkpoint_read_meta (path, pos, NULL, &unused, 0);
}

/* "2025-03-01T10:00:00.123456Z" (the store's UTC times) in seconds since
 * the epoch; -1 when @iso is not such a time. */
static double
iso8601_utc_seconds (const char *iso)
{
  struct tm tm = { 0 };
  double sec;
  int n = 0;

  if (!iso || sscanf (iso, "%d-%d-%dT%d:%d:%lf%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                      &tm.tm_hour, &tm.tm_min, &sec, &n) != 6 || iso[n] != 'Z')
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  tm.tm_sec = (int) sec;
  return (double) timegm (&tm) + (sec - (int) sec);
}

static ts_checkpoint_owner
owner_without_start (const char *path, const char *run_started)
{
  double started = iso8601_utc_seconds (run_started);
  struct stat sb;

  /* nothing to compare with: the number is all there is */
  if (started < 0 || stat (path, &sb) != 0)
    return TS_CHECKPOINT_OWNED;
  return (double) sb.st_mtim.tv_sec + sb.st_mtim.tv_nsec / 1e9 + 2.0 < started
         ? TS_CHECKPOINT_OLDER_THAN_RUN : TS_CHECKPOINT_OWNED;
}

/* Why @out is not the checkpoint of run @run (TS_ERR_INVALID), or TS_OK. */
static ts_status
owner_error (const char *path, const char *run, const char *run_started,
             const ts_checkpoint_owner_info *out)
{
  switch (out->owner)
    {
    case TS_CHECKPOINT_OWNED:
      return TS_OK;
    case TS_CHECKPOINT_OTHER_RUN:
      if (!*out->run)
        return ts_error (TS_ERR_INVALID, "%s belongs to no run, not to run %s", path, run);
      return ts_error (TS_ERR_INVALID, "%s belongs to run %s, not to run %s", path, out->run,
                       run);
    case TS_CHECKPOINT_OTHER_START:
      /* TRANSLATORS: checkpoint file, run number, two start times (ISO 8601) */
      return ts_error (TS_ERR_INVALID, "%s belongs to another run %s (started %s; this one "
                       "started %s)", path, out->run, out->run_started, run_started);
    case TS_CHECKPOINT_OLDER_THAN_RUN:
    default:
      /* TRANSLATORS: checkpoint file, run number, its start time (ISO 8601) */
      return ts_error (TS_ERR_INVALID, "%s was written before run %s started (%s): it belongs "
                       "to another run", path, run, run_started);
    }
}

ts_status
ts_checkpoint_check_owner (const char *path, const char *run, const char *run_started,
                           ts_checkpoint_pos *pos, ts_checkpoint_owner_info *out)
{
  static const char *const keys[2] = { TS_CHECKPOINT_META_RUN, TS_CHECKPOINT_META_RUN_STARTED };
  char *found[2] = { NULL, NULL };
  ts_status st = ts_checkpoint_read_meta (path, pos, keys, found, 2);

  memset (out, 0, sizeof *out);
  if (st != TS_OK)
    return st;
  snprintf (out->run, sizeof out->run, "%s", found[0] ? found[0] : "");
  snprintf (out->run_started, sizeof out->run_started, "%s", found[1] ? found[1] : "");
  if (!found[0] || !run || strcmp (found[0], run) != 0)
    out->owner = TS_CHECKPOINT_OTHER_RUN;
  else if (found[1] && *found[1])
    out->owner = run_started && strcmp (found[1], run_started) == 0 ? TS_CHECKPOINT_OWNED
                 : TS_CHECKPOINT_OTHER_START;
  else
    out->owner = owner_without_start (path, run_started);
  free (found[0]);
  free (found[1]);
  return owner_error (path, run, run_started, out);
}

void
ts_checkpoint_resume_free (ts_checkpoint_resume *r)
{
  if (!r)
    return;
  ts_optimizer_snapshot_free (r->opt);
  free (r);
}

ts_status
ts_checkpoint_load (const char *path, ts_learner *l, ts_checkpoint_pos *pos,
                    ts_checkpoint_resume **out)
{
  ts_safetensors *sf = NULL;
  ckpt_layout lay = { 0 };
  ts_checkpoint_resume *r = NULL;
  float *buf = NULL;
  const char *arch, *steps;
  int np = ts_model_n_params (l->model);
  ts_status st;

  *out = NULL;
  if ((st = ts_safetensors_open (path, &sf)) != TS_OK)
    return st;
  if ((st = read_pos (sf, pos)) != TS_OK)
    goto out;
  arch = ts_safetensors_meta (sf, "arch");
  if (!arch || strcmp (arch, ts_model_arch (l->model)) != 0)
    {
      st = arch ? ts_error (TS_ERR_INVALID, "%s: the checkpoint is of a %s, the model a %s",
                            path, arch, ts_model_arch (l->model))
                : ts_error (TS_ERR_INVALID, "%s: the checkpoint names no architecture, the "
                            "model is a %s", path, ts_model_arch (l->model));
      goto out;
    }
  if ((st = layout_build (l, &lay)) != TS_OK)
    goto out;
  if (sf->n_entries != lay.n)
    {
      st = ts_error (TS_ERR_FORMAT, "%s: %d tensors, the learner needs %d", path,
                     sf->n_entries, lay.n);
      goto out;
    }
  /* check every tensor before touching the model: a bad file changes nothing */
  for (int i = 0; i < lay.n; i++)
    {
      const ts_st_entry *e = ts_safetensors_find (sf, lay.names[i]);
      if (!e)
        {
          st = ts_error (TS_ERR_FORMAT, "%s: tensor %s is missing", path, lay.names[i]);
          goto out;
        }
      if (e->numel != lay.tensors[i]->numel)
        {
          st = ts_error (TS_ERR_SHAPE, "%s: tensor %s has %" PRId64 " values, the model %"
                         PRId64, path, lay.names[i], e->numel, lay.tensors[i]->numel);
          goto out;
        }
    }
  steps = ts_safetensors_meta (sf, "adam_steps");
  {
    const char *p = steps;
    for (int i = 0; p && i < np; i++)
      {
        char *end;
        long v = strtol (p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX)
          {
            p = NULL;
            break;
          }
        p = end;
      }
    if (!p || *p)
      {
        st = ts_error (TS_ERR_FORMAT, "%s: checkpoint metadata \"adam_steps\" does not hold "
                       "%d step counts", path, np);
        goto out;
      }
  }

  for (int i = 0; i < lay.n; i++)
    {
      const ts_st_entry *e = ts_safetensors_find (sf, lay.names[i]);
      free (buf);
      buf = malloc ((size_t) (e->numel > 0 ? e->numel : 1) * sizeof (float));
      if (!buf)
        {
          st = ts_error (TS_ERR_NOMEM, "%s: out of memory for %s", path, lay.names[i]);
          goto out;
        }
      if ((st = ts_safetensors_read_f32 (sf, e, buf, e->numel)) != TS_OK
          || (st = ts_tensor_from_host (lay.tensors[i], buf, e->numel)) != TS_OK)
        {
          st = ts_error_prefix (st, "%s: %s", path, lay.names[i]);
          goto out;
        }
    }
  {
    const char *p = steps;
    for (int i = 0; i < np; i++)
      {
        char *end;
        ts_optimizer_set_param_step (l->opt, i, (int) strtol (p, &end, 10));
        p = end;
      }
  }
  l->model->dropout_counter = pos->dropout_counter;
  l->epochs_seen = pos->epochs_seen;

  /* fine_tune's freeze/unfreeze may clear the Adam state (clear_state_on_freeze):
   * the fit puts this copy back when it reaches the resume point */
  r = calloc (1, sizeof *r);
  if (!r)
    {
      st = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
      goto out;
    }
  if ((st = ts_optimizer_snapshot_new (l->opt, &r->opt)) != TS_OK)
    goto out;
  l->resume_set = 1;
  l->resume_phase = pos->phase;
  l->resume_epoch = pos->epoch;
  l->resume_smooth_val = pos->smooth_val;
  l->resume_smooth_count = pos->smooth_count;
  l->resume_opt = r->opt;
  *out = r;
  r = NULL;

out:
  ts_checkpoint_resume_free (r);
  free (buf);
  layout_clear (&lay);
  ts_safetensors_free (sf);
  return st;
}

/* --- the epoch-end writer --- */

static void
ck_phase_begin (void *user, const ts_phase_event *ev)
{
  ts_checkpointer *c = user;

  /* fit_phase resets its AvgSmoothLoss at each phase, except the one resumed */
  if (!(c->phase == -2 - ev->phase))
    {
      c->smooth_val = 0.0;
      c->smooth_count = 0;
    }
  c->phase = ev->phase;
  if (c->inner.phase_begin)
    c->inner.phase_begin (c->inner.user, ev);
}

static void
ck_batch_end (void *user, const ts_batch_event *ev)
{
  ts_checkpointer *c = user;

  /* the same arithmetic as ts_smooth_loss_add, so the saved state is exact */
  c->smooth_count++;
  c->smooth_val = ev->loss + c->smooth_beta * (c->smooth_val - ev->loss);
  if (c->inner.batch_end)
    c->inner.batch_end (c->inner.user, ev);
}

static ts_status ck_lock (ts_checkpointer *c);

static void
ck_epoch_end (void *user, const ts_epoch_event *ev)
{
  ts_checkpointer *c = user;
  ts_checkpoint_pos pos = { 0 };
  ts_status st;

  /* the epoch is recorded first: a crash in between leaves a checkpoint one
   * epoch older, and a resume from it deletes and redoes that epoch's rows */
  if (c->inner.epoch_end)
    c->inner.epoch_end (c->inner.user, ev);
  pos.phase = ev->phase;
  pos.epoch = ev->epoch + 1;
  pos.epochs_seen = c->learner->epochs_seen;
  pos.dropout_counter = c->learner->model->dropout_counter;
  pos.smooth_val = c->smooth_val;
  pos.smooth_count = c->smooth_count;
  st = c->lock_pending ? ck_lock (c) : TS_OK;
  if (st == TS_OK)
    st = ts_checkpoint_save (c->learner, c->path, &pos, c->meta_kv, c->n_meta);
  if (st != TS_OK)
    {
      c->save_status = st;
      snprintf (c->save_error, sizeof c->save_error, "%s", ts_last_error ());
    }
  else
    c->n_saved++;
}

static void
ck_finished (void *user, ts_status status)
{
  ts_checkpointer *c = user;
  if (c->inner.finished)
    c->inner.finished (c->inner.user, status);
}

static void
ck_failed (void *user, ts_status status, const char *message)
{
  ts_checkpointer *c = user;
  if (c->inner.failed)
    c->inner.failed (c->inner.user, status, message);
}

static char *
lock_path_of (const char *path)
{
  size_t n = strlen (path) + 6;
  char *lp = malloc (n);

  if (lp)
    snprintf (lp, n, "%s.lock", path);
  return lp;
}

ts_status
ts_checkpoint_lock (const char *path, int *fd_out)
{
  char *lock_path = lock_path_of (path);
  ts_status st = TS_OK;

  *fd_out = -1;
  if (!lock_path)
    return ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
  /* a holder that finished removes the file: what was opened before that
   * is no longer the lock, so try again on the new file */
  for (int attempt = 0; attempt < 16; attempt++)
    {
      struct stat held, now;
      char pid[32];
      int fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

      if (fd < 0)
        break;   /* no lock can be made here (a read-only folder): unlocked */
      if (flock (fd, LOCK_EX | LOCK_NB) != 0)
        {
          int err = errno;
          ssize_t n;

          if (err != EWOULDBLOCK)
            {
              close (fd);
              break;   /* no locks on this file system (ENOLCK): unlocked */
            }
          n = pread (fd, pid, sizeof pid - 1, 0);
          close (fd);
          pid[n > 0 ? n : 0] = '\0';
          pid[strcspn (pid, "\n")] = '\0';
          st = *pid ? ts_error (TS_ERR_IO, "%s: another process (pid %s) is training with "
                                "this checkpoint (the run is in progress; stop it first)",
                                path, pid)
                    : ts_error (TS_ERR_IO, "%s: another process is training with this "
                                "checkpoint (the run is in progress; stop it first)", path);
          break;
        }
      if (fstat (fd, &held) == 0 && stat (lock_path, &now) == 0
          && held.st_dev == now.st_dev && held.st_ino == now.st_ino)
        {
          int len = snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());

          /* the pid is only for the message: a failed write is no failure */
          if (ftruncate (fd, 0) == 0)
            {
              ssize_t w = pwrite (fd, pid, (size_t) len, 0);
              (void) w;
            }
          *fd_out = fd;
          break;
        }
      close (fd);
    }
  free (lock_path);
  return st;
}

void
ts_checkpoint_unlock (const char *path, int fd)
{
  char *lock_path;

  if (fd < 0)
    return;
  /* removed while still held: a process waiting on this file retries */
  if ((lock_path = lock_path_of (path)) != NULL)
    unlink (lock_path);
  free (lock_path);
  close (fd);
}

/* Takes @c's lock and, holding it, removes what a write killed midway left. */
static ts_status
ck_lock (ts_checkpointer *c)
{
  ts_status st = ts_checkpoint_lock (c->path, &c->lock_fd);

  /* taken (or no lock can be made here): done; refused (another process
   * writes this checkpoint): asked again at the next save, never skipped */
  if (st != TS_OK)
    return st;
  c->lock_pending = 0;
  if (c->lock_fd >= 0)
    ts_atomic_remove_temps (c->path);
  return st;
}

ts_status
ts_checkpointer_init (ts_checkpointer *c, ts_learner *l, const char *path,
                      const ts_learner_events *inner, const char *const *meta_kv, int n_meta)
{
  ts_learner_events ev = { c, ck_phase_begin, ck_batch_end, ck_epoch_end, ck_finished,
                           ck_failed };
  ts_status st;

  memset (c, 0, sizeof *c);
  c->lock_fd = -1;
  c->path = strdup (path);
  if (!c->path)
    return ts_error (TS_ERR_NOMEM, "checkpoint: out of memory");
  /* a checkpoint there (a resume): locked now, before anything changes; none
   * yet: at the first write, so a run killed before it leaves no lock file
   * (resume needs a checkpoint anyway) */
  if (access (path, F_OK) == 0)
    {
      if ((st = ck_lock (c)) != TS_OK)
        {
          ts_checkpointer_clear (c);
          return st;
        }
    }
  else
    c->lock_pending = 1;
  c->learner = l;
  if (inner)
    c->inner = *inner;
  c->meta_kv = meta_kv;
  c->n_meta = n_meta;
  c->smooth_beta = 0.98;
  c->phase = -1;
  ts_learner_set_events (l, &ev);
  return TS_OK;
}

void
ts_checkpointer_continue_from (ts_checkpointer *c, const ts_checkpoint_pos *pos)
{
  c->smooth_val = pos->smooth_val;
  c->smooth_count = pos->smooth_count;
  c->phase = -2 - pos->phase;   /* marks the phase whose begin must not reset */
}

void
ts_checkpointer_clear (ts_checkpointer *c)
{
  if (c->path)
    ts_checkpoint_unlock (c->path, c->lock_fd);
  c->lock_fd = -1;
  free (c->path);
  c->path = NULL;
}
