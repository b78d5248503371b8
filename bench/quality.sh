#!/bin/bash
# Quality side by side (issue 3, item 10): on ../shared/data/bccd, MobileNetV2
# from the uint8 TFLite weights at 128 px, batch 64, --aug flip, the chapter's
# fine_tune(3, 3e-3, freeze_epochs=4) and fine_tune(12, 3e-3, freeze_epochs=8),
# seeds 1 7 42, `tagsight-cli train` vs bench/torch_train_reference.py (torch's
# own layers and Adam, started from the same weights exported by
# bench-tflite-to-safetensors); then resnet18 from scratch on the demo data.
# Prints the table of means and spreads; each run's JSON line is kept in
# OUTDIR, and runs whose result is already there are not rerun.
#
#   bench/quality.sh [--build build] [--out /tmp/tagsight-quality]
#                    [--seeds "1 7 42"] [--recipes "3:4 12:8"] [--sides "tagsight torch"]
#                    [--threads 2] [--no-demo]
set -eu
cd "$(dirname "$0")/.."

build=build
out=/tmp/tagsight-quality
seeds="1 7 42"
recipes="3:4 12:8"
sides="tagsight torch"
threads=2
demo=1
python=/usr/bin/python3
shared=../shared
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --seeds) seeds=$2; shift 2 ;;
    --recipes) recipes=$2; shift 2 ;;
    --sides) sides=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --no-demo) demo=0; shift ;;
    *) echo "quality.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

cli=$build/src/cli/tagsight-cli
export_tool=$build/bench/bench-tflite-to-safetensors
csv=$shared/data/bccd/train.csv
tflite=$shared/weights/mobilenet_v2/mobilenet_v2_1.0_224_quant.tflite
for f in "$cli" "$export_tool" "$csv" "$tflite"; do
  [ -e "$f" ] || { echo "quality.sh: $f is missing" >&2; exit 1; }
done
mkdir -p "$out"
body=$out/mobilenet_v2_tflite_body.safetensors
[ -s "$body" ] || "$export_tool" "$tflite" "$body"

# one JSON line per run: $out/<side>-e<epochs>-f<freeze>-s<seed>.json
for r in $recipes; do
  e=${r%:*}; f=${r#*:}
  for s in $seeds; do
    for side in $sides; do
      res=$out/$side-e$e-f$f-s$s.json
      [ -s "$res" ] && continue
      log=$out/$side-e$e-f$f-s$s.log
      echo "== $side fine_tune($e, 3e-3, freeze_epochs=$f) seed $s" >&2
      start=$(date +%s)
      if [ "$side" = tagsight ]; then
        nice "$cli" train "$csv" --arch mobilenet_v2 --pretrained "$tflite" --epochs "$e" \
          --freeze-epochs "$f" --lr 3e-3 --bs 64 --size 128 --aug flip --seed "$s" \
          --threads "$threads" > "$log" 2>&1
      else
        nice "$python" bench/torch_train_reference.py "$csv" --arch mobilenet_v2 \
          --weights "$body" --epochs "$e" --freeze-epochs "$f" --lr 3e-3 --bs 64 --size 128 \
          --aug flip --seeds "$s" --threads "$threads" > "$log" 2>&1
      fi
      echo "   $(( $(date +%s) - start )) s" >&2
      grep '^{' "$log" | head -1 > "$res.tmp" && mv "$res.tmp" "$res"
    done
  done
done

if [ "$demo" = 1 ]; then
  res=$out/demo-resnet18.json
  if [ ! -s "$res" ]; then
    [ -d "$out/demo" ] || nice "$cli" demo-data "$out/demo" --n 1000 > /dev/null
    echo "== tagsight resnet18 from scratch on the demo data, fine_tune(5, 1e-2, freeze_epochs=1), 64 px" >&2
    nice "$cli" train "$out/demo/train.csv" --arch resnet18 --epochs 5 --freeze-epochs 1 \
      --lr 1e-2 --bs 64 --size 64 --aug flip --seed 42 --threads "$threads" \
      > "$out/demo-resnet18.log" 2>&1
    grep '^{' "$out/demo-resnet18.log" | head -1 > "$res"
  fi
fi

"$python" - "$out" "$recipes" "$seeds" <<'PY'
import json, os, statistics, sys
out, recipes, seeds = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()

def load(side, e, f):
    rows = []
    for s in seeds:
        p = os.path.join(out, f"{side}-e{e}-f{f}-s{s}.json")
        if os.path.exists(p) and os.path.getsize(p):
            rows.append((s, json.load(open(p))))
    return rows

def stats(v):
    if not v:
        return "-"
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return f"{100 * statistics.mean(v):6.2f} (sd {100 * sd:4.2f}, {100 * min(v):.2f}-{100 * max(v):.2f})"

print("| recipe | framework | seeds | mAP % mean (sd, min-max) | best accuracy_multi % mean (sd, min-max) |")
print("| --- | --- | --- | --- | --- |")
verdicts = []
for r in recipes:
    e, f = r.split(":")
    means = {}
    for side in ("tagsight", "torch"):
        rows = load(side, e, f)
        m = [j["mAP"] for _, j in rows]
        a = [j["accuracy_multi_best"] for _, j in rows]
        means[side] = (m, a)
        print(f"| fine_tune({e}, 3e-3, freeze_epochs={f}) | {side} | "
              f"{' '.join(s for s, _ in rows) or '-'} | {stats(m)} | {stats(a)} |")
    (tm, ta), (pm, pa) = means["tagsight"], means["torch"]
    if tm and pm:
        dm = 100 * (statistics.mean(tm) - statistics.mean(pm))
        da = 100 * (statistics.mean(ta) - statistics.mean(pa))
        ok = abs(dm) <= 1 and abs(da) <= 1
        verdicts.append(f"fine_tune({e}, 3e-3, freeze_epochs={f}): tagsight - torch: mAP "
                        f"{dm:+.2f} points, best accuracy_multi {da:+.2f} points: "
                        f"{'within' if ok else 'NOT within'} 1 point")
print()
for v in verdicts:
    print(v)
p = os.path.join(out, "demo-resnet18.json")
if os.path.exists(p) and os.path.getsize(p):
    j = json.load(open(p))
    print(f"\nresnet18 from scratch, demo data (1000 images), fine_tune(5, 1e-2, freeze_epochs=1), "
          f"64 px, seed 42: mAP {100 * j['mAP']:.2f}%, accuracy_multi@0.2 "
          f"{100 * j['accuracy_multi']:.2f}%, best {100 * j['accuracy_multi_best']:.2f}% at "
          f"{j['best_thresh']:.3f}, all-negative {100 * j['all_negative_baseline']:.2f}%, "
          f"valid_loss {j['valid_loss']:.4f}, {j['train_images_per_s']:.1f} train images/s")
PY
