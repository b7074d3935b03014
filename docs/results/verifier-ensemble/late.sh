#!/usr/bin/env bash
# Session 62 (issue 13): the two candidates still training, combined with each other and with the bundled
# networks. Written and committed before either candidate had a result (runs/verifier-long-scratch160 at
# epoch 97 of 160, runs/verifier-deep-scratch at epoch 27 of 80), to run only after swap.sh screen and
# verifier-deep/scratch.sh screen, which judge each candidate beside verifier.bkws first. The candidates'
# files are the ones those screens export (runs/s61/verifier-scratch160.bkws, runs/s61/verifier-deep-scratch.bkws).
# Run from the repository root:
#
#   bash docs/results/verifier-ensemble/late.sh screen-second160   # verifier2.bkws + the 160-epoch network
#   bash docs/results/verifier-ensemble/late.sh screen-new         # the 160-epoch + the 12-block network
#   bash docs/results/verifier-ensemble/late.sh screen-triple      # verifier.bkws + both new networks
#   bash docs/results/verifier-ensemble/late.sh evaluate-second160|evaluate-new|evaluate-triple  # only one that passes
#
# Fixed before any result (the bar of every verifier candidate since session 60, the bundled pair as control):
# - judged as the bundled cascade's verifier (the bundle's paths wake it, wake 0.9, hold 1 s, pooled rule, the
#   bundle's 12 calibration hours), the networks' logits averaged in the order above;
# - a combination replaces the bundled pair only if its 8-block calibration miss at 1 FA/h is at most 15.5 %
#   (2 points below the pair's 17.5 %) and its 2-block miss is not above the pair's 20.1 %;
# - among everything that passes (these three, swap.sh's and scratch.sh's pairs) the lowest 8-block miss is
#   bundled; within 0.2 points of it, the one with fewer or cheaper networks (a 12-block network costs ~1.5x an
#   8-block one, the triple three networks per verified window);
# - `screen` (8 blocks only) decides whether `evaluate` runs; the held-out streams are reported, not used to
#   decide.
set -euo pipefail
. docs/results/cascade/evaluate_verifier.sh
OUT=docs/results/verifier-ensemble/late
M=src/bifsmn/models_data
L160=runs/s61/verifier-scratch160.bkws
DEEP=runs/s61/verifier-deep-scratch.bkws
mkdir -p runs/s62 "$OUT"

# combo NAME V screen|evaluate
combo() {
  local name=$1 v=$2
  for f in ${v//+/ }; do
    [ -f "$f" ] || { echo "late.sh: $f missing: run its screen first (swap.sh / verifier-deep/scratch.sh)" >&2; exit 2; }
  done
  case "$3" in
    screen) probe_cascade8 "$v" "runs/s62/cascade-${name}8.bkws" "$OUT/screen-$name-cascade8.txt" ;;
    evaluate)
      calibrate_cascade "$v" "runs/s62/cascade-$name.bkws" "$OUT/calibrate-cascade-$name.txt"
      heldout_cascade "$v" "runs/s62/cascade-$name.bkws" "$OUT/heldout-cascade-$name"
      ;;
  esac
}

case "${1:-}" in
  screen-second160 | evaluate-second160) combo second160 "$M/verifier2.bkws+$L160" "${1%-second160}" ;;
  screen-new | evaluate-new) combo new "$L160+$DEEP" "${1%-new}" ;;
  screen-triple | evaluate-triple) combo triple "$M/verifier.bkws+$L160+$DEEP" "${1%-triple}" ;;
  *)
    echo "usage: bash docs/results/verifier-ensemble/late.sh screen-second160|screen-new|screen-triple|evaluate-..." >&2
    exit 2
    ;;
esac
