/* ts-backend-select.c: backend by name; knows "cuda" only in CUDA builds. */
#include "ts-backend-select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef TS_HAVE_CUDA
#include "ts-backend-cuda.h"
#endif
#include "ts-i18n.h"

int
ts_backend_have_cuda (void)
{
#ifdef TS_HAVE_CUDA
  return 1;
#else
  return 0;
#endif
}

/* The reason, already recorded with ts_error (which translates it), is
 * copied to @err for the caller. */
static ts_backend *
fail (char *err, size_t len)
{
  if (err && len)
    snprintf (err, len, "%s", ts_last_error ());
  return NULL;
}

#ifndef TS_HAVE_CUDA
static void
no_cuda_build (void)
{
  ts_error (TS_ERR_DEVICE, "this build has no CUDA backend (meson -Dcuda=enabled needs "
            "nvcc and the CUDA toolkit); use --device cpu");
}
#endif

int
ts_backend_cuda_usable (char *why, size_t len)
{
  if (why && len)
    why[0] = '\0';
#ifdef TS_HAVE_CUDA
  if (ts_cuda_usable (0))
    return 1;
#else
  no_cuda_build ();
#endif
  fail (why, len);
  return 0;
}

static ts_backend *
cpu_new (int threads, char *err, size_t len)
{
  ts_backend *be = ts_backend_cpu_new (threads);
  if (be == NULL)
    return fail (err, len);
  return be;
}

ts_backend *
ts_backend_new_by_name (const char *device, int threads, char *err, size_t len)
{
  if (err && len)
    err[0] = '\0';
  /* TAGSIGHT_DEVICE picks for "auto" (the test suite pins the CPU with it) */
  if ((device == NULL || strcmp (device, "auto") == 0) && getenv ("TAGSIGHT_DEVICE")
      && *getenv ("TAGSIGHT_DEVICE") && strcmp (getenv ("TAGSIGHT_DEVICE"), "auto") != 0)
    device = getenv ("TAGSIGHT_DEVICE");
  if (device == NULL || strcmp (device, "auto") == 0)
    {
#ifdef TS_HAVE_CUDA
      ts_backend *be = ts_backend_cuda_new (0, NULL, 0);   /* it probes the device */

      if (be)
        return be;
      ts_clear_error ();
#endif
      return cpu_new (threads, err, len);
    }
  if (strcmp (device, "cpu") == 0)
    return cpu_new (threads, err, len);
  if (strncmp (device, "cuda", 4) == 0 && (device[4] == '\0' || device[4] == ':'))
    {
#ifdef TS_HAVE_CUDA
      int index = 0;
      if (device[4] == ':')
        {
          char *end = NULL;
          long v = strtol (device + 5, &end, 10);
          if (end == device + 5 || *end != '\0' || v < 0 || v > 64)
            {
              ts_error (TS_ERR_DEVICE, "device \"%s\": expected cuda:N with N a GPU number",
                        device);
              return fail (err, len);
            }
          index = (int) v;
        }
      char msg[512];
      ts_backend *be = ts_backend_cuda_new (index, msg, sizeof msg);
      if (be == NULL)
        {
          /* TRANSLATORS: the reason the GPU cannot be used, then the way out */
          ts_error (TS_ERR_DEVICE, "%s; the CPU trains without a GPU (--device cpu)", msg);
          return fail (err, len);
        }
      return be;
#else
      no_cuda_build ();
      return fail (err, len);
#endif
    }
  ts_error (TS_ERR_DEVICE, "unknown device \"%s\" (expected cpu, cuda, cuda:N or auto)",
            device);
  return fail (err, len);
}

long
ts_backend_bf16_fallbacks (ts_backend *be)
{
#ifdef TS_HAVE_CUDA
  if (be && strcmp (be->i->name, "cuda") == 0)
    return ts_backend_cuda_bf16_fallbacks (be);
#endif
  return 0;
}

void
ts_backend_dnn_fallthrough (ts_backend *be, long *refused, long *no_memory, long *exhausted)
{
  *refused = *no_memory = *exhausted = 0;
#ifdef TS_HAVE_CUDA
  if (be && strcmp (be->i->name, "cuda") == 0)
    {
      ts_cuda_dnn_stats s;
      ts_backend_cuda_dnn_stats (be, &s);
      *refused = s.refused;
      *no_memory = s.no_memory;
      *exhausted = s.exhausted;
    }
#endif
}

const char *
ts_backend_describe (ts_backend *be, char *buf, size_t len)
{
  if (len == 0)
    return buf;
#ifdef TS_HAVE_CUDA
  if (be && strcmp (be->i->name, "cuda") == 0)
    return ts_backend_cuda_describe (be, buf, len);
#endif
  if (be && strcmp (be->i->name, "cpu") == 0)
    snprintf (buf, len, TS_NG ("CPU (%d thread)", "CPU (%d threads)", be->n_threads),
              be->n_threads);
  else if (be)
    snprintf (buf, len, "%s (%d)", be->i->name, be->n_threads);
  else
    snprintf (buf, len, "none");
  return buf;
}
