/* ts-cuda-stage.c: a batch's bytes copied to the device ahead of its step.
 *
 * The loader stages its next batch while the current one computes: the copy
 * runs on the stage's own stream, so it overlaps the compute stream's
 * kernels instead of queueing behind them (at 128 px a batch of 64 is
 * ~8 MB of decoded bytes, ~0.2-0.3 ms on the bus, 2-4% of a bf16 step).
 * Two events order it:
 *   copied   - recorded after the copy; resample_batch's stream waits for it
 *              before its kernel reads the device copy (ts_cuda_stage_take);
 *   consumed - recorded on the compute stream after that kernel
 *              (ts_cuda_stage_read); the next copy into the stage waits for
 *              it, so a refill never overwrites bytes still to be read.
 * The host waits for copied (stage_wait) before the loader refills the
 * page-locked buffer the copy reads.
 *
 * A stage belongs to no backend (the loader's threads make and fill them,
 * as they allocate page-locked memory): it lives on the device of the last
 * backend made, and a resample on another device copies the bytes itself. */
#include "ts-cuda-private.h"

#include <stdlib.h>

typedef struct {
  int device;
  void *dev;          /* the device copy */
  size_t cap, bytes;  /* allocated; staged by the last upload (0: none) */
  cudaStream_t stream;
  cudaEvent_t copied, consumed;
} stage;

static int reserve (stage *s, size_t bytes);

void *
ts_cuda_stage_new (size_t bytes)
{
  stage *s = calloc (1, sizeof *s);

  if (s == NULL)
    return NULL;
  s->device = ts_cuda_host_device ();
  cudaSetDevice (s->device);
  if (cudaStreamCreateWithFlags (&s->stream, cudaStreamNonBlocking) != cudaSuccess)
    goto fail;
  if (cudaEventCreateWithFlags (&s->copied, cudaEventDisableTiming) != cudaSuccess)
    goto fail_stream;
  if (cudaEventCreateWithFlags (&s->consumed, cudaEventDisableTiming) != cudaSuccess)
    goto fail_copied;
  /* now, not under the loader's lock at its first batch (a short one only
   * grows it later) */
  if (!reserve (s, bytes))
    cudaGetLastError ();
  return s;

fail_copied:
  cudaEventDestroy (s->copied);
fail_stream:
  cudaStreamDestroy (s->stream);
fail:
  cudaGetLastError ();   /* no stage is no error: the bytes go the plain way */
  free (s);
  return NULL;
}

void
ts_cuda_stage_free (void *p)
{
  stage *s = p;

  if (s == NULL)
    return;
  cudaSetDevice (s->device);
  /* the copy and the resample reading it are done before the memory goes */
  cudaStreamSynchronize (s->stream);
  cudaEventSynchronize (s->consumed);
  cudaFree (s->dev);
  cudaEventDestroy (s->consumed);
  cudaEventDestroy (s->copied);
  cudaStreamDestroy (s->stream);
  free (s);
}

/* Room for @bytes; a bigger buffer only after the last resample reading the
 * old one has run (cudaFree is not documented to wait for the streams that
 * use it).  It at least doubles: a batch's bytes vary with its crops, and
 * each growth waits for the device under the loader's lock. */
static int
reserve (stage *s, size_t bytes)
{
  size_t want = bytes + bytes / 4;

  if (bytes <= s->cap)
    return 1;
  if (want < 2 * s->cap)
    want = 2 * s->cap;
  cudaEventSynchronize (s->consumed);
  cudaFree (s->dev);
  s->dev = NULL;
  s->cap = 0;
  if (cudaMalloc (&s->dev, want) != cudaSuccess)
    {
      s->dev = NULL;
      return 0;
    }
  s->cap = want;
  return 1;
}

int
ts_cuda_stage_upload (void *p, const void *host_src, size_t bytes)
{
  stage *s = p;

  s->bytes = 0;
  if (bytes == 0)
    return 0;
  cudaSetDevice (s->device);
  if (!reserve (s, bytes)
      || cudaStreamWaitEvent (s->stream, s->consumed, 0) != cudaSuccess
      || cudaMemcpyAsync (s->dev, host_src, bytes, cudaMemcpyHostToDevice, s->stream)
           != cudaSuccess
      || cudaEventRecord (s->copied, s->stream) != cudaSuccess)
    {
      /* not staged: resample_batch uploads the bytes itself.  The host waits
       * for whatever was queued, since the caller may refill @host_src. */
      cudaGetLastError ();
      cudaStreamSynchronize (s->stream);
      return 0;
    }
  s->bytes = bytes;
  return 1;
}

void
ts_cuda_stage_wait (void *p)
{
  stage *s = p;

  cudaSetDevice (s->device);
  cudaEventSynchronize (s->copied);
}

const void *
ts_cuda_stage_take (ts_cuda_ctx *ctx, void *p, size_t bytes)
{
  stage *s = p;

  if (s == NULL || s->device != ctx->device || s->bytes != bytes)
    return NULL;
  if (cudaStreamWaitEvent (ctx->stream, s->copied, 0) != cudaSuccess)
    {
      cudaGetLastError ();
      return NULL;
    }
  return s->dev;
}

void
ts_cuda_stage_read (ts_cuda_ctx *ctx, void *p)
{
  stage *s = p;

  if (cudaEventRecord (s->consumed, ctx->stream) != cudaSuccess)
    {
      /* without the mark the next copy could overwrite unread bytes: wait */
      cudaGetLastError ();
      cudaStreamSynchronize (ctx->stream);
    }
}
