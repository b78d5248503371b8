/* test-checkpoint.c: a fine_tune interrupted after epoch k and resumed from
 * its checkpoint ends with the weights, buffers and Adam state of an
 * uninterrupted run with the same seed, bit for bit (tiny model, in-memory
 * data, CPU backend).  Also: the CPU backend is deterministic across runs
 * with the same thread count, and bad checkpoints are refused by name. */
#include <math.h>
#include <string.h>
#include <utime.h>

#include "learn/learn-mem-source.h"
#include "ts-backend.h"
#include "ts-checkpoint.h"
#include "ts-learner.h"
#include "ts-test.h"

#define SIZE 16
#define BS 16
#define EPOCHS 3
#define FREEZE 2
#define LR 1e-2

typedef struct {
  ts_backend *be;
  ts_model *model;
  mem_source *train, *valid;
  ts_learner *learner;
} setup;

static void
setup_init (setup *s, int threads, int clear_state, int n_classes)
{
  ts_model_config mc = { "tiny", n_classes, TS_HEAD_FASTAI, 1 };
  ts_learner_config lc;
  ts_data_source tr, va;

  s->be = ts_backend_cpu_new (threads);
  g_assert_cmpint (ts_model_new (s->be, &mc, &s->model), ==, TS_OK);
  s->train = mem_source_new (64, SIZE, BS, 1, 7);
  s->valid = mem_source_new (32, SIZE, BS, 0, 8);
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
setup_clear (setup *s)
{
  ts_learner_free (s->learner);
  ts_model_free (s->model);
  mem_source_free (s->train);
  mem_source_free (s->valid);
  ts_backend_free (s->be);
}

/* Everything that must match: parameters, buffers, Adam averages and steps. */
typedef struct {
  GByteArray *bytes;
  double train_loss[16];   /* per global epoch, from the events */
  int n_epochs;
  int n_events;            /* epoch events seen by this run */
} state;

static void
state_take (setup *s, state *out)
{
  ts_optimizer *opt = ts_learner_optimizer (s->learner);

  out->bytes = g_byte_array_new ();
  for (int i = 0; i < ts_model_n_params (s->model); i++)
    {
      ts_tensor *ts[3] = { ts_model_param (s->model, i)->value, ts_optimizer_grad_avg (opt, i),
                           ts_optimizer_sqr_avg (opt, i) };
      int step = ts_optimizer_param_step (opt, i);
      for (int k = 0; k < 3; k++)
        {
          float *h = g_new (float, ts[k]->numel);
          g_assert_cmpint (ts_tensor_to_host (ts[k], h, ts[k]->numel), ==, TS_OK);
          g_byte_array_append (out->bytes, (guint8 *) h, (guint) (ts[k]->numel * sizeof (float)));
          g_free (h);
        }
      g_byte_array_append (out->bytes, (guint8 *) &step, sizeof step);
    }
  for (int i = 0; i < ts_model_n_buffers (s->model); i++)
    {
      ts_tensor *t = ts_model_buffer (s->model, i)->value;
      float *h = g_new (float, t->numel);
      g_assert_cmpint (ts_tensor_to_host (t, h, t->numel), ==, TS_OK);
      g_byte_array_append (out->bytes, (guint8 *) h, (guint) (t->numel * sizeof (float)));
      g_free (h);
    }
}

typedef struct {
  ts_learner *learner;
  state *st;
  int stop_after;        /* global epoch index after which to cancel; -1: never */
  int global_epoch;      /* epochs seen so far, over both phases */
  int phase_offset[4];
} recorder;

static void
rec_epoch (void *user, const ts_epoch_event *ev)
{
  recorder *r = user;
  int g = (ev->phase == 0 ? 0 : FREEZE) + ev->epoch;

  g_assert_cmpint (g, <, 16);
  r->st->train_loss[g] = ev->train_loss;
  r->st->n_events++;
  if (g + 1 > r->st->n_epochs)
    r->st->n_epochs = g + 1;
  if (g == r->stop_after)
    ts_learner_cancel (r->learner);
}

/* fine_tune(EPOCHS, LR, FREEZE) with a checkpoint each epoch; stops after
 * @stop_after (or runs to the end with -1); resumes from @resume_from when set. */
static ts_status
run (int threads, int clear_state, const char *ckpt, int stop_after, const char *resume_from,
     state *out)
{
  setup s;
  recorder rec = { 0 };
  ts_learner_events inner = { &rec, NULL, NULL, rec_epoch, NULL, NULL };
  ts_checkpointer ck;
  ts_checkpoint_resume *res = NULL;
  ts_checkpoint_pos pos;
  const char *meta[] = { "run", "1" };
  ts_status st;

  setup_init (&s, threads, clear_state, 2);
  memset (out, 0, sizeof *out);
  rec.learner = s.learner;
  rec.st = out;
  rec.stop_after = stop_after;
  g_assert_cmpint (ts_checkpointer_init (&ck, s.learner, ckpt, &inner, meta, 1), ==, TS_OK);
  if (resume_from)
    {
      g_assert_cmpint (ts_checkpoint_load (resume_from, s.learner, &pos, &res), ==, TS_OK);
      ts_checkpointer_continue_from (&ck, &pos);
    }
  st = ts_learner_fine_tune (s.learner, EPOCHS, LR, FREEZE);
  g_assert_cmpint (ck.save_status, ==, TS_OK);
  state_take (&s, out);
  ts_checkpoint_resume_free (res);
  ts_checkpointer_clear (&ck);
  setup_clear (&s);
  return st;
}

static void
check_resume (int threads, int clear_state)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *full_ck = g_build_filename (dir, "full.ckpt", NULL);
  state full, again;

  g_assert_cmpint (run (threads, clear_state, full_ck, -1, NULL, &full), ==, TS_OK);
  g_assert_cmpint (full.n_epochs, ==, FREEZE + EPOCHS);
  /* the same seed and thread count give the same bits: the premise of resume */
  g_assert_cmpint (run (threads, clear_state, full_ck, -1, NULL, &again), ==, TS_OK);
  g_assert_cmpmem (full.bytes->data, full.bytes->len, again.bytes->data, again.bytes->len);
  g_byte_array_unref (again.bytes);

  /* interrupted after each epoch k (frozen phase, its last epoch, unfrozen) */
  for (int k = 0; k < FREEZE + EPOCHS - 1; k++)
    {
      g_autofree char *ck = g_strdup_printf ("%s/k%d.ckpt", dir, k);
      g_autofree char *ck2 = g_strdup_printf ("%s/k%d-resumed.ckpt", dir, k);
      state part, resumed;
      ts_checkpoint_pos pos;
      char *run_id = NULL;

      g_assert_cmpint (run (threads, clear_state, ck, k, NULL, &part), ==, TS_ERR_CANCELLED);
      g_assert_cmpint (part.n_epochs, ==, k + 1);
      g_assert_cmpint (ts_checkpoint_read_pos (ck, &pos, "run", &run_id), ==, TS_OK);
      g_assert_cmpstr (run_id, ==, "1");
      free (run_id);
      g_assert_cmpint (pos.phase, ==, k < FREEZE ? 0 : 1);
      g_assert_cmpint (pos.epoch, ==, k < FREEZE ? k + 1 : k + 1 - FREEZE);
      g_assert_cmpint (pos.epochs_seen, ==, k + 1);

      g_assert_cmpint (run (threads, clear_state, ck2, -1, ck, &resumed), ==, TS_OK);
      g_assert_cmpint (resumed.n_epochs, ==, FREEZE + EPOCHS);
      /* only the epochs after the checkpoint ran again */
      g_assert_cmpint (resumed.n_events, ==, FREEZE + EPOCHS - (k + 1));
      g_assert_cmpuint (resumed.bytes->len, ==, full.bytes->len);
      if (memcmp (resumed.bytes->data, full.bytes->data, full.bytes->len) != 0)
        g_error ("resumed after epoch %d (threads %d, clear_state %d): the final state "
                 "differs from the uninterrupted run", k, threads, clear_state);
      /* the resumed epochs report the same smoothed loss too */
      for (int e = k + 1; e < FREEZE + EPOCHS; e++)
        g_assert_cmpfloat (resumed.train_loss[e], ==, full.train_loss[e]);
      g_byte_array_unref (part.bytes);
      g_byte_array_unref (resumed.bytes);
    }
  g_byte_array_unref (full.bytes);
  ts_test_rmdir (dir);
}

static void
test_resume_1_thread (void)
{
  check_resume (1, 0);
}

static void
test_resume_2_threads_clear_state (void)
{
  check_resume (2, 1);
}

static void
test_bad_checkpoints (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *ck = g_build_filename (dir, "a.ckpt", NULL);
  g_autofree char *junk = g_build_filename (dir, "junk.ckpt", NULL);
  ts_checkpoint_resume *res = NULL;
  ts_checkpoint_pos pos;
  state st;
  setup s;

  g_assert_cmpint (run (1, 0, ck, 0, NULL, &st), ==, TS_ERR_CANCELLED);
  g_byte_array_unref (st.bytes);
  /* a model with another head: the mismatch is named */
  setup_init (&s, 1, 0, 3);
  g_assert_cmpint (ts_checkpoint_load (ck, s.learner, &pos, &res), ==, TS_ERR_SHAPE);
  g_assert_nonnull (strstr (ts_last_error (), "1.8.weight"));
  g_assert_null (res);
  setup_clear (&s);
  /* not a checkpoint at all */
  g_assert_true (g_file_set_contents (junk, "not safetensors", -1, NULL));
  setup_init (&s, 1, 0, 2);
  g_assert_cmpint (ts_checkpoint_load (junk, s.learner, &pos, &res), !=, TS_OK);
  g_assert_nonnull (strstr (ts_last_error (), "junk.ckpt"));
  setup_clear (&s);
  ts_test_rmdir (dir);
}

/* Whose checkpoint: the run's number and start must match; one without a
 * start (written before checkpoints named it) is taken on its number unless
 * the file is older than the run. */
static void
test_owner (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *ck = g_build_filename (dir, "p-run1.ckpt", NULL);
  const char *started = "2024-05-01T10:00:00.250000Z";
  const char *mine[4] = { "run", "1", "run_started", started };
  const char *other_run[4] = { "run", "2", "run_started", started };
  const char *other_start[4] = { "run", "1", "run_started", "2023-01-01T00:00:00.000000Z" };
  const char *no_start[2] = { "run", "1" };
  ts_checkpoint_pos pos = { 0 }, read;
  ts_checkpoint_owner_info o;
  struct utimbuf before = { 1714557600 - 60, 1714557600 - 60 };   /* a minute before the run */
  setup s;

  setup_init (&s, 1, 0, 2);
  pos.phase = 1;
  pos.epoch = 2;
  g_assert_cmpint (ts_checkpoint_save (s.learner, ck, &pos, mine, 2), ==, TS_OK);
  g_assert_cmpint (ts_checkpoint_check_owner (ck, "1", started, &read, &o), ==, TS_OK);
  g_assert_cmpint (o.owner, ==, TS_CHECKPOINT_OWNED);
  g_assert_cmpint (read.phase, ==, 1);
  g_assert_cmpint (read.epoch, ==, 2);

  g_assert_cmpint (ts_checkpoint_save (s.learner, ck, &pos, other_run, 2), ==, TS_OK);
  g_assert_cmpint (ts_checkpoint_check_owner (ck, "1", started, &read, &o), ==, TS_ERR_INVALID);
  g_assert_nonnull (strstr (ts_last_error (), ck));
  g_assert_cmpint (o.owner, ==, TS_CHECKPOINT_OTHER_RUN);
  g_assert_cmpstr (o.run, ==, "2");

  g_assert_cmpint (ts_checkpoint_save (s.learner, ck, &pos, other_start, 2), ==, TS_OK);
  g_assert_cmpint (ts_checkpoint_check_owner (ck, "1", started, &read, &o), ==, TS_ERR_INVALID);
  g_assert_nonnull (strstr (ts_last_error (), ck));
  g_assert_cmpint (o.owner, ==, TS_CHECKPOINT_OTHER_START);
  g_assert_cmpstr (o.run_started, ==, other_start[3]);

  /* no start: written now, after the run started, it is the run's */
  g_assert_cmpint (ts_checkpoint_save (s.learner, ck, &pos, no_start, 1), ==, TS_OK);
  g_assert_cmpint (ts_checkpoint_check_owner (ck, "1", started, &read, &o), ==, TS_OK);
  g_assert_cmpint (o.owner, ==, TS_CHECKPOINT_OWNED);
  g_assert_cmpint (ts_checkpoint_check_owner (ck, "2", started, &read, &o), ==, TS_ERR_INVALID);
  g_assert_nonnull (strstr (ts_last_error (), ck));
  g_assert_cmpint (o.owner, ==, TS_CHECKPOINT_OTHER_RUN);
  /* a leftover from before the run started is not */
  g_assert_cmpint (utime (ck, &before), ==, 0);
  g_assert_cmpint (ts_checkpoint_check_owner (ck, "1", started, &read, &o), ==, TS_ERR_INVALID);
  g_assert_nonnull (strstr (ts_last_error (), ck));
  g_assert_cmpint (o.owner, ==, TS_CHECKPOINT_OLDER_THAN_RUN);

  /* none at all: not a checkpoint of any run */
  g_assert_cmpint (ts_checkpoint_save (s.learner, ck, &pos, NULL, 0), ==, TS_OK);
  g_assert_cmpint (ts_checkpoint_check_owner (ck, "1", started, &read, &o), ==, TS_ERR_INVALID);
  g_assert_nonnull (strstr (ts_last_error (), ck));
  g_assert_cmpint (o.owner, ==, TS_CHECKPOINT_OTHER_RUN);
  g_assert_cmpstr (o.run, ==, "");
  setup_clear (&s);
  ts_test_rmdir (dir);
}

/* The checkpointer's lock, refused at a save while another writer holds
 * it, is asked for again at the next save: never a save without it. */
typedef struct {
  const char *path;
  int held_fd;
  int epochs;
} lock_holder;

static void
release_at_second_epoch (void *user, const ts_epoch_event *ev)
{
  lock_holder *h = user;

  if (++h->epochs == 2)
    {
      ts_checkpoint_unlock (h->path, h->held_fd);
      h->held_fd = -1;
    }
}

static void
test_lock_retried (void)
{
  g_autofree char *dir = ts_test_tmpdir ();
  g_autofree char *ckpt = g_build_filename (dir, "run1.ckpt", NULL);
  lock_holder h = { ckpt, -1, 0 };
  ts_learner_events inner = { &h, NULL, NULL, release_at_second_epoch, NULL, NULL };
  const char *meta[] = { "run", "1" };
  ts_checkpointer ck;
  setup s;

  setup_init (&s, 1, 1, 2);
  g_assert_cmpint (ts_checkpoint_lock (ckpt, &h.held_fd), ==, TS_OK);
  g_assert_cmpint (h.held_fd, >=, 0);
  g_assert_cmpint (ts_checkpointer_init (&ck, s.learner, ckpt, &inner, meta, 1), ==, TS_OK);
  g_assert_cmpint (ts_learner_fit_one_cycle (s.learner, 2, ts_lr_plain (1e-3), NULL), ==, TS_OK);
  /* epoch 1's save was refused, epoch 2's took the lock and saved */
  g_assert_cmpint (ck.save_status, ==, TS_ERR_IO);
  g_assert_cmpint (ck.n_saved, ==, 1);
  g_assert_cmpint (ck.lock_fd, >=, 0);
  ts_checkpointer_clear (&ck);
  setup_clear (&s);
  ts_test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/store/checkpoint/resume-1-thread", test_resume_1_thread);
  g_test_add_func ("/store/checkpoint/resume-2-threads-clear-state",
                   test_resume_2_threads_clear_state);
  g_test_add_func ("/store/checkpoint/bad", test_bad_checkpoints);
  g_test_add_func ("/store/checkpoint/owner", test_owner);
  g_test_add_func ("/store/checkpoint/lock-retried", test_lock_retried);
  return g_test_run ();
}
