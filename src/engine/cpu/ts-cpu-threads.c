/* ts-cpu-threads.c: a fixed pool of worker threads that all run the same task,
 * each on its own static slice; the calling thread is thread 0.
 *
 * A training step issues hundreds of short parallel regions back to back, so
 * workers spin briefly on the generation counter before sleeping on the
 * condition variable, and the caller spins briefly for completion: a worker
 * that is still spinning picks the next op up without a futex wake-up.  The
 * generation only changes under the mutex, so a worker that checks it under
 * the mutex and then sleeps can never miss a wake-up.
 */
#include "ts-cpu-private.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

/* How long a waiting thread polls before it sleeps.  Measured on the 2-core
 * machine with other processes running: with 30 us, a worker slept in most of
 * the gaps between ops (the optimizer's small tensors, the head, the model's
 * bookkeeping), lost its core to another process and came back milliseconds
 * later, so a step used only ~1.3 of the 2 cores while PyTorch (whose OpenMP
 * threads poll for longer) used ~1.9.  After the first SPIN_YIELD_NS the
 * polling yields between reads, so that when the cores are oversubscribed
 * (loader threads, parallel test runs) the others still get to run.
 * TS_CPU_SPIN_US overrides the total, TS_CPU_SPIN_YIELD_US when yielding starts
 * (-1: never yield). */
#define SPIN_US_DEFAULT 2000
#define SPIN_YIELD_NS 500000
/* pauses between clock reads while polling */
#define SPIN_CHECK 64

struct ts_cpu_pool {
  int n_threads;
  pthread_t *threads;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  pthread_cond_t done;
  uint64_t generation;   /* atomic; written under lock */
  int remaining;         /* atomic: workers still running the current task */
  int sleepers;          /* under lock: workers waiting on wake */
  int caller_sleeping;   /* under lock */
  int quit;              /* atomic; written under lock */
  int64_t spin_ns;       /* polling time before sleeping */
  int64_t yield_ns;      /* polling time before yielding between reads; < 0: never */
  ts_cpu_task fn;
  void *arg;
};

typedef struct {
  ts_cpu_pool *pool;
  int tid;
} worker_start;

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

static int64_t
now_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Poll for a new task (or quit) / for the workers to finish, until the spin
 * time runs out; 1 when it came. */
static int
spin_wait_generation (ts_cpu_pool *pool, uint64_t seen, uint64_t *gen)
{
  int64_t t0 = 0;
  int yielding = 0;

  for (uint64_t spins = 1;; spins++)
    {
      *gen = __atomic_load_n (&pool->generation, __ATOMIC_ACQUIRE);
      if (*gen != seen || __atomic_load_n (&pool->quit, __ATOMIC_ACQUIRE))
        return 1;
      if (yielding)
        sched_yield ();
      else
        cpu_relax ();
      if (yielding || spins % SPIN_CHECK == 0)
        {
          int64_t t = now_ns ();
          if (t0 == 0)
            t0 = t;
          else if (t - t0 >= pool->spin_ns)
            return 0;
          else if (pool->yield_ns >= 0 && t - t0 >= pool->yield_ns)
            yielding = 1;
        }
    }
}

static int
spin_wait_done (ts_cpu_pool *pool)
{
  int64_t t0 = 0;
  int yielding = 0;

  for (uint64_t spins = 1;; spins++)
    {
      if (__atomic_load_n (&pool->remaining, __ATOMIC_ACQUIRE) == 0)
        return 1;
      if (yielding)
        sched_yield ();
      else
        cpu_relax ();
      if (yielding || spins % SPIN_CHECK == 0)
        {
          int64_t t = now_ns ();
          if (t0 == 0)
            t0 = t;
          else if (t - t0 >= pool->spin_ns)
            return 0;
          else if (pool->yield_ns >= 0 && t - t0 >= pool->yield_ns)
            yielding = 1;
        }
    }
}

static void *
worker_main (void *data)
{
  worker_start *start = data;
  ts_cpu_pool *pool = start->pool;
  int tid = start->tid;
  uint64_t seen = 0;

  free (start);
  for (;;)
    {
      uint64_t gen = 0;

      if (!spin_wait_generation (pool, seen, &gen))
        {
          pthread_mutex_lock (&pool->lock);
          pool->sleepers++;
          while (!pool->quit && pool->generation == seen)
            pthread_cond_wait (&pool->wake, &pool->lock);
          pool->sleepers--;
          gen = pool->generation;
          pthread_mutex_unlock (&pool->lock);
        }
      if (__atomic_load_n (&pool->quit, __ATOMIC_ACQUIRE))
        break;
      seen = gen;
      pool->fn (pool->arg, tid, pool->n_threads);
      if (__atomic_sub_fetch (&pool->remaining, 1, __ATOMIC_ACQ_REL) == 0)
        {
          pthread_mutex_lock (&pool->lock);
          if (pool->caller_sleeping)
            pthread_cond_signal (&pool->done);
          pthread_mutex_unlock (&pool->lock);
        }
    }
  return NULL;
}

ts_cpu_pool *
ts_cpu_pool_new (int n_threads)
{
  ts_cpu_pool *pool = calloc (1, sizeof *pool);

  if (pool == NULL)
    return NULL;
  if (n_threads < 1)
    n_threads = 1;
  pool->n_threads = n_threads;
  pool->spin_ns = (int64_t) SPIN_US_DEFAULT * 1000;
  if (getenv ("TS_CPU_SPIN_US") != NULL)
    pool->spin_ns = (int64_t) atoll (getenv ("TS_CPU_SPIN_US")) * 1000;
  pool->yield_ns = SPIN_YIELD_NS;
  if (getenv ("TS_CPU_SPIN_YIELD_US") != NULL)
    pool->yield_ns = (int64_t) atoll (getenv ("TS_CPU_SPIN_YIELD_US")) * 1000;
  pthread_mutex_init (&pool->lock, NULL);
  pthread_cond_init (&pool->wake, NULL);
  pthread_cond_init (&pool->done, NULL);
  pool->threads = calloc ((size_t) n_threads, sizeof (pthread_t));
  if (pool->threads == NULL)
    {
      free (pool);
      return NULL;
    }
  for (int i = 1; i < n_threads; i++)
    {
      worker_start *start = malloc (sizeof *start);
      if (start == NULL)
        {
          pool->n_threads = i;
          break;
        }
      start->pool = pool;
      start->tid = i;
      if (pthread_create (&pool->threads[i], NULL, worker_main, start) != 0)
        {
          free (start);
          /* fewer threads is still correct: the static split uses n_threads */
          pool->n_threads = i;
          break;
        }
    }
  return pool;
}

void
ts_cpu_pool_free (ts_cpu_pool *pool)
{
  if (pool == NULL)
    return;
  pthread_mutex_lock (&pool->lock);
  __atomic_store_n (&pool->quit, 1, __ATOMIC_RELEASE);
  pthread_cond_broadcast (&pool->wake);
  pthread_mutex_unlock (&pool->lock);
  for (int i = 1; i < pool->n_threads; i++)
    pthread_join (pool->threads[i], NULL);
  pthread_mutex_destroy (&pool->lock);
  pthread_cond_destroy (&pool->wake);
  pthread_cond_destroy (&pool->done);
  free (pool->threads);
  free (pool);
}

int
ts_cpu_pool_size (const ts_cpu_pool *pool)
{
  return pool ? pool->n_threads : 1;
}

void
ts_cpu_pool_run (ts_cpu_pool *pool, ts_cpu_task fn, void *arg)
{
  if (pool == NULL || pool->n_threads == 1)
    {
      fn (arg, 0, 1);
      return;
    }
  pool->fn = fn;
  pool->arg = arg;
  __atomic_store_n (&pool->remaining, pool->n_threads - 1, __ATOMIC_RELAXED);
  pthread_mutex_lock (&pool->lock);
  /* release: fn, arg and remaining are visible to whoever sees the new generation */
  __atomic_add_fetch (&pool->generation, 1, __ATOMIC_RELEASE);
  if (pool->sleepers > 0)
    pthread_cond_broadcast (&pool->wake);
  pthread_mutex_unlock (&pool->lock);

  fn (arg, 0, pool->n_threads);

  if (spin_wait_done (pool))
    return;
  pthread_mutex_lock (&pool->lock);
  pool->caller_sleeping = 1;
  while (__atomic_load_n (&pool->remaining, __ATOMIC_ACQUIRE) > 0)
    pthread_cond_wait (&pool->done, &pool->lock);
  pool->caller_sleeping = 0;
  pthread_mutex_unlock (&pool->lock);
}
