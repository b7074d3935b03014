#!/usr/bin/env bash
# Session 60 (issue 13): the two-network verifier built into the product and bundled. Session 59's
# probe (probe.py, rule fixed before it ran) found the bundled verifier and the 80-epoch scratch
# verifier, logits averaged, at 17.5 % calibration miss at 1 FA/h, 8 blocks (bundled alone 21.8 %)
# and 20.1 % at 2 blocks (23.5 %). `--verifier A.bkws+B.bkws` now runs such a pair
# (src/bifsmn/detect/ensemble.py) and `--verifier bundled` is the packaged pair
# (src/bifsmn/models_data/verifier.bkws + verifier2.bkws, the export of
# models/teacher_fbank40_pool1_scratch80.pt). Run from the repository root:
#
#   bash docs/results/verifier-ensemble/bundle.sh calibrate  # the bundle's cascade points, all 4 paths
#   bash docs/results/verifier-ensemble/bundle.sh heldout    # README's held-out streams at those points
#
# `calibrate` is evaluate_verifier's calibration (docs/results/cascade/evaluate_verifier.sh) with the
# pair; the file it writes (runs/s60/cascade-ensemble.bkws) is copied over
# src/bifsmn/models_data/bifsmnv2.bkws (only meta.json's cascade_operating_points change: checked by
# `python docs/results/verifier-ensemble/same_but_cascade.py`).
set -euo pipefail
. docs/results/cascade/evaluate_verifier.sh
OUT=docs/results/verifier-ensemble
V=src/bifsmn/models_data/verifier.bkws+src/bifsmn/models_data/verifier2.bkws
C=runs/s60/cascade-ensemble.bkws
mkdir -p runs/s60
case "${1:-}" in
  calibrate)
    calibrate_cascade "$V" "$C" "$OUT/calibrate-cascade.txt"
    ;;
  heldout)  # the bundle (after the copy) as a user runs it: --verifier bundled
    "$B" eval-stream --data "$DATA" --split validation --negatives "$NEG" \
      --verifier bundled --blocks 8 2 \
      --minutes 60 --snr clean,10 --fa-target 0.5 1 --threads 1 --out "$OUT/heldout-cascade" \
      2>&1 | tee runs/s60/heldout-cascade.log
    grep -A20 "^system" runs/s60/heldout-cascade.log > "$OUT/heldout-cascade/heldout.txt"
    cp runs/s60/heldout-cascade.log "$OUT/heldout-cascade.log"
    ;;
  *)
    echo "usage: bash docs/results/verifier-ensemble/bundle.sh calibrate|heldout" >&2
    exit 2
    ;;
esac
