/* ts-backend-select.h: make a backend from a name, for --device and the app. */
#pragma once

#include <stddef.h>

#include "ts-backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* @device: "cpu", "cuda" (or "cuda:N"), "auto" or NULL (CUDA when a device is
 * present, else the CPU).  @threads: CPU worker threads (0: all cores).
 * NULL with the reason in @err (and ts_last_error) when the device asked for
 * cannot be used; "auto" falls back to the CPU silently.  The environment
 * variable TAGSIGHT_DEVICE, when set (and not "auto"), replaces "auto"/NULL. */
ts_backend *ts_backend_new_by_name (const char *device, int threads, char *err, size_t len);
/* Human-readable name of the backend's device: "CPU (8 threads)", "NVIDIA H200 (sm_90, ...)". */
const char *ts_backend_describe (ts_backend *be, char *buf, size_t len);
/* The backend's bfloat16 convolution calls that ran in float32 because
 * cuDNN has no bfloat16 algorithm for their layer
 * (ts_backend_cuda_bf16_fallbacks); 0 on any other backend. */
long ts_backend_bf16_fallbacks (ts_backend *be);
/* cuDNN's fall-through on the backend (ts_backend_cuda_dnn_stats): the
 * algorithms that failed as they ran, those given up for a workspace that
 * could not be allocated, and the convolution directions left with none;
 * zeros on any other backend or without cuDNN. */
void ts_backend_dnn_fallthrough (ts_backend *be, long *refused, long *no_memory,
                                 long *exhausted);
/* 1 when this build has the CUDA backend at all. */
int ts_backend_have_cuda (void);
/* 1 when "cuda" would find a GPU (this build has the backend, and the
 * driver and a device are there), else 0 with the reason in @why (and
 * ts_last_error).  Makes no backend; may take a moment (it loads the
 * driver), so the app asks off its main thread. */
int ts_backend_cuda_usable (char *why, size_t len);

#ifdef __cplusplus
}
#endif
