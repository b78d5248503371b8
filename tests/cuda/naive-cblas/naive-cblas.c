/* naive-cblas.c: cblas_sgemm in plain loops (see cblas.h). */
#include "cblas.h"

#include <stddef.h>

/* row-major C[m,n] = alpha op(A)[m,k] op(B)[k,n] + beta C */
static void
sgemm_rm (int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
          const float *b, int ldb, float beta, float *c, int ldc)
{
  for (int i = 0; i < m; i++)
    {
      float *ci = c + (size_t) i * ldc;
      for (int j = 0; j < n; j++)
        ci[j] = beta == 0.0f ? 0.0f : beta * ci[j];
      if (!tb)
        {
          /* rows of B are contiguous: i-p-j order vectorises */
          for (int p = 0; p < k; p++)
            {
              float av = alpha * (ta ? a[(size_t) p * lda + i] : a[(size_t) i * lda + p]);
              const float *bp = b + (size_t) p * ldb;
              for (int j = 0; j < n; j++)
                ci[j] += av * bp[j];
            }
        }
      else
        {
          for (int j = 0; j < n; j++)
            {
              const float *bj = b + (size_t) j * ldb;
              float s = 0.0f;
              if (!ta)
                {
                  const float *ai = a + (size_t) i * lda;
                  for (int p = 0; p < k; p++)
                    s += ai[p] * bj[p];
                }
              else
                for (int p = 0; p < k; p++)
                  s += a[(size_t) p * lda + i] * bj[p];
              ci[j] += alpha * s;
            }
        }
    }
}

void
cblas_sgemm (enum CBLAS_ORDER order, enum CBLAS_TRANSPOSE ta, enum CBLAS_TRANSPOSE tb, int m,
             int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
             float beta, float *c, int ldc)
{
  int at = ta != CblasNoTrans, bt = tb != CblasNoTrans;

  if (order == CblasRowMajor)
    sgemm_rm (at, bt, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    /* column-major C = op(A) op(B) is row-major C^T = op(B)^T op(A)^T */
    sgemm_rm (bt, at, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
}
