/* ts-cuda-conv.cu: the convolution kernels that are not GEMMs.
 *
 * Dense convs (groups == 1) are im2col + cuBLAS in the backend; here are
 * im2col, its adjoint col2im (a gather: one thread per input element, no
 * atomics), the per-channel bias and its gradient, and direct kernels for
 * grouped / depthwise convs (one thread per output, per input element, and a
 * block per weight element).  Padding may be asymmetric (TFLite SAME): top and
 * left are given, bottom and right follow from oh and ow.  cuDNN would be
 * faster for the dense case; that is a later step, these are the reference.
 */
#include "ts-cuda-common.cuh"
#include "ts-cuda-kernels.h"

static __global__ void
im2col_kernel (tsk_conv_geom g, int n0, int nb, const float *x, float *col)
{
  int64_t p = (int64_t) g.oh * g.ow, k = (int64_t) g.cg * g.kh * g.kw;

  TSK_FOR (i, (int64_t) nb * k * p)
    {
      int64_t img = i / (k * p), r = i / p % k, j = i % p;
      int c = (int) (r / (g.kh * g.kw)), ky = (int) (r / g.kw % g.kh), kx = (int) (r % g.kw);
      int oy = (int) (j / g.ow), ox = (int) (j % g.ow);
      int iy = oy * g.sh - g.pt + ky, ix = ox * g.sw - g.pl + kx;
      float v = 0.0f;
      if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w)
        v = x[(((n0 + img) * g.c + c) * g.h + iy) * (int64_t) g.w + ix];
      col[i] = v;
    }
}

static __global__ void
col2im_kernel (tsk_conv_geom g, int n0, int nb, const float *dcol, float *dx)
{
  int64_t p = (int64_t) g.oh * g.ow, k = (int64_t) g.cg * g.kh * g.kw;
  int64_t per = (int64_t) g.c * g.h * g.w;

  TSK_FOR (i, (int64_t) nb * per)
    {
      int64_t img = i / per;
      int c = (int) (i / ((int64_t) g.h * g.w) % g.c);
      int iy = (int) (i / g.w % g.h), ix = (int) (i % g.w);
      const float *dc = dcol + img * k * p;
      float acc = 0.0f;
      for (int ky = 0; ky < g.kh; ky++)
        {
          int ty = iy + g.pt - ky;
          if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.oh)
            continue;
          for (int kx = 0; kx < g.kw; kx++)
            {
              int tx = ix + g.pl - kx;
              if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.ow)
                continue;
              int64_t r = ((int64_t) c * g.kh + ky) * g.kw + kx;
              acc += dc[r * p + (int64_t) (ty / g.sh) * g.ow + tx / g.sw];
            }
        }
      dx[(int64_t) n0 * per + i] = acc;
    }
}

static __global__ void
grouped_forward_kernel (tsk_conv_geom g, const float *x, const float *w, const float *b,
                        float *y)
{
  TSK_FOR (i, (int64_t) g.n * g.cout * g.oh * g.ow)
    {
      int ox = (int) (i % g.ow), oy = (int) (i / g.ow % g.oh);
      int co = (int) (i / ((int64_t) g.oh * g.ow) % g.cout);
      int64_t n = i / ((int64_t) g.oh * g.ow * g.cout);
      int grp = co / g.coutg;
      float acc = 0.0f;
      for (int ci = 0; ci < g.cg; ci++)
        {
          const float *xp = x + (n * g.c + (int64_t) grp * g.cg + ci) * g.h * g.w;
          const float *wp = w + ((int64_t) co * g.cg + ci) * g.kh * g.kw;
          for (int ky = 0; ky < g.kh; ky++)
            {
              int iy = oy * g.sh - g.pt + ky;
              if (iy < 0 || iy >= g.h)
                continue;
              for (int kx = 0; kx < g.kw; kx++)
                {
                  int ix = ox * g.sw - g.pl + kx;
                  if (ix >= 0 && ix < g.w)
                    acc += xp[iy * g.w + ix] * wp[ky * g.kw + kx];
                }
            }
        }
      y[i] = b ? acc + b[co] : acc;
    }
}

static __global__ void
grouped_backward_data_kernel (tsk_conv_geom g, const float *dy, const float *w, float *dx)
{
  TSK_FOR (i, (int64_t) g.n * g.c * g.h * g.w)
    {
      int ix = (int) (i % g.w), iy = (int) (i / g.w % g.h);
      int c = (int) (i / ((int64_t) g.h * g.w) % g.c);
      int64_t n = i / ((int64_t) g.h * g.w * g.c);
      int grp = c / g.cg, ci = c % g.cg;
      float acc = 0.0f;
      for (int j = 0; j < g.coutg; j++)
        {
          int co = grp * g.coutg + j;
          const float *dp = dy + (n * g.cout + co) * g.oh * g.ow;
          const float *wp = w + ((int64_t) co * g.cg + ci) * g.kh * g.kw;
          for (int ky = 0; ky < g.kh; ky++)
            {
              int ty = iy + g.pt - ky;
              if (ty < 0 || ty % g.sh != 0 || ty / g.sh >= g.oh)
                continue;
              for (int kx = 0; kx < g.kw; kx++)
                {
                  int tx = ix + g.pl - kx;
                  if (tx < 0 || tx % g.sw != 0 || tx / g.sw >= g.ow)
                    continue;
                  acc += dp[(ty / g.sh) * g.ow + tx / g.sw] * wp[ky * g.kw + kx];
                }
            }
        }
      dx[i] = acc;
    }
}

/* one block per weight element [co, ci, ky, kx]: sum over n, oy, ox */
static __global__ void
grouped_backward_weight_kernel (tsk_conv_geom g, const float *x, const float *dy, float *dw)
{
  int64_t widx = blockIdx.x;
  int kx = (int) (widx % g.kw), ky = (int) (widx / g.kw % g.kh);
  int ci = (int) (widx / ((int64_t) g.kw * g.kh) % g.cg);
  int co = (int) (widx / ((int64_t) g.kw * g.kh * g.cg));
  int c = co / g.coutg * g.cg + ci;
  int64_t p = (int64_t) g.oh * g.ow, total = (int64_t) g.n * p;
  double acc = 0.0;

  for (int64_t t = threadIdx.x; t < total; t += blockDim.x)
    {
      int64_t n = t / p;
      int oy = (int) (t % p / g.ow), ox = (int) (t % g.ow);
      int iy = oy * g.sh - g.pt + ky, ix = ox * g.sw - g.pl + kx;
      if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w)
        continue;
      acc += (double) (dy[(n * g.cout + co) * p + t % p]
                       * x[((n * g.c + c) * g.h + iy) * (int64_t) g.w + ix]);
    }
  acc = tsk_block_sum<double> (acc);
  if (threadIdx.x == 0)
    dw[widx] = (float) acc;
}

static __global__ void
bias_add_kernel (int64_t n, int64_t c, int64_t plane, const float *b, float *y)
{
  TSK_FOR (i, n * c * plane)
    y[i] += b[i / plane % c];
}

/* one block per channel */
static __global__ void
bias_grad_kernel (int64_t n, int64_t c, int64_t plane, const float *dy, float *db)
{
  int64_t ch = blockIdx.x, cnt = n * plane;
  double acc = 0.0;

  for (int64_t k = threadIdx.x; k < cnt; k += blockDim.x)
    acc += dy[(k / plane * c + ch) * plane + k % plane];
  acc = tsk_block_sum<double> (acc);
  if (threadIdx.x == 0)
    db[ch] = (float) acc;
}

extern "C" void
tsk_im2col (cudaStream_t s, const tsk_conv_geom *g, int n0, int nb, const float *x, float *col)
{
  int64_t total = (int64_t) nb * g->cg * g->kh * g->kw * g->oh * g->ow;
  if (total > 0)
    TSK_LAUNCH (im2col_kernel, tsk_blocks (total), s) (*g, n0, nb, x, col);
}

extern "C" void
tsk_col2im (cudaStream_t s, const tsk_conv_geom *g, int n0, int nb, const float *dcol,
            float *dx)
{
  int64_t total = (int64_t) nb * g->c * g->h * g->w;
  if (total > 0)
    TSK_LAUNCH (col2im_kernel, tsk_blocks (total), s) (*g, n0, nb, dcol, dx);
}

extern "C" void
tsk_conv_grouped_forward (cudaStream_t s, const tsk_conv_geom *g, const float *x,
                          const float *w, const float *b, float *y)
{
  int64_t total = (int64_t) g->n * g->cout * g->oh * g->ow;
  if (total > 0)
    TSK_LAUNCH (grouped_forward_kernel, tsk_blocks (total), s) (*g, x, w, b, y);
}

extern "C" void
tsk_conv_grouped_backward_data (cudaStream_t s, const tsk_conv_geom *g, const float *dy,
                                const float *w, float *dx)
{
  int64_t total = (int64_t) g->n * g->c * g->h * g->w;
  if (total > 0)
    TSK_LAUNCH (grouped_backward_data_kernel, tsk_blocks (total), s) (*g, dy, w, dx);
}

extern "C" void
tsk_conv_grouped_backward_weight (cudaStream_t s, const tsk_conv_geom *g, const float *x,
                                  const float *dy, float *dw)
{
  int64_t total = (int64_t) g->cout * g->cg * g->kh * g->kw;
  if (total > 0)
    TSK_LAUNCH (grouped_backward_weight_kernel, (unsigned int) total, s) (*g, x, dy, dw);
}

extern "C" void
tsk_bias_add (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const float *b, float *y)
{
  if (n * c * plane > 0)
    TSK_LAUNCH (bias_add_kernel, tsk_blocks (n * c * plane), s) (n, c, plane, b, y);
}

extern "C" void
tsk_bias_grad (cudaStream_t s, int64_t n, int64_t c, int64_t plane, const float *dy, float *db)
{
  if (c > 0)
    TSK_LAUNCH (bias_grad_kernel, (unsigned int) c, s) (n, c, plane, dy, db);
}
