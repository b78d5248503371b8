/* The Learner on the tiny model and in-memory data: fine_tune's two phases
 * (lrs per group and step, freezing, optimizer state), a short training that
 * must learn, NaN stop, cancel, lr_find restoring the weights, get_preds. */
#include <math.h>
#include <string.h>

#include "learn-mem-source.h"
#include "ts-backend.h"
#include "ts-learner.h"
#include "ts-lr-find.h"
#include "ts-metrics.h"
#include "ts-test.h"

#define SIZE 16
#define BS 16

typedef struct {
  ts_backend *be;
  ts_model *model;
  mem_source *train, *valid;
  ts_learner *learner;
} setup;

static void
setup_init_full (setup *s, int n_train, int n_valid, int clear_state)
{
  ts_model_config mc = { "tiny", 2, TS_HEAD_FASTAI, 1 };
  ts_learner_config lc;
  ts_data_source tr, va;

  s->be = ts_backend_cpu_new (1);
  g_assert_nonnull (s->be);
  g_assert_cmpint (ts_model_new (s->be, &mc, &s->model), ==, TS_OK);
  s->train = mem_source_new (n_train, SIZE, BS, 1, 7);
  s->valid = mem_source_new (n_valid, SIZE, BS, 0, 8);
  mem_source_as_data (s->train, &tr);
  mem_source_as_data (s->valid, &va);
  ts_learner_config_init (&lc);
  lc.batch_size = BS;
  lc.height = lc.width = SIZE;
  lc.thresh = 0.5;
  lc.clear_state_on_freeze = clear_state;
  g_assert_cmpint (ts_learner_new (s->model, &tr, &va, &lc, &s->learner), ==, TS_OK);
}

static void
setup_init (setup *s, int n_train, int n_valid)
{
  setup_init_full (s, n_train, n_valid, 1);
}

static void
setup_clear (setup *s)
{
  ts_learner_free (s->learner);
  ts_model_free (s->model);
  mem_source_free (s->train);
  mem_source_free (s->valid);
  ts_backend_free (s->be);
}

static int
param_index (ts_model *m, const char *name)
{
  for (int i = 0; i < ts_model_n_params (m); i++)
    if (strcmp (ts_model_param (m, i)->name, name) == 0)
      return i;
  g_error ("no parameter %s", name);
  return -1;
}

/* every parameter and buffer, flattened to host memory */
static float *
model_flat (ts_model *m, int64_t *n_out)
{
  int64_t n = 0, at = 0;
  float *all;

  for (int i = 0; i < ts_model_n_params (m); i++)
    n += ts_model_param (m, i)->value->numel;
  for (int i = 0; i < ts_model_n_buffers (m); i++)
    n += ts_model_buffer (m, i)->value->numel;
  all = g_new (float, n);
  for (int i = 0; i < ts_model_n_params (m); i++)
    {
      ts_tensor *t = ts_model_param (m, i)->value;
      g_assert_cmpint (ts_tensor_to_host (t, all + at, t->numel), ==, TS_OK);
      at += t->numel;
    }
  for (int i = 0; i < ts_model_n_buffers (m); i++)
    {
      ts_tensor *t = ts_model_buffer (m, i)->value;
      g_assert_cmpint (ts_tensor_to_host (t, all + at, t->numel), ==, TS_OK);
      at += t->numel;
    }
  *n_out = n;
  return all;
}

static float *
tensor_copy (ts_tensor *t)
{
  float *v = g_new (float, t->numel);
  g_assert_cmpint (ts_tensor_to_host (t, v, t->numel), ==, TS_OK);
  return v;
}

/* --- fine_tune structure --- */

typedef struct {
  setup *s;
  int n_batch, n_epoch, n_phase;
  int phase[64], step[64];
  double lr[64][3], mom[64];
  int phase_frozen[2];
  float *conv1_at_phase[2];
  int conv1_steps_at_phase1, head_steps_at_phase1, bn_steps_at_phase1;
  ts_status finished;
  int n_finished;
} recorder;

static void
rec_phase (void *user, const ts_phase_event *ev)
{
  recorder *r = user;
  ts_model *m = r->s->model;
  ts_optimizer *opt = ts_learner_optimizer (r->s->learner);

  g_assert_cmpint (ev->phase, ==, r->n_phase);
  g_assert_cmpint (ev->n_phases, ==, 2);
  r->phase_frozen[ev->phase] = ev->frozen;
  r->conv1_at_phase[ev->phase] = tensor_copy (ts_model_param (m, param_index (m, "0.conv1.weight"))->value);
  if (ev->phase == 1)
    {
      r->conv1_steps_at_phase1 = ts_optimizer_param_step (opt, param_index (m, "0.conv1.weight"));
      r->bn_steps_at_phase1 = ts_optimizer_param_step (opt, param_index (m, "0.bn1.weight"));
      r->head_steps_at_phase1 = ts_optimizer_param_step (opt, param_index (m, "1.8.weight"));
    }
  r->n_phase++;
}

static void
rec_batch (void *user, const ts_batch_event *ev)
{
  recorder *r = user;
  int i = r->n_batch++;

  g_assert_cmpint (i, <, 64);
  g_assert_cmpint (ev->n_groups, ==, 3);
  r->phase[i] = ev->phase;
  r->step[i] = ev->step;
  for (int g = 0; g < 3; g++)
    r->lr[i][g] = ev->lr[g];
  r->mom[i] = ev->mom;
  g_assert_true (isfinite (ev->loss));
}

static void
rec_epoch (void *user, const ts_epoch_event *ev)
{
  recorder *r = user;
  r->n_epoch++;
  g_assert_true (isfinite (ev->valid_loss));
  g_assert_true (ev->accuracy_multi >= 0.0 && ev->accuracy_multi <= 1.0);
  /* the split of the epoch's time: parts of it, never more */
  g_assert_cmpfloat (ev->wait_seconds, >=, 0.0);
  g_assert_cmpfloat (ev->valid_seconds, >, 0.0);
  g_assert_cmpfloat (ev->wait_seconds + ev->valid_seconds, <=, ev->seconds);
}

static void
rec_finished (void *user, ts_status st)
{
  recorder *r = user;
  r->finished = st;
  r->n_finished++;
}

static void
check_fine_tune_phases (int clear_state)
{
  setup s;
  recorder r = { 0 };
  ts_learner_events ev = { &r, rec_phase, rec_batch, rec_epoch, rec_finished, NULL };
  ts_model *m;
  const double base = 1e-2, rel = 1e-9;
  float *conv1_end;
  int64_t n_conv1;

  setup_init_full (&s, 64, 32, clear_state);     /* 4 training batches an epoch */
  m = s.model;
  r.s = &s;
  ts_learner_set_events (s.learner, &ev);
  g_assert_cmpint (ts_learner_fine_tune (s.learner, 2, base, 1), ==, TS_OK);
  g_assert_cmpint (r.n_finished, ==, 1);
  g_assert_cmpint (r.finished, ==, TS_OK);
  g_assert_cmpint (r.n_phase, ==, 2);
  g_assert_cmpint (r.n_batch, ==, 4 + 8);
  g_assert_cmpint (r.n_epoch, ==, 3);
  g_assert_cmpint (r.phase_frozen[0], ==, 1);
  g_assert_cmpint (r.phase_frozen[1], ==, 0);

  /* phase 0: slice(base) -> [base/10, base/10, base], / div 25 at the start,
   * pct_start 0.99 so still rising at step 3 (pos 0.75) */
  g_assert_cmpint (r.phase[0], ==, 0);
  g_assert_cmpfloat_with_epsilon (r.lr[0][0], base / 10 / 25, base * rel);
  g_assert_cmpfloat_with_epsilon (r.lr[0][1], base / 10 / 25, base * rel);
  g_assert_cmpfloat_with_epsilon (r.lr[0][2], base / 25, base * rel);
  g_assert_cmpfloat_with_epsilon (r.mom[0], 0.95, 1e-12);
  g_assert_cmpfloat_with_epsilon (r.lr[3][2], ts_sched_cos (base / 25, base, 0.75 / 0.99),
                                  base * rel);
  g_assert_cmpfloat_with_epsilon (r.mom[3], ts_sched_cos (0.95, 0.85, 0.75 / 0.99), 1e-9);

  /* phase 1: base/2, slice(base/200, base/2) geometric, div 5, pct_start 0.3 */
  g_assert_cmpint (r.phase[4], ==, 1);
  g_assert_cmpint (r.step[4], ==, 0);
  g_assert_cmpfloat_with_epsilon (r.lr[4][0], base / 200 / 5, base * rel);
  g_assert_cmpfloat_with_epsilon (r.lr[4][1], base / 20 / 5, base * rel);
  g_assert_cmpfloat_with_epsilon (r.lr[4][2], base / 2 / 5, base * rel);
  /* step 6 of 8: pos 0.75 -> (0.75 - 0.3) / 0.7 down from base/2 to base/2/1e5 */
  g_assert_cmpint (r.step[4 + 6], ==, 6);
  g_assert_cmpfloat_with_epsilon (r.lr[4 + 6][2],
                                  ts_sched_cos (base / 2, base / 2 / 1e5, 0.45 / 0.7), base * rel);
  g_assert_cmpfloat_with_epsilon (r.lr[4 + 6][0],
                                  ts_sched_cos (base / 200, base / 200 / 1e5, 0.45 / 0.7),
                                  base * rel);

  /* frozen phase: body conv untouched (no steps), BN and head trained;
   * unfreeze clears the optimizer state (fastai's freeze_to -> clear_state),
   * or, with clear_state_on_freeze 0, the state carries over into phase 1 */
  n_conv1 = ts_model_param (m, param_index (m, "0.conv1.weight"))->value->numel;
  g_assert_cmpmem (r.conv1_at_phase[0], n_conv1 * 4, r.conv1_at_phase[1], n_conv1 * 4);
  g_assert_cmpint (r.conv1_steps_at_phase1, ==, 0);
  g_assert_cmpint (r.bn_steps_at_phase1, ==, clear_state ? 0 : 4);
  g_assert_cmpint (r.head_steps_at_phase1, ==, clear_state ? 0 : 4);
  g_assert_cmpint (ts_optimizer_param_step (ts_learner_optimizer (s.learner),
                                            param_index (m, "1.8.weight")), ==,
                   clear_state ? 8 : 12);
  g_assert_cmpint (ts_optimizer_param_step (ts_learner_optimizer (s.learner),
                                            param_index (m, "0.conv1.weight")), ==, 8);
  conv1_end = tensor_copy (ts_model_param (m, param_index (m, "0.conv1.weight"))->value);
  g_assert_true (memcmp (conv1_end, r.conv1_at_phase[1], n_conv1 * 4) != 0);

  g_free (conv1_end);
  g_free (r.conv1_at_phase[0]);
  g_free (r.conv1_at_phase[1]);
  setup_clear (&s);
}

static void
test_fine_tune_phases (void)
{
  check_fine_tune_phases (1);
}

static void
test_fine_tune_phases_keep_state (void)
{
  check_fine_tune_phases (0);
}

/* --- learning on the synthetic task --- */

static void
test_learns (void)
{
  setup s;
  double loss0, acc0, loss1, acc1, baseline;
  float *probs, *targets;
  int *items, n;
  double pl;

  setup_init (&s, 128, 48);
  g_assert_cmpint (ts_learner_validate (s.learner, &loss0, &acc0), ==, TS_OK);
  g_assert_cmpint (ts_learner_fine_tune (s.learner, 4, 1e-2, 2), ==, TS_OK);
  g_assert_cmpint (ts_learner_validate (s.learner, &loss1, &acc1), ==, TS_OK);

  g_assert_cmpint (ts_learner_get_preds (s.learner, NULL, &probs, &targets, &items, &n, &pl),
                   ==, TS_OK);
  g_assert_cmpint (n, ==, 48);
  g_assert_cmpfloat_with_epsilon (pl, loss1, 1e-6);
  for (int i = 0; i < n; i++)
    {
      g_assert_cmpint (items[i], ==, i);
      for (int k = 0; k < 2; k++)
        {
          g_assert_true (probs[i * 2 + k] >= 0.0f && probs[i * 2 + k] <= 1.0f);
          g_assert_cmpfloat (targets[i * 2 + k], ==, s.valid->y[i * 2 + k]);
        }
    }
  baseline = ts_all_negative_baseline (targets, n, 2);
  g_assert_cmpfloat_with_epsilon (ts_accuracy_multi (probs, targets, n, 2, 0.5, 0), acc1, 1e-9);
  g_test_message ("valid loss %.4f -> %.4f, accuracy %.3f -> %.3f, all-negative %.3f",
                  loss0, loss1, acc0, acc1, baseline);
  g_assert_cmpfloat (loss1, <, loss0 * 0.8);
  g_assert_cmpfloat (acc1, >, baseline + 0.1);
  g_assert_cmpfloat (ts_learner_train_images_per_s (s.learner), >, 0.0);
  g_free (probs);
  g_free (targets);
  g_free (items);
  setup_clear (&s);
}

/* --- NaN and cancel --- */

typedef struct {
  setup *s;
  int n_batch, cancel_at;
  float *after_batch;    /* the model after the last good batch */
  int64_t n;
  char *failed;
  ts_status finished;
} watcher;

static void
watch_batch (void *user, const ts_batch_event *ev)
{
  watcher *w = user;
  g_free (w->after_batch);
  w->after_batch = model_flat (w->s->model, &w->n);
  if (w->n_batch++ == w->cancel_at)
    ts_learner_cancel (w->s->learner);
}

static void
watch_failed (void *user, ts_status st, const char *msg)
{
  watcher *w = user;
  w->failed = g_strdup (msg);
}

static void
watch_finished (void *user, ts_status st)
{
  ((watcher *) user)->finished = st;
}

static void
test_nan_stops (void)
{
  setup s;
  watcher w = { 0 };
  ts_learner_events ev = { &w, NULL, watch_batch, NULL, watch_finished, watch_failed };
  float *now;
  int64_t n;

  setup_init (&s, 64, 16);
  w.s = &s;
  w.cancel_at = -1;
  s.train->nan_at_batch = 2;
  ts_learner_set_events (s.learner, &ev);
  g_assert_cmpint (ts_learner_fit_one_cycle (s.learner, 1, ts_lr_plain (1e-3), NULL), ==,
                   TS_ERR_NUMERIC);
  g_assert_cmpint (w.n_batch, ==, 2);
  g_assert_nonnull (w.failed);
  g_test_message ("%s", w.failed);
  g_assert_nonnull (strstr (w.failed, "epoch 0, batch 2"));
  g_assert_nonnull (strstr (w.failed, "last good batch"));
  /* weights and BN statistics are those after batch 1 */
  now = model_flat (s.model, &n);
  g_assert_cmpint (n, ==, w.n);
  g_assert_cmpmem (now, n * 4, w.after_batch, n * 4);
  g_free (now);
  g_free (w.after_batch);
  g_free (w.failed);
  setup_clear (&s);
}

/* fine_tune's two phases number their epochs from 0 each (as its tables
 * do): a failure says which phase's epoch it names; a single phase's
 * (fit_one_cycle, nan-stops) says none */
static void
test_fine_tune_failure_names_phase (void)
{
  setup s;
  watcher w = { 0 };
  ts_learner_events ev = { &w, NULL, watch_batch, NULL, watch_finished, watch_failed };

  setup_init (&s, 64, 16);
  w.s = &s;
  w.cancel_at = -1;
  /* the unfrozen phase's first epoch, its second batch */
  s.train->nan_at_batch = mem_n_batches (s.train) + 1;
  ts_learner_set_events (s.learner, &ev);
  g_assert_cmpint (ts_learner_fine_tune (s.learner, 1, 1e-3, 1), ==, TS_ERR_NUMERIC);
  g_assert_nonnull (w.failed);
  g_test_message ("%s", w.failed);
  g_assert_true (g_str_has_prefix (w.failed, "unfrozen phase: epoch 0, batch 1: "));
  g_free (w.after_batch);
  g_free (w.failed);
  setup_clear (&s);
}

/* A failure the backend could not return from an op (a GPU's launch failure,
 * a lost device) stops training with its message, never a silent garbage step. */
static void
test_device_failure (void)
{
  setup s;
  watcher w = { 0 };
  ts_learner_events ev = { &w, NULL, watch_batch, NULL, watch_finished, watch_failed };
  float v;
  ts_tensor *t;

  setup_init (&s, 64, 16);
  w.s = &s;
  w.cancel_at = -1;
  ts_learner_set_events (s.learner, &ev);
  g_assert_cmpint (ts_backend_check (s.be), ==, TS_OK);
  ts_error (TS_ERR_DEVICE, "CUDA convolution failed: unspecified launch failure");
  ts_backend_record_failure (s.be, TS_ERR_DEVICE);
  ts_error (TS_ERR_IO, "a later, unrelated message");
  ts_backend_record_failure (s.be, TS_ERR_IO);   /* the first failure is kept */
  t = ts_tensor_new_1d (s.be, 1);
  g_assert_cmpint (ts_tensor_to_host (t, &v, 1), ==, TS_ERR_DEVICE);
  g_assert_nonnull (strstr (ts_last_error (), "unspecified launch failure"));
  ts_tensor_free (t);
  g_assert_cmpint (ts_learner_fit_one_cycle (s.learner, 1, ts_lr_plain (1e-3), NULL), ==,
                   TS_ERR_DEVICE);
  g_assert_cmpint (w.n_batch, ==, 0);
  g_assert_nonnull (w.failed);
  g_test_message ("%s", w.failed);
  g_assert_nonnull (strstr (w.failed, "unspecified launch failure"));
  g_free (w.after_batch);
  g_free (w.failed);
  setup_clear (&s);
}

/* A backend that counts uploads not yet waited for (the CPU backend's, with
 * upload and synchronize wrapped), and data sources whose release checks,
 * after a failure, that none is left: a batch may go back to its loader,
 * which refills its page-locked buffers, only once the device is done
 * copying it.  (A good step's wait is the loss's read, inside a GPU backend.) */
static const ts_backend_i *real_i;
static ts_backend_i spy_i;
static int spy_pending, spy_fail_uploads, spy_releases;
static ts_data_source real_train, real_valid;

static void
spy_upload (ts_backend *be, float *dst, const float *src, size_t n)
{
  real_i->upload (be, dst, src, n);
  spy_pending++;
  if (spy_fail_uploads)
    {
      ts_error (TS_ERR_DEVICE, "CUDA upload failed: unspecified launch failure");
      ts_backend_record_failure (be, TS_ERR_DEVICE);
    }
}

static void
spy_synchronize (ts_backend *be)
{
  real_i->synchronize (be);
  spy_pending = 0;
}

static void
spy_download (ts_backend *be, float *dst, const float *src, size_t n)
{
  real_i->download (be, dst, src, n);
  spy_pending = 0;   /* a download waits for the device */
}

static void
spy_release (const ts_data_source *real, ts_batch *b)
{
  if (spy_fail_uploads)
    g_assert_cmpint (spy_pending, ==, 0);
  spy_releases++;
  real->release (real->self, b);
}

static void
spy_release_train (void *self, ts_batch *b)
{
  spy_release (&real_train, b);
}

static void
spy_release_valid (void *self, ts_batch *b)
{
  spy_release (&real_valid, b);
}

static void
test_failed_step_waits (void)
{
  setup s;
  ts_learner_config lc;
  ts_model_config mc = { "tiny", 2, TS_HEAD_FASTAI, 1 };
  ts_data_source tr, va;
  double loss, acc;

  s.be = ts_backend_cpu_new (1);
  real_i = s.be->i;
  spy_i = *real_i;
  spy_i.upload = spy_upload;
  spy_i.download = spy_download;
  spy_i.synchronize = spy_synchronize;
  s.be->i = &spy_i;
  g_assert_cmpint (ts_model_new (s.be, &mc, &s.model), ==, TS_OK);
  s.train = mem_source_new (64, SIZE, BS, 1, 7);
  s.valid = mem_source_new (32, SIZE, BS, 0, 8);
  mem_source_as_data (s.train, &real_train);
  mem_source_as_data (s.valid, &real_valid);
  tr = real_train;
  tr.release = spy_release_train;
  va = real_valid;
  va.release = spy_release_valid;
  ts_learner_config_init (&lc);
  lc.batch_size = BS;
  lc.height = lc.width = SIZE;
  g_assert_cmpint (ts_learner_new (s.model, &tr, &va, &lc, &s.learner), ==, TS_OK);

  /* a good epoch */
  g_assert_cmpint (ts_learner_fit_one_cycle (s.learner, 1, ts_lr_plain (1e-3), NULL), ==,
                   TS_OK);
  g_assert_cmpint (spy_releases, ==, 4 + 2);
  /* an upload that fails: training and validation stop, and still wait
   * before giving the batches back */
  spy_fail_uploads = 1;
  spy_releases = spy_pending = 0;
  g_assert_cmpint (ts_learner_fit_one_cycle (s.learner, 1, ts_lr_plain (1e-3), NULL), ==,
                   TS_ERR_DEVICE);
  g_assert_cmpint (spy_releases, ==, 4);
  s.be->failed = TS_OK;   /* a fresh start for the validation's own failure */
  spy_releases = 0;
  g_assert_cmpint (ts_learner_validate (s.learner, &loss, &acc), ==, TS_ERR_DEVICE);
  g_assert_cmpint (spy_releases, ==, 2);
  spy_fail_uploads = 0;
  s.be->i = real_i;
  setup_clear (&s);
}

static void
test_cancel (void)
{
  setup s;
  watcher w = { 0 };
  ts_learner_events ev = { &w, NULL, watch_batch, NULL, watch_finished, watch_failed };

  setup_init (&s, 64, 16);
  w.s = &s;
  w.cancel_at = 1;
  w.finished = TS_OK;
  ts_learner_set_events (s.learner, &ev);
  g_assert_cmpint (ts_learner_fine_tune (s.learner, 2, 1e-3, 1), ==, TS_ERR_CANCELLED);
  g_assert_cmpint (w.n_batch, ==, 2);
  g_assert_cmpint (w.finished, ==, TS_ERR_CANCELLED);
  g_assert_null (w.failed);
  g_assert_true (ts_learner_cancelled (s.learner));
  g_free (w.after_batch);
  setup_clear (&s);
}

/* --- lr_find --- */

static void
test_lr_find (void)
{
  setup s;
  ts_lr_find_config cfg;
  ts_lr_find_result res;
  float *before, *after;
  int64_t n0, n1;

  setup_init (&s, 64, 16);
  ts_learner_freeze (s.learner);
  before = model_flat (s.model, &n0);
  ts_lr_find_config_init (&cfg);
  cfg.num_it = 30;
  g_assert_cmpint (ts_learner_lr_find (s.learner, &cfg, &res), ==, TS_OK);
  after = model_flat (s.model, &n1);
  g_assert_cmpint (n0, ==, n1);
  g_assert_cmpmem (before, n0 * 4, after, n1 * 4);
  g_assert_cmpint (res.n, >, 10);
  g_assert_cmpint (res.n, <=, 30);
  g_assert_cmpfloat_with_epsilon (res.lrs[0], 1e-7, 1e-18);
  g_assert_cmpfloat_with_epsilon (res.lrs[15] / res.lrs[14], pow (1e8, 1.0 / 30), 1e-9);
  for (int i = 0; i < res.n; i++)
    g_assert_true (res.diverged || isfinite (res.losses[i]));
  g_test_message ("lr_find: %d points, valley %g, steep %g, diverged %d", res.n, res.valley,
                  res.steep, res.diverged);
  if (res.n - 5 - 3 >= 2)
    {
      g_assert_true (isfinite (res.valley));
      g_assert_cmpint (res.valley_idx, >=, 3);
    }
  /* the optimizer is untouched: a later fit starts from step 0 */
  g_assert_cmpint (ts_optimizer_param_step (ts_learner_optimizer (s.learner), 0), ==, 0);
  ts_lr_find_result_clear (&res);
  g_free (before);
  g_free (after);
  setup_clear (&s);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/learn/learner/fine-tune-phases", test_fine_tune_phases);
  g_test_add_func ("/learn/learner/fine-tune-phases-keep-state",
                   test_fine_tune_phases_keep_state);
  g_test_add_func ("/learn/learner/learns", test_learns);
  g_test_add_func ("/learn/learner/nan-stops", test_nan_stops);
  g_test_add_func ("/learn/learner/fine-tune-failure-names-phase",
                   test_fine_tune_failure_names_phase);
  g_test_add_func ("/learn/learner/device-failure", test_device_failure);
  g_test_add_func ("/learn/learner/failed-step-waits", test_failed_step_waits);
  g_test_add_func ("/learn/learner/cancel", test_cancel);
  g_test_add_func ("/learn/learner/lr-find", test_lr_find);
  return g_test_run ();
}
