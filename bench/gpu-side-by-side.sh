#!/bin/sh
# gpu-side-by-side.sh: tagsight-cli bench --device cuda next to PyTorch's
# same step (bench/torch_step.py) on the same GPU in one run, and optionally
# the end-to-end epoch (JPEG decode to predictions) of both.
#
#   bench/gpu-side-by-side.sh CLI [--big] [--epoch DIR] [--steps N] [--kinds "K..."]
#                                 [--profile]
#     CLI          a tagsight-cli built with the CUDA backend
#     --big        also batch 256 (default: batch 64 only)
#     --kinds      which of the six runs below (default: all)
#     --profile    then ours' per-layer profile at the largest batch, and our
#                  default with TS_CUDA_DETERMINISTIC=0 and with TS_CUDA_CONV_SEARCH=1
#                  (and bf16 with TS_CUDA_DETERMINISTIC=0, when ours-bf16 runs)
#     --epoch DIR  also time two fine_tune epochs of resnet50 at 128 px on the
#                  JPEG set made by bench/make_jpeg_set.py in DIR (made when missing):
#                  ours with the resample on the GPU and on the loader threads
#                  (flip, as PyTorch's script), ours with fastai's aug_transforms
#                  on the GPU, and PyTorch
# Each shape runs six times: ours in exact FP32 (TS_CUDA_TF32=0), with our
# defaults (cuDNN, TF32 convolutions) and with --precision bf16 (activations
# in bfloat16 NHWC), PyTorch in exact FP32, with its defaults
# (TF32 convolutions) and as its users run for speed (channels_last + bf16
# autocast).  Prints one JSON line per run (grep '^{') and a summary with ratios.
set -u
CLI=$1; shift
BIG=0; EPOCH=""; STEPS=10; PROFILE=0
KINDS="ours-exact ours-default ours-bf16 torch-exact torch-default torch-cl-bf16"
while [ $# -gt 0 ]; do
  case $1 in
    --big) BIG=1;;
    --kinds) KINDS=$2; shift;;
    --profile) PROFILE=1;;
    --epoch) EPOCH=$2; shift;;
    --steps) STEPS=$2; shift;;
    *) echo "unknown option $1" >&2; exit 2;;
  esac
  shift
done
HERE=$(cd "$(dirname "$0")" && pwd)
PY=${PYTHON:-python3}
BS_LIST="64"; [ $BIG = 1 ] && BS_LIST="64 256"
LOG=$(mktemp)

one () {  # label, command...: its output indented, its JSON line labelled in $LOG
  label=$1; shift
  case " $KINDS " in *" ${label%% *} "*) ;; *) return;; esac
  echo "-- $label"
  timeout 120 "$@" > "$LOG.run" 2>&1 || echo "   (exit status $?)"
  grep -v '^{' "$LOG.run" | sed 's/^/   /'
  grep '^{' "$LOG.run" | tail -1 | sed "s/^{/{\"label\": \"$label\", /" >> "$LOG"
}

for arch in resnet18 resnet50; do
  for bs in $BS_LIST; do
    common="--arch $arch --bs $bs --size 128 --steps $STEPS --warmup 3"
    one "ours-exact $arch $bs" env TS_CUDA_TF32=0 "$CLI" bench --device cuda $common
    one "ours-default $arch $bs" "$CLI" bench --device cuda $common
    one "ours-bf16 $arch $bs" "$CLI" bench --device cuda --precision bf16 $common
    one "torch-exact $arch $bs" "$PY" "$HERE/torch_step.py" --device cuda --tf32 off $common
    one "torch-default $arch $bs" "$PY" "$HERE/torch_step.py" --device cuda $common
    one "torch-cl-bf16 $arch $bs" "$PY" "$HERE/torch_step.py" --device cuda --channels-last --amp bf16 $common
  done
done

if [ $PROFILE = 1 ]; then
  bs=${BS_LIST##* }
  case " $KINDS " in *" ours-bf16 "*) KINDS="$KINDS ours-bf16-nondeterministic";; esac
  KINDS="$KINDS ours-nondeterministic ours-search"
  for arch in resnet18 resnet50; do
    common="--arch $arch --bs $bs --size 128 --steps $STEPS --warmup 3"
    one "ours-nondeterministic $arch $bs" env TS_CUDA_DETERMINISTIC=0 "$CLI" bench --device cuda $common
    one "ours-search $arch $bs" env TS_CUDA_CONV_SEARCH=1 "$CLI" bench --device cuda $common
    # cuDNN's first bf16 choice may be a non-deterministic one (fp32's was not faster)
    one "ours-bf16-nondeterministic $arch $bs" env TS_CUDA_DETERMINISTIC=0 "$CLI" bench \
      --device cuda --precision bf16 $common
    echo "-- ours-default $arch $bs, profiled"
    timeout 120 "$CLI" bench --device cuda $common --profile 2>&1 | sed -n '/where a training step/,$p'
    case " $KINDS " in *" ours-bf16 "*)
      echo "-- ours-bf16 $arch $bs, profiled"
      timeout 120 "$CLI" bench --device cuda --precision bf16 $common --profile 2>&1 \
        | sed -n '/where a training step/,$p';;
    esac
  done
fi

if [ -n "$EPOCH" ]; then
  [ -f "$EPOCH/train.csv" ] || "$PY" "$HERE/make_jpeg_set.py" "$EPOCH"
  # resample on the GPU (the default), then on the loader threads (the A/B),
  # then the GPU with fastai's full aug_transforms instead of flip only
  # and, when ours-bf16 is among the kinds, the GPU resample with bf16 activations
  RUNS='"1 flip fp32" "0 flip fp32" "1 fastai fp32"'
  case " $KINDS " in *" ours-bf16 "*) RUNS="$RUNS \"1 flip bf16\"";; esac
  eval "set -- $RUNS"
  for run in "$@"; do
    set -- $run
    echo "-- ours: fine_tune(2, freeze_epochs=0), resnet50, 128 px, bs 64, aug $2," \
      "TS_DEVICE_RESAMPLE=$1, precision $3"
    TS_DEVICE_RESAMPLE=$1 timeout 150 "$CLI" train "$EPOCH/train.csv" --device cuda \
      --arch resnet50 --epochs 2 --freeze-epochs 0 --bs 64 --size 128 --aug "$2" --precision "$3" \
      --threads "$(nproc)" --out /tmp/gpu-epoch.tsmodel 2>&1 | tail -25
  done
  echo "-- torch: 2 epochs, DataLoader with $(nproc) workers, channels_last + bf16"
  timeout 150 "$PY" "$HERE/torch_gpu_epoch.py" "$EPOCH/train.csv" --arch resnet50 --epochs 2 \
    --workers "$(nproc)" 2>&1 | tail -5
fi

echo "-- summary (images/s; ratio = ours / torch)"
"$PY" - "$LOG" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {r["label"]: r for r in rows}
for r in rows:
    if not r["label"].startswith("ours"):
        continue
    kind, arch, bs = r["label"].split()
    against = ["torch-exact"] if kind == "ours-exact" else ["torch-default", "torch-cl-bf16"]
    for t in against:
        o = by.get(f"{t} {arch} {bs}")
        if o:
            print(f"{kind:16s} vs {t:14s} {arch} bs {bs}: train {r['train_images_per_s']:8.1f} vs "
                  f"{o['train_images_per_s']:8.1f} ({r['train_images_per_s'] / o['train_images_per_s']:.2f}x)"
                  f"  infer {r['infer_images_per_s']:8.1f} vs {o['infer_images_per_s']:8.1f} "
                  f"({r['infer_images_per_s'] / o['infer_images_per_s']:.2f}x)"
                  + (f"  [{r['bf16_fallbacks']} conv calls in float32: cuDNN had no bf16 algorithm that ran]"
                     if r.get("bf16_fallbacks") else "")
                  + (f"  [cuDNN fall-through: {r.get('dnn_refused', 0)} algorithms failed as they ran,"
                     f" {r.get('dnn_no_memory', 0)} without workspace memory,"
                     f" {r.get('dnn_exhausted', 0)} directions left with none]"
                     if r.get("dnn_refused") or r.get("dnn_no_memory") or r.get("dnn_exhausted")
                     else ""))
PYEOF
rm -f "$LOG" "$LOG.run"
