#!/usr/bin/env bash
# Session 31: the AVX-512 float GEMM (docs/engine-history.md, "Session 31"). Old and new engine builds
# alternated on one machine; each line is `round build file median_us min_us` of one
# `engine_bench` run of RUNS calls on the FP32 verifier and the 32 x 32 FP teacher.
#
#   bash docs/results/fp-gemm-avx512/ab.sh OLD_REV [ROUNDS] [RUNS] > docs/results/fp-gemm-avx512/ab.txt
#
# OLD_REV's cpp/ is built in /tmp/ab-old (a git worktree; remove it afterwards with
# `git worktree remove --force /tmp/ab-old`), this checkout's in cpp/build-native.
set -euo pipefail
old_rev=${1:?usage: ab.sh OLD_REV [ROUNDS] [RUNS]}
rounds=${2:-5}
runs=${3:-500}
B=${BIFSMN:-.venv/bin/bifsmn}
. docs/results/binarizer-avx512/ab_build.sh
ab_build "$old_rev"
"$B" export models/teacher_sc12dev.pt -o runs/ab/teacher32.bkws > /dev/null
for r in $(seq "$rounds"); do
  for m in src/bifsmn/models_data/verifier.bkws runs/ab/teacher32.bkws; do
    for which in old new; do
      if [ "$which" = old ]; then exe=/tmp/ab-old/build/engine_bench; else exe=cpp/build-native/engine_bench; fi
      echo "$r $which $(basename "$m") $("$exe" "$m" "$runs" 8 | sed -E 's/.*median ([0-9.]+) us, min ([0-9.]+) us.*/\1 \2/')"
    done
  done
done
