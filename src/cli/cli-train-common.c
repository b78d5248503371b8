/* cli-train-common.c: the training subcommands' options, their session
 * config and the SIGINT handler (see cli-train-common.h). */
#include "cli-train-common.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli-i18n.h"
#include "ts-backend-select.h"
#include "ts-pth.h"

#ifndef CLI_VALID_WORKERS
#define CLI_VALID_WORKERS 1
#endif

enum {
  OPT_ARCH = 1000, OPT_PRETRAINED, OPT_EPOCHS, OPT_FREEZE_EPOCHS, OPT_LR, OPT_BS, OPT_SIZE,
  OPT_MIN_SCALE, OPT_AUG, OPT_THRESH, OPT_THREADS, OPT_SEED, OPT_OUT, OPT_DEVICE,
  OPT_PRECISION,
};

const struct option cli_train_long_opts[] = {
  { "arch", required_argument, NULL, OPT_ARCH },
  { "pretrained", required_argument, NULL, OPT_PRETRAINED },
  { "epochs", required_argument, NULL, OPT_EPOCHS },
  { "freeze-epochs", required_argument, NULL, OPT_FREEZE_EPOCHS },
  { "lr", required_argument, NULL, OPT_LR },
  { "bs", required_argument, NULL, OPT_BS },
  { "size", required_argument, NULL, OPT_SIZE },
  { "min-scale", required_argument, NULL, OPT_MIN_SCALE },
  { "aug", required_argument, NULL, OPT_AUG },
  { "thresh", required_argument, NULL, OPT_THRESH },
  { "threads", required_argument, NULL, OPT_THREADS },
  { "device", required_argument, NULL, OPT_DEVICE },
  { "precision", required_argument, NULL, OPT_PRECISION },
  { "seed", required_argument, NULL, OPT_SEED },
  { "out", required_argument, NULL, OPT_OUT },
  CLI_DATABLOCK_LONG_OPTS,
  { NULL, 0, NULL, 0 },
};

const struct option cli_lr_find_long_opts[] = {
  { "arch", required_argument, NULL, OPT_ARCH },
  { "pretrained", required_argument, NULL, OPT_PRETRAINED },
  { "bs", required_argument, NULL, OPT_BS },
  { "size", required_argument, NULL, OPT_SIZE },
  { "min-scale", required_argument, NULL, OPT_MIN_SCALE },
  { "aug", required_argument, NULL, OPT_AUG },
  { "threads", required_argument, NULL, OPT_THREADS },
  { "device", required_argument, NULL, OPT_DEVICE },
  { "precision", required_argument, NULL, OPT_PRECISION },
  { "seed", required_argument, NULL, OPT_SEED },
  CLI_DATABLOCK_LONG_OPTS,
  { NULL, 0, NULL, 0 },
};

void
cli_train_opts_init (cli_train_opts *o)
{
  memset (o, 0, sizeof *o);
  o->arch = "resnet34";
  o->epochs = 3;
  o->freeze_epochs = 4;
  o->lr = 3e-3;
  o->bs = 64;
  o->size = 128;
  o->min_scale = 0.35;
  o->aug = TS_AUG_FASTAI;
  o->thresh = 0.2;
  o->threads = 0;
  o->seed = 42;
  cli_datablock_opts_init (&o->db);
}

static void
model_usage (FILE *out)
{
  fprintf (out, "%s",
           _("  --arch A            resnet18, resnet34 (default), resnet50, mobilenet_v2, tiny\n"
             "  --pretrained FILE   body weights: .safetensors, a PyTorch .pth, or a MobileNetV2 "
             ".tflite\n"));
}

static void
loader_usage (FILE *out)
{
  fprintf (out, "%s",
           _("  --bs N              batch size (64)\n"
             "  --size S            image side in pixels (128)\n"
             "  --min-scale F       RandomResizedCrop min_scale (0.35)\n"
             "  --aug none|flip|fastai  batch augmentation (fastai)\n"
             "  --threads N         compute and loader threads (number of cores)\n"
             "  --device D          cpu, cuda, cuda:N or auto (default: CUDA when a GPU works,\n"
             "                      else the CPU; the variable TAGSIGHT_DEVICE sets it)\n"
             "  --precision P       fp32 (default) or bf16: the network's activations in\n"
             "                      bfloat16 for a GPU's tensor cores (CUDA only)\n"
             "  --seed K            seed for initialisation, shuffling and augmentation (42)\n"));
  cli_datablock_usage (out);
}

void
cli_train_usage (FILE *out)
{
  model_usage (out);
  fprintf (out, "%s",
           _("  --epochs N          unfrozen epochs (3)\n"
             "  --freeze-epochs N   frozen epochs (4)\n"
             "  --lr LR             base learning rate (3e-3)\n"
             "  --thresh T          accuracy_multi threshold (0.2)\n"
             "  --out FILE          model file to write (.safetensors)\n"));
  loader_usage (out);
}

void
cli_lr_find_usage (FILE *out)
{
  model_usage (out);
  loader_usage (out);
}

static int
parse_int (const char *cmd, const char *name, const char *arg, int lo, int *out)
{
  char *end;
  long v;

  errno = 0;
  v = strtol (arg, &end, 10);
  if (errno || *end || end == arg || v < lo || v > 1000000)
    {
      fprintf (stderr, _("tagsight-cli %s: --%s: '%s' is not a whole number >= %d\n"),
               cmd, name, arg, lo);
      return -1;
    }
  *out = (int) v;
  return 1;
}

static int
parse_double (const char *cmd, const char *name, const char *arg, double lo, double hi,
              double *out)
{
  char *end;
  double v;

  errno = 0;
  v = strtod (arg, &end);
  if (errno || *end || end == arg || !(v >= lo && v <= hi))
    {
      fprintf (stderr, _("tagsight-cli %s: --%s: '%s' is not a number in [%g, %g]\n"),
               cmd, name, arg, lo, hi);
      return -1;
    }
  *out = v;
  return 1;
}

int
cli_train_opt (const char *cmd, cli_train_opts *o, int c, const char *arg)
{
  switch (c)
    {
    case OPT_ARCH: o->arch = arg; return 1;
    case OPT_PRETRAINED: o->pretrained = arg; return 1;
    case OPT_EPOCHS: return parse_int (cmd, "epochs", arg, 0, &o->epochs);
    case OPT_FREEZE_EPOCHS: return parse_int (cmd, "freeze-epochs", arg, 0, &o->freeze_epochs);
    case OPT_LR: return parse_double (cmd, "lr", arg, 1e-12, 100.0, &o->lr);
    case OPT_BS: return parse_int (cmd, "bs", arg, 1, &o->bs);
    case OPT_SIZE: return parse_int (cmd, "size", arg, 8, &o->size);
    case OPT_MIN_SCALE: return parse_double (cmd, "min-scale", arg, 0.01, 1.0, &o->min_scale);
    case OPT_THRESH: return parse_double (cmd, "thresh", arg, 0.0, 1.0, &o->thresh);
    case OPT_THREADS: return parse_int (cmd, "threads", arg, 0, &o->threads);
    case OPT_OUT: o->out = arg; return 1;
    case OPT_DEVICE: o->device = arg; return 1;
    case OPT_PRECISION: return cli_parse_precision (cmd, arg, &o->precision);
    case OPT_SEED:
      {
        char *end;
        errno = 0;
        o->seed = strtoull (arg, &end, 10);
        if (errno || *end || end == arg)
          {
            fprintf (stderr, _("tagsight-cli %s: --seed: '%s' is not a whole number\n"), cmd,
                     arg);
            return -1;
          }
        return 1;
      }
    case OPT_AUG:
      if (strcmp (arg, "none") == 0)
        o->aug = TS_AUG_NONE;
      else if (strcmp (arg, "flip") == 0)
        o->aug = TS_AUG_FLIP;
      else if (strcmp (arg, "fastai") == 0)
        o->aug = TS_AUG_FASTAI;
      else
        {
          fprintf (stderr, _("tagsight-cli %s: --aug: '%s' (none, flip or fastai)\n"), cmd, arg);
          return -1;
        }
      return 1;
    default:
      return cli_datablock_opt (cmd, &o->db, c, arg);
    }
}

void
cli_train_session_config (const cli_train_opts *o, ts_session_config *cfg)
{
  ts_session_config_init (cfg);
  cfg->csv = o->csv;
  cfg->datablock = &o->db.cfg;
  cfg->arch = o->arch;
  cfg->pretrained = o->pretrained;
  cfg->epochs = o->epochs;
  cfg->freeze_epochs = o->freeze_epochs;
  cfg->lr = o->lr;
  cfg->bs = o->bs;
  cfg->size = o->size;
  cfg->min_scale = o->min_scale;
  cfg->aug = o->aug;
  cfg->thresh = o->thresh;
  cfg->threads = o->threads;
  cfg->device = o->device;
  cfg->precision = o->precision;
  cfg->seed = o->seed;
  /* validation decodes a squish + centre crop per image (cached after the
   * first epoch) while the model evaluates: one worker keeps up and leaves
   * the cores to the GEMMs.  Measured on bccd, mobilenet_v2 at 128 px,
   * --threads 2: warm epochs 7.3 and 7.9 s with 1 worker, 7.2 and 13.8 s
   * with 2 (a loaded 2-core machine: no gain from the second worker). */
  cfg->valid_workers = CLI_VALID_WORKERS;
  cfg->load_pretrained = cli_load_pretrained;
}

int
cli_parse_precision (const char *cmd, const char *arg, ts_precision *out)
{
  int p = ts_precision_from_name (arg);

  if (p < 0)
    {
      fprintf (stderr, _("tagsight-cli %s: --precision: '%s' (fp32 or bf16)\n"), cmd, arg);
      return -1;
    }
  *out = (ts_precision) p;
  return 1;
}

ts_status
cli_load_pretrained (ts_model *m, const char *path, ts_normalization *norm)
{
  ts_load_report rep = { 0 };
  ts_status st;

  /* .tflite, .safetensors or a PyTorch .pth, by extension */
  if ((st = ts_model_load_pretrained_any (m, path, norm, &rep)) == TS_OK && rep.n_unexpected > 0)
    fprintf (stderr, ngettext ("note: %s: %d tensor not used (e.g. %s): a classifier of another "
                               "size is replaced by fastai's head\n",
                               "note: %s: %d tensors not used (e.g. %s): a classifier of another "
                               "size is replaced by fastai's head\n", rep.n_unexpected),
             path, rep.n_unexpected, rep.unexpected[0]);
  ts_load_report_clear (&rep);
  return st;
}

/* --- what train and resume print --- */

void
cli_device_resample_note (const ts_session *s)
{
  if (s->device_resample)
    printf (_("resize, augmentation and normalisation run on the device; the loader threads "
              "only decode\n"));
}

void
cli_skipped_note (const char *cmd, int n_skipped, const char *first)
{
  if (n_skipped <= 0)
    return;
  /* TRANSLATORS: the command (train, show-batch), the number of images that
   * could not be read, the error of the first one */
  fprintf (stderr, ngettext ("tagsight-cli %s: note: %d unreadable image skipped (first: %s)\n",
                             "tagsight-cli %s: note: %d unreadable images skipped (first: %s)\n",
                             n_skipped), cmd, n_skipped, first);
}

void
cli_bf16_fallback_note (long n)
{
  /* slower layers, not wrong ones: said, so that a bf16 run's speed is read
   * for what it measured */
  if (n > 0)
    printf (ngettext ("bf16: %ld convolution call ran in float32 (cuDNN has no bfloat16 "
                      "algorithm for its layer)\n",
                      "bf16: %ld convolution calls ran in float32 (cuDNN has no bfloat16 "
                      "algorithm for their layers)\n", (unsigned long) n), n);
}

void
cli_session_notes (const char *cmd, const ts_session *s)
{
  int n_train = s->train_loader ? ts_loader_n_skipped (s->train_loader) : 0;
  int n_valid = s->valid_loader ? ts_loader_n_skipped (s->valid_loader) : 0;

  cli_skipped_note (cmd, n_train + n_valid,
                    n_train > 0 ? ts_loader_skip_message (s->train_loader)
                                : n_valid > 0 ? ts_loader_skip_message (s->valid_loader) : "");
  cli_bf16_fallback_note (ts_backend_bf16_fallbacks (s->be));
}

char *
cli_counts_text (char *buf, size_t size, int n_train, int n_valid, int n_classes)
{
  char tr[64], va[64], cl[64];

  /* TRANSLATORS: the first part of "205 training and 159 validation images,
   * 3 classes"; the plural follows the number of training images, so it may
   * name them ("205 Trainingsbilder") */
  snprintf (tr, sizeof tr, ngettext ("%d training", "%d training", n_train), n_train);
  /* TRANSLATORS: the second part of "205 training and 159 validation images, 3 classes" */
  snprintf (va, sizeof va, ngettext ("%d validation image", "%d validation images", n_valid),
            n_valid);
  snprintf (cl, sizeof cl, ngettext ("%d class", "%d classes", n_classes), n_classes);
  /* TRANSLATORS: "205 training" and "159 validation images", then "3 classes" */
  snprintf (buf, size, _("%s and %s, %s"), tr, va, cl);
  return buf;
}

/* fastai's epoch table: its metric names stay, "epoch" and "time" are
 * translated; a wider translation widens its column */
static void
epoch_widths (int w[4])
{
  w[0] = cli_col_width (_("epoch"), 8);
  w[1] = cli_col_width (_("train_loss"), 12);
  w[2] = cli_col_width (_("valid_loss"), 12);
  w[3] = cli_col_width (_("accuracy_multi"), 16);
}

void
cli_epoch_header (FILE *out)
{
  int w[4];

  epoch_widths (w);
  cli_pad (out, _("epoch"), w[0]);
  fputc (' ', out);
  cli_pad (out, _("train_loss"), w[1]);
  fputc (' ', out);
  cli_pad (out, _("valid_loss"), w[2]);
  fputc (' ', out);
  cli_pad (out, _("accuracy_multi"), w[3]);
  fprintf (out, " %s\n", _("time"));
}

void
cli_epoch_row (FILE *out, const ts_epoch_event *ev)
{
  int w[4], t = (int) (ev->seconds + 0.5);

  epoch_widths (w);
  fprintf (out, "%-*d %-*.6f %-*.6f %-*.6f %02d:%02d\n", w[0], ev->epoch, w[1], ev->train_loss,
           w[2], ev->valid_loss, w[3], ev->accuracy_multi, t / 60, t % 60);
}

/* --- Ctrl-C --- */

static ts_learner *volatile sigint_learner;
static struct sigaction sigint_old;

static void
on_sigint (int sig)
{
  (void) sig;
  /* only sets a flag the learner polls: async-signal-safe */
  if (sigint_learner)
    ts_learner_cancel (sigint_learner);
}

void
cli_sigint_catch (ts_learner *learner)
{
  struct sigaction sa;

  sigint_learner = learner;
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, &sigint_old);
}

void
cli_sigint_release (void)
{
  sigaction (SIGINT, &sigint_old, NULL);
  sigint_learner = NULL;
}
