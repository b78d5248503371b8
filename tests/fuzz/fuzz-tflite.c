/* fuzz-tflite.c: libFuzzer target for the TFLite FlatBuffers reader: parse,
 * then dequantise every tensor that has data. */
#include <stdint.h>
#include <stdlib.h>

#include "ts-tflite.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  ts_tflite *t;

  if (ts_tflite_parse (data, size, "fuzz.tflite", &t) != TS_OK)
    return 0;
  for (int i = 0; i < t->n_tensors; i++)
    {
      int64_t n = t->tensors[i].numel;
      float *buf;
      if (n <= 0 || n > (1 << 22))
        continue;
      buf = malloc ((size_t) n * sizeof (float));
      if (buf)
        (void) ts_tflite_dequantize (t, i, buf, n);
      free (buf);
    }
  ts_tflite_free (t);
  return 0;
}
