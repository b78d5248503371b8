/* ts-backend.c: helpers common to every backend. */
#include "ts-backend.h"

#include <stdio.h>
#include <stdlib.h>

void
ts_backend_free (ts_backend *be)
{
  if (be == NULL)
    return;
  be->i->destroy (be);
}

void
ts_backend_set_threads (ts_backend *be, int n_threads)
{
  if (be == NULL || be->i->set_threads == NULL)
    return;
  be->i->set_threads (be, n_threads);
}

void
ts_backend_record_failure (ts_backend *be, ts_status status)
{
  if (be == NULL || be->failed != TS_OK || status == TS_OK)
    return;
  be->failed = status;
  snprintf (be->failed_msg, sizeof be->failed_msg, "%s", ts_last_error ());
}

ts_status
ts_backend_check (ts_backend *be)
{
  if (be == NULL || be->failed == TS_OK)
    return TS_OK;
  return ts_error (be->failed, "%s", be->failed_msg);
}
