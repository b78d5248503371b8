/* ts-cuda-multi.c: the multi-tensor ops of ts-backend.h (adam_step_many,
 * first_nonfinite, copy_many), TSK_MULTI_MAX tensors a launch.  A resnet50
 * step has about 160 parameters and 160 batch-norm buffers: one launch and
 * one wait per tensor cost more host time than the work itself. */
#include "ts-cuda-private.h"
#include "ts-op-shapes.h"

#include <math.h>
#include <string.h>

#define S(be) ts_cuda_stream (be)
/* flags fit in the reduction buffer (1025 doubles) */
#define FLAGS_MAX 2048

void
ts_cuda_adam_step_many (ts_backend *be, const ts_adam_item *items, int n, float beta1,
                        float beta2, float eps)
{
  cudaStream_t s = S (be);
  tsk_multi t;

  t.n = 0;
  for (int i = 0; i < n; i++)
    {
      const ts_adam_item *it = &items[i];
      int step = it->step < 1 ? 1 : it->step, k;

      if (it->grad->numel != it->param->numel || it->m->numel != it->param->numel
          || it->v->numel != it->param->numel || !ts_tensor_is_plain (it->param)
          || !ts_tensor_is_plain (it->grad) || !ts_tensor_is_plain (it->m)
          || !ts_tensor_is_plain (it->v))
        {
          /* as adam_step (which records why: a shape, or a tensor not float32
           * NCHW): the mismatched tensor is left alone, the rest stepped */
          ts_cuda_adam_step (be, it->param, it->grad, it->m, it->v, it->lr, beta1, beta2, eps,
                             it->wd, it->step);
          continue;
        }
      if (it->param->numel == 0)
        continue;
      k = t.n++;
      t.a[k] = it->param->data;
      t.b[k] = it->grad->data;
      t.m[k] = it->m->data;
      t.v[k] = it->v->data;
      t.len[k] = it->param->numel;
      /* the same host arithmetic as ts_cuda_adam_step */
      t.lr[k] = it->lr;
      t.decay[k] = (float) (1.0 - (double) it->lr * (double) it->wd);
      t.inv_bc1[k] = (float) (1.0 / (1.0 - pow (beta1, step)));
      t.inv_bc2[k] = (float) (1.0 / (1.0 - pow (beta2, step)));
      if (t.n == TSK_MULTI_MAX)
        {
          tsk_adam_multi (s, &t, beta1, beta2, eps);
          t.n = 0;
        }
    }
  if (t.n > 0)
    tsk_adam_multi (s, &t, beta1, beta2, eps);
  ts_cuda_check (be, "adam_step");
}

/* flags[0..n) for tensors t[0..n), n <= FLAGS_MAX; 0 on a device error */
static int
nonfinite_flags (ts_backend *be, const ts_tensor *const *t, int n, int *host)
{
  cudaStream_t s = S (be);
  int *flags = (int *) ts_cuda (be)->red;
  tsk_multi m;

  if (!ts_cuda_ok (be, cudaMemsetAsync (flags, 0, (size_t) n * sizeof *flags, s),
                   "all_finite"))
    return 0;
  for (int i0 = 0; i0 < n; i0 += TSK_MULTI_MAX)
    {
      m.n = 0;
      for (int i = i0; i < n && i < i0 + TSK_MULTI_MAX; i++)
        {
          m.b[m.n] = t[i]->data;
          m.len[m.n++] = t[i]->numel;   /* 0: a block that finds nothing */
        }
      tsk_nonfinite_multi (s, &m, flags + i0);
    }
  return ts_cuda_check (be, "all_finite")
         && ts_cuda_ok (be, cudaMemcpyAsync (host, flags, (size_t) n * sizeof *flags,
                                             cudaMemcpyDeviceToHost, s), "all_finite")
         && ts_cuda_ok (be, cudaStreamSynchronize (s), "all_finite");
}

int
ts_cuda_first_nonfinite (ts_backend *be, const ts_tensor *const *t, int n)
{
  int host[FLAGS_MAX];

  /* the multi-tensor kernel reads float32; a list holding a bfloat16 tensor
   * (never one under the bf16 policy, whose parameters, gradients and
   * statistics are float32) goes one tensor at a time */
  for (int i = 0; i < n; i++)
    if (t[i]->dtype != TS_F32)
      return ts_backend_first_nonfinite_each (be, t, n);

  for (int i0 = 0; i0 < n; i0 += FLAGS_MAX)
    {
      int cnt = n - i0 < FLAGS_MAX ? n - i0 : FLAGS_MAX;
      if (!nonfinite_flags (be, t + i0, cnt, host))
        return i0;
      for (int i = 0; i < cnt; i++)
        if (host[i])
          return i0 + i;
    }
  return -1;
}

void
ts_cuda_copy_many (ts_backend *be, const ts_tensor *const *src, ts_tensor *const *dst, int n)
{
  cudaStream_t s = S (be);
  tsk_multi m;

  m.n = 0;
  for (int i = 0; i < n; i++)
    {
      if (src[i]->numel != dst[i]->numel || !ts_tensor_is_plain (src[i])
          || !ts_tensor_is_plain (dst[i]))
        {
          /* a mismatch (reported), or bfloat16 (the multi-tensor kernel
           * copies float32; axpby takes both) */
          ts_cuda_axpby (be, 1.0f, src[i], 0.0f, dst[i]);
          continue;
        }
      m.a[m.n] = dst[i]->data;
      m.b[m.n] = src[i]->data;
      m.len[m.n++] = src[i]->numel;
      if (m.n == TSK_MULTI_MAX)
        {
          tsk_copy_multi (s, &m);
          m.n = 0;
        }
    }
  if (m.n > 0)
    tsk_copy_multi (s, &m);
  ts_cuda_check (be, "copy");
}
