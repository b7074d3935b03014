#!/usr/bin/env bash
# Session 58 (issue 13): a verifier with a longer first stage. The bundled verifier
# (models/teacher_fbank40_pool1_noise.pt) is the 96-step FP teacher trained 25 epochs
# (models/teacher_fbank40_pool1.pt, best epoch 25 of 25: still improving), fine-tuned 20 epochs with
# SNR noise, then 10 with noise on 80 % of its clips (session 27). Every verifier tried since
# (wider, deeper, other lineages, other losses and noise) started from that 25-epoch stage or
# trained 16 epochs from scratch; a longer first stage is untried. At 32 steps, 60 epochs instead
# of 25 raised the teacher's validation accuracy from 93.91 to 95.06 % (models/teacher_fbank40.md,
# models/teacher_fbank40_60.md). Run from the repository root:
#
#   bash docs/results/verifier-long/run.sh base      # 70 epochs of the 25-epoch stage's command, 1 thread (resumable)
#   bash docs/results/verifier-long/run.sh train     # then session 27's noise step, 10 epochs (resumable)
#   bash docs/results/verifier-long/run.sh screen    # the 8-block cascade on the calibration hours
#   bash docs/results/verifier-long/run.sh evaluate  # all paths calibrated, then held out
#
# A second candidate, started the same day on the other core (added before either run had a
# result): the noise step's recipe for all 80 epochs from scratch (one cosine schedule, noise at
# 0-20 dB SNR on 80 % of the clips from the first epoch; session 29's from-scratch verifier had 16
# epochs, another seed and memory 6+6, and missed 31.9 %):
#
#   bash docs/results/verifier-long/run.sh scratch          # 80 epochs, 1 thread (resumable)
#   bash docs/results/verifier-long/run.sh screen-scratch
#   bash docs/results/verifier-long/run.sh evaluate-scratch
#
# Fixed before any result (session 58; session 31's rule):
# - the checkpoint judged is the noise step's last.pt (the end of its cosine schedule);
# - it is judged as the bundled cascade's verifier (the bundle's paths wake it, wake 0.9, hold 1 s,
#   pooled rule, the bundle's 12 calibration hours) against the bundled verifier's 21.8 % calibration
#   miss at 1 FA/h at 8 blocks (23.5 % at 2 blocks);
# - it replaces the bundled verifier only if that miss is at most 19.8 % (2 points lower; ~2 points
#   between seeds of one recipe, session 14) and the 2-block path's is not higher than 23.5 %;
# - `screen` (8 blocks only) decides whether `evaluate` runs: above 19.8 % the run is reported as
#   not adopted from the screen. The held-out streams (validation speakers) are reported, not used
#   to decide;
# - the two candidates are judged separately by this rule; if both pass, the one with the lower
#   8-block calibration miss at 1 FA/h replaces the bundled verifier.
#
# Session 59 (added after both screens above and before either new run had a result): the scratch
# candidate missed the bar by 0.8 points (20.6 %) but was the lowest 1 FA/h miss of any verifier
# tried, lower than the bundled one at all three points. Two follow-ups, one thread each:
#
#   bash docs/results/verifier-long/run.sh scratch160        # the scratch command with 160 epochs (resumable)
#   bash docs/results/verifier-long/run.sh screen-scratch160
#   bash docs/results/verifier-long/run.sh scratch-seed1     # the scratch command with train.seed=1 (80 epochs)
#   bash docs/results/verifier-long/run.sh screen-scratch-seed1
#
# (then `evaluate-scratch160` / `evaluate-scratch-seed1` only where the screen passes). Judged by the
# rule above, unchanged (last.pt; <= 19.8 % at 8 blocks decides whether the full evaluation runs;
# <= 23.5 % at 2; if more than one passes, the lowest 8-block miss wins). The seed-1 run also
# reports the recipe's spread between seeds at 80 epochs, whatever it scores.
set -euo pipefail
# B (bifsmn), DATA, NEG and the steps train_or_resume, verifier_probe (screen, evaluate)
. docs/results/cascade/evaluate_verifier.sh
OUT=docs/results/verifier-long
BASE=runs/verifier-long-base
RUN=runs/verifier-long
ARCHIVE=../shared/data/speech_commands_v0.02_fbank40
export PROBES=runs/s58  # verifier_probe's files: runs/s58/verifier-long.bkws, cascade-long8.bkws, ...

case "${1:-}" in
  base)  # models/teacher_fbank40_pool1.md's command with 70 epochs instead of 25
    train_or_resume "$BASE" --config teacher_fbank40 --data "$ARCHIVE" --epochs 70 \
      train.threads=1 train.compile=true "data.negatives=[$NEG]" data.pool=1 \
      model.kwargs.frames=96 optim.lr=0.001
    ;;
  train)  # models/teacher_fbank40_pool1_noise.md's command from the base's last epoch
    train_or_resume "$RUN" --config teacher_fbank40 --data "$ARCHIVE" --epochs 10 \
      model.init="$BASE/last.pt" train.threads=1 train.compile=true "data.negatives=[$NEG]" \
      optim.lr=0.0003 "data.noise_snr_db=[0,20]" data.noise_prob=0.8 data.pool=1 \
      model.kwargs.frames=96
    ;;
  screen)  # verifier_probe: the 8-block cascade only, calibrated on the bundle's 12 hours
    cp "$BASE/metrics.csv" "$OUT/metrics-base.csv"
    verifier_probe long screen
    ;;
  evaluate)  # the export, calibration and held-out commands
    verifier_probe long evaluate
    ;;
  scratch | scratch160 | scratch-seed1)  # the noise step's command from scratch at the first stage's
    # rate: 80 epochs (session 58), 160 epochs or seed 1 (session 59); runs/verifier-long-$1
    case "$1" in scratch) epochs=80 seed=0 ;; scratch160) epochs=160 seed=0 ;; *) epochs=80 seed=1 ;; esac
    train_or_resume "runs/verifier-long-$1" --config teacher_fbank40 --data "$ARCHIVE" \
      --epochs "$epochs" train.seed="$seed" train.threads=1 train.compile=true \
      "data.negatives=[$NEG]" optim.lr=0.001 "data.noise_snr_db=[0,20]" data.noise_prob=0.8 \
      data.pool=1 model.kwargs.frames=96
    ;;
  screen-scratch | evaluate-scratch | screen-scratch160 | evaluate-scratch160 | \
  screen-scratch-seed1 | evaluate-scratch-seed1)  # the same for the scratch runs, outputs in OUT/NAME/
    name=${1#*-}  # scratch, scratch160 or scratch-seed1
    RUN=runs/verifier-long-$name OUT=$OUT/$name
    mkdir -p "$OUT"
    verifier_probe "long-$name" "${1%%-*}"
    ;;
  *)
    echo "usage: bash docs/results/verifier-long/run.sh base|train|screen|evaluate|scratch|screen-scratch|evaluate-scratch|scratch160|scratch-seed1|screen-NAME|evaluate-NAME" >&2
    exit 2
    ;;
esac
