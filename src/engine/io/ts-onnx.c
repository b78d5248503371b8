/* ts-onnx.c: the model's node list as an ONNX graph, encoded by protobuf-c. */
#include "ts-onnx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "ts-atomic-write.h"
#include "ts-json.h"
#include "ts-model-private.h"
#include "ts-tensor.h"

/* Everything the message tree points at is allocated here and freed at once. */
typedef struct {
  void **ptrs;
  size_t n, cap;
  int failed;
} arena;

static void *
ar_new (arena *a, size_t size)
{
  void *p;

  if (a->failed)
    return NULL;
  if (a->n == a->cap)
    {
      size_t cap = a->cap ? 2 * a->cap : 256;
      void **np = realloc (a->ptrs, cap * sizeof *np);
      if (np == NULL)
        {
          a->failed = 1;
          return NULL;
        }
      a->ptrs = np;
      a->cap = cap;
    }
  p = calloc (1, size ? size : 1);
  if (p == NULL)
    {
      a->failed = 1;
      return NULL;
    }
  a->ptrs[a->n++] = p;
  return p;
}

static char *
ar_printf (arena *a, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static char *
ar_printf (arena *a, const char *fmt, ...)
{
  va_list ap;
  int len;
  char *s;

  va_start (ap, fmt);
  len = vsnprintf (NULL, 0, fmt, ap);
  va_end (ap);
  s = len < 0 ? NULL : ar_new (a, (size_t) len + 1);
  if (s == NULL)
    return NULL;
  va_start (ap, fmt);
  vsnprintf (s, (size_t) len + 1, fmt, ap);
  va_end (ap);
  return s;
}

static void
ar_free (arena *a)
{
  for (size_t i = 0; i < a->n; i++)
    free (a->ptrs[i]);
  free (a->ptrs);
}

/* A growable array of message pointers inside the arena's lifetime. */
typedef struct {
  void **items;
  size_t n, cap;
} ptr_list;

static int
list_push (ptr_list *l, void *p)
{
  if (p == NULL)
    return 0;
  if (l->n == l->cap)
    {
      size_t cap = l->cap ? 2 * l->cap : 64;
      void **np = realloc (l->items, cap * sizeof *np);
      if (np == NULL)
        return 0;
      l->items = np;
      l->cap = cap;
    }
  l->items[l->n++] = p;
  return 1;
}

typedef struct {
  arena ar;
  ptr_list nodes, inits, meta;
  char **names;           /* per model value: its ONNX name */
  int failed;
} graph;

/* A named attribute of @type from the arena, NULL when it is full. */
static Onnx__AttributeProto *
attr_new (graph *g, const char *name, Onnx__AttributeProto__AttributeType type)
{
  Onnx__AttributeProto *a = ar_new (&g->ar, sizeof *a);

  if (a == NULL)
    return NULL;
  onnx__attribute_proto__init (a);
  a->name = ar_printf (&g->ar, "%s", name);
  a->has_type = 1;
  a->type = type;
  return a;
}

static Onnx__AttributeProto *
attr_int (graph *g, const char *name, int64_t v)
{
  Onnx__AttributeProto *a = attr_new (g, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);

  if (a != NULL)
    {
      a->has_i = 1;
      a->i = v;
    }
  return a;
}

static Onnx__AttributeProto *
attr_float (graph *g, const char *name, float v)
{
  Onnx__AttributeProto *a = attr_new (g, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);

  if (a != NULL)
    {
      a->has_f = 1;
      a->f = v;
    }
  return a;
}

static Onnx__AttributeProto *
attr_ints (graph *g, const char *name, int n, ...)
{
  Onnx__AttributeProto *a = attr_new (g, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  va_list ap;

  if (a == NULL)
    return NULL;
  a->ints = ar_new (&g->ar, (size_t) n * sizeof (int64_t));
  if (a->ints == NULL)
    return NULL;
  a->n_ints = (size_t) n;
  va_start (ap, n);
  for (int i = 0; i < n; i++)
    a->ints[i] = va_arg (ap, int);
  va_end (ap);
  return a;
}

/* @ins and @outs are NULL-terminated; attributes follow as a NULL-terminated list. */
static void
add_node (graph *g, const char *op, const char *const *ins, const char *const *outs, ...)
{
  Onnx__NodeProto *n = ar_new (&g->ar, sizeof *n);
  Onnx__AttributeProto *attrs[8];
  size_t n_in = 0, n_out = 0, n_attr = 0;
  va_list ap;

  if (n == NULL)
    {
      g->failed = 1;
      return;
    }
  onnx__node_proto__init (n);
  va_start (ap, outs);
  for (Onnx__AttributeProto *a; (a = va_arg (ap, Onnx__AttributeProto *)) != NULL && n_attr < 8;)
    attrs[n_attr++] = a;
  va_end (ap);
  while (ins[n_in])
    n_in++;
  while (outs[n_out])
    n_out++;
  n->op_type = ar_printf (&g->ar, "%s", op);
  n->name = ar_printf (&g->ar, "%s_%zu", op, g->nodes.n);
  n->input = ar_new (&g->ar, (n_in + 1) * sizeof (char *));
  n->output = ar_new (&g->ar, (n_out + 1) * sizeof (char *));
  n->attribute = ar_new (&g->ar, (n_attr + 1) * sizeof (Onnx__AttributeProto *));
  if (n->input == NULL || n->output == NULL || n->attribute == NULL)
    {
      g->failed = 1;
      return;
    }
  for (size_t i = 0; i < n_in; i++)
    n->input[i] = ar_printf (&g->ar, "%s", ins[i]);
  for (size_t i = 0; i < n_out; i++)
    n->output[i] = ar_printf (&g->ar, "%s", outs[i]);
  memcpy (n->attribute, attrs, n_attr * sizeof attrs[0]);
  n->n_input = n_in;
  n->n_output = n_out;
  n->n_attribute = n_attr;
  if (!list_push (&g->nodes, n))
    g->failed = 1;
}

static void
add_init_raw (graph *g, const char *name, int ndim, const int64_t *shape, const float *data,
              int64_t numel)
{
  Onnx__TensorProto *t = ar_new (&g->ar, sizeof *t);
  uint8_t *raw;

  if (t == NULL)
    {
      g->failed = 1;
      return;
    }
  onnx__tensor_proto__init (t);
  t->name = ar_printf (&g->ar, "%s", name);
  t->has_data_type = 1;
  t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  t->dims = ar_new (&g->ar, (size_t) (ndim + 1) * sizeof (int64_t));
  raw = ar_new (&g->ar, (size_t) numel * 4);
  if (t->dims == NULL || raw == NULL)
    {
      g->failed = 1;
      return;
    }
  t->n_dims = (size_t) ndim;
  if (ndim > 0)
    memcpy (t->dims, shape, (size_t) ndim * sizeof (int64_t));
  /* raw_data is little-endian float32 */
  for (int64_t i = 0; i < numel; i++)
    {
      uint32_t bits;
      memcpy (&bits, &data[i], 4);
      for (int k = 0; k < 4; k++)
        raw[4 * i + k] = (uint8_t) (bits >> (8 * k));
    }
  t->has_raw_data = 1;
  t->raw_data.data = raw;
  t->raw_data.len = (size_t) numel * 4;
  if (!list_push (&g->inits, t))
    g->failed = 1;
}

static ts_status
add_init (graph *g, const char *name, const ts_tensor *v)
{
  float *host = malloc ((size_t) v->numel * sizeof (float) + 1);
  ts_status s;

  if (host == NULL)
    return ts_error (TS_ERR_NOMEM, "out of memory");
  s = ts_tensor_to_host (v, host, v->numel);
  if (s == TS_OK)
    add_init_raw (g, name, v->ndim, v->shape, host, v->numel);
  free (host);
  return s;
}

static Onnx__ValueInfoProto *
value_info (graph *g, const char *name, int ndim, const int64_t *dims)
{
  Onnx__ValueInfoProto *vi = ar_new (&g->ar, sizeof *vi);
  Onnx__TypeProto *tp = ar_new (&g->ar, sizeof *tp);
  Onnx__TypeProto__Tensor *tt = ar_new (&g->ar, sizeof *tt);
  Onnx__TensorShapeProto *sh = ar_new (&g->ar, sizeof *sh);
  Onnx__TensorShapeProto__Dimension **dim = ar_new (&g->ar, (size_t) ndim * sizeof *dim);

  if (vi == NULL || tp == NULL || tt == NULL || sh == NULL || dim == NULL)
    return NULL;
  onnx__value_info_proto__init (vi);
  onnx__type_proto__init (tp);
  onnx__type_proto__tensor__init (tt);
  onnx__tensor_shape_proto__init (sh);
  for (int i = 0; i < ndim; i++)
    {
      dim[i] = ar_new (&g->ar, sizeof **dim);
      if (dim[i] == NULL)
        return NULL;
      onnx__tensor_shape_proto__dimension__init (dim[i]);
      /* dimension 0 is the batch: symbolic */
      if (i == 0)
        {
          dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
          dim[i]->dim_param = ar_printf (&g->ar, "batch");
        }
      else
        {
          dim[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
          dim[i]->dim_value = dims[i];
        }
    }
  sh->n_dim = (size_t) ndim;
  sh->dim = dim;
  tt->has_elem_type = 1;
  tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  tt->shape = sh;
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  vi->name = ar_printf (&g->ar, "%s", name);
  vi->type = tp;
  return vi;
}

static void
add_meta (graph *g, const char *key, const char *value)
{
  Onnx__StringStringEntryProto *e = ar_new (&g->ar, sizeof *e);

  if (e == NULL)
    {
      g->failed = 1;
      return;
    }
  onnx__string_string_entry_proto__init (e);
  e->key = ar_printf (&g->ar, "%s", key);
  e->value = ar_printf (&g->ar, "%s", value);
  if (e->key == NULL || e->value == NULL || !list_push (&g->meta, e))
    g->failed = 1;
}

#define IN(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define OUT(x) ((const char *const[]) { x, NULL })

static ts_status
add_network (graph *g, ts_model *m)
{
  ts_status s = TS_OK;

  for (int i = 0; i < m->n_nodes && s == TS_OK && !g->failed; i++)
    {
      ts_node *n = &m->nodes[i];
      const char *x = g->names[n->in];
      char *y;

      if (n->kind == TS_NODE_DROPOUT)
        {
          g->names[n->out] = g->names[n->in];  /* identity in eval mode */
          continue;
        }
      y = g->names[n->out] = ar_printf (&g->ar, "v%d", n->out);
      switch (n->kind)
        {
        case TS_NODE_CONV:
          {
            const ts_conv2d_params *p = &n->conv;
            const char *w = m->params[n->w].name;
            Onnx__AttributeProto *k = attr_ints (g, "kernel_shape", 2, n->kh, n->kw);
            Onnx__AttributeProto *st = attr_ints (g, "strides", 2, p->stride_h, p->stride_w);
            Onnx__AttributeProto *pads = attr_ints (g, "pads", 4, p->pad_top, p->pad_left,
                                                    p->pad_bottom, p->pad_right);
            Onnx__AttributeProto *grp = attr_int (g, "group", p->groups);

            if (n->b >= 0)
              add_node (g, "Conv", IN (x, w, m->params[n->b].name), OUT (y), k, st, pads, grp,
                        NULL);
            else
              add_node (g, "Conv", IN (x, w), OUT (y), k, st, pads, grp, NULL);
            break;
          }
        case TS_NODE_BN:
          add_node (g, "BatchNormalization",
                    IN (x, m->params[n->w].name, m->params[n->b].name,
                        m->buffers[n->rmean].name, m->buffers[n->rvar].name),
                    OUT (y), attr_float (g, "epsilon", 1e-5f), NULL);
          break;
        case TS_NODE_ACT:
          if (n->act == TS_ACT_RELU)
            add_node (g, "Relu", IN (x), OUT (y), NULL);
          else if (n->act == TS_ACT_RELU6)
            add_node (g, "Clip", IN (x, "ts.relu6.min", "ts.relu6.max"), OUT (y), NULL);
          else
            add_node (g, "Sigmoid", IN (x), OUT (y), NULL);
          break;
        case TS_NODE_MAXPOOL:
          add_node (g, "MaxPool", IN (x), OUT (y),
                    attr_ints (g, "kernel_shape", 2, n->pool.kernel_h, n->pool.kernel_w),
                    attr_ints (g, "strides", 2, n->pool.stride_h, n->pool.stride_w),
                    attr_ints (g, "pads", 4, n->pool.pad_h, n->pool.pad_w, n->pool.pad_h,
                               n->pool.pad_w),
                    NULL);
          break;
        case TS_NODE_ADD:
          add_node (g, "Add", IN (x, g->names[n->in2]), OUT (y), NULL);
          break;
        case TS_NODE_AVGPOOL:
          add_node (g, "GlobalAveragePool", IN (x), OUT (y), NULL);
          break;
        case TS_NODE_CONCATPOOL:
          {
            char *mx = ar_printf (&g->ar, "v%d.max", n->out);
            char *av = ar_printf (&g->ar, "v%d.avg", n->out);
            add_node (g, "GlobalMaxPool", IN (x), OUT (mx), NULL);
            add_node (g, "GlobalAveragePool", IN (x), OUT (av), NULL);
            add_node (g, "Concat", IN (mx, av), OUT (y), attr_int (g, "axis", 1), NULL);
            break;
          }
        case TS_NODE_FLATTEN:
          add_node (g, "Flatten", IN (x), OUT (y), attr_int (g, "axis", 1), NULL);
          break;
        case TS_NODE_LINEAR:
          if (n->b >= 0)
            add_node (g, "Gemm", IN (x, m->params[n->w].name, m->params[n->b].name), OUT (y),
                      attr_int (g, "transB", 1), NULL);
          else
            add_node (g, "Gemm", IN (x, m->params[n->w].name), OUT (y),
                      attr_int (g, "transB", 1), NULL);
          break;
        case TS_NODE_DROPOUT:
          break;
        default:
          s = ts_error (TS_ERR_UNSUPPORTED, "ONNX export: node %d of %s has no ONNX "
                        "equivalent here (kind %d)", i, m->arch, (int) n->kind);
        }
    }
  return s;
}

/* Parameters and buffers the graph reads, under the model's names. */
static ts_status
add_weights (graph *g, ts_model *m)
{
  static const float relu6[2] = { 0.0f, 6.0f };
  ts_status s = TS_OK;

  for (int i = 0; i < m->n_params && s == TS_OK; i++)
    s = add_init (g, m->params[i].name, m->params[i].value);
  for (int i = 0; i < m->n_buffers && s == TS_OK; i++)
    if (strstr (m->buffers[i].name, "num_batches_tracked") == NULL)
      s = add_init (g, m->buffers[i].name, m->buffers[i].value);
  for (int i = 0; i < m->n_nodes; i++)
    if (m->nodes[i].kind == TS_NODE_ACT && m->nodes[i].act == TS_ACT_RELU6)
      {
        add_init_raw (g, "ts.relu6.min", 0, NULL, &relu6[0], 1);
        add_init_raw (g, "ts.relu6.max", 0, NULL, &relu6[1], 1);
        break;
      }
  return s;
}

/* The shortest decimal that reads back as the same float32. */
static const char *
fmt_float (char *buf, size_t size, float v)
{
  for (int prec = 6; prec <= 9; prec++)
    {
      snprintf (buf, size, "%.*g", prec, (double) v);
      if (strtof (buf, NULL) == v)
        break;
    }
  return buf;
}

static char *
float_list (graph *g, const float *v, int n)
{
  ts_strbuf b = { 0 };
  char *out;

  ts_strbuf_append (&b, "[", 1);
  for (int i = 0; i < n; i++)
    {
      char f[32];
      ts_strbuf_printf (&b, "%s%s", i ? ", " : "", fmt_float (f, sizeof f, v[i]));
    }
  ts_strbuf_append (&b, "]", 1);
  out = b.failed ? NULL : ar_printf (&g->ar, "%s", b.data);
  ts_strbuf_clear (&b);
  return out;
}

static void
add_metadata (graph *g, ts_model *m, const ts_onnx_options *o)
{
  const ts_normalization *nm = &o->norm;
  ts_strbuf vocab = { 0 };
  char *s;

  add_meta (g, "tagsight.format_version", "1");
  add_meta (g, "arch", ts_model_arch (m));
  add_meta (g, "head", ts_model_head (m) == TS_HEAD_FASTAI ? "fastai" : "original");
  add_meta (g, "input_size", ar_printf (&g->ar, "[%d, %d]", o->input_height, o->input_width));
  add_meta (g, "input", "float32 NCHW [batch, 3, H, W], RGB, channel order R, G, B");
  add_meta (g, "normalization",
            ar_printf (&g->ar, "{\"mean\": %s, \"std\": %s}", float_list (g, nm->mean, 3),
                       float_list (g, nm->std, 3)));
  add_meta (g, "resize",
            ar_printf (&g->ar, "{\"method\": \"squish_then_center_crop\", \"squish_to\": [%d, %d], "
                       "\"crop\": [%d, %d], \"interpolation\": \"bilinear, edge-clamped, no "
                       "antialiasing\", \"box\": \"one resample of the source box x0 = off * W / S, "
                       "y0 = off * H / S, w = crop * W / S, h = crop * H / S, off = (S - crop) div "
                       "2\", \"sample\": \"output pixel p reads x0 + (p + 0.5) * w / crop - 0.5\"}",
                       o->squish_size, o->squish_size, o->input_height, o->input_width));
  add_meta (g, "preprocessing",
            ar_printf (&g->ar, "decode to RGB with the EXIF orientation applied (a JPEG may be "
                       "decoded at 1/2, 1/4 or 1/8 scale while its shorter side stays >= %d); "
                       "resize the whole image, ignoring its aspect ratio, to %dx%d and take the "
                       "centre %dx%d crop, done as one bilinear resample of the box the crop "
                       "covers (see resize); scale pixels to [0, 1]; subtract mean and divide by "
                       "std per channel (see normalization); NCHW float32. This is fastai's "
                       "RandomResizedCrop on the validation set (size + val_xtra, centre crop).",
                       o->squish_size, o->squish_size, o->squish_size, o->input_width,
                       o->input_height));
  ts_strbuf_append (&vocab, "[", 1);
  for (int i = 0; i < o->n_vocab; i++)
    {
      if (i)
        ts_strbuf_append (&vocab, ", ", 2);
      ts_strbuf_json_string (&vocab, o->vocab[i]);
    }
  ts_strbuf_append (&vocab, "]", 1);
  if (vocab.failed)
    g->failed = 1;
  else
    add_meta (g, "vocab", vocab.data);
  ts_strbuf_clear (&vocab);
  {
    char f[32];
    add_meta (g, "threshold", fmt_float (f, sizeof f, o->threshold));
  }
  if (o->class_thresholds)
    add_meta (g, "class_thresholds", float_list (g, o->class_thresholds, o->n_vocab));
  s = o->sigmoid ? "probabilities = sigmoid(logits) [batch, n_classes]; logits [batch, "
                   "n_classes]; a class is predicted when its probability > threshold"
                 : "logits [batch, n_classes]; probability = sigmoid(logit); a class is "
                   "predicted when its probability > threshold";
  add_meta (g, "outputs", s);
  if (o->recipe_json)
    add_meta (g, "recipe", o->recipe_json);
}

ts_status
ts_onnx_export (ts_model *m, const ts_onnx_options *o, const char *path)
{
  graph g = { 0 };
  Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
  Onnx__GraphProto gp = ONNX__GRAPH_PROTO__INIT;
  Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
  Onnx__OperatorSetIdProto *opsets[1] = { &opset };
  Onnx__ValueInfoProto *inputs[1], *outputs[2];
  int64_t in_dims[4] = { 1, 3, o->input_height, o->input_width };
  int64_t out_dims[2] = { 1, ts_model_n_classes (m) };
  uint8_t *buf = NULL;
  size_t len;
  ts_status s;

  if (o->opset != 0 && o->opset < 13)
    return ts_error (TS_ERR_UNSUPPORTED, "%s: ONNX opset %d: 13 or later needed (Clip with "
                     "min/max inputs)", path, o->opset);
  if (o->n_vocab != ts_model_n_classes (m))
    return ts_error (TS_ERR_INVALID, "%s: %d vocab names for %d classes", path, o->n_vocab,
                     ts_model_n_classes (m));
  if ((s = ts_model_prepare (m, 1, o->input_height, o->input_width)) != TS_OK)
    return ts_error_prefix (s, "%s", path);
  g.names = calloc ((size_t) m->n_values + 1, sizeof *g.names);
  if (g.names == NULL)
    return ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
  g.names[0] = "input";

  s = add_network (&g, m);
  if (s == TS_OK && !g.failed)
    {
      const char *logits = g.names[m->out];
      add_node (&g, "Identity", IN (logits), OUT ("logits"), NULL);
      if (o->sigmoid)
        add_node (&g, "Sigmoid", IN (logits), OUT ("probabilities"), NULL);
      s = add_weights (&g, m);
    }
  if (s == TS_OK)
    add_metadata (&g, m, o);
  if (s == TS_OK && !g.failed)
    {
      int n_out = 0;
      inputs[0] = value_info (&g, "input", 4, in_dims);
      if (o->sigmoid)
        outputs[n_out++] = value_info (&g, "probabilities", 2, out_dims);
      outputs[n_out++] = value_info (&g, "logits", 2, out_dims);
      if (inputs[0] == NULL || outputs[n_out - 1] == NULL || outputs[0] == NULL)
        g.failed = 1;

      gp.name = ar_printf (&g.ar, "tagsight_%s", ts_model_arch (m));
      gp.n_node = g.nodes.n;
      gp.node = (Onnx__NodeProto **) g.nodes.items;
      gp.n_initializer = g.inits.n;
      gp.initializer = (Onnx__TensorProto **) g.inits.items;
      gp.n_input = 1;
      gp.input = inputs;
      gp.n_output = (size_t) n_out;
      gp.output = outputs;

      opset.domain = "";
      opset.has_version = 1;
      opset.version = o->opset ? o->opset : TS_ONNX_OPSET;
      model.has_ir_version = 1;
      model.ir_version = 8;   /* ONNX 1.10-1.12, opset up to 17 */
      model.n_opset_import = 1;
      model.opset_import = opsets;
      model.producer_name = "tagsight";
      model.producer_version = "1";
      model.doc_string = ar_printf (&g.ar, "Tagsight %s multi-label classifier; metadata_props "
                                    "give the exact preprocessing", ts_model_arch (m));
      model.graph = &gp;
      model.n_metadata_props = g.meta.n;
      model.metadata_props = (Onnx__StringStringEntryProto **) g.meta.items;
    }
  if (s == TS_OK && (g.failed || g.ar.failed))
    s = ts_error (TS_ERR_NOMEM, "%s: out of memory building the ONNX graph", path);
  if (s == TS_OK)
    {
      len = onnx__model_proto__get_packed_size (&model);
      buf = malloc (len ? len : 1);
      if (buf == NULL)
        s = ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
      else if (onnx__model_proto__pack (&model, buf) != len)
        s = ts_error (TS_ERR_FORMAT, "%s: protobuf encoding failed", path);
      else
        s = ts_atomic_write (path, &(ts_write_part) { buf, len }, 1);
    }
  free (buf);
  free (g.names);
  free (g.nodes.items);
  free (g.inits.items);
  free (g.meta.items);
  ar_free (&g.ar);
  return s;
}
