/* ts-learner.c: fastai's training loops on the engine's models. */
#include "ts-learner-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ts-backend.h"

/* --- data sources over a ts_loader --- */

static int
loader_n_batches (void *self)
{
  return ts_loader_n_batches (self);
}

static int
loader_n_items (void *self)
{
  return ts_loader_n_items (self);
}

static ts_status
loader_start_epoch (void *self, int epoch)
{
  return ts_loader_start_epoch (self, epoch);
}

static ts_status
loader_next (void *self, ts_batch **out)
{
  return ts_loader_next (self, out);
}

static void
loader_release (void *self, ts_batch *b)
{
  ts_loader_release (self, b);
}

void
ts_data_source_from_loader (ts_loader *loader, ts_data_source *out)
{
  out->self = loader;
  out->n_batches = loader_n_batches;
  out->n_items = loader_n_items;
  out->start_epoch = loader_start_epoch;
  out->next = loader_next;
  out->release = loader_release;
}

/* --- small helpers --- */

double
ts_smooth_loss_add (ts_smooth_loss *s, double loss)
{
  s->count++;
  s->val = loss + s->beta * (s->val - loss);   /* torch.lerp(loss, val, beta) */
  return s->val / (1.0 - pow (s->beta, s->count));
}

/* The first @n rows of @t, without allocating (the step loop allocates nothing). */
static ts_tensor
rows_view (const ts_tensor *t, int n)
{
  ts_tensor v = *t;

  v.numel = t->numel / t->shape[0] * n;
  v.shape[0] = n;
  v.owns_data = 0;
  return v;
}

void
ts_learner_config_init (ts_learner_config *cfg)
{
  memset (cfg, 0, sizeof *cfg);
  cfg->batch_size = 64;
  cfg->height = 128;
  cfg->width = 128;
  cfg->thresh = 0.2;
  ts_adam_config_init (&cfg->adam);
  cfg->clear_state_on_freeze = 1;
}

void
ts_fit_options_init (ts_fit_options *o)
{
  o->pct_start = 0.25;
  o->div = 25.0;
  o->div_final = 1e5;
}

/* --- construction --- */

ts_status
ts_optimizer_new_for_model (ts_model *m, const ts_adam_config *cfg, ts_optimizer **out)
{
  int n = ts_model_n_params (m);
  ts_param **params = calloc ((size_t) n + 1, sizeof *params);
  ts_status st;

  if (!params)
    return ts_error (TS_ERR_NOMEM, "optimizer: out of memory");
  for (int i = 0; i < n; i++)
    params[i] = ts_model_param (m, i);
  st = ts_optimizer_new (params[0] ? params[0]->value->be : NULL, params, n,
                         ts_model_n_groups (m), cfg, out);
  free (params);
  return st;
}


ts_status
ts_learner_new (ts_model *model, const ts_data_source *train, const ts_data_source *valid,
                const ts_learner_config *cfg, ts_learner **out)
{
  ts_learner *l;
  ts_status st;
  int bs, nb;

  *out = NULL;
  if (!model || !train)
    return ts_error (TS_ERR_INVALID, "learner: a model and training data are required");
  if (ts_model_n_params (model) < 1)
    return ts_error (TS_ERR_INVALID, "learner: the model has no parameters");
  l = calloc (1, sizeof *l);
  if (!l)
    return ts_error (TS_ERR_NOMEM, "learner: out of memory");
  if (cfg)
    l->cfg = *cfg;
  else
    ts_learner_config_init (&l->cfg);
  bs = l->cfg.batch_size;
  if (bs < 1 || l->cfg.height < 1 || l->cfg.width < 1)
    {
      ts_status bad = ts_error (TS_ERR_INVALID, "learner: batch size %d and image size %dx%d",
                                bs, l->cfg.width, l->cfg.height);
      free (l);
      return bad;
    }
  l->model = model;
  l->be = ts_model_param (model, 0)->value->be;
  l->train = *train;
  if (valid)
    {
      l->valid = *valid;
      l->has_valid = 1;
    }
  l->n_classes = ts_model_n_classes (model);
  atomic_init (&l->cancel, 0);

  if ((st = ts_model_prepare (model, bs, l->cfg.height, l->cfg.width)) != TS_OK)
    goto fail;
  if ((st = ts_optimizer_new_for_model (model, &l->cfg.adam, &l->opt)) != TS_OK)
    goto fail;
  l->x = ts_tensor_new_4d (l->be, bs, 3, l->cfg.height, l->cfg.width);
  l->y = ts_tensor_new_2d (l->be, bs, l->n_classes);
  l->dlogits = ts_tensor_new_2d (l->be, bs, l->n_classes);
  l->host_logits = malloc ((size_t) bs * l->n_classes * sizeof (float));
  nb = ts_model_n_buffers (model);
  l->buffer_mirror = calloc ((size_t) nb + 1, sizeof *l->buffer_mirror);
  l->buffer_live = calloc ((size_t) nb + 1, sizeof *l->buffer_live);
  l->check = calloc ((size_t) ts_model_n_params (model) + 1, sizeof *l->check);
  l->check_param = calloc ((size_t) ts_model_n_params (model) + 1, sizeof *l->check_param);
  if (!l->x || !l->y || !l->dlogits || !l->host_logits || !l->buffer_mirror || !l->buffer_live
      || !l->check || !l->check_param)
    {
      st = ts_error (TS_ERR_NOMEM, "learner: out of memory for a batch of %d", bs);
      goto fail;
    }
  for (int i = 0; i < nb; i++)
    {
      ts_tensor *t = ts_model_buffer (model, i)->value;
      l->buffer_live[i] = t;
      l->buffer_mirror[i] = ts_tensor_new (l->be, t->ndim, t->shape);
      if (!l->buffer_mirror[i])
        {
          st = ts_error (TS_ERR_NOMEM, "learner: out of memory");
          goto fail;
        }
    }
  *out = l;
  return TS_OK;

fail:
  ts_learner_free (l);
  return st;
}

void
ts_learner_free (ts_learner *l)
{
  if (!l)
    return;
  ts_optimizer_free (l->opt);
  ts_tensor_free (l->x);
  ts_tensor_free (l->y);
  ts_tensor_free (l->dlogits);
  free (l->host_logits);
  if (l->buffer_mirror)
    for (int i = 0; i < ts_model_n_buffers (l->model); i++)
      ts_tensor_free (l->buffer_mirror[i]);
  free (l->buffer_mirror);
  free (l->buffer_live);
  free (l->check);
  free (l->check_param);
  free (l);
}

void
ts_learner_set_events (ts_learner *l, const ts_learner_events *events)
{
  if (events)
    l->events = *events;
  else
    memset (&l->events, 0, sizeof l->events);
}

ts_model *
ts_learner_model (ts_learner *l)
{
  return l->model;
}

ts_optimizer *
ts_learner_optimizer (ts_learner *l)
{
  return l->opt;
}

void
ts_learner_cancel (ts_learner *l)
{
  atomic_store (&l->cancel, 1);
}

int
ts_learner_cancelled (const ts_learner *l)
{
  return atomic_load (&((ts_learner *) l)->cancel);
}

void
ts_learner_reset_cancel (ts_learner *l)
{
  atomic_store (&l->cancel, 0);
}

void
ts_learner_freeze (ts_learner *l)
{
  ts_model_freeze_to (l->model, ts_model_n_groups (l->model) - 1);
  if (l->cfg.clear_state_on_freeze)
    ts_optimizer_clear_state (l->opt);
}

void
ts_learner_unfreeze (ts_learner *l)
{
  ts_model_unfreeze (l->model);
  if (l->cfg.clear_state_on_freeze)
    ts_optimizer_clear_state (l->opt);
}

double
ts_learner_train_images_per_s (const ts_learner *l)
{
  return l->train_seconds > 0.0 ? l->train_images / l->train_seconds : 0.0;
}

void
ts_learner_emit_failed (ts_learner *l, ts_status st)
{
  if (st == TS_ERR_CANCELLED)
    {
      if (l->events.finished)
        l->events.finished (l->events.user, st);
    }
  else if (st != TS_OK)
    {
      if (l->events.failed)
        l->events.failed (l->events.user, st, ts_last_error ());
    }
  else if (l->events.finished)
    l->events.finished (l->events.user, TS_OK);
}

/* --- one step --- */

static ts_status
upload_batch (ts_learner *l, const ts_batch *b, ts_tensor *xv, ts_tensor *yv)
{
  ts_status st;

  if (b->n < 1 || b->n > l->cfg.batch_size)
    return ts_error (TS_ERR_INVALID, "batch of %d images for a learner of batch size %d",
                     b->n, l->cfg.batch_size);
  *xv = rows_view (l->x, b->n);
  *yv = rows_view (l->y, b->n);
  if ((st = ts_batch_to_tensor (b, xv)) != TS_OK)
    return st;
  return ts_tensor_from_host (yv, b->y, yv->numel);
}

/* Puts back the running statistics saved before a failed step; returns @st. */
static ts_status
restore_buffers (ts_learner *l, ts_status st)
{
  ts_backend_copy_many (l->be, (const ts_tensor *const *) l->buffer_mirror, l->buffer_live,
                        ts_model_n_buffers (l->model));
  return st;
}

ts_status
ts_loss_and_backward (ts_model *m, ts_tensor *logits, const ts_tensor *y, ts_tensor *dlogits,
                      float *loss)
{
  ts_backend *be = ts_model_backend (m);
  int queued = be->i->bce_with_logits_queue && be->i->bce_loss_result;
  ts_status st;

  if (queued)
    {
      be->i->bce_with_logits_queue (be, logits, y, dlogits);
      if ((st = ts_model_backward (m, dlogits)) != TS_OK)
        return st;
      *loss = be->i->bce_loss_result (be);
    }
  else
    *loss = be->i->bce_with_logits (be, logits, y, dlogits);
  /* a GPU failure in any op so far (the ops cannot return it) */
  if ((st = ts_backend_check (be)) != TS_OK)
    return st;
  if (isnan (*loss))
    return ts_error (TS_ERR_NUMERIC, "the loss is NaN; training stopped with the weights of "
                     "the last good batch");
  if (isinf (*loss))
    return ts_error (TS_ERR_NUMERIC, "the loss is infinite; training stopped with the weights "
                     "of the last good batch");
  return queued ? TS_OK : ts_model_backward (m, dlogits);
}

static ts_status
train_step (ts_learner *l, const ts_batch *b, double *loss)
{
  ts_backend *be = l->be;
  ts_tensor xv, yv, dv, *logits = NULL;
  ts_status st;
  float lossf;
  int n_check, bad;

  if ((st = upload_batch (l, b, &xv, &yv)) != TS_OK)
    return st;
  dv = rows_view (l->dlogits, b->n);
  /* a NaN batch would poison the running statistics: keep them to put back
   * (a copy on the device: no transfer, no wait for the GPU each step) */
  ts_backend_copy_many (be, (const ts_tensor *const *) l->buffer_live, l->buffer_mirror,
                        ts_model_n_buffers (l->model));
  if ((st = ts_model_forward (l->model, &xv, 1, &logits)) != TS_OK)
    return restore_buffers (l, st);
  st = ts_loss_and_backward (l->model, logits, &yv, &dv, &lossf);
  *loss = lossf;
  if (st != TS_OK)
    return restore_buffers (l, st);
  n_check = 0;
  for (int i = 0; i < ts_model_n_params (l->model); i++)
    {
      ts_param *p = ts_model_param (l->model, i);
      if (p->trainable && p->grad)
        {
          l->check_param[n_check] = i;
          l->check[n_check++] = p->grad;
        }
    }
  /* one wait for the device, not one per gradient */
  if ((bad = ts_backend_first_nonfinite (be, l->check, n_check)) >= 0)
    {
      if ((st = ts_backend_check (be)) != TS_OK)
        return restore_buffers (l, st);
      return restore_buffers (l, ts_error (TS_ERR_NUMERIC, "the gradient of %s is not "
                                           "finite; training stopped with the weights of "
                                           "the last good batch",
                                           ts_model_param (l->model, l->check_param[bad])->name));
    }
  ts_optimizer_step (l->opt);
  return ts_backend_check (be);
}

/* A step that fails may leave the batch's upload queued on a device: the
 * batch goes back to the loader, which refills its page-locked buffers, only
 * after the device is done with them (ts_backend_i.upload's rule). */
ts_status
ts_learner_train_step (ts_learner *l, const ts_batch *b, double *loss)
{
  ts_status st = train_step (l, b, loss);

  if (st != TS_OK)
    l->be->i->synchronize (l->be);
  return st;
}

/* --- evaluation --- */

/* Releases @b and the rest of the epoch, so a loader is left at a clean
 * epoch boundary after an evaluation stops early; first waits for the
 * device, whose upload of @b may still be reading it. */
static void
drain (ts_backend *be, const ts_data_source *src, ts_batch *b)
{
  be->i->synchronize (be);
  src->release (src->self, b);
  while (src->next (src->self, &b) == TS_OK && b)
    src->release (src->self, b);
}

/* Runs @src in eval mode.  Any of the outputs may be NULL; @cap bounds the rows
 * written to @probs/@targets/@items.  @stoppable: ts_learner_cancel ends it
 * (get_preds; the validation inside fit ends with its epoch instead). */
static ts_status
run_eval (ts_learner *l, const ts_data_source *src, float *probs, float *targets, int *items,
          int cap, int *n_out, double *loss_out, double *acc_out, int stoppable)
{
  ts_backend *be = l->be;
  const int c = l->n_classes;
  double loss_sum = 0.0;
  int64_t right = 0;
  int n = 0;
  ts_status st;
  ts_batch *b;

  if ((st = src->start_epoch (src->self, 0)) != TS_OK)
    return st;
  for (;;)
    {
      ts_tensor xv, yv, *logits = NULL;
      float lossf;

      if ((st = src->next (src->self, &b)) != TS_OK)
        return st;
      if (!b)
        break;
      if (stoppable && atomic_load (&l->cancel))
        {
          drain (be, src, b);
          return ts_error (TS_ERR_CANCELLED, "get_preds cancelled after %d images", n);
        }
      if ((st = upload_batch (l, b, &xv, &yv)) != TS_OK
          || (st = ts_model_forward (l->model, &xv, 0, &logits)) != TS_OK)
        {
          drain (be, src, b);
          return st;
        }
      lossf = be->i->bce_with_logits (be, logits, &yv, NULL);
      loss_sum += (double) lossf * b->n;
      if ((st = ts_tensor_to_host (logits, l->host_logits, (int64_t) b->n * c)) != TS_OK)
        {
          drain (be, src, b);
          return st;
        }
      for (int r = 0; r < b->n; r++)
        for (int k = 0; k < c; k++)
          {
            float p = 1.0f / (1.0f + expf (-l->host_logits[r * c + k]));
            float t = b->y[r * c + k];
            right += (p > (float) l->cfg.thresh) == (t > 0.5f);
            if (n + r < cap)
              {
                if (probs)
                  probs[(int64_t) (n + r) * c + k] = p;
                if (targets)
                  targets[(int64_t) (n + r) * c + k] = t;
              }
          }
      if (items)
        for (int r = 0; r < b->n && n + r < cap; r++)
          items[n + r] = b->items ? b->items[r] : n + r;
      n += b->n;
      src->release (src->self, b);
    }
  if (n_out)
    *n_out = n < cap ? n : cap;
  if (loss_out)
    *loss_out = n ? loss_sum / n : NAN;
  if (acc_out)
    *acc_out = n ? (double) right / ((int64_t) n * c) : NAN;
  return TS_OK;
}

ts_status
ts_learner_validate (ts_learner *l, double *loss, double *accuracy)
{
  if (!l->has_valid)
    {
      *loss = *accuracy = NAN;
      return TS_OK;
    }
  return run_eval (l, &l->valid, NULL, NULL, NULL, 0, NULL, loss, accuracy, 0);
}

ts_status
ts_learner_get_preds (ts_learner *l, const ts_data_source *src, float **probs,
                      float **targets, int **items, int *n, double *loss)
{
  int cap, c = l->n_classes;
  float *p = NULL, *t = NULL;
  int *it = NULL;
  ts_status st;

  *probs = NULL;
  if (targets)
    *targets = NULL;
  if (items)
    *items = NULL;
  *n = 0;
  if (!src)
    {
      if (!l->has_valid)
        return ts_error (TS_ERR_INVALID, "get_preds: there is no validation set");
      src = &l->valid;
    }
  cap = src->n_items (src->self);
  p = malloc ((size_t) (cap > 0 ? cap : 1) * c * sizeof (float));
  t = malloc ((size_t) (cap > 0 ? cap : 1) * c * sizeof (float));
  it = malloc ((size_t) (cap > 0 ? cap : 1) * sizeof (int));
  if (!p || !t || !it)
    {
      free (p);
      free (t);
      free (it);
      return ts_error (TS_ERR_NOMEM, "get_preds: out of memory for %d items", cap);
    }
  st = run_eval (l, src, p, t, it, cap, n, loss, NULL, 1);
  if (st != TS_OK)
    {
      free (p);
      free (t);
      free (it);
      *n = 0;
      return st;
    }
  *probs = p;
  if (targets)
    *targets = t;
  else
    free (t);
  if (items)
    *items = it;
  else
    free (it);
  return TS_OK;
}

/* --- fit_one_cycle and fine_tune --- */

static ts_status
fit_phase (ts_learner *l, int phase, int n_phases, const char *name, int n_epoch,
           ts_lr_slice lr, const ts_fit_options *o)
{
  const int ng = ts_optimizer_n_groups (l->opt);
  double lr_max[TS_MAX_GROUPS];
  int nb = l->train.n_batches (l->train.self);
  ts_one_cycle sched;
  ts_smooth_loss smooth;
  ts_phase_event pev = { phase, n_phases, name, n_epoch, 0 };
  int step = 0, first_epoch = 0;
  ts_status st;

  if (n_epoch < 0)
    return ts_error (TS_ERR_INVALID, "fit_one_cycle: %d epochs", n_epoch);
  if (nb < 1)
    return ts_error (TS_ERR_INVALID, "the training set has %d images, fewer than one batch "
                     "of %d (an incomplete last batch is dropped, as fastai does): use a "
                     "smaller batch size", l->train.n_items (l->train.self), l->cfg.batch_size);
  ts_lr_slice_spread (lr, ng, lr_max);
  ts_one_cycle_init (&sched, ng, lr_max, n_epoch * nb);
  sched.pct_start = o->pct_start;
  sched.div = o->div;
  sched.div_final = o->div_final;
  ts_smooth_loss_reset (&smooth);
  l->train_images = l->train_seconds = 0.0;
  /* resuming from a checkpoint (ts-checkpoint.c): skip what it already holds */
  if (l->resume_set)
    {
      if (phase < l->resume_phase)
        return TS_OK;
      first_epoch = l->resume_epoch < n_epoch ? l->resume_epoch : n_epoch;
      step = first_epoch * nb;
      smooth.val = l->resume_smooth_val;
      smooth.count = l->resume_smooth_count;
      if (l->resume_opt && (st = ts_optimizer_snapshot_restore (l->opt, l->resume_opt)) != TS_OK)
        return st;
      l->resume_set = 0;
    }

  for (int i = 0; i < ts_model_n_params (l->model); i++)
    if (!ts_model_param (l->model, i)->trainable)
      pev.frozen = 1;
  if (l->events.phase_begin)
    l->events.phase_begin (l->events.user, &pev);

  for (int epoch = first_epoch; epoch < n_epoch; epoch++)
    {
      ts_epoch_event eev = { 0 };
      double t0 = ts_now_seconds (), t_train, smooth_val = NAN;
      int64_t images = 0;
      ts_batch *b;
      int batch = 0;

      if ((st = l->train.start_epoch (l->train.self, l->epochs_seen++)) != TS_OK)
        return ts_error_prefix (st, "epoch %d", epoch);
      for (;;)
        {
          ts_batch_event bev = { 0 };
          double lrs[TS_MAX_GROUPS], mom, loss = NAN;

          if (atomic_load (&l->cancel))
            {
              /* leave the loader at a clean boundary for get_preds and saving */
              l->train_images += images;
              l->train_seconds += ts_now_seconds () - t0;
              while (l->train.next (l->train.self, &b) == TS_OK && b)
                l->train.release (l->train.self, b);
              return ts_error (TS_ERR_CANCELLED, "training cancelled at epoch %d, batch %d",
                               epoch, batch);
            }
          double tw = ts_now_seconds ();
          st = l->train.next (l->train.self, &b);
          eev.wait_seconds += ts_now_seconds () - tw;
          if (st != TS_OK)
            return ts_error_prefix (st, "epoch %d, batch %d", epoch, batch);
          if (!b)
            break;
          ts_one_cycle_at (&sched, step, lrs, &mom);
          ts_optimizer_set_lrs (l->opt, lrs);
          ts_optimizer_set_mom (l->opt, mom);
          bev.rows = b->n;
          st = ts_learner_train_step (l, b, &loss);
          l->train.release (l->train.self, b);
          if (st != TS_OK)
            {
              while (l->train.next (l->train.self, &b) == TS_OK && b)
                l->train.release (l->train.self, b);
              return ts_error_prefix (st, "epoch %d, batch %d", epoch, batch);
            }
          smooth_val = ts_smooth_loss_add (&smooth, loss);
          images += bev.rows;

          bev.phase = phase;
          bev.epoch = epoch;
          bev.n_epochs = n_epoch;
          bev.batch = batch;
          bev.n_batches = nb;
          bev.step = step;
          bev.loss = loss;
          bev.smooth_loss = smooth_val;
          bev.n_groups = ng;
          for (int g = 0; g < ng; g++)
            bev.lr[g] = lrs[g];
          bev.mom = mom;
          if (l->events.batch_end)
            l->events.batch_end (l->events.user, &bev);
          step++;
          batch++;
        }
      t_train = ts_now_seconds () - t0;
      l->train_images += images;
      l->train_seconds += t_train;

      eev.phase = phase;
      eev.epoch = epoch;
      eev.n_epochs = n_epoch;
      eev.train_loss = smooth_val;
      if ((st = ts_learner_validate (l, &eev.valid_loss, &eev.accuracy_multi)) != TS_OK)
        return ts_error_prefix (st, "epoch %d, validation", epoch);
      eev.seconds = ts_now_seconds () - t0;
      eev.valid_seconds = eev.seconds - t_train;
      eev.train_images_per_s = t_train > 0.0 ? images / t_train : 0.0;
      if (l->events.epoch_end)
        l->events.epoch_end (l->events.user, &eev);
    }
  return TS_OK;
}

ts_status
ts_learner_fit_one_cycle (ts_learner *l, int n_epoch, ts_lr_slice lr, const ts_fit_options *opts)
{
  ts_fit_options o;
  ts_status st;

  if (opts)
    o = *opts;
  else
    ts_fit_options_init (&o);
  st = fit_phase (l, 0, 1, "fit", n_epoch, lr, &o);
  ts_learner_emit_failed (l, st);
  return st;
}

/* fine_tune's phases number their epochs from 0 each, as its tables do: a
 * failure in a two-phase run says which phase's epoch it names */
static ts_status
in_phase (ts_status st, int n_phases, int frozen)
{
  if (st == TS_OK || st == TS_ERR_CANCELLED || n_phases < 2)
    return st;
  return frozen ? ts_error_prefix (st, "frozen phase") : ts_error_prefix (st, "unfrozen phase");
}

ts_status
ts_learner_fine_tune (ts_learner *l, int epochs, double base_lr, int freeze_epochs)
{
  ts_fit_options o;
  ts_status st = TS_OK;
  int n_phases = freeze_epochs > 0 ? 2 : 1, phase = 0;

  if (epochs < 0 || freeze_epochs < 0 || !(base_lr > 0.0))
    {
      st = ts_error (TS_ERR_INVALID, "fine_tune: epochs %d, freeze_epochs %d, base_lr %g",
                     epochs, freeze_epochs, base_lr);
      ts_learner_emit_failed (l, st);
      return st;
    }
  if (freeze_epochs > 0)
    {
      ts_learner_freeze (l);
      ts_fit_options_init (&o);
      o.pct_start = 0.99;
      st = in_phase (fit_phase (l, phase++, n_phases, "frozen", freeze_epochs,
                                ts_lr_slice_hi (base_lr), &o), n_phases, 1);
      if (st != TS_OK)
        {
          ts_learner_emit_failed (l, st);
          return st;
        }
    }
  base_lr /= 2.0;
  ts_learner_unfreeze (l);
  ts_fit_options_init (&o);
  o.pct_start = 0.3;
  o.div = 5.0;
  st = in_phase (fit_phase (l, phase, n_phases, "unfrozen", epochs,
                            ts_lr_slice_range (base_lr / 100.0, base_lr), &o), n_phases, 0);
  ts_learner_emit_failed (l, st);
  return st;
}

/* --- snapshots --- */

struct ts_model_snapshot {
  int n;
  float **data;
};

void
ts_model_snapshot_free (ts_model_snapshot *s)
{
  if (!s)
    return;
  for (int i = 0; i < s->n; i++)
    free (s->data[i]);
  free (s->data);
  free (s);
}

static ts_tensor *
snapshot_tensor (ts_model *m, int i)
{
  int np = ts_model_n_params (m);
  return i < np ? ts_model_param (m, i)->value : ts_model_buffer (m, i - np)->value;
}

ts_status
ts_model_snapshot_new (ts_model *m, ts_model_snapshot **out)
{
  int n = ts_model_n_params (m) + ts_model_n_buffers (m);
  ts_model_snapshot *s = calloc (1, sizeof *s);
  ts_status st;

  *out = NULL;
  if (!s || !(s->data = calloc ((size_t) n + 1, sizeof *s->data)))
    {
      free (s);
      return ts_error (TS_ERR_NOMEM, "model snapshot: out of memory");
    }
  s->n = n;
  for (int i = 0; i < n; i++)
    {
      ts_tensor *t = snapshot_tensor (m, i);
      s->data[i] = malloc ((size_t) t->numel * sizeof (float));
      if (!s->data[i])
        {
          ts_model_snapshot_free (s);
          return ts_error (TS_ERR_NOMEM, "model snapshot: out of memory");
        }
      if ((st = ts_tensor_to_host (t, s->data[i], t->numel)) != TS_OK)
        {
          ts_model_snapshot_free (s);
          return st;
        }
    }
  *out = s;
  return TS_OK;
}

ts_status
ts_model_snapshot_restore (ts_model *m, const ts_model_snapshot *s)
{
  ts_status st;

  for (int i = 0; i < s->n; i++)
    {
      ts_tensor *t = snapshot_tensor (m, i);
      if ((st = ts_tensor_from_host (t, s->data[i], t->numel)) != TS_OK)
        return st;
    }
  return TS_OK;
}
