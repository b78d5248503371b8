/* ts-clock.h: the monotonic clock in seconds, for timing steps, epochs and
 * layers (the learner, the profiler, the benchmarks). */
#pragma once

#include <time.h>

static inline double
ts_now_seconds (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + 1e-9 * (double) ts.tv_nsec;
}
