#!/usr/bin/env bash
# Session 66 front-end probe: bash docs/results/frontend-s66/run.sh [ROUNDS] > docs/results/frontend-s66/probe.txt
# Needs g++ and an AVX-512 CPU. Writes the two header variants and the binary under /tmp/fe-s66.
set -euo pipefail
rounds=${1:-31}
here=$(cd "$(dirname "$0")" && pwd)
out=/tmp/fe-s66
python3 "$here/make_variants.py" "$out"
g++ -O2 -std=c++17 -ffp-contract=off -mavx512f -mavx2 -mfma -I "$out" "$here/probe.cc" -o "$out/probe"
echo "probe of $(git -C "$here" rev-parse --short HEAD)'s cpp/src/ops/frontend/fft.h; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), g++ $(g++ -dumpfullversion)"
for i in 1 2 3; do
  echo "run $i"
  "$out/probe" "$rounds"
done
