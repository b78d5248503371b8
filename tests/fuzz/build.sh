#!/bin/sh
# Builds the libFuzzer targets (clang, ASan + UBSan) into DIR (default build-fuzz):
#   tests/fuzz/build.sh [DIR]
# then runs one for a while, e.g. five minutes, one process, nice'd:
#   nice DIR/fuzz-pth -max_total_time=300 DIR/corpus-pth tests/fuzz/seeds/pth tests/fixtures/pth
#   nice DIR/fuzz-safetensors -max_total_time=300 DIR/corpus-st tests/fuzz/seeds/safetensors
#   nice DIR/fuzz-tflite -max_total_time=300 -max_len=5000000 DIR/corpus-tfl tests/fuzz/seeds/tflite \
#        ../shared/weights/mobilenet_v2
# (the first directory collects the corpus; the others are read-only seeds).  A crash
# leaves crash-* in the working directory: copy it to tests/fuzz/regressions/KIND/ so
# that the fuzz-replay test keeps it fixed.
set -e
SRC=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${1:-$SRC/build-fuzz}
CC=${CC:-clang}
mkdir -p "$OUT"
FLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined"
FLAGS="$FLAGS -fno-sanitize-recover=undefined -I$SRC/src/engine -I$SRC/src/engine/io"
FLAGS="$FLAGS -I$SRC/src/engine/models"
COMMON="$SRC/src/engine/ts-status.c $SRC/src/engine/io/ts-json.c $SRC/src/engine/io/ts-safetensors.c"
$CC $FLAGS -o "$OUT/fuzz-pth" "$SRC/tests/fuzz/fuzz-pth.c" $COMMON "$SRC/src/engine/io/ts-pth.c" \
  $(pkg-config --cflags --libs libzip)
$CC $FLAGS -o "$OUT/fuzz-safetensors" "$SRC/tests/fuzz/fuzz-safetensors.c" $COMMON -lm
$CC $FLAGS -o "$OUT/fuzz-tflite" "$SRC/tests/fuzz/fuzz-tflite.c" $COMMON \
  "$SRC/src/engine/io/ts-tflite.c" -lm
echo "built $OUT/fuzz-pth $OUT/fuzz-safetensors $OUT/fuzz-tflite"
