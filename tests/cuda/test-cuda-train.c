/* test-cuda-train.c: N Adam steps of resnet18 (fastai head, small images) on
 * the CPU and on the GPU from the same seed, weights and batches: the losses
 * must track.  With TS_CUDA_BENCH=1 it also times training and inference
 * steps of resnet18 / resnet50 at 128 px on the GPU (images/s), for
 * scripts/gpu-check.  Skipped when there is no CUDA device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda-test.h"
#include "ts-backend-cuda.h"
#include "ts-backend.h"
#include "ts-clock.h"
#include "ts-model.h"
#include "ts-rng.h"

#define N_CLASSES 5
/* bf16 against float32 (test_bf16, test_bf16_tf_same).  Measured in the
 * host emulation: resnet18 eval logits 0.0095 (mobilenet_v2_folded's
 * 0.0098), tiny's training logits 0.0079 and gradients 0.098 (TF32 in
 * float32: 0.02); a layout bug gives ~1 (a wrong pad value in
 * mobilenet_v2_folded's SAME convs: 4e5).  A real GPU rounds differently
 * (FMAs, cuDNN's algorithms), hence the margin. */
#define BF16_LOGITS_TOL 3e-2
#define BF16_TINY_LOGITS_TOL 3e-2
#define BF16_TINY_GRAD_TOL 0.3
/* per tensor, see worst_grad_cosine: measured 0.978 (tiny), 0.734 (resnet18) */
#define BF16_TINY_MIN_COSINE 0.9
#define BF16_MIN_COSINE 0.5
/* five Adam steps on one batch at least halve the loss (CPU 0.14x, bf16 0.22x) */
#define BF16_FALL 0.5

static ts_backend *cpu, *gpu;

static char skip_reason[512];

typedef struct {
  ts_backend *be;
  ts_model *m;
  ts_tensor *x, *t, *dl;
  ts_tensor **mom, **var;
  int step;
} trainer;

static void
trainer_init_as (trainer *tr, ts_backend *be, const char *arch, int batch, int size,
                 ts_precision precision)
{
  ts_model_config cfg = { .arch = arch, .n_classes = N_CLASSES, .head = TS_HEAD_FASTAI,
                          .seed = 2024 };
  int np;

  memset (tr, 0, sizeof *tr);
  tr->be = be;
  g_assert_cmpint (ts_model_new (be, &cfg, &tr->m), ==, TS_OK);
  g_assert_cmpint (ts_model_set_precision (tr->m, precision), ==, TS_OK);
  g_assert_cmpint (ts_model_prepare (tr->m, batch, size, size), ==, TS_OK);
  tr->x = ts_tensor_new_4d (be, batch, 3, size, size);
  tr->t = ts_tensor_new_2d (be, batch, N_CLASSES);
  tr->dl = ts_tensor_new_2d (be, batch, N_CLASSES);
  g_assert_nonnull (tr->x);
  g_assert_nonnull (tr->t);
  g_assert_nonnull (tr->dl);
  np = ts_model_n_params (tr->m);
  tr->mom = calloc ((size_t) np, sizeof (ts_tensor *));
  tr->var = calloc ((size_t) np, sizeof (ts_tensor *));
  for (int i = 0; i < np; i++)
    {
      ts_param *p = ts_model_param (tr->m, i);
      tr->mom[i] = ts_tensor_new (be, p->value->ndim, p->value->shape);
      tr->var[i] = ts_tensor_new (be, p->value->ndim, p->value->shape);
      g_assert_nonnull (tr->mom[i]);
      g_assert_nonnull (tr->var[i]);
    }
}

static void
trainer_init (trainer *tr, ts_backend *be, const char *arch, int batch, int size)
{
  trainer_init_as (tr, be, arch, batch, size, TS_PRECISION_F32);
}

static void
trainer_free (trainer *tr)
{
  int np = ts_model_n_params (tr->m);
  for (int i = 0; i < np; i++)
    {
      ts_tensor_free (tr->mom[i]);
      ts_tensor_free (tr->var[i]);
    }
  free (tr->mom);
  free (tr->var);
  ts_tensor_free (tr->x);
  ts_tensor_free (tr->t);
  ts_tensor_free (tr->dl);
  ts_model_free (tr->m);
}

static float
trainer_forward_backward (trainer *tr)
{
  ts_tensor *logits = NULL;
  float loss;

  g_assert_cmpint (ts_model_forward (tr->m, tr->x, 1, &logits), ==, TS_OK);
  loss = tr->be->i->bce_with_logits (tr->be, logits, tr->t, tr->dl);
  g_assert_cmpint (ts_model_backward (tr->m, tr->dl), ==, TS_OK);
  return loss;
}

static void
trainer_adam (trainer *tr, float lr)
{
  const ts_backend_i *be = tr->be->i;

  tr->step++;
  for (int i = 0; i < ts_model_n_params (tr->m); i++)
    {
      ts_param *p = ts_model_param (tr->m, i);
      if (!p->trainable)
        continue;
      be->adam_step (tr->be, p->value, p->grad, tr->mom[i], tr->var[i], lr, 0.9f, 0.99f, 1e-5f,
                     p->kind == TS_PARAM_WEIGHT ? 0.01f : 0.0f, tr->step);
    }
}

/* one fastai Adam step; the batch is already in tr->x / tr->t */
static float
trainer_step (trainer *tr, float lr)
{
  float loss = trainer_forward_backward (tr);
  trainer_adam (tr, lr);
  return loss;
}

/* Images of i.i.d. noise all look alike to a network: their pooled
 * features barely vary across the batch, so a training-mode batch norm in
 * the head divides rounding differences by a tiny spread.  A brightness and
 * contrast per image (as real photos have) spreads the features. */
static void
vary_images (int batch, int size, float *x)
{
  int64_t per = (int64_t) 3 * size * size;
  for (int i = 0; i < batch; i++)
    for (int64_t q = 0; q < per; q++)
      x[i * per + q] = x[i * per + q] * (0.5f + 0.25f * (float) i) + 0.3f * (float) (i % 3 - 1);
}

static void
make_batch (uint64_t seed, int batch, int size, float *x, float *t)
{
  ts_rng r;
  ts_rng_seed (&r, seed, 1);
  for (int64_t i = 0; i < (int64_t) batch * 3 * size * size; i++)
    x[i] = (float) ts_rng_normal (&r);
  for (int i = 0; i < batch * N_CLASSES; i++)
    t[i] = ts_rng_uniform (&r) < 0.4 ? 1.0f : 0.0f;
}

/* adds ||g - c||^2 to *num and ||c||^2 to *den */
static void
tensor_error (const ts_tensor *c, const ts_tensor *g, double *num, double *den)
{
  float *hc = malloc ((size_t) c->numel * sizeof (float));
  float *hg = malloc ((size_t) c->numel * sizeof (float));

  g_assert_cmpint (ts_tensor_to_host (c, hc, c->numel), ==, TS_OK);
  g_assert_cmpint (ts_tensor_to_host (g, hg, g->numel), ==, TS_OK);
  for (int64_t i = 0; i < c->numel; i++)
    {
      double d = (double) hg[i] - hc[i];
      *num += d * d;
      *den += (double) hc[i] * hc[i];
    }
  free (hc);
  free (hg);
}

/* The smallest cosine between a parameter's CPU and GPU gradients, over
 * the trainable tensors whose CPU gradient is not vanishing (at least 1e-3
 * of the largest norm: a gradient that is zero in exact arithmetic, such as
 * a batch norm's gamma that the head's batch norm makes scale-free, is noise
 * on both sides).  Rounding that drifts a gradient by 50% keeps its cosine
 * near 0.87; a gradient not computed, or wired to the wrong tensor, gives 0
 * or less.  Names the worst tensor. */
static double
worst_grad_cosine (const char *what, trainer *tc, trainer *tg)
{
  double worst = 1.0, biggest = 0.0;
  const char *worst_name = "";
  int np = ts_model_n_params (tc->m);
  double *dot = calloc ((size_t) np, sizeof (double)), *nc = calloc ((size_t) np, sizeof (double));
  double *ng = calloc ((size_t) np, sizeof (double));

  for (int i = 0; i < np; i++)
    {
      ts_param *pc = ts_model_param (tc->m, i), *pg = ts_model_param (tg->m, i);
      float *hc, *hg;
      if (!pc->trainable)
        continue;
      hc = malloc ((size_t) pc->grad->numel * sizeof (float));
      hg = malloc ((size_t) pc->grad->numel * sizeof (float));
      g_assert_cmpint (ts_tensor_to_host (pc->grad, hc, pc->grad->numel), ==, TS_OK);
      g_assert_cmpint (ts_tensor_to_host (pg->grad, hg, pg->grad->numel), ==, TS_OK);
      for (int64_t k = 0; k < pc->grad->numel; k++)
        {
          dot[i] += (double) hc[k] * hg[k];
          nc[i] += (double) hc[k] * hc[k];
          ng[i] += (double) hg[k] * hg[k];
        }
      biggest = fmax (biggest, sqrt (nc[i]));
      free (hc);
      free (hg);
    }
  for (int i = 0; i < np; i++)
    if (ts_model_param (tc->m, i)->trainable && sqrt (nc[i]) >= 1e-3 * biggest)
      {
        double cosine = dot[i] / (sqrt (nc[i] * ng[i]) + 1e-300);
        if (cosine < worst)
          {
            worst = cosine;
            worst_name = ts_model_param (tc->m, i)->name;
          }
      }
  g_test_message ("%s gradients: smallest cosine %.3f (%s)", what, worst, worst_name);
  free (dot);
  free (nc);
  free (ng);
  return worst;
}

/* normalized error of all parameter gradients of the last backward together */
static double
compare_grads (const char *what, trainer *tc, trainer *tg)
{
  double num = 0.0, den = 0.0, worst = 0.0;
  const char *worst_name = "";

  for (int i = 0; i < ts_model_n_params (tc->m); i++)
    {
      ts_param *pc = ts_model_param (tc->m, i), *pg = ts_model_param (tg->m, i);
      double n1 = 0.0, d1 = 0.0, e;
      if (!pc->trainable)
        continue;
      tensor_error (pc->grad, pg->grad, &n1, &d1);
      e = d1 > 0.0 ? sqrt (n1 / d1) : sqrt (n1);
      if (e > 1e-4 && g_getenv ("TS_CUDA_VERBOSE"))
        g_test_message ("  %s %s: %.3g", what, pc->name, e);
      if (e > worst)
        {
          worst = e;
          worst_name = pc->name;
        }
      num += n1;
      den += d1;
    }
  g_test_message ("%s gradients: normalized error %.3g over all parameters, worst tensor %.3g "
                  "(%s)", what, sqrt (num / den), worst, worst_name);
  return sqrt (num / den);
}

/* DESIGN.md: nothing is allocated inside the step loop (the backend's
 * scratch reaches its high-water mark in the first step); the host
 * emulation counts, a real GPU cannot be asked */
static void
assert_no_step_allocations (int steps, long mallocs_after_first)
{
  if (&ts_fake_cuda_mallocs == NULL)
    return;
  g_test_message ("device allocations in steps 2-%d: %ld", steps,
                  ts_fake_cuda_mallocs - mallocs_after_first);
  g_assert_cmpint (ts_fake_cuda_mallocs, ==, mallocs_after_first);
}

/* The CPU run on inputs perturbed by ~1e-6 (relative) is the yardstick: ReLU
 * masks and max-pool winners flip under any rounding change, and Adam's first
 * steps (update ~ lr * sign(g)) amplify that, so CPU against GPU can be held
 * only to "no worse than the model's own sensitivity", with a floor for the
 * case where that is tiny.  A real kernel bug gives errors of order 1. */
static void
test_resnet18_parity (void)
{
  const int batch = 8, size = 32, steps = 5;
  trainer tc, tg, tp;
  float *x, *t;
  double yard = 0.0;
  long mallocs_after_first = 0;

  if (gpu == NULL)
    {
      ts_cuda_test_skip_no_gpu (skip_reason);
      return;
    }
  trainer_init (&tc, cpu, "resnet18", batch, size);
  trainer_init (&tp, cpu, "resnet18", batch, size);
  trainer_init (&tg, gpu, "resnet18", batch, size);
  x = malloc ((size_t) batch * 3 * size * size * sizeof (float));
  t = malloc ((size_t) batch * N_CLASSES * sizeof (float));
  make_batch (99, batch, size, x, t);
  g_assert_cmpint (ts_tensor_from_host (tc.x, x, tc.x->numel), ==, TS_OK);
  g_assert_cmpint (ts_tensor_from_host (tg.x, x, tg.x->numel), ==, TS_OK);
  /* inference from the same weights (batch norm folded, fused adds): the logits */
  {
    ts_tensor *oc, *og;
    int64_t n = (int64_t) batch * N_CLASSES;
    float *hc = malloc ((size_t) n * sizeof (float)), *hg = malloc ((size_t) n * sizeof (float));
    double num = 0.0, den = 0.0;
    g_assert_cmpint (ts_model_forward (tc.m, tc.x, 0, &oc), ==, TS_OK);
    g_assert_cmpint (ts_model_forward (tg.m, tg.x, 0, &og), ==, TS_OK);
    g_assert_cmpint (ts_tensor_to_host (oc, hc, n), ==, TS_OK);
    g_assert_cmpint (ts_tensor_to_host (og, hg, n), ==, TS_OK);
    for (int64_t i = 0; i < n; i++)
      {
        num += ((double) hg[i] - hc[i]) * ((double) hg[i] - hc[i]);
        den += (double) hc[i] * hc[i];
      }
    g_test_message ("eval logits: normalized error %.3g", sqrt (num / den));
    /* the host emulation differs only by its GEMMs' and reductions' order
     * of summation, about 1e-6 a layer (tests/cuda/test-cuda-ops.c; 6.3e-7
     * measured through resnet18) */
    g_assert_cmpfloat (sqrt (num / den), <, ts_cuda_test_emulated () ? 1e-5 : 1e-4);
    free (hc);
    free (hg);
  }
  for (int s = 0; s < steps; s++)
    {
      float lc, lg, lp, rg, rp;

      if (s == 1 && &ts_fake_cuda_mallocs != NULL)
        mallocs_after_first = ts_fake_cuda_mallocs;
      make_batch (100 + (uint64_t) s, batch, size, x, t);
      g_assert_cmpint (ts_tensor_from_host (tc.x, x, tc.x->numel), ==, TS_OK);
      g_assert_cmpint (ts_tensor_from_host (tg.x, x, tg.x->numel), ==, TS_OK);
      g_assert_cmpint (ts_tensor_from_host (tc.t, t, tc.t->numel), ==, TS_OK);
      g_assert_cmpint (ts_tensor_from_host (tg.t, t, tg.t->numel), ==, TS_OK);
      g_assert_cmpint (ts_tensor_from_host (tp.t, t, tp.t->numel), ==, TS_OK);
      for (int64_t q = 0; q < tp.x->numel; q++)
        x[q] *= 1.0f + 1e-6f * (float) (q % 7 - 3);
      g_assert_cmpint (ts_tensor_from_host (tp.x, x, tp.x->numel), ==, TS_OK);
      lc = trainer_forward_backward (&tc);
      lg = trainer_forward_backward (&tg);
      lp = trainer_forward_backward (&tp);
      g_assert_true (isfinite (lg));
      if (s == 0)
        {
          double ge = compare_grads ("gpu", &tc, &tg);
          double pe = compare_grads ("perturbed cpu", &tc, &tp);
          g_assert_cmpfloat (fabsf (lg - lc) / fabsf (lc), <, 1e-4);
          g_assert_cmpfloat (ge, <, fmax (10.0 * pe, 1e-3));
        }
      trainer_adam (&tc, 1e-3f);
      trainer_adam (&tg, 1e-3f);
      trainer_adam (&tp, 1e-3f);
      rg = fabsf (lg - lc) / fabsf (lc);
      rp = fabsf (lp - lc) / fabsf (lc);
      g_test_message ("step %d: loss cpu %.6f gpu %.6f (difference %.2e), perturbed cpu %.6f "
                      "(difference %.2e)", s + 1, lc, lg, rg, lp, rp);
      /* the yardstick is the largest perturbed difference so far: chaos grows */
      yard = fmax (yard, rp);
      g_assert_cmpfloat (rg, <=, fmax (10.0 * yard, 1e-3));
    }
  assert_no_step_allocations (steps, mallocs_after_first);
  free (x);
  free (t);
  trainer_free (&tc);
  trainer_free (&tp);
  trainer_free (&tg);
}

/* bf16 logits or gradients against the CPU's float32 (normalized error) */
static double
logits_error (trainer *tc, trainer *tg, int train)
{
  ts_tensor *oc, *og;
  int64_t n = tc->x->shape[0] * N_CLASSES;
  float *hc = malloc ((size_t) n * sizeof (float)), *hg = malloc ((size_t) n * sizeof (float));
  double num = 0.0, den = 0.0;

  g_assert_cmpint (ts_model_forward (tc->m, tc->x, train, &oc), ==, TS_OK);
  g_assert_cmpint (ts_model_forward (tg->m, tg->x, train, &og), ==, TS_OK);
  if (ts_backend_check (gpu) != TS_OK)
    g_test_message ("GPU: %s", ts_last_error ());
  g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
  g_assert_cmpint (ts_tensor_to_host (oc, hc, n), ==, TS_OK);
  g_assert_cmpint (ts_tensor_to_host (og, hg, n), ==, TS_OK);
  for (int64_t i = 0; i < n; i++)
    {
      num += ((double) hg[i] - hc[i]) * ((double) hg[i] - hc[i]);
      den += (double) hc[i] * hc[i];
    }
  free (hc);
  free (hg);
  return sqrt (num / den);
}

/* The same batch on the CPU (float32) and the GPU (@arch in bf16) */
static void
bf16_pair (trainer *tc, trainer *tg, const char *arch, int batch, int size, float *x, float *t)
{
  trainer_init (tc, cpu, arch, batch, size);
  trainer_init_as (tg, gpu, arch, batch, size, TS_PRECISION_BF16);
  g_assert_cmpint (ts_model_precision (tg->m), ==, TS_PRECISION_BF16);
  make_batch (99, batch, size, x, t);
  vary_images (batch, size, x);
  g_assert_cmpint (ts_tensor_from_host (tc->x, x, tc->x->numel), ==, TS_OK);
  g_assert_cmpint (ts_tensor_from_host (tg->x, x, tg->x->numel), ==, TS_OK);
  g_assert_cmpint (ts_tensor_from_host (tc->t, t, tc->t->numel), ==, TS_OK);
  g_assert_cmpint (ts_tensor_from_host (tg->t, t, tg->t->numel), ==, TS_OK);
}

/* The bf16 precision policy (activations in bfloat16 NHWC, convolutions
 * through cuDNN's tensor cores) against the CPU in float32 from the same
 * weights and batches.  bfloat16 keeps 8 significant bits, so this is no
 * parity to the last bits, and how far results drift depends on the
 * network's conditioning: measured in the host emulation, a randomly
 * initialised resnet18 on 32 px images, batch 8, in training mode drifts
 * layer by layer from 0.2% (the stem) to 5% (the body's end) and 11% (the
 * logits, after the head's batch norms over 8 samples), and its gradients
 * by ~50%; TF32 convolutions in float32 (the GPU's default precision) drift
 * the same way at a tenth of that (1% logits, 14% gradients), without a jump
 * at any layer.  A layout or indexing bug gives errors of order 1 at once.
 * So the checks are where the errors are small and a bug is not:
 *  - resnet18's eval logits (every forward op, running statistics: 0.9%);
 *  - the gradients of a three-conv network at batch 64 (every backward op
 *    the head and a conv body use, a few layers deep; its last batch norm's
 *    gamma has a zero gradient in exact arithmetic, since the head's batch
 *    norm undoes any scale of a ReLU's input with beta = 0, so its relative
 *    error is noise over noise and only the total is held);
 *  - resnet18's first gradients, tensor by tensor, by their direction (the
 *    cosine with the CPU's: rounding keeps it high, a broken backward does
 *    not), then five steps on one batch: the loss at least halves (the CPU
 *    and bf16 each, compared with their own start; a frozen body halves it
 *    too, hence the cosines), and no step allocates device memory.
 * Needs cuDNN (bf16 convolutions have no other path): skipped without it. */
static void
test_bf16 (void)
{
  const int batch = 8, size = 32, steps = 5;
  trainer tc, tg;
  float *x, *t, lc0 = 0.0f, lg0 = 0.0f, lc = 0.0f, lg = 0.0f;
  long mallocs_after_first = 0;
  const char *dnn = g_getenv ("TS_CUDA_CUDNN");
  double e;

  if (gpu == NULL || !dnn || atoi (dnn) != 1)
    {
      g_test_skip (gpu == NULL ? "no CUDA device"
                   : "bf16 convolutions need cuDNN (run with TS_CUDA_CUDNN=1)");
      return;
    }
  x = malloc ((size_t) 8 * batch * 3 * size * size * sizeof (float));
  t = malloc ((size_t) 8 * batch * N_CLASSES * sizeof (float));

  bf16_pair (&tc, &tg, "tiny", 8 * batch, size, x, t);
  e = logits_error (&tc, &tg, 1);
  g_test_message ("tiny, bf16: training logits normalized error %.3g", e);
  g_assert_cmpfloat (e, <, BF16_TINY_LOGITS_TOL);
  trainer_forward_backward (&tc);
  trainer_forward_backward (&tg);
  g_assert_cmpfloat (compare_grads ("tiny, bf16", &tc, &tg), <, BF16_TINY_GRAD_TOL);
  g_assert_cmpfloat (worst_grad_cosine ("tiny, bf16", &tc, &tg), >, BF16_TINY_MIN_COSINE);
  trainer_free (&tc);
  trainer_free (&tg);

  bf16_pair (&tc, &tg, "resnet18", batch, size, x, t);
  e = logits_error (&tc, &tg, 0);
  g_test_message ("resnet18, bf16: eval logits normalized error %.3g", e);
  g_assert_cmpfloat (e, <, BF16_LOGITS_TOL);
  for (int s = 0; s < steps; s++)
    {
      if (s == 1 && &ts_fake_cuda_mallocs != NULL)
        mallocs_after_first = ts_fake_cuda_mallocs;
      lc = trainer_forward_backward (&tc);
      lg = trainer_forward_backward (&tg);
      g_assert_cmpint (ts_backend_check (gpu), ==, TS_OK);
      g_assert_true (isfinite (lg));
      if (s == 0)
        {
          lc0 = lc, lg0 = lg;
          /* every layer's gradient points the CPU's way: the model's wiring
           * of the backward (max pool's argmax, the residual sums, the
           * downsample convs, the gradient pool) in bf16 */
          g_assert_cmpfloat (worst_grad_cosine ("resnet18, bf16", &tc, &tg), >, BF16_MIN_COSINE);
        }
      trainer_adam (&tc, 1e-3f);
      trainer_adam (&tg, 1e-3f);
      g_test_message ("step %d on one batch: loss cpu %.6f gpu bf16 %.6f", s + 1, lc, lg);
    }
  /* both learn the batch (how far each gets in five steps is chaotic: see above) */
  g_assert_cmpfloat (lc, <, BF16_FALL * lc0);
  g_assert_cmpfloat (lg, <, BF16_FALL * lg0);
  assert_no_step_allocations (steps, mallocs_after_first);
  free (x);
  free (t);
  trainer_free (&tc);
  trainer_free (&tg);
}

/* Where bf16 cannot run, the model refuses it when it is asked, by name,
 * rather than failing (or computing garbage) in the first step: without
 * cuDNN (bf16 convolutions have no other path). */
static void
test_bf16_refused (void)
{
  const char *dnn = g_getenv ("TS_CUDA_CUDNN");
  ts_model_config cfg = { .arch = "resnet18", .n_classes = N_CLASSES, .head = TS_HEAD_FASTAI,
                          .seed = 1 };
  ts_model *m = NULL;

  if (gpu == NULL || (dnn && atoi (dnn) == 1))
    {
      g_test_skip (gpu == NULL ? "no CUDA device" : "with cuDNN, bf16 runs (see bf16-tf-same)");
      return;
    }
  g_assert_cmpint (ts_model_new (gpu, &cfg, &m), ==, TS_OK);
  g_assert_cmpint (ts_model_set_precision (m, TS_PRECISION_BF16), ==, TS_ERR_UNSUPPORTED);
  g_test_message ("%s", ts_last_error ());
  g_assert_nonnull (strstr (ts_last_error (), "need cuDNN"));
  g_assert_cmpint (ts_model_precision (m), ==, TS_PRECISION_F32);
  ts_model_free (m);
}

/* TensorFlow's SAME padding (the TFLite MobileNetV2 the fastai chapter
 * loads as pretrained weights: 0 on top and 1 below for its stride-2 convs
 * on even sizes, which cuDNN cannot pad) runs in bf16: accepted, and its
 * eval logits at 32 px (every stride-2 conv on an even size) match the
 * CPU's float32 as resnet18's do.  Needs cuDNN. */
static void
test_bf16_tf_same (void)
{
  const int batch = 4, size = 32;
  const char *dnn = g_getenv ("TS_CUDA_CUDNN");
  float *x, *t;
  trainer tc, tg;
  double e;

  if (gpu == NULL || !dnn || atoi (dnn) != 1)
    {
      g_test_skip (gpu == NULL ? "no CUDA device"
                   : "bf16 convolutions need cuDNN (run with TS_CUDA_CUDNN=1)");
      return;
    }
  x = malloc ((size_t) batch * 3 * size * size * sizeof (float));
  t = malloc ((size_t) batch * N_CLASSES * sizeof (float));
  bf16_pair (&tc, &tg, "mobilenet_v2_folded", batch, size, x, t);
  e = logits_error (&tc, &tg, 0);
  g_test_message ("mobilenet_v2_folded, bf16: eval logits normalized error %.3g", e);
  g_assert_cmpfloat (e, <, BF16_LOGITS_TOL);
  free (x);
  free (t);
  trainer_free (&tc);
  trainer_free (&tg);
}

static void
bench_one (const char *arch, int batch, int size)
{
  trainer tr;
  float *x, *t;
  double t0, train_s, infer_s;
  const int iters = 10;
  ts_tensor *logits;

  trainer_init (&tr, gpu, arch, batch, size);
  x = malloc ((size_t) batch * 3 * size * size * sizeof (float));
  t = malloc ((size_t) batch * N_CLASSES * sizeof (float));
  make_batch (7, batch, size, x, t);
  g_assert_cmpint (ts_tensor_from_host (tr.x, x, tr.x->numel), ==, TS_OK);
  g_assert_cmpint (ts_tensor_from_host (tr.t, t, tr.t->numel), ==, TS_OK);
  trainer_step (&tr, 1e-3f);   /* warm-up: scratch grows to its high-water mark */
  gpu->i->synchronize (gpu);
  t0 = ts_now_seconds ();
  for (int i = 0; i < iters; i++)
    trainer_step (&tr, 1e-3f);  /* the loss readback synchronises every step, as training does */
  gpu->i->synchronize (gpu);
  train_s = (ts_now_seconds () - t0) / iters;
  t0 = ts_now_seconds ();
  for (int i = 0; i < iters; i++)
    g_assert_cmpint (ts_model_forward (tr.m, tr.x, 0, &logits), ==, TS_OK);
  gpu->i->synchronize (gpu);
  infer_s = (ts_now_seconds () - t0) / iters;
  g_test_message ("BENCH %s %dpx batch %d: train %.1f img/s (%.1f ms/step), "
                  "inference %.1f img/s", arch, size, batch, batch / train_s, 1e3 * train_s,
                  batch / infer_s);
  free (x);
  free (t);
  trainer_free (&tr);
}

static void
test_bench (void)
{
  const char *want = g_getenv ("TS_CUDA_BENCH");

  if (gpu == NULL)
    {
      g_test_skip ("no CUDA device");
      return;
    }
  if (want == NULL || atoi (want) == 0)
    {
      g_test_skip ("set TS_CUDA_BENCH=1 to time training on the GPU");
      return;
    }
  bench_one ("resnet18", 64, 128);
  bench_one ("resnet50", 64, 128);
  if (atoi (want) > 1)
    {
      bench_one ("resnet18", 256, 128);
      bench_one ("resnet50", 256, 128);
    }
}

/* With every thread of a block emulated (TSK_EMU_THREADS=256, the slow
 * suite's cuda-emu-train-*-threads-*) a run takes minutes: only when asked,
 * as the slow suite's other tests. */
static int
threads_not_asked (void)
{
  const char *t = g_getenv ("TSK_EMU_THREADS"), *slow = g_getenv ("TS_SLOW_TESTS");

  return t && atoi (t) > 1 && !(slow && strcmp (slow, "1") == 0);
}

static void
test_threads_not_asked (void)
{
  g_test_skip ("set TS_SLOW_TESTS=1 to train with every thread of a block emulated");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  if (threads_not_asked ())
    {
      g_test_add_func ("/cuda/train/threads", test_threads_not_asked);
      return g_test_run ();
    }
  ts_cuda_test_default_env ();
  cpu = ts_backend_cpu_new (0);
  gpu = ts_backend_cuda_new (0, skip_reason, sizeof skip_reason);
  g_test_add_func ("/cuda/train/resnet18-parity", test_resnet18_parity);
  g_test_add_func ("/cuda/train/bf16", test_bf16);
  g_test_add_func ("/cuda/train/bf16-refused", test_bf16_refused);
  g_test_add_func ("/cuda/train/bf16-tf-same", test_bf16_tf_same);
  g_test_add_func ("/cuda/train/bench", test_bench);
  int rc = g_test_run ();
  if (gpu)
    ts_backend_free (gpu);
  ts_backend_free (cpu);
  return rc;
}
