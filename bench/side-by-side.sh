#!/bin/bash
# Runs `tagsight-cli bench` and bench/torch_step.py alternately, ROUNDS times
# each, in one run on the same machine, and prints the medians and ratios.
#
#   bench/side-by-side.sh [--cli build/src/cli/tagsight-cli] [--rounds 3]
#                         [--arch resnet18] [--bs 64] [--size 128] [--threads 2]
set -eu
cd "$(dirname "$0")/.."

cli=build/src/cli/tagsight-cli
rounds=3
arch=resnet18
bs=64
size=128
threads=2
python=/usr/bin/python3
while [ $# -gt 0 ]; do
  case "$1" in
    --cli) cli=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --bs) bs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "side-by-side.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds: tagsight" >&2
  "$cli" bench --arch "$arch" --bs "$bs" --size "$size" --threads "$threads" | tail -n 1 >> "$log"
  echo "round $r/$rounds: torch" >&2
  OMP_NUM_THREADS=$threads "$python" bench/torch_step.py --arch "$arch" --bs "$bs" \
    --size "$size" --threads "$threads" | tail -n 1 >> "$log"
done

"$python" - "$log" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
by = {}
for r in rows:
    by.setdefault(r["impl"], []).append(r)
def med(impl, key):
    return statistics.median(r[key] for r in by[impl])
a = rows[0]
print(f"{a['arch']}, batch {a['bs']}, {a['size']} px, {a['threads']} threads, "
      f"{len(by.get('tagsight', []))} rounds each (medians)")
print(f"{'':24}{'tagsight':>12}{'torch':>12}{'ratio':>10}")
for key, label in (("train_images_per_s", "training images/s"),
                   ("infer_images_per_s", "inference images/s"),
                   ("peak_mib", "peak memory MiB")):
    t, p = med("tagsight", key), med("torch", key)
    print(f"{label:24}{t:12.1f}{p:12.1f}{t / p:10.2f}")
PY
