/* ts-pth-none.c: ts_model_load_pretrained_any for builds without libzip:
 * PyTorch checkpoints are named as unsupported rather than misread. */
#include <stdio.h>

#include "ts-pth.h"

int
ts_pth_is_pth (const char *path)
{
  FILE *f = fopen (path, "rb");
  unsigned char head[4];
  int yes;

  if (f == NULL)
    return 0;
  yes = fread (head, 1, 4, f) == 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 &&
        head[3] == 4;
  fclose (f);
  return yes;
}

ts_status
ts_model_load_pretrained_any (ts_model *m, const char *path, ts_normalization *norm)
{
  if (ts_pth_is_pth (path))
    return ts_error (TS_ERR_UNSUPPORTED, "%s: a PyTorch checkpoint, and this build has no "
                     "libzip to read it; convert it to .safetensors (docs/interchange.md)", path);
  return ts_model_load_pretrained (m, path, norm);
}
