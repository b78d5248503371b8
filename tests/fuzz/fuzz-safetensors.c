/* fuzz-safetensors.c: libFuzzer target for the safetensors reader: parse,
 * look up the metadata, convert every tensor to float32. */
#include <stdint.h>
#include <stdlib.h>

#include "ts-safetensors.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  ts_safetensors *st;

  if (ts_safetensors_parse (data, size, "fuzz.safetensors", &st) != TS_OK)
    return 0;
  (void) ts_safetensors_meta (st, "arch");
  for (int i = 0; i < st->n_entries; i++)
    {
      const ts_st_entry *e = &st->entries[i];
      float *buf;
      if (e->numel > (1 << 20) || ts_safetensors_find (st, e->name) == NULL)
        continue;
      buf = malloc ((size_t) e->numel * sizeof (float) + 1);
      if (buf)
        (void) ts_safetensors_read_f32 (st, e, buf, e->numel);
      free (buf);
    }
  ts_safetensors_free (st);
  return 0;
}
