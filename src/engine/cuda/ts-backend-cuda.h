/* ts-backend-cuda.h: the CUDA backend (kernels/ + cuBLAS).
 *
 * Built when meson finds nvcc and the CUDA runtime (option `cuda`, auto);
 * then TS_HAVE_CUDA is defined for users of cuda_dep.  The runtime is linked
 * statically and cuBLAS is opened with dlopen, so a binary built with CUDA
 * still starts on a machine without a GPU, driver or toolkit: creating the
 * backend then fails with a reason.
 *
 * Knobs, read when the backend is created.  The defaults are PyTorch's:
 * cuDNN for convolutions with TF32 tensor cores allowed, GEMMs in full FP32;
 * weights, gradients and the optimizer's state are FP32 throughout.
 *   TS_CUDA_TF32              unset: TF32 for cuDNN's convolutions only;
 *                             1: also cuBLAS's GEMMs; 0: nowhere (exact FP32,
 *                             ~1.5x slower training; TF32 is ~1e-3 relative error)
 *   TS_CUDA_COL_BUDGET        im2col floats per batch of images (default 64M)
 *   TS_CUDA_CUDNN             unset: convolutions through cuDNN (libcudnn.so.9)
 *                             when it can be loaded, else im2col + cuBLAS;
 *                             0: never cuDNN; 1: cuDNN or creating the backend fails
 *   TS_CUDA_DETERMINISTIC     unset or 1: of cuDNN's suggested algorithms, the
 *                             deterministic ones first (runs repeat exactly);
 *                             0: its own first choice, as PyTorch by default
 *   TS_CUDA_CONV_SEARCH=1     time cuDNN's algorithms for each new conv shape
 *                             and take the fastest (PyTorch's cudnn.benchmark);
 *                             default: cuDNN's heuristics, no timing
 *   TS_CUDA_CUBLAS            path of the cuBLAS library to open (default
 *                             libcublas.so.13, .12, then libcublas.so)
 */
#pragma once

#include <stddef.h>

#include "ts-backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The backend on GPU @device, or NULL with the reason in @err (and
 * ts_last_error): no driver, no device, no cuBLAS, an unsupported GPU. */
ts_backend *ts_backend_cuda_new (int device, char *err, size_t errlen);
/* 1 when GPU @device is there, else 0 with the reason recorded (ts_error):
 * no driver, a driver older than the build's CUDA, no such device.  Makes
 * no backend (nothing is allocated on the device). */
int ts_cuda_usable (int device);
/* "NVIDIA H200 (sm_90, 139 GiB)" for the backend's device, for the UI and reports. */
const char *ts_backend_cuda_describe (ts_backend *be, char *buf, size_t len);
/* How many resample_batch calls read a batch the loader had staged on the
 * device (ts-cuda-stage.c), since @be was made: for tests and reports. */
long ts_backend_cuda_staged_batches (ts_backend *be);
/* How many bfloat16 convolution calls (a forward, or a backward's
 * gradients) ran in float32 because cuDNN has no bfloat16 algorithm for
 * their layer, or none of those it offered ran (the bf16 precision policy,
 * docs/cuda.md): slower, not wrong.  0 when none did. */
long ts_backend_cuda_bf16_fallbacks (ts_backend *be);

/* Since the backend @be (CUDA) was made: cuDNN's algorithms that failed
 * when run although its heuristics had offered them, each replaced by the
 * next candidate (refused); those given up, likewise and for good, because
 * their workspace could not be allocated (no_memory: the GPU's memory, not
 * cuDNN, said no); and the convolution directions left with no candidate
 * either way (exhausted: float32 then runs on im2col, bfloat16 in float32,
 * see ts_backend_cuda_bf16_fallbacks).  Zeros without cuDNN.  For tests and
 * reports: a GPU run says how often cuDNN differed from what its
 * heuristics promised. */
typedef struct {
  long refused;
  long exhausted;
  long no_memory;
} ts_cuda_dnn_stats;
void ts_backend_cuda_dnn_stats (ts_backend *be, ts_cuda_dnn_stats *stats);

#ifdef __cplusplus
}
#endif
