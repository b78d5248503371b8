/* ts-cuda-bn-nhwc.h: the CUDA backend's batch norm over bfloat16 NHWC
 * activations (the bf16 precision policy, docs/cuda.md), called by
 * ts-cuda-ops.c's batch-norm ops when x is one (ts_cuda_bf16_nhwc). */
#pragma once

#include "ts-backend.h"

/* As ts-backend.h's batch-norm ops, with x, y (y_act), dy (dy_act) and dx
 * bfloat16 NHWC and the rest float32 (each refused otherwise); @act -1 for
 * none, else TS_ACT_RELU or TS_ACT_RELU6 (y_act then the activation's
 * output in the backward). */
void ts_cuda_bn_nhwc_train (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                            const ts_tensor *beta, ts_tensor *running_mean,
                            ts_tensor *running_var, float momentum, float eps, int act,
                            ts_tensor *y, ts_tensor *save_mean, ts_tensor *save_invstd);
void ts_cuda_bn_nhwc_eval (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                           const ts_tensor *beta, const ts_tensor *running_mean,
                           const ts_tensor *running_var, float eps, ts_tensor *y);
void ts_cuda_bn_nhwc_backward (ts_backend *be, const ts_tensor *x, const ts_tensor *gamma,
                               const ts_tensor *save_mean, const ts_tensor *save_invstd,
                               int act, const ts_tensor *y_act, const ts_tensor *dy,
                               ts_tensor *dx, ts_tensor *dgamma, ts_tensor *dbeta);
