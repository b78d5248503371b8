/* cli-train-common.c: options, session set-up and model files for the
 * training subcommands. */
#include "cli-train-common.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts-json.h"
#include "ts-pth.h"
#include "ts-transform.h"
#include "ts-weights.h"

#ifndef CLI_VALID_WORKERS
#define CLI_VALID_WORKERS 1
#endif

enum {
  OPT_ARCH = 1000, OPT_PRETRAINED, OPT_EPOCHS, OPT_FREEZE_EPOCHS, OPT_LR, OPT_BS, OPT_SIZE,
  OPT_MIN_SCALE, OPT_AUG, OPT_THRESH, OPT_THREADS, OPT_SEED, OPT_OUT,
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
  { "seed", required_argument, NULL, OPT_SEED },
  { "out", required_argument, NULL, OPT_OUT },
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
}

void
cli_train_usage (FILE *out)
{
  fprintf (out,
           "  --arch A            resnet18, resnet34 (default), resnet50, mobilenet_v2, tiny\n"
           "  --pretrained FILE   body weights: .safetensors, a PyTorch .pth, or a MobileNetV2 .tflite\n"
           "  --epochs N          unfrozen epochs (3)\n"
           "  --freeze-epochs N   frozen epochs (4)\n"
           "  --lr LR             base learning rate (3e-3)\n"
           "  --bs N              batch size (64)\n"
           "  --size S            image side in pixels (128)\n"
           "  --min-scale F       RandomResizedCrop min_scale (0.35)\n"
           "  --aug none|flip|fastai  batch augmentation (fastai)\n"
           "  --thresh T          accuracy_multi threshold (0.2)\n"
           "  --threads N         compute and loader threads (number of cores)\n"
           "  --seed K            seed for initialisation, shuffling and augmentation (42)\n"
           "  --out FILE          model file to write (.safetensors)\n");
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
      fprintf (stderr, "tagsight-cli %s: --%s: '%s' is not a whole number >= %d\n",
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
      fprintf (stderr, "tagsight-cli %s: --%s: '%s' is not a number in [%g, %g]\n",
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
    case OPT_SEED:
      {
        char *end;
        errno = 0;
        o->seed = strtoull (arg, &end, 10);
        if (errno || *end || end == arg)
          {
            fprintf (stderr, "tagsight-cli %s: --seed: '%s' is not a whole number\n", cmd, arg);
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
          fprintf (stderr, "tagsight-cli %s: --aug: '%s' (none, flip or fastai)\n", cmd, arg);
          return -1;
        }
      return 1;
    default:
      return 0;
    }
}

static int
n_cores (void)
{
  long n = sysconf (_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int) n : 1;
}

ts_status
cli_session_open (const cli_train_opts *o, cli_session *s)
{
  ts_datablock_config dbc;
  ts_loader_config lc;
  ts_model_config mc;
  ts_learner_config lrc;
  ts_status st;
  int threads = o->threads > 0 ? o->threads : n_cores ();

  memset (s, 0, sizeof *s);
  s->norm = ts_normalization_imagenet ();
  ts_datablock_config_init (&dbc);
  dbc.seed = o->seed;
  if ((st = ts_datablock_load (o->csv, &dbc, &s->db)) != TS_OK)
    return st;
  if (s->db->n_vocab < 1)
    return ts_error (TS_ERR_INVALID, "%s: no labels in the CSV, nothing to learn", o->csv);
  if (s->db->n_train < o->bs)
    return ts_error (TS_ERR_INVALID, "%s: %d training images, fewer than the batch size %d "
                     "(use a smaller --bs)", o->csv, s->db->n_train, o->bs);

  s->be = ts_backend_cpu_new (threads);
  if (!s->be)
    return ts_error (TS_ERR_NOMEM, "could not start the CPU backend");

  /* TFLite MobileNetV2 carries batch norm folded: the architecture follows the file */
  mc.arch = o->pretrained ? ts_pretrained_arch (o->arch, o->pretrained) : o->arch;
  mc.n_classes = s->db->n_vocab;
  mc.head = TS_HEAD_FASTAI;
  mc.seed = o->seed;
  if ((st = ts_model_new (s->be, &mc, &s->model)) != TS_OK)
    return st;
  /* the weights' own input statistics, e.g. (p - 128) / 128 for a uint8 TFLite */
  if (o->pretrained)
    {
      ts_load_report rep = { 0 };

      /* .tflite, .safetensors or a PyTorch .pth, by extension */
      if ((st = ts_model_load_pretrained_any (s->model, o->pretrained, &s->norm, &rep)) != TS_OK)
        return st;
      if (rep.n_unexpected > 0)
        fprintf (stderr, "note: %s: %d tensors not used (e.g. %s): a classifier of another size "
                 "is replaced by fastai's head\n", o->pretrained, rep.n_unexpected,
                 rep.unexpected[0]);
      ts_load_report_clear (&rep);
    }

  ts_loader_config_init (&lc);
  lc.size = o->size;
  lc.min_scale = o->min_scale;
  ts_aug_params_preset (&lc.aug, o->aug);
  lc.batch_size = o->bs;
  lc.n_workers = threads;
  lc.seed = o->seed;
  memcpy (lc.mean, s->norm.mean, sizeof lc.mean);
  memcpy (lc.std, s->norm.std, sizeof lc.std);
  if ((st = ts_loader_new (s->db, &lc, 0, &s->train_loader)) != TS_OK)
    return st;
  ts_data_source_from_loader (s->train_loader, &s->train);
  if (s->db->n_valid > 0)
    {
      /* validation decodes a squish + centre crop per image (cached after the
       * first epoch) while the model evaluates: one worker keeps up and leaves
       * the cores to the GEMMs.  Measured on bccd, mobilenet_v2 at 128 px,
       * --threads 2: warm epochs 7.3 and 7.9 s with 1 worker, 7.2 and 13.8 s
       * with 2 (a loaded 2-core machine: no gain from the second worker). */
      lc.n_workers = CLI_VALID_WORKERS;
      lc.prefetch = 0;
      if ((st = ts_loader_new (s->db, &lc, 1, &s->valid_loader)) != TS_OK)
        return st;
      ts_data_source_from_loader (s->valid_loader, &s->valid);
    }

  ts_learner_config_init (&lrc);
  lrc.batch_size = o->bs;
  lrc.height = lrc.width = o->size;
  lrc.thresh = o->thresh;
  return ts_learner_new (s->model, &s->train, s->valid_loader ? &s->valid : NULL, &lrc,
                         &s->learner);
}

void
cli_session_close (cli_session *s)
{
  ts_learner_free (s->learner);
  ts_loader_free (s->train_loader);
  ts_loader_free (s->valid_loader);
  ts_model_free (s->model);
  ts_datablock_free (s->db);
  if (s->be)
    ts_backend_free (s->be);
  memset (s, 0, sizeof *s);
}

/* --- model files --- */

const char *
cli_aug_name (ts_aug_preset aug)
{
  return aug == TS_AUG_NONE ? "none" : aug == TS_AUG_FLIP ? "flip" : "fastai";
}

ts_status
cli_save_model (const char *path, const cli_session *s, const cli_train_opts *o,
                double best_thresh, const float *class_thresh)
{
  ts_modelfile_meta meta = { 0 };
  ts_strbuf recipe = { 0 };
  ts_status st;

  meta.vocab = s->db->vocab;
  meta.n_vocab = s->db->n_vocab;
  meta.input_height = meta.input_width = o->size;
  meta.norm = s->norm;
  meta.threshold = (float) o->thresh;
  if (best_thresh >= 0.0)
    {
      meta.has_best_threshold = 1;
      meta.best_threshold = (float) best_thresh;
    }
  meta.class_thresholds = (float *) class_thresh;
  ts_strbuf_printf (&recipe,
                    "{\"fine_tune\": {\"epochs\": %d, \"base_lr\": %.6g, \"freeze_epochs\": %d}, "
                    "\"arch\": \"%s\", \"bs\": %d, \"size\": %d, \"min_scale\": %.6g, "
                    "\"aug\": \"%s\", \"seed\": %llu, ",
                    o->epochs, o->lr, o->freeze_epochs, o->arch, o->bs, o->size, o->min_scale,
                    cli_aug_name (o->aug), o->seed);
  ts_strbuf_append (&recipe, "\"pretrained\": ", 14);
  if (o->pretrained)
    ts_strbuf_json_string (&recipe, o->pretrained);
  else
    ts_strbuf_append (&recipe, "null", 4);
  ts_strbuf_printf (&recipe, ", \"valid_transform\": {\"resize\": \"squish\", \"size\": %d, "
                    "\"centre_crop\": %d}}", o->size + ts_tfm_val_xtra (o->size), o->size);
  if (recipe.failed)
    st = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
  else
    {
      meta.recipe_json = recipe.data;
      st = ts_modelfile_save (path, s->model, &meta);
    }
  ts_strbuf_clear (&recipe);
  return st;
}
