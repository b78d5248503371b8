/* ts-schedule.h: fastai's hyper-parameter schedules (SchedCos, SchedExp,
 * combined_cos) and the one-cycle policy built from them. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

#define TS_MAX_GROUPS 8

/* fastai SchedCos: start + (1 + cos(pi * (1 - pos))) * (end - start) / 2, pos in [0,1] */
double ts_sched_cos (double start, double end, double pos);
/* fastai SchedExp: start * (end / start)^pos */
double ts_sched_exp (double start, double end, double pos);
/* fastai combined_cos(pct, start, middle, end) evaluated through combine_scheds. */
double ts_sched_combined_cos (double pct, double start, double middle, double end, double pos);

/* fit_one_cycle's hyper-parameters (fastai's defaults from ts_one_cycle_init). */
typedef struct {
  int n_groups;
  double lr_max[TS_MAX_GROUPS];  /* per parameter group, from the lr slice */
  double pct_start;              /* 0.25 */
  double div;                    /* 25: lr starts at lr_max / div */
  double div_final;              /* 1e5: lr ends at lr_max / div_final */
  double moms[3];                /* 0.95, 0.85, 0.95 */
  int total_steps;               /* n_epoch * batches per epoch */
} ts_one_cycle;

void ts_one_cycle_init (ts_one_cycle *s, int n_groups, const double *lr_max, int total_steps);

/* Learning rate of every group and the momentum (Adam's beta1) for training
 * step @step (0-based); fastai evaluates the schedule at pos = step / total
 * before each batch. */
void ts_one_cycle_at (const ts_one_cycle *s, int step, double *lrs, double *mom);

#ifdef __cplusplus
}
#endif
