#!/usr/bin/env bash
# Session 30: the bundled cascade's 8-block points calibrated on twice the hours (6 x 120 min per
# SNR instead of 6 x 60; same speakers, seeds, rule, verifier, wake, hold, gate), then README's
# held-out streams at the stored 8-block points. Why and the rule: README.md here.
#
#   bash docs/results/calibration-hours/run.sh
set -euo pipefail
B=${BIFSMN:-.venv/bin/bifsmn}
DATA=../shared/data/speech_commands_test12_v0.02
NEG=../shared/data/picovoice_wake_words
OUT=docs/results/calibration-hours
V=src/bifsmn/models_data/verifier.bkws
mkdir -p runs/calibration-hours
"$B" calibrate src/bifsmn/models_data/bifsmnv2.bkws --data "$DATA" --split training \
  --negatives "$NEG" --blocks 8 --minutes 120 --snr clean,10 --gate-flat-max 0.35 \
  --rule pooled --verifier "$V" --wake 0.9 --hold-ms 1000 --threads 1 \
  --drop-other-verifiers --out runs/calibration-hours/cascade-120.bkws 2>&1 | tee "$OUT/calibrate-120.txt"
"$B" eval-stream --data "$DATA" --split validation --negatives "$NEG" \
  --model runs/calibration-hours/cascade-120.bkws --verifier "$V" --blocks 8 \
  --minutes 60 --snr clean,10 --fa-target 0.5 1 --threads 1 --out "$OUT/heldout-120" \
  2>&1 | tee runs/calibration-hours/heldout-120.log
grep -A20 "^system" runs/calibration-hours/heldout-120.log > "$OUT/heldout-120/heldout.txt"
