/* ts-session.c: session set-up, model files and single-image prediction
 * (see ts-session.h). */
#include "ts-session.h"

#include "ts-backend-select.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ts-image.h"
#include "ts-json.h"
#include "ts-transform.h"
#include "ts-weights.h"

void
ts_session_config_init (ts_session_config *cfg)
{
  memset (cfg, 0, sizeof *cfg);
  cfg->arch = "resnet34";
  cfg->epochs = 3;
  cfg->freeze_epochs = 4;
  cfg->lr = 3e-3;
  cfg->bs = 64;
  cfg->size = 128;
  cfg->min_scale = 0.35;
  cfg->aug = TS_AUG_FASTAI;
  cfg->thresh = 0.2;
  cfg->threads = 0;
  cfg->valid_workers = 1;
  cfg->seed = 42;
}

const char *
ts_aug_preset_name (ts_aug_preset aug)
{
  return aug == TS_AUG_NONE ? "none" : aug == TS_AUG_FLIP ? "flip" : "fastai";
}

static int
n_cores (void)
{
  long n = sysconf (_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int) n : 1;
}

/* A model file trained on other classes cannot be evaluated on this CSV:
 * its outputs would be read against the wrong columns.  The counts stand in
 * parentheses because ts_error's formats have no plural forms ("1 classes"). */
static ts_status
check_vocab (const ts_session_config *cfg, const ts_modelfile_meta *meta, const ts_datablock *db)
{
  if (meta->n_vocab != db->n_vocab)
    return ts_error (TS_ERR_INVALID, "%s: the model's number of classes (%d) differs from "
                     "%s's (%d)", cfg->model_file, meta->n_vocab, cfg->csv, db->n_vocab);
  for (int k = 0; k < db->n_vocab; k++)
    if (strcmp (meta->vocab[k], db->vocab[k]) != 0)
      return ts_error (TS_ERR_INVALID, "%s: class %d is '%s' in the model but '%s' in %s",
                       cfg->model_file, k, meta->vocab[k], db->vocab[k], cfg->csv);
  return TS_OK;
}

static ts_status
set_precision (const ts_session_config *cfg, ts_session *s)
{
  /* only a backend that has no bf16 at all falls back: a GPU that refuses
   * it (no cuDNN) says why, rather than training in float32 unasked */
  if (cfg->precision == TS_PRECISION_BF16 && cfg->precision_fallback
      && s->be->i->bf16_ready == NULL)
    return TS_OK;   /* float32, the model's own */
  return ts_model_set_precision (s->model, cfg->precision);
}

static ts_status
build_model (const ts_session_config *cfg, ts_session *s)
{
  ts_model_config mc;
  ts_status st;

  if (cfg->model_file)
    {
      ts_modelfile_meta meta = { 0 };

      if ((st = ts_modelfile_load (cfg->model_file, s->be, &s->model, &meta)) != TS_OK)
        return st;
      st = check_vocab (cfg, &meta, s->db);
      if (st == TS_OK && meta.input_height != meta.input_width)
        st = ts_error (TS_ERR_INVALID, "%s: non-square input %dx%d is not supported",
                       cfg->model_file, meta.input_height, meta.input_width);
      s->norm = meta.norm;
      s->size = meta.input_height;
      ts_modelfile_meta_clear (&meta);
      s->arch = strdup (ts_model_arch (s->model));
      if (st == TS_OK)
        st = set_precision (cfg, s);
      return st != TS_OK ? st : s->arch ? TS_OK : ts_error (TS_ERR_NOMEM, "out of memory");
    }

  /* TFLite MobileNetV2 carries batch norm folded: the architecture follows the file */
  mc.arch = cfg->pretrained ? ts_pretrained_arch (cfg->arch, cfg->pretrained) : cfg->arch;
  mc.n_classes = s->db->n_vocab;
  mc.head = TS_HEAD_FASTAI;
  mc.seed = cfg->seed;
  if (!(s->arch = strdup (mc.arch)))
    return ts_error (TS_ERR_NOMEM, "out of memory");
  if ((st = ts_model_new (s->be, &mc, &s->model)) != TS_OK
      || (st = set_precision (cfg, s)) != TS_OK)
    return st;
  /* the weights' own input statistics, e.g. (p - 128) / 128 for a uint8 TFLite */
  if (cfg->pretrained
      && (st = (cfg->load_pretrained ? cfg->load_pretrained : ts_model_load_pretrained) (
            s->model, cfg->pretrained, &s->norm)) != TS_OK)
    return st;
  return TS_OK;
}

ts_status
ts_session_open (const ts_session_config *cfg, ts_session *s)
{
  ts_datablock_config dbc;
  ts_loader_config lc;
  ts_learner_config lrc;
  ts_status st;
  int threads = cfg->threads > 0 ? cfg->threads : n_cores ();

  memset (s, 0, sizeof *s);
  s->cfg = *cfg;
  s->norm = ts_normalization_imagenet ();
  s->size = cfg->size;
  if (!cfg->csv)
    return ts_error (TS_ERR_INVALID, "no CSV given");
  if (cfg->bs < 1 || cfg->size < 8 || cfg->epochs < 0 || cfg->freeze_epochs < 0
      || !(cfg->lr > 0.0) || !(cfg->min_scale > 0.0 && cfg->min_scale <= 1.0)
      || !(cfg->thresh >= 0.0 && cfg->thresh <= 1.0))
    return ts_error (TS_ERR_INVALID, "%s: bad training settings (batch size %d, size %d, "
                     "epochs %d + %d frozen, lr %g, min_scale %g, threshold %g)", cfg->csv,
                     cfg->bs, cfg->size, cfg->epochs, cfg->freeze_epochs, cfg->lr,
                     cfg->min_scale, cfg->thresh);
  if (cfg->datablock)
    dbc = *cfg->datablock;
  else
    ts_datablock_config_init (&dbc);
  dbc.seed = cfg->seed;
  if ((st = ts_datablock_load (cfg->csv, &dbc, &s->db)) != TS_OK)
    return st;
  if (s->db->n_vocab < 1)
    return ts_error (TS_ERR_INVALID, "%s: no labels in the CSV, nothing to learn", cfg->csv);
  /* the counts in parentheses: ts_error's formats have no plural forms */
  if (s->db->n_train == 0)
    return ts_error (TS_ERR_INVALID, "%s: no training images: every usable row (%d) is in the "
                     "validation set (see its split column or valid_pct)", cfg->csv,
                     s->db->n_valid);
  if (s->db->n_train < cfg->bs)
    return ts_error (TS_ERR_INVALID, "%s: fewer training images (%d) than the batch size %d "
                     "(use a smaller batch size)", cfg->csv, s->db->n_train, cfg->bs);

  /* ts_backend_new_by_name records the reason (e.g. "no CUDA device: ...") */
  if (!(s->be = ts_backend_new_by_name (cfg->device, threads, NULL, 0)))
    return TS_ERR_DEVICE;
  if ((st = build_model (cfg, s)) != TS_OK)
    return st;

  ts_loader_config_init (&lc);
  ts_loader_config_feed (&lc, s->be);
  s->device_resample = lc.defer_resample;
  lc.size = s->size;
  lc.min_scale = cfg->min_scale;
  ts_aug_params_preset (&lc.aug, cfg->aug);
  lc.batch_size = cfg->bs;
  lc.n_workers = threads;
  lc.seed = cfg->seed;
  memcpy (lc.mean, s->norm.mean, sizeof lc.mean);
  memcpy (lc.std, s->norm.std, sizeof lc.std);
  if ((st = ts_loader_new (s->db, &lc, 0, &s->train_loader)) != TS_OK)
    return st;
  ts_data_source_from_loader (s->train_loader, &s->train);
  if (s->db->n_valid > 0)
    {
      /* validation decodes a squish + centre crop per image and runs while the
       * model evaluates: one worker keeps up and leaves the cores to the GEMMs */
      lc.n_workers = cfg->valid_workers > 0 ? cfg->valid_workers : 1;
      lc.prefetch = 0;
      if (strcmp (s->be->i->name, "cpu") != 0)
        {
          /* on a GPU the cores only decode: validation gets all of them */
          lc.n_workers = threads;
        }
      if ((st = ts_loader_new (s->db, &lc, 1, &s->valid_loader)) != TS_OK)
        return st;
      ts_data_source_from_loader (s->valid_loader, &s->valid);
    }

  ts_learner_config_init (&lrc);
  lrc.batch_size = cfg->bs;
  lrc.height = lrc.width = s->size;
  lrc.thresh = cfg->thresh;
  return ts_learner_new (s->model, &s->train, s->valid_loader ? &s->valid : NULL, &lrc,
                         &s->learner);
}

void
ts_session_close (ts_session *s)
{
  ts_learner_free (s->learner);
  ts_loader_free (s->train_loader);
  ts_loader_free (s->valid_loader);
  ts_model_free (s->model);
  ts_datablock_free (s->db);
  if (s->be)
    ts_backend_free (s->be);
  free (s->arch);
  memset (s, 0, sizeof *s);
}

const char *
ts_session_describe_device (const ts_session *s, char *buf, size_t len)
{
  size_t used;

  if (len == 0)
    return buf;
  ts_backend_describe (s->be, buf, len);
  used = strlen (buf);
  if (s->model != NULL && ts_model_precision (s->model) == TS_PRECISION_BF16 && used < len)
    snprintf (buf + used, len - used, " (%s)", ts_precision_name (TS_PRECISION_BF16));
  return buf;
}

ts_status
ts_session_save_model (const ts_session *s, const char *path, double best_thresh,
                       const float *class_thresh)
{
  const ts_session_config *o = &s->cfg;
  ts_modelfile_meta meta = { 0 };
  ts_strbuf recipe = { 0 };
  ts_status st;

  meta.vocab = s->db->vocab;
  meta.n_vocab = s->db->n_vocab;
  meta.input_height = meta.input_width = s->size;
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
                    "\"aug\": \"%s\", \"seed\": %llu, \"precision\": \"%s\", ",
                    o->epochs, o->lr, o->freeze_epochs, s->arch, o->bs, s->size, o->min_scale,
                    ts_aug_preset_name (o->aug), o->seed,
                    /* what the run computed in (the weights are float32 either way) */
                    ts_precision_name (ts_model_precision (s->model)));
  ts_strbuf_append (&recipe, "\"pretrained\": ", 14);
  if (o->pretrained && !o->model_file)
    ts_strbuf_json_string (&recipe, o->pretrained);
  else
    ts_strbuf_append (&recipe, "null", 4);
  ts_strbuf_printf (&recipe, ", \"valid_transform\": {\"resize\": \"squish\", \"size\": %d, "
                    "\"centre_crop\": %d}}", s->size + ts_tfm_val_xtra (s->size), s->size);
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

/* --- prediction --- */

ts_status
ts_predictor_open (const char *model_path, int threads, ts_predictor *p)
{
  ts_status st;
  int size;

  memset (p, 0, sizeof *p);
  if ((p->be = ts_backend_cpu_new (threads > 0 ? threads : 1)) == NULL)
    return ts_error (TS_ERR_NOMEM, "could not start the CPU backend");
  if ((st = ts_modelfile_load (model_path, p->be, &p->model, &p->meta)) != TS_OK)
    return st;
  if (p->meta.input_height != p->meta.input_width)
    return ts_error (TS_ERR_INVALID, "%s: non-square input %dx%d is not supported",
                     model_path, p->meta.input_height, p->meta.input_width);
  size = p->meta.input_height;
  if ((st = ts_model_prepare (p->model, 1, size, size)) != TS_OK)
    return st;
  ts_loader_config_init (&p->lc);
  p->lc.size = size;
  memcpy (p->lc.mean, p->meta.norm.mean, sizeof p->lc.mean);
  memcpy (p->lc.std, p->meta.norm.std, sizeof p->lc.std);
  p->x = ts_tensor_new_4d (p->be, 1, 3, size, size);
  p->hx = malloc ((size_t) 3 * size * size * sizeof (float));
  if (!p->x || !p->hx)
    return ts_error (TS_ERR_NOMEM, "%s: out of memory", model_path);
  return TS_OK;
}

ts_status
ts_predictor_run (ts_predictor *p, const char *image_path, float *probs)
{
  ts_image img = { 0 };
  ts_tensor *logits;
  ts_status st;
  int n = p->meta.n_vocab;

  if ((st = ts_image_load (image_path, ts_tfm_decode_min_side (&p->lc, 1), 0, &img)) != TS_OK)
    return st;
  ts_tfm_item (&img, &p->lc, 1, NULL, p->hx);
  ts_image_clear (&img);
  if ((st = ts_tensor_from_host (p->x, p->hx, p->x->numel)) != TS_OK)
    return st;
  if ((st = ts_model_forward (p->model, p->x, 0, &logits)) != TS_OK)
    return ts_error (st, "%s: %s", image_path, ts_last_error ());
  if ((st = ts_tensor_to_host (logits, probs, n)) != TS_OK)
    return st;
  for (int k = 0; k < n; k++)
    probs[k] = 1.0f / (1.0f + expf (-probs[k]));
  return TS_OK;
}

void
ts_predictor_close (ts_predictor *p)
{
  free (p->hx);
  ts_tensor_free (p->x);
  ts_model_free (p->model);
  ts_modelfile_meta_clear (&p->meta);
  if (p->be)
    ts_backend_free (p->be);
  memset (p, 0, sizeof *p);
}
