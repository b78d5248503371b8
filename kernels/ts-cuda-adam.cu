/* ts-cuda-adam.cu: fastai's Adam with true weight decay (as src/engine/cpu/ts-cpu-adam.c):
 *   p *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2;
 *   p -= lr * (m*inv_bc1) / (sqrt(v*inv_bc2) + eps)
 * The bias corrections are computed once on the host, in double, as the CPU does.
 * The arithmetic is tsk_adam_one (ts-cuda-common.cuh), shared with ts-cuda-multi.cu. */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

static __global__ void
adam_kernel (int64_t n, float *p, const float *g, float *m, float *v, float lr, float b1,
             float b2, float eps, float decay, float inv_bc1, float inv_bc2)
{
  TSK_FOR (i, n)
    tsk_adam_one (p, g, m, v, i, lr, b1, b2, eps, decay, inv_bc1, inv_bc2);
}

extern "C" void
tsk_adam (cudaStream_t s, int64_t n, float *p, const float *g, float *m, float *v, float lr,
          float b1, float b2, float eps, float decay, float inv_bc1, float inv_bc2)
{
  if (n > 0)
    TSK_LAUNCH (adam_kernel, tsk_blocks (n), s) (n, p, g, m, v, lr, b1, b2, eps, decay,
                                                        inv_bc1, inv_bc2);
}
