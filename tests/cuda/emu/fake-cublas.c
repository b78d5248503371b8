/* fake-cublas.c: the cuBLAS calls of the CUDA backend as plain column-major
 * loops, built as a shared module that the backend opens through
 * TS_CUDA_CUBLAS (see fake-cudart.c for why). */
#include <stddef.h>
#include <stdlib.h>

#include <cublas_v2.h>

void tsk_emu_stream_ready (cudaStream_t stream);   /* fake-streams.c */

/* a handle is the stream its calls run on (in order after its copies) */
typedef struct {
  cudaStream_t stream;
} fake_handle;

/* cublas_v2.h maps the plain names to the _v2 symbols the backend looks up */

cublasStatus_t
cublasCreate_v2 (cublasHandle_t *handle)
{
  fake_handle *h = calloc (1, sizeof *h);

  if (h == NULL)
    return CUBLAS_STATUS_ALLOC_FAILED;
  *handle = (cublasHandle_t) h;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasDestroy_v2 (cublasHandle_t handle)
{
  free (handle);
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasSetStream_v2 (cublasHandle_t handle, cudaStream_t stream)
{
  ((fake_handle *) handle)->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasSetMathMode (cublasHandle_t handle, cublasMath_t mode)
{
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasSgemm_v2 (cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                int k, const float *alpha, const float *a, int lda, const float *b, int ldb,
                const float *beta, float *c, int ldc)
{
  if (m < 0 || n < 0 || k < 0 || lda < (ta == CUBLAS_OP_N ? m : k) || lda < 1
      || ldb < (tb == CUBLAS_OP_N ? k : n) || ldb < 1 || ldc < m || ldc < 1)
    return CUBLAS_STATUS_INVALID_VALUE;
  tsk_emu_stream_ready (((fake_handle *) handle)->stream);
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++)
      {
        double s = 0.0;
        for (int p = 0; p < k; p++)
          {
            float av = ta == CUBLAS_OP_N ? a[i + (size_t) p * lda] : a[p + (size_t) i * lda];
            float bv = tb == CUBLAS_OP_N ? b[p + (size_t) j * ldb] : b[j + (size_t) p * ldb];
            s += (double) av * bv;
          }
        float *cv = c + i + (size_t) j * ldc;
        *cv = (float) (*alpha * s + (*beta == 0.0f ? 0.0 : (double) *beta * *cv));
      }
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t
cublasSgemmStridedBatched (cublasHandle_t handle, cublasOperation_t ta, cublasOperation_t tb,
                           int m, int n, int k, const float *alpha, const float *a, int lda,
                           long long sa, const float *b, int ldb, long long sb,
                           const float *beta, float *c, int ldc, long long sc, int count)
{
  for (int i = 0; i < count; i++)
    {
      cublasStatus_t st = cublasSgemm_v2 (handle, ta, tb, m, n, k, alpha, a + i * sa, lda,
                                          b + i * sb, ldb, beta, c + i * sc, ldc);
      if (st != CUBLAS_STATUS_SUCCESS)
        return st;
    }
  return CUBLAS_STATUS_SUCCESS;
}
