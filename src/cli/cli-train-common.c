/* cli-train-common.c: options, session set-up and model files for the
 * training subcommands. */
#include "cli-train-common.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts-safetensors.h"

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
           "  --pretrained FILE   body weights (.safetensors)\n"
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
  static const ts_normalization imagenet = { { 0.485f, 0.456f, 0.406f },
                                             { 0.229f, 0.224f, 0.225f } };
  ts_datablock_config dbc;
  ts_loader_config lc;
  ts_model_config mc;
  ts_learner_config lrc;
  ts_status st;
  int threads = o->threads > 0 ? o->threads : n_cores ();

  memset (s, 0, sizeof *s);
  s->norm = imagenet;
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

  mc.arch = o->arch;
  mc.n_classes = s->db->n_vocab;
  mc.head = TS_HEAD_FASTAI;
  mc.seed = o->seed;
  if ((st = ts_model_new (s->be, &mc, &s->model)) != TS_OK)
    return st;
  if (o->pretrained)
    {
      int n;
      size_t len = strlen (o->pretrained);
      if (len > 7 && strcmp (o->pretrained + len - 7, ".tflite") == 0)
        return ts_error (TS_ERR_UNSUPPORTED, "%s: TFLite weights are not readable by this "
                         "build yet; use a .safetensors file", o->pretrained);
      if ((st = cli_load_weights (o->pretrained, s->model, 1, &n)) != TS_OK)
        return st;
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

static char *
json_string_array (char **v, int n)
{
  size_t len = 3;
  char *out, *p;

  for (int i = 0; i < n; i++)
    len += 2 * strlen (v[i]) + 4;
  out = p = malloc (len);
  if (!out)
    return NULL;
  *p++ = '[';
  for (int i = 0; i < n; i++)
    {
      if (i)
        *p++ = ',';
      *p++ = '"';
      for (const char *c = v[i]; *c; c++)
        {
          if (*c == '"' || *c == '\\')
            *p++ = '\\';
          *p++ = *c;
        }
      *p++ = '"';
    }
  *p++ = ']';
  *p = '\0';
  return out;
}

ts_status
cli_save_model (const char *path, ts_model *m, const ts_datablock *db, const cli_train_opts *o,
                const ts_normalization *norm, double best_thresh)
{
  int np = ts_model_n_params (m), nb = ts_model_n_buffers (m), n = np + nb;
  ts_st_tensor *tensors = calloc ((size_t) n + 1, sizeof *tensors);
  float **host = calloc ((size_t) n + 1, sizeof *host);
  char size_s[32], thresh_s[32], best_s[32], ncls_s[32], normbuf[256], recipe[512];
  char *vocab = json_string_array (db->vocab, db->n_vocab);
  const char *meta[2 * 10];
  ts_status st = TS_OK;

  if (!tensors || !host || !vocab)
    {
      st = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
      goto out;
    }
  for (int i = 0; i < n; i++)
    {
      ts_tensor *t = i < np ? ts_model_param (m, i)->value : ts_model_buffer (m, i - np)->value;
      host[i] = malloc ((size_t) t->numel * sizeof (float));
      if (!host[i])
        {
          st = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
          goto out;
        }
      if ((st = ts_tensor_to_host (t, host[i], t->numel)) != TS_OK)
        goto out;
      tensors[i].name = i < np ? ts_model_param (m, i)->name : ts_model_buffer (m, i - np)->name;
      tensors[i].ndim = t->ndim;
      tensors[i].shape = t->shape;
      tensors[i].data = host[i];
    }
  snprintf (size_s, sizeof size_s, "%d", o->size);
  snprintf (thresh_s, sizeof thresh_s, "%.6g", o->thresh);
  snprintf (best_s, sizeof best_s, "%.6g", best_thresh);
  snprintf (ncls_s, sizeof ncls_s, "%d", db->n_vocab);
  snprintf (normbuf, sizeof normbuf, "{\"mean\":[%.6g,%.6g,%.6g],\"std\":[%.6g,%.6g,%.6g]}",
            norm->mean[0], norm->mean[1], norm->mean[2], norm->std[0], norm->std[1],
            norm->std[2]);
  snprintf (recipe, sizeof recipe,
            "{\"fine_tune\":{\"epochs\":%d,\"base_lr\":%.6g,\"freeze_epochs\":%d},"
            "\"bs\":%d,\"size\":%d,\"min_scale\":%.6g,\"aug\":\"%s\",\"seed\":%llu,"
            "\"valid_transform\":\"squish to size+val_xtra, centre crop\"}",
            o->epochs, o->lr, o->freeze_epochs, o->bs, o->size, o->min_scale,
            o->aug == TS_AUG_NONE ? "none" : o->aug == TS_AUG_FLIP ? "flip" : "fastai", o->seed);
  {
    const char *kv[] = {
      "format", "tagsight-model", "format_version", "1", "arch", ts_model_arch (m),
      "n_classes", ncls_s, "vocab", vocab, "input_size", size_s, "normalization", normbuf,
      "threshold", thresh_s, "best_threshold", best_s, "recipe", recipe,
    };
    memcpy (meta, kv, sizeof kv);
  }
  st = ts_safetensors_write (path, tensors, n, meta, 10);

out:
  if (host)
    for (int i = 0; i < n; i++)
      free (host[i]);
  free (host);
  free (tensors);
  free (vocab);
  return st;
}

ts_status
cli_load_weights (const char *path, ts_model *m, int body_only, int *n_loaded)
{
  ts_safetensors *f;
  ts_status st;
  int np = ts_model_n_params (m), n = np + ts_model_n_buffers (m), loaded = 0;

  *n_loaded = 0;
  if ((st = ts_safetensors_open (path, &f)) != TS_OK)
    return st;
  for (int i = 0; i < n; i++)
    {
      const char *name = i < np ? ts_model_param (m, i)->name
                                : ts_model_buffer (m, i - np)->name;
      ts_tensor *t = i < np ? ts_model_param (m, i)->value : ts_model_buffer (m, i - np)->value;
      const ts_st_entry *e = ts_safetensors_find (f, name);
      float *tmp;
      char buf[64];

      int is_body = strncmp (name, "0.", 2) == 0;

      if (body_only && !is_body)
        continue;
      if (!e && is_body)
        e = ts_safetensors_find (f, name + 2);   /* torchvision's names for the body */
      if (!e)
        {
          ts_safetensors_free (f);
          return ts_error (TS_ERR_SHAPE, "%s: no tensor %s for the %s model", path,
                           name, ts_model_arch (m));
        }
      if (e->numel != t->numel)
        {
          ts_safetensors_free (f);
          return ts_error (TS_ERR_SHAPE, "%s: tensor %s: expected %s, found %lld values", path,
                           name, ts_tensor_shape_str (t, buf, sizeof buf),
                           (long long) e->numel);
        }
      tmp = malloc ((size_t) t->numel * sizeof (float));
      if (!tmp)
        {
          ts_safetensors_free (f);
          return ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
        }
      if ((st = ts_safetensors_read_f32 (f, e, tmp, t->numel)) == TS_OK)
        st = ts_tensor_from_host (t, tmp, t->numel);
      free (tmp);
      if (st != TS_OK)
        {
          ts_safetensors_free (f);
          return st;
        }
      loaded++;
    }
  ts_safetensors_free (f);
  *n_loaded = loaded;
  return TS_OK;
}
