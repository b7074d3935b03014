#!/usr/bin/env bash
# Session 54: where the log-mel front end's time goes. REV's engine (default HEAD) is built in
# /tmp/ab-old (a git worktree; remove it afterwards with `git worktree remove --force /tmp/ab-old`)
# with stage-probe.patch applied: environment variables that skip the complex FFT
# (FE_SKIP_FFT), the frames' gather and window (FE_SKIP_GATHER), the real-input split
# (FE_SKIP_SPLIT), the mel bands (FE_SKIP_MEL) and the dB (FE_SKIP_DB). A probe only: the
# skipped stages leave stale buffers behind and the output is meaningless. Each line is one
# `engine_bench MODEL RUNS 8 frontend` of the a01 dev model (logmel32) with the stages listed
# skipped, ROUNDS times in turn; the differences between lines are the stages' costs.
#
#   bash docs/results/frontend-s54/stages.sh [REV] [ROUNDS] [RUNS] > docs/results/frontend-s54/stages.txt
set -euo pipefail
rev=${1:-HEAD} rounds=${2:-3} runs=${3:-3000}
. docs/results/binarizer-avx512/ab_build.sh
ab_worktree "$rev"
git -C /tmp/ab-old apply "$PWD/docs/results/frontend-s54/stage-probe.patch"
cmake -S /tmp/ab-old/cpp -B /tmp/ab-old/build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
ninja -C /tmp/ab-old/build engine_bench > /dev/null
git -C /tmp/ab-old checkout -q -- cpp  # the worktree clean again (the build keeps the probe)
"${BIFSMN:-.venv/bin/bifsmn}" export models/bifsmnv2_a01_sc12dev.pt -o runs/ab/a01.bkws > /dev/null
echo "probe build of $(git -C /tmp/ab-old rev-parse --short HEAD); engine_bench runs/ab/a01.bkws $runs 8 frontend"
echo "round skipped median_us min_us"
for r in $(seq "$rounds"); do
  for skip in none FE_SKIP_GATHER FE_SKIP_FFT "FE_SKIP_GATHER FE_SKIP_FFT" \
      "FE_SKIP_GATHER FE_SKIP_FFT FE_SKIP_SPLIT" "FE_SKIP_GATHER FE_SKIP_FFT FE_SKIP_SPLIT FE_SKIP_MEL" \
      "FE_SKIP_GATHER FE_SKIP_FFT FE_SKIP_SPLIT FE_SKIP_MEL FE_SKIP_DB"; do
    vars=()
    for v in $skip; do [ "$v" = none ] || vars+=("$v=1"); done
    t=$(env "${vars[@]}" /tmp/ab-old/build/engine_bench runs/ab/a01.bkws "$runs" 8 frontend \
      | sed -E 's/.*median ([0-9.]+) us, min ([0-9.]+) us.*/\1 \2/')
    echo "$r ${skip// /+} $t"
  done
done
