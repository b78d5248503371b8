/* emu-kernels.cpp: every kernel file as one C++ translation unit for the host
 * emulation (TSK_HOST_EMULATION, see kernels/ts-cuda-common.cuh). */
#include "ts-cuda-eltwise.cu"
#include "ts-cuda-reduce.cu"
#include "ts-cuda-adam.cu"
#include "ts-cuda-multi.cu"
#include "ts-cuda-batchnorm.cu"
#include "ts-cuda-pool.cu"
#include "ts-cuda-conv.cu"
#include "ts-cuda-conv-nhwc.cu"
#include "ts-cuda-resample.cu"
#include "ts-cuda-convert.cu"
#include "ts-cuda-bn-nhwc.cu"
