#!/usr/bin/env bash
# Session 53: OLD_REV's engine_bench (built in /tmp/ab-old; remove it afterwards with
# `git worktree remove --force /tmp/ab-old`) run with the default allocator (`old`) and with
# align64.c preloaded (`new`: every malloc 64-byte aligned), alternated; lines
# `round run what median_us min_us`. Then this checkout's engine_bench (aligned storage in the code) in
# ROUNDS fresh processes (run: head). a01 at 8 blocks, 10000 calls each.
#
#   bash docs/results/engine-s53/align_probe.sh 508b93e 6 > docs/results/engine-s53/align-probe.txt
#   python docs/results/frontend-tail/summary.py <(grep "^[0-9]" docs/results/engine-s53/align-probe.txt | grep -v " head ")
set -euo pipefail
old_rev=${1:?usage: align_probe.sh OLD_REV [ROUNDS]}
rounds=${2:-6}
. docs/results/binarizer-avx512/ab_build.sh
ab_build "$old_rev"
gcc -O2 -shared -fPIC docs/results/engine-s53/align64.c -o /tmp/align64.so
"${BIFSMN:-.venv/bin/bifsmn}" export models/bifsmnv2_a01_sc12dev.pt -o runs/ab/a01.bkws > /dev/null
echo "old $(git -C /tmp/ab-old rev-parse --short HEAD) plain / with align64.so preloaded, head $(git rev-parse --short HEAD); a01 8 blocks, engine_bench 10000 calls"
field() { sed -E 's/.*median ([0-9.]+) us, min ([0-9.]+) us.*/\1 \2/'; }
for r in $(seq "$rounds"); do
  echo "$r old a01-8 $(/tmp/ab-old/build/engine_bench runs/ab/a01.bkws 10000 8 | field)"
  echo "$r new a01-8 $(LD_PRELOAD=/tmp/align64.so /tmp/ab-old/build/engine_bench runs/ab/a01.bkws 10000 8 | field)"
done
for r in $(seq "$rounds"); do
  echo "$r head a01-8 $(cpp/build-native/engine_bench runs/ab/a01.bkws 10000 8 | field)"
done
