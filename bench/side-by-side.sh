#!/bin/bash
# Runs `tagsight-cli bench` and bench/torch_step.py alternately, ROUNDS times
# each, in one run on the same machine, and prints the medians and ratios.
#
#   bench/side-by-side.sh [--cli build/src/cli/tagsight-cli] [--rounds 3]
#                         [--arch resnet18] [--bs 64] [--size 128] [--threads 2]
#                         [--steps 6] [--warmup 2]
# Besides images/s (wall clock) it prints the median CPU seconds per step (all
# threads of the process): on a shared, loaded machine the wall-clock figures
# depend on the share of the cores each process got, the CPU time much less.
set -eu
cd "$(dirname "$0")/.."

cli=build/src/cli/tagsight-cli
rounds=3
arch=resnet18
bs=64
size=128
threads=2
steps=6
warmup=2
python=/usr/bin/python3
while [ $# -gt 0 ]; do
  case "$1" in
    --cli) cli=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --bs) bs=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    *) echo "side-by-side.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
for r in $(seq 1 "$rounds"); do
  echo "round $r/$rounds: tagsight" >&2
  "$cli" bench --arch "$arch" --bs "$bs" --size "$size" --threads "$threads" \
    --steps "$steps" --warmup "$warmup" | tail -n 1 >> "$log"
  echo "round $r/$rounds: torch" >&2
  OMP_NUM_THREADS=$threads "$python" bench/torch_step.py --arch "$arch" --bs "$bs" \
    --size "$size" --threads "$threads" --steps "$steps" --warmup "$warmup" | tail -n 1 >> "$log"
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
print(f"{'':26}{'tagsight':>12}{'torch':>12}{'ratio':>10}")
for key, label, fmt in (("train_images_per_s", "training images/s", ".1f"),
                        ("infer_images_per_s", "inference images/s", ".1f"),
                        ("train_cpu_s", "training CPU s/step", ".3f"),
                        ("infer_cpu_s", "inference CPU s/batch", ".3f"),
                        ("peak_mib", "peak memory MiB", ".1f")):
    t, p = med("tagsight", key), med("torch", key)
    # ratio > 1 means tagsight is better: faster, less CPU, less memory
    r = t / p if key.endswith("per_s") else p / t
    print(f"{label:26}{t:12{fmt}}{p:12{fmt}}{r:10.2f}")
print("ratio: tagsight over torch for images/s; torch over tagsight for CPU s and memory")
PY
