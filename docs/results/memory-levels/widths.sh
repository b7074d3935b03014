#!/usr/bin/env bash
# Session 35: the FSMN memory op at each vector width the ops use (16 AVX-512, 8 AVX2, 4 SSE2 /
# NEON), old and new builds alternated: each line is `round width build median_us` of one
# `ops_bench RUNS WIDTH` run (the memory op at the fbank40 model's shape: 8 frames x 128
# channels, 5 taps). Why: the AVX-512 A/B (ab.txt) does not run the narrower widths, and a
# 16-lane vector type left to the compiler at width 8 spills (3x slower in a first version).
#
#   bash docs/results/memory-levels/widths.sh OLD_REV [ROUNDS] [RUNS] > docs/results/memory-levels/widths.txt
#
# OLD_REV's engine library is built in /tmp/ab-old (docs/results/binarizer-avx512/ab_build.sh);
# both harnesses are this checkout's cpp/bench/ops_bench.cc (OLD_REV's has no width argument),
# each linked with its build's library.
set -euo pipefail
old_rev=${1:?usage: widths.sh OLD_REV [ROUNDS] [RUNS]}
rounds=${2:-10}
runs=${3:-3000}
. docs/results/binarizer-avx512/ab_build.sh
ab_build "$old_rev"
ninja -C cpp/build-native ops_bench > /dev/null
old=/tmp/ab-old/build/ops_bench_widths
new=runs/ab/ops_bench_widths
ab_harness cpp/bench/ops_bench.cc "$old" /tmp/ab-old/build cpp/include /tmp/ab-old/cpp/src
ab_harness cpp/bench/ops_bench.cc "$new" cpp/build-native cpp/include cpp/src
echo "old $(git -C /tmp/ab-old rev-parse --short HEAD), new $(git rev-parse --short HEAD) + working tree;" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $rounds rounds of $runs calls"
for r in $(seq "$rounds"); do
  for w in 16 8 4; do
    for which in old new; do
      if [ "$which" = old ]; then exe=$old; else exe=$new; fi
      echo "$r $w $which $("$exe" "$runs" "$w" | awk '$1 == "memory" {print $2}')"
    done
  done
done
