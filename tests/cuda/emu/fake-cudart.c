/* fake-cudart.c: the CUDA runtime calls the backend makes, on host memory,
 * so that the backend and the kernels (compiled as C++ with
 * -DTSK_HOST_EMULATION, see kernels/ts-cuda-common.cuh) run on a machine
 * without a GPU.  "Device" pointers are malloc'ed; streams and events are
 * fake-streams.c's. */
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

/* fake-streams.c */
void ts_fake_pinned_add (void *ptr, size_t size);
void ts_fake_pinned_remove (void *ptr);
void ts_fake_streams_flush_all (void);

/* the emulated launch geometry of kernels/ts-cuda-common.cuh */
typedef struct { unsigned int x, y, z; } tsk_emu_dim;
tsk_emu_dim blockIdx, threadIdx, blockDim, gridDim;

/* nonzero: the kernels take their 64-bit index paths whatever the sizes
 * (tsk_int_index), so that the tests run those too; tests/cuda set it
 * through a weak reference (cuda-ops-test.h's each_index_width) */
int tsk_emu_wide_index;

/* per thread, as CUDA's: a loader thread's failed allocation is not the
 * training thread's error */
static _Thread_local cudaError_t last_error = cudaSuccess;

/* device allocations made so far: tests/cuda/test-cuda-train.c checks that
 * a training step after the first makes none (it reads this through a weak
 * reference, absent with the real runtime) */
long ts_fake_cuda_mallocs;

/* the emulated GPU's compute capability, major * 10 + minor (an H100's 9.0):
 * tests/cuda/test-cuda-bf16.c plays an older GPU with it (weak reference) */
int ts_fake_cuda_cc = 90;

/* A sticky error, as a kernel's fault leaves (the context lost): while set,
 * cudaGetLastError and cudaStreamSynchronize return it, and reading it does
 * not clear it.  The fake cuDNN sets it (ts_fake_cudnn_fail_fault); tests
 * set it back to cudaSuccess (weak reference). */
cudaError_t ts_fake_cuda_sticky;

static cudaError_t
set (cudaError_t e)
{
  if (e != cudaSuccess)
    last_error = e;
  return e;
}

cudaError_t
cudaGetLastError (void)
{
  cudaError_t e = last_error;
  if (ts_fake_cuda_sticky != cudaSuccess)
    return ts_fake_cuda_sticky;
  last_error = cudaSuccess;
  return e;
}

const char *
cudaGetErrorString (cudaError_t e)
{
  /* the runtime's own words where a test reads them (TS_FAKE_CUDA_FAIL_AFTER) */
  return e == cudaSuccess                 ? "no error"
         : e == cudaErrorMemoryAllocation ? "out of memory"
         : e == cudaErrorLaunchFailure    ? "unspecified launch failure"
                                          : "emulated error";
}

const char *
cudaGetErrorName (cudaError_t e)
{
  return e == cudaSuccess                 ? "cudaSuccess"
         : e == cudaErrorMemoryAllocation ? "cudaErrorMemoryAllocation"
         : e == cudaErrorIllegalAddress   ? "cudaErrorIllegalAddress"
         : e == cudaErrorLaunchFailure    ? "cudaErrorLaunchFailure"
                                          : "cudaErrorUnknown";
}

cudaError_t
cudaGetDeviceCount (int *count)
{
  *count = getenv ("TS_FAKE_CUDA_NO_DEVICE") ? 0 : 1;
  return cudaSuccess;
}

cudaError_t
cudaGetDeviceProperties (struct cudaDeviceProp *prop, int device)
{
  if (device != 0)
    return set (cudaErrorInvalidDevice);
  memset (prop, 0, sizeof *prop);
  strcpy (prop->name, "emulated GPU (host)");
  prop->major = ts_fake_cuda_cc / 10;
  prop->minor = ts_fake_cuda_cc % 10;
  prop->totalGlobalMem = (size_t) 1 << 30;
  return cudaSuccess;
}

cudaError_t
cudaSetDevice (int device)
{
  return device == 0 ? cudaSuccess : set (cudaErrorInvalidDevice);
}

cudaError_t
cudaMalloc (void **ptr, size_t size)
{
  /* a limit, so that out-of-memory paths can be tested */
  const char *lim = getenv ("TS_FAKE_CUDA_MAX_ALLOC");
  if (lim && size > (size_t) atoll (lim))
    {
      *ptr = NULL;
      return set (cudaErrorMemoryAllocation);
    }
  *ptr = malloc (size ? size : 1);
  __atomic_add_fetch (&ts_fake_cuda_mallocs, 1, __ATOMIC_RELAXED);   /* loader threads too */
  if (*ptr == NULL)
    return set (cudaErrorMemoryAllocation);
  /* a GPU's fresh memory holds whatever was there; malloc's large blocks
   * are zero pages, which would hide a read of memory nothing wrote.  All
   * ones is a NaN in float32 and in bfloat16, so such a read shows. */
  memset (*ptr, 0xff, size);
  return cudaSuccess;
}

cudaError_t
cudaFree (void *ptr)
{
  ts_fake_streams_flush_all ();   /* CUDA's waits for the device */
  free (ptr);
  return cudaSuccess;
}

cudaError_t
cudaHostAlloc (void **ptr, size_t size, unsigned int flags)
{
  *ptr = malloc (size ? size : 1);
  __atomic_add_fetch (&ts_fake_cuda_mallocs, 1, __ATOMIC_RELAXED);
  if (*ptr == NULL)
    return set (cudaErrorMemoryAllocation);
  memset (*ptr, 0xff, size);   /* as cudaMalloc's */
  ts_fake_pinned_add (*ptr, size ? size : 1);
  return cudaSuccess;
}

cudaError_t
cudaFreeHost (void *ptr)
{
  ts_fake_streams_flush_all ();
  ts_fake_pinned_remove (ptr);
  free (ptr);
  return cudaSuccess;
}
