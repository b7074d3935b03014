#!/usr/bin/env bash
# Session 47 (issues 13 and the at-scale gap): the bundled 1-bit student
# (models/bifsmnv2_fbank40_120snr.pt, trained before session 46 with the binarizers' scales in
# the backward pass) fine-tuned 30 epochs with the gradient fix (docs/methods.md, "Gradients and
# scales"), everything else as its own last step (AdamW, noise at 0-20 dB SNR, negative speech in
# `_unknown_`, the 60-epoch teacher) except the learning rate (3e-4 cosine, not 2e-4). Run from the
# repository root:
#
#   bash docs/results/gradfix-bundle/run.sh train      # 30 epochs, 1 thread (resumable)
#   bash docs/results/gradfix-bundle/run.sh evaluate   # export, calibrate like the bundle, hold out
#
# Fixed before any result (session 47, committed while the run trained):
# - the checkpoint judged is last.pt (the end of the cosine schedule), not best.pt: clean
#   validation accuracy (reported) does not measure what the bundle is for;
# - it is judged as the bundle: exported, its own points calibrated like the bundle's (8 and 2
#   blocks, pooled rule, gate flatness 0.35, the bundle's 12 calibration hours), then its cascade
#   with the bundled verifier (all four paths, wake 0.9, hold 1 s, --drop-other-verifiers), so
#   that the calibrated file could be bundled as it is;
# - it replaces the bundled model only if the cascade's calibration miss at 1 FA/h is at least
#   2 points lower than the bundle's at 8 blocks (21.8 %; one seed, ~2 points between seeds of one
#   recipe, session 14) and not higher at 2 blocks (23.5 %)
#   (docs/results/verifier-noise/calibrate-cascade.txt).
# The held-out streams (validation speakers, README's command) are reported, not used to decide.
set -euo pipefail
B=${BIFSMN:-.venv/bin/bifsmn}
DATA=../shared/data/speech_commands_test12_v0.02
NEG=../shared/data/picovoice_wake_words
OUT=docs/results/gradfix-bundle
RUN=runs/s47-gradfix-ft30
mkdir -p runs/s47

train() {
  if [ -f "$RUN/last.pt" ]; then
    "$B" train --resume "$RUN"
  else
    "$B" train --config bifsmnv2_fbank40 --data ../shared/data/speech_commands_v0.02_fbank40 \
      --epochs 30 --out "$RUN" model.init=models/bifsmnv2_fbank40_120snr.pt \
      distill.teacher=models/teacher_fbank40_60.pt train.threads=1 train.compile=true \
      "data.negatives=[$NEG]" optim.name=adamw optim.lr=0.0003 optim.weight_decay=0.0001 \
      "data.noise_snr_db=[0,20]"
  fi
}

evaluate() {
  cp "$RUN/metrics.csv" "$OUT/metrics.csv"
  "$B" export "$RUN/last.pt" -o runs/s47/student.bkws
  "$B" calibrate runs/s47/student.bkws --data "$DATA" --split training --negatives "$NEG" \
    --blocks 8 2 --minutes 60 --snr clean,10 --gate-flat-max 0.35 --rule pooled --threads 1 \
    --out runs/s47/own.bkws 2>&1 | tee "$OUT/calibrate-own.txt"
  "$B" calibrate runs/s47/own.bkws --data "$DATA" --split training --negatives "$NEG" \
    --blocks 8 4 2 1 --minutes 60 --snr clean,10 --gate-flat-max 0.35 --rule pooled \
    --verifier src/bifsmn/models_data/verifier.bkws --wake 0.9 --hold-ms 1000 --threads 1 \
    --drop-other-verifiers --out runs/s47/cascade.bkws 2>&1 | tee "$OUT/calibrate-cascade.txt"
  "$B" eval-stream --data "$DATA" --split validation --negatives "$NEG" \
    --model runs/s47/cascade.bkws --verifier src/bifsmn/models_data/verifier.bkws --blocks 8 2 \
    --minutes 60 --snr clean,10 --fa-target 0.5 1 --threads 1 --out "$OUT/heldout-cascade" \
    2>&1 | tee runs/s47/heldout-cascade.log
  grep -A20 "^system" runs/s47/heldout-cascade.log > "$OUT/heldout-cascade/heldout.txt"
}

case "${1:-}" in
  train) train ;;
  evaluate) evaluate ;;
  *) echo "usage: bash $OUT/run.sh train|evaluate" >&2; exit 2 ;;
esac
