#!/usr/bin/env bash
# Session 61 (issue 13): the seed-1 scratch verifier in a pair. Written and committed after
# third.sh's screen (the triple: 17.2 % against the pair's 17.5 %, not adopted) and the seed-1
# network's own screen (19.3 % alone, the lowest single verifier so far; seed 0: 20.6 %), before
# either pair below had a result. The candidate network: runs/verifier-long-scratch-seed1/last.pt,
# exported by third.sh to runs/s60/verifier-seed1.bkws. Run from the repository root:
#
#   bash docs/results/verifier-ensemble/pairs.sh screen-first    # verifier.bkws + seed 1 (8 blocks)
#   bash docs/results/verifier-ensemble/pairs.sh screen-scratch  # verifier2.bkws + seed 1 (8 blocks)
#   bash docs/results/verifier-ensemble/pairs.sh evaluate-first|evaluate-scratch  # only for a pair that passes
#
# Fixed before any result (third.sh's rule, the bundled pair as the control):
# - judged as the bundled cascade's verifier (the bundle's paths wake it, wake 0.9, hold 1 s, pooled rule, the
#   bundle's 12 calibration hours), the two networks' logits averaged, in the order above;
# - a pair replaces the bundled pair only if its 8-block calibration miss at 1 FA/h is at most 15.5 % (2 points
#   below the pair's 17.5 %) and its 2-block miss is not higher than the pair's 20.1 %;
# - the 8-block screen decides whether the evaluation runs; held-out streams are reported, not used to decide;
# - if both pass, the lower 8-block miss wins (and against swap.sh's candidate, if that passes too).
set -euo pipefail
. docs/results/cascade/evaluate_verifier.sh
OUT=docs/results/verifier-ensemble
S1=runs/s60/verifier-seed1.bkws
mkdir -p runs/s61 "$OUT/pairs"
[ -f "$S1" ] || "$B" export runs/verifier-long-scratch-seed1/last.pt -o "$S1"

# pair NAME FIRST screen|evaluate
pair() {
  local name=$1 v=src/bifsmn/models_data/$2+$S1
  case "$3" in
    screen)
      probe_cascade8 "$v" "runs/s61/cascade-pair-${name}8.bkws" "$OUT/pairs/screen-$name-cascade8.txt"
      ;;
    evaluate)
      calibrate_cascade "$v" "runs/s61/cascade-pair-$name.bkws" "$OUT/pairs/calibrate-cascade-$name.txt"
      heldout_cascade "$v" "runs/s61/cascade-pair-$name.bkws" "$OUT/pairs/heldout-cascade-$name"
      ;;
  esac
}

case "${1:-}" in
  screen-first | evaluate-first) pair first verifier.bkws "${1%-first}" ;;
  screen-scratch | evaluate-scratch) pair scratch verifier2.bkws "${1%-scratch}" ;;
  *)
    echo "usage: bash docs/results/verifier-ensemble/pairs.sh screen-first|screen-scratch|evaluate-first|evaluate-scratch" >&2
    exit 2
    ;;
esac
