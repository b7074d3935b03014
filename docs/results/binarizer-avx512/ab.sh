#!/usr/bin/env bash
# Session 29: the AVX-512 dual-scale row binarizer, whole 64-value words (four 16-value steps with
# constant shifts, one store per plane), as session 22 did for AVX2. Old and new engine builds
# alternated on one machine; each line is one `engine_bench` median of RUNS calls.
#
#   bash docs/results/binarizer-avx512/ab.sh OLD_REV [ROUNDS] [RUNS]  > docs/results/binarizer-avx512/ab.txt
#
# OLD_REV's cpp/ is built in /tmp/ab-old (a git worktree, moved to OLD_REV when it exists; remove it
# afterwards with `git worktree remove --force /tmp/ab-old`), this checkout's in cpp/build-native;
# both run models/bifsmnv2_fbank40.pt and the bundled model exported once (runs/ab/*.bkws), at 8
# and 2 blocks, batch 1 features. Compare minima of the medians: the machine is shared.
set -euo pipefail
old_rev=${1:?usage: ab.sh OLD_REV [ROUNDS] [RUNS]}
rounds=${2:-12}
runs=${3:-3000}
B=${BIFSMN:-.venv/bin/bifsmn}
. docs/results/binarizer-avx512/ab_build.sh
ab_build "$old_rev"
"$B" export models/bifsmnv2_fbank40.pt -o runs/ab/fbank40.bkws > /dev/null
cp src/bifsmn/models_data/bifsmnv2.bkws runs/ab/bundle.bkws
echo "old $(git -C /tmp/ab-old rev-parse --short HEAD), new $(git rev-parse --short HEAD) + working tree;" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $rounds rounds of $runs calls"
for r in $(seq "$rounds"); do
  for m in fbank40 bundle; do
    for b in 8 2; do
      for which in old new; do
        if [ "$which" = old ]; then exe=/tmp/ab-old/build/engine_bench; else exe=cpp/build-native/engine_bench; fi
        line=$("$exe" "runs/ab/$m.bkws" "$runs" "$b")
        echo "$r $which $m $b $(echo "$line" | sed -E 's/.*median ([0-9.]+) us, min ([0-9.]+) us.*/\1 \2/')"
      done
    done
  done
done
