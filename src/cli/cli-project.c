/* cli-project.c: `train --project` and `resume`: a training run recorded in
 * a project, checkpointed each epoch, resumable after a crash. */
#include "cli-project.h"

#include "ts-backend-select.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli-i18n.h"
#include "tagsight-project.h"
#include "ts-atomic-write.h"
#include "ts-checkpoint.h"
#include "ts-json.h"

gboolean
cli_project_writable_or_say (const char *command, TagsightProject *p)
{
  g_autoptr (GError) error = NULL;

  if (tagsight_project_check_writable (p, &error))
    return TRUE;
  cli_fail (command, error->message);
  return FALSE;
}

typedef struct {
  TagsightProject *project;
  gint64 run_id;
  GError *db_error;             /* the first failed write; later ones are not reported */
  int n_batches_recorded;
} recorder;

static void
rec_failed_write (recorder *r, GError *error)
{
  if (!r->db_error)
    {
      fprintf (stderr, _("tagsight-cli: recording in the project failed: %s\n"),
               error->message);
      r->db_error = error;
    }
  else
    g_error_free (error);
}

static void
rec_phase (void *user, const ts_phase_event *ev)
{
  (void) user;
  if (ev->phase > 0)
    printf ("\n");
  if (strcmp (ev->name, "frozen") == 0)
    printf (ngettext ("frozen phase (%d epoch)\n", "frozen phase (%d epochs)\n", ev->n_epochs),
            ev->n_epochs);
  else if (strcmp (ev->name, "unfrozen") == 0)
    printf (ngettext ("unfrozen phase (%d epoch)\n", "unfrozen phase (%d epochs)\n",
                      ev->n_epochs), ev->n_epochs);
  else
    /* TRANSLATORS: %s is the learner's name for the phase ("fit") */
    printf (ngettext ("%s phase (%d epoch)\n", "%s phase (%d epochs)\n", ev->n_epochs), ev->name,
            ev->n_epochs);
  cli_epoch_header (stdout);
  fflush (stdout);
}

static void
rec_batch (void *user, const ts_batch_event *ev)
{
  recorder *r = user;
  GError *error = NULL;

  /* one commit per batch: a SIGKILL loses at most the batch in flight */
  if (!tagsight_project_add_batch_metrics (r->project, r->run_id, ev->phase, ev->epoch, ev->batch,
                                           ev->step, ev->loss, ev->smooth_loss,
                                           ev->lr[ev->n_groups > 0 ? ev->n_groups - 1 : 0],
                                           ev->mom, &error))
    rec_failed_write (r, error);
  else
    r->n_batches_recorded++;
}

static void
rec_epoch (void *user, const ts_epoch_event *ev)
{
  recorder *r = user;
  GError *error = NULL;

  cli_epoch_row (stdout, ev);
  fflush (stdout);
  if (!tagsight_project_add_epoch_metrics (r->project, r->run_id, ev->phase, ev->epoch,
                                           ev->train_loss, ev->valid_loss, ev->accuracy_multi,
                                           ev->seconds, &error))
    rec_failed_write (r, error);
}

/* "dir/name.tagsight" -> "dir/name-run7.SUFFIX" */
static char *
recipe_json (const cli_train_opts *o, char **args, int n_args, int threads)
{
  ts_strbuf b = { 0 };
  char *out;

  ts_strbuf_printf (&b, "{\"command\": \"fine_tune\", \"csv\": ");
  ts_strbuf_json_string (&b, o->csv);
  ts_strbuf_printf (&b, ", \"arch\": ");
  ts_strbuf_json_string (&b, o->arch);
  ts_strbuf_printf (&b, ", \"epochs\": %d, \"freeze_epochs\": %d, \"lr\": %.17g, \"bs\": %d, "
                    "\"size\": %d, \"seed\": %llu, \"threads\": %d, \"args\": [", o->epochs,
                    o->freeze_epochs, o->lr, o->bs, o->size, o->seed, threads);
  for (int i = 0; i < n_args; i++)
    {
      if (i)
        ts_strbuf_printf (&b, ", ");
      ts_strbuf_json_string (&b, args[i]);
    }
  ts_strbuf_printf (&b, "]}");
  out = b.failed ? NULL : g_strndup (b.data, b.len);
  ts_strbuf_clear (&b);
  return out;
}

/* After the GPU failed (out of memory, lost): the command that goes on, on
 * the CPU, from the run's last checkpoint (@resumable), or, with none (it
 * failed in its first epoch), that the run must start again. */
static void
device_failure_hint (TagsightProject *p, gint64 run_id, gboolean resumable)
{
  /* a command to paste into a shell */
  g_autofree char *word = g_shell_quote (tagsight_project_get_path (p));

  if (resumable)
    fprintf (stderr, _("tagsight-cli: to go on from the last completed epoch on the CPU: "
                       "tagsight-cli resume %s %lld --device cpu\n"), word, (long long) run_id);
  else
    fprintf (stderr, _("tagsight-cli: no epoch was completed, so nothing can be resumed: "
                       "train again with --device cpu or a smaller --bs\n"));
}

/* The shared body of train --project and resume. */
static int
run_recorded (TagsightProject *p, gint64 run_id, const cli_train_opts *o, const char *ckpt,
              const char *resume_from)
{
  ts_session_config sc;
  ts_session s;
  recorder rec = { p, run_id, NULL, 0 };
  ts_learner_events inner = { &rec, rec_phase, rec_batch, rec_epoch, NULL, NULL };
  ts_checkpointer ck;
  ts_checkpoint_resume *res = NULL;
  ts_checkpoint_pos pos;
  char run_str[32], counts[256];
  GError *error = NULL;
  g_autoptr (TagsightRun) run = tagsight_project_get_run (p, run_id, &error);
  /* the run's number and its start (to the microsecond): numbers start at 1
   * in every project, so the number alone would take another project's
   * checkpoint of the same name for this run's */
  const char *meta[4] = { TS_CHECKPOINT_META_RUN, run_str, TS_CHECKPOINT_META_RUN_STARTED,
                          run != NULL ? run->started : NULL };
  ts_status st, train_st;
  char device[256];
  g_autofree char *model_path = NULL, *sha = NULL, *message = NULL;
  TagsightRunStatus status;
  gboolean model_lost = FALSE;
  int rc = 0;

  /* without its start the checkpoints could not say whose they are */
  if (run == NULL || run->started == NULL)
    {
      int rc_read = cli_fail (resume_from ? "resume" : "train",
                              error != NULL ? error->message : _("the run has no start time"));
      g_clear_error (&error);
      return rc_read;
    }
  snprintf (run_str, sizeof run_str, "%" G_GINT64_FORMAT, run_id);
  cli_train_session_config (o, &sc);
  /* bf16 is how activations are stored, not part of the weights: a run
   * resumed where bf16 cannot run (on the CPU after the GPU failed) goes on
   * in float32, and says so below */
  sc.precision_fallback = resume_from != NULL;
  /* A run to resume is changed only once everything that can refuse it has
   * passed: the session (the CSV, the device), the checkpoint's lock (no
   * other process is training the run) and the checkpoint itself.  Before,
   * the run keeps its status, message, metrics and predictions. */
  if ((st = ts_session_open (&sc, &s)) != TS_OK)
    {
      message = g_strdup (ts_last_error ());
      cli_fail (resume_from ? "resume" : NULL, message);
      ts_session_close (&s);
      if (!resume_from)
        tagsight_project_end_run (p, run_id, TAGSIGHT_RUN_FAILED, message, NULL);
      return 1;
    }
  if ((st = ts_checkpointer_init (&ck, s.learner, ckpt, &inner, meta, 2)) != TS_OK)
    {
      message = g_strdup (ts_last_error ());
      cli_fail (resume_from ? "resume" : NULL, message);
      ts_session_close (&s);
      if (!resume_from)
        tagsight_project_end_run (p, run_id, TAGSIGHT_RUN_FAILED, message, NULL);
      return 1;
    }
  /* the run's own model file: what a write of it killed midway left goes too
   * (the lock says no one else writes it) */
  if (ck.lock_fd >= 0 && !o->out)
    {
      g_autofree char *own = tagsight_project_run_file (p, run_id, "safetensors");
      ts_atomic_remove_temps (own);
    }
  if (resume_from)
    {
      if ((st = ts_checkpoint_load (resume_from, s.learner, &pos, &res)) != TS_OK)
        {
          cli_fail ("resume", ts_last_error ());
          ts_checkpointer_clear (&ck);
          ts_session_close (&s);
          return 1;
        }
      /* what follows the checkpoint is trained again: its rows go */
      if (!tagsight_project_reopen_run (p, run_id, pos.phase, pos.epoch, &error))
        {
          cli_fail ("resume", error->message);
          g_clear_error (&error);
          ts_checkpoint_resume_free (res);
          ts_checkpointer_clear (&ck);
          ts_session_close (&s);
          return 1;
        }
      ts_checkpointer_continue_from (&ck, &pos);
      printf (_("resuming run %lld at phase %d, epoch %d\n"), (long long) run_id, pos.phase,
              pos.epoch);
      if (o->precision == TS_PRECISION_BF16 && ts_model_precision (s.model) != TS_PRECISION_BF16)
        fprintf (stderr, _("note: run %lld was started with --precision bf16, which this device "
                           "cannot run; it goes on in fp32\n"), (long long) run_id);
    }
  /* what it computes on, e.g. "NVIDIA H200 (...) (bf16)"; a resumed run
   * records where it continued (the app records the same text) */
  ts_session_describe_device (&s, device, sizeof device);
  if (!tagsight_project_set_run_device (p, run_id, device, &error))
    rec_failed_write (&rec, g_steal_pointer (&error));
  /* TRANSLATORS: CSV: "205 training and 159 validation images, 3 classes";
   * architecture, fine_tune(epochs, lr, freeze_epochs) on the device; run
   * number in project */
  printf (_("%s: %s; %s, fine_tune(%d, %g, freeze_epochs=%d) on %s; run %lld in %s\n"), o->csv,
          cli_counts_text (counts, sizeof counts, s.db->n_train, s.db->n_valid, s.db->n_vocab),
          o->arch, o->epochs, o->lr, o->freeze_epochs, device, (long long) run_id,
          tagsight_project_get_path (p));
  cli_device_resample_note (&s);
  fflush (stdout);

  cli_sigint_catch (s.learner);
  train_st = ts_learner_fine_tune (s.learner, o->epochs, o->lr, o->freeze_epochs);
  cli_sigint_release ();
  if (train_st != TS_OK)
    message = g_strdup (ts_last_error ());
  if (ck.save_status != TS_OK)
    fprintf (stderr, _("tagsight-cli: writing the checkpoint failed: %s\n"), ck.save_error);

  if (s.db->n_valid > 0 && (train_st == TS_OK || train_st == TS_ERR_CANCELLED))
    {
      float *probs = NULL, *targets = NULL;
      int *items = NULL, n = 0;
      double valid_loss = NAN;

      /* a Ctrl-C that stopped training must not stop the evaluation too */
      ts_learner_reset_cancel (s.learner);
      st = ts_learner_get_preds (s.learner, NULL, &probs, &targets, &items, &n, &valid_loss);
      if (st != TS_OK)
        fprintf (stderr, _("tagsight-cli: validation: %s\n"), ts_last_error ());
      else if (!tagsight_project_set_predictions (p, run_id, n, s.db->n_vocab, items, probs,
                                                  targets, &error))
        rec_failed_write (&rec, g_steal_pointer (&error));
      else
        printf (ngettext ("valid_loss %.6f on %d image\n", "valid_loss %.6f on %d images\n", n),
                valid_loss, n);
      free (probs);
      free (targets);
      free (items);
    }

  cli_session_notes ("train", &s);
  if (train_st == TS_OK || train_st == TS_ERR_CANCELLED || train_st == TS_ERR_NUMERIC)
    {
      model_path = g_strdup (o->out ? o->out : NULL);
      if (!model_path)
        model_path = tagsight_project_run_file (p, run_id, "safetensors");
      if ((st = ts_session_save_model (&s, model_path, -1.0, NULL)) != TS_OK)
        {
          /* a run that trained to its end says it below, with the way out */
          if (train_st != TS_OK)
            cli_fail (NULL, ts_last_error ());
          rc = 1;
          /* the trained weights are now only in the checkpoint: the run is
           * not finished (resume would refuse it) but failed, and resume
           * writes the model */
          if (train_st == TS_OK)
            {
              model_lost = TRUE;
              g_free (message);
              message = g_strdup_printf (_("the model could not be written: %s; "
                                           "tagsight-cli resume writes it"), ts_last_error ());
            }
        }
      else if (!tagsight_project_add_model (p, run_id, model_path, &sha, &error))
        rec_failed_write (&rec, g_steal_pointer (&error));
      else
        fprintf (stderr, _("tagsight-cli: wrote %s (sha256 %s)\n"), model_path, sha);
    }

  status = train_st == TS_OK && !model_lost ? TAGSIGHT_RUN_FINISHED
           : train_st == TS_ERR_CANCELLED ? TAGSIGHT_RUN_CANCELLED : TAGSIGHT_RUN_FAILED;
  if (!tagsight_project_end_run (p, run_id, status, message, &error))
    rec_failed_write (&rec, g_steal_pointer (&error));
  if (train_st == TS_ERR_CANCELLED)
    fprintf (stderr, _("tagsight-cli: %s; resume with tagsight-cli resume\n"), message);
  else if (train_st != TS_OK || model_lost)
    cli_fail (NULL, message);
  if (train_st == TS_ERR_DEVICE)
    device_failure_hint (p, run_id, ck.n_saved > 0 || resume_from != NULL);
  printf ("{\"run\": %" G_GINT64_FORMAT ", \"status\": \"%s\", \"batches_recorded\": %d, "
          "\"checkpoints\": %d}\n", run_id, tagsight_run_status_to_string (status),
          rec.n_batches_recorded, ck.n_saved);
  fflush (stdout);

  ts_checkpoint_resume_free (res);
  ts_checkpointer_clear (&ck);
  ts_session_close (&s);
  if (rec.db_error)
    {
      g_error_free (rec.db_error);
      rc = 1;
    }
  if (train_st == TS_ERR_CANCELLED)
    return 130;
  return train_st == TS_OK ? rc : 1;
}

int
cli_project_train (const cli_train_opts *o, const char *project, char **args, int n_args)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightProject) p = NULL;
  g_autofree char *recipe = NULL, *ckpt = NULL;
  cli_train_opts oo = *o;
  gint64 ds, run_id = 0;
  long cores = sysconf (_SC_NPROCESSORS_ONLN);

  /* resume must use the same thread count: a CPU reduction order depends on it */
  if (oo.threads <= 0)
    oo.threads = cores > 0 ? (int) cores : 1;
  p = tagsight_project_open (project, TAGSIGHT_PROJECT_OPEN_CREATE, &error);
  if (!p)
    return cli_fail ("train", error->message);
  if (!cli_project_writable_or_say ("train", p))
    return 1;
  if (!(ds = tagsight_project_find_or_add_dataset (p, oo.csv, &error)))
    return cli_fail ("train", error->message);
  {
    /* paths made absolute, so that resume works from any folder */
    g_autoptr (GPtrArray) abs_args = g_ptr_array_new_with_free_func (g_free);
    for (int i = 0; i < n_args; i++)
      if (strcmp (args[i], "--project") == 0)
        i++;   /* the project is where the recipe lives, not part of it */
      else if (g_str_has_prefix (args[i], "--project="))
        continue;
      else
        g_ptr_array_add (abs_args, args[i] == o->csv || args[i] == o->out
                       || args[i] == o->pretrained ? g_canonicalize_filename (args[i], NULL)
                       : g_strdup (args[i]));
    recipe = recipe_json (&oo, (char **) abs_args->pdata, (int) abs_args->len, oo.threads);
  }
  /* the device asked for; the session's name for it once it is open */
  if (!recipe || !tagsight_project_begin_run (p, ds, recipe, oo.device ? oo.device : "auto",
                                              &run_id, &error))
    return cli_fail ("train", error ? error->message : _("out of memory"));
  ckpt = tagsight_project_run_file (p, run_id, "ckpt");
  /* known before the first epoch ends: a kill right after the first
   * checkpoint's rename must still find it */
  if (!tagsight_project_set_run_checkpoint (p, run_id, ckpt, &error))
    return cli_fail ("train", error->message);
  return run_recorded (p, run_id, &oo, ckpt, NULL);
}

int
cli_project_resume (const char *project, long long run_id_arg, const char *device)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (TagsightProject) p = NULL;
  g_autoptr (TagsightRun) run = NULL;
  ts_json *recipe = NULL;
  const ts_json *args, *threads;
  char **argv = NULL;
  cli_train_opts o;
  ts_checkpoint_pos pos;
  gint64 run_id = run_id_arg;
  int argc, c, rc = 1;
  ts_checkpoint_owner_info owner;
  char id_str[32];

  p = tagsight_project_open (project, 0, &error);
  if (!p)
    return cli_fail ("resume", error->message);
  if (!cli_project_writable_or_say ("resume", p))
    return 1;
  if (run_id == 0 && (run_id = tagsight_project_latest_unfinished_run (p, &error)) == 0)
    {
      cli_fail ("resume", error ? error->message
                          : _("every run of the project has finished; nothing to resume"));
      return error ? 1 : 2;
    }
  if (!(run = tagsight_project_get_run (p, run_id, &error)))
    return cli_fail ("resume", error->message);
  if (run->status == TAGSIGHT_RUN_FINISHED)
    {
      fprintf (stderr, _("tagsight-cli resume: run %lld has finished\n"), (long long) run_id);
      return 2;
    }
  if (!run->checkpoint || !g_file_test (run->checkpoint, G_FILE_TEST_EXISTS))
    {
      int lock_fd;

      /* killed during its first checkpoint write: what that left goes,
       * unless the run is alive and writing it now */
      if (run->checkpoint && ts_checkpoint_lock (run->checkpoint, &lock_fd) == TS_OK)
        {
          if (lock_fd >= 0)
            ts_atomic_remove_temps (run->checkpoint);
          ts_checkpoint_unlock (run->checkpoint, lock_fd);
        }
      if (run->checkpoint)
        fprintf (stderr, _("tagsight-cli resume: run %lld has no checkpoint at %s (it stopped "
                           "before its first epoch ended); start it again with train\n"),
                 (long long) run_id, run->checkpoint);
      else
        fprintf (stderr, _("tagsight-cli resume: run %lld has no checkpoint (it stopped before "
                           "its first epoch ended); start it again with train\n"),
                 (long long) run_id);
      return 1;
    }
  snprintf (id_str, sizeof id_str, "%" G_GINT64_FORMAT, run_id);
  /* another run's checkpoint left under this run's name is refused, and left as it is */
  if (ts_checkpoint_check_owner (run->checkpoint, id_str, run->started, &pos, &owner) != TS_OK)
    return cli_fail ("resume", ts_last_error ());

  /* the same options as the interrupted run: its recorded arguments again */
  if (ts_json_parse (run->recipe, strlen (run->recipe), "recipe", &recipe) != TS_OK
      || !(args = ts_json_get (recipe, "args")) || args->type != TS_JSON_ARRAY)
    {
      fprintf (stderr, _("tagsight-cli resume: run %lld: the recipe has no arguments to rebuild "
                         "the run from\n"), (long long) run_id);
      ts_json_free (recipe);
      return 1;
    }
  argc = (int) args->len + 1;
  argv = g_new0 (char *, argc + 1);
  argv[0] = g_strdup ("resume");
  for (size_t i = 0; i < args->len; i++)
    argv[i + 1] = g_strdup (args->items[i].type == TS_JSON_STRING ? args->items[i].string : "");
  cli_train_opts_init (&o);
  optind = 1;
  opterr = 1;
  while ((c = getopt_long (argc, argv, "", cli_train_long_opts, NULL)) != -1)
    if (cli_train_opt ("resume", &o, c, optarg) != 1)
      {
        fprintf (stderr, _("tagsight-cli resume: run %lld: the recorded arguments no longer "
                           "parse\n"), (long long) run_id);
        goto out;
      }
  if (optind != argc - 1)
    {
      fprintf (stderr, _("tagsight-cli resume: run %lld: the recorded arguments name no CSV\n"),
               (long long) run_id);
      goto out;
    }
  o.csv = argv[optind];
  if (cli_datablock_detect ("resume", &o.db, o.csv, stderr) < 0)
    goto out;
  if (device != NULL)
    o.device = device;   /* e.g. on the CPU after the GPU failed */
  threads = ts_json_get (recipe, "threads");
  if (threads && threads->type == TS_JSON_NUMBER && threads->number >= 1)
    o.threads = (int) threads->number;
  rc = run_recorded (p, run_id, &o, run->checkpoint, run->checkpoint);

out:
  ts_json_free (recipe);
  g_strfreev (argv);
  return rc;
}
