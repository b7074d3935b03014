#!/usr/bin/env bash
# Session 50: the binary models' classifier reading its weights interleaved per class block and
# the FSMN memory's 5-tap loop with weights and levels in registers (9616322); same bits. Old and
# new engine builds alternated on one machine; each line is `round build what median_us min_us`:
#   ops-classifier / ops-memory   the op alone (`ops_bench RUNS`: 12 x 1024 classifier; the
#                                 memory of one clip, 8 frames x 128 channels, 5 taps; ops_bench
#                                 prints medians only, so these rows repeat the median as min_us)
#   MODEL-BLOCKS                  the whole network, features in, batch 1 (`engine_bench MODEL RUNS
#                                 BLOCKS`): a01 = models/bifsmnv2_a01_sc12dev.pt (issue 10's
#                                 bench model), bundle = the bundled detector's 1-bit model
#
#   bash docs/results/engine-s50/ab.sh OLD_REV [ROUNDS] [RUNS] > docs/results/engine-s50/ab.txt
#   python docs/results/frontend-tail/summary.py <(grep "^[0-9]" docs/results/engine-s50/ab.txt)
#
# OLD_REV's engine is built in /tmp/ab-old (a git worktree; remove it afterwards with
# `git worktree remove --force /tmp/ab-old`), this checkout's in cpp/build-native. Each build runs
# its own ops_bench (the new one hands the op the interleaved copy the new engine builds at load).
set -euo pipefail
old_rev=${1:?usage: ab.sh OLD_REV [ROUNDS] [RUNS]}
rounds=${2:-10}
runs=${3:-5000}
B=${BIFSMN:-.venv/bin/bifsmn}
. docs/results/binarizer-avx512/ab_build.sh
ab_build "$old_rev"
ninja -C /tmp/ab-old/build ops_bench > /dev/null
ninja -C cpp/build-native ops_bench > /dev/null
"$B" export models/bifsmnv2_a01_sc12dev.pt -o runs/ab/a01.bkws > /dev/null
cp src/bifsmn/models_data/bifsmnv2.bkws runs/ab/bundle.bkws
echo "old $(git -C /tmp/ab-old rev-parse --short HEAD), new $(git rev-parse --short HEAD) + working tree;" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | xargs)); $rounds rounds of $runs calls"
for r in $(seq "$rounds"); do
  for which in old new; do
    if [ "$which" = old ]; then dir=/tmp/ab-old/build; else dir=cpp/build-native; fi
    out=$("$dir/ops_bench" "$runs")
    echo "$r $which ops-classifier $(echo "$out" | awk '/^classifier/ {print $2, $2}')"
    echo "$r $which ops-memory $(echo "$out" | awk '/^memory/ {print $2, $2}')"
  done
  for m in a01 bundle; do
    for b in 8 2; do
      for which in old new; do
        if [ "$which" = old ]; then exe=/tmp/ab-old/build/engine_bench; else exe=cpp/build-native/engine_bench; fi
        line=$("$exe" "runs/ab/$m.bkws" "$runs" "$b")
        echo "$r $which $m-$b $(echo "$line" | sed -E 's/.*median ([0-9.]+) us, min ([0-9.]+) us.*/\1 \2/')"
      done
    done
  done
done
