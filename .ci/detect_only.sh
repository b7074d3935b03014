#!/usr/bin/env bash
# CI: the detection-only install. `pip install .` (no extras) into a fresh virtual environment
# must not bring PyTorch, must run the bundled detector (`bifsmn detect`, `bifsmn-run`), and a
# training command must stop with one line naming the `train` extra (exit 2). The test suite
# checks the same code paths with torch hidden from a subprocess; this checks pyproject.toml's
# real dependency lists with a real pip.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
py="$tmp/venv/bin/python"
# its own build folder: the checkout's editable build stays as it is
"$py" -m pip install -q . --config-settings=build-dir="$tmp/build"
if "$py" -c "import torch" 2>/dev/null; then
  echo "detection-only install: pip brought torch" >&2; exit 1
fi
"$py" - "$tmp/tone.wav" <<'PY'
import sys
import numpy as np
import soundfile as sf
t = np.arange(3 * 16000) / 16000
sf.write(sys.argv[1], (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
PY
"$tmp/venv/bin/bifsmn" detect "$tmp/tone.wav" --json
"$tmp/venv/bin/bifsmn-run" src/bifsmn/models_data/bifsmnv2.bkws "$tmp/tone.wav" > /dev/null
set +e
err=$("$tmp/venv/bin/bifsmn" train --config teacher --data "$tmp/none" --out "$tmp/run" 2>&1)
rc=$?
set -e
if [[ $rc -ne 2 || "$err" != *"pip install 'bifsmn[train]'"* || $(wc -l <<< "$err") -ne 1 ]]; then
  echo "detection-only install: train without torch gave rc=$rc: $err" >&2; exit 1
fi
echo "detection-only install: no torch, bundled detector and bifsmn-run ran, train names the extra"
