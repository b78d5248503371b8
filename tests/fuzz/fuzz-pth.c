/* fuzz-pth.c: libFuzzer target for the PyTorch checkpoint reader.  A zip
 * archive (PK..) is parsed whole and every tensor read, as ts_model_load_pth
 * would; anything else is run as data.pkl alone, so that mutations reach the
 * pickle machine without failing the archive's CRC checks first. */
#include <stdint.h>
#include <stdlib.h>

#include "ts-pth.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  ts_pth *p;

  if (size >= 2 && data[0] == 'P' && data[1] == 'K')
    {
      if (ts_pth_parse (data, size, "fuzz.pth", &p) != TS_OK)
        return 0;
    }
  else if (ts_pth_parse_pickle (data, size, "fuzz.pkl", &p) != TS_OK)
    return 0;
  for (int i = 0; i < ts_pth_n_entries (p); i++)
    {
      const ts_pth_entry *e = ts_pth_entry_at (p, i);
      float *buf;
      if (e->numel > (1 << 20))
        continue;
      buf = malloc ((size_t) e->numel * sizeof (float) + 1);
      if (buf)
        (void) ts_pth_read_f32 (p, e, buf, e->numel);
      free (buf);
    }
  ts_pth_free (p);
  return 0;
}
