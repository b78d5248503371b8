/* ts-checkpoint.h: the state of a training run at an epoch boundary, written
 * atomically (a safetensors file: temporary file, fsync, rename), so that an
 * interrupted fit_one_cycle / fine_tune resumes exactly where it stopped.
 *
 * A checkpoint holds every parameter and buffer (BN running statistics), the
 * Adam state (grad_avg, sqr_avg, step count per parameter), the schedule
 * position (phase, next epoch; the step is epoch * batches), the smoothed
 * loss, the dropout counter of the model (its RNG position) and the number of
 * epochs handed to the training source (the loader derives its shuffle and
 * augmentation from (seed, epoch, item), so that is the loader position).
 *
 * Resuming: build the same learner from the same recipe and seed, call
 * ts_checkpoint_load, then call the same fit (ts_learner_fine_tune or
 * ts_learner_fit_one_cycle with the same arguments): it skips the phases and
 * epochs already done and ends with the weights of an uninterrupted run. */
#pragma once

#include <stdint.h>

#include "ts-learner.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TS_CHECKPOINT_FORMAT "tagsight-checkpoint"
#define TS_CHECKPOINT_VERSION 1

typedef struct {
  int phase;               /* the phase to continue */
  int epoch;               /* the next epoch of that phase (may equal its n_epochs) */
  int epochs_seen;         /* epochs handed to the training source so far */
  uint64_t dropout_counter;
  double smooth_val;       /* fastai's AvgSmoothLoss state at that point */
  int smooth_count;
} ts_checkpoint_pos;

/* Writes the learner's state with @pos to @path atomically.  @meta_kv: extra
 * metadata (2 * @n_meta strings, e.g. the run id), may be NULL. */
ts_status ts_checkpoint_save (ts_learner *l, const char *path, const ts_checkpoint_pos *pos,
                              const char *const *meta_kv, int n_meta);

/* Reads only the position (and checks the format); @meta_key/@meta_value,
 * when not NULL, receive one metadata value (malloc'ed, NULL when absent). */
ts_status ts_checkpoint_read_pos (const char *path, ts_checkpoint_pos *pos,
                                  const char *meta_key, char **meta_value);
/* The same for @n metadata values: @values[i] for @keys[i]. */
ts_status ts_checkpoint_read_meta (const char *path, ts_checkpoint_pos *pos,
                                   const char *const *keys, char **values, int n);

/* Whose checkpoint a file is.  A project's run tags its checkpoints with its
 * number and its start as the project records it (ISO 8601 UTC, e.g.
 * "2025-03-01T10:00:00.000000Z"): metadata "run" and "run_started".  Run
 * numbers start at 1 in every project and come back after a run is deleted,
 * so the number alone would take a leftover P-run1.ckpt of another project
 * (or of a deleted run) for this run's. */
#define TS_CHECKPOINT_META_RUN "run"
#define TS_CHECKPOINT_META_RUN_STARTED "run_started"

typedef enum {
  TS_CHECKPOINT_OWNED,          /* the run's number and start */
  TS_CHECKPOINT_OTHER_RUN,      /* another number, or none */
  TS_CHECKPOINT_OTHER_START,    /* the number, with another start */
  /* the number without a start (written before checkpoints named it), but
   * last written before the run started: a leftover of another run */
  TS_CHECKPOINT_OLDER_THAN_RUN,
} ts_checkpoint_owner;

typedef struct {
  ts_checkpoint_owner owner;
  char run[32];                 /* what the checkpoint names; "" when nothing */
  char run_started[64];
} ts_checkpoint_owner_info;

/* Reads @path's position and tells whether it is the checkpoint of the run
 * numbered @run that started at @run_started.  A checkpoint without a start
 * is taken on its number unless the file is older than the run (a run's
 * checkpoint is written after it starts; 2 s of slack for coarse file
 * times).  TS_OK when it is the run's; TS_ERR_INVALID with a message naming
 * the file when it is another's (@out says whose); the read's error when
 * it cannot be read.  The file is not touched. */
ts_status ts_checkpoint_check_owner (const char *path, const char *run, const char *run_started,
                                     ts_checkpoint_pos *pos, ts_checkpoint_owner_info *out);

/* What a resume needs to keep alive until the fit has started. */
typedef struct ts_checkpoint_resume ts_checkpoint_resume;

/* Puts the weights, buffers, dropout counter and loader position of @path
 * into @l's model and makes the next fit start at the checkpoint's phase and
 * epoch with its Adam state and smoothed loss.  Every tensor is checked by
 * name and shape; a mismatch names it.  Free *@out after the fit. */
ts_status ts_checkpoint_load (const char *path, ts_learner *l, ts_checkpoint_pos *pos,
                              ts_checkpoint_resume **out);
void ts_checkpoint_resume_free (ts_checkpoint_resume *r);

/* Wraps a learner's events: forwards everything to @inner and writes a
 * checkpoint to @path at every epoch end, after forwarding the epoch event
 * (so a recorder sees the epoch before its checkpoint exists: a crash in
 * between leaves the previous checkpoint, and resuming redoes the epoch).
 * A failed write is kept in save_status / save_error and training goes on. */
typedef struct {
  ts_learner *learner;
  char *path;
  ts_learner_events inner;
  const char *const *meta_kv;
  int n_meta;
  /* tracked from the batch events: the fit's AvgSmoothLoss */
  double smooth_val, smooth_beta;
  int smooth_count;
  int phase;
  int n_saved;
  ts_status save_status;
  char save_error[512];
  int lock_fd;              /* flock'ed @path.lock, or -1 */
  int lock_pending;         /* taken at the first write */
} ts_checkpointer;

/* @meta_kv is borrowed for the checkpointer's lifetime.  Installs itself as
 * @l's events.
 *
 * One checkpoint, one writer: the checkpointer holds ts_checkpoint_lock
 * (@path) until ts_checkpointer_clear or until the process dies, taken here
 * when @path exists (a resume: while another process is training that run,
 * this fails before anything is changed), else just before the first write
 * (a failure then is a failed write).  Holding it, it removes the temporary
 * files a checkpoint write killed midway left. */
ts_status ts_checkpointer_init (ts_checkpointer *c, ts_learner *l, const char *path,
                                const ts_learner_events *inner,
                                const char *const *meta_kv, int n_meta);
/* Removes the lock file and releases the lock. */
void ts_checkpointer_clear (ts_checkpointer *c);
/* An exclusive lock (flock) on "@path.lock" for the one process that writes
 * checkpoint @path; *@fd_out is -1 where no lock can be made (a read-only
 * folder, a file system without locks), which is no error.  While another
 * process holds it: TS_ERR_IO, "another process (pid N) is training...".
 * The lock goes with the process; ts_checkpoint_unlock removes the file. */
ts_status ts_checkpoint_lock (const char *path, int *fd_out);
void ts_checkpoint_unlock (const char *path, int fd);
/* Continue the smoothed loss from a loaded checkpoint's position. */
void ts_checkpointer_continue_from (ts_checkpointer *c, const ts_checkpoint_pos *pos);

#ifdef __cplusplus
}
#endif
