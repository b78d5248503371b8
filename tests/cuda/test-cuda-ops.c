/* test-cuda-ops.c: every op of the backend table, forward and backward, on
 * the CUDA backend against the CPU backend (the reference), same random
 * inputs, compared by normalized error ||gpu - cpu|| / ||cpu|| with a
 * tolerance per op (resample_batch by its largest difference per image).
 * Skipped when there is no CUDA device. */
#include "cuda-ops-test.h"

/* Tolerances for a real GPU: its kernels may contract into FMAs, its GEMMs
 * and reductions sum in other orders (TF32 GEMMs need ~5e-3).  main ()
 * tightens them for the host emulation (emulated_tolerances). */
static struct {
  double exact;      /* copies, fills, the max of a window, the dropout mask */
  double ew;         /* one float expression an element */
  double window;     /* pooling windows summed by one thread */
  double red;        /* reductions (bias gradients, batch norm statistics) */
  double gemm;       /* FP32 GEMMs */
  double bn_dx;      /* batch norm's dx, three reductions deep */
  double adam;
  double loss;       /* BCE summed in double, read as a float */
  double resample;   /* resample_batch without lighting, and lighting against the exact formula */
} tols = { 1e-6, 1e-6, 1e-5, 1e-5, 2e-5, 1e-4, 1e-6, 1e-5, 5e-5 };

/* The host emulation (tests/cuda/emu) runs the kernels as host C++, one
 * thread a block, and its cuBLAS as plain loops (the largest normalized
 * errors measured on an AVX-512 machine in brackets; TS_CUDA_VERBOSE=1
 * prints every one).  Without FMAs in this build (no __FP_FAST_FMAF, as on
 * baseline x86-64) a kernel's float expression is the CPU's, rounded the
 * same way: elementwise ops, pooling windows, the dropout mask, BCE's
 * gradient and the resample (without lighting, and with it against the
 * exact formula on the host) are equal bit for bit [0].  The CPU's AVX-512
 * copy of Adam contracts b1*m + (1-b1)*g into FMAs where the kernel rounds
 * each product (__fmul_rn): about an ulp a step, five steps [5.7e-8].  The
 * BCE loss is summed in double by both, in other orders, then rounded to
 * float: an ulp [0].  Sums in another order remain: the plain-loop GEMMs
 * against OpenBLAS's blocks, about eps * sqrt(K) = 2.7e-6 at the largest K
 * here (2048) [7.7e-7]; batch norm's dx [1.2e-6]; the reductions keep the
 * GPU's 1e-5 [3.5e-6]. */
static void
emulated_tolerances (void)
{
#ifndef __FP_FAST_FMAF
  tols.exact = 0.0;
  tols.ew = 0.0;
  tols.window = 0.0;
  tols.resample = 0.0;
#endif
  tols.adam = 2.5e-7;
  tols.loss = FLT_EPSILON;
  tols.gemm = 5e-6;
  tols.bn_dx = 1e-5;
}

static double
tol_gemm (void)
{
  const char *tf32 = g_getenv ("TS_CUDA_TF32");
  return tf32 && atoi (tf32) ? 5e-3 : tols.gemm;
}

/* axpby, add and the activations on @s (a size that is a multiple of 4 goes
 * through the float4 kernels, another through the scalar ones) */
static void
run_eltwise (const int64_t *s)
{
  pair x = mk_rand (4, s, -3, 3), y = mk_rand (4, s, -3, 3), z = mk (4, s, NULL);
  cpu->i->axpby (cpu, 0.5f, x.c, -2.0f, y.c);
  gpu->i->axpby (gpu, 0.5f, x.g, -2.0f, y.g);
  cmp ("axpby", y, tols.ew);
  cpu->i->axpby (cpu, 1.5f, x.c, 0.0f, z.c);
  gpu->i->axpby (gpu, 1.5f, x.g, 0.0f, z.g);
  cmp ("axpby beta=0", z, tols.ew);
  cpu->i->add (cpu, x.c, y.c, z.c);
  gpu->i->add (gpu, x.g, y.g, z.g);
  cmp ("add", z, tols.ew);
  /* the fused add + ReLU / ReLU6, written over its first input as the models do */
  for (int a = TS_ACT_RELU; a <= TS_ACT_RELU6; a++)
    {
      pair u = mk_rand (4, s, -8, 8);
      cpu->i->add (cpu, u.c, y.c, u.c);
      cpu->i->activation_forward (cpu, (ts_activation) a, u.c, u.c);
      gpu->i->add_act_forward (gpu, u.g, y.g, (ts_activation) a, u.g);
      cmp (a == TS_ACT_RELU ? "add+relu" : "add+relu6", u, tols.ew);
      pfree (u);
    }
  static const char *names[] = { "relu", "relu6", "sigmoid" };
  for (int a = 0; a < 3; a++)
    {
      char what[64];
      pair xx = mk_rand (4, s, -8, 8), yy = mk (4, s, NULL), dy = mk_rand (4, s, -1, 1);
      pair dx = mk (4, s, NULL);
      cpu->i->activation_forward (cpu, (ts_activation) a, xx.c, yy.c);
      gpu->i->activation_forward (gpu, (ts_activation) a, xx.g, yy.g);
      snprintf (what, sizeof what, "%s forward", names[a]);
      cmp (what, yy, tols.ew);
      cpu->i->activation_backward (cpu, (ts_activation) a, yy.c, dy.c, dx.c);
      gpu->i->activation_backward (gpu, (ts_activation) a, yy.g, dy.g, dx.g);
      snprintf (what, sizeof what, "%s backward", names[a]);
      cmp (what, dx, tols.ew);
      /* in place, as the models run relu */
      cpu->i->activation_forward (cpu, (ts_activation) a, xx.c, xx.c);
      gpu->i->activation_forward (gpu, (ts_activation) a, xx.g, xx.g);
      snprintf (what, sizeof what, "%s in place", names[a]);
      cmp (what, xx, tols.ew);
      pfree (xx), pfree (yy), pfree (dy), pfree (dx);
    }
  pfree (x), pfree (y), pfree (z);
}

static void
test_elementwise (void)
{
  int64_t s[4] = { 3, 5, 7, 11 }, s4[4] = { 2, 4, 6, 8 };

  if (!have_gpu ())
    return;
  run_eltwise (s);
  run_eltwise (s4);
  pair x = mk_rand (4, s, -3, 3), y = mk_rand (4, s, -3, 3), z = mk (4, s, NULL);
  cpu->i->fill (cpu, z.c, -0.75f);
  gpu->i->fill (gpu, z.g, -0.75f);
  cmp ("fill", z, tols.exact);

  pair mask = mk (4, s, NULL), dd = mk (4, s, NULL);
  cpu->i->dropout_forward (cpu, 0.3f, 1234, 99, x.c, z.c, mask.c);
  gpu->i->dropout_forward (gpu, 0.3f, 1234, 99, x.g, z.g, mask.g);
  cmp ("dropout mask (same hash)", mask, tols.exact);
  cmp ("dropout forward", z, tols.ew);
  cpu->i->dropout_backward (cpu, mask.c, y.c, dd.c);
  gpu->i->dropout_backward (gpu, mask.g, y.g, dd.g);
  cmp ("dropout backward", dd, tols.ew);

  int64_t sa[4] = { 3, 2, 4, 5 }, sb[4] = { 3, 6, 4, 5 }, sy[4] = { 3, 8, 4, 5 };
  pair a = mk_rand (4, sa, -1, 1), b = mk_rand (4, sb, -1, 1), cat = mk (4, sy, NULL);
  pair da = mk (4, sa, NULL), db = mk (4, sb, NULL);
  cpu->i->concat_channels (cpu, a.c, b.c, cat.c);
  gpu->i->concat_channels (gpu, a.g, b.g, cat.g);
  cmp ("concat_channels", cat, tols.exact);
  cpu->i->split_channels (cpu, cat.c, da.c, db.c);
  gpu->i->split_channels (gpu, cat.g, da.g, db.g);
  cmp ("split_channels a", da, tols.exact);
  cmp ("split_channels b", db, tols.exact);

  pfree (x), pfree (y), pfree (z), pfree (mask), pfree (dd);
  pfree (a), pfree (b), pfree (cat), pfree (da), pfree (db);
}


/* @cc's forward, backward and backward for dw alone against the CPU's;
 * in the host emulation the fake cuDNN's calls must be @want */
static void
run_conv_expect (const conv_case *cc, cudnn_calls want)
{
  const ts_conv2d_params *p = &cc->p;
  int64_t sx[4], sw[4], sy[4], sb[1];
  char what[128];
  pair x, w, b, y, dy, dx, dw, db;
  cudnn_calls calls0;

  conv_case_shapes (cc, sx, sw, sy, sb);
  x = mk_rand (4, sx, -1, 1), w = mk_rand (4, sw, -0.5f, 0.5f);
  b = mk_rand (1, sb, -1, 1), y = mk (4, sy, NULL), dy = mk_rand (4, sy, -1, 1);
  dx = mk (4, sx, NULL), dw = mk (4, sw, NULL), db = mk (1, sb, NULL);

  calls0 = cudnn_calls_now ();
  cpu->i->conv2d_forward (cpu, p, x.c, w.c, cc->bias ? b.c : NULL, y.c);
  gpu->i->conv2d_forward (gpu, p, x.g, w.g, cc->bias ? b.g : NULL, y.g);
  snprintf (what, sizeof what, "conv2d %s forward", cc->name);
  cmp (what, y, tol_gemm ());
  cpu->i->conv2d_backward (cpu, p, x.c, w.c, dy.c, dx.c, dw.c, db.c);
  gpu->i->conv2d_backward (gpu, p, x.g, w.g, dy.g, dx.g, dw.g, db.g);
  snprintf (what, sizeof what, "conv2d %s dx", cc->name);
  cmp (what, dx, tol_gemm ());
  snprintf (what, sizeof what, "conv2d %s dw", cc->name);
  cmp (what, dw, tol_gemm ());
  snprintf (what, sizeof what, "conv2d %s db", cc->name);
  cmp (what, db, tols.red);
  /* NULL gradients are skipped; the others still overwrite */
  cpu->i->fill (cpu, dw.c, 7.0f);
  gpu->i->fill (gpu, dw.g, 7.0f);
  cpu->i->conv2d_backward (cpu, p, x.c, w.c, dy.c, NULL, dw.c, NULL);
  gpu->i->conv2d_backward (gpu, p, x.g, w.g, dy.g, NULL, dw.g, NULL);
  snprintf (what, sizeof what, "conv2d %s dw only", cc->name);
  cmp (what, dw, tol_gemm ());
  assert_cudnn_calls (cc->name, calls0, want);
  pfree (x), pfree (w), pfree (b), pfree (y), pfree (dy), pfree (dx), pfree (dw), pfree (db);
}

/* in the host emulation: through the fake cuDNN exactly when asked and
 * possible (forward, data once, filter twice), else never; cuDNN pads
 * symmetrically (the asymmetric cases here change the output size) */
static void
run_conv (const conv_case *cc)
{
  const ts_conv2d_params *p = &cc->p;
  long dnn = want_cudnn () && p->pad_top == p->pad_bottom && p->pad_left == p->pad_right;

  run_conv_expect (cc, (cudnn_calls) { dnn, dnn, 2 * dnn });
}

static void
test_conv (void)
{
  static const conv_case cases[] = {
    { "3x3 s1 p1 bias", 2, 3, 9, 8, 4, 3, 3, { 1, 1, 1, 1, 1, 1, 1 }, 1 },
    { "7x7 s2 p3", 2, 3, 17, 15, 8, 7, 7, { 2, 2, 3, 3, 3, 3, 1 }, 0 },
    { "1x1 s1 (direct)", 3, 6, 5, 7, 4, 1, 1, { 1, 1, 0, 0, 0, 0, 1 }, 1 },
    { "1x1 s2", 2, 6, 9, 9, 5, 1, 1, { 2, 2, 0, 0, 0, 0, 1 }, 0 },
    { "3x3 s2 SAME (asymmetric)", 2, 4, 8, 8, 6, 3, 3, { 2, 2, 0, 0, 1, 1, 1 }, 1 },
    /* every parameter differs between height and width, so a swap shows */
    { "3x5 s(1,2) p(1,2)", 2, 3, 7, 11, 4, 3, 5, { 1, 2, 1, 2, 1, 2, 1 }, 1 },
    { "depthwise 3x3 s2", 2, 8, 9, 9, 8, 3, 3, { 2, 2, 1, 1, 1, 1, 8 }, 1 },
    { "depthwise 3x3 s1 x2", 2, 4, 6, 6, 8, 3, 3, { 1, 1, 1, 1, 1, 1, 4 }, 0 },
    { "grouped 3x3 g2", 2, 4, 6, 5, 6, 3, 3, { 1, 1, 1, 1, 1, 1, 2 }, 1 },
    /* resnet's own shapes at 64 px: stem, layer2.0.conv1, its downsample */
    { "resnet stem 7x7 s2 p3", 2, 3, 64, 64, 16, 7, 7, { 2, 2, 3, 3, 3, 3, 1 }, 0 },
    { "resnet 3x3 s2 p1 even", 4, 32, 16, 16, 48, 3, 3, { 2, 2, 1, 1, 1, 1, 1 }, 0 },
    { "resnet 1x1 s2 even", 4, 32, 16, 16, 48, 1, 1, { 2, 2, 0, 0, 0, 0, 1 }, 0 },
    { "resnet 3x3 s1 p1 wide", 4, 64, 8, 8, 64, 3, 3, { 1, 1, 1, 1, 1, 1, 1 }, 0 },
  };

  if (!have_gpu ())
    return;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    run_conv (&cases[i]);
  /* TS_CUDA_CONV_SEARCH=1 plans with cuDNN's Find*; a non-deterministic
   * algorithm only with TS_CUDA_DETERMINISTIC=0, and only from the
   * heuristics (the fake lists one first there, and a deterministic one first
   * in Find*'s order: the search's choice must be the one used) */
  if (&ts_fake_cudnn_finds != NULL)
    {
      const char *search = g_getenv ("TS_CUDA_CONV_SEARCH");
      const char *det = g_getenv ("TS_CUDA_DETERMINISTIC");
      int find = want_cudnn () && search && strcmp (search, "1") == 0;
      int nondet = want_cudnn () && det && strcmp (det, "0") == 0 && !find;
      g_assert_true ((ts_fake_cudnn_finds > 0) == find);
      g_assert_true ((ts_fake_cudnn_nondeterministic > 0) == nondet);
    }
}

/* ---- cuDNN's fall-through when an algorithm fails as it runs
 * (ts-cuda-cudnn.c): the fake cuDNN's failures at execution
 * (tests/cuda/emu/fake-cudnn.c, cuda-ops-test.h) and its runtime's sticky
 * error (fake-cudart.c), absent (NULL) with the real libraries ---- */

/* Each direction's first candidate fails when run (a detail of BAD_PARAM
 * that is the algorithm's, as cuDNN 9 reports one; then, on another
 * geometry, a NOT_SUPPORTED about its sub-library): the next one runs,
 * results equal the CPU's although the failed try left garbage in the
 * output (the fake's), and the refused one is never tried again (the conv
 * twice: forward twice, data twice, filter four times); under
 * TS_CUDA_DETERMINISTIC the replacement is deterministic too, as plan()
 * orders them.  Then every
 * filter-gradient candidate fails (an execution failure, CUDA sound): the
 * backward runs on im2col, dx included (cuDNN's dx is written again), and
 * so does every later one. */
static void
test_conv_fallthrough (void)
{
  /* (geometries no other test plans) */
  static const struct {
    conv_case cc;
    int status;
  } once[] = {
    { { "3x3 s1 p1 bias, first candidates fail", 2, 4, 7, 6, 5, 3, 3, { 1, 1, 1, 1, 1, 1, 1 },
        1 }, DNN_BAD_PARAM_SIZE_INSUFFICIENT },
    { { "3x3 s1 p1, first candidates' sub-library missing", 2, 5, 6, 7, 3, 3, 3,
        { 1, 1, 1, 1, 1, 1, 1 }, 0 }, DNN_NOT_SUPPORTED_SUBLIBRARY },
  };
  static const conv_case out = { "3x3 s2 p1, every filter candidate fails", 2, 6, 9, 7, 4, 3, 3,
                                 { 2, 2, 1, 1, 1, 1, 1 }, 0 };
  const char *det = g_getenv ("TS_CUDA_DETERMINISTIC");
  const long runs[3] = { 2, 2, 4 };
  ts_cuda_dnn_stats s0;
  long nondet0;

  if (!have_fake_failures ())
    return;
  s0 = dnn_stats (gpu);
  nondet0 = ts_fake_cudnn_nondeterministic;
  for (int i = 0; i < 2; i++)
    {
      ts_fake_cudnn_fail_reset ();
      ts_fake_cudnn_fail_first[0] = ts_fake_cudnn_fail_first[1] = ts_fake_cudnn_fail_first[2] = 1;
      ts_fake_cudnn_fail_status = once[i].status;
      run_conv (&once[i].cc);
      run_conv (&once[i].cc);
      g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
      for (int k = 0; k < 3; k++)
        {
          g_assert_cmpint (__builtin_popcount (ts_fake_cudnn_failing[k]), ==, 1);
          g_assert_cmpint (tries_of (k, 1), ==, 1);
          g_assert_cmpint (tries_of (k, 0), ==, 1 + runs[k]);
        }
      g_assert_cmpint (dnn_stats (gpu).refused - s0.refused, ==, 3 * (i + 1));
    }
  g_assert_cmpint (dnn_stats (gpu).exhausted, ==, s0.exhausted);
  if (!(det && strcmp (det, "0") == 0))
    g_assert_cmpint (ts_fake_cudnn_nondeterministic, ==, nondet0);

  ts_fake_cudnn_fail_reset ();
  ts_fake_cudnn_fail_first[2] = 8;
  ts_fake_cudnn_fail_status = DNN_EXECUTION_FAILED;
  /* forward and the first dx on cuDNN; dw never */
  run_conv_expect (&out, (cudnn_calls) { 1, 1, 0 });
  g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
  /* the fake's three usable filter algorithms, each tried once */
  g_assert_cmpint (__builtin_popcount (ts_fake_cudnn_failing[2]), ==, 3);
  g_assert_cmpint (tries_of (2, 0), ==, 3);
  g_assert_cmpint (dnn_stats (gpu).refused - s0.refused, ==, 9);
  g_assert_cmpint (dnn_stats (gpu).exhausted - s0.exhausted, ==, 1);
  ts_fake_cudnn_fail_reset ();
}

/* A candidate whose workspace cannot be allocated gives way to the next
 * (the fake runtime's allocations limited to 64 bytes, so that only a
 * workspace-free algorithm fits: the fake's first in Find*'s order, its
 * third in the heuristics', second when deterministic ones go first),
 * counted apart from cuDNN's own refusals (no_memory), on a backend of its
 * own whose scratch is still empty.  Then, on another, with nothing
 * allocatable at all (3 bytes: less than the float that even a run of no
 * workspace asks), the workspace-free candidate's shortage is the plain
 * out-of-memory error, recorded, not one more candidate given up (the
 * direction not exhausted, nothing left to im2col). */
static void
test_conv_fallthrough_workspace (void)
{
  static const conv_case cc = { "3x3 s1 p1", 1, 4, 6, 6, 4, 3, 3, { 1, 1, 1, 1, 1, 1, 1 }, 0 };
  const char *det = g_getenv ("TS_CUDA_DETERMINISTIC"), *search = g_getenv ("TS_CUDA_CONV_SEARCH");
  int64_t sx[4], sw[4], sy[4], sb[1];
  ts_backend *keep = gpu;
  char err[512];
  ts_cuda_test_env limit;
  long refusals;
  pair x, w, y, dy, dx, dw;

  if (!have_fake_failures ())
    return;
  refusals = search && strcmp (search, "1") == 0 ? 0 : det && strcmp (det, "0") == 0 ? 2 : 1;
  gpu = ts_backend_cuda_new (0, err, sizeof err);
  g_assert_nonnull (gpu);
  conv_case_shapes (&cc, sx, sw, sy, sb);
  x = mk_rand (4, sx, -1, 1), w = mk_rand (4, sw, -0.5f, 0.5f), y = mk (4, sy, NULL);
  dy = mk_rand (4, sy, -1, 1), dx = mk (4, sx, NULL), dw = mk (4, sw, NULL);
  cpu->i->conv2d_forward (cpu, &cc.p, x.c, w.c, NULL, y.c);
  cpu->i->conv2d_backward (cpu, &cc.p, x.c, w.c, dy.c, dx.c, dw.c, NULL);
  limit = ts_cuda_test_setenv ("TS_FAKE_CUDA_MAX_ALLOC", "64");
  ts_clear_error ();
  gpu->i->conv2d_forward (gpu, &cc.p, x.g, w.g, NULL, y.g);
  gpu->i->conv2d_backward (gpu, &cc.p, x.g, w.g, dy.g, dx.g, dw.g, NULL);
  ts_cuda_test_restore (limit);
  g_assert_true (strcmp (ts_last_error (), "") == 0);
  g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
  g_assert_cmpint (dnn_stats (gpu).no_memory, ==, 3 * refusals);
  g_assert_cmpint (dnn_stats (gpu).refused, ==, 0);
  g_assert_cmpint (dnn_stats (gpu).exhausted, ==, 0);
  cmp ("conv2d forward, small workspace", y, tol_gemm ());
  cmp ("conv2d dx, small workspace", dx, tol_gemm ());
  cmp ("conv2d dw, small workspace", dw, tol_gemm ());
  pfree (x), pfree (w), pfree (y), pfree (dy), pfree (dx), pfree (dw);
  ts_backend_free (gpu);

  gpu = ts_backend_cuda_new (0, err, sizeof err);
  g_assert_nonnull (gpu);
  x = mk_rand (4, sx, -1, 1), w = mk_rand (4, sw, -0.5f, 0.5f), y = mk (4, sy, NULL);
  limit = ts_cuda_test_setenv ("TS_FAKE_CUDA_MAX_ALLOC", "3");
  ts_clear_error ();
  gpu->i->conv2d_forward (gpu, &cc.p, x.g, w.g, NULL, y.g);
  ts_cuda_test_restore (limit);
  g_test_message ("%s", ts_last_error ());
  g_assert_cmpint (ts_backend_check (gpu), ==, TS_ERR_DEVICE);
  g_assert_nonnull (strstr (ts_last_error (), "CUDA scratch allocation failed"));
  g_assert_nonnull (strstr (ts_last_error (), "smaller batch"));
  g_assert_cmpint (dnn_stats (gpu).no_memory, ==, refusals);
  g_assert_cmpint (dnn_stats (gpu).exhausted, ==, 0);
  pfree (x), pfree (w), pfree (y);
  ts_backend_free (gpu);
  gpu = keep;
}

/* Failures that are not the algorithm's are recorded, never retried: an
 * execution failure after which CUDA reports a kernel's fault (sticky: the
 * context is lost, and the message says to restart), a status of the
 * library's (NOT_INITIALIZED), and the details of BAD_PARAM that name what
 * we passed (a misaligned or NULL pointer).  Each on a backend of its own,
 * which keeps the failure.  (A kernel's fault reaches cuda_sound in the
 * emulation as soon as the fake cuDNN fails: its cudaGetLastError returns
 * the sticky error at once, where a GPU may report it only once the stream
 * is synchronized.  So the emulation cannot show that cuda_sound needs its
 * cudaStreamSynchronize: deleting it fails no test here.) */
static void
test_conv_fallthrough_fatal (void)
{
  static const conv_case cc = { "3x3 s1 p1", 1, 4, 5, 5, 4, 3, 3, { 1, 1, 1, 1, 1, 1, 1 }, 0 };
  static const struct {
    int status, fault;
    const char *says[2];
  } cases[] = {
    { DNN_EXECUTION_FAILED, CUDA_ILLEGAL_ADDRESS, { "cudaErrorIllegalAddress", "restarted" } },
    { DNN_NOT_INITIALIZED, 0, { "cuDNN convolution forward failed",
                                "CUDNN_STATUS_NOT_INITIALIZED" } },
    { DNN_BAD_PARAM_MISALIGNED, 0, { "cuDNN convolution forward failed",
                                     "CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER" } },
    { DNN_BAD_PARAM_NULL_POINTER, 0, { "cuDNN convolution forward failed",
                                       "CUDNN_STATUS_BAD_PARAM_NULL_POINTER" } },
  };
  int64_t sx[4], sw[4], sy[4], sb[1];
  ts_backend *keep = gpu;
  char err[512];

  if (!have_fake_failures ())
    return;
  conv_case_shapes (&cc, sx, sw, sy, sb);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    {
      gpu = ts_backend_cuda_new (0, err, sizeof err);
      g_assert_nonnull (gpu);
      pair x = mk_rand (4, sx, -1, 1), w = mk_rand (4, sw, -0.5f, 0.5f), y = mk (4, sy, NULL);
      ts_fake_cudnn_fail_first[0] = 1;
      ts_fake_cudnn_fail_status = cases[i].status;
      ts_fake_cudnn_fail_fault = cases[i].fault;
      ts_clear_error ();
      gpu->i->conv2d_forward (gpu, &cc.p, x.g, w.g, NULL, y.g);
      g_test_message ("%s", ts_last_error ());
      g_assert_cmpint (ts_backend_check (gpu), ==, TS_ERR_DEVICE);
      for (int j = 0; j < 2; j++)
        g_assert_nonnull (strstr (ts_last_error (), cases[i].says[j]));
      g_assert_cmpint (tries_of (0, 0), ==, 1);
      g_assert_cmpint (dnn_stats (gpu).refused, ==, 0);
      ts_fake_cudnn_fail_reset ();   /* (the sticky error too) */
      pfree (x), pfree (w), pfree (y);
      ts_backend_free (gpu);
    }
  gpu = keep;
}

/* @tol: for the outputs (y, dx, dgamma, dbeta); the statistics always get tols.red */
static void
run_bn (int ndim, const int64_t *s, float lo, float hi, double tol)
{
  int64_t sc[1] = { s[1] };
  pair x = mk_rand (ndim, s, lo, hi), y = mk (ndim, s, NULL), dy = mk_rand (ndim, s, -1, 1);
  pair g = mk_rand (1, sc, 0.5f, 1.5f), b = mk_rand (1, sc, -1, 1);
  pair rm = mk_rand (1, sc, -0.1f, 0.1f), rv = mk_rand (1, sc, 0.9f, 1.1f);
  pair sm = mk (1, sc, NULL), si = mk (1, sc, NULL);
  pair dx = mk (ndim, s, NULL), dg = mk (1, sc, NULL), db = mk (1, sc, NULL);
  const char *d = ndim == 2 ? "1d" : "2d";
  char what[64];

  cpu->i->batchnorm_forward_train (cpu, x.c, g.c, b.c, rm.c, rv.c, 0.1f, 1e-5f, y.c, sm.c, si.c);
  gpu->i->batchnorm_forward_train (gpu, x.g, g.g, b.g, rm.g, rv.g, 0.1f, 1e-5f, y.g, sm.g, si.g);
#define CMP(name, t, tol) snprintf (what, sizeof what, "batchnorm%s %s", d, name), cmp (what, t, tol)
  CMP ("train y", y, tol);
  CMP ("save_mean", sm, tols.red);
  CMP ("save_invstd", si, tols.red);
  CMP ("running_mean", rm, tols.red);
  CMP ("running_var", rv, tols.red);
  cpu->i->batchnorm_backward (cpu, x.c, g.c, sm.c, si.c, dy.c, dx.c, dg.c, db.c);
  gpu->i->batchnorm_backward (gpu, x.g, g.g, sm.g, si.g, dy.g, dx.g, dg.g, db.g);
  CMP ("dx", dx, tol > tols.bn_dx ? tol : tols.bn_dx);
  CMP ("dgamma", dg, tol);
  CMP ("dbeta", db, tol);
  cpu->i->batchnorm_forward_eval (cpu, x.c, g.c, b.c, rm.c, rv.c, 1e-5f, y.c);
  gpu->i->batchnorm_forward_eval (gpu, x.g, g.g, b.g, rm.g, rv.g, 1e-5f, y.g);
  CMP ("eval y", y, tol);
  /* the fused batch norm + ReLU / ReLU6 against the CPU's pair of ops; dx
   * written over dy_act, as the model may */
  for (int act = TS_ACT_RELU; act <= TS_ACT_RELU6; act++)
    {
      pair ya = mk (ndim, s, NULL), dya = mk_rand (ndim, s, -1, 1), t = mk (ndim, s, NULL);
      char fused[32];
      snprintf (fused, sizeof fused, "%s+%s", ndim == 2 ? "1d" : "2d",
                act == TS_ACT_RELU ? "relu" : "relu6");
      d = fused;
      cpu->i->batchnorm_forward_train (cpu, x.c, g.c, b.c, rm.c, rv.c, 0.1f, 1e-5f, t.c, sm.c,
                                       si.c);
      cpu->i->activation_forward (cpu, (ts_activation) act, t.c, ya.c);
      gpu->i->batchnorm_act_forward_train (gpu, x.g, g.g, b.g, rm.g, rv.g, 0.1f, 1e-5f,
                                           (ts_activation) act, ya.g, sm.g, si.g);
      CMP ("y", ya, tol);
      CMP ("running_var", rv, tols.red);
      cpu->i->activation_backward (cpu, (ts_activation) act, ya.c, dya.c, t.c);
      cpu->i->batchnorm_backward (cpu, x.c, g.c, sm.c, si.c, t.c, dx.c, dg.c, db.c);
      gpu->i->batchnorm_act_backward (gpu, x.g, g.g, sm.g, si.g, (ts_activation) act, ya.g,
                                      dya.g, dya.g, dg.g, db.g);
      cpu->i->axpby (cpu, 1.0f, dx.c, 0.0f, dya.c);
      CMP ("dx", dya, tol > tols.bn_dx ? tol : tols.bn_dx);
      CMP ("dgamma", dg, tol);
      CMP ("dbeta", db, tol);
      pfree (ya), pfree (dya), pfree (t);
      d = ndim == 2 ? "1d" : "2d";
    }
#undef CMP
  pfree (x), pfree (y), pfree (dy), pfree (g), pfree (b), pfree (rm), pfree (rv);
  pfree (sm), pfree (si), pfree (dx), pfree (dg), pfree (db);
}

static void
test_batchnorm (void)
{
  /* planes smaller than a block (several rows a block, 256 % 42 != 0), a
   * channel split over several blocks (8 images of 32x32), one image whose
   * plane spans several block widths, 1d */
  int64_t s4[4] = { 4, 5, 6, 7 }, split[4] = { 8, 3, 32, 32 }, one[4] = { 1, 2, 40, 30 };
  int64_t s2[2] = { 16, 12 };

  if (!have_gpu ())
    return;
  run_bn (4, s4, -2, 3, tols.red);
  run_bn (4, split, -2, 3, tols.red);
  run_bn (4, one, -2, 3, tols.red);
  /* a mean far from zero against the spread: the statistics must not cancel
   * (E[x^2] - E[x]^2 in float would lose every digit of the variance here).
   * y = x * scale + shift itself, on both backends, then carries the float
   * rounding of mean * scale (about 1e-4 of y's spread), hence 1e-3 there. */
  run_bn (4, split, 1000, 1001, 1e-3);
  run_bn (2, s2, -2, 3, tols.red);
}

/* max pool @pp over x @sx; @neg_inf: the first rows of every plane and the
 * whole second plane -inf, so that windows of -inf only take the forward's
 * fallback (their first element, clamped to the input) */
static void
run_maxpool (const int64_t *sx, const ts_pool2d_params *pp, int neg_inf)
{
  int64_t sy[4] = { sx[0], sx[1], (sx[2] + 2 * pp->pad_h - pp->kernel_h) / pp->stride_h + 1,
                    (sx[3] + 2 * pp->pad_w - pp->kernel_w) / pp->stride_w + 1 };
  int64_t nx = sx[0] * sx[1] * sx[2] * sx[3], plane = sx[2] * sx[3];
  char what[160];
  float *h = rnd (nx, -2, 2);

  if (neg_inf)
    for (int64_t i = 0; i < nx; i++)
      if (i % plane < 3 * sx[3] || (i >= plane && i < 2 * plane))
        h[i] = -INFINITY;
  pair x = mk (4, sx, h), y = mk (4, sy, NULL), dy = mk_rand (4, sy, -1, 1), dx = mk (4, sx, NULL);
  int32_t *ac = cpu->i->alloc (cpu, (size_t) y.c->numel * 4);
  int32_t *ag = gpu->i->alloc (gpu, (size_t) y.c->numel * 4);
  g_assert_nonnull (ac);
  g_assert_nonnull (ag);
  snprintf (what, sizeof what, "maxpool2d %dx%d/%dx%d pad %dx%d%s x [%lld, %lld, %lld, %lld]",
            pp->kernel_h, pp->kernel_w, pp->stride_h, pp->stride_w, pp->pad_h, pp->pad_w,
            neg_inf ? " -inf" : "", (long long) sx[0], (long long) sx[1], (long long) sx[2],
            (long long) sx[3]);
  cpu->i->maxpool2d_forward (cpu, pp, x.c, y.c, ac);
  gpu->i->maxpool2d_forward (gpu, pp, x.g, y.g, ag);
  cmp (what, y, tols.exact);
  cmp_argmax (what, ac, ag, y.c->numel);
  cpu->i->maxpool2d_backward (cpu, pp, ac, dy.c, dx.c);
  gpu->i->maxpool2d_backward (gpu, pp, ag, dy.g, dx.g);
  g_strlcat (what, " backward", sizeof what);
  cmp (what, dx, tols.ew);
  cpu->i->free (cpu, ac);
  gpu->i->free (gpu, ag);
  pfree (x), pfree (y), pfree (dy), pfree (dx);
  free (h);
}

/* The backward gathers each dx element's candidate outputs from the window
 * geometry: resnet's 3x3/2 pad 1, strides 1 and 3, 2x2/2, a 5x3 window with
 * padding k/2, and padding as large as the window or larger (windows wholly
 * in the padding, whose argmax is clamped to row or column 0); windows at
 * every border (11x10 leaves the last ones cut). */
static void
test_maxpool (void)
{
  static const ts_pool2d_params pps[] = {
    { 3, 3, 2, 2, 1, 1 }, { 3, 3, 1, 1, 1, 1 }, { 3, 3, 3, 3, 1, 1 }, { 2, 2, 2, 2, 0, 0 },
    { 5, 3, 2, 1, 2, 1 }, { 1, 1, 1, 1, 3, 3 }, { 2, 3, 1, 2, 4, 3 }, { 3, 2, 3, 1, 3, 5 },
  };
  int64_t sx[4] = { 2, 3, 11, 10 }, s1[4] = { 1, 2, 1, 1 };

  if (!have_gpu ())
    return;
  for (size_t i = 0; i < G_N_ELEMENTS (pps); i++)
    {
      run_maxpool (sx, &pps[i], 0);
      run_maxpool (sx, &pps[i], 1);
      if (pps[i].kernel_h <= 1 + 2 * pps[i].pad_h && pps[i].kernel_w <= 1 + 2 * pps[i].pad_w)
        run_maxpool (s1, &pps[i], 0);
    }
}

static void
test_pool (void)
{
  int64_t sx[4] = { 2, 3, 11, 10 };
  int64_t sa[4] = { 2, 3, 3, 3 }, s1[4] = { 2, 3, 1, 1 };

  if (!have_gpu ())
    return;
  pair x = mk_rand (4, sx, -2, 2), dx = mk (4, sx, NULL);

  for (int k = 0; k < 2; k++)
    {
      const int64_t *so = k ? s1 : sa;
      const char *nm = k ? "1x1" : "3x3";
      char what[96];
      pair yo = mk (4, so, NULL), dyo = mk_rand (4, so, -1, 1);
      int64_t no = yo.c->numel;
      int32_t *amc = cpu->i->alloc (cpu, (size_t) no * 4), *amg = gpu->i->alloc (gpu, (size_t) no * 4);
      cpu->i->adaptive_avgpool2d_forward (cpu, x.c, yo.c);
      gpu->i->adaptive_avgpool2d_forward (gpu, x.g, yo.g);
      snprintf (what, sizeof what, "adaptive_avgpool2d %s forward", nm);
      cmp (what, yo, tols.window);
      cpu->i->adaptive_avgpool2d_backward (cpu, dyo.c, dx.c);
      gpu->i->adaptive_avgpool2d_backward (gpu, dyo.g, dx.g);
      snprintf (what, sizeof what, "adaptive_avgpool2d %s backward", nm);
      cmp (what, dx, tols.ew);
      cpu->i->adaptive_maxpool2d_forward (cpu, x.c, yo.c, amc);
      gpu->i->adaptive_maxpool2d_forward (gpu, x.g, yo.g, amg);
      snprintf (what, sizeof what, "adaptive_maxpool2d %s forward", nm);
      cmp (what, yo, tols.exact);
      cmp_argmax (what, amc, amg, no);
      cpu->i->adaptive_maxpool2d_backward (cpu, amc, dyo.c, dx.c);
      gpu->i->adaptive_maxpool2d_backward (gpu, amg, dyo.g, dx.g);
      snprintf (what, sizeof what, "adaptive_maxpool2d %s backward", nm);
      cmp (what, dx, tols.ew);
      cpu->i->free (cpu, amc);
      gpu->i->free (gpu, amg);
      pfree (yo), pfree (dyo);
    }
  pfree (x), pfree (dx);
}

static void
test_pools (void)
{
  each_index_width (test_maxpool);
  each_index_width (test_pool);
}

static void
test_linear_loss_adam (void)
{
  int64_t sx[2] = { 6, 20 }, sw[2] = { 9, 20 }, sy[2] = { 6, 9 }, sb[1] = { 9 };

  if (!have_gpu ())
    return;
  pair x = mk_rand (2, sx, -1, 1), w = mk_rand (2, sw, -0.5f, 0.5f), b = mk_rand (1, sb, -1, 1);
  pair y = mk (2, sy, NULL), dy = mk_rand (2, sy, -1, 1);
  pair dx = mk (2, sx, NULL), dw = mk (2, sw, NULL), db = mk (1, sb, NULL);
  cpu->i->linear_forward (cpu, x.c, w.c, b.c, y.c);
  gpu->i->linear_forward (gpu, x.g, w.g, b.g, y.g);
  cmp ("linear forward", y, tol_gemm ());
  cpu->i->linear_backward (cpu, x.c, w.c, dy.c, dx.c, dw.c, db.c);
  gpu->i->linear_backward (gpu, x.g, w.g, dy.g, dx.g, dw.g, db.g);
  cmp ("linear dx", dx, tol_gemm ());
  cmp ("linear dw", dw, tol_gemm ());
  cmp ("linear db", db, tols.red);

  /* targets of 0 / 1, logits wide enough to reach the stable form's branches */
  float *t = rnd (y.c->numel, 0, 1);
  for (int64_t i = 0; i < y.c->numel; i++)
    t[i] = t[i] < 0.5f ? 0.0f : 1.0f;
  pair tg = mk (2, sy, t), dl = mk (2, sy, NULL), lg = mk_rand (2, sy, -30, 30);
  float lc = cpu->i->bce_with_logits (cpu, lg.c, tg.c, dl.c);
  float lgpu = gpu->i->bce_with_logits (gpu, lg.g, tg.g, dl.g);
  compare_floats ("bce_with_logits loss", &lc, &lgpu, 1, tols.loss);
  cmp ("bce_with_logits dlogits", dl, tols.ew);
  /* queued: other reductions may run before the loss is read (they reuse
   * the partials' buffer); the same loss, bit for bit */
  g_assert_nonnull (gpu->i->bce_with_logits_queue);
  gpu->i->fill (gpu, dl.g, 7.0f);
  gpu->i->bce_with_logits_queue (gpu, lg.g, tg.g, dl.g);
  g_assert_cmpint (gpu->i->all_finite (gpu, lg.g), ==, 1);
  (void) gpu->i->sum_squares (gpu, lg.g);
  float lq = gpu->i->bce_loss_result (gpu);
  g_assert_true (memcmp (&lq, &lgpu, sizeof lq) == 0);
  cmp ("bce_with_logits_queue dlogits", dl, tols.ew);
  free (t);

  /* Adam on the same gradients: the GEMM's own differences (TF32's ~1e-3)
   * were checked above and would otherwise be all this comparison sees */
  float *hdw = malloc ((size_t) dw.c->numel * sizeof (float));
  g_assert_cmpint (ts_tensor_to_host (dw.c, hdw, dw.c->numel), ==, TS_OK);
  g_assert_cmpint (ts_tensor_from_host (dw.g, hdw, dw.g->numel), ==, TS_OK);
  free (hdw);
  pair m = mk (2, sw, NULL), v = mk (2, sw, NULL);
  cpu->i->fill (cpu, m.c, 0.0f), gpu->i->fill (gpu, m.g, 0.0f);
  cpu->i->fill (cpu, v.c, 0.0f), gpu->i->fill (gpu, v.g, 0.0f);
  for (int step = 1; step <= 5; step++)
    {
      cpu->i->adam_step (cpu, w.c, dw.c, m.c, v.c, 1e-2f, 0.9f, 0.99f, 1e-5f, 0.01f, step);
      gpu->i->adam_step (gpu, w.g, dw.g, m.g, v.g, 1e-2f, 0.9f, 0.99f, 1e-5f, 0.01f, step);
    }
  cmp ("adam param", w, tols.adam);
  cmp ("adam m", m, tols.adam);
  cmp ("adam v", v, tols.adam);

  double sc = cpu->i->sum_squares (cpu, w.c), sg = gpu->i->sum_squares (gpu, w.g);
  float fc = (float) sc, fg = (float) sg;
  compare_floats ("sum_squares", &fc, &fg, 1, tols.red);
  g_assert_cmpint (gpu->i->all_finite (gpu, w.g), ==, 1);
  float bad[2] = { NAN, INFINITY };
  for (int k = 0; k < 2; k++)
    {
      float *h = malloc ((size_t) w.c->numel * sizeof (float));
      g_assert_cmpint (ts_tensor_to_host (w.g, h, w.g->numel), ==, TS_OK);
      h[w.c->numel / 2] = bad[k];
      g_assert_cmpint (ts_tensor_from_host (w.g, h, w.g->numel), ==, TS_OK);
      g_assert_cmpint (gpu->i->all_finite (gpu, w.g), ==, 0);
      free (h);
    }
  pfree (x), pfree (w), pfree (b), pfree (y), pfree (dy), pfree (dx), pfree (dw), pfree (db);
  pfree (tg), pfree (dl), pfree (lg), pfree (m), pfree (v);
}

/* the multi-tensor ops: more tensors than one launch takes (TSK_MULTI_MAX),
 * sizes from empty to several hundred blocks; Adam must equal the
 * one-tensor op bit for bit, and the finite check must name the right one */
#define MULTI_N 61

static int64_t
multi_len (int i)
{
  return i == 7 ? 0 : (int64_t) (i * 977) % 5000 + (i == 30 ? 600000 : 1);
}

static void
test_multi (void)
{
  ts_tensor *p1[MULTI_N], *p2[MULTI_N], *g[MULTI_N], *m1[MULTI_N], *m2[MULTI_N];
  ts_tensor *v1[MULTI_N], *v2[MULTI_N], *cpy[MULTI_N];
  ts_adam_item items[MULTI_N];

  if (!have_gpu ())
    return;
  g_assert_nonnull (gpu->i->adam_step_many);
  for (int i = 0; i < MULTI_N; i++)
    {
      int64_t len = multi_len (i);
      float *h = rnd (len, -1, 1), *hg = rnd (len, -0.1f, 0.1f);
      p1[i] = ts_tensor_new (gpu, 1, &len), p2[i] = ts_tensor_new (gpu, 1, &len);
      g[i] = ts_tensor_new (gpu, 1, &len), cpy[i] = ts_tensor_new (gpu, 1, &len);
      m1[i] = ts_tensor_new (gpu, 1, &len), m2[i] = ts_tensor_new (gpu, 1, &len);
      v1[i] = ts_tensor_new (gpu, 1, &len), v2[i] = ts_tensor_new (gpu, 1, &len);
      ts_tensor_from_host (p1[i], h, len), ts_tensor_from_host (p2[i], h, len);
      ts_tensor_from_host (g[i], hg, len);
      free (h), free (hg);
    }
  for (int step = 1; step <= 3; step++)
    {
      for (int i = 0; i < MULTI_N; i++)
        {
          /* lr and weight decay differ per tensor, as parameter groups and
           * batch norm parameters make them */
          float lr = 1e-3f * (float) (1 + i % 3), wd = i % 2 ? 0.01f : 0.0f;
          gpu->i->adam_step (gpu, p1[i], g[i], m1[i], v1[i], lr, 0.9f, 0.99f, 1e-5f, wd, step);
          items[i] = (ts_adam_item) { p2[i], g[i], m2[i], v2[i], lr, wd, step };
        }
      ts_backend_adam_many (gpu, items, MULTI_N, 0.9f, 0.99f, 1e-5f);
    }
  for (int i = 0; i < MULTI_N; i++)
    {
      int64_t len = multi_len (i);
      float *a = malloc ((size_t) (len + 1) * sizeof (float));
      float *b = malloc ((size_t) (len + 1) * sizeof (float));
      ts_tensor *one[3] = { p1[i], m1[i], v1[i] }, *many[3] = { p2[i], m2[i], v2[i] };
      for (int k = 0; k < 3; k++)
        {
          ts_tensor_to_host (one[k], a, len), ts_tensor_to_host (many[k], b, len);
          int same = memcmp (a, b, (size_t) len * sizeof (float)) == 0;
          if (!same)
            g_test_message ("adam_step_many: tensor %d (%lld elements), %s differs from "
                            "adam_step", i, (long long) len, k == 0 ? "param" : k == 1 ? "m" : "v");
          g_assert_true (same);
        }
      free (a), free (b);
    }

  /* copy_many, then the finite check before and after planting a NaN / inf */
  ts_backend_copy_many (gpu, (const ts_tensor *const *) p1, cpy, MULTI_N);
  for (int i = 0; i < MULTI_N; i += 10)
    {
      int64_t len = multi_len (i);
      float *a = malloc ((size_t) (len + 1) * sizeof (float));
      float *b = malloc ((size_t) (len + 1) * sizeof (float));
      ts_tensor_to_host (p1[i], a, len), ts_tensor_to_host (cpy[i], b, len);
      g_assert_true (memcmp (a, b, (size_t) len * sizeof (float)) == 0);
      free (a), free (b);
    }
  g_assert_cmpint (ts_backend_first_nonfinite (gpu, (const ts_tensor *const *) cpy, MULTI_N),
                   ==, -1);
  int plant[3] = { 30, 52, 0 };
  float bad[3] = { NAN, INFINITY, -INFINITY };
  for (int k = 0; k < 3; k++)
    {
      int i = plant[k];
      int64_t len = multi_len (i);
      float *h = malloc ((size_t) len * sizeof (float));
      ts_tensor_to_host (cpy[i], h, len);
      h[len - 1] = bad[k];
      ts_tensor_from_host (cpy[i], h, len);
      free (h);
      /* the first bad tensor is reported: 30, then still 30, then 0 */
      g_assert_cmpint (ts_backend_first_nonfinite (gpu, (const ts_tensor *const *) cpy, MULTI_N),
                       ==, k == 2 ? 0 : 30);
    }
  g_assert_cmpint (ts_backend_first_nonfinite (gpu, (const ts_tensor *const *) cpy + 31, 30),
                   ==, 52 - 31);
  for (int i = 0; i < MULTI_N; i++)
    {
      ts_tensor_free (p1[i]), ts_tensor_free (p2[i]), ts_tensor_free (g[i]);
      ts_tensor_free (m1[i]), ts_tensor_free (m2[i]), ts_tensor_free (v1[i]);
      ts_tensor_free (v2[i]), ts_tensor_free (cpy[i]);
    }
}

/* resample_batch (ts-resample.h): one batch of items with mixed transforms
 * over images at odd offsets of one source buffer (page-locked, as the
 * loader's), some items reading a copy of their region only.  The GPU runs
 * the same float arithmetic as the CPU but for FMA contraction: about an ulp
 * of a source coordinate (3.8e-6 pixel below 64) times the steepest slope of
 * random pixels (255 levels a pixel, 4.5 after Normalize), 1.7e-5 at worst;
 * 0 in the host emulation.  Lighting is exact per pixel where the CPU
 * interpolates a table of quarter grey levels: within 2.0e-3 of the CPU
 * after Normalize at the items' contrast 0.8 (see
 * tests/engine/test-resample.c; 8.5e-6 in the emulation), and held to
 * tols.resample against the exact formula evaluated on the host. */
#define RS_SIZE 24
#define TOL_RESAMPLE_LIGHT 2.5e-3

typedef struct {
  int img;
  double box[4];                /* x, y, w, h in source pixels */
  const double *affine, *warp;  /* NULL when absent */
  int flags;                    /* TS_RESAMPLE_PAD_ZEROS, TS_RESAMPLE_LIGHTING */
  float brightness_logit, contrast;
  int crop;                     /* read a copy of the item's region only */
} rs_spec;

static const int rs_dims[3][2] = { { 53, 41 }, { 17, 29 }, { 7, 5 } };
/* rotate 20 degrees and zoom in; rotate -35 degrees, zoom out and flip (reflection) */
static const double rs_rot[6] = { 0.75175, -0.27362, 0.05, 0.27362, 0.75175, -0.04 };
static const double rs_flip[6] = { -1.14681, 0.80301, 0.1, -0.80301, -1.14681, 0.2 };
static const double rs_warp[8] = { 1.04, 0.06, 0.03, -0.05, 0.97, -0.02, 0.12, -0.09 };
#define RS_PAD TS_RESAMPLE_PAD_ZEROS
#define RS_LIGHT TS_RESAMPLE_LIGHTING
static const rs_spec rs_specs[] = {
  { 0, { 4.3, 2.7, 40.5, 33.1 }, NULL, NULL, 0, 0, 1, 0 },
  { 1, { 3.2, 9.6, 8.5, 7.25 }, NULL, NULL, 0, 0, 1, 1 },
  { 0, { 0, 0, 53, 41 }, rs_rot, NULL, 0, 0, 1, 0 },
  { 0, { 5.5, 1.5, 36, 36 }, rs_flip, rs_warp, 0, 0, 1, 1 },
  { 2, { 0, 0, 7, 5 }, NULL, rs_warp, 0, 0, 1, 0 },
  { 0, { -9.4, -14.2, 71.6, 71.6 }, NULL, NULL, RS_PAD, 0, 1, 0 },
  { 1, { 6.1, 12.3, 20, 20 }, rs_rot, NULL, RS_PAD, 0, 1, 1 },
  { 0, { 4, 3, 44, 36 }, NULL, NULL, RS_LIGHT, 0.35f, 1.25f, 0 },
  { 1, { 0, 0, 17, 29 }, rs_rot, rs_warp, RS_LIGHT | RS_PAD, -0.4f, 0.8f, 1 },
  { 2, { -1, -1, 9, 9 }, NULL, NULL, RS_LIGHT, 0.1f, 1.1f, 0 },
};
#define RS_N ((int) (sizeof rs_specs / sizeof rs_specs[0]))

/* the items over @buf: the three images first, then the crops; the bytes used */
static size_t
rs_build (uint8_t *buf, ts_resample_item *items)
{
  size_t at = 3, img_at[3];

  for (int i = 0; i < 3; i++)
    {
      img_at[i] = at;
      for (int j = 0; j < rs_dims[i][0] * rs_dims[i][1] * 3; j++)
        buf[at + j] = (uint8_t) ts_rng_below (&rng, 256);
      at += (size_t) rs_dims[i][0] * rs_dims[i][1] * 3 + 1;
    }
  for (int i = 0; i < RS_N; i++)
    {
      const rs_spec *sp = &rs_specs[i];
      const int w = rs_dims[sp->img][0], h = rs_dims[sp->img][1];
      ts_resample_item *it = &items[i];
      int rx, ry, rw, rh;

      ts_resample_item_init (it, RS_SIZE, w, h, sp->box[0], sp->box[1], sp->box[2],
                             sp->box[3], sp->affine, sp->warp);
      it->offset = (int64_t) img_at[sp->img];
      it->flags |= sp->flags;
      it->brightness_logit = sp->brightness_logit;
      it->contrast = sp->contrast;
      if (!sp->crop)
        continue;
      ts_resample_item_region (it, w, h, &rx, &ry, &rw, &rh);
      for (int r = 0; r < rh; r++)
        memcpy (buf + at + (size_t) r * rw * 3,
                buf + img_at[sp->img] + ((size_t) (ry + r) * w + rx) * 3, (size_t) rw * 3);
      ts_resample_item_crop (it, rx, ry, rw, rh);
      it->offset = (int64_t) at;
      at += (size_t) rw * rh * 3;
    }
  return at;
}

/* what the GPU computes for channel @c of output pixel (@ox, @oy): the CPU's
 * float arithmetic with the exact lighting in place of its table */
static float
rs_exact (const uint8_t *buf, const ts_resample_item *it, int ox, int oy, int c,
          const float mean[3], const float stdv[3])
{
  float sx, sy, v[3];

  ts_resample_coords (it, ox, oy, &sx, &sy);
  ts_resample_sample (buf + it->offset, it, sx, sy, v);
  return ts_resample_light (v[c] * (1.0f / 255.0f), it->brightness_logit, it->contrast)
         * (1.0f / stdv[c]) - mean[c] / stdv[c];
}

/* both backends on the same batch; worst[0]: |gpu - cpu| without lighting,
 * worst[1]: with, worst[2]: |gpu - exact lighting| */
static void
rs_compare (const uint8_t *buf, size_t bytes, const ts_resample_item *items, double worst[3])
{
  static const float mean[3] = { 0.485f, 0.456f, 0.406f }, stdv[3] = { 0.229f, 0.224f, 0.225f };
  const int64_t shape[4] = { RS_N, 3, RS_SIZE, RS_SIZE }, per = 3 * RS_SIZE * RS_SIZE;
  pair out = mk (4, shape, NULL);
  float *hc = malloc ((size_t) out.c->numel * sizeof (float));
  float *hg = malloc ((size_t) out.c->numel * sizeof (float));

  g_assert_cmpint (ts_backend_resample_batch (cpu, buf, bytes, NULL, items, RS_N, mean, stdv, out.c),
                   ==, TS_OK);
  g_assert_cmpint (ts_backend_resample_batch (gpu, buf, bytes, NULL, items, RS_N, mean, stdv, out.g),
                   ==, TS_OK);
  g_assert_cmpint (ts_tensor_to_host (out.c, hc, out.c->numel), ==, TS_OK);
  g_assert_cmpint (ts_tensor_to_host (out.g, hg, out.g->numel), ==, TS_OK);
  g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
  for (int i = 0; i < RS_N; i++)
    {
      int light = (items[i].flags & TS_RESAMPLE_LIGHTING) != 0;
      double err = 0.0, err_exact = 0.0;

      for (int64_t j = 0; j < per; j++)
        {
          const float g = hg[i * per + j];
          err = isnan (g) ? INFINITY : fmax (err, fabs ((double) g - hc[i * per + j]));
          if (light)
            err_exact = fmax (err_exact,
                              fabs ((double) g - rs_exact (buf, &items[i], (int) (j % RS_SIZE),
                                                           (int) (j / RS_SIZE % RS_SIZE),
                                                           (int) (j / (RS_SIZE * RS_SIZE)),
                                                           mean, stdv)));
        }
      if (!(err <= (light ? TOL_RESAMPLE_LIGHT : tols.resample)) || !(err_exact <= tols.resample))
        {
          g_test_message ("resample item %d (flags %d): max |gpu - cpu| %.3g, |gpu - exact "
                          "lighting| %.3g", i, items[i].flags, err, err_exact);
          g_test_fail ();
        }
      worst[light] = fmax (worst[light], err);
      worst[2] = fmax (worst[2], err_exact);
    }
  free (hc);
  free (hg);
  pfree (out);
}

static void
test_resample (void)
{
  ts_resample_item items[RS_N];
  size_t cap = 0, bytes;
  uint8_t *buf;
  double worst[3] = { 0.0, 0.0, 0.0 };

  if (!have_gpu ())
    return;
  for (int i = 0; i < 3; i++)
    cap += (size_t) rs_dims[i][0] * rs_dims[i][1] * 3 * (1 + RS_N) + 1;
  buf = gpu->i->host_alloc ? gpu->i->host_alloc (cap + 3) : malloc (cap + 3);
  g_assert_nonnull (buf);
  bytes = rs_build (buf, items);
  rs_compare (buf, bytes, items, worst);
  /* the buffer may change once the results are down: the next batch reads
   * it afresh, not a copy left in the scratch */
  for (size_t j = 0; j < bytes; j++)
    buf[j] = (uint8_t) (255 - buf[j]);
  rs_compare (buf, bytes, items, worst);
  g_test_message ("resample_batch: max |gpu - cpu| %.3g without lighting (tolerance %.0e), "
                  "%.3g with (table against exact, %.0e); max |gpu - exact lighting on the "
                  "host| %.3g (%.0e)", worst[0], tols.resample, worst[1], TOL_RESAMPLE_LIGHT,
                  worst[2], tols.resample);
  if (gpu->i->host_free)
    gpu->i->host_free (buf);
  else
    free (buf);
}

/* bad shapes are errors with a message, never a crash, on the GPU as on the CPU */
static void
test_bad_input (void)
{
  int64_t s1[2] = { 2, 3 }, s2[2] = { 3, 2 }, s3[2] = { 4, 4 };

  if (!have_gpu ())
    return;
  ts_tensor *a = ts_tensor_new (gpu, 2, s1), *b = ts_tensor_new (gpu, 2, s3);
  ts_tensor *w = ts_tensor_new (gpu, 2, s2);
  ts_clear_error ();
  gpu->i->add (gpu, a, b, b);
  g_assert_true (strstr (ts_last_error (), "add") != NULL);
  ts_clear_error ();
  gpu->i->linear_forward (gpu, a, w, NULL, b);
  g_assert_true (strstr (ts_last_error (), "linear") != NULL);
  g_test_message ("error as expected: %s", ts_last_error ());
  ts_tensor_free (a);
  ts_tensor_free (b);
  ts_tensor_free (w);
}

/* out of GPU memory: NULL with a message that suggests a way out; the backend
 * keeps working afterwards */
static void
test_out_of_memory (void)
{
  int64_t huge[4] = { 1024, 1024, 1024, 256 };   /* 1 TiB of floats */
  int64_t s[1] = { 1000 };

  if (!have_gpu ())
    return;
  setenv ("TS_FAKE_CUDA_MAX_ALLOC", "1073741824", 1);   /* the host emulation's limit */
  ts_clear_error ();
  g_assert_true (ts_tensor_new (gpu, 4, huge) == NULL);
  g_test_message ("as expected: %s", ts_last_error ());
  g_assert_true (strstr (ts_last_error (), "out of") != NULL);
  /* the backend's own message names the way out (ts_tensor_new replaces it) */
  ts_clear_error ();
  g_assert_true (gpu->i->alloc (gpu, (size_t) 1 << 40) == NULL);
  g_test_message ("backend: %s", ts_last_error ());
  g_assert_true (strstr (ts_last_error (), "smaller batch") != NULL);
  ts_clear_error ();
  pair a = mk_rand (1, s, -1, 1), b = mk_rand (1, s, -1, 1), y = mk (1, s, NULL);
  cpu->i->add (cpu, a.c, b.c, y.c);
  gpu->i->add (gpu, a.g, b.g, y.g);
  cmp ("add after out of memory", y, tols.ew);
  pfree (a), pfree (b), pfree (y);
}

/* After the tests, on a GPU (a report, not a test): the worst error, and
 * how often cuDNN refused, as it ran, what its heuristics offered */
static void
print_summary (void)
{
  if (gpu == NULL)   /* after g_test_run: not have_gpu, which skips a test */
    return;
  printf ("# worst normalized error: %.3g (%s)\n", worst_err, worst_op);
  print_cudnn_refusals ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (open_backends () && ts_cuda_test_emulated ())
    emulated_tolerances ();
  g_test_add_func ("/cuda/ops/elementwise", test_elementwise);
  g_test_add_func ("/cuda/ops/conv2d", test_conv);
  g_test_add_func ("/cuda/ops/conv2d-fallthrough", test_conv_fallthrough);
  g_test_add_func ("/cuda/ops/conv2d-fallthrough-workspace", test_conv_fallthrough_workspace);
  g_test_add_func ("/cuda/ops/conv2d-fallthrough-fatal", test_conv_fallthrough_fatal);
  g_test_add_func ("/cuda/ops/batchnorm", test_batchnorm);
  g_test_add_func ("/cuda/ops/pool", test_pools);
  g_test_add_func ("/cuda/ops/linear-loss-adam", test_linear_loss_adam);
  g_test_add_func ("/cuda/ops/multi-tensor", test_multi);
  g_test_add_func ("/cuda/ops/resample", test_resample);
  g_test_add_func ("/cuda/ops/bad-input", test_bad_input);
  g_test_add_func ("/cuda/ops/out-of-memory", test_out_of_memory);
  int rc = g_test_run ();
  print_summary ();
  return close_backends (rc);
}
