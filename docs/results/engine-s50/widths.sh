#!/usr/bin/env bash
# Session 50: the FSMN memory op and the classifier at each vector width the ops use (16
# AVX-512, 8 AVX2, 4 SSE2 / NEON), old and new builds alternated: each line is
# `round width build op median_us` from one `ops_bench RUNS WIDTH` run of each build's own
# harness (the new one hands the classifier the interleaved copy the engine builds; at width 4
# the classifier takes its plain double version, unchanged). Why: ab.sh runs width 16 only.
#
#   bash docs/results/engine-s50/widths.sh OLD_REV [ROUNDS] [RUNS] > docs/results/engine-s50/widths.txt
#
# Run after ab.sh (which builds /tmp/ab-old and cpp/build-native).
set -euo pipefail
old_rev=${1:?usage: widths.sh OLD_REV [ROUNDS] [RUNS]}
rounds=${2:-10}
runs=${3:-3000}
. docs/results/binarizer-avx512/ab_build.sh
ab_build "$old_rev"
ninja -C /tmp/ab-old/build ops_bench > /dev/null
ninja -C cpp/build-native ops_bench > /dev/null
echo "old $(git -C /tmp/ab-old rev-parse --short HEAD), new $(git rev-parse --short HEAD) + working tree;" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $rounds rounds of $runs calls"
for r in $(seq "$rounds"); do
  for w in 16 8 4; do
    for which in old new; do
      if [ "$which" = old ]; then exe=/tmp/ab-old/build/ops_bench; else exe=cpp/build-native/ops_bench; fi
      out=$("$exe" "$runs" "$w")
      echo "$r $w $which memory $(echo "$out" | awk '$1 == "memory" {print $2}')"
      echo "$r $w $which classifier $(echo "$out" | awk '$1 == "classifier" {print $2}')"
    done
  done
done
