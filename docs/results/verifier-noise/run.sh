#!/usr/bin/env bash
# Session 27 (issue 13): the bundled verifier (models/teacher_fbank40_pool1_snr.pt, the 96-step
# FP teacher fine-tuned 20 epochs with noise at 0-20 dB SNR on half the clips) trained 10 more
# epochs with noise on 80 % of the clips. Why: at 10 dB the two-stage detector's misses are the
# verifier's (calibration, 1 FA/h: verifier alone 33.2 %, bundled cascade 34.9 %;
# docs/results/pool/README.md, "A 96-step verifier"). Run from the repository root:
#
#   bash docs/results/verifier-noise/run.sh train      # ~10 epochs, 1 thread (resumable)
#   bash docs/results/verifier-noise/run.sh evaluate   # calibrate the cascade, hold it out
#   bash docs/results/verifier-noise/run.sh per_class  # clean testing accuracy per word, old and new
#   bash docs/results/verifier-noise/run.sh train2     # session 27's second step (below)
#   bash docs/results/verifier-noise/run.sh evaluate2
#
# Second step, fixed in session 27 after the first had been bundled and before this one ran: the
# bundled verifier (models/teacher_fbank40_pool1_noise.pt) trained 10 more epochs with noise on
# every clip (data.noise_prob=1.0, SNR 0-20 dB), lr 3e-4, last epoch judged. It replaces the
# bundled verifier only if the bundled cascade's calibration miss at 1 FA/h is at least 2 points
# lower than with the first step's verifier at 8 blocks (21.8 %) and not higher at 2 (23.5 %).
#
# Fixed before any result (session 27):
# - the checkpoint judged is last.pt (the end of the cosine schedule), not best.pt: the recipe's
#   rule reads clean validation accuracy, which does not measure what this run is for;
# - it is judged as the bundled cascade's verifier (the bundle's 8- and 2-block paths wake it,
#   wake 0.9, hold 1 s, pooled rule, the bundle's 12 calibration hours) against the bundled
#   verifier's 26.2 % calibration miss at 1 FA/h (8 blocks; 26.5 % at 2 blocks;
#   docs/results/pool/calibrate-cascade-verifier96-all.txt). All four paths are calibrated, as
#   for the bundle's record, so that runs/s27/cascade-noise.bkws could be bundled as it is;
# - it replaces the bundled verifier only if that miss is at least 2 points lower (one seed;
#   ~2 points between seeds of one recipe, session 14) and the 2-block path's is not higher.
# The held-out streams (validation speakers) are reported, not used to decide.
set -euo pipefail
B=${BIFSMN:-.venv/bin/bifsmn}
DATA=../shared/data/speech_commands_test12_v0.02
NEG=../shared/data/picovoice_wake_words
OUT=docs/results/verifier-noise
mkdir -p runs/s27

train() {  # STEP ("" or 2) INIT NOISE_PROB: runs/verifier-noiseSTEP, resumed if it has begun
  local run=runs/verifier-noise$1
  if [ -f "$run/last.pt" ]; then
    "$B" train --resume "$run"
  else
    "$B" train --config teacher_fbank40 --data ../shared/data/speech_commands_v0.02_fbank40 \
      --epochs 10 --out "$run" model.init="$2" train.threads=1 \
      train.compile=true "data.negatives=[$NEG]" optim.lr=0.0003 "data.noise_snr_db=[0,20]" \
      data.noise_prob="$3" data.pool=1 model.kwargs.frames=96
  fi
}

# shell function evaluate_verifier: the export, calibration and held-out commands
. docs/results/cascade/evaluate_verifier.sh

evaluate() {  # STEP: its last epoch as the bundle's verifier, calibrated (all paths), held out
  evaluate_verifier "runs/verifier-noise$1" "runs/s27/verifier-noise$1.bkws" \
    "runs/s27/cascade-noise$1.bkws" "$OUT" "$1" "runs/s27/heldout-cascade$1.log"
}

case "${1:-}" in
  train) train "" models/teacher_fbank40_pool1_snr.pt 0.8 ;;
  evaluate) evaluate "" ;;
  train2) train 2 models/teacher_fbank40_pool1_noise.pt 1.0 ;;
  evaluate2) evaluate 2 ;;
  per_class)  # added after the evaluation: a description, not part of the decision
    ${PYTHON:-.venv/bin/python} docs/results/pool/per_class.py \
      "sessions 24-26=models/teacher_fbank40_pool1_snr.pt" \
      "session 27=models/teacher_fbank40_pool1_noise.pt" | tee "$OUT/per_class.txt"
    ;;
  *)
    echo "usage: bash docs/results/verifier-noise/run.sh train|evaluate|per_class|train2|evaluate2" >&2
    exit 2
    ;;
esac
