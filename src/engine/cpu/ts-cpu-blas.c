/* ts-cpu-blas.c: make OpenBLAS use the kernels this CPU can run.
 *
 * A DYNAMIC_ARCH OpenBLAS picks its kernels from the CPU model number.  On
 * virtual machines that report an unknown model (these build machines say
 * "Intel Xeon Processor") OpenBLAS 0.3.21 falls back to Prescott, plain SSE3,
 * and its SGEMM runs 6x slower than the AVX-512 kernels the CPU has.  We ask
 * the compiler which instruction sets are really there and, unless the user
 * chose with OPENBLAS_CORETYPE, re-run OpenBLAS's dispatcher once with the
 * matching core type before the first GEMM.
 */
#include "ts-cpu-private.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#ifdef TS_HAVE_OPENBLAS
/* Present only in DYNAMIC_ARCH builds: weak, so other builds link and skip this. */
extern void gotoblas_dynamic_init (void) __attribute__ ((weak));
extern void gotoblas_dynamic_quit (void) __attribute__ ((weak));
extern char *openblas_get_corename (void);

static const char *
best_core (void)
{
  __builtin_cpu_init ();
  if (__builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512bw")
      && __builtin_cpu_supports ("avx512dq") && __builtin_cpu_supports ("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    return "Haswell";
  if (__builtin_cpu_supports ("avx"))
    return "Sandybridge";
  return NULL;
}

static int
weaker (const char *current, const char *best)
{
  static const char *order[] = { "Sandybridge", "Haswell", "SkylakeX" };
  int ci = -1, bi = -1;

  for (int i = 0; i < 3; i++)
    {
      if (strcasecmp (current, order[i]) == 0)
        ci = i;
      if (strcasecmp (best, order[i]) == 0)
        bi = i;
    }
  /* cores outside the list (Prescott, Core2, Nehalem...) have no AVX at all;
   * newer ones (Cooperlake, Zen) are left alone */
  if (ci < 0)
    return strcasecmp (current, "Prescott") == 0 || strcasecmp (current, "Core2") == 0
           || strcasecmp (current, "Penryn") == 0 || strcasecmp (current, "Nehalem") == 0
           || strcasecmp (current, "Dunnington") == 0 || strcasecmp (current, "Atom") == 0;
  return ci < bi;
}

static void
fix_coretype (void)
{
  const char *best, *current;

  if (gotoblas_dynamic_init == NULL || gotoblas_dynamic_quit == NULL)
    return;
  if (getenv ("OPENBLAS_CORETYPE") != NULL || getenv ("TS_KEEP_BLAS_CORE") != NULL)
    return;
  best = best_core ();
  current = openblas_get_corename ();
  if (best == NULL || current == NULL || !weaker (current, best))
    return;
  setenv ("OPENBLAS_CORETYPE", best, 1);
  gotoblas_dynamic_quit ();
  gotoblas_dynamic_init ();
  unsetenv ("OPENBLAS_CORETYPE");
}
#endif

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

void
ts_cpu_blas_init (void)
{
#ifdef TS_HAVE_OPENBLAS
  pthread_once (&blas_once, fix_coretype);
#else
  (void) blas_once;
#endif
}

const char *
ts_backend_cpu_blas_core (void)
{
  return ts_cpu_blas_core ();
}

const char *
ts_cpu_blas_core (void)
{
#ifdef TS_HAVE_OPENBLAS
  return openblas_get_corename ();
#else
  return "reference";
#endif
}
