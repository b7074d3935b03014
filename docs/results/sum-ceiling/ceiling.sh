#!/usr/bin/env bash
# Session 51: the cost of the dual-scale scale's fixed sum order (sum8, docs/binary-arithmetic.md)
# in the 1-bit network, as an upper bound: probe builds that sum in 16 lanes or drop the sums
# (patch.py; wrong logits, time only), alternated with the unchanged engine on one machine. Each
# line: `round variant model-blocks median_us min_us` (`engine_bench MODEL RUNS BLOCKS`, features
# in, batch 1; a01 = models/bifsmnv2_a01_sc12dev.pt, issue 10's bench model).
#
#   bash docs/results/sum-ceiling/ceiling.sh [ROUNDS] [RUNS] > docs/results/sum-ceiling/ceiling.txt
#   python docs/results/sum-ceiling/summary.py docs/results/sum-ceiling/ceiling.txt
#
# Builds go to /tmp/sum-ceiling/VARIANT (copies of this checkout's cpp/).
set -euo pipefail
rounds=${1:-8}
runs=${2:-5000}
B=${BIFSMN:-.venv/bin/bifsmn}
variants="base sum16-binarizer nosum-binarizer nosum-memory nosum-both"
mkdir -p runs/ab
"$B" export models/bifsmnv2_a01_sc12dev.pt -o runs/ab/a01.bkws > /dev/null
for v in $variants; do
  rm -rf "/tmp/sum-ceiling/$v" && mkdir -p "/tmp/sum-ceiling/$v"
  tar -C cpp --exclude='build-*' -cf - . | tar -C "/tmp/sum-ceiling/$v" -xf -
  .venv/bin/python docs/results/sum-ceiling/patch.py "$v" "/tmp/sum-ceiling/$v"
  cmake -S "/tmp/sum-ceiling/$v" -B "/tmp/sum-ceiling/$v/build" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release > /dev/null
  ninja -C "/tmp/sum-ceiling/$v/build" engine_bench > /dev/null
done
echo "$(git rev-parse --short HEAD) + probes;" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | xargs)); $rounds rounds of $runs calls"
for r in $(seq "$rounds"); do
  for b in 8 2; do
    for v in $variants; do
      line=$("/tmp/sum-ceiling/$v/build/engine_bench" runs/ab/a01.bkws "$runs" "$b")
      echo "$r $v a01-$b $(echo "$line" | sed -E 's/.*median ([0-9.]+) us, min ([0-9.]+) us.*/\1 \2/')"
    done
  done
done
