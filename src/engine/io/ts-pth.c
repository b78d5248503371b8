/* ts-pth.c: the zip container (libzip) and a pickle subset that only builds
 * containers, numbers, strings and tensors.  Nothing in a pickle is ever
 * called: the allow-listed globals are recognised by name and interpreted
 * here. */
#include "ts-pth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "ts-safetensors.h"

/* ---- pickle values ---- */

typedef enum {
  PV_NONE,
  PV_BOOL,
  PV_INT,
  PV_FLOAT,
  PV_STR,
  PV_TUPLE,
  PV_LIST,
  PV_DICT,      /* items: key, value, key, value, ... */
  PV_GLOBAL,    /* str: "module.name" of an allow-listed global */
  PV_STORAGE,
  PV_TENSOR,
} pv_kind;

typedef struct pv pv;
struct pv {
  pv_kind kind;
  int64_t i;        /* INT, BOOL; STORAGE: storage index */
  double f;
  char *s;          /* STR, GLOBAL */
  size_t len;       /* STR bytes */
  pv **items;       /* TUPLE, LIST, DICT */
  int n, cap;
  ts_pth_entry t;   /* TENSOR (without a name) */
};

typedef struct {
  char *key;
  ts_pth_dtype dtype;
  char type_name[32];
  int elsize;
  int64_t numel;
} pth_storage;

struct ts_pth {
  char *path;
  zip_t *zip;
  uint8_t *bytes;         /* the archive when parsed from memory */
  char *prefix;           /* "archive/" */
  pth_storage *storages;
  int n_storages;
  ts_pth_entry *entries;
  int n_entries;
  int cached;             /* storage whose bytes are in cache, or -1 */
  uint8_t *cache;
};

typedef struct {
  ts_pth *p;
  const uint8_t *b;
  size_t size, pos, op_pos;
  int op;
  pv **arena;
  size_t n_arena, cap_arena;
  pv **stack;
  int n_stack, cap_stack;
  int *marks;
  int n_marks, cap_marks;
  pv **memo;
  int n_memo;
} vm;

/* A pickle from a hostile file may nest or repeat without bound; these keep
 * memory proportional to the input. */
#define MAX_STACK (1 << 22)
#define MAX_MEMO_GAP 4096

static const struct {
  const char *name;
  ts_pth_dtype dtype;
  int elsize;
} storage_types[] = {
  { "FloatStorage", TS_PTH_F32, 4 },
  { "HalfStorage", TS_PTH_F16, 2 },
  { "BFloat16Storage", TS_PTH_BF16, 2 },
  { "DoubleStorage", TS_PTH_F64, 8 },
  { "LongStorage", TS_PTH_I64, 8 },
  { "IntStorage", TS_PTH_I32, 4 },
  { "ShortStorage", TS_PTH_OTHER, 2 },
  { "CharStorage", TS_PTH_OTHER, 1 },
  { "ByteStorage", TS_PTH_OTHER, 1 },
  { "BoolStorage", TS_PTH_OTHER, 1 },
  { "ComplexFloatStorage", TS_PTH_OTHER, 8 },
  { "ComplexDoubleStorage", TS_PTH_OTHER, 16 },
};

static const char *const allowed_calls[] = {
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
};

static const char *
kind_name (pv_kind k)
{
  static const char *const names[] = { "None", "bool", "int", "float", "str", "tuple", "list",
                                       "dict", "global", "storage", "tensor" };
  return names[k];
}

static ts_status
vm_err (vm *v, ts_status s, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static ts_status
vm_err (vm *v, ts_status s, const char *fmt, ...)
{
  char msg[512];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  return ts_error (s, "%s: data.pkl: opcode 0x%02x at byte %zu: %s", v->p->path, v->op,
                   v->op_pos, msg);
}

static pv *
pv_new (vm *v, pv_kind kind)
{
  pv *x;

  if (v->n_arena == v->cap_arena)
    {
      size_t cap = v->cap_arena ? 2 * v->cap_arena : 256;
      pv **a = realloc (v->arena, cap * sizeof *a);
      if (a == NULL)
        return NULL;
      v->arena = a;
      v->cap_arena = cap;
    }
  x = calloc (1, sizeof *x);
  if (x == NULL)
    return NULL;
  x->kind = kind;
  v->arena[v->n_arena++] = x;
  return x;
}

static int
pv_push_item (pv *c, pv *item)
{
  if (c->n == c->cap)
    {
      int cap = c->cap ? 2 * c->cap : 4;
      pv **a;
      if (cap > MAX_STACK)
        return 0;
      a = realloc (c->items, (size_t) cap * sizeof *a);
      if (a == NULL)
        return 0;
      c->items = a;
      c->cap = cap;
    }
  c->items[c->n++] = item;
  return 1;
}

static void
vm_clear (vm *v)
{
  for (size_t i = 0; i < v->n_arena; i++)
    {
      free (v->arena[i]->s);
      free (v->arena[i]->items);
      free (v->arena[i]);
    }
  free (v->arena);
  free (v->stack);
  free (v->marks);
  free (v->memo);
}

static ts_status
push (vm *v, pv *x)
{
  if (x == NULL)
    return vm_err (v, TS_ERR_NOMEM, "out of memory");
  if (v->n_stack == v->cap_stack)
    {
      int cap = v->cap_stack ? 2 * v->cap_stack : 64;
      pv **a;
      if (cap > MAX_STACK)
        return vm_err (v, TS_ERR_FORMAT, "stack deeper than %d", MAX_STACK);
      a = realloc (v->stack, (size_t) cap * sizeof *a);
      if (a == NULL)
        return vm_err (v, TS_ERR_NOMEM, "out of memory");
      v->stack = a;
      v->cap_stack = cap;
    }
  v->stack[v->n_stack++] = x;
  return TS_OK;
}

static ts_status
pop (vm *v, pv **out)
{
  int floor = v->n_marks ? v->marks[v->n_marks - 1] : 0;

  if (v->n_stack <= floor)
    return vm_err (v, TS_ERR_FORMAT, "stack underflow");
  *out = v->stack[--v->n_stack];
  return TS_OK;
}

static ts_status
top (vm *v, pv **out)
{
  int floor = v->n_marks ? v->marks[v->n_marks - 1] : 0;

  if (v->n_stack <= floor)
    return vm_err (v, TS_ERR_FORMAT, "stack underflow");
  *out = v->stack[v->n_stack - 1];
  return TS_OK;
}

/* Index of the first item above the last MARK; the MARK is removed. */
static ts_status
pop_mark (vm *v, int *first)
{
  if (v->n_marks == 0)
    return vm_err (v, TS_ERR_FORMAT, "no MARK on the stack");
  *first = v->marks[--v->n_marks];
  return TS_OK;
}

/* The container just below the items of a SETITEMS/APPENDS (MARK already popped). */
static ts_status
below (vm *v, int first, pv **out)
{
  int floor = v->n_marks ? v->marks[v->n_marks - 1] : 0;

  if (first - 1 < floor)
    return vm_err (v, TS_ERR_FORMAT, "stack underflow");
  *out = v->stack[first - 1];
  return TS_OK;
}

static int
need (vm *v, size_t n)
{
  return v->size - v->pos >= n;
}

static uint64_t
le (const uint8_t *b, int n)
{
  uint64_t x = 0;
  for (int i = n - 1; i >= 0; i--)
    x = (x << 8) | b[i];
  return x;
}

static ts_status
op_string (vm *v, size_t lenbytes)
{
  uint64_t n;
  pv *x;

  if (!need (v, lenbytes))
    return vm_err (v, TS_ERR_FORMAT, "truncated string length");
  n = le (v->b + v->pos, (int) lenbytes);
  v->pos += lenbytes;
  if (n > v->size - v->pos)
    return vm_err (v, TS_ERR_FORMAT, "string of %llu bytes runs past the end",
                   (unsigned long long) n);
  x = pv_new (v, PV_STR);
  if (x == NULL || (x->s = malloc (n + 1)) == NULL)
    return vm_err (v, TS_ERR_NOMEM, "out of memory");
  memcpy (x->s, v->b + v->pos, n);
  x->s[n] = '\0';
  x->len = n;
  v->pos += n;
  return push (v, x);
}

static ts_status
op_int (vm *v, int64_t value)
{
  pv *x = pv_new (v, PV_INT);
  if (x)
    x->i = value;
  return push (v, x);
}

static ts_status
op_long1 (vm *v)
{
  int n;
  uint64_t u = 0;

  if (!need (v, 1))
    return vm_err (v, TS_ERR_FORMAT, "truncated LONG1");
  n = v->b[v->pos++];
  if (!need (v, (size_t) n))
    return vm_err (v, TS_ERR_FORMAT, "truncated LONG1");
  if (n > 8)
    return vm_err (v, TS_ERR_UNSUPPORTED, "integer of %d bytes does not fit 64 bits", n);
  u = n ? le (v->b + v->pos, n) : 0;
  /* sign-extend the two's complement value */
  if (n > 0 && n < 8 && (v->b[v->pos + n - 1] & 0x80))
    u |= ~(uint64_t) 0 << (8 * n);
  v->pos += (size_t) n;
  return op_int (v, (int64_t) u);
}

static ts_status
make_seq (vm *v, pv_kind kind, int first)
{
  pv *x = pv_new (v, kind);

  if (x == NULL)
    return vm_err (v, TS_ERR_NOMEM, "out of memory");
  for (int i = first; i < v->n_stack; i++)
    if (!pv_push_item (x, v->stack[i]))
      return vm_err (v, TS_ERR_NOMEM, "out of memory");
  v->n_stack = first;
  return push (v, x);
}

static ts_status
op_tuple_n (vm *v, int n)
{
  int floor = v->n_marks ? v->marks[v->n_marks - 1] : 0;

  if (v->n_stack - floor < n)
    return vm_err (v, TS_ERR_FORMAT, "stack underflow");
  return make_seq (v, PV_TUPLE, v->n_stack - n);
}

static ts_status
dict_set (vm *v, pv *d, pv *key, pv *value)
{
  if (d->kind != PV_DICT)
    return vm_err (v, TS_ERR_FORMAT, "SETITEM on a %s, not a dict", kind_name (d->kind));
  /* a later value for a key replaces the earlier one, as in Python */
  if (key->kind == PV_STR)
    for (int i = 0; i + 1 < d->n; i += 2)
      if (d->items[i]->kind == PV_STR && strcmp (d->items[i]->s, key->s) == 0)
        {
          d->items[i + 1] = value;
          return TS_OK;
        }
  if (!pv_push_item (d, key) || !pv_push_item (d, value))
    return vm_err (v, TS_ERR_NOMEM, "out of memory");
  return TS_OK;
}

static ts_status
op_global (vm *v, const char *module, const char *name)
{
  char full[256];
  pv *x;

  snprintf (full, sizeof full, "%s.%s", module, name);
  for (size_t i = 0; i < sizeof allowed_calls / sizeof allowed_calls[0]; i++)
    if (strcmp (full, allowed_calls[i]) == 0)
      goto ok;
  if (strcmp (module, "torch") == 0)
    for (size_t i = 0; i < sizeof storage_types / sizeof storage_types[0]; i++)
      if (strcmp (name, storage_types[i].name) == 0)
        goto ok;
  return vm_err (v, TS_ERR_UNSUPPORTED, "refusing global '%s': a state_dict pickle only "
                 "refers to OrderedDict, tensor rebuild functions and storage types", full);
ok:
  x = pv_new (v, PV_GLOBAL);
  if (x == NULL || (x->s = strdup (full)) == NULL)
    return vm_err (v, TS_ERR_NOMEM, "out of memory");
  return push (v, x);
}

static ts_status
op_global_text (vm *v)
{
  const uint8_t *a = v->b + v->pos, *end = v->b + v->size;
  const uint8_t *nl1 = memchr (a, '\n', (size_t) (end - a)), *nl2;
  char module[128], name[128];

  if (nl1 == NULL || (nl2 = memchr (nl1 + 1, '\n', (size_t) (end - nl1 - 1))) == NULL)
    return vm_err (v, TS_ERR_FORMAT, "truncated GLOBAL");
  if ((size_t) (nl1 - a) >= sizeof module || (size_t) (nl2 - nl1 - 1) >= sizeof name)
    return vm_err (v, TS_ERR_UNSUPPORTED, "refusing a global with an overlong name");
  memcpy (module, a, (size_t) (nl1 - a));
  module[nl1 - a] = '\0';
  memcpy (name, nl1 + 1, (size_t) (nl2 - nl1 - 1));
  name[nl2 - nl1 - 1] = '\0';
  v->pos = (size_t) (nl2 + 1 - v->b);
  return op_global (v, module, name);
}

static int
int_tuple (const pv *t, int64_t *out, int max)
{
  if (t->kind != PV_TUPLE || t->n > max)
    return -1;
  for (int i = 0; i < t->n; i++)
    {
      if (t->items[i]->kind != PV_INT)
        return -1;
      out[i] = t->items[i]->i;
    }
  return t->n;
}

/* _rebuild_tensor_v2 (storage, storage_offset, size, stride, requires_grad,
 * backward_hooks[, metadata]) */
static ts_status
rebuild_tensor (vm *v, const pv *args, pv **out)
{
  pv *x;
  int nd, ns;
  int64_t numel = 1;

  if (args->n < 4 || args->items[0]->kind != PV_STORAGE || args->items[1]->kind != PV_INT)
    return vm_err (v, TS_ERR_FORMAT, "_rebuild_tensor_v2 arguments are not (storage, offset, "
                   "size, stride, ...)");
  x = pv_new (v, PV_TENSOR);
  if (x == NULL)
    return vm_err (v, TS_ERR_NOMEM, "out of memory");
  nd = int_tuple (args->items[2], x->t.shape, TS_PTH_MAX_DIMS);
  ns = int_tuple (args->items[3], x->t.stride, TS_PTH_MAX_DIMS);
  if (nd < 0 || ns != nd)
    return vm_err (v, TS_ERR_FORMAT, "tensor size and stride must be tuples of at most %d "
                   "integers of the same length", TS_PTH_MAX_DIMS);
  x->t.ndim = nd;
  x->t.offset = args->items[1]->i;
  x->t.storage = (int) args->items[0]->i;
  if (x->t.offset < 0)
    return vm_err (v, TS_ERR_FORMAT, "negative storage offset %lld", (long long) x->t.offset);
  for (int d = 0; d < nd; d++)
    {
      if (x->t.shape[d] < 0 || x->t.stride[d] < 0)
        return vm_err (v, TS_ERR_FORMAT, "negative size or stride");
      if (x->t.shape[d] > 0 && numel > INT64_MAX / 8 / x->t.shape[d])
        return vm_err (v, TS_ERR_FORMAT, "tensor too large");
      numel *= x->t.shape[d];
    }
  x->t.numel = numel;
  *out = x;
  return TS_OK;
}

static ts_status
op_reduce (vm *v)
{
  pv *args = NULL, *fn = NULL, *result = NULL;
  ts_status s;

  if ((s = pop (v, &args)) != TS_OK || (s = pop (v, &fn)) != TS_OK)
    return s;
  if (fn->kind != PV_GLOBAL || args->kind != PV_TUPLE)
    return vm_err (v, TS_ERR_UNSUPPORTED, "REDUCE of a %s: only allow-listed functions are "
                   "interpreted", kind_name (fn->kind));
  if (strcmp (fn->s, "collections.OrderedDict") == 0)
    {
      if (args->n != 0)
        return vm_err (v, TS_ERR_UNSUPPORTED, "OrderedDict with constructor arguments");
      result = pv_new (v, PV_DICT);
    }
  else if (strcmp (fn->s, "torch._utils._rebuild_tensor_v2") == 0)
    {
      if ((s = rebuild_tensor (v, args, &result)) != TS_OK)
        return s;
    }
  else if (strcmp (fn->s, "torch._utils._rebuild_parameter") == 0)
    {
      /* nn.Parameter (data, requires_grad, backward_hooks): the data is what counts */
      if (args->n < 1 || args->items[0]->kind != PV_TENSOR)
        return vm_err (v, TS_ERR_FORMAT, "_rebuild_parameter without a tensor");
      result = args->items[0];
    }
  else
    return vm_err (v, TS_ERR_UNSUPPORTED, "'%s' cannot be called", fn->s);
  return push (v, result);
}

/* ('storage', torch.FloatStorage, key, location, numel) */
static ts_status
op_persid (vm *v)
{
  pv *id = NULL, *x;
  const char *type;
  ts_pth *p = v->p;
  pth_storage *st = NULL;
  ts_status s;
  int idx = -1;

  if ((s = pop (v, &id)) != TS_OK)
    return s;
  if (id->kind != PV_TUPLE || id->n != 5 || id->items[0]->kind != PV_STR ||
      strcmp (id->items[0]->s, "storage") != 0 || id->items[1]->kind != PV_GLOBAL ||
      id->items[2]->kind != PV_STR || id->items[4]->kind != PV_INT)
    return vm_err (v, TS_ERR_FORMAT, "persistent id is not ('storage', type, key, location, "
                   "numel)");
  type = id->items[1]->s;
  if (strncmp (type, "torch.", 6) != 0)
    return vm_err (v, TS_ERR_FORMAT, "'%s' is not a storage type", type);
  type += 6;
  for (int i = 0; i < p->n_storages; i++)
    if (strcmp (p->storages[i].key, id->items[2]->s) == 0)
      idx = i;
  if (idx < 0)
    {
      size_t k;
      pth_storage *a;

      for (k = 0; k < sizeof storage_types / sizeof storage_types[0]; k++)
        if (strcmp (type, storage_types[k].name) == 0)
          break;
      if (k == sizeof storage_types / sizeof storage_types[0])
        return vm_err (v, TS_ERR_FORMAT, "'%s' is not a storage type", type);
      if (id->items[4]->i < 0 || id->items[4]->i > INT64_MAX / 16)
        return vm_err (v, TS_ERR_FORMAT, "storage of %lld elements",
                       (long long) id->items[4]->i);
      a = realloc (p->storages, (size_t) (p->n_storages + 1) * sizeof *a);
      if (a == NULL || (a[p->n_storages].key = strdup (id->items[2]->s)) == NULL)
        {
          if (a)
            p->storages = a;
          return vm_err (v, TS_ERR_NOMEM, "out of memory");
        }
      p->storages = a;
      st = &a[p->n_storages];
      st->dtype = storage_types[k].dtype;
      st->elsize = storage_types[k].elsize;
      st->numel = id->items[4]->i;
      snprintf (st->type_name, sizeof st->type_name, "%s", type);
      idx = p->n_storages++;
    }
  x = pv_new (v, PV_STORAGE);
  if (x)
    x->i = idx;
  return push (v, x);
}

static ts_status
memo_put (vm *v, uint64_t idx)
{
  pv *x = NULL;
  ts_status s;

  if ((s = top (v, &x)) != TS_OK)
    return s;
  if (idx >= (uint64_t) v->n_memo + MAX_MEMO_GAP)
    return vm_err (v, TS_ERR_FORMAT, "memo index %llu far beyond the %d entries so far",
                   (unsigned long long) idx, v->n_memo);
  if (idx >= (uint64_t) v->n_memo)
    {
      pv **a = realloc (v->memo, (size_t) (idx + 1) * sizeof *a);
      if (a == NULL)
        return vm_err (v, TS_ERR_NOMEM, "out of memory");
      for (uint64_t i = (uint64_t) v->n_memo; i <= idx; i++)
        a[i] = NULL;
      v->memo = a;
      v->n_memo = (int) idx + 1;
    }
  v->memo[idx] = x;
  return TS_OK;
}

static ts_status
memo_get (vm *v, uint64_t idx)
{
  if (idx >= (uint64_t) v->n_memo || v->memo[idx] == NULL)
    return vm_err (v, TS_ERR_FORMAT, "memo index %llu was never stored",
                   (unsigned long long) idx);
  return push (v, v->memo[idx]);
}

static ts_status
run_pickle (vm *v, pv **result)
{
  ts_status s = TS_OK;

  while (s == TS_OK)
    {
      pv *a = NULL, *b = NULL, *c = NULL;
      int first = 0;

      if (v->pos >= v->size)
        return ts_error (TS_ERR_FORMAT, "%s: data.pkl: truncated at byte %zu (no STOP)",
                         v->p->path, v->pos);
      v->op_pos = v->pos;
      v->op = v->b[v->pos++];
      switch (v->op)
        {
        case 0x80: /* PROTO */
          if (!need (v, 1))
            return vm_err (v, TS_ERR_FORMAT, "truncated PROTO");
          if (v->b[v->pos] > 5)
            return vm_err (v, TS_ERR_UNSUPPORTED, "pickle protocol %d", v->b[v->pos]);
          v->pos++;
          break;
        case 0x95: /* FRAME: a length hint only */
          if (!need (v, 8))
            return vm_err (v, TS_ERR_FORMAT, "truncated FRAME");
          v->pos += 8;
          break;
        case '}': s = push (v, pv_new (v, PV_DICT)); break;
        case ']': s = push (v, pv_new (v, PV_LIST)); break;
        case ')': s = push (v, pv_new (v, PV_TUPLE)); break;
        case 'N': s = push (v, pv_new (v, PV_NONE)); break;
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
          a = pv_new (v, PV_BOOL);
          if (a)
            a->i = v->op == 0x88;
          s = push (v, a);
          break;
        case '(': /* MARK */
          if (v->n_marks == v->cap_marks)
            {
              int cap = v->cap_marks ? 2 * v->cap_marks : 16;
              int *m = cap <= MAX_STACK ? realloc (v->marks, (size_t) cap * sizeof *m) : NULL;
              if (m == NULL)
                return vm_err (v, TS_ERR_FORMAT, "too many MARKs");
              v->marks = m;
              v->cap_marks = cap;
            }
          v->marks[v->n_marks++] = v->n_stack;
          break;
        case 'X': s = op_string (v, 4); break;
        case 0x8c: s = op_string (v, 1); break;   /* SHORT_BINUNICODE */
        case 0x8d: s = op_string (v, 8); break;   /* BINUNICODE8 */
        case 'J':
          if (!need (v, 4))
            return vm_err (v, TS_ERR_FORMAT, "truncated BININT");
          s = op_int (v, (int32_t) (uint32_t) le (v->b + v->pos, 4));
          v->pos += 4;
          break;
        case 'K':
          if (!need (v, 1))
            return vm_err (v, TS_ERR_FORMAT, "truncated BININT1");
          s = op_int (v, v->b[v->pos++]);
          break;
        case 'M':
          if (!need (v, 2))
            return vm_err (v, TS_ERR_FORMAT, "truncated BININT2");
          s = op_int (v, (int64_t) le (v->b + v->pos, 2));
          v->pos += 2;
          break;
        case 0x8a: s = op_long1 (v); break;
        case 'G': /* BINFLOAT: big-endian double */
          {
            uint64_t bits = 0;
            if (!need (v, 8))
              return vm_err (v, TS_ERR_FORMAT, "truncated BINFLOAT");
            for (int i = 0; i < 8; i++)
              bits = (bits << 8) | v->b[v->pos + (size_t) i];
            v->pos += 8;
            a = pv_new (v, PV_FLOAT);
            if (a)
              memcpy (&a->f, &bits, 8);
            s = push (v, a);
            break;
          }
        case 't':
          if ((s = pop_mark (v, &first)) == TS_OK)
            s = make_seq (v, PV_TUPLE, first);
          break;
        case 0x85: s = op_tuple_n (v, 1); break;
        case 0x86: s = op_tuple_n (v, 2); break;
        case 0x87: s = op_tuple_n (v, 3); break;
        case 's': /* SETITEM */
          if ((s = pop (v, &b)) == TS_OK && (s = pop (v, &a)) == TS_OK &&
              (s = top (v, &c)) == TS_OK)
            s = dict_set (v, c, a, b);
          break;
        case 'u': /* SETITEMS */
          if ((s = pop_mark (v, &first)) != TS_OK)
            break;
          if ((v->n_stack - first) % 2 != 0)
            return vm_err (v, TS_ERR_FORMAT, "SETITEMS with an odd number of items");
          if ((s = below (v, first, &c)) != TS_OK)
            break;
          for (int i = first; i + 1 < v->n_stack && s == TS_OK; i += 2)
            s = dict_set (v, c, v->stack[i], v->stack[i + 1]);
          v->n_stack = first;
          break;
        case 'a': /* APPEND */
          if ((s = pop (v, &a)) != TS_OK || (s = top (v, &c)) != TS_OK)
            break;
          if (c->kind != PV_LIST)
            return vm_err (v, TS_ERR_FORMAT, "APPEND to a %s", kind_name (c->kind));
          if (!pv_push_item (c, a))
            return vm_err (v, TS_ERR_NOMEM, "out of memory");
          break;
        case 'e': /* APPENDS */
          if ((s = pop_mark (v, &first)) != TS_OK || (s = below (v, first, &c)) != TS_OK)
            break;
          if (c->kind != PV_LIST)
            return vm_err (v, TS_ERR_FORMAT, "APPENDS to a %s", kind_name (c->kind));
          for (int i = first; i < v->n_stack; i++)
            if (!pv_push_item (c, v->stack[i]))
              return vm_err (v, TS_ERR_NOMEM, "out of memory");
          v->n_stack = first;
          break;
        case 'q':
          if (!need (v, 1))
            return vm_err (v, TS_ERR_FORMAT, "truncated BINPUT");
          s = memo_put (v, v->b[v->pos++]);
          break;
        case 'r':
          if (!need (v, 4))
            return vm_err (v, TS_ERR_FORMAT, "truncated LONG_BINPUT");
          s = memo_put (v, le (v->b + v->pos, 4));
          v->pos += 4;
          break;
        case 0x94: s = memo_put (v, (uint64_t) v->n_memo); break;  /* MEMOIZE */
        case 'h':
          if (!need (v, 1))
            return vm_err (v, TS_ERR_FORMAT, "truncated BINGET");
          s = memo_get (v, v->b[v->pos++]);
          break;
        case 'j':
          if (!need (v, 4))
            return vm_err (v, TS_ERR_FORMAT, "truncated LONG_BINGET");
          s = memo_get (v, le (v->b + v->pos, 4));
          v->pos += 4;
          break;
        case 'c': s = op_global_text (v); break;
        case 0x93: /* STACK_GLOBAL */
          if ((s = pop (v, &b)) != TS_OK || (s = pop (v, &a)) != TS_OK)
            break;
          if (a->kind != PV_STR || b->kind != PV_STR)
            return vm_err (v, TS_ERR_FORMAT, "STACK_GLOBAL of non-strings");
          s = op_global (v, a->s, b->s);
          break;
        case 'R': s = op_reduce (v); break;
        case 'Q': s = op_persid (v); break;
        case 'b': /* BUILD: only the attribute dict of a state_dict (its _metadata) */
          if ((s = pop (v, &b)) != TS_OK || (s = top (v, &a)) != TS_OK)
            break;
          if (a->kind != PV_DICT || (b->kind != PV_DICT && b->kind != PV_NONE &&
                                     b->kind != PV_TUPLE))
            return vm_err (v, TS_ERR_UNSUPPORTED, "BUILD of a %s with a %s state",
                           kind_name (a->kind), kind_name (b->kind));
          break;
        case '.': /* STOP */
          if (v->n_stack != 1 || v->n_marks != 0)
            return vm_err (v, TS_ERR_FORMAT, "STOP with %d values on the stack", v->n_stack);
          *result = v->stack[0];
          return TS_OK;
        default:
          return vm_err (v, TS_ERR_UNSUPPORTED, "unsupported pickle opcode '%c' (not used by "
                         "torch.save for a state_dict)", v->op >= 32 && v->op < 127 ? v->op : '?');
        }
    }
  return s;
}

/* ---- the state_dict ---- */

static int
all_tensors (const pv *d)
{
  if (d->kind != PV_DICT || d->n == 0)
    return 0;
  for (int i = 0; i + 1 < d->n; i += 2)
    if (d->items[i]->kind != PV_STR || d->items[i + 1]->kind != PV_TENSOR)
      return 0;
  return 1;
}

static const pv *
dict_get (const pv *d, const char *key)
{
  for (int i = 0; i + 1 < d->n; i += 2)
    if (d->items[i]->kind == PV_STR && strcmp (d->items[i]->s, key) == 0)
      return d->items[i + 1];
  return NULL;
}

static ts_status
find_state_dict (ts_pth *p, const pv *root, const pv **out)
{
  static const char *const wrappers[] = { "state_dict", "model", "model_state_dict", "net",
                                          "module", "model_state", "weights" };
  char keys[256] = "";
  size_t len = 0;

  if (root->kind != PV_DICT)
    return ts_error (TS_ERR_FORMAT, "%s: not a state_dict: the checkpoint holds a %s, not a "
                     "dict of tensors", p->path, kind_name (root->kind));
  if (all_tensors (root))
    {
      *out = root;
      return TS_OK;
    }
  for (size_t i = 0; i < sizeof wrappers / sizeof wrappers[0]; i++)
    {
      const pv *d = dict_get (root, wrappers[i]);
      if (d && all_tensors (d))
        {
          *out = d;
          return TS_OK;
        }
    }
  for (int i = 0; i + 1 < root->n && len + 40 < sizeof keys; i += 2)
    {
      const pv *k = root->items[i], *val = root->items[i + 1];
      len += (size_t) snprintf (keys + len, sizeof keys - len, "%s'%.20s' (%s)", i ? ", " : "",
                                k->kind == PV_STR ? k->s : "?", kind_name (val->kind));
    }
  return ts_error (TS_ERR_FORMAT, "%s: not a state_dict: a dict whose values are not all "
                   "tensors, with no state_dict/model entry that is: %s", p->path,
                   root->n ? keys : "(empty)");
}

static ts_status
check_entry (ts_pth *p, const ts_pth_entry *e)
{
  const pth_storage *st = &p->storages[e->storage];
  int64_t last = e->offset;

  if (e->numel == 0)
    return TS_OK;
  for (int d = 0; d < e->ndim; d++)
    {
      if (e->stride[d] > 0 && (e->shape[d] - 1) > (INT64_MAX - last) / e->stride[d])
        return ts_error (TS_ERR_FORMAT, "%s: tensor '%s': strides run past any storage",
                         p->path, e->name);
      last += (e->shape[d] - 1) * e->stride[d];
    }
  if (last >= st->numel)
    return ts_error (TS_ERR_FORMAT, "%s: tensor '%s' reaches element %lld of storage '%s', "
                     "which holds %lld", p->path, e->name, (long long) last, st->key,
                     (long long) st->numel);
  return TS_OK;
}

static ts_status
storage_index (ts_pth *p, const pth_storage *st, zip_int64_t *index)
{
  char name[512];
  zip_stat_t zs;

  snprintf (name, sizeof name, "%sdata/%s", p->prefix, st->key);
  *index = zip_name_locate (p->zip, name, 0);
  if (*index < 0 || zip_stat_index (p->zip, (zip_uint64_t) *index, 0, &zs) != 0)
    return ts_error (TS_ERR_FORMAT, "%s: storage '%s' (%s) is missing from the archive",
                     p->path, st->key, name);
  if (!(zs.valid & ZIP_STAT_SIZE) || (int64_t) zs.size / st->elsize < st->numel)
    return ts_error (TS_ERR_FORMAT, "%s: storage '%s' holds %llu bytes, %lld %s elements "
                     "expected (truncated file?)", p->path, st->key,
                     (unsigned long long) zs.size, (long long) st->numel, st->type_name);
  return TS_OK;
}

static ts_status
read_member (ts_pth *p, zip_int64_t index, uint64_t size, uint8_t **out)
{
  zip_file_t *zf = zip_fopen_index (p->zip, (zip_uint64_t) index, 0);
  uint8_t *buf;
  zip_int64_t got;

  *out = NULL;
  if (zf == NULL)
    return ts_error (TS_ERR_FORMAT, "%s: %s", p->path, zip_strerror (p->zip));
  buf = malloc (size ? size : 1);
  if (buf == NULL)
    {
      zip_fclose (zf);
      return ts_error (TS_ERR_NOMEM, "%s: out of memory", p->path);
    }
  got = size ? zip_fread (zf, buf, size) : 0;
  zip_fclose (zf);
  if (got < 0 || (uint64_t) got != size)
    {
      free (buf);
      return ts_error (TS_ERR_FORMAT, "%s: archive member %lld is truncated or corrupt",
                       p->path, (long long) index);
    }
  *out = buf;
  return TS_OK;
}

/* Runs data.pkl and keeps the state_dict's tensors as entries. */
static ts_status
load_pickle (ts_pth *p, const uint8_t *bytes, size_t size)
{
  const pv *sd = NULL;
  pv *root = NULL;
  vm v = { 0 };
  ts_status s;

  v.p = p;
  v.b = bytes;
  v.size = size;
  s = run_pickle (&v, &root);
  if (s == TS_OK)
    s = find_state_dict (p, root, &sd);
  if (s == TS_OK)
    {
      p->entries = calloc ((size_t) sd->n / 2 + 1, sizeof *p->entries);
      if (p->entries == NULL)
        s = ts_error (TS_ERR_NOMEM, "%s: out of memory", p->path);
    }
  for (int i = 0; s == TS_OK && i + 1 < sd->n; i += 2)
    {
      ts_pth_entry *e = &p->entries[p->n_entries];
      const char *name = sd->items[i]->s;

      *e = sd->items[i + 1]->t;
      if (strncmp (name, "module.", 7) == 0)
        name += 7;
      e->name = strdup (name);
      if (e->name == NULL)
        {
          s = ts_error (TS_ERR_NOMEM, "%s: out of memory", p->path);
          break;
        }
      p->n_entries++;
      snprintf (e->dtype_name, sizeof e->dtype_name, "%s", p->storages[e->storage].type_name);
      e->dtype = p->storages[e->storage].dtype;
      s = check_entry (p, e);
    }
  vm_clear (&v);
  return s;
}

static ts_status
load_archive (ts_pth *p)
{
  zip_int64_t n = zip_get_num_entries (p->zip, 0), pkl = -1;
  zip_stat_t zs;
  uint8_t *bytes = NULL;
  ts_status s;
  int has_code = 0;

  for (zip_int64_t i = 0; i < n; i++)
    {
      const char *name = zip_get_name (p->zip, (zip_uint64_t) i, 0);
      const char *slash = name ? strchr (name, '/') : NULL;
      if (name == NULL)
        continue;
      if (slash && strcmp (slash, "/data.pkl") == 0 && pkl < 0)
        {
          pkl = i;
          p->prefix = strndup (name, (size_t) (slash + 1 - name));
        }
      if (slash && (strncmp (slash, "/code/", 6) == 0 || strcmp (slash, "/constants.pkl") == 0))
        has_code = 1;
    }
  if (pkl < 0)
    return ts_error (TS_ERR_FORMAT, "%s: a zip archive without ARCHIVE/data.pkl: not a "
                     "PyTorch checkpoint", p->path);
  if (p->prefix == NULL)
    return ts_error (TS_ERR_NOMEM, "%s: out of memory", p->path);
  if (has_code)
    return ts_error (TS_ERR_UNSUPPORTED, "%s: a TorchScript archive (torch.jit.save), not a "
                     "state_dict: save model.state_dict() with torch.save", p->path);
  {
    char name[512];
    zip_int64_t bo;
    snprintf (name, sizeof name, "%sbyteorder", p->prefix);
    bo = zip_name_locate (p->zip, name, 0);
    if (bo >= 0 && zip_stat_index (p->zip, (zip_uint64_t) bo, 0, &zs) == 0 && zs.size < 16)
      {
        uint8_t *order;
        if ((s = read_member (p, bo, zs.size, &order)) != TS_OK)
          return s;
        s = zs.size >= 3 && memcmp (order, "big", 3) == 0 ?
          ts_error (TS_ERR_UNSUPPORTED, "%s: big-endian checkpoint", p->path) : TS_OK;
        free (order);
        if (s != TS_OK)
          return s;
      }
  }
  if (zip_stat_index (p->zip, (zip_uint64_t) pkl, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
    return ts_error (TS_ERR_FORMAT, "%s: %s", p->path, zip_strerror (p->zip));
  if (zs.size > ((uint64_t) 1 << 30))
    return ts_error (TS_ERR_UNSUPPORTED, "%s: data.pkl of %llu bytes", p->path,
                     (unsigned long long) zs.size);
  if ((s = read_member (p, pkl, zs.size, &bytes)) != TS_OK)
    return s;

  s = load_pickle (p, bytes, zs.size);
  for (int i = 0; s == TS_OK && i < p->n_storages; i++)
    {
      zip_int64_t index;
      s = storage_index (p, &p->storages[i], &index);
    }
  free (bytes);
  return s;
}

void
ts_pth_free (ts_pth *p)
{
  if (p == NULL)
    return;
  if (p->zip)
    zip_discard (p->zip);
  for (int i = 0; i < p->n_entries; i++)
    free (p->entries[i].name);
  for (int i = 0; i < p->n_storages; i++)
    free (p->storages[i].key);
  free (p->entries);
  free (p->storages);
  free (p->prefix);
  free (p->cache);
  free (p->bytes);
  free (p->path);
  free (p);
}

static ts_status
finish_open (ts_pth *p, ts_pth **out)
{
  ts_status s = load_archive (p);
  if (s != TS_OK)
    {
      ts_pth_free (p);
      return s;
    }
  *out = p;
  return TS_OK;
}

static ts_status
not_zip (const char *what, const uint8_t *head, size_t n)
{
  if (n >= 2 && head[0] == 0x80 && head[1] <= 5)
    return ts_error (TS_ERR_UNSUPPORTED, "%s: a legacy (PyTorch < 1.6) checkpoint; re-save it "
                     "with a current torch.save", what);
  return ts_error (TS_ERR_FORMAT, "%s: not a PyTorch checkpoint (not a zip archive)", what);
}

ts_status
ts_pth_parse (const uint8_t *bytes, size_t size, const char *what, ts_pth **out)
{
  ts_pth *p;
  zip_error_t ze;
  zip_source_t *src;

  *out = NULL;
  if (size < 4 || memcmp (bytes, "PK\3\4", 4) != 0)
    return not_zip (what, bytes, size);
  p = calloc (1, sizeof *p);
  if (p == NULL || (p->path = strdup (what)) == NULL || (p->bytes = malloc (size)) == NULL)
    {
      ts_pth_free (p);
      return ts_error (TS_ERR_NOMEM, "%s: out of memory", what);
    }
  p->cached = -1;
  memcpy (p->bytes, bytes, size);
  zip_error_init (&ze);
  src = zip_source_buffer_create (p->bytes, size, 0, &ze);
  if (src != NULL && (p->zip = zip_open_from_source (src, ZIP_RDONLY, &ze)) == NULL)
    zip_source_free (src);
  if (p->zip == NULL)
    {
      ts_status s = ts_error (TS_ERR_FORMAT, "%s: not a readable zip archive: %s", what,
                              zip_error_strerror (&ze));
      zip_error_fini (&ze);
      ts_pth_free (p);
      return s;
    }
  zip_error_fini (&ze);
  return finish_open (p, out);
}

ts_status
ts_pth_open (const char *path, ts_pth **out)
{
  FILE *f = fopen (path, "rb");
  uint8_t head[4] = { 0 };
  size_t n;
  int err = 0;
  ts_pth *p;

  *out = NULL;
  if (f == NULL)
    return ts_error (TS_ERR_IO, "%s: %s", path, strerror (errno));
  n = fread (head, 1, 4, f);
  fclose (f);
  if (n < 4 || memcmp (head, "PK\3\4", 4) != 0)
    return not_zip (path, head, n);
  p = calloc (1, sizeof *p);
  if (p == NULL || (p->path = strdup (path)) == NULL)
    {
      free (p);
      return ts_error (TS_ERR_NOMEM, "%s: out of memory", path);
    }
  p->cached = -1;
  p->zip = zip_open (path, ZIP_RDONLY, &err);
  if (p->zip == NULL)
    {
      zip_error_t ze;
      ts_status s;
      zip_error_init_with_code (&ze, err);
      s = ts_error (TS_ERR_FORMAT, "%s: not a readable zip archive: %s", path,
                    zip_error_strerror (&ze));
      zip_error_fini (&ze);
      ts_pth_free (p);
      return s;
    }
  return finish_open (p, out);
}

ts_status
ts_pth_parse_pickle (const uint8_t *bytes, size_t size, const char *what, ts_pth **out)
{
  ts_pth *p = calloc (1, sizeof *p);
  ts_status s;

  *out = NULL;
  if (p == NULL || (p->path = strdup (what)) == NULL)
    {
      free (p);
      return ts_error (TS_ERR_NOMEM, "%s: out of memory", what);
    }
  p->cached = -1;
  s = load_pickle (p, bytes, size);
  if (s != TS_OK)
    {
      ts_pth_free (p);
      return s;
    }
  *out = p;
  return TS_OK;
}

int
ts_pth_n_entries (const ts_pth *p)
{
  return p->n_entries;
}

const ts_pth_entry *
ts_pth_entry_at (const ts_pth *p, int i)
{
  return i >= 0 && i < p->n_entries ? &p->entries[i] : NULL;
}

const ts_pth_entry *
ts_pth_find (const ts_pth *p, const char *name)
{
  for (int i = 0; i < p->n_entries; i++)
    if (strcmp (p->entries[i].name, name) == 0)
      return &p->entries[i];
  return NULL;
}

static float
element (const uint8_t *b, ts_pth_dtype dtype, int64_t i)
{
  switch (dtype)
    {
    case TS_PTH_F32: { float f; memcpy (&f, b + 4 * i, 4); return f; }
    case TS_PTH_F16: return ts_half_to_float ((uint16_t) le (b + 2 * i, 2));
    case TS_PTH_BF16: return ts_bf16_to_float ((uint16_t) le (b + 2 * i, 2));
    case TS_PTH_F64: { double d; memcpy (&d, b + 8 * i, 8); return (float) d; }
    case TS_PTH_I64: return (float) (int64_t) le (b + 8 * i, 8);
    case TS_PTH_I32: return (float) (int32_t) (uint32_t) le (b + 4 * i, 4);
    case TS_PTH_OTHER: break;
    }
  return 0.0f;
}

ts_status
ts_pth_read_f32 (ts_pth *p, const ts_pth_entry *e, float *dst, int64_t n)
{
  const pth_storage *st = &p->storages[e->storage];
  int64_t idx[TS_PTH_MAX_DIMS] = { 0 };
  ts_status s;

  if (n != e->numel)
    return ts_error (TS_ERR_SHAPE, "%s: tensor '%s' has %lld elements, %lld asked for",
                     p->path, e->name, (long long) e->numel, (long long) n);
  if (e->dtype == TS_PTH_OTHER)
    return ts_error (TS_ERR_UNSUPPORTED, "%s: tensor '%s' has dtype %s: expected float32, "
                     "float16, bfloat16, float64 or an integer count", p->path, e->name,
                     e->dtype_name);
  if (p->zip == NULL)
    return ts_error (TS_ERR_INVALID, "%s: tensor '%s': no archive to read storages from",
                     p->path, e->name);
  if (p->cached != e->storage)
    {
      zip_int64_t index;
      free (p->cache);
      p->cache = NULL;
      p->cached = -1;
      if ((s = storage_index (p, st, &index)) != TS_OK ||
          (s = read_member (p, index, (uint64_t) st->numel * (uint64_t) st->elsize,
                            &p->cache)) != TS_OK)
        return s;
      p->cached = e->storage;
    }
  for (int64_t k = 0; k < n; k++)
    {
      int64_t at = e->offset;
      for (int d = 0; d < e->ndim; d++)
        at += idx[d] * e->stride[d];
      dst[k] = element (p->cache, e->dtype, at);
      /* row-major odometer over the logical shape */
      for (int d = e->ndim - 1; d >= 0; d--)
        {
          if (++idx[d] < e->shape[d])
            break;
          idx[d] = 0;
        }
    }
  return TS_OK;
}

int
ts_pth_is_pth (const char *path)
{
  FILE *f = fopen (path, "rb");
  uint8_t head[4];
  int yes;

  if (f == NULL)
    return 0;
  yes = fread (head, 1, 4, f) == 4 && memcmp (head, "PK\3\4", 4) == 0;
  fclose (f);
  return yes;
}
