/* ts-cpu-eltwise.c: elementwise ops (axpby, add, fill, activations, dropout),
 * channel concat/split and the finite check. */
#include "ts-cpu-private.h"
#include "ts-op-shapes.h"

#include <math.h>
#include <string.h>

#include "ts-rng.h"

/* below this many elements a single thread is faster than waking the pool */
#define EW_PARALLEL_MIN 32768

typedef enum {
  EW_AXPBY,
  EW_AXPY_OVERWRITE,
  EW_ADD,
  EW_FILL,
  EW_RELU,
  EW_RELU6,
  EW_SIGMOID,
  EW_RELU_BACK,
  EW_RELU6_BACK,
  EW_SIGMOID_BACK,
  EW_DROPOUT,
  EW_MUL,
} ew_kind;

typedef struct {
  ew_kind kind;
  const float *a, *b;
  float *y, *m;
  float alpha, beta, p;
  uint64_t seed, counter;
  int64_t n;
} ew_args;

static inline float
sigmoidf (float x)
{
  if (x >= 0.0f)
    return 1.0f / (1.0f + expf (-x));
  float e = expf (x);
  return e / (1.0f + e);
}

static TS_CPU_CLONES void
ew_range (const ew_args *e, int64_t i0, int64_t i1)
{
  const float *a = e->a, *b = e->b;
  float *y = e->y;

  switch (e->kind)
    {
    case EW_AXPBY:
      #pragma omp simd
      for (int64_t i = i0; i < i1; i++)
        y[i] = e->alpha * a[i] + e->beta * y[i];
      break;
    case EW_AXPY_OVERWRITE:
      #pragma omp simd
      for (int64_t i = i0; i < i1; i++)
        y[i] = e->alpha * a[i];
      break;
    case EW_ADD:
      #pragma omp simd
      for (int64_t i = i0; i < i1; i++)
        y[i] = a[i] + b[i];
      break;
    case EW_FILL:
      #pragma omp simd
      for (int64_t i = i0; i < i1; i++)
        y[i] = e->alpha;
      break;
    case EW_RELU:
      #pragma omp simd
      for (int64_t i = i0; i < i1; i++)
        y[i] = a[i] < 0.0f ? 0.0f : a[i];   /* NaN passes, as in PyTorch */
      break;
    case EW_RELU6:
      #pragma omp simd
      for (int64_t i = i0; i < i1; i++)
        {
          float v = a[i] < 0.0f ? 0.0f : a[i];
          y[i] = v > 6.0f ? 6.0f : v;
        }
      break;
    case EW_SIGMOID:
      #pragma omp simd
      for (int64_t i = i0; i < i1; i++)
        y[i] = sigmoidf (a[i]);
      break;
    case EW_RELU_BACK:   /* a = y, b = dy */
      #pragma omp simd
      for (int64_t i = i0; i < i1; i++)
        {
          float d = b[i];   /* loaded unconditionally so the select vectorises */
          y[i] = a[i] > 0.0f ? d : 0.0f;
        }
      break;
    case EW_RELU6_BACK:
      #pragma omp simd
      for (int64_t i = i0; i < i1; i++)
        {
          float d = b[i];
          y[i] = ((a[i] > 0.0f) & (a[i] < 6.0f)) ? d : 0.0f;
        }
      break;
    case EW_SIGMOID_BACK:
      #pragma omp simd
      for (int64_t i = i0; i < i1; i++)
        y[i] = b[i] * a[i] * (1.0f - a[i]);
      break;
    case EW_DROPOUT:
      {
        float keep = e->p < 1.0f ? 1.0f / (1.0f - e->p) : 0.0f;
        #pragma omp simd
        for (int64_t i = i0; i < i1; i++)
          {
            float u = ts_rng_hash_uniform (e->seed, e->counter + (uint64_t) i);
            float mk = u >= e->p ? keep : 0.0f;
            e->m[i] = mk;
            y[i] = a[i] * mk;
          }
      }
      break;
    case EW_MUL:
      #pragma omp simd
      for (int64_t i = i0; i < i1; i++)
        y[i] = a[i] * b[i];
      break;
    }
}

static void
ew_task (void *arg, int tid, int nt)
{
  const ew_args *e = arg;
  int64_t i0, i1;

  /* split on 16-float boundaries so threads never share a cache line */
  int64_t blocks = (e->n + 15) / 16;
  ts_cpu_range (blocks, tid, nt, &i0, &i1);
  i0 *= 16;
  i1 = i1 * 16 < e->n ? i1 * 16 : e->n;
  if (i0 < i1)
    ew_range (e, i0, i1);
}

static void
ew_run (ts_backend *be, ew_args *e)
{
  if (e->n <= 0)
    return;
  if (e->n < EW_PARALLEL_MIN)
    ew_range (e, 0, e->n);
  else
    ts_cpu_parallel (be, ew_task, e);
}

void
ts_cpu_axpby (ts_backend *be, float alpha, const ts_tensor *x, float beta, ts_tensor *y)
{
  ew_args e = { .kind = beta == 0.0f ? EW_AXPY_OVERWRITE : EW_AXPBY, .a = x->data,
                .y = y->data, .alpha = alpha, .beta = beta, .n = y->numel };
  if (!ts_op_same_numel ("axpby", x, y))
    return;
  ew_run (be, &e);
}

void
ts_cpu_add (ts_backend *be, const ts_tensor *a, const ts_tensor *b, ts_tensor *y)
{
  ew_args e = { .kind = EW_ADD, .a = a->data, .b = b->data, .y = y->data, .n = y->numel };
  if (!ts_op_same_numel ("add", a, y) || !ts_op_same_numel ("add", b, y))
    return;
  ew_run (be, &e);
}

void
ts_cpu_fill (ts_backend *be, ts_tensor *t, float value)
{
  ew_args e = { .kind = EW_FILL, .y = t->data, .alpha = value, .n = t->numel };
  ew_run (be, &e);
}

void
ts_cpu_activation_forward (ts_backend *be, ts_activation act, const ts_tensor *x,
                           ts_tensor *y)
{
  ew_args e = { .a = x->data, .y = y->data, .n = y->numel };
  if (!ts_op_same_numel ("activation", x, y))
    return;
  e.kind = act == TS_ACT_RELU ? EW_RELU : act == TS_ACT_RELU6 ? EW_RELU6 : EW_SIGMOID;
  ew_run (be, &e);
}

void
ts_cpu_activation_backward (ts_backend *be, ts_activation act, const ts_tensor *y,
                            const ts_tensor *dy, ts_tensor *dx)
{
  ew_args e = { .a = y->data, .b = dy->data, .y = dx->data, .n = dx->numel };
  if (!ts_op_same_numel ("activation backward", y, dx) || !ts_op_same_numel ("activation backward", dy, dx))
    return;
  e.kind = act == TS_ACT_RELU ? EW_RELU_BACK
         : act == TS_ACT_RELU6 ? EW_RELU6_BACK : EW_SIGMOID_BACK;
  ew_run (be, &e);
}

void
ts_cpu_dropout_forward (ts_backend *be, float p, uint64_t seed, uint64_t counter,
                        const ts_tensor *x, ts_tensor *y, ts_tensor *mask)
{
  ew_args e = { .kind = EW_DROPOUT, .a = x->data, .y = y->data, .p = p, .seed = seed,
                .counter = counter, .n = y->numel };
  if (mask == NULL)
    {
      ts_error (TS_ERR_INVALID, "dropout: no mask tensor");
      return;
    }
  e.m = mask->data;
  if (!ts_op_same_numel ("dropout", x, y) || !ts_op_same_numel ("dropout", mask, y))
    return;
  ew_run (be, &e);
}

void
ts_cpu_dropout_backward (ts_backend *be, const ts_tensor *mask, const ts_tensor *dy,
                         ts_tensor *dx)
{
  ew_args e = { .kind = EW_MUL, .a = dy->data, .b = mask->data, .y = dx->data,
                .n = dx->numel };
  if (!ts_op_same_numel ("dropout backward", mask, dx) || !ts_op_same_numel ("dropout backward", dy, dx))
    return;
  ew_run (be, &e);
}

void
ts_cpu_concat_channels (ts_backend *be, const ts_tensor *a, const ts_tensor *b, ts_tensor *y)
{
  int64_t n = y->shape[0];
  int64_t plane = y->shape[2] * y->shape[3];
  int64_t sa = a->shape[1] * plane, sb = b->shape[1] * plane;

  if (!ts_op_concat_ok ("concat_channels", a, b, y))
    return;
  for (int64_t i = 0; i < n; i++)
    {
      memcpy (y->data + i * (sa + sb), a->data + i * sa, (size_t) sa * sizeof (float));
      memcpy (y->data + i * (sa + sb) + sa, b->data + i * sb, (size_t) sb * sizeof (float));
    }
}

void
ts_cpu_split_channels (ts_backend *be, const ts_tensor *dy, ts_tensor *da, ts_tensor *db)
{
  int64_t n = dy->shape[0];
  int64_t plane = dy->shape[2] * dy->shape[3];
  int64_t sa = da->shape[1] * plane, sb = db->shape[1] * plane;

  if (!ts_op_concat_ok ("split_channels", da, db, dy))
    return;
  for (int64_t i = 0; i < n; i++)
    {
      memcpy (da->data + i * sa, dy->data + i * (sa + sb), (size_t) sa * sizeof (float));
      memcpy (db->data + i * sb, dy->data + i * (sa + sb) + sa, (size_t) sb * sizeof (float));
    }
}

int
ts_cpu_all_finite (ts_backend *be, const ts_tensor *t)
{
  const float *x = t->data;
  float s = 0.0f;

  /* x * 0 is NaN exactly when x is NaN or infinite; the sum stays vectorisable */
#pragma omp simd reduction(+:s)
  for (int64_t i = 0; i < t->numel; i++)
    s += x[i] * 0.0f;
  return s == 0.0f;
}

double
ts_cpu_sum_squares (ts_backend *be, const ts_tensor *t)
{
  const float *x = t->data;
  double total = 0.0;

  /* float lanes per block of 4096, blocks summed in double */
  for (int64_t b = 0; b < t->numel; b += 4096)
    {
      int64_t e = b + 4096 < t->numel ? b + 4096 : t->numel;
      float s = 0.0f;
#pragma omp simd reduction(+:s)
      for (int64_t i = b; i < e; i++)
        s += x[i] * x[i];
      total += s;
    }
  return total;
}
