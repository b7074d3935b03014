#!/usr/bin/env bash
# Session 54: each tried-NAME.patch applied to this checkout in turn and timed against REV (the
# commit it was made on, default HEAD) by docs/results/frontend-s39/ab.sh (old = REV, new = the
# patched checkout; rounds alternated), output in tried-NAME.txt; the patch is removed again.
#
#   bash docs/results/frontend-s54/tried.sh [REV] [ROUNDS] [RUNS] [NAME...]
#   TRIED_DIR=docs/results/frontend-s55 bash docs/results/frontend-s54/tried.sh ...  (another
#   session's patches, read from and timed into that folder)
#   python docs/results/frontend-tail/summary.py docs/results/frontend-s54/tried-NAME.txt
set -euo pipefail
rev=${1:-HEAD} rounds=${2:-4} runs=${3:-2000}
shift $(($# < 3 ? $# : 3))
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(edge-pad fma-adds radix8-passes vector-levels)
dir=${TRIED_DIR:-docs/results/frontend-s54}
for name in "${names[@]}"; do
  git apply "$dir/tried-$name.patch"
  trap 'git apply -R "$dir/tried-$name.patch"' EXIT
  bash docs/results/frontend-s39/ab.sh "$rev" "$rounds" "$runs" > "$dir/tried-$name.txt"
  git apply -R "$dir/tried-$name.patch"
  trap - EXIT
done
