#!/usr/bin/env bash
# Session 47-48 (the at-scale gap after session 46's gradient fix, and issue 13): BiFSMNv2 at scale
# trained from the teacher with the fix and the paper's optimizer (SGD 5e-3, cosine, 60 epochs),
# everything else the `bifsmnv2_fbank40` config, distilled from and initialised by the 60-epoch
# teacher (the bundled detector's lineage). Started in session 47, finished in session 48
# (resumed with `bifsmn train --resume`). Run from the repository root:
#
#   bash docs/results/sgd60/run.sh train      # 60 epochs, 1 thread (resumable)
#   bash docs/results/sgd60/run.sh table      # scale-table against the bundle and gradfix30
#   bash docs/results/sgd60/run.sh evaluate   # export, calibrate like the bundle, hold out
#
# Fixed before any result of the finished run (session 48, committed while its last epochs trained):
# - the checkpoint judged is best.pt (best 8-block validation epoch), the rule of every from-scratch
#   row of README's at-scale table;
# - clips: `bifsmn scale-table` against the bundle's student (models/bifsmnv2_fbank40_120snr.pt,
#   130 epochs before the fix, the last 10 with SNR noise) and session 47's gradfix30;
# - as a detector it is judged as the bundle (docs/results/gradfix-bundle/run.sh, the same rule):
#   exported, its own points calibrated like the bundle's (8 and 2 blocks, pooled rule, gate
#   flatness 0.35, the bundle's 12 calibration hours), then its cascade with the bundled verifier
#   (all four paths, wake 0.9, hold 1 s, --drop-other-verifiers); it replaces the bundled model only
#   if the cascade's calibration miss at 1 FA/h is at least 2 points lower than the bundle's at 8
#   blocks (21.8 %) and not higher than 23.5 % at 2 blocks. This model never saw SNR-controlled
#   noise (the bundle's last step), so it is not expected to pass; it is measured so that the
#   answer is known, not assumed.
# The held-out streams (validation speakers, README's command) are reported, not used to decide.
set -euo pipefail
B=${BIFSMN:-.venv/bin/bifsmn}
DATA=../shared/data/speech_commands_test12_v0.02
NEG=../shared/data/picovoice_wake_words
ARCH=../shared/data/speech_commands_v0.02_fbank40
OUT=docs/results/sgd60
RUN=runs/s47-sgd-fbank40-60
W=runs/s48
mkdir -p "$W"

train() {
  if [ -f "$RUN/last.pt" ]; then
    "$B" train --resume "$RUN"
  else
    "$B" train --config bifsmnv2_fbank40 --teacher models/teacher_fbank40_60.pt --data "$ARCH" \
      --out "$RUN" --epochs 60 train.threads=1 train.compile=true "data.negatives=[$NEG]" \
      optim.name=sgd optim.lr=0.005
  fi
}

table() {
  cp "$RUN/metrics.csv" "$OUT/metrics.csv"
  "$B" scale-table --model bundle=models/bifsmnv2_fbank40_120snr.pt \
    --model gradfix30=models/bifsmnv2_fbank40_gradfix30.pt --model sgd60="$RUN/best.pt" \
    --archive "$ARCH" --audio "$DATA" --negatives "$NEG" --out "$OUT/scale-table"
}

evaluate() {
  "$B" export "$RUN/best.pt" -o "$W/student.bkws"
  "$B" calibrate "$W/student.bkws" --data "$DATA" --split training --negatives "$NEG" \
    --blocks 8 2 --minutes 60 --snr clean,10 --gate-flat-max 0.35 --rule pooled --threads 1 \
    --out "$W/own.bkws" 2>&1 | tee "$OUT/calibrate-own.txt"
  "$B" calibrate "$W/own.bkws" --data "$DATA" --split training --negatives "$NEG" \
    --blocks 8 4 2 1 --minutes 60 --snr clean,10 --gate-flat-max 0.35 --rule pooled \
    --verifier src/bifsmn/models_data/verifier.bkws --wake 0.9 --hold-ms 1000 --threads 1 \
    --drop-other-verifiers --out "$W/cascade.bkws" 2>&1 | tee "$OUT/calibrate-cascade.txt"
  "$B" eval-stream --data "$DATA" --split validation --negatives "$NEG" \
    --model "$W/cascade.bkws" --verifier src/bifsmn/models_data/verifier.bkws --blocks 8 2 \
    --minutes 60 --snr clean,10 --fa-target 0.5 1 --threads 1 --out "$OUT/heldout-cascade" \
    2>&1 | tee "$W/heldout-cascade.log"
  grep -A20 "^system" "$W/heldout-cascade.log" > "$OUT/heldout-cascade/heldout.txt"
  "$B" eval-stream --data "$DATA" --split validation --negatives "$NEG" --model "$W/own.bkws" \
    --blocks 8 2 --minutes 60 --snr clean,10 --fa-target 0.5 1 --threads 1 \
    --out "$OUT/heldout-own" 2>&1 | tee "$W/heldout-own.log"
  grep -A20 "^system" "$W/heldout-own.log" > "$OUT/heldout-own/heldout.txt"
}

case "${1:-}" in
  train) train ;;
  table) table ;;
  evaluate) evaluate ;;
  *) echo "usage: bash $OUT/run.sh train|table|evaluate" >&2; exit 2 ;;
esac
