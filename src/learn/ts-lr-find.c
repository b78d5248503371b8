/* ts-lr-find.c: fastai's LRFinder and its suggestion functions. */
#include "ts-lr-find.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ts-learner-private.h"

void
ts_lr_find_config_init (ts_lr_find_config *cfg)
{
  cfg->start_lr = 1e-7;
  cfg->end_lr = 10.0;
  cfg->num_it = 100;
  cfg->stop_div = 1;
}

void
ts_lr_find_result_clear (ts_lr_find_result *r)
{
  free (r->lrs);
  free (r->losses);
  memset (r, 0, sizeof *r);
}

int
ts_lr_valley (const double *lrs, const double *losses, int n)
{
  int *lds, max_start = 0, max_end = 0, idx;
  double sections;

  (void) lrs;
  if (n < 1)
    return -1;
  lds = malloc ((size_t) n * sizeof *lds);
  if (!lds)
    return -1;
  for (int i = 0; i < n; i++)
    lds[i] = 1;
  /* the longest strictly decreasing subsequence ending at each point; the
   * check of max_end sits inside the inner loop as in fastai */
  for (int i = 1; i < n; i++)
    for (int j = 0; j < i; j++)
      {
        if (losses[i] < losses[j] && lds[i] < lds[j] + 1)
          lds[i] = lds[j] + 1;
        if (lds[max_end] < lds[i])
          {
            max_end = i;
            max_start = max_end - lds[max_end];
          }
      }
  free (lds);
  sections = (max_end - max_start) / 3.0;
  idx = max_start + (int) sections + (int) (sections / 2.0);
  if (idx < 0)
    idx = 0;
  if (idx >= n)
    idx = n - 1;
  return idx;
}

int
ts_lr_steep (const double *lrs, const double *losses, int n)
{
  int best = -1;
  double best_g = INFINITY;

  for (int i = 0; i + 1 < n; i++)
    {
      double g = (losses[i + 1] - losses[i]) / (log (lrs[i + 1]) - log (lrs[i]));
      if (g < best_g)
        {
          best_g = g;
          best = i;
        }
    }
  return best;
}

int
ts_lr_suggest (const double *lrs, const double *losses, int n, int num_it,
               double *valley, int *valley_idx, double *steep, int *steep_idx)
{
  int lo = num_it / 10, hi = n - 5, vi, si;

  *valley = *steep = NAN;
  *valley_idx = *steep_idx = -1;
  if (hi > n)
    hi = n;
  for (int i = lo; i < hi; i++)
    if (isnan (losses[i]))
      {
        hi = i;
        break;
      }
  if (hi - lo < 2)
    return 0;
  vi = ts_lr_valley (lrs + lo, losses + lo, hi - lo);
  si = ts_lr_steep (lrs + lo, losses + lo, hi - lo);
  if (vi >= 0)
    {
      *valley_idx = lo + vi;
      *valley = lrs[lo + vi];
    }
  if (si >= 0)
    {
      *steep_idx = lo + si;
      *steep = lrs[lo + si];
    }
  return vi >= 0;
}

ts_status
ts_learner_lr_find (ts_learner *l, const ts_lr_find_config *cfg, ts_lr_find_result *out)
{
  ts_lr_find_config c;
  ts_model_snapshot *snap = NULL;
  ts_optimizer_snapshot *osnap = NULL;
  ts_smooth_loss smooth;
  ts_phase_event pev = { 0, 1, "lr_find", 0, 0 };
  int nb, ng = ts_optimizer_n_groups (l->opt), step = 0, epoch = 0;
  double best = INFINITY, saved_lrs[TS_MAX_GROUPS], saved_mom;
  ts_status st = TS_OK, st2;

  memset (out, 0, sizeof *out);
  if (cfg)
    c = *cfg;
  else
    ts_lr_find_config_init (&c);
  if (c.num_it < 6)
    c.num_it = 6;
  if (!(c.start_lr > 0.0) || !(c.end_lr > c.start_lr))
    return ts_error (TS_ERR_INVALID, "lr_find: start_lr %g, end_lr %g", c.start_lr, c.end_lr);
  nb = l->train.n_batches (l->train.self);
  if (nb < 1)
    return ts_error (TS_ERR_INVALID, "lr_find: the training set yields no batch");
  out->lrs = calloc ((size_t) c.num_it + 1, sizeof (double));
  out->losses = calloc ((size_t) c.num_it + 1, sizeof (double));
  if (!out->lrs || !out->losses)
    {
      ts_lr_find_result_clear (out);
      return ts_error (TS_ERR_NOMEM, "lr_find: out of memory");
    }
  if ((st = ts_model_snapshot_new (l->model, &snap)) != TS_OK
      || (st = ts_optimizer_snapshot_new (l->opt, &osnap)) != TS_OK)
    goto done;
  for (int g = 0; g < ng; g++)
    saved_lrs[g] = ts_optimizer_lr (l->opt, g);
  saved_mom = ts_optimizer_mom (l->opt);
  ts_smooth_loss_reset (&smooth);
  /* fastai: n_epoch = num_it // len(dls.train) + 1 */
  pev.n_epochs = c.num_it / nb + 1;
  if (l->events.phase_begin)
    l->events.phase_begin (l->events.user, &pev);

  while (step < c.num_it && st == TS_OK)
    {
      ts_batch *b;
      int batch = 0;

      if ((st = l->train.start_epoch (l->train.self, l->epochs_seen++)) != TS_OK)
        break;
      for (;;)
        {
          double lrs[TS_MAX_GROUPS], lr, loss, sm;
          ts_batch_event bev = { 0 };

          if (step >= c.num_it || atomic_load (&l->cancel) || out->diverged)
            {
              while (l->train.next (l->train.self, &b) == TS_OK && b)
                l->train.release (l->train.self, b);
              break;
            }
          if ((st = l->train.next (l->train.self, &b)) != TS_OK)
            break;
          if (!b)
            break;
          lr = ts_sched_exp (c.start_lr, c.end_lr, (double) step / c.num_it);
          for (int g = 0; g < ng; g++)
            lrs[g] = lr;
          ts_optimizer_set_lrs (l->opt, lrs);
          bev.rows = b->n;
          st = ts_learner_train_step (l, b, &loss);
          l->train.release (l->train.self, b);
          if (st == TS_ERR_NUMERIC)
            {
              /* a blown-up loss is the end of the curve, not a failure */
              ts_clear_error ();
              st = TS_OK;
              out->lrs[out->n] = lr;
              out->losses[out->n] = NAN;
              out->n++;
              out->diverged = 1;
              continue;
            }
          if (st != TS_OK)
            {
              ts_error_prefix (st, "lr_find, step %d", step);
              while (l->train.next (l->train.self, &b) == TS_OK && b)
                l->train.release (l->train.self, b);
              break;
            }
          sm = ts_smooth_loss_add (&smooth, loss);
          out->lrs[out->n] = lr;
          out->losses[out->n] = sm;
          out->n++;

          bev.epoch = epoch;
          bev.n_epochs = pev.n_epochs;
          bev.batch = batch;
          bev.n_batches = nb;
          bev.step = step;
          bev.loss = loss;
          bev.smooth_loss = sm;
          bev.n_groups = ng;
          for (int g = 0; g < ng; g++)
            bev.lr[g] = lr;
          bev.mom = ts_optimizer_mom (l->opt);
          if (l->events.batch_end)
            l->events.batch_end (l->events.user, &bev);
          step++;
          batch++;
          if (sm < best)
            best = sm;
          if (c.stop_div && sm > 4.0 * best)
            out->diverged = 1;
        }
      epoch++;
      if (atomic_load (&l->cancel) || out->diverged)
        break;
    }

  /* fastai's after_fit: the model and optimizer go back to where they were */
  if ((st2 = ts_model_snapshot_restore (l->model, snap)) != TS_OK && st == TS_OK)
    st = st2;
  if ((st2 = ts_optimizer_snapshot_restore (l->opt, osnap)) != TS_OK && st == TS_OK)
    st = st2;
  ts_optimizer_set_lrs (l->opt, saved_lrs);
  ts_optimizer_set_mom (l->opt, saved_mom);
  if (st == TS_OK && atomic_load (&l->cancel))
    st = ts_error (TS_ERR_CANCELLED, "lr_find cancelled after %d steps", step);
  if (st == TS_OK || st == TS_ERR_CANCELLED)
    ts_lr_suggest (out->lrs, out->losses, out->n, c.num_it, &out->valley, &out->valley_idx,
                   &out->steep, &out->steep_idx);

done:
  ts_model_snapshot_free (snap);
  ts_optimizer_snapshot_free (osnap);
  ts_learner_emit_failed (l, st);
  return st;
}
