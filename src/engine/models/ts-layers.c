/* ts-layers.c: builder helpers that append nodes, values and named,
 * initialised parameters to a model under construction. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts-model-private.h"

#define GROW(arr, n, cap, b)                                                   \
  do {                                                                         \
    if ((n) == (cap))                                                          \
      {                                                                        \
        int ncap_ = (cap) ? (cap) * 2 : 32;                                    \
        void *p_ = realloc ((arr), (size_t) ncap_ * sizeof *(arr));            \
        if (p_ == NULL)                                                        \
          {                                                                    \
            (b)->status = ts_error (TS_ERR_NOMEM, "model: out of memory");     \
            return -1;                                                         \
          }                                                                    \
        (arr) = p_;                                                            \
        (cap) = ncap_;                                                         \
      }                                                                        \
  } while (0)

static int
new_value (ts_builder *b, int c, int spatial)
{
  ts_model *m = b->m;
  ts_value *v;

  GROW (m->values, m->n_values, m->cap_values, b);
  v = &m->values[m->n_values];
  memset (v, 0, sizeof *v);
  v->c = c;
  v->h = v->w = spatial ? 1 : 0;   /* real sizes come from ts_model_prepare */
  v->alias = -1;
  return m->n_values++;
}

static int
new_node (ts_builder *b, ts_node_kind kind, int in)
{
  ts_model *m = b->m;
  ts_node *n;

  if (b->status != TS_OK || in < 0)
    return -1;
  GROW (m->nodes, m->n_nodes, m->cap_nodes, b);
  n = &m->nodes[m->n_nodes];
  memset (n, 0, sizeof *n);
  n->kind = kind;
  n->in = in;
  n->in2 = n->out = n->w = n->b = n->rmean = n->rvar = n->nbt = -1;
  m->values[in].consumers++;
  return m->n_nodes++;
}

static void
init_values (ts_model *m, float *h, int64_t n, ts_init init, int64_t fan_in, int64_t fan_out,
             uint64_t stream)
{
  ts_rng r;
  double std, bound;

  ts_rng_seed (&r, m->seed, stream);
  switch (init)
    {
    case TS_INIT_KAIMING_FAN_OUT:
    case TS_INIT_KAIMING_FAN_IN:
      std = sqrt (2.0 / (double) (init == TS_INIT_KAIMING_FAN_IN ? fan_in : fan_out));
      for (int64_t i = 0; i < n; i++)
        h[i] = (float) (std * ts_rng_normal (&r));
      break;
    case TS_INIT_TORCH_LINEAR:
      bound = 1.0 / sqrt ((double) fan_in);
      for (int64_t i = 0; i < n; i++)
        h[i] = (float) ts_rng_uniform_range (&r, -bound, bound);
      break;
    case TS_INIT_NORMAL_001:
      for (int64_t i = 0; i < n; i++)
        h[i] = (float) (0.01 * ts_rng_normal (&r));
      break;
    case TS_INIT_ZERO:
    case TS_INIT_ONE:
      for (int64_t i = 0; i < n; i++)
        h[i] = init == TS_INIT_ONE ? 1.0f : 0.0f;
      break;
    }
}

static char *
full_name (ts_builder *b, const char *name, const char *suffix)
{
  size_t n = strlen (b->prefix) + strlen (name) + strlen (suffix) + 2;
  char *s = malloc (n);
  if (s != NULL)
    snprintf (s, n, "%s%s%s%s", b->prefix, name, *name ? "." : "", suffix);
  return s;
}

/* Adds a parameter (or a buffer when @kind < 0) initialised on the host. */
static int
new_tensor (ts_builder *b, const char *name, const char *suffix, int ndim, const int64_t *shape,
            int kind, ts_init init, int64_t fan_in, int64_t fan_out)
{
  ts_model *m = b->m;
  ts_tensor *t = NULL, *g = NULL;
  char *fname;
  float *host;

  if (b->status != TS_OK)
    return -1;
  fname = full_name (b, name, suffix);
  t = ts_tensor_new (m->be, ndim, shape);
  if (fname == NULL || t == NULL || (kind >= 0 && (g = ts_tensor_new (m->be, ndim, shape)) == NULL))
    goto oom;
  host = malloc ((size_t) t->numel * sizeof (float));
  if (host == NULL)
    goto oom;
  init_values (m, host, t->numel, init, fan_in, fan_out,
               (uint64_t) (m->n_params + m->n_buffers) + 1);
  b->status = ts_tensor_from_host (t, host, t->numel);
  free (host);
  if (b->status != TS_OK)
    goto fail;
  if (kind >= 0)
    {
      ts_param *p;
      GROW (m->params, m->n_params, m->cap_params, b);
      p = &m->params[m->n_params];
      p->name = fname;
      p->value = t;
      p->grad = g;
      p->kind = (ts_param_kind) kind;
      p->group = b->group;
      p->trainable = 1;
      return m->n_params++;
    }
  GROW (m->buffers, m->n_buffers, m->cap_buffers, b);
  m->buffers[m->n_buffers].name = fname;
  m->buffers[m->n_buffers].value = t;
  return m->n_buffers++;

oom:
  b->status = ts_error (TS_ERR_NOMEM, "model: out of memory creating %s%s.%s", b->prefix, name,
                        suffix);
fail:
  free (fname);
  ts_tensor_free (t);
  ts_tensor_free (g);
  return -1;
}

int
ts_b_input (ts_builder *b)
{
  return new_value (b, 3, 1);
}

int
ts_b_conv (ts_builder *b, int in, const char *name, int cout, int k, int stride, int pad,
           int groups, int bias, int tf_same, ts_init init)
{
  int ni = new_node (b, TS_NODE_CONV, in), cin;
  ts_node *n;
  int64_t shape[4];

  if (ni < 0)
    return -1;
  cin = b->m->values[in].c;
  shape[0] = cout;
  shape[1] = cin / groups;
  shape[2] = shape[3] = k;
  n = &b->m->nodes[ni];
  n->kh = n->kw = k;
  n->tf_same = tf_same;
  n->conv = (ts_conv2d_params) { stride, stride, pad, pad, pad, pad, groups };
  n->w = new_tensor (b, name, "weight", 4, shape, TS_PARAM_WEIGHT, init,
                     shape[1] * k * k, (int64_t) cout * k * k);
  if (bias)
    n->b = new_tensor (b, name, "bias", 1, shape, TS_PARAM_BIAS, TS_INIT_ZERO, 0, 0);
  /* new_tensor may have moved the node array */
  n = &b->m->nodes[ni];
  n->out = new_value (b, cout, 1);
  return b->status == TS_OK ? n->out : -1;
}

int
ts_b_bn (ts_builder *b, int in, const char *name)
{
  int ni = new_node (b, TS_NODE_BN, in);
  int64_t c[1], one[1] = { 1 };
  ts_node *n;
  int w, bi, rm, rv, nbt;

  if (ni < 0)
    return -1;
  c[0] = b->m->values[in].c;
  w = new_tensor (b, name, "weight", 1, c, TS_PARAM_BN, TS_INIT_ONE, 0, 0);
  bi = new_tensor (b, name, "bias", 1, c, TS_PARAM_BN, TS_INIT_ZERO, 0, 0);
  rm = new_tensor (b, name, "running_mean", 1, c, -1, TS_INIT_ZERO, 0, 0);
  rv = new_tensor (b, name, "running_var", 1, c, -1, TS_INIT_ONE, 0, 0);
  nbt = new_tensor (b, name, "num_batches_tracked", 1, one, -1, TS_INIT_ZERO, 0, 0);
  n = &b->m->nodes[ni];
  n->w = w;
  n->b = bi;
  n->rmean = rm;
  n->rvar = rv;
  n->nbt = nbt;
  n->out = new_value (b, (int) c[0], b->m->values[in].h != 0);
  return b->status == TS_OK ? n->out : -1;
}

static int
simple (ts_builder *b, ts_node_kind kind, int in, int c, int spatial, ts_node **out)
{
  int ni = new_node (b, kind, in);
  int v;

  if (ni < 0)
    return -1;
  v = new_value (b, c, spatial);
  if (v < 0)
    return -1;
  b->m->nodes[ni].out = v;
  *out = &b->m->nodes[ni];
  return v;
}

int
ts_b_act (ts_builder *b, int in, ts_activation act)
{
  ts_node *n;
  int v;

  if (in < 0)
    return -1;
  v = simple (b, TS_NODE_ACT, in, b->m->values[in].c, b->m->values[in].h != 0, &n);
  if (v >= 0)
    n->act = act;
  return v;
}

int
ts_b_conv_bn_act (ts_builder *b, int in, const char *conv_name, const char *bn_name,
                  int cout, int k, int stride, int groups, int act, ts_activation a)
{
  int x = ts_b_conv (b, in, conv_name, cout, k, stride, (k - 1) / 2, groups, 0, 0,
                     TS_INIT_KAIMING_FAN_OUT);
  x = ts_b_bn (b, x, bn_name);
  return act ? ts_b_act (b, x, a) : x;
}

int
ts_b_maxpool (ts_builder *b, int in, int k, int stride, int pad)
{
  ts_node *n;
  int v;

  if (in < 0)
    return -1;
  v = simple (b, TS_NODE_MAXPOOL, in, b->m->values[in].c, 1, &n);
  if (v >= 0)
    n->pool = (ts_pool2d_params) { k, k, stride, stride, pad, pad };
  return v;
}

int
ts_b_add (ts_builder *b, int x, int y)
{
  ts_node *n;
  int v;

  if (x < 0 || y < 0)
    return -1;
  v = simple (b, TS_NODE_ADD, x, b->m->values[x].c, 1, &n);
  if (v >= 0)
    {
      n->in2 = y;
      b->m->values[y].consumers++;
    }
  return v;
}

int
ts_b_avgpool (ts_builder *b, int in)
{
  ts_node *n;
  return in < 0 ? -1 : simple (b, TS_NODE_AVGPOOL, in, b->m->values[in].c, 1, &n);
}

int
ts_b_concatpool (ts_builder *b, int in)
{
  ts_node *n;
  return in < 0 ? -1 : simple (b, TS_NODE_CONCATPOOL, in, 2 * b->m->values[in].c, 1, &n);
}

int
ts_b_flatten (ts_builder *b, int in)
{
  ts_node *n;
  return in < 0 ? -1 : simple (b, TS_NODE_FLATTEN, in, b->m->values[in].c, 0, &n);
}

int
ts_b_dropout (ts_builder *b, int in, float p)
{
  ts_node *n;
  int v;

  if (in < 0)
    return -1;
  v = simple (b, TS_NODE_DROPOUT, in, b->m->values[in].c, b->m->values[in].h != 0, &n);
  if (v >= 0)
    n->p = p;
  return v;
}

int
ts_b_linear (ts_builder *b, int in, const char *name, int cout, int bias, ts_init init)
{
  int ni = new_node (b, TS_NODE_LINEAR, in);
  int64_t shape[2];
  ts_node *n;
  int w, bi = -1;

  if (ni < 0)
    return -1;
  shape[0] = cout;
  shape[1] = b->m->values[in].c;
  w = new_tensor (b, name, "weight", 2, shape, TS_PARAM_WEIGHT, init, shape[1], cout);
  if (bias)
    bi = new_tensor (b, name, "bias", 1, shape, TS_PARAM_BIAS,
                     init == TS_INIT_TORCH_LINEAR ? TS_INIT_TORCH_LINEAR : TS_INIT_ZERO,
                     shape[1], cout);
  n = &b->m->nodes[ni];
  n->w = w;
  n->b = bi;
  n->out = new_value (b, cout, 0);
  return b->status == TS_OK ? n->out : -1;
}
