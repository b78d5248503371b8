/* ts-backend.c: helpers common to every backend. */
#include "ts-backend.h"

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
