#!/usr/bin/env bash
# Session 60 (issue 13): a third network for the bundled verifier pair. Written and committed
# before the candidate had a result (its training, runs/verifier-long-scratch-seed1, was at epoch
# 41 of 80). The candidate: the 80-epoch scratch recipe with train.seed=1
# (`bash docs/results/verifier-long/run.sh scratch-seed1`, session 59), its last.pt. Run from the
# repository root:
#
#   bash docs/results/verifier-ensemble/third.sh screen     # the 8-block cascade with the three networks
#   bash docs/results/verifier-ensemble/third.sh evaluate   # only if the screen passes: all paths, held out
#
# Fixed before any result (session 31's rule, the bundled pair as the control):
# - judged as the bundled cascade's verifier (the bundle's paths wake it, wake 0.9, hold 1 s, pooled rule, the
#   bundle's 12 calibration hours), the three networks' logits averaged (verifier.bkws + verifier2.bkws +
#   the candidate, in that order);
# - the triple replaces the bundled pair only if its 8-block calibration miss at 1 FA/h is at most 15.5 %
#   (2 points below the pair's 17.5 %) and its 2-block miss is not higher than the pair's 20.1 %;
# - `screen` (8 blocks only) decides whether `evaluate` runs; the held-out streams are reported, not used to
#   decide. A third network costs a third more verifier time per verified window and 2.5 MB in the package.
#
# Added later in session 60, before it ran (and before the seed-1 candidate had a result): a second
# candidate for the third network that exists already, session 58's 70-epoch-base verifier
# (`bash docs/results/verifier-long/run.sh train`, runs/verifier-long/last.pt; 22.0 % alone), whose
# first stage differs from both members' (70 epochs clean, then the noise step), judged by the same
# rule (<= 15.5 % at 8 blocks; then the 2-block condition):
#
#   bash docs/results/verifier-ensemble/third.sh screen-long    # OUT/third/screen-long-cascade8.txt
#   bash docs/results/verifier-ensemble/third.sh evaluate-long  # only if that screen passes
#
# If both candidates pass, the one with the lower 8-block calibration miss is the third network.
set -euo pipefail
. docs/results/cascade/evaluate_verifier.sh
OUT=docs/results/verifier-ensemble
PAIR=src/bifsmn/models_data/verifier.bkws+src/bifsmn/models_data/verifier2.bkws
mkdir -p runs/s60 "$OUT/third"

# third RUN NAME screen|evaluate: RUN/last.pt exported to runs/s60/verifier-NAME.bkws as the pair's
# third network; outputs named after NAME ("" for the seed-1 candidate, "-long" for session 58's)
third() {
  local run=$1 name=$2 cand=runs/s60/verifier${2:--seed1}.bkws
  local v=$PAIR+$cand
  case "$3" in
    screen)
      [ -n "$name" ] || cp "$run/metrics.csv" "$OUT/third/metrics-seed1.csv"
      "$B" export "$run/last.pt" -o "$cand"
      probe_cascade8 "$v" "runs/s60/cascade-three${name}8.bkws" "$OUT/third/screen${name}-cascade8.txt"
      ;;
    evaluate)
      calibrate_cascade "$v" "runs/s60/cascade-three$name.bkws" "$OUT/third/calibrate-cascade$name.txt"
      heldout_cascade "$v" "runs/s60/cascade-three$name.bkws" "$OUT/third/heldout-cascade$name"
      ;;
  esac
}

case "${1:-}" in
  screen | evaluate) third runs/verifier-long-scratch-seed1 "" "$1" ;;
  screen-long | evaluate-long) third runs/verifier-long -long "${1%-long}" ;;
  *)
    echo "usage: bash docs/results/verifier-ensemble/third.sh screen|evaluate|screen-long|evaluate-long" >&2
    exit 2
    ;;
esac
