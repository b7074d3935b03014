#!/usr/bin/env bash
# Session 52: conv2 at a narrower ops width than the CPU's (8: AVX2; 4: SSE2, the width NEON runs;
# the GEMM kernel is the CPU's own), old and new builds alternated: `ops_bench RUNS WIDTH`'s conv2
# row (one clip of the fbank40 shape: 16 x 20 x 16 input, 32 output channels, k 5). Each line:
# `round build conv2_median_us`.
#
#   bash docs/results/engine-s52/ab_width.sh OLD_REV WIDTH [ROUNDS] [RUNS] > docs/results/engine-s52/ab-widthW.txt
#
# OLD_REV is built in /tmp/ab-old (git worktree; `git worktree remove --force /tmp/ab-old`
# afterwards), this checkout in cpp/build-native.
set -euo pipefail
old_rev=${1:?usage: ab_width.sh OLD_REV WIDTH [ROUNDS] [RUNS]}
width=${2:?usage: ab_width.sh OLD_REV WIDTH [ROUNDS] [RUNS]}
rounds=${3:-6}
runs=${4:-3000}
. docs/results/binarizer-avx512/ab_build.sh
ab_build "$old_rev" > /dev/null
ninja -C /tmp/ab-old/build ops_bench > /dev/null
ninja -C cpp/build-native ops_bench > /dev/null
echo "old $(git -C /tmp/ab-old rev-parse --short HEAD), new $(git rev-parse --short HEAD) + working tree;" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $rounds rounds of $runs calls at width $width"
for r in $(seq "$rounds"); do
  echo "$r old $(/tmp/ab-old/build/ops_bench "$runs" "$width" | awk '/^conv2 binary/ {print $3}')"
  echo "$r new $(cpp/build-native/ops_bench "$runs" "$width" | awk '/^conv2 binary/ {print $3}')"
done
