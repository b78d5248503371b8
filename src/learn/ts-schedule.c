/* ts-schedule.c: fastai's schedules, written so that the numbers match
 * fastai.callback.schedule exactly (tests compare them at known points). */
#include "ts-schedule.h"

#include <math.h>

double
ts_sched_cos (double start, double end, double pos)
{
  return start + (1.0 + cos (M_PI * (1.0 - pos))) * (end - start) / 2.0;
}

double
ts_sched_exp (double start, double end, double pos)
{
  return start * pow (end / start, pos);
}

double
ts_sched_combined_cos (double pct, double start, double middle, double end, double pos)
{
  /* combine_scheds([pct, 1 - pct], ...): the phase is the last boundary <= pos,
   * capped at the last phase; a zero-length phase is never selected for a
   * position inside the next one (fastai divides by zero there instead). */
  if (pos >= pct || pct <= 0.0)
    {
      double len = 1.0 - pct;
      double p = len > 0.0 ? (pos - pct) / len : 1.0;
      return ts_sched_cos (middle, end, p);
    }
  return ts_sched_cos (start, middle, pos / pct);
}

void
ts_one_cycle_init (ts_one_cycle *s, int n_groups, const double *lr_max, int total_steps)
{
  if (n_groups > TS_MAX_GROUPS)
    n_groups = TS_MAX_GROUPS;
  s->n_groups = n_groups;
  for (int g = 0; g < n_groups; g++)
    s->lr_max[g] = lr_max[g];
  s->pct_start = 0.25;
  s->div = 25.0;
  s->div_final = 1e5;
  s->moms[0] = 0.95;
  s->moms[1] = 0.85;
  s->moms[2] = 0.95;
  s->total_steps = total_steps;
}

void
ts_one_cycle_at (const ts_one_cycle *s, int step, double *lrs, double *mom)
{
  double pos = s->total_steps > 0 ? (double) step / s->total_steps : 0.0;

  for (int g = 0; g < s->n_groups; g++)
    {
      double hi = s->lr_max[g];
      lrs[g] = ts_sched_combined_cos (s->pct_start, hi / s->div, hi, hi / s->div_final, pos);
    }
  if (mom)
    *mom = ts_sched_combined_cos (s->pct_start, s->moms[0], s->moms[1], s->moms[2], pos);
}
