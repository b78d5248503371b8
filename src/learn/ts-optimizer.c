/* ts-optimizer.c: fastai's Adam over parameter groups. */
#include "ts-optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ts-backend.h"

struct ts_optimizer {
  ts_backend *be;
  ts_adam_config cfg;
  int n_params;
  ts_param **params;
  ts_tensor **grad_avg;
  ts_tensor **sqr_avg;
  int *step;
  ts_adam_item *items;   /* one step's updates, handed to the backend at once */
  int n_groups;
  double lrs[TS_MAX_GROUPS];
  double mom;
};

struct ts_optimizer_snapshot {
  int n_params;
  float **grad_avg;
  float **sqr_avg;
  int *step;
};

void
ts_lr_slice_spread (ts_lr_slice s, int n_groups, double *out)
{
  if (n_groups <= 0)
    return;
  if (!s.is_slice)
    {
      for (int g = 0; g < n_groups; g++)
        out[g] = s.hi;
      return;
    }
  if (s.lo <= 0.0)
    {
      for (int g = 0; g < n_groups - 1; g++)
        out[g] = s.hi / 10.0;
      out[n_groups - 1] = s.hi;
      return;
    }
  if (n_groups == 1)
    {
      /* even_mults(lo, hi, 1) is [lo * (hi/lo)^(1/0)]: fastai gives hi there */
      out[0] = s.hi;
      return;
    }
  double step = pow (s.hi / s.lo, 1.0 / (n_groups - 1));
  for (int g = 0; g < n_groups; g++)
    out[g] = s.lo * pow (step, g);
}

void
ts_adam_config_init (ts_adam_config *cfg)
{
  cfg->mom = 0.9;
  cfg->sqr_mom = 0.99;
  cfg->eps = 1e-5;
  cfg->wd = 0.01;
}

ts_status
ts_optimizer_new (ts_backend *be, ts_param **params, int n_params, int n_groups,
                  const ts_adam_config *cfg, ts_optimizer **out)
{
  ts_optimizer *opt;

  *out = NULL;
  if (n_groups < 1 || n_groups > TS_MAX_GROUPS)
    return ts_error (TS_ERR_INVALID, "optimizer: %d parameter groups (1 to %d supported)",
                     n_groups, TS_MAX_GROUPS);
  for (int i = 0; i < n_params; i++)
    if (params[i]->group < 0 || params[i]->group >= n_groups)
      return ts_error (TS_ERR_INVALID, "optimizer: parameter %s is in group %d of %d",
                       params[i]->name, params[i]->group, n_groups);

  opt = calloc (1, sizeof *opt);
  if (!opt)
    return ts_error (TS_ERR_NOMEM, "optimizer: out of memory");
  opt->be = be;
  if (cfg)
    opt->cfg = *cfg;
  else
    ts_adam_config_init (&opt->cfg);
  opt->mom = opt->cfg.mom;
  opt->n_groups = n_groups;
  opt->n_params = n_params;
  opt->params = calloc ((size_t) n_params + 1, sizeof *opt->params);
  opt->grad_avg = calloc ((size_t) n_params + 1, sizeof *opt->grad_avg);
  opt->sqr_avg = calloc ((size_t) n_params + 1, sizeof *opt->sqr_avg);
  opt->step = calloc ((size_t) n_params + 1, sizeof *opt->step);
  opt->items = calloc ((size_t) n_params + 1, sizeof *opt->items);
  if (!opt->params || !opt->grad_avg || !opt->sqr_avg || !opt->step || !opt->items)
    {
      ts_optimizer_free (opt);
      return ts_error (TS_ERR_NOMEM, "optimizer: out of memory");
    }
  for (int i = 0; i < n_params; i++)
    {
      const ts_tensor *v = params[i]->value;
      opt->params[i] = params[i];
      opt->grad_avg[i] = ts_tensor_new (be, v->ndim, v->shape);
      opt->sqr_avg[i] = ts_tensor_new (be, v->ndim, v->shape);
      if (!opt->grad_avg[i] || !opt->sqr_avg[i])
        {
          ts_optimizer_free (opt);
          return ts_error (TS_ERR_NOMEM, "optimizer: out of memory for the state of %s",
                           params[i]->name);
        }
    }
  for (int g = 0; g < n_groups; g++)
    opt->lrs[g] = 1e-3;
  *out = opt;
  return TS_OK;
}

void
ts_optimizer_free (ts_optimizer *opt)
{
  if (!opt)
    return;
  for (int i = 0; i < opt->n_params; i++)
    {
      if (opt->grad_avg)
        ts_tensor_free (opt->grad_avg[i]);
      if (opt->sqr_avg)
        ts_tensor_free (opt->sqr_avg[i]);
    }
  free (opt->params);
  free (opt->grad_avg);
  free (opt->sqr_avg);
  free (opt->step);
  free (opt->items);
  free (opt);
}

int
ts_optimizer_n_groups (const ts_optimizer *opt)
{
  return opt->n_groups;
}

void
ts_optimizer_set_lrs (ts_optimizer *opt, const double *lrs)
{
  for (int g = 0; g < opt->n_groups; g++)
    opt->lrs[g] = lrs[g];
}

void
ts_optimizer_set_lr_slice (ts_optimizer *opt, ts_lr_slice s)
{
  ts_lr_slice_spread (s, opt->n_groups, opt->lrs);
}

double
ts_optimizer_lr (const ts_optimizer *opt, int group)
{
  return opt->lrs[group];
}

void
ts_optimizer_set_mom (ts_optimizer *opt, double mom)
{
  opt->mom = mom;
}

double
ts_optimizer_mom (const ts_optimizer *opt)
{
  return opt->mom;
}

double
ts_optimizer_param_wd (const ts_optimizer *opt, const ts_param *p)
{
  return p->kind == TS_PARAM_WEIGHT ? opt->cfg.wd : 0.0;
}

int
ts_optimizer_param_step (const ts_optimizer *opt, int i)
{
  return opt->step[i];
}

void
ts_optimizer_step (ts_optimizer *opt)
{
  int n = 0;

  for (int i = 0; i < opt->n_params; i++)
    {
      ts_param *p = opt->params[i];

      /* fastai steps only parameters that have a gradient (requires_grad) */
      if (!p->trainable || !p->grad)
        continue;
      opt->step[i]++;
      opt->items[n++] = (ts_adam_item) {
        .param = p->value, .grad = p->grad, .m = opt->grad_avg[i], .v = opt->sqr_avg[i],
        .lr = (float) opt->lrs[p->group], .wd = (float) ts_optimizer_param_wd (opt, p),
        .step = opt->step[i],
      };
    }
  ts_backend_adam_many (opt->be, opt->items, n, (float) opt->mom, (float) opt->cfg.sqr_mom,
                        (float) opt->cfg.eps);
}

void
ts_optimizer_clear_state (ts_optimizer *opt)
{
  for (int i = 0; i < opt->n_params; i++)
    {
      opt->be->i->fill (opt->be, opt->grad_avg[i], 0.0f);
      opt->be->i->fill (opt->be, opt->sqr_avg[i], 0.0f);
      opt->step[i] = 0;
    }
}

void
ts_optimizer_snapshot_free (ts_optimizer_snapshot *s)
{
  if (!s)
    return;
  for (int i = 0; i < s->n_params; i++)
    {
      if (s->grad_avg)
        free (s->grad_avg[i]);
      if (s->sqr_avg)
        free (s->sqr_avg[i]);
    }
  free (s->grad_avg);
  free (s->sqr_avg);
  free (s->step);
  free (s);
}

ts_status
ts_optimizer_snapshot_new (ts_optimizer *opt, ts_optimizer_snapshot **out)
{
  ts_optimizer_snapshot *s = calloc (1, sizeof *s);
  ts_status st;

  *out = NULL;
  if (!s)
    return ts_error (TS_ERR_NOMEM, "optimizer snapshot: out of memory");
  s->n_params = opt->n_params;
  s->grad_avg = calloc ((size_t) opt->n_params + 1, sizeof *s->grad_avg);
  s->sqr_avg = calloc ((size_t) opt->n_params + 1, sizeof *s->sqr_avg);
  s->step = calloc ((size_t) opt->n_params + 1, sizeof *s->step);
  if (!s->grad_avg || !s->sqr_avg || !s->step)
    goto nomem;
  for (int i = 0; i < opt->n_params; i++)
    {
      int64_t n = opt->grad_avg[i]->numel;
      s->grad_avg[i] = malloc ((size_t) n * sizeof (float));
      s->sqr_avg[i] = malloc ((size_t) n * sizeof (float));
      if (!s->grad_avg[i] || !s->sqr_avg[i])
        goto nomem;
      if ((st = ts_tensor_to_host (opt->grad_avg[i], s->grad_avg[i], n)) != TS_OK ||
          (st = ts_tensor_to_host (opt->sqr_avg[i], s->sqr_avg[i], n)) != TS_OK)
        {
          ts_optimizer_snapshot_free (s);
          return st;
        }
      s->step[i] = opt->step[i];
    }
  *out = s;
  return TS_OK;

nomem:
  ts_optimizer_snapshot_free (s);
  return ts_error (TS_ERR_NOMEM, "optimizer snapshot: out of memory");
}

ts_status
ts_optimizer_snapshot_restore (ts_optimizer *opt, const ts_optimizer_snapshot *s)
{
  ts_status st;

  if (s->n_params != opt->n_params)
    return ts_error (TS_ERR_INVALID, "optimizer snapshot of %d parameters, optimizer has %d",
                     s->n_params, opt->n_params);
  for (int i = 0; i < opt->n_params; i++)
    {
      int64_t n = opt->grad_avg[i]->numel;
      if ((st = ts_tensor_from_host (opt->grad_avg[i], s->grad_avg[i], n)) != TS_OK ||
          (st = ts_tensor_from_host (opt->sqr_avg[i], s->sqr_avg[i], n)) != TS_OK)
        return st;
      opt->step[i] = s->step[i];
    }
  return TS_OK;
}

int
ts_optimizer_n_params (const ts_optimizer *opt)
{
  return opt->n_params;
}

ts_tensor *
ts_optimizer_grad_avg (ts_optimizer *opt, int i)
{
  return i >= 0 && i < opt->n_params ? opt->grad_avg[i] : NULL;
}

ts_tensor *
ts_optimizer_sqr_avg (ts_optimizer *opt, int i)
{
  return i >= 0 && i < opt->n_params ? opt->sqr_avg[i] : NULL;
}

void
ts_optimizer_set_param_step (ts_optimizer *opt, int i, int step)
{
  if (i >= 0 && i < opt->n_params)
    opt->step[i] = step;
}
