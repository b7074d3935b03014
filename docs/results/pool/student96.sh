#!/usr/bin/env bash
# The 96-step 1-bit student against its 32-step control (docs/results/pool/README.md, "The 1-bit
# student at 96 steps"). Run from the repository root once runs/student-pool1-30 has finished:
#
#   bash docs/results/pool/student96.sh control   # the 32-step student: calibration, held out
#   bash docs/results/pool/student96.sh student   # the 96-step student: publish, the same
#   bash docs/results/pool/student96.sh bench     # its engine time (on a quiet machine)
#   bash docs/results/pool/student96.sh snr       # session 26: its 10-epoch SNR fine-tune
#   bash docs/results/pool/student96.sh cascade   # the 96-step student waking the bundled verifier
#   bash docs/results/pool/student96.sh cascade27 # the same with the verifier bundled in session 27
#   bash docs/results/pool/student96.sh progress  # copy the 120-epoch run's metrics.csv (any time)
#   bash docs/results/pool/student96.sh long      # once runs/student-pool1-120 has finished:
#     publish it, per-word testing accuracy, calibration and held out alone and as first stage
#
# Both students: the bifsmnv2_fbank40 recipe, 30 AdamW epochs, seed 0; the control is
# models/bifsmnv2_fbank40.pt (from the 25-epoch 32-step teacher), the 96-step one is distilled
# from models/teacher_fbank40_pool1.pt (25 epochs at 96 steps). Calibration: the bundle's 12
# calibration hours (training-list speakers, clean and 10 dB, pooled rule); held out: 2 h of
# validation-list speakers. Outputs beside this script; scratch files in runs/s25.
set -euo pipefail
B=${BIFSMN:-.venv/bin/bifsmn}
PY=${PYTHON:-.venv/bin/python}
DATA=../shared/data/speech_commands_test12_v0.02
NEG=../shared/data/picovoice_wake_words
OUT=docs/results/pool
mkdir -p runs/s25

calibrate_and_hold_out() {  # NAME CHECKPOINT
  local name=$1 ckpt=$2
  "$B" export "$ckpt" -o "runs/s25/$name.bkws"
  "$B" calibrate "runs/s25/$name.bkws" --data "$DATA" --split training --negatives "$NEG" \
    --blocks 8 2 --minutes 60 --snr clean,10 --gate-flat-max 0.35 --threads 1 \
    --out "runs/s25/${name}_cal.bkws" 2>&1 | tee "$OUT/calibrate-$name.txt"
  "$B" eval-stream --data "$DATA" --split validation --negatives "$NEG" \
    --model "runs/s25/${name}_cal.bkws" --blocks 8 2 --minutes 60 --snr clean,10 \
    --fa-target 0.5 1 --threads 1 --out "$OUT/heldout-$name" 2>&1 | tee "runs/s25/heldout-$name.log"
  grep -A20 "^system" "runs/s25/heldout-$name.log" > "$OUT/heldout-$name/heldout.txt"
}

publish_run() {  # RUN NAME EPOCHS THREADS NOTES: models/NAME.pt + card, the 96-step student recipe
  local cmd="bifsmn train --config bifsmnv2_fbank40 --teacher models/teacher_fbank40_pool1.pt"
  cmd+=" --data ../shared/data/speech_commands_v0.02_fbank40 --out $1 --epochs $3"
  cmd+=" train.threads=$4 train.compile=true \"data.negatives=[../shared/data/picovoice_wake_words]\""
  cmd+=" optim.name=adamw optim.lr=0.001 optim.weight_decay=0.0001 data.pool=1 model.kwargs.frames=96"
  "$PY" -c 'import sys; from bifsmn.cards import publish; publish(*sys.argv[1:4], notes=sys.argv[4])' \
    "$1" "$2" "$cmd" "$5"
}

copy_progress() {  # the 120-epoch run's metrics so far (or final)
  cp runs/student-pool1-120/metrics.csv "$OUT/student-pool1-120-metrics.csv"
}

cascade_and_hold_out() {  # NAME [TAG]: runs/s25/NAME.bkws (from calibrate_and_hold_out) as first stage
  # of the bundled verifier of the day (sessions 24-26: teacher_fbank40_pool1_snr; since session 27:
  # teacher_fbank40_pool1_noise, docs/results/verifier-noise); TAG names the outputs (default NAME)
  local name=$1 tag=${2:-$1} V=src/bifsmn/models_data/verifier.bkws
  "$B" calibrate "runs/s25/$name.bkws" --data "$DATA" --split training --negatives "$NEG" \
    --blocks 8 2 --minutes 60 --snr clean,10 --gate-flat-max 0.35 --rule pooled \
    --verifier "$V" --wake 0.9 --hold-ms 1000 --threads 1 \
    --out "runs/s25/${tag}_cascade.bkws" 2>&1 | tee "$OUT/calibrate-cascade-$tag.txt"
  "$B" eval-stream --data "$DATA" --split validation --negatives "$NEG" \
    --model "runs/s25/${tag}_cascade.bkws" --verifier "$V" --blocks 8 2 --minutes 60 \
    --snr clean,10 --fa-target 0.5 1 --threads 1 --out "$OUT/heldout-cascade-$tag" \
    2>&1 | tee "runs/s25/heldout-cascade-$tag.log"
  grep -A20 "^system" "runs/s25/heldout-cascade-$tag.log" > "$OUT/heldout-cascade-$tag/heldout.txt"
}

case "${1:-}" in
  control)
    calibrate_and_hold_out student32 models/bifsmnv2_fbank40.pt
    ;;
  student)
    publish_run runs/student-pool1-30 bifsmnv2_fbank40_pool1 30 1 \
      "The 96-step counterpart of bifsmnv2_fbank40 (docs/results/pool/README.md). Interrupted at session ends and continued with \`bifsmn train --resume runs/student-pool1-30\` (from epoch 8 on with train.threads=2)."
    cp runs/student-pool1-30/metrics.csv "$OUT/student-pool1-30-metrics.csv"
    "$PY" docs/results/pool/per_class.py "32 steps=models/bifsmnv2_fbank40.pt" \
      "96 steps=models/bifsmnv2_fbank40_pool1.pt" | tee "$OUT/per_class_student.txt"
    calibrate_and_hold_out student96 models/bifsmnv2_fbank40_pool1.pt
    ;;
  snr)  # after: bifsmn train ... --out runs/snr-ft-pool1 (README of this folder, session 26)
    cp runs/snr-ft-pool1/metrics.csv "$OUT/student-pool1-snr-metrics.csv"
    "$PY" docs/results/pool/per_class.py "96 steps=models/bifsmnv2_fbank40_pool1.pt" \
      "+ SNR, epoch 3=runs/snr-ft-pool1/best.pt" "+ SNR, epoch 10=runs/snr-ft-pool1/last.pt" \
      | tee "$OUT/per_class_student_snr.txt"
    # the recipe's rule (best 8-block validation, first) picks epoch 3, tied with epoch 10 (since
    # session 50 the default rule is ties, which keeps epoch 10: train with train.best_rule=first
    # for session 26's best.pt):
    # both are calibrated, the lower calibration miss at 1 FA/h is the candidate
    calibrate_and_hold_out student96snr runs/snr-ft-pool1/best.pt &
    calibrate_and_hold_out student96snr10 runs/snr-ft-pool1/last.pt
    wait
    ;;
  cascade)  # the bundle's cascade command, with the 96-step student (after `student`) as first stage
    # (session 26, with the verifier of sessions 24-26; rerunning it overwrites those outputs)
    cascade_and_hold_out student96
    ;;
  cascade27)  # the same with the verifier bundled since session 27, beside session 26's outputs
    cascade_and_hold_out student96 student96-v27
    ;;
  progress)
    copy_progress
    ;;
  long)  # fixed in session 26, before the run had finished
    publish_run runs/student-pool1-120 bifsmnv2_fbank40_pool1_120 120 2 \
      "The 120-epoch counterpart of bifsmnv2_fbank40_pool1 (docs/results/pool/README.md). Interrupted at session ends and continued with \`bifsmn train --resume runs/student-pool1-120\`."
    copy_progress
    "$PY" docs/results/pool/per_class.py "96 steps, 30 epochs=models/bifsmnv2_fbank40_pool1.pt" \
      "96 steps, 120 epochs=models/bifsmnv2_fbank40_pool1_120.pt" \
      "the bundle (32 steps)=models/bifsmnv2_fbank40_120snr.pt" | tee "$OUT/per_class_student120.txt"
    calibrate_and_hold_out student96l models/bifsmnv2_fbank40_pool1_120.pt
    cascade_and_hold_out student96l  # with the verifier bundled since session 27: compare with
    # `cascade27` (the 30-epoch student) and the bundled cascade (docs/results/verifier-noise)
    ;;
  bench)  # engine time does not depend on the weights: bench-s24 timed an earlier checkpoint
    "$B" bench --binary models/bifsmnv2_fbank40_pool1.pt --teacher models/teacher_fbank40_pool1.pt \
      --out "$OUT/bench-student96" --runs 300 --repeat 5
    ;;
  *)
    echo "usage: bash docs/results/pool/student96.sh control|student|snr|cascade|cascade27|progress|long|bench" >&2
    exit 2
    ;;
esac
