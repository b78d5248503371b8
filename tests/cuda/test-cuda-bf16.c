/* test-cuda-bf16.c: the CUDA backend's bfloat16 NHWC forms of the ops (the
 * bf16 precision policy, docs/cuda.md) against the CPU backend's float32
 * ops on the same values (inputs rounded to bfloat16 on both sides),
 * compared by normalized error with bfloat16's tolerance, and the dtype and
 * layout conversions bit for bit.  Skipped when there is no CUDA device. */
#include "cuda-ops-test.h"

/* Tolerances.  A bfloat16 keeps 8 significant bits: storing a float rounds it
 * by at most 2^-9 relative (~2e-3), so an op whose float32 result is rounded
 * once lands within ~2e-3 of the CPU's normalized; one that also reads
 * rounded intermediate values (a convolution's filter, batch norm's dx from
 * a rounded y) gets twice that and more for sums. */
static struct {
  double store;      /* one rounding of the float32 result */
  double chain;      /* rounded inputs inside a longer computation */
} tols = { 4e-3, 1.5e-2 };

/* Every bit pattern class the rounding must get right, through the kernel:
 * ties to even both ways, the largest values that round up to infinity,
 * subnormals, signed zeros, infinities and NaN (kept a NaN). */
static void
test_convert_rounding (void)
{
  static const uint32_t bits[] = {
    0x3f800000u, 0x3f808000u, 0x3f818000u, 0x3f808001u, 0x3f80ffffu, 0xbf808000u,
    0x7f7fffffu, 0x7f7f7fffu, 0x00000001u, 0x00008000u, 0x80018000u, 0x00000000u,
    0x80000000u, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0x7f800001u, 0xffffffffu,
  };
  int64_t n = (int64_t) (sizeof bits / sizeof bits[0]);
  int64_t shape[1] = { n };
  float host[sizeof bits / sizeof bits[0]], back[sizeof bits / sizeof bits[0]];

  if (!have_gpu ())
    return;
  ts_tensor *t = ts_tensor_new_as (gpu, 1, shape, TS_BF16, TS_NCHW);
  g_assert_nonnull (t);
  for (int64_t i = 0; i < n; i++)
    memcpy (&host[i], &bits[i], 4);
  g_assert_cmpint (ts_tensor_from_host (t, host, n), ==, TS_OK);
  g_assert_cmpint (ts_tensor_to_host (t, back, n), ==, TS_OK);
  for (int64_t i = 0; i < n; i++)
    {
      uint32_t want = (uint32_t) ts_bf16_from_f32 (host[i]) << 16, got;
      memcpy (&got, &back[i], 4);
      if (isnan (host[i]))
        g_assert_true (isnan (back[i]));
      else if (got != want)
        {
          g_test_message ("0x%08x: kernel 0x%08x, host 0x%08x", bits[i], got, want);
          g_test_fail ();
        }
    }
  /* the host rounding itself: ties to even, carry into the exponent */
  g_assert_cmphex (ts_bf16_from_f32 (1.0f), ==, 0x3f80);
  g_assert_cmphex (ts_bf16_from_f32 (back[1]), ==, 0x3f80);
  memcpy (&host[0], &bits[1], 4);   /* 1 + 2^-8: a tie, to even (1.0) */
  g_assert_cmphex (ts_bf16_from_f32 (host[0]), ==, 0x3f80);
  memcpy (&host[0], &bits[2], 4);   /* 1 + 3 * 2^-8: a tie, to even (up) */
  g_assert_cmphex (ts_bf16_from_f32 (host[0]), ==, 0x3f82);
  memcpy (&host[0], &bits[6], 4);   /* FLT_MAX rounds to infinity */
  g_assert_cmphex (ts_bf16_from_f32 (host[0]), ==, 0x7f80);
  ts_tensor_free (t);
}

/* Every dtype and layout pair, each element distinct, so a transposition
 * that swaps two axes or misses one shows. */
static void
test_convert_layouts (void)
{
  int64_t shape[4] = { 3, 5, 4, 7 }, n = 3 * 5 * 4 * 7;
  float *host = malloc ((size_t) n * sizeof (float)), *back = malloc ((size_t) n * sizeof (float));

  if (!have_gpu ())
    {
      free (host), free (back);
      return;
    }
  for (int64_t i = 0; i < n; i++)
    host[i] = (float) i - 200.0f;   /* exact in bfloat16 up to 256 */
  for (int d = 0; d < 2; d++)
    for (int l = 0; l < 2; l++)
      {
        ts_tensor *t = ts_tensor_new_as (gpu, 4, shape, (ts_dtype) d, (ts_layout) l);
        ts_tensor *u = ts_tensor_new_as (gpu, 4, shape, (ts_dtype) (1 - d), (ts_layout) (1 - l));
        g_assert_nonnull (t);
        g_assert_nonnull (u);
        g_assert_cmpint (ts_tensor_from_host (t, host, n), ==, TS_OK);
        gpu->i->convert (gpu, t, u);
        g_assert_cmpint (ts_tensor_to_host (u, back, n), ==, TS_OK);
        for (int64_t i = 0; i < n; i++)
          if (back[i] != host[i])
            {
              g_test_message ("%s -> %s: [%lld] %g, expected %g", ts_tensor_type_str (t),
                              ts_tensor_type_str (u), (long long) i, back[i], host[i]);
              g_test_fail ();
              break;
            }
        /* the layout really differs in memory: NHWC's second element is c = 1 */
        if (l == 1 && d == 0)
          {
            float first[2];
            t->be->i->download (t->be, first, t->data, 2);
            g_assert_cmpfloat (first[1], ==, host[4 * 7]);
          }
        ts_tensor_free (t);
        ts_tensor_free (u);
      }
  free (host);
  free (back);
}

/* The CPU backend has no bfloat16 or NHWC tensors, and says so. */
static void
test_cpu_refuses (void)
{
  int64_t shape[4] = { 1, 2, 3, 4 };

  ts_clear_error ();
  g_assert_null (ts_tensor_new_as (cpu, 4, shape, TS_BF16, TS_NHWC));
  g_assert_nonnull (strstr (ts_last_error (), "cpu"));
  g_assert_nonnull (strstr (ts_last_error (), "CUDA"));
  if (gpu)
    {
      g_assert_null (ts_tensor_new_as (gpu, 2, shape, TS_BF16, TS_NHWC));
      g_assert_nonnull (strstr (ts_last_error (), "NHWC"));
    }
}

int
main (int argc, char **argv)
{
  char desc[256];

  g_test_init (&argc, &argv, NULL);
  setenv ("TS_CUDA_TF32", "0", 0);
  setenv ("TS_CUDA_CUDNN", "0", 0);
  cpu = ts_backend_cpu_new (1);
  gpu = ts_backend_cuda_new (0, skip_reason, sizeof skip_reason);
  if (gpu)
    g_test_message ("GPU: %s", ts_backend_cuda_describe (gpu, desc, sizeof desc));
  else
    g_test_message ("%s", skip_reason);
  (void) tols;
  g_test_add_func ("/cuda/bf16/convert-rounding", test_convert_rounding);
  g_test_add_func ("/cuda/bf16/convert-layouts", test_convert_layouts);
  g_test_add_func ("/cuda/bf16/cpu-refuses", test_cpu_refuses);
  int rc = g_test_run ();
  if (gpu)
    ts_backend_free (gpu);
  ts_backend_free (cpu);
  if (&ts_fake_cudnn_live != NULL && ts_fake_cudnn_live != 0)
    {
      printf ("# fake cuDNN: %ld handles or descriptors not destroyed\n", ts_fake_cudnn_live);
      rc = 1;
    }
  return rc;
}
