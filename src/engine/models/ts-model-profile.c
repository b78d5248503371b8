/* ts-model-profile.c: where a step's time goes, by kind of layer.
 *
 * While profiling is on, the runner waits for the backend after every node
 * (a GPU runs ahead of the host otherwise, and the time would land on
 * whichever node next waits) and adds the node's wall time to its row.  The
 * waits slow the step, so this is for `tagsight-cli bench --profile`, never
 * for training. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "ts-clock.h"
#include "ts-model-private.h"

enum {
  ROW_CONV1, ROW_CONV3, ROW_CONV_OTHER, ROW_CONV_GROUPED, ROW_BN, ROW_ACT, ROW_MAXPOOL,
  ROW_ADD, ROW_POOL, ROW_DROPOUT, ROW_LINEAR, ROW_OTHER, N_ROWS
};

static const char *const row_labels[N_ROWS] = {
  "conv 1x1", "conv 3x3", "conv other", "conv grouped", "batch norm", "activation",
  "max pool", "residual add", "head pools", "dropout", "linear", "other",
};

struct ts_model_profile {
  double last;
  double seconds[N_ROWS][2];
  int64_t calls[N_ROWS][2];
};

static int
row_of (const ts_node *n)
{
  switch (n->kind)
    {
    case TS_NODE_CONV:
      if (n->conv.groups > 1)
        return ROW_CONV_GROUPED;
      return n->kh == 1 && n->kw == 1 ? ROW_CONV1 : n->kh == 3 && n->kw == 3 ? ROW_CONV3
                                                                              : ROW_CONV_OTHER;
    case TS_NODE_BN: return ROW_BN;
    case TS_NODE_ACT: return ROW_ACT;
    case TS_NODE_MAXPOOL: return ROW_MAXPOOL;
    case TS_NODE_ADD: return ROW_ADD;
    case TS_NODE_AVGPOOL:
    case TS_NODE_CONCATPOOL: return ROW_POOL;
    case TS_NODE_DROPOUT: return ROW_DROPOUT;
    case TS_NODE_LINEAR: return ROW_LINEAR;
    default: return ROW_OTHER;
    }
}

void
ts_model_set_profile (ts_model *m, int on)
{
  free (m->prof);
  m->prof = on ? calloc (1, sizeof *m->prof) : NULL;
}

void
ts_profile_begin (ts_model *m)
{
  m->be->i->synchronize (m->be);
  m->prof->last = ts_now_seconds ();
}

void
ts_profile_node (ts_model *m, const ts_node *n, int backward)
{
  double t;
  int r = row_of (n);

  m->be->i->synchronize (m->be);
  t = ts_now_seconds ();
  m->prof->seconds[r][backward] += t - m->prof->last;
  m->prof->calls[r][backward]++;
  m->prof->last = t;
}

int
ts_model_profile_rows (const ts_model *m, ts_profile_row *rows, int max)
{
  int k = 0;

  if (m->prof == NULL)
    return 0;
  for (int r = 0; r < N_ROWS && k < max; r++)
    if (m->prof->calls[r][0] + m->prof->calls[r][1] > 0)
      {
        rows[k].label = row_labels[r];
        rows[k].forward_s = m->prof->seconds[r][0];
        rows[k].backward_s = m->prof->seconds[r][1];
        rows[k].forward_calls = m->prof->calls[r][0];
        rows[k].backward_calls = m->prof->calls[r][1];
        k++;
      }
  return k;
}
