#!/usr/bin/env bash
# The declared dependency ranges at their lower bounds (session 70): a detection-only install
# with numpy 1.26.0, soundfile 0.12.0, soxr 0.3.0, tqdm 4.66.0, pyyaml 6.0, and the training
# stack with torch 2.13.0 (the local CPU wheel) or 2.6.0 (PyPI's CUDA build, ~5.6 GB) beside
# the oldest matplotlib, PyWavelets, pytest, ruff, onnx and ONNX Runtime the ranges admit.
# Usage: bash docs/results/lower-bounds/run.sh WORKDIR [2.13|2.6]  (from a clean clone's root)
set -euo pipefail
work=$1; torch=${2:-2.13}; here=$(cd "$(dirname "$0")" && pwd); repo=$(cd "$here/../../.." && pwd)
python3.11 -m venv "$work/detect" && "$work/detect/bin/pip" install -q "numpy==1.26.0" \
  "soundfile==0.12.0" "soxr==0.3.0" "tqdm==4.66.0" "pyyaml==6.0" && "$work/detect/bin/pip" install -q "$repo"
"$work/detect/bin/pip" list 2>/dev/null | grep -E -i "^(numpy|soundfile|soxr|tqdm|pyyaml) "
"$work/detect/bin/python" -c "import torch" 2>/dev/null && { echo "pip brought torch" >&2; exit 1; }
"$work/detect/bin/python" -c "import numpy as np, soundfile as sf
t = np.arange(32000) / 16000; sf.write('$work/tone.wav', 0.1 * np.sin(2 * np.pi * 440 * t), 16000)"
"$work/detect/bin/bifsmn" detect --json --closest "$work/tone.wav"
python3.11 -m venv "$work/train" && "$work/train/bin/pip" install -q -c "$here/constraints-torch$torch.txt" \
  -e "$repo[train,test,onnx]"
cd "$repo" && "$work/train/bin/python" -m pytest -q -n 2
