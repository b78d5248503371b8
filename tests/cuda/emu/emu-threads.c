/* emu-threads.c: a block's threads for the host emulation, so that the
 * kernels' shared-memory reductions and barriers run as they do on a GPU.
 *
 * By default the emulation runs one thread per block (fast: it checks index
 * arithmetic and results).  With TSK_EMU_THREADS=256 (TSK_THREADS) every
 * block runs its 256 threads as coroutines (ucontext): each runs until it
 * reaches __syncthreads or ends, then the next; when all wait at the
 * barrier, the next phase begins.  So code after a barrier sees everything
 * written before it, and code between two barriers sees the writes of the
 * threads run before it in this phase only: a missing barrier or two
 * threads writing one element gives results that depend on the order, which
 * TSK_EMU_ORDER=reverse (last thread first) changes.  The tests pass in
 * both orders, against the CPU backend: that is the race check a GPU-less
 * machine can make.  A barrier not reached by every thread of the block
 * (undefined behaviour in CUDA) aborts with the block's number.
 *
 * Speed: the first thread of each block runs as a coroutine; when it ends
 * without reaching a barrier, the others run as plain calls, and a barrier
 * reached by one of them is the divergence above.  Kernels without
 * barriers so cost little more than one thread per block.
 *
 * One host thread runs kernels at a time (as the emulation's globals
 * blockIdx, threadIdx, blockDim and gridDim already require). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define MAX_THREADS 256          /* TSK_THREADS */
#define STACK_BYTES (256 * 1024) /* generous: -O0 and sanitizer frames */
#define GUARD_BYTES 4096         /* below each stack: an overflow faults
                                    instead of writing into the next one */

typedef struct { unsigned int x, y, z; } tsk_emu_dim;
extern tsk_emu_dim blockIdx, threadIdx, blockDim;

void tsk_emu_syncthreads (void);
unsigned int tsk_emu_block_threads (void);
void tsk_emu_run_block (const char *kernel, void (*thread) (void *), void *arg);

enum { READY, AT_BARRIER, DONE };

static struct {
  int threads;    /* 0: not read yet */
  int reverse;
  ucontext_t sched;
  ucontext_t ctx[MAX_THREADS];
  int state[MAX_THREADS];
  char *stacks;
  int current;    /* the running coroutine; -1: a plain call; -2: none */
  void (*thread) (void *);
  void *arg;
  const char *kernel;
} emu = { .current = -2 };

static void
setup (void)
{
  const char *n = getenv ("TSK_EMU_THREADS"), *order = getenv ("TSK_EMU_ORDER");

  emu.threads = n && *n ? atoi (n) : 1;
  if (emu.threads != 1 && emu.threads != MAX_THREADS)
    {
      /* the kernels size shared arrays by TSK_THREADS and assume it */
      fprintf (stderr, "emu-threads: TSK_EMU_THREADS must be 1 or %d, not %s\n", MAX_THREADS, n);
      abort ();
    }
  emu.reverse = order && strcmp (order, "reverse") == 0;
  if (emu.threads > 1)
    {
      size_t each = STACK_BYTES + GUARD_BYTES;
      void *p = mmap (NULL, MAX_THREADS * each, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED)
        {
          fprintf (stderr, "emu-threads: no memory for %d coroutine stacks\n", MAX_THREADS);
          abort ();
        }
      emu.stacks = p;
      for (int t = 0; t < MAX_THREADS; t++)
        mprotect (emu.stacks + t * each, GUARD_BYTES, PROT_NONE);
    }
}

unsigned int
tsk_emu_block_threads (void)
{
  if (emu.threads == 0)
    setup ();
  return (unsigned int) emu.threads;
}

static void
divergence (const char *what)
{
  fprintf (stderr, "emu-threads: %s, block %u: %s (a barrier every thread of the block "
           "must reach: undefined behaviour on a GPU)\n", emu.kernel, blockIdx.x, what);
  abort ();
}

void
tsk_emu_syncthreads (void)
{
  int t = emu.current;

  if (t == -2)
    return;   /* one thread per block */
  if (t == -1)
    divergence ("a thread reached __syncthreads that the block's first thread never did");
  emu.state[t] = AT_BARRIER;
  swapcontext (&emu.ctx[t], &emu.sched);
}

static void
trampoline (void)
{
  emu.thread (emu.arg);
  emu.state[emu.current] = DONE;
  /* uc_link: back to the scheduler */
}

static int
thread_at (int i)
{
  return emu.reverse ? emu.threads - 1 - i : i;
}

static void
start (int t)
{
  getcontext (&emu.ctx[t]);
  emu.ctx[t].uc_stack.ss_sp = emu.stacks + (size_t) t * (STACK_BYTES + GUARD_BYTES) + GUARD_BYTES;
  emu.ctx[t].uc_stack.ss_size = STACK_BYTES;
  emu.ctx[t].uc_link = &emu.sched;
  makecontext (&emu.ctx[t], trampoline, 0);
  emu.state[t] = READY;
}

static void
resume (int t)
{
  threadIdx.x = (unsigned int) t;
  emu.current = t;
  emu.state[t] = READY;
  swapcontext (&emu.sched, &emu.ctx[t]);
}

/* After a phase: 1 when the threads wait at a barrier (all of them), 0 when
 * all have ended; a mix is a divergence. */
static int
all_waiting (void)
{
  int waiting = 0;

  for (int t = 0; t < emu.threads; t++)
    waiting += emu.state[t] == AT_BARRIER;
  if (waiting > 0 && waiting < emu.threads)
    divergence ("some threads ended while others wait at __syncthreads");
  return waiting > 0;
}

/* kernels/ts-cuda-common.cuh's TSK_SHARED arrays (a few dozen) */
static struct {
  void *p;
  size_t bytes;
} shared[64];
static int n_shared;

int tsk_emu_shared (void *p, size_t bytes);

int
tsk_emu_shared (void *p, size_t bytes)
{
  if (n_shared == (int) (sizeof shared / sizeof shared[0]))
    {
      fprintf (stderr, "emu-threads: more than %d shared arrays\n", n_shared);
      abort ();
    }
  shared[n_shared].p = p;
  shared[n_shared++].bytes = bytes;
  return 1;
}

void
tsk_emu_run_block (const char *kernel, void (*thread) (void *), void *arg)
{
  int first = thread_at (0);

  for (int i = 0; i < n_shared; i++)
    memset (shared[i].p, 0xff, shared[i].bytes);

  emu.kernel = kernel;
  emu.thread = thread;
  emu.arg = arg;
  start (first);
  resume (first);
  if (emu.state[first] == DONE)
    {
      /* no barrier on the first thread's path: the others as plain calls */
      emu.current = -1;
      for (int i = 1; i < emu.threads; i++)
        {
          threadIdx.x = (unsigned int) thread_at (i);
          thread (arg);
        }
    }
  else
    {
      /* the others up to the first barrier, then phase after phase */
      for (int i = 1; i < emu.threads; i++)
        {
          start (thread_at (i));
          resume (thread_at (i));
        }
      while (all_waiting ())
        for (int i = 0; i < emu.threads; i++)
          resume (thread_at (i));
    }
  emu.current = -2;
}
