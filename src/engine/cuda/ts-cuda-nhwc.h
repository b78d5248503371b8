/* ts-cuda-nhwc.h: the pools' bfloat16 NHWC forms (the bf16 precision
 * policy, docs/cuda.md), called by ts-cuda-ops.c once it has checked the
 * shapes and found a tensor that is not float32 NCHW.  Each checks the
 * dtypes and layouts it takes (recording TS_ERR_UNSUPPORTED otherwise) and
 * launches its kernel; the caller runs ts_cuda_check.
 *   max pool: x, y, dy, dx bf16 NHWC; argmax int32, laid out as y, each
 *     value the CPU's (iy*W + ix inside the input plane)
 *   adaptive pools: x, dx bf16 NHWC; y, dy float32 NCHW (the model's head)
 *     or bf16 NHWC; argmax as max pool's */
#pragma once

#include "ts-backend.h"

void ts_cuda_nhwc_maxpool2d_forward (ts_backend *be, const ts_pool2d_params *p,
                                     const ts_tensor *x, ts_tensor *y, int32_t *argmax);
void ts_cuda_nhwc_maxpool2d_backward (ts_backend *be, const ts_pool2d_params *p,
                                      const int32_t *argmax, const ts_tensor *dy, ts_tensor *dx);
void ts_cuda_nhwc_adaptive_avgpool2d_forward (ts_backend *be, const ts_tensor *x, ts_tensor *y);
void ts_cuda_nhwc_adaptive_avgpool2d_backward (ts_backend *be, const ts_tensor *dy,
                                               ts_tensor *dx);
void ts_cuda_nhwc_adaptive_maxpool2d_forward (ts_backend *be, const ts_tensor *x, ts_tensor *y,
                                              int32_t *argmax);
void ts_cuda_nhwc_adaptive_maxpool2d_backward (ts_backend *be, const int32_t *argmax,
                                               const ts_tensor *dy, ts_tensor *dx);
