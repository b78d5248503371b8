/* fake-streams.c: the emulated GPU's streams and events, asynchronous as a
 * GPU's are, so that a missing wait shows.
 *
 * A kernel launch, copy or memset queued on a stream does not happen when
 * it is queued: it waits on its stream until something must see it, and
 * then the stream's queue runs in order up to that point:
 *   - a cuBLAS or cuDNN call on the same stream (tsk_emu_stream_ready,
 *     called first by each of them; they then run at once);
 *   - cudaStreamSynchronize on it; cudaEventSynchronize, or
 *     cudaStreamWaitEvent on any stream, for an event recorded on it (up to
 *     where the event was recorded);
 *   - cudaFree and cudaFreeHost (which wait for the device, as CUDA's do in
 *     practice), and cudaStreamDestroy (CUDA's returns at once and lets the
 *     work finish; running it then is one schedule of that).
 * Stream flags are not modelled: every stream here is non-blocking, as the
 * backend's are, and the NULL stream is one more stream.
 * So a kernel that reads what another stream copies without waiting for its
 * event reads the destination's old bytes (all ones from cudaMalloc: NaN),
 * a host that changes page-locked memory before the copy reading it is
 * waited for sends the changed bytes, and memory freed or reused before the
 * kernels reading it were waited for is read after: each makes results
 * wrong.  (Work runs as late as it can; a schedule where another stream
 * runs early is not tried.)
 *
 * Copies from pageable host memory take the bytes when queued (CUDA stages
 * them before returning); copies to pageable host memory are done when they
 * return (CUDA waits for them); memory from cudaHostAlloc is page-locked and
 * read or written only when the copy runs.
 *
 * Loader threads queue copies while the training thread runs kernels: one
 * lock guards the queues, and a queue's copies run under it. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

void ts_fake_pinned_add (void *ptr, size_t size);
void ts_fake_pinned_remove (void *ptr);
void ts_fake_streams_flush_all (void);
void tsk_emu_stream_ready (cudaStream_t stream);
extern cudaError_t ts_fake_cuda_sticky;   /* fake-cudart.c */

typedef struct op {
  struct op *next;
  void (*run) (void *);    /* a kernel (tsk_emu_enqueue); else a copy or memset */
  void (*drop) (void *);
  void *closure;
  void *dst;
  const void *src;   /* NULL: a memset of value */
  void *owned;       /* the pageable bytes taken when queued */
  size_t n;
  int value;
} op;

typedef struct fake_stream {
  struct fake_stream *next;   /* every stream, for flush_all */
  op *head, *tail;
  long queued, done;          /* ops so far; ops run */
} fake_stream;

typedef struct {
  fake_stream *stream;   /* NULL: never recorded (complete) */
  long at;               /* the stream's op count when recorded */
} fake_event;

typedef struct range {
  struct range *next;
  uintptr_t lo, hi;
} range;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static fake_stream *streams;
static fake_stream legacy;   /* the NULL stream */
static range *pinned;

static fake_stream *
stream_of (cudaStream_t s)
{
  return s ? (fake_stream *) s : &legacy;
}

/* with mu held: runs @s's queued ops while fewer than @upto have run */
static void
run_until (fake_stream *s, long upto)
{
  while (s->head && s->done < upto)
    {
      op *o = s->head;

      if (o->run)
        {
          o->run (o->closure);
          o->drop (o->closure);
        }
      else if (o->src)
        memmove (o->dst, o->src, o->n);
      else
        memset (o->dst, o->value, o->n);
      s->head = o->next;
      if (s->head == NULL)
        s->tail = NULL;
      s->done++;
      free (o->owned);
      free (o);
    }
}

/* TS_FAKE_CUDA_FAIL_AFTER=N: the Nth kernel launch, copy or memset queued
 * (on any stream, since the program started) leaves cudaErrorLaunchFailure
 * sticky, as a GPU lost mid-run does (a kernel's fault, the driver's Xid):
 * every check from then on fails, so that a test sees what a program shows
 * then (tests/cuda/test-cuda-cli.c).  With mu held; 0 when unset. */
static void
count_towards_failure (void)
{
  static long fail_after = -1, n_queued;

  if (fail_after < 0)
    {
      const char *v = getenv ("TS_FAKE_CUDA_FAIL_AFTER");
      fail_after = v ? atol (v) : 0;
    }
  if (fail_after > 0 && ++n_queued == fail_after)
    ts_fake_cuda_sticky = cudaErrorLaunchFailure;
}

/* with mu held */
static void
push (fake_stream *s, op *o)
{
  count_towards_failure ();
  if (s->tail)
    s->tail->next = o;
  else
    s->head = o;
  s->tail = o;
  s->queued++;
}

static void
flush (fake_stream *s)
{
  run_until (s, s->queued);
}

void
ts_fake_streams_flush_all (void)
{
  pthread_mutex_lock (&mu);
  flush (&legacy);
  for (fake_stream *s = streams; s; s = s->next)
    flush (s);
  pthread_mutex_unlock (&mu);
}

/* A kernel launch (kernels/ts-cuda-common.cuh): queued like a copy, run
 * in order with the stream's copies when something needs its results. */
void tsk_emu_enqueue (cudaStream_t stream, void (*run) (void *), void (*drop) (void *),
                      void *closure);

void
tsk_emu_enqueue (cudaStream_t stream, void (*run) (void *), void (*drop) (void *),
                 void *closure)
{
  fake_stream *s = stream_of (stream);
  op *o = calloc (1, sizeof *o);

  if (o == NULL)
    abort ();
  o->run = run, o->drop = drop, o->closure = closure;
  pthread_mutex_lock (&mu);
  push (s, o);
  pthread_mutex_unlock (&mu);
}

void
tsk_emu_stream_ready (cudaStream_t stream)
{
  pthread_mutex_lock (&mu);
  flush (stream_of (stream));
  pthread_mutex_unlock (&mu);
}

void
ts_fake_pinned_add (void *ptr, size_t size)
{
  range *r = malloc (sizeof *r);

  if (r == NULL)
    abort ();
  r->lo = (uintptr_t) ptr;
  r->hi = r->lo + size;
  pthread_mutex_lock (&mu);
  r->next = pinned;
  pinned = r;
  pthread_mutex_unlock (&mu);
}

void
ts_fake_pinned_remove (void *ptr)
{
  pthread_mutex_lock (&mu);
  for (range **p = &pinned; *p; p = &(*p)->next)
    if ((*p)->lo == (uintptr_t) ptr)
      {
        range *r = *p;
        *p = r->next;
        free (r);
        break;
      }
  pthread_mutex_unlock (&mu);
}

/* with mu held */
static int
is_pinned (const void *p)
{
  for (range *r = pinned; r; r = r->next)
    if ((uintptr_t) p >= r->lo && (uintptr_t) p < r->hi)
      return 1;
  return 0;
}

/* with mu held */
static cudaError_t
enqueue (fake_stream *s, void *dst, const void *src, size_t n, int value)
{
  op *o = calloc (1, sizeof *o);

  if (o == NULL)
    return cudaErrorMemoryAllocation;
  o->dst = dst, o->src = src, o->n = n, o->value = value;
  push (s, o);
  return cudaSuccess;
}

cudaError_t
cudaMemsetAsync (void *ptr, int value, size_t count, cudaStream_t stream)
{
  cudaError_t e;

  pthread_mutex_lock (&mu);
  e = enqueue (stream_of (stream), ptr, NULL, count, value);
  pthread_mutex_unlock (&mu);
  return e;
}

cudaError_t
cudaMemcpyAsync (void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
                 cudaStream_t stream)
{
  fake_stream *s = stream_of (stream);
  cudaError_t e = cudaSuccess;

  pthread_mutex_lock (&mu);
  if (kind == cudaMemcpyDeviceToHost && !is_pinned (dst))
    {
      flush (s);
      memmove (dst, src, count);
    }
  else if (kind == cudaMemcpyHostToDevice && !is_pinned (src))
    {
      void *copy = malloc (count ? count : 1);
      if (copy == NULL)
        e = cudaErrorMemoryAllocation;
      else
        {
          memcpy (copy, src, count);
          if ((e = enqueue (s, dst, copy, count, 0)) == cudaSuccess)
            s->tail->owned = copy;
          else
            free (copy);
        }
    }
  else
    e = enqueue (s, dst, src, count, 0);
  pthread_mutex_unlock (&mu);
  return e;
}

cudaError_t
cudaStreamCreateWithFlags (cudaStream_t *stream, unsigned int flags)
{
  fake_stream *s = calloc (1, sizeof *s);

  if (s == NULL)
    return cudaErrorMemoryAllocation;
  pthread_mutex_lock (&mu);
  s->next = streams;
  streams = s;
  pthread_mutex_unlock (&mu);
  *stream = (cudaStream_t) s;
  return cudaSuccess;
}

cudaError_t
cudaStreamDestroy (cudaStream_t stream)
{
  /* its work done; the stream kept (on the list, reachable): an event
   * recorded on it may still be waited for, which is complete at once */
  tsk_emu_stream_ready (stream);
  return cudaSuccess;
}

cudaError_t
cudaStreamSynchronize (cudaStream_t stream)
{
  tsk_emu_stream_ready (stream);
  return ts_fake_cuda_sticky;
}

cudaError_t
cudaEventCreateWithFlags (cudaEvent_t *event, unsigned int flags)
{
  fake_event *e = calloc (1, sizeof *e);

  if (e == NULL)
    return cudaErrorMemoryAllocation;
  *event = (cudaEvent_t) e;
  return cudaSuccess;
}

cudaError_t
cudaEventDestroy (cudaEvent_t event)
{
  free (event);
  return cudaSuccess;
}

cudaError_t
cudaEventRecord (cudaEvent_t event, cudaStream_t stream)
{
  fake_event *e = (fake_event *) event;

  pthread_mutex_lock (&mu);
  e->stream = stream_of (stream);
  e->at = e->stream->queued;
  pthread_mutex_unlock (&mu);
  return cudaSuccess;
}

/* the work before @event's record is done (a valid schedule for a wait) */
static void
complete (cudaEvent_t event)
{
  fake_event *e = (fake_event *) event;

  pthread_mutex_lock (&mu);
  if (e->stream)
    run_until (e->stream, e->at);
  pthread_mutex_unlock (&mu);
}

cudaError_t
cudaEventSynchronize (cudaEvent_t event)
{
  complete (event);
  return ts_fake_cuda_sticky;   /* as cudaStreamSynchronize */
}

cudaError_t
cudaStreamWaitEvent (cudaStream_t stream, cudaEvent_t event, unsigned int flags)
{
  complete (event);
  return cudaSuccess;
}
