/* ts-optimizer.h: fastai's Adam (decoupled "true" weight decay) over the
 * parameter groups of a model, with fastai's learning-rate slices.
 *
 * The optimizer borrows the parameters; it owns the Adam state (grad_avg,
 * sqr_avg and a step count per parameter), allocated once on the parameters'
 * backend and kept until ts_optimizer_clear_state. */
#pragma once

#include "ts-model.h"
#include "ts-schedule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* fastai's slice(lo, hi) / slice(hi) / a plain lr.  lo == 0 && hi == 0 is invalid. */
typedef struct {
  double lo;        /* 0: slice(hi) */
  double hi;
  int is_slice;     /* 0: every group gets hi */
} ts_lr_slice;

static inline ts_lr_slice ts_lr_plain (double lr) { return (ts_lr_slice) { 0.0, lr, 0 }; }
static inline ts_lr_slice ts_lr_slice_hi (double hi) { return (ts_lr_slice) { 0.0, hi, 1 }; }
static inline ts_lr_slice ts_lr_slice_range (double lo, double hi) { return (ts_lr_slice) { lo, hi, 1 }; }

/* fastai Optimizer.set_hyper: slice(hi) -> [hi/10]*(n-1) + [hi];
 * slice(lo, hi) -> even_mults(lo, hi, n) (geometric); plain -> [lr]*n. */
void ts_lr_slice_spread (ts_lr_slice s, int n_groups, double *out);

typedef struct {
  double mom;       /* beta1, 0.9 (the one-cycle schedule overrides it per step) */
  double sqr_mom;   /* beta2, 0.99 */
  double eps;       /* 1e-5 */
  double wd;        /* 0.01, decoupled; never on biases and batch norm (wd_bn_bias=False) */
} ts_adam_config;

void ts_adam_config_init (ts_adam_config *cfg);

typedef struct ts_optimizer ts_optimizer;

/* @params: @n_params borrowed pointers (their group must be < @n_groups). */
ts_status ts_optimizer_new (ts_backend *be, ts_param **params, int n_params, int n_groups,
                            const ts_adam_config *cfg, ts_optimizer **out);
ts_status ts_optimizer_new_for_model (ts_model *m, const ts_adam_config *cfg,
                                      ts_optimizer **out);
void ts_optimizer_free (ts_optimizer *opt);

int ts_optimizer_n_groups (const ts_optimizer *opt);
void ts_optimizer_set_lrs (ts_optimizer *opt, const double *lrs);
void ts_optimizer_set_lr_slice (ts_optimizer *opt, ts_lr_slice s);
double ts_optimizer_lr (const ts_optimizer *opt, int group);
void ts_optimizer_set_mom (ts_optimizer *opt, double mom);
double ts_optimizer_mom (const ts_optimizer *opt);

/* The weight decay that applies to a parameter (0 for biases and BN). */
double ts_optimizer_param_wd (const ts_optimizer *opt, const ts_param *p);
/* Adam step count of parameter @i (0 until it first trains). */
int ts_optimizer_param_step (const ts_optimizer *opt, int i);

/* One Adam step on every trainable parameter, with its group's lr. */
void ts_optimizer_step (ts_optimizer *opt);
/* fastai clear_state: zero the averages and step counts. */
void ts_optimizer_clear_state (ts_optimizer *opt);

/* Host copy of the state (for lr_find, which puts everything back). */
typedef struct ts_optimizer_snapshot ts_optimizer_snapshot;
ts_status ts_optimizer_snapshot_new (ts_optimizer *opt, ts_optimizer_snapshot **out);
ts_status ts_optimizer_snapshot_restore (ts_optimizer *opt, const ts_optimizer_snapshot *s);
void ts_optimizer_snapshot_free (ts_optimizer_snapshot *s);

/* The Adam state of parameter @i, for checkpoints (ts-checkpoint.c):
 * grad_avg and sqr_avg live on the backend, shaped as the parameter. */
int ts_optimizer_n_params (const ts_optimizer *opt);
ts_tensor *ts_optimizer_grad_avg (ts_optimizer *opt, int i);
ts_tensor *ts_optimizer_sqr_avg (ts_optimizer *opt, int i);
void ts_optimizer_set_param_step (ts_optimizer *opt, int i, int step);

#ifdef __cplusplus
}
#endif
