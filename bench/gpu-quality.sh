#!/bin/sh
# gpu-quality.sh: the quality runs of bench/quality.sh (bccd, MobileNetV2 from
# the uint8 TFLite file, fine_tune with --aug flip at 128 px, batch 64) on
# another device, to compare with the CPU's table in bench/RESULTS.md.
#
#   bench/gpu-quality.sh CLI DATA_CSV TFLITE [--device cuda] [--seeds "1 7 42"] [--recipes "3:4 12:8"]
# Prints one line per run: recipe, seed, mAP, best accuracy_multi, epoch times.
set -u
CLI=$1; CSV=$2; W=$3; shift 3
DEV=cuda; SEEDS="1 7 42"; RECIPES="3:4 12:8"
while [ $# -gt 0 ]; do
  case $1 in
    --device) DEV=$2; shift;;
    --seeds) SEEDS=$2; shift;;
    --recipes) RECIPES=$2; shift;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
  shift
done
PY=${PYTHON:-python3}
for r in $RECIPES; do
  e=${r%%:*}; f=${r##*:}
  for s in $SEEDS; do
    out=$("$CLI" train "$CSV" --device "$DEV" --arch mobilenet_v2 --pretrained "$W" --epochs "$e" \
          --freeze-epochs "$f" --lr 3e-3 --bs 64 --size 128 --aug flip --seed "$s" \
          --out /tmp/gpu-quality.tsmodel 2>&1)
    rc=$?
    echo "$out" | grep '^{' | tail -1 | "$PY" -c "
import json, sys
line = sys.stdin.read().strip()
if not line:
    print('fine_tune($e, 3e-3, freeze_epochs=$f) seed $s on $DEV: FAILED (exit $rc)')
    sys.exit(0)
j = json.loads(line)
print(f'fine_tune($e, 3e-3, freeze_epochs=$f) seed $s on $DEV: mAP {100*j[\"mAP\"]:.2f}  '
      f'best accuracy_multi {100*j[\"accuracy_multi_best\"]:.2f} at {j[\"best_thresh\"]:.2f}  '
      f'epochs {\" \".join(f\"{t:.2f}\" for t in j[\"epoch_times\"])} s')"
    [ $rc -eq 0 ] || echo "$out" | tail -5
  done
done
