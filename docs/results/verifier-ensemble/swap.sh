#!/usr/bin/env bash
# Session 61 (issue 13): the 160-epoch scratch verifier in place of the pair's second network.
# Written and committed before the candidate had a result (its training,
# runs/verifier-long-scratch160, had finished epoch 40 of 160). The candidate: the scratch recipe of
# verifier2.bkws (models/teacher_fbank40_pool1_scratch80.md) with 160 epochs instead of 80
# (`bash docs/results/verifier-long/run.sh scratch160`, session 59), its last.pt. Run from the
# repository root:
#
#   bash docs/results/verifier-ensemble/swap.sh screen     # the 8-block cascade, verifier.bkws + the candidate
#   bash docs/results/verifier-ensemble/swap.sh evaluate   # only if the screen passes: all paths, held out
#
# Fixed before any result (session 31's rule, the bundled pair as the control, as third.sh):
# - judged as the bundled cascade's verifier (the bundle's paths wake it, wake 0.9, hold 1 s, pooled rule, the
#   bundle's 12 calibration hours), logits of verifier.bkws and the candidate averaged, in that order;
# - the new pair replaces the bundled pair only if its 8-block calibration miss at 1 FA/h is at most 15.5 %
#   (2 points below the pair's 17.5 %) and its 2-block miss is not higher than the pair's 20.1 %;
# - `screen` (8 blocks only) decides whether `evaluate` runs; the held-out streams are reported, not used to
#   decide. Same cost as the bundled pair.
# - If third.sh's seed-1 triple also passes its rule, the one with the lower 8-block calibration miss is bundled.
set -euo pipefail
. docs/results/cascade/evaluate_verifier.sh
OUT=docs/results/verifier-ensemble
RUN=runs/verifier-long-scratch160
CAND=runs/s61/verifier-scratch160.bkws
V=src/bifsmn/models_data/verifier.bkws+$CAND
mkdir -p runs/s61 "$OUT/swap"

case "${1:-}" in
  screen)
    cp "$RUN/metrics.csv" "$OUT/swap/metrics-scratch160.csv"
    "$B" export "$RUN/last.pt" -o "$CAND"
    probe_cascade8 "$V" runs/s61/cascade-swap8.bkws "$OUT/swap/screen-cascade8.txt"
    ;;
  evaluate)
    calibrate_cascade "$V" runs/s61/cascade-swap.bkws "$OUT/swap/calibrate-cascade.txt"
    heldout_cascade "$V" runs/s61/cascade-swap.bkws "$OUT/swap/heldout-cascade"
    ;;
  *)
    echo "usage: bash docs/results/verifier-ensemble/swap.sh screen|evaluate" >&2
    exit 2
    ;;
esac
