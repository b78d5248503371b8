/* test-model-run: running models: gradients against finite differences (tiny
 * net + fastai head), smaller batches reusing the prepared buffers, frozen
 * groups left alone by backward, bad shapes refused, the fused eval forward
 * equal to the node-by-node one. */
#include <math.h>
#include <string.h>

#include "ts-model.h"
/* white box: the eval-fusion test swaps the model's backend table and folding */
#include "ts-model-private.h"
#include "ts-test.h"

static ts_backend *be;

static ts_tensor *
make_input (int b, int h, int w, double phase)
{
  ts_tensor *x = ts_tensor_new_4d (be, b, 3, h, w);
  float *v = g_new (float, x->numel);
  for (int64_t i = 0; i < x->numel; i++)
    v[i] = (float) sin (0.37 * (double) i + phase) + 0.1f * (float) ((i * 7919) % 13) - 0.6f;
  g_assert_cmpint (ts_tensor_from_host (x, v, x->numel), ==, TS_OK);
  g_free (v);
  return x;
}

static float *
host (const ts_tensor *t)
{
  float *h = g_new (float, t->numel);
  g_assert_cmpint (ts_tensor_to_host (t, h, t->numel), ==, TS_OK);
  return h;
}

/* equal up to float rounding: the backend may block its GEMMs by batch size */
static void
assert_close (const float *a, const float *b, int n)
{
  for (int i = 0; i < n; i++)
    if (fabsf (a[i] - b[i]) > 1e-5f * fmaxf (1.0f, fabsf (b[i])))
      g_error ("logit %d: %.8g vs %.8g", i, a[i], b[i]);
}

static float
loss_of (ts_model *m, ts_tensor *x, ts_tensor *t, ts_tensor *dl)
{
  ts_tensor *logits;
  g_assert_cmpint (ts_model_forward (m, x, 1, &logits), ==, TS_OK);
  return be->i->bce_with_logits (be, logits, t, dl);
}

static void
test_finite_differences (gconstpointer data)
{
  const char *arch = data;
  ts_model_config cfg = { arch, 3, TS_HEAD_FASTAI, 11 };
  ts_model *m;
  ts_tensor *x, *t, *dl;
  float tv[12] = { 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 1 };
  int size = 16, n_checked = 0;
  double worst = 0;

  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  ts_model_set_dropout (m, 0.0f);
  g_assert_cmpint (ts_model_prepare (m, 4, size, size), ==, TS_OK);
  x = make_input (4, size, size, 0.0);
  t = ts_tensor_new_2d (be, 4, 3);
  dl = ts_tensor_new_2d (be, 4, 3);
  ts_tensor_from_host (t, tv, 12);
  loss_of (m, x, t, dl);
  g_assert_cmpint (ts_model_backward (m, dl), ==, TS_OK);

  for (int i = 0; i < ts_model_n_params (m); i++)
    {
      ts_param *p = ts_model_param (m, i);
      float *w = host (p->value), *g = host (p->grad);
      for (int k = 0; k < 3; k++)
        {
          int64_t j = (k * 7919 + i * 31) % p->value->numel;
          float orig = w[j], eps = 2e-4f * fmaxf (1.0f, fabsf (orig));
          double lp, lm, fd, d;

          /* a small step: ReLU, ReLU6 and max pool kinks make larger ones unreliable */

          w[j] = orig + eps;
          ts_tensor_from_host (p->value, w, p->value->numel);
          lp = loss_of (m, x, t, NULL);
          w[j] = orig - eps;
          ts_tensor_from_host (p->value, w, p->value->numel);
          lm = loss_of (m, x, t, NULL);
          w[j] = orig;
          ts_tensor_from_host (p->value, w, p->value->numel);
          fd = (lp - lm) / (2.0 * eps);
          d = fabs (fd - g[j]);
          worst = fmax (worst, d / (1e-3 + 0.05 * fmax (fabs (fd), fabs (g[j]))));
          if (worst > 1.0)
            g_error ("%s %s[%lld]: backward %.6g, finite difference %.6g", arch, p->name,
                     (long long) j, g[j], fd);
          n_checked++;
        }
      g_free (w);
      g_free (g);
    }
  g_test_message ("%s: %d gradient entries checked, worst |diff| / tolerance %.3g", arch,
                  n_checked, worst);
  ts_tensor_free (x);
  ts_tensor_free (t);
  ts_tensor_free (dl);
  ts_model_free (m);
}

static void
test_smaller_batch (void)
{
  ts_model_config cfg = { "tiny", 5, TS_HEAD_FASTAI, 3 };
  ts_model *m;
  ts_tensor *x4 = make_input (4, 20, 24, 0.5), *x2, *logits;
  float *l4, *l2;

  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  g_assert_cmpint (ts_model_prepare (m, 4, 20, 24), ==, TS_OK);
  g_assert_cmpint (ts_model_forward (m, x4, 0, &logits), ==, TS_OK);
  g_assert_cmpint (logits->shape[0], ==, 4);
  g_assert_cmpint (logits->shape[1], ==, 5);
  l4 = host (logits);
  /* a view of the first two images */
  x2 = ts_tensor_view (be, x4->data, 4, (int64_t[]) { 2, 3, 20, 24 });
  g_assert_cmpint (ts_model_prepare (m, 2, 20, 24), ==, TS_OK);
  g_assert_cmpint (ts_model_forward (m, x2, 0, &logits), ==, TS_OK);
  g_assert_cmpint (logits->shape[0], ==, 2);
  l2 = host (logits);
  assert_close (l2, l4, 10);
  g_free (l2);
  /* back to the full batch without preparing: the forward takes the input's batch */
  g_assert_cmpint (ts_model_forward (m, x4, 0, &logits), ==, TS_OK);
  l2 = host (logits);
  assert_close (l2, l4, 20);
  g_free (l2);
  g_free (l4);

  /* wrong shapes are refused */
  ts_tensor_free (x2);
  x2 = make_input (8, 20, 24, 0.0);
  g_assert_cmpint (ts_model_forward (m, x2, 0, &logits), ==, TS_ERR_SHAPE);
  ts_tensor_free (x2);
  x2 = make_input (2, 16, 16, 0.0);
  g_assert_cmpint (ts_model_forward (m, x2, 0, &logits), ==, TS_ERR_SHAPE);
  g_assert_nonnull (strstr (ts_last_error (), "[2, 3, 16, 16]"));
  g_assert_cmpint (ts_model_backward (m, logits), ==, TS_ERR_INVALID);  /* last forward: eval */
  g_assert_cmpint (ts_model_prepare (m, 0, 16, 16), ==, TS_ERR_INVALID);
  /* a new size reallocates and works */
  g_assert_cmpint (ts_model_prepare (m, 2, 16, 16), ==, TS_OK);
  g_assert_cmpint (ts_model_forward (m, x2, 1, &logits), ==, TS_OK);
  ts_tensor_free (x2);
  ts_tensor_free (x4);
  ts_model_free (m);
}

static void
test_frozen_backward (gconstpointer data)
{
  ts_model_config cfg = { data, 2, TS_HEAD_FASTAI, 3 };
  ts_model *m;
  ts_tensor *x = make_input (2, 32, 32, 1.0), *logits, *dl = ts_tensor_new_2d (be, 2, 2);
  ts_tensor *t = ts_tensor_new_2d (be, 2, 2);
  int n_frozen = 0, n_trained = 0;

  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  ts_model_freeze_to (m, -1);
  for (int i = 0; i < ts_model_n_params (m); i++)
    be->i->fill (be, ts_model_param (m, i)->grad, 123.0f);
  g_assert_cmpint (ts_model_prepare (m, 2, 32, 32), ==, TS_OK);
  g_assert_cmpint (ts_model_forward (m, x, 1, &logits), ==, TS_OK);
  be->i->bce_with_logits (be, logits, t, dl);
  g_assert_cmpint (ts_model_backward (m, dl), ==, TS_OK);
  for (int i = 0; i < ts_model_n_params (m); i++)
    {
      ts_param *p = ts_model_param (m, i);
      float *g = host (p->grad);
      if (p->trainable)
        {
          g_assert_cmpfloat (g[0], !=, 123.0f);
          g_assert_true (isfinite (g[0]));
          n_trained++;
        }
      else
        {
          g_assert_cmpfloat (g[0], ==, 123.0f);
          n_frozen++;
        }
      g_free (g);
    }
  g_assert_cmpint (n_frozen, >, 0);
  g_assert_cmpint (n_trained, >, 0);
  ts_tensor_free (x);
  ts_tensor_free (t);
  ts_tensor_free (dl);
  ts_model_free (m);
}

/* Eval forward as the CPU backend runs it (batch norm folded into the conv,
 * residual add and ReLU fused into the conv's output pass, packed GEMM)
 * against every node run on its own: a copy of the backend table without
 * conv2d_forward_fused (what a backend without the slot gets) and no folding. */
static void
test_eval_fused (gconstpointer data)
{
  const char *arch = data;
  ts_model_config cfg = { arch, 0, TS_HEAD_ORIGINAL, 5 };
  ts_backend_i plain_i = *be->i;
  ts_backend plain = *be;
  ts_model *m;
  ts_tensor *x, *logits, *fold_w;
  ts_rng r;
  float *a, *b;
  double worst = 0.0, scale = 1e-30;

  plain_i.conv2d_forward_fused = NULL;
  plain.i = &plain_i;
  g_assert_cmpint (ts_model_new (be, &cfg, &m), ==, TS_OK);
  /* batch norms that do something: gamma, beta and running statistics away from 1 / 0 */
  ts_rng_seed (&r, 7, 0);
  for (int i = 0; i < ts_model_n_params (m); i++)
    {
      ts_param *p = ts_model_param (m, i);
      if (p->kind != TS_PARAM_BN)
        continue;
      for (int64_t k = 0; k < p->value->numel; k++)
        p->value->data[k] = g_str_has_suffix (p->name, "weight")
                              ? (float) ts_rng_uniform_range (&r, 0.5, 1.5)
                              : (float) ts_rng_uniform_range (&r, -0.2, 0.2);
    }
  for (int i = 0; i < ts_model_n_buffers (m); i++)
    {
      ts_buffer *bf = ts_model_buffer (m, i);
      int var = g_str_has_suffix (bf->name, "running_var");
      if (!var && !g_str_has_suffix (bf->name, "running_mean"))
        continue;
      for (int64_t k = 0; k < bf->value->numel; k++)
        bf->value->data[k] = var ? (float) ts_rng_uniform_range (&r, 0.5, 1.5)
                                 : (float) ts_rng_uniform_range (&r, -0.2, 0.2);
    }
  g_assert_cmpint (ts_model_prepare (m, 3, 40, 40), ==, TS_OK);
  x = make_input (3, 40, 40, 0.3);
  g_assert_cmpint (ts_model_forward (m, x, 0, &logits), ==, TS_OK);
  a = host (logits);
  /* the same model, node by node */
  m->be = &plain;
  fold_w = m->fold_w;
  m->fold_w = NULL;
  g_assert_cmpint (ts_model_forward (m, x, 0, &logits), ==, TS_OK);
  m->fold_w = fold_w;
  m->be = be;
  b = host (logits);
  for (int64_t i = 0; i < logits->numel; i++)
    scale = fmax (scale, fabs (b[i]));
  for (int64_t i = 0; i < logits->numel; i++)
    {
      g_assert_true (isfinite (a[i]));
      worst = fmax (worst, fabs (a[i] - b[i]) / scale);
    }
  g_test_message ("%s eval: fused vs node by node, max relative difference %.3g (scale %.3g)",
                  arch, worst, scale);
  g_assert_cmpfloat (worst, <, 1e-5);
  g_free (a);
  g_free (b);
  ts_tensor_free (x);
  ts_model_free (m);
}

int
main (int argc, char **argv)
{
  int rc;

  g_test_init (&argc, &argv, NULL);
  be = ts_backend_cpu_new (2);
  g_test_add_data_func ("/models/finite-differences/tiny", "tiny", test_finite_differences);
  g_test_add_func ("/models/smaller-batch", test_smaller_batch);
  g_test_add_data_func ("/models/frozen/tiny", "tiny", test_frozen_backward);
  g_test_add_data_func ("/models/frozen/mobilenet_v2_folded", "mobilenet_v2_folded",
                        test_frozen_backward);
  /* resnet34 has no PyTorch fixture: its basic blocks are resnet18's, run here once */
  g_test_add_data_func ("/models/frozen/resnet34", "resnet34", test_frozen_backward);
  g_test_add_data_func ("/models/eval-fused/resnet18", "resnet18", test_eval_fused);
  g_test_add_data_func ("/models/eval-fused/resnet50", "resnet50", test_eval_fused);
  g_test_add_data_func ("/models/eval-fused/mobilenet_v2", "mobilenet_v2", test_eval_fused);
  g_test_add_data_func ("/models/eval-fused/mobilenet_v2_folded", "mobilenet_v2_folded",
                        test_eval_fused);
  rc = g_test_run ();
  ts_backend_free (be);
  return rc;
}
