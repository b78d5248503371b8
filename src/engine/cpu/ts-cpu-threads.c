/* ts-cpu-threads.c: a fixed pool of worker threads that all run the same task,
 * each on its own static slice; the calling thread is thread 0. */
#include "ts-cpu-private.h"

#include <pthread.h>
#include <stdlib.h>

struct ts_cpu_pool {
  int n_threads;
  pthread_t *threads;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  pthread_cond_t done;
  uint64_t generation;
  int remaining;
  int quit;
  ts_cpu_task fn;
  void *arg;
};

typedef struct {
  ts_cpu_pool *pool;
  int tid;
} worker_start;

static void *
worker_main (void *data)
{
  worker_start *start = data;
  ts_cpu_pool *pool = start->pool;
  int tid = start->tid;
  uint64_t seen = 0;

  free (start);
  pthread_mutex_lock (&pool->lock);
  for (;;)
    {
      while (!pool->quit && pool->generation == seen)
        pthread_cond_wait (&pool->wake, &pool->lock);
      if (pool->quit)
        break;
      seen = pool->generation;
      pthread_mutex_unlock (&pool->lock);
      pool->fn (pool->arg, tid, pool->n_threads);
      pthread_mutex_lock (&pool->lock);
      if (--pool->remaining == 0)
        pthread_cond_signal (&pool->done);
    }
  pthread_mutex_unlock (&pool->lock);
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
  pool->quit = 1;
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
  pthread_mutex_lock (&pool->lock);
  pool->fn = fn;
  pool->arg = arg;
  pool->remaining = pool->n_threads - 1;
  pool->generation++;
  pthread_cond_broadcast (&pool->wake);
  pthread_mutex_unlock (&pool->lock);

  fn (arg, 0, pool->n_threads);

  pthread_mutex_lock (&pool->lock);
  while (pool->remaining > 0)
    pthread_cond_wait (&pool->done, &pool->lock);
  pthread_mutex_unlock (&pool->lock);
}
