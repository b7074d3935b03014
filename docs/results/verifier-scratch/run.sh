#!/usr/bin/env bash
# Session 29 (issue 13): a verifier of another lineage. The bundled verifier
# (models/teacher_fbank40_pool1_noise.pt) and every variant tried in sessions 27-28 (noise on every
# clip, 2x wider, two of them averaged) descend from one 25-epoch teacher and were level at
# 1 FA/h (docs/results/verifier-noise, verifier-wide, verifier-ensemble). This run trains one from
# scratch with a different seed and a longer FSMN memory (6 frames each side instead of 2: a
# 13-step depthwise filter per block, about 3x the receptive field in time), noise at 0-20 dB SNR
# on 80 % of clips from the first epoch. Run from the repository root:
#
#   bash docs/results/verifier-scratch/run.sh train     # 16 epochs, 2 threads (resumable)
#   bash docs/results/verifier-scratch/run.sh probe     # 8-block cascade calibration: it alone,
#                                                       # and averaged with the bundled verifier
#   bash docs/results/verifier-scratch/run.sh evaluate  # the full judgement (bundle's 4 paths, held out)
#
# Fixed before any result (session 29, committed before the run):
# - the checkpoint judged is last.pt;
# - it replaces the bundled verifier only if the bundled cascade's calibration miss at 1 FA/h is
#   at least 2 points below the bundled verifier's at 8 blocks (21.8 %) and not above it at
#   2 blocks (23.5 %) -- sessions 27-28's rule. The probe (docs/results/verifier-ensemble/probe.py,
#   which reproduces the bundled 21.8 % exactly) screens the 8-block condition first; `evaluate`
#   (all four paths, held-out streams) runs only if the probe passes it.
# - averaged with the bundled verifier, it makes an ensemble worth building into the detector
#   only if that probe's 8-block miss at 1 FA/h is at least 2 points below 21.8 % (session 28's rule).
# The held-out streams (validation speakers) are reported, not used to decide.
set -euo pipefail
B=${BIFSMN:-.venv/bin/bifsmn}
PY=${PYTHON:-.venv/bin/python}
DATA=../shared/data/speech_commands_test12_v0.02
NEG=../shared/data/picovoice_wake_words
OUT=docs/results/verifier-scratch
RUN=runs/verifier-scratch
mkdir -p runs/s29
. docs/results/cascade/evaluate_verifier.sh  # train_or_resume, probe_cascade8, evaluate_verifier

case "${1:-}" in
  train)
    train_or_resume "$RUN" --config teacher_fbank40 --data ../shared/data/speech_commands_v0.02_fbank40 \
      --epochs 16 train.seed=1 model.kwargs.left=6 model.kwargs.right=6 train.threads=2 \
      train.compile=true "data.negatives=[$NEG]" optim.lr=0.001 "data.noise_snr_db=[0,20]" \
      data.noise_prob=0.8 data.pool=1 model.kwargs.frames=96
    ;;
  probe)
    cp "$RUN/metrics.csv" "$OUT/metrics.csv"
    "$B" export "$RUN/last.pt" -o runs/s29/verifier-scratch.bkws
    probe_cascade8 runs/s29/verifier-scratch.bkws runs/s29/cascade-scratch-8.bkws \
      "$OUT/probe-alone.txt"
    "$PY" docs/results/verifier-ensemble/probe.py runs/s29/verifier-scratch.bkws --blocks 8 \
      2>&1 | tee "$OUT/probe-ensemble.txt"
    ;;
  evaluate)  # the export, calibration and held-out commands: evaluate_verifier
    evaluate_verifier "$RUN" runs/s29/verifier-scratch.bkws runs/s29/cascade-scratch.bkws "$OUT" "" \
      runs/s29/heldout-cascade-scratch.log
    ;;
  *)
    echo "usage: bash docs/results/verifier-scratch/run.sh train|probe|evaluate" >&2
    exit 2
    ;;
esac
