#!/usr/bin/env bash
# Session 31: the bundled cascade's 8-block points calibrated on the bundle's 12 audio hours plus
# 12 feature-domain hours from the fbank40 archive's validation split (249 speakers no model
# trained on; session 18's `calibrate --archive`, never run for the two-stage detector), then
# README's held-out streams at the stored 8-block points. Why and the rule: README.md here.
#
#   bash docs/results/cascade-archive/run.sh
set -euo pipefail
B=${BIFSMN:-.venv/bin/bifsmn}
DATA=../shared/data/speech_commands_test12_v0.02
NEG=../shared/data/picovoice_wake_words
ARCH=../shared/data/speech_commands_v0.02_fbank40
OUT=docs/results/cascade-archive
V=src/bifsmn/models_data/verifier.bkws
mkdir -p runs/cascade-archive
"$B" calibrate src/bifsmn/models_data/bifsmnv2.bkws --data "$DATA" --split training \
  --negatives "$NEG" --blocks 8 --minutes 60 --snr clean,10 --gate-flat-max 0.35 \
  --rule pooled --verifier "$V" --wake 0.9 --hold-ms 1000 --threads 1 \
  --archive "$ARCH" --archive-streams 6 --archive-split validation \
  --drop-other-verifiers --out runs/cascade-archive/cascade-archive.bkws 2>&1 | tee "$OUT/calibrate-archive.txt"
"$B" eval-stream --data "$DATA" --split validation --negatives "$NEG" \
  --model runs/cascade-archive/cascade-archive.bkws --verifier "$V" --blocks 8 \
  --minutes 60 --snr clean,10 --fa-target 0.5 1 --threads 1 --out "$OUT/heldout" \
  2>&1 | tee runs/cascade-archive/heldout.log
grep -A20 "^system" runs/cascade-archive/heldout.log > "$OUT/heldout/heldout.txt"
