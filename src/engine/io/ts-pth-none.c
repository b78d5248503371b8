/* ts-pth-none.c: ts_model_load_pretrained_any for builds without libzip:
 * PyTorch checkpoints are named as unsupported rather than misread. */
#include <stdio.h>
#include <string.h>

#include "ts-pth.h"

static int
starts_with (const char *path, size_t at, const char *magic, size_t n)
{
  FILE *f = fopen (path, "rb");
  char head[16];
  int yes;

  if (f == NULL)
    return 0;
  yes = fread (head, 1, at + n, f) == at + n && memcmp (head + at, magic, n) == 0;
  fclose (f);
  return yes;
}

int
ts_pth_is_pth (const char *path)
{
  return starts_with (path, 0, "PK\3\4", 4);
}

ts_status
ts_model_load_pretrained_any (ts_model *m, const char *path, ts_normalization *norm,
                              ts_load_report *report)
{
  if (report)
    memset (report, 0, sizeof *report);
  if (ts_pth_is_pth (path))
    return ts_error (TS_ERR_UNSUPPORTED, "%s: a PyTorch checkpoint, and this build has no "
                     "libzip to read it; convert it to .safetensors (docs/interchange.md)", path);
  if (report && !starts_with (path, 4, "TFL3", 4))
    {
      if (norm)
        *norm = ts_normalization_imagenet ();
      return ts_model_load_safetensors (m, path, TS_LOAD_BACKBONE, report);
    }
  return ts_model_load_pretrained (m, path, norm);
}
