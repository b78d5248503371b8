/* ts-cuda-resample.c: resample_batch on the GPU.  The batch's uint8 sources
 * and its items cross the bus (a quarter of the floats they become, and
 * from the loader's page-locked buffer without a staging copy), then one
 * launch writes the normalised tiles.  Both land in the backend's scratch:
 * a batch needs them only until its kernel has run, and the stream orders the
 * next op's use of the scratch after that.  A batch the loader staged
 * (ts-cuda-stage.c) crossed the bus already, during the step before: only
 * its items are copied. */
#include "ts-cuda-private.h"

/* the sources start on a fresh 256-byte line after the items */
#define SRC_ALIGN 256

void
ts_cuda_resample_batch (ts_backend *be, const uint8_t *host_src, size_t src_bytes, void *stage,
                        const ts_resample_item *items, int n, const float mean[3],
                        const float std[3], ts_tensor *out)
{
  ts_cuda_ctx *ctx = ts_cuda (be);
  cudaStream_t s = ts_cuda_stream (be);
  const uint8_t *staged = ts_cuda_stage_take (ctx, stage, src_bytes);
  size_t item_bytes = (size_t) n * sizeof *items;
  size_t src_at = (item_bytes + SRC_ALIGN - 1) / SRC_ALIGN * SRC_ALIGN;
  size_t scratch_bytes = staged ? item_bytes : src_at + src_bytes;
  uint8_t *dev = (uint8_t *) ts_cuda_scratch (be, (scratch_bytes + sizeof (float) - 1)
                                                   / sizeof (float));
  tsk_normalize nz;

  if (dev == NULL)
    return;   /* recorded by ts_cuda_scratch */
  for (int c = 0; c < 3; c++)
    {
      /* as ts_resample_image rounds them */
      nz.scale[c] = 1.0f / std[c];
      nz.shift[c] = -mean[c] / std[c];
    }
  if (!ts_cuda_ok (be, cudaMemcpyAsync (dev, items, item_bytes, cudaMemcpyHostToDevice, s),
                   "resample (items upload)"))
    return;
  if (staged == NULL
      && !ts_cuda_ok (be, cudaMemcpyAsync (dev + src_at, host_src, src_bytes,
                                           cudaMemcpyHostToDevice, s),
                      "resample (source upload)"))
    return;
  tsk_resample (s, n, (int) out->shape[2], staged ? staged : dev + src_at,
                (const ts_resample_item *) dev, &nz, out->data);
  if (staged != NULL)
    {
      ts_cuda_stage_read (ctx, stage);   /* after the kernel: a refill waits for it */
      __atomic_add_fetch (&ctx->staged_batches, 1, __ATOMIC_RELAXED);
    }
  ts_cuda_check (be, "resample");
}
