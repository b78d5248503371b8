/* ts-preds.c: predictions over a CSV from a model file (see ts-preds.h). */
#include "ts-preds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ts-loader.h"

void
ts_preds_clear (ts_preds *p)
{
  free (p->items);
  free (p->probs);
  free (p->targets);
  memset (p, 0, sizeof *p);
}

/* The model's class of each of the CSV's classes, -1 for those it lacks. */
static int *
vocab_map (const ts_modelfile_meta *meta, const ts_datablock *db, int *n_unknown)
{
  int *map = malloc ((size_t) (db->n_vocab + 1) * sizeof (int));

  *n_unknown = 0;
  for (int v = 0; map != NULL && v < db->n_vocab; v++)
    {
      map[v] = -1;
      for (int k = 0; k < meta->n_vocab; k++)
        if (strcmp (db->vocab[v], meta->vocab[k]) == 0)
          map[v] = k;
      *n_unknown += map[v] < 0;
    }
  return map;
}

static void
drain (ts_loader *loader)
{
  ts_batch *b;

  while (ts_loader_next (loader, &b) == TS_OK && b)
    ts_loader_release (loader, b);
}

ts_status
ts_model_get_preds (ts_model *m, const ts_modelfile_meta *meta, const ts_datablock *db,
                    ts_preds_rows rows, int bs, int threads, const volatile int *cancel,
                    ts_preds *out)
{
  const int c = meta->n_vocab, size = meta->input_height;
  ts_loader_config lc;
  ts_loader *loader = NULL;
  ts_datablock all;
  int *all_idx = NULL, *map = NULL, cap;
  ts_tensor *x = NULL;
  float *logits = NULL;
  double loss_sum = 0.0;
  ts_status st = TS_OK;
  ts_batch *b;

  memset (out, 0, sizeof *out);
  out->n_classes = c;
  if (c < 1 || meta->input_height != meta->input_width || bs < 1)
    return ts_error (TS_ERR_INVALID, "get_preds: unsupported model (%d classes, input %dx%d) "
                     "or batch size %d", c, meta->input_width, meta->input_height, bs);
  out->valid_rows = rows == TS_PREDS_VALID || (rows == TS_PREDS_AUTO && db->n_valid > 0);
  if (out->valid_rows && db->n_valid == 0)
    return ts_error (TS_ERR_INVALID, "%s: no validation rows", db->csv_path);
  cap = out->valid_rows ? db->n_valid : db->n_items;
  if (cap == 0)
    return ts_error (TS_ERR_INVALID, "%s: no usable rows", db->csv_path);

  ts_loader_config_init (&lc);
  ts_loader_config_feed (&lc, ts_model_backend (m));
  lc.size = size;
  lc.batch_size = bs;
  lc.n_workers = threads > 0 ? threads : 1;
  memcpy (lc.mean, meta->norm.mean, sizeof lc.mean);
  memcpy (lc.std, meta->norm.std, sizeof lc.std);
  out->items = malloc ((size_t) cap * sizeof (int));
  out->probs = malloc ((size_t) cap * c * sizeof (float));
  out->targets = calloc ((size_t) cap * c, sizeof (float));
  logits = malloc ((size_t) bs * c * sizeof (float));
  map = vocab_map (meta, db, &out->n_unknown_classes);
  x = ts_tensor_new_4d (ts_model_backend (m), bs, 3, size, size);
  if (!out->items || !out->probs || !out->targets || !logits || !map || !x)
    {
      st = ts_error (TS_ERR_NOMEM, "get_preds: out of memory for %d images", cap);
      goto done;
    }
  if (out->valid_rows)
    st = ts_loader_new (db, &lc, 1, &loader);
  else
    {
      /* every item with the validation transform: a copy of the datablock
       * whose validation list is all of them (the loader keeps the copy) */
      if ((all_idx = malloc ((size_t) db->n_items * sizeof (int))) == NULL)
        {
          st = ts_error (TS_ERR_NOMEM, "get_preds: out of memory for %d images", cap);
          goto done;
        }
      for (int i = 0; i < db->n_items; i++)
        all_idx[i] = i;
      all = *db;
      all.valid_idx = all_idx;
      all.n_valid = db->n_items;
      st = ts_loader_new (&all, &lc, 1, &loader);
    }
  if (st != TS_OK
      || (st = ts_model_prepare (m, bs, size, size)) != TS_OK
      || (st = ts_loader_start_epoch (loader, 0)) != TS_OK)
    goto done;
  while ((st = ts_loader_next (loader, &b)) == TS_OK && b)
    {
      ts_tensor xv = *x, *y;

      if (cancel != NULL && *cancel)
        {
          ts_loader_release (loader, b);
          drain (loader);
          st = ts_error (TS_ERR_CANCELLED, "get_preds cancelled after %d images", out->n);
          break;
        }
      /* a view of the first b->n rows: the last batch may be short */
      xv.shape[0] = b->n;
      xv.numel = (int64_t) b->n * 3 * size * size;
      xv.owns_data = 0;
      if ((st = ts_batch_to_tensor (b, &xv)) == TS_OK
          && (st = ts_model_forward (m, &xv, 0, &y)) == TS_OK)
        st = ts_tensor_to_host (y, logits, (int64_t) b->n * c);
      for (int r = 0; r < b->n && st == TS_OK && out->n < cap; r++, out->n++)
        {
          const ts_item *it = &db->items[b->items[r]];
          float *t = out->targets + (size_t) out->n * c;

          out->items[out->n] = b->items[r];
          for (int l = 0; l < it->n_labels; l++)
            if (map[it->labels[l]] >= 0)
              t[map[it->labels[l]]] = 1.0f;
            else
              out->n_unmatched_labels++;
          for (int k = 0; k < c; k++)
            {
              double z = logits[r * c + k];

              out->probs[(size_t) out->n * c + k] = (float) (1.0 / (1.0 + exp (-z)));
              /* BCEWithLogits, the stable form */
              loss_sum += fmax (z, 0.0) - z * t[k] + log1p (exp (-fabs (z)));
            }
        }
      if (st != TS_OK)
        {
          /* a failed step's upload may still be reading the batch */
          ts_backend *be = ts_model_backend (m);
          be->i->synchronize (be);
        }
      ts_loader_release (loader, b);
      if (st != TS_OK)
        {
          drain (loader);
          break;
        }
    }
  out->loss = out->n ? loss_sum / ((double) out->n * c) : NAN;
  if (loader != NULL)
    {
      const char *msg = ts_loader_skip_message (loader);

      out->n_skipped = ts_loader_n_skipped (loader);
      strncpy (out->skip_message, msg ? msg : "", sizeof out->skip_message - 1);
    }
  if (st == TS_OK && out->n == 0)
    st = out->skip_message[0]
           ? ts_error (TS_ERR_INVALID, "%s: no image could be read: %s", db->csv_path,
                       out->skip_message)
           : ts_error (TS_ERR_INVALID, "%s: no image could be read", db->csv_path);

done:
  ts_loader_free (loader);
  free (all_idx);
  ts_tensor_free (x);
  free (logits);
  free (map);
  return st;
}
