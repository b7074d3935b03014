#!/usr/bin/env bash
# Session 58: fc_in's epilogue and fc_out's input binarization in one pass (detail::epilogue_rows2_dual:
# each step's values made in registers and binarized there, no float row written only to be
# binarized). Old and new engine builds alternated on one machine; each line is
# `round build model blocks median_us min_us` of one `engine_bench` run of RUNS calls (batch 1,
# features in):
#
#   bash docs/results/fused-epilogue/ab.sh OLD_REV [ROUNDS] [RUNS] > docs/results/fused-epilogue/ab.txt
#   python docs/results/fused-epilogue/summary.py docs/results/fused-epilogue/ab.txt
#
# OLD_REV's cpp/ is built in /tmp/ab-old (a git worktree; remove it afterwards with
# `git worktree remove --force /tmp/ab-old`), this checkout's in cpp/build-native. Models: the dev
# student of issue 10's bench (models/bifsmnv2_a01_sc12dev.pt, exported once) and the bundled model.
# BIFSMN_ISA=avx2 in the environment holds both builds to AVX2.
set -euo pipefail
rounds=${2:-10} runs=${3:-3000}
B=${BIFSMN:-.venv/bin/bifsmn}
. docs/results/binarizer-avx512/ab_build.sh
ab_build "${1:?usage: ab.sh OLD_REV [ROUNDS] [RUNS]}"
"$B" export models/bifsmnv2_a01_sc12dev.pt -o runs/ab/a01.bkws > /dev/null
cp src/bifsmn/models_data/bifsmnv2.bkws runs/ab/bundle.bkws
for r in $(seq "$rounds"); do
  for m in a01 bundle; do
    for b in 8 2; do
      for which in old new; do
        if [ "$which" = old ]; then exe=/tmp/ab-old/build/engine_bench; else exe=cpp/build-native/engine_bench; fi
        line=$("$exe" "runs/ab/$m.bkws" "$runs" "$b")
        echo "$r $which $m $b $(echo "$line" | sed -E 's/.*median ([0-9.]+) us, min ([0-9.]+) us.*/\1 \2/')"
      done
    done
  done
done
