/* ts-model.c: model registry, parameters, freezing, and running the node
 * list built by the architectures (prepare / forward / backward). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts-model-private.h"

#define BE(m) ((m)->be->i)

static const struct {
  const char *arch;
  int original_classes;
} archs[] = {
  { "resnet18", 1000 }, { "resnet34", 1000 }, { "resnet50", 1000 },
  { "mobilenet_v2", 1000 }, { "mobilenet_v2_folded", 1001 }, { "tiny", 10 },
};

static void free_activations (ts_model *m);

ts_status
ts_model_new (ts_backend *be, const ts_model_config *cfg, ts_model **out)
{
  ts_builder b = { 0 };
  ts_model *m;
  int known = -1, x, nf = 0, orig;

  *out = NULL;
  if (be == NULL || cfg == NULL || cfg->arch == NULL)
    return ts_error (TS_ERR_INVALID, "model: no backend or architecture");
  for (int i = 0; i < (int) (sizeof archs / sizeof archs[0]); i++)
    if (strcmp (cfg->arch, archs[i].arch) == 0)
      known = i;
  if (known < 0)
    return ts_error (TS_ERR_INVALID, "model: unknown architecture '%s' (resnet18, resnet34, "
                     "resnet50, mobilenet_v2, mobilenet_v2_folded, tiny)", cfg->arch);
  if (cfg->head == TS_HEAD_FASTAI && cfg->n_classes < 1)
    return ts_error (TS_ERR_INVALID, "model: %d classes", cfg->n_classes);
  m = calloc (1, sizeof *m);
  if (m == NULL)
    return ts_error (TS_ERR_NOMEM, "model: out of memory");
  m->be = be;
  snprintf (m->arch, sizeof m->arch, "%s", cfg->arch);
  m->head = cfg->head;
  m->seed = cfg->seed;
  m->n_groups = 3;
  m->dropout_scale = 1.0f;
  orig = cfg->head == TS_HEAD_ORIGINAL
           ? (cfg->n_classes > 0 ? cfg->n_classes : archs[known].original_classes) : 0;
  m->n_classes = cfg->head == TS_HEAD_ORIGINAL ? orig : cfg->n_classes;

  b.m = m;
  b.prefix = cfg->head == TS_HEAD_FASTAI ? "0." : "";
  x = ts_b_input (&b);
  if (strncmp (cfg->arch, "resnet", 6) == 0)
    x = ts_build_resnet (&b, x, atoi (cfg->arch + 6), orig, &nf);
  else if (strncmp (cfg->arch, "mobilenet_v2", 12) == 0)
    x = ts_build_mobilenet_v2 (&b, x, strcmp (cfg->arch, "mobilenet_v2_folded") == 0, orig, &nf);
  else
    x = ts_build_tiny (&b, x, orig, &nf);
  if (cfg->head == TS_HEAD_FASTAI)
    x = ts_build_fastai_head (&b, x, nf, cfg->n_classes);
  if (b.status != TS_OK || x < 0)
    {
      ts_status s = b.status != TS_OK ? b.status
                                      : ts_error (TS_ERR_INVALID, "model: %s: build failed",
                                                  cfg->arch);
      ts_model_free (m);
      return s;
    }
  m->out = x;
  *out = m;
  return TS_OK;
}

void
ts_model_free (ts_model *m)
{
  if (m == NULL)
    return;
  free_activations (m);
  for (int i = 0; i < m->n_params; i++)
    {
      free ((char *) m->params[i].name);
      ts_tensor_free (m->params[i].value);
      ts_tensor_free (m->params[i].grad);
    }
  for (int i = 0; i < m->n_buffers; i++)
    {
      free ((char *) m->buffers[i].name);
      ts_tensor_free (m->buffers[i].value);
    }
  free (m->params);
  free (m->buffers);
  free (m->nodes);
  free (m->values);
  free (m->prof);
  free (m);
}

const char *ts_model_arch (const ts_model *m) { return m->arch; }
int ts_model_n_classes (const ts_model *m) { return m->n_classes; }
int ts_model_n_groups (const ts_model *m) { return m->n_groups; }
int ts_model_n_params (const ts_model *m) { return m->n_params; }
int ts_model_n_buffers (const ts_model *m) { return m->n_buffers; }
ts_head_kind ts_model_head (const ts_model *m) { return m->head; }
ts_backend *ts_model_backend (const ts_model *m) { return m->be; }
ts_precision ts_model_precision (const ts_model *m) { return m->precision; }

const char *
ts_precision_name (ts_precision precision)
{
  return precision == TS_PRECISION_BF16 ? "bf16" : "fp32";
}

int
ts_precision_from_name (const char *name)
{
  if (name && (strcmp (name, "fp32") == 0 || strcmp (name, "f32") == 0))
    return TS_PRECISION_F32;
  if (name && strcmp (name, "bf16") == 0)
    return TS_PRECISION_BF16;
  return -1;
}

ts_status
ts_model_set_precision (ts_model *m, ts_precision precision)
{
  if (precision == TS_PRECISION_BF16 && m->be->i->bf16_ready == NULL)
    return ts_error (TS_ERR_UNSUPPORTED, "model %s: bf16 precision needs a CUDA device (the %s "
                     "backend computes in float32); use fp32", m->arch, m->be->i->name);
  /* bf16_ready: the backend can run every bf16 op the model sends, any
   * convolution padding included (TensorFlow's asymmetric SAME padding
   * runs on a zero-padded copy of x in the CUDA backend) */
  if (precision == TS_PRECISION_BF16 && !m->be->i->bf16_ready (m->be))
    return ts_error_prefix (TS_ERR_UNSUPPORTED, "model %s", m->arch);
  if (precision != m->precision)
    free_activations (m);
  m->precision = precision;
  return TS_OK;
}

ts_param *
ts_model_param (ts_model *m, int i)
{
  return i >= 0 && i < m->n_params ? &m->params[i] : NULL;
}

ts_buffer *
ts_model_buffer (ts_model *m, int i)
{
  return i >= 0 && i < m->n_buffers ? &m->buffers[i] : NULL;
}

ts_tensor *
ts_model_find_tensor (ts_model *m, const char *name)
{
  for (int i = 0; i < m->n_params; i++)
    if (strcmp (m->params[i].name, name) == 0)
      return m->params[i].value;
  for (int i = 0; i < m->n_buffers; i++)
    if (strcmp (m->buffers[i].name, name) == 0)
      return m->buffers[i].value;
  return NULL;
}

void
ts_model_set_dropout (ts_model *m, float scale)
{
  m->dropout_scale = scale;
}

void
ts_model_freeze_to (ts_model *m, int n)
{
  if (n < 0)
    n += m->n_groups;
  for (int i = 0; i < m->n_params; i++)
    m->params[i].trainable = m->params[i].group >= n || m->params[i].kind == TS_PARAM_BN;
}

void
ts_model_unfreeze (ts_model *m)
{
  ts_model_freeze_to (m, 0);
}

int64_t
ts_model_count (const ts_model *m, int trainable_only)
{
  int64_t n = 0;
  for (int i = 0; i < m->n_params; i++)
    if (!trainable_only || m->params[i].trainable)
      n += m->params[i].value->numel;
  return n;
}

/* ---- activations ---- */

static void
free_activations (ts_model *m)
{
  for (int i = 0; i < m->n_values; i++)
    {
      ts_tensor_free (m->values[i].t);
      ts_tensor_free (m->values[i].g);
      m->values[i].t = m->values[i].g = NULL;
    }
  for (int i = 0; i < m->n_nodes; i++)
    {
      ts_node *n = &m->nodes[i];
      ts_tensor_free (n->save_mean);
      ts_tensor_free (n->save_invstd);
      ts_tensor_free (n->mask);
      ts_tensor_free (n->pmax);
      ts_tensor_free (n->pavg);
      ts_tensor_free (n->gmax);
      ts_tensor_free (n->gavg);
      if (n->argmax)
        BE (m)->free (m->be, n->argmax);
      n->save_mean = n->save_invstd = n->mask = NULL;
      n->pmax = n->pavg = n->gmax = n->gavg = NULL;
      n->argmax = NULL;
    }
  ts_tensor_free (m->scratch);
  m->scratch = NULL;
  ts_tensor_free (m->fold_w);
  ts_tensor_free (m->fold_b);
  ts_tensor_free (m->fold_zero);
  m->fold_w = m->fold_b = m->fold_zero = NULL;
  for (int i = 0; i < m->n_grad_pool; i++)
    ts_tensor_free (m->grad_pool[i]);
  free (m->grad_pool);
  m->grad_pool = NULL;
  m->n_grad_pool = 0;
  free (m->grad_ready);
  free (m->need_grad);
  m->grad_ready = m->need_grad = NULL;
  m->prep_batch = 0;
}

static int64_t
value_numel (const ts_value *v, int batch)
{
  return (int64_t) batch * v->c * (v->h ? (int64_t) v->h * v->w : 1);
}

static void
set_shape (ts_tensor *t, const ts_value *v, int batch)
{
  if (t == NULL)
    return;
  t->ndim = v->h ? 4 : 2;
  t->shape[0] = batch;
  t->shape[1] = v->c;
  t->shape[2] = v->h ? v->h : 1;
  t->shape[3] = v->h ? v->w : 1;
  t->numel = value_numel (v, batch);
}

/* Batch-dependent tensors take the current batch size (B <= prepared). */
static void
set_batch (ts_model *m, int batch)
{
  if (m->cur_batch == batch)
    return;
  for (int i = 0; i < m->n_values; i++)
    {
      set_shape (m->values[i].t, &m->values[i], batch);
      set_shape (m->values[i].g, &m->values[i], batch);
    }
  for (int i = 0; i < m->n_nodes; i++)
    {
      ts_node *n = &m->nodes[i];
      ts_tensor *half[4] = { n->pmax, n->pavg, n->gmax, n->gavg };
      if (n->mask)
        set_shape (n->mask, &m->values[n->out], batch);
      for (int k = 0; k < 4; k++)
        if (half[k])
          {
            half[k]->shape[0] = batch;
            half[k]->numel = (int64_t) batch * half[k]->shape[1];
          }
    }
  m->cur_batch = batch;
}

static ts_status
infer_shapes (ts_model *m, int height, int width)
{
  m->values[0].h = height;
  m->values[0].w = width;
  for (int i = 0; i < m->n_nodes; i++)
    {
      ts_node *n = &m->nodes[i];
      ts_value *in = &m->values[n->in], *out = &m->values[n->out];
      int h = in->h, w = in->w;

      switch (n->kind)
        {
        case TS_NODE_CONV:
          {
            ts_conv2d_params *p = &n->conv;
            if (n->tf_same)
              {
                int oh = (h + p->stride_h - 1) / p->stride_h;
                int ow = (w + p->stride_w - 1) / p->stride_w;
                int th = (oh - 1) * p->stride_h + n->kh - h;
                int tw = (ow - 1) * p->stride_w + n->kw - w;
                th = th > 0 ? th : 0;
                tw = tw > 0 ? tw : 0;
                p->pad_top = th / 2;
                p->pad_bottom = th - th / 2;
                p->pad_left = tw / 2;
                p->pad_right = tw - tw / 2;
              }
            out->h = (h + p->pad_top + p->pad_bottom - n->kh) / p->stride_h + 1;
            out->w = (w + p->pad_left + p->pad_right - n->kw) / p->stride_w + 1;
            if (h + p->pad_top + p->pad_bottom < n->kh || w + p->pad_left + p->pad_right < n->kw)
              return ts_error (TS_ERR_SHAPE, "model %s: input %dx%d is too small (conv %s)",
                               m->arch, height, width, m->params[n->w].name);
            break;
          }
        case TS_NODE_MAXPOOL:
          out->h = (h + 2 * n->pool.pad_h - n->pool.kernel_h) / n->pool.stride_h + 1;
          out->w = (w + 2 * n->pool.pad_w - n->pool.kernel_w) / n->pool.stride_w + 1;
          if (out->h < 1 || out->w < 1)
            return ts_error (TS_ERR_SHAPE, "model %s: input %dx%d is too small (max pool)",
                             m->arch, height, width);
          break;
        case TS_NODE_ADD:
          if (m->values[n->in2].h != h || m->values[n->in2].w != w)
            return ts_error (TS_ERR_SHAPE, "model %s: residual shapes differ", m->arch);
          out->h = h;
          out->w = w;
          break;
        case TS_NODE_AVGPOOL:
        case TS_NODE_CONCATPOOL:
          out->h = out->w = 1;
          break;
        case TS_NODE_FLATTEN:
        case TS_NODE_LINEAR:
          out->h = out->w = 0;
          break;
        case TS_NODE_BN:
        case TS_NODE_ACT:
        case TS_NODE_DROPOUT:
          out->h = h;
          out->w = w;
          break;
        }
    }
  return TS_OK;
}

/* Under the bf16 policy the body's values (the input and everything a conv,
 * batch norm, activation, max pool or residual add makes of it) are bfloat16
 * NHWC; the pools that end the body write the head's float32, and whatever
 * is made from them stays float32.  One pass in node order (the list is
 * built in that order), after infer_shapes. */
static void
mark_body (ts_model *m)
{
  int bf16 = m->precision == TS_PRECISION_BF16;

  for (int v = 0; v < m->n_values; v++)
    m->values[v].body = 0;
  m->values[0].body = bf16;
  for (int i = 0; i < m->n_nodes; i++)
    {
      const ts_node *n = &m->nodes[i];
      m->values[n->out].body = bf16 && m->values[n->out].h != 0
                               && n->kind != TS_NODE_AVGPOOL && n->kind != TS_NODE_CONCATPOOL
                               && m->values[n->in].body
                               && (n->in2 < 0 || m->values[n->in2].body);
    }
}

static int
value_is_body (const ts_model *m, int vi)
{
  return m->values[vi].body;
}

/* Floats of memory value @vi's tensor takes at @batch. */
static int64_t
value_floats (const ts_model *m, int vi, int batch)
{
  int64_t n = value_numel (&m->values[vi], batch);
  return value_is_body (m, vi) ? (n + 1) / 2 : n;
}

static ts_tensor *
new_value_tensor (ts_model *m, int vi, int batch, float *share)
{
  const ts_value *v = &m->values[vi];
  int64_t shape[4] = { batch, v->c, v->h ? v->h : 1, v->h ? v->w : 1 };
  int ndim = v->h ? 4 : 2, body = value_is_body (m, vi);
  ts_dtype dtype = body ? TS_BF16 : TS_F32;
  ts_layout layout = body ? TS_NHWC : TS_NCHW;
  ts_tensor *t;

  if (!share)
    return ts_tensor_new_as (m->be, ndim, shape, dtype, layout);
  t = ts_tensor_view (m->be, share, ndim, shape);
  if (t)
    {
      t->dtype = dtype;
      t->layout = layout;
    }
  return t;
}

static int
alias_root (const ts_model *m, int v)
{
  while (m->values[v].alias >= 0)
    v = m->values[v].alias;
  return v;
}

/* Activation gradients live only during part of backward: the gradient of
 * value v (with its in-place aliases) from the backward of its last consumer
 * down to the backward of its producer.  Values whose lives do not overlap
 * share a buffer, which cuts gradient memory to a few activations' worth.
 * Writes each root value's pool slot into @slot; sizes into m->grad_pool
 * (allocated here). */
static ts_status
plan_grad_pool (ts_model *m, int batch, int *slot)
{
  int nv = m->n_values, nb = 0, *first = calloc ((size_t) nv + 1, sizeof (int));
  int *last = calloc ((size_t) nv + 1, sizeof (int));
  int *order = calloc ((size_t) nv + 1, sizeof (int));
  int64_t *size = calloc ((size_t) nv + 1, sizeof (int64_t));
  int *busy_until = calloc ((size_t) nv + 1, sizeof (int)), n_order = 0;
  ts_status s = TS_OK;

  if (!first || !last || !order || !size || !busy_until)
    {
      s = ts_error (TS_ERR_NOMEM, "model: out of memory");
      goto done;
    }
  /* in node indices: first = producer (end of life in backward), last = last consumer */
  for (int v = 0; v < nv; v++)
    {
      first[v] = nv + m->n_nodes;
      last[v] = -1;
      slot[v] = -1;
    }
  for (int i = 0; i < m->n_nodes; i++)
    {
      const ts_node *n = &m->nodes[i];
      int ro = alias_root (m, n->out), ri = alias_root (m, n->in);
      if (i < first[ro])
        first[ro] = i;
      if (i > last[ro])
        last[ro] = i;
      if (i > last[ri])
        last[ri] = i;
      if (n->in2 >= 0 && i > last[alias_root (m, n->in2)])
        last[alias_root (m, n->in2)] = i;
    }
  last[alias_root (m, m->out)] = m->n_nodes;   /* written before the first node's backward */
  for (int v = 1; v < nv; v++)
    if (m->values[v].alias < 0)
      order[n_order++] = v;
  /* backward visits lives by decreasing last consumer */
  for (int a = 1; a < n_order; a++)
    for (int b = a; b > 0 && last[order[b]] > last[order[b - 1]]; b--)
      {
        int t = order[b];
        order[b] = order[b - 1];
        order[b - 1] = t;
      }
  for (int k = 0; k < n_order; k++)
    {
      int v = order[k], best = -1;
      int64_t need = value_floats (m, v, batch);
      /* a buffer is free when its last owner died (producer's backward) before v is born */
      for (int b = 0; b < nb; b++)
        if (busy_until[b] > last[v] &&
            (best < 0 || (size[b] >= need ? (size[best] < need || size[b] < size[best])
                                          : (size[best] < need && size[b] > size[best]))))
          best = b;
      if (best < 0)
        best = nb++;
      if (size[best] < need)
        size[best] = need;
      busy_until[best] = first[v];
      slot[v] = best;
    }
  m->grad_pool = calloc ((size_t) nb + 1, sizeof (ts_tensor *));
  if (m->grad_pool == NULL)
    {
      s = ts_error (TS_ERR_NOMEM, "model: out of memory");
      goto done;
    }
  for (int b = 0; b < nb; b++)
    {
      m->grad_pool[b] = ts_tensor_new_1d (m->be, size[b]);
      if (m->grad_pool[b] == NULL)
        {
          s = ts_error (TS_ERR_NOMEM, "model: out of memory for gradients");
          break;
        }
      m->n_grad_pool = b + 1;
    }
done:
  free (first);
  free (last);
  free (order);
  free (size);
  free (busy_until);
  return s;
}

/* Node i is a conv whose output only feeds the batch norm at node i + 1: in
 * eval mode the pair runs as one conv with the norm folded into its weights. */
static int
bn_foldable (const ts_model *m, int i)
{
  const ts_node *c = &m->nodes[i], *n = &m->nodes[i + 1];
  /* bf16: the folded weights would be rounded twice (folded, then converted
   * for the tensor cores); the pair runs as two ops */
  return m->precision == TS_PRECISION_F32 && c->kind == TS_NODE_CONV && n->kind == TS_NODE_BN && n->in == c->out
         && m->values[c->out].consumers == 1 && m->values[c->out].h > 0;
}

/* A residual add may write its sum over its first input (the block's last
 * batch norm): nothing else reads that value, and neither the add's backward
 * nor the producer's needs it, so the add's output and gradient share its
 * memory, saving one activation per block and the copy of dy in backward. */
static int
add_in_place_ok (const ts_model *m, int in)
{
  if (in == 0 || m->values[in].consumers != 1 || m->values[in].alias >= 0)
    return 0;
  for (int i = 0; i < m->n_nodes; i++)
    if (m->nodes[i].out == in)
      return m->nodes[i].kind == TS_NODE_BN || m->nodes[i].kind == TS_NODE_CONV;
  return 0;
}

ts_status
ts_model_prepare (ts_model *m, int batch, int height, int width)
{
  int64_t biggest = 1;
  int *slot = NULL;
  ts_status s;

  if (batch < 1 || height < 1 || width < 1)
    return ts_error (TS_ERR_INVALID, "model: cannot prepare batch %d of %dx%d", batch, height,
                     width);
  if (m->prep_batch >= batch && m->prep_h == height && m->prep_w == width)
    {
      set_batch (m, batch);
      return TS_OK;
    }
  free_activations (m);
  s = infer_shapes (m, height, width);
  if (s != TS_OK)
    return s;
  mark_body (m);

  /* In place where nothing else reads the input: activations after a single
   * consumer (backward needs only their output) and flatten (a reshape). */
  for (int i = 0; i < m->n_values; i++)
    m->values[i].alias = -1;
  for (int i = 0; i < m->n_nodes; i++)
    {
      ts_node *n = &m->nodes[i];
      if (n->kind == TS_NODE_FLATTEN ||
          (n->kind == TS_NODE_ACT && n->in != 0 && m->values[n->in].consumers == 1))
        m->values[n->out].alias = n->in;
      else if (n->kind == TS_NODE_ADD && add_in_place_ok (m, n->in))
        m->values[n->out].alias = n->in;
    }

  m->grad_ready = calloc ((size_t) m->n_values + 1, 1);
  m->need_grad = calloc ((size_t) m->n_values + 1, 1);
  slot = calloc ((size_t) m->n_values + 1, sizeof (int));
  if (m->grad_ready == NULL || m->need_grad == NULL || slot == NULL)
    goto oom;
  s = plan_grad_pool (m, batch, slot);
  if (s != TS_OK)
    {
      free (slot);
      free_activations (m);
      return s;
    }
  for (int i = 0; i < m->n_values; i++)
    {
      ts_value *v = &m->values[i];
      if (v->alias >= 0)
        {
          ts_value *a = &m->values[v->alias];
          v->t = new_value_tensor (m, i, batch, a->t->data);
          v->g = new_value_tensor (m, i, batch, a->g->data);
        }
      else
        {
          v->t = new_value_tensor (m, i, batch, NULL);
          v->g = i == 0 ? NULL : new_value_tensor (m, i, batch, m->grad_pool[slot[i]]->data);
        }
      if (v->t == NULL || (i > 0 && v->g == NULL))
        goto oom;
      if (value_floats (m, i, batch) > biggest)
        biggest = value_floats (m, i, batch);
    }
  for (int i = 0; i < m->n_nodes; i++)
    {
      ts_node *n = &m->nodes[i];
      ts_value *in = &m->values[n->in], *out = &m->values[n->out];
      switch (n->kind)
        {
        case TS_NODE_BN:
          n->save_mean = ts_tensor_new_1d (m->be, in->c);
          n->save_invstd = ts_tensor_new_1d (m->be, in->c);
          if (n->save_mean == NULL || n->save_invstd == NULL)
            goto oom;
          break;
        case TS_NODE_MAXPOOL:
          n->argmax = BE (m)->alloc (m->be, (size_t) value_numel (out, batch) * sizeof (int32_t));
          if (n->argmax == NULL)
            goto oom;
          break;
        case TS_NODE_CONCATPOOL:
          n->pmax = ts_tensor_new_4d (m->be, batch, in->c, 1, 1);
          n->pavg = ts_tensor_new_4d (m->be, batch, in->c, 1, 1);
          n->gmax = ts_tensor_new_4d (m->be, batch, in->c, 1, 1);
          n->gavg = ts_tensor_new_4d (m->be, batch, in->c, 1, 1);
          n->argmax = BE (m)->alloc (m->be, (size_t) batch * in->c * sizeof (int32_t));
          if (!n->pmax || !n->pavg || !n->gmax || !n->gavg || !n->argmax)
            goto oom;
          break;
        case TS_NODE_DROPOUT:
          n->mask = new_value_tensor (m, n->out, batch, NULL);
          if (n->mask == NULL)
            goto oom;
          break;
        default:
          break;
        }
    }
  m->scratch = ts_tensor_new_1d (m->be, biggest);
  if (m->scratch == NULL)
    goto oom;
  {
    int64_t wmax = 0, cmax = 0;
    for (int i = 0; i + 1 < m->n_nodes; i++)
      if (bn_foldable (m, i))
        {
          int64_t wn = m->params[m->nodes[i].w].value->numel;
          wmax = wn > wmax ? wn : wmax;
          cmax = m->values[m->nodes[i].out].c > cmax ? m->values[m->nodes[i].out].c : cmax;
        }
    if (wmax > 0)
      {
        m->fold_w = ts_tensor_new_1d (m->be, wmax);
        m->fold_b = ts_tensor_new_1d (m->be, cmax);
        m->fold_zero = ts_tensor_new_1d (m->be, cmax);
        if (m->fold_w == NULL || m->fold_b == NULL || m->fold_zero == NULL)
          goto oom;
      }
  }
  free (slot);
  m->prep_batch = m->cur_batch = batch;
  m->prep_h = height;
  m->prep_w = width;
  return TS_OK;

oom:
  free (slot);
  free_activations (m);
  return ts_error (TS_ERR_NOMEM, "model %s: out of memory for activations (batch %d, %dx%d)",
                   m->arch, batch, height, width);
}

/* ---- forward ---- */

static ts_tensor *P (ts_model *m, int i);
static ts_tensor *B (ts_model *m, int i);

/* Eval-mode conv (node i) + batch norm (node i + 1) as one conv:
 *   W' = W * s,  b' = (b - mean) * s + beta,  s = gamma / sqrt(var + eps),
 * both computed with the backend's own eval batch norm (so a device backend
 * folds on the device too): W viewed as [1, Cout, K, 1] normalised with zero
 * mean and zero shift, and the bias (or zeros) as [1, Cout, 1, 1].  Refolded
 * on every eval forward (about one pass over the weights, ~1% of a batch of
 * 64), so weights changed by training or loading are always picked up. */
static void
fold_conv_bn (ts_model *m, int i, ts_tensor *wout, ts_tensor *bout)
{
  const ts_backend_i *be = BE (m);
  ts_node *c = &m->nodes[i], *n = &m->nodes[i + 1];
  ts_tensor *w = P (m, c->w), *cb = P (m, c->b);
  int64_t cout = w->shape[0], k = w->numel / w->shape[0];
  ts_tensor wv = *w, fw = *m->fold_w, fb = *m->fold_b, bin = *m->fold_zero;
  ts_tensor zero = *m->fold_zero;

  *wout = *w;
  wv.owns_data = fw.owns_data = fb.owns_data = bin.owns_data = zero.owns_data = 0;
  wout->owns_data = 0;
  wv.ndim = fw.ndim = 4;
  wv.shape[0] = fw.shape[0] = 1;
  wv.shape[1] = fw.shape[1] = cout;
  wv.shape[2] = fw.shape[2] = k;
  wv.shape[3] = fw.shape[3] = 1;
  wv.numel = fw.numel = cout * k;
  zero.ndim = 1;
  zero.shape[0] = cout;
  zero.numel = cout;
  fb.ndim = bin.ndim = 4;
  fb.shape[0] = bin.shape[0] = 1;
  fb.shape[1] = bin.shape[1] = cout;
  fb.shape[2] = fb.shape[3] = bin.shape[2] = bin.shape[3] = 1;
  fb.numel = bin.numel = cout;
  if (cb)
    bin.data = cb->data;
  be->batchnorm_forward_eval (m->be, &wv, P (m, n->w), &zero, &zero, B (m, n->rvar), 1e-5f,
                              &fw);
  be->batchnorm_forward_eval (m->be, &bin, P (m, n->w), P (m, n->b), B (m, n->rmean),
                              B (m, n->rvar), 1e-5f, &fb);
  /* the folded weights keep the conv's own shape */
  wout->data = m->fold_w->data;
  *bout = fb;
  bout->ndim = 1;
  bout->shape[0] = cout;
  bout->shape[1] = 1;
}

/* Value @v feeds only node @j, which is the next one: it may be absorbed. */
static int
only_feeds_next (const ts_model *m, int v, int j)
{
  return j < m->n_nodes && v != m->out && m->values[v].consumers == 1
         && (m->nodes[j].in == v || m->nodes[j].in2 == v);
}

/* Training: the batch norm at node @i and the ReLU / ReLU6 after it run as
 * one op when the backend has the fused pair and nothing else reads the
 * normalised values (they are then never written). */
static int
bn_act_fused (const ts_model *m, int i)
{
  const ts_backend_i *be = BE (m);
  const ts_node *a = &m->nodes[i + 1];

  return be->batchnorm_act_forward_train && be->batchnorm_act_backward
         && m->nodes[i].kind == TS_NODE_BN && i + 1 < m->n_nodes && a->kind == TS_NODE_ACT
         && (a->act == TS_ACT_RELU || a->act == TS_ACT_RELU6)
         && only_feeds_next (m, m->nodes[i].out, i + 1);
}

/* The residual add at node @i and the ReLU / ReLU6 after it in one
 * pass when the backend can (the sum is never written; the activation's
 * backward works from its output, so the backward pass is unchanged). */
static int
add_act_fused (const ts_model *m, int i)
{
  const ts_node *a = &m->nodes[i + 1];

  return BE (m)->add_act_forward && m->nodes[i].kind == TS_NODE_ADD && i + 1 < m->n_nodes
         && a->kind == TS_NODE_ACT && (a->act == TS_ACT_RELU || a->act == TS_ACT_RELU6)
         && only_feeds_next (m, m->nodes[i].out, i + 1);
}

/* Eval-mode conv at node i, with what follows it absorbed: a batch norm
 * folded into its weights, then, when the backend has conv2d_forward_fused,
 * a residual add and a ReLU / ReLU6 applied as each output tile is written
 * (the intermediate values are never written: nothing else reads them).
 * Returns the last node it ran. */
static int
forward_conv_eval (ts_model *m, int i)
{
  const ts_backend_i *be = BE (m);
  ts_node *c = &m->nodes[i];
  ts_tensor fw, fb, *w = P (m, c->w), *b = P (m, c->b);
  const ts_tensor *res = NULL;
  int j = i, out = c->out, act = -1;

  if (m->fold_w && i + 1 < m->n_nodes && bn_foldable (m, i))
    {
      fold_conv_bn (m, i, &fw, &fb);
      w = &fw;
      b = &fb;
      out = m->nodes[++j].out;
    }
  if (be->conv2d_forward_fused == NULL || !ts_tensor_is_plain (m->values[c->in].t))
    {
      be->conv2d_forward (m->be, &c->conv, m->values[c->in].t, w, b, m->values[out].t);
      return j;
    }
  if (only_feeds_next (m, out, j + 1) && m->nodes[j + 1].kind == TS_NODE_ADD)
    {
      const ts_node *a = &m->nodes[++j];
      res = m->values[a->in == out ? a->in2 : a->in].t;
      out = a->out;
    }
  if (only_feeds_next (m, out, j + 1) && m->nodes[j + 1].kind == TS_NODE_ACT
      && (m->nodes[j + 1].act == TS_ACT_RELU || m->nodes[j + 1].act == TS_ACT_RELU6))
    {
      act = (int) m->nodes[++j].act;
      out = m->nodes[j].out;
    }
  be->conv2d_forward_fused (m->be, &c->conv, m->values[c->in].t, w, b, res, act,
                            m->values[out].t);
  return j;
}

static ts_tensor *
P (ts_model *m, int i)
{
  return i >= 0 ? m->params[i].value : NULL;
}

static ts_tensor *
B (ts_model *m, int i)
{
  return m->buffers[i].value;
}

ts_status
ts_model_forward (ts_model *m, const ts_tensor *x, int train, ts_tensor **logits)
{
  const ts_backend_i *be = BE (m);
  ts_value *v = m->values;
  char buf[64];

  if (x->ndim != 4 || x->shape[1] != 3 || x->shape[2] != m->prep_h || x->shape[3] != m->prep_w ||
      x->shape[0] < 1 || x->shape[0] > m->prep_batch)
    return ts_error (TS_ERR_SHAPE, "model %s: input %s does not fit the prepared "
                     "[<=%d, 3, %d, %d]", m->arch, ts_tensor_shape_str (x, buf, sizeof buf),
                     m->prep_batch, m->prep_h, m->prep_w);
  set_batch (m, (int) x->shape[0]);
  if (ts_tensor_is_plain (v[0].t))
    be->axpby (m->be, 1.0f, x, 0.0f, v[0].t);
  else
    be->convert (m->be, x, v[0].t);
  if (train && m->n_batches_tracked == 0.0f)
    {
      /* continue the count of loaded weights (torchvision's num_batches_tracked) */
      for (int i = 0; i < m->n_nodes; i++)
        if (m->nodes[i].kind == TS_NODE_BN)
          {
            ts_tensor_to_host (B (m, m->nodes[i].nbt), &m->n_batches_tracked, 1);
            break;
          }
    }
  if (train)
    m->n_batches_tracked += 1.0f;

  if (m->prof)
    ts_profile_begin (m);
  for (int i = 0; i < m->n_nodes; i++)
    {
      ts_node *n = &m->nodes[i];
      ts_tensor *in = v[n->in].t, *out = v[n->out].t;
      if (!train && n->kind == TS_NODE_CONV)
        {
          i = forward_conv_eval (m, i);
          if (m->prof)
            ts_profile_node (m, n, 0);
          continue;
        }
      if (train && n->kind == TS_NODE_BN && bn_act_fused (m, i))
        {
          const ts_node *a = &m->nodes[++i];
          be->batchnorm_act_forward_train (m->be, in, P (m, n->w), P (m, n->b), B (m, n->rmean),
                                           B (m, n->rvar), 0.1f, 1e-5f, a->act, v[a->out].t,
                                           n->save_mean, n->save_invstd);
          be->fill (m->be, B (m, n->nbt), m->n_batches_tracked);
          if (m->prof)
            ts_profile_node (m, n, 0);
          continue;
        }
      if (n->kind == TS_NODE_ADD && add_act_fused (m, i))
        {
          const ts_node *a = &m->nodes[++i];
          be->add_act_forward (m->be, in, v[n->in2].t, a->act, v[a->out].t);
          if (m->prof)
            ts_profile_node (m, n, 0);
          continue;
        }
      switch (n->kind)
        {
        case TS_NODE_CONV:
          be->conv2d_forward (m->be, &n->conv, in, P (m, n->w), P (m, n->b), out);
          break;
        case TS_NODE_BN:
          if (train)
            {
              be->batchnorm_forward_train (m->be, in, P (m, n->w), P (m, n->b), B (m, n->rmean),
                                           B (m, n->rvar), 0.1f, 1e-5f, out, n->save_mean,
                                           n->save_invstd);
              be->fill (m->be, B (m, n->nbt), m->n_batches_tracked);
            }
          else
            be->batchnorm_forward_eval (m->be, in, P (m, n->w), P (m, n->b), B (m, n->rmean),
                                        B (m, n->rvar), 1e-5f, out);
          break;
        case TS_NODE_ACT:
          be->activation_forward (m->be, n->act, in, out);
          break;
        case TS_NODE_MAXPOOL:
          be->maxpool2d_forward (m->be, &n->pool, in, out, n->argmax);
          break;
        case TS_NODE_ADD:
          be->add (m->be, in, v[n->in2].t, out);
          break;
        case TS_NODE_AVGPOOL:
          be->adaptive_avgpool2d_forward (m->be, in, out);
          break;
        case TS_NODE_CONCATPOOL:
          be->adaptive_maxpool2d_forward (m->be, in, n->pmax, n->argmax);
          be->adaptive_avgpool2d_forward (m->be, in, n->pavg);
          be->concat_channels (m->be, n->pmax, n->pavg, out);
          break;
        case TS_NODE_FLATTEN:
          break;
        case TS_NODE_DROPOUT:
          {
            float p = n->p * m->dropout_scale;
            if (train && p > 0.0f)
              {
                be->dropout_forward (m->be, p, m->seed, m->dropout_counter, in, out, n->mask);
                m->dropout_counter += (uint64_t) out->numel;
              }
            else
              {
                be->axpby (m->be, 1.0f, in, 0.0f, out);
                be->fill (m->be, n->mask, 1.0f);
              }
            break;
          }
        case TS_NODE_LINEAR:
          be->linear_forward (m->be, in, P (m, n->w), P (m, n->b), out);
          break;
        }
      if (m->prof)
        ts_profile_node (m, n, 0);
    }
  m->last_forward_train = train;
  *logits = v[m->out].t;
  return TS_OK;
}

/* ---- backward ---- */

static ts_tensor *
G (ts_model *m, int i)
{
  return i >= 0 && m->params[i].trainable ? m->params[i].grad : NULL;
}

/* Where node output gradients for value @vi go: its own gradient the first
 * time, else a scratch view that add_pending() sums in. */
static ts_tensor *
grad_target (ts_model *m, int vi, ts_tensor *tmp)
{
  if (vi == 0 || !m->need_grad[vi])
    return NULL;
  if (!m->grad_ready[vi])
    return m->values[vi].g;
  *tmp = *m->values[vi].g;
  tmp->data = m->scratch->data;
  tmp->owns_data = 0;
  return tmp;
}

static void
grad_done (ts_model *m, int vi, ts_tensor *target, const ts_tensor *tmp)
{
  if (target == NULL)
    return;
  if (target == tmp)
    BE (m)->axpby (m->be, 1.0f, tmp, 1.0f, m->values[vi].g);
  m->grad_ready[vi] = 1;
}

static int
node_has_trainable (ts_model *m, const ts_node *n)
{
  return (n->w >= 0 && m->params[n->w].trainable) || (n->b >= 0 && m->params[n->b].trainable);
}

ts_status
ts_model_backward (ts_model *m, const ts_tensor *dlogits)
{
  const ts_backend_i *be = BE (m);
  ts_value *v = m->values;
  ts_tensor tmp;
  char buf[64];

  if (m->prep_batch == 0 || !m->last_forward_train)
    return ts_error (TS_ERR_INVALID, "model %s: backward without a training forward", m->arch);
  if (dlogits->numel != v[m->out].t->numel || dlogits->shape[0] != m->cur_batch)
    return ts_error (TS_ERR_SHAPE, "model %s: dlogits %s, expected [%d, %d]", m->arch,
                     ts_tensor_shape_str (dlogits, buf, sizeof buf), m->cur_batch, m->n_classes);

  /* a value needs a gradient when a trainable parameter lies upstream of it */
  memset (m->need_grad, 0, (size_t) m->n_values);
  memset (m->grad_ready, 0, (size_t) m->n_values);
  for (int i = 0; i < m->n_nodes; i++)
    {
      ts_node *n = &m->nodes[i];
      m->need_grad[n->out] |= m->need_grad[n->in] | (n->in2 >= 0 ? m->need_grad[n->in2] : 0) |
                              node_has_trainable (m, n);
    }
  be->axpby (m->be, 1.0f, dlogits, 0.0f, v[m->out].g);
  m->grad_ready[m->out] = 1;
  if (m->prof)
    ts_profile_begin (m);

  for (int i = m->n_nodes - 1; i >= 0; i--)
    {
      ts_node *n = &m->nodes[i];
      ts_tensor *in = v[n->in].t, *dy = v[n->out].g, *dx;

      if (!m->need_grad[n->out])
        continue;
      /* a fused batch norm + activation: the activation's part is done by
       * the batch norm's backward, from the activation's output gradient */
      if (n->kind == TS_NODE_ACT && i > 0 && bn_act_fused (m, i - 1))
        continue;
      dx = grad_target (m, n->in, &tmp);
      if (n->kind == TS_NODE_BN && bn_act_fused (m, i))
        {
          const ts_node *a = &m->nodes[i + 1];
          be->batchnorm_act_backward (m->be, in, P (m, n->w), n->save_mean, n->save_invstd,
                                      a->act, v[a->out].t, v[a->out].g, dx, G (m, n->w),
                                      G (m, n->b));
          grad_done (m, n->in, dx, &tmp);
          if (m->prof)
            ts_profile_node (m, n, 1);
          continue;
        }
      switch (n->kind)
        {
        case TS_NODE_CONV:
          be->conv2d_backward (m->be, &n->conv, in, P (m, n->w), dy, dx, G (m, n->w),
                               G (m, n->b));
          break;
        case TS_NODE_BN:
          be->batchnorm_backward (m->be, in, P (m, n->w), n->save_mean, n->save_invstd, dy, dx,
                                  G (m, n->w), G (m, n->b));
          break;
        case TS_NODE_ACT:
          if (dx)
            be->activation_backward (m->be, n->act, v[n->out].t, dy, dx);
          break;
        case TS_NODE_MAXPOOL:
          if (dx)
            be->maxpool2d_backward (m->be, &n->pool, n->argmax, dy, dx);
          break;
        case TS_NODE_ADD:
          /* an in-place add's first input already holds dy (same memory) */
          if (dx && dx->data != dy->data)
            be->axpby (m->be, 1.0f, dy, 0.0f, dx);
          grad_done (m, n->in, dx, &tmp);
          dx = grad_target (m, n->in2, &tmp);
          if (dx)
            be->axpby (m->be, 1.0f, dy, 0.0f, dx);
          grad_done (m, n->in2, dx, &tmp);
          if (m->prof)
            ts_profile_node (m, n, 1);
          continue;
        case TS_NODE_AVGPOOL:
          if (dx)
            be->adaptive_avgpool2d_backward (m->be, dy, dx);
          break;
        case TS_NODE_CONCATPOOL:
          if (dx)
            {
              be->split_channels (m->be, dy, n->gmax, n->gavg);
              be->adaptive_maxpool2d_backward (m->be, n->argmax, n->gmax, dx);
              grad_done (m, n->in, dx, &tmp);
              dx = grad_target (m, n->in, &tmp);
              be->adaptive_avgpool2d_backward (m->be, n->gavg, dx);
            }
          break;
        case TS_NODE_FLATTEN:
          /* dx shares dy's memory */
          break;
        case TS_NODE_DROPOUT:
          if (dx)
            be->dropout_backward (m->be, n->mask, dy, dx);
          break;
        case TS_NODE_LINEAR:
          be->linear_backward (m->be, in, P (m, n->w), dy, dx, G (m, n->w), G (m, n->b));
          break;
        }
      grad_done (m, n->in, dx, &tmp);
      if (m->prof)
        ts_profile_node (m, n, 1);
    }
  return TS_OK;
}
