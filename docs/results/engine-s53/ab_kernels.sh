#!/usr/bin/env bash
# Session 53: old and new engine builds alternated with a GEMM kernel forced (BIFSMN_KERNEL; the
# ops' float stages keep this CPU's widest width), a01 at 8 blocks; lines `round build what
# median_us min_us`:
#
#   bash docs/results/engine-s53/ab_kernels.sh OLD_REV [ROUNDS] [RUNS] > docs/results/engine-s53/ab-aligned-kernels.txt
#   python docs/results/frontend-tail/summary.py <(grep "^[0-9]" docs/results/engine-s53/ab-aligned-kernels.txt)
#
# OLD_REV's engine is built in /tmp/ab-old (`git worktree remove --force /tmp/ab-old` afterwards).
set -euo pipefail
old_rev=${1:?usage: ab_kernels.sh OLD_REV [ROUNDS] [RUNS]}
rounds=${2:-6}
runs=${3:-5000}
. docs/results/binarizer-avx512/ab_build.sh
ab_build "$old_rev"
"${BIFSMN:-.venv/bin/bifsmn}" export models/bifsmnv2_a01_sc12dev.pt -o runs/ab/a01.bkws > /dev/null
echo "old $(git -C /tmp/ab-old rev-parse --short HEAD), new $(git rev-parse --short HEAD) + working tree;" \
  "a01 8 blocks, engine_bench $runs calls, BIFSMN_KERNEL forced (the ops' float stages stay at this CPU's width)"
for r in $(seq "$rounds"); do
  for k in avx2 portable; do
    for which in old new; do
      if [ "$which" = old ]; then exe=/tmp/ab-old/build/engine_bench; else exe=cpp/build-native/engine_bench; fi
      line=$(BIFSMN_KERNEL=$k "$exe" runs/ab/a01.bkws "$runs" 8)
      echo "$r $which a01-8-$k $(echo "$line" | sed -E 's/.*median ([0-9.]+) us, min ([0-9.]+) us.*/\1 \2/')"
    done
  done
done
