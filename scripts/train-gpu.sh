#!/usr/bin/env bash
# Train the paper's configurations A (32 blocks x 96 maps), B (8 x 96) and C (32 x 48) at BPG
# QP 40 on one GPU machine, side by side, within 9 minutes of wall time, from the pairs that
# scripts/prepare-gpu-data.py made here (gpu-data/, carried with the working tree: that
# machine has no PyAV to run x265). Writes each network's best weights as bf16 safetensors
# and its report.json to OUT/A/, OUT/B/, OUT/C/ (best.safetensors, report.json: what
# `python -m rcodec.postfilter.ship OUT/A ...` takes), and one log to OUT.
#
#   scripts/train-gpu.sh [OUT]          OUT defaults to $OUT (the device tool's folder)
#   MINUTES=7 TINY=1 GPU_DATA=dir WHEELS=dir ...
#       training minutes per network (side by side); TINY=1: a tiny net and a few steps, to
#       test this on CPU; the pairs' folder (default gpu-data) and the wheels' (.whl)
set -euo pipefail
out=${1:-${OUT:?give an output folder or set OUT}}
repo=$(cd "$(dirname "$0")/.." && pwd)
data=${GPU_DATA:-$repo/gpu-data}
wheels=${WHEELS:-$repo/.whl}
minutes=${MINUTES:-7}
python=${PYTHON:-python3}
mkdir -p "$out"
log="$out/train-gpu.log"
work=$(mktemp -d)
site="$work/site"
# rcodec without installing it: a package tree of links laid out as the build maps the
# folders (api/ is rcodec itself); the wheels carried in .whl/ (pytorch-msssim, which that
# machine lacks) go beside it.
mkdir -p "$site/rcodec"
for f in "$repo"/api/*; do ln -s "$f" "$site/rcodec/"; done
for p in codec postfilter optimize challenge; do ln -s "$repo/$p" "$site/rcodec/$p"; done
if compgen -G "$wheels/*.whl" > /dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --target "$site" "$wheels"/*.whl
fi
export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ "${TINY:-0}" = 1 ]; then
  device=cpu
  options=(--arch-config '{"blocks": 1, "maps": 8}' --steps 4 --val-every 2
           --checkpoint-every 2 --batch-size 2 --crop 32 --threads 1)
else
  device=cuda
  options=(--steps 1000000 --val-every 500 --checkpoint-every 1000 --batch-size 32
           --crop 128 --lr 5e-4 --time-limit "${minutes}min" --threads 4)
fi
{ echo "train-gpu: $(date -u +%FT%TZ) device $device, data $(cat "$data/README.txt" 2>/dev/null)"
  "$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} >> "$log" 2>&1
pids=()
for arch in A B C; do
  "$python" -m rcodec train --arch "$arch" --codec bpg --qp 40 --data "$data/train" \
    --val "$data/val" --decoded "$data/train-bpg-q{q}" --val-decoded "$data/val-bpg-q{q}" \
    -o "$work/$arch" --device "$device" --precision bf16 --patience 0 "${options[@]}" \
    > "$work/$arch.log" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for arch in A B C; do
  { echo "--- $arch"; tr '\r' '\n' < "$work/$arch.log" | grep -v '^train ' | tail -n 20
    cat "$work/$arch/log.csv" 2>/dev/null; } >> "$log"
done
"$python" - "$work" "$out" >> "$log" 2>&1 <<'PY'
# Each best.safetensors with its parameters in bf16 (the shipped precision, half the size),
# its buffers and metadata as trained: ship's own conversion.
import json, sys
from pathlib import Path
from rcodec.postfilter.ship import parameters_as_bf16, trained_model
from rcodec.postfilter.weights import read_metadata
work, out = Path(sys.argv[1]), Path(sys.argv[2])
for arch in "ABC":
    run = work / arch
    if not (run / "best.safetensors").is_file():
        print(f"{arch}: no weights"); continue
    _, data, model = trained_model(run)
    (out / arch).mkdir(exist_ok=True)
    (out / arch / "best.safetensors").write_bytes(parameters_as_bf16(model, read_metadata(data)))
    report = (run / "report.json").read_bytes()
    (out / arch / "report.json").write_bytes(report)
    report = json.loads(report)
    print(f"{arch}: {report['steps']} steps, best at {report['best_step']}, val gain "
          f"{report['val_psnr_gain']:+.4f} dB, {report['params']} parameters")
PY
echo "train-gpu: done $(date -u +%FT%TZ), status $status" >> "$log"
tail -n 4 "$log"
rm -rf "$work"
exit $status
