/* ts-cpu-resample.c: resample_batch, the loader's last step for a batch
 * (ts-resample.h), on the CPU: ts_resample_image for each item, whole images
 * split over the threads. */
#include "ts-cpu-private.h"

typedef struct {
  const uint8_t *src;
  const ts_resample_item *items;
  int n;
  const float *mean, *std;
  float *out;
  size_t per_image;   /* floats of one [3][size][size] row of out */
} resample_args;

static void
resample_task (void *arg, int tid, int nt)
{
  const resample_args *a = arg;
  int64_t b, e;

  /* whole images, so that the light table is built once per image */
  ts_cpu_range (a->n, tid, nt, &b, &e);
  for (int64_t i = b; i < e; i++)
    ts_resample_image (a->src + a->items[i].offset, &a->items[i], a->mean, a->std,
                       a->out + (size_t) i * a->per_image);
}

void
ts_cpu_resample_batch (ts_backend *be, const uint8_t *host_src, size_t src_bytes,
                       void *stage, const ts_resample_item *items, int n,
                       const float mean[3], const float std[3], ts_tensor *out)
{
  /* (the CPU has no stage ops: @stage is NULL) */
  resample_args a = { .src = host_src, .items = items, .n = n, .mean = mean, .std = std,
                      .out = out->data, .per_image = (size_t) (out->numel / n) };

  ts_cpu_parallel_sized (be, resample_task, &a, out->numel);
}
