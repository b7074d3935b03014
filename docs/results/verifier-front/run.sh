#!/usr/bin/env bash
# Session 31 (issue 13): a verifier with a wider convolutional front end. The two-stage
# detector's 10-dB misses are its verifier's; session 28 widened the verifier's blocks (hidden
# 256 -> 512) and was level at 1 FA/h (docs/results/verifier-wide). The front end that turns the
# 40 x 96 fbank40 image into tokens was never widened: conv1 has 16 channels, conv2 32. Here the
# bundled verifier (models/teacher_fbank40_pool1_noise.pt) gets 32 / 64 without changing its
# function (widen_front.py: new channels are noisy copies, every weight reading them starts at
# zero), then is trained with session 27's second-step recipe exactly (10 epochs, noise on every
# clip at 0-20 dB SNR, lr 3e-4). That second step is the control (same start, same recipe):
# cascade calibration miss at 1 FA/h 21.9 % at 8 blocks, 23.5 % at 2. Run from the repo root:
#
#   bash docs/results/verifier-front/run.sh train      # widen, then 10 epochs (resumable)
#   bash docs/results/verifier-front/run.sh screen     # the bundle's 8-block cascade, calibration
#   bash docs/results/verifier-front/run.sh evaluate   # all paths + held-out streams
#
# Fixed before any result (session 31, committed before the run):
# - the checkpoint judged is last.pt (as for the verifier-noise, -wide and -scratch runs);
# - screen: the bundle's 8-block cascade calibrated with it (wake 0.9, hold 1 s, pooled rule, the
#   bundle's 12 calibration hours); `evaluate` runs only if its calibration miss at 1 FA/h is at
#   least 2 points below the bundled verifier's 21.8 % (i.e. <= 19.8 %);
# - it replaces the bundled verifier only if, in `evaluate`, the 8-block cascade stays <= 19.8 %
#   and the 2-block cascade is not above the bundled 23.5 % (session 28's rule: a wider verifier
#   costs more per woken window, so it must clearly gain; its engine time is reported);
# - the held-out streams (validation speakers) are reported, not used to decide.
set -euo pipefail
B=${BIFSMN:-.venv/bin/bifsmn}
PY=${PYTHON:-.venv/bin/python}
DATA=../shared/data/speech_commands_test12_v0.02
NEG=../shared/data/picovoice_wake_words
OUT=docs/results/verifier-front
RUN=runs/verifier-front
mkdir -p runs/s31
. docs/results/cascade/evaluate_verifier.sh

case "${1:-}" in
  train)
    if [ ! -f "$RUN/last.pt" ]; then
      "$PY" "$OUT/widen_front.py" models/teacher_fbank40_pool1_noise.pt \
        runs/s31/verifier-front-init.pt --factor 2 | tee "$OUT/widen_front.txt"
    fi
    train_or_resume "$RUN" --config teacher_fbank40 \
      --data ../shared/data/speech_commands_v0.02_fbank40 --epochs 10 \
      model.init=runs/s31/verifier-front-init.pt model.kwargs.frontend_channels=32 \
      train.threads=2 train.compile=true "data.negatives=[$NEG]" optim.lr=0.0003 \
      "data.noise_snr_db=[0,20]" data.noise_prob=1.0 data.pool=1 model.kwargs.frames=96
    ;;
  screen)
    cp "$RUN/metrics.csv" "$OUT/metrics.csv"
    "$B" export "$RUN/last.pt" -o runs/s31/verifier-front.bkws
    probe_cascade8 runs/s31/verifier-front.bkws runs/s31/cascade-front8.bkws "$OUT/screen-cascade8.txt"
    ;;
  evaluate)
    evaluate_verifier "$RUN" runs/s31/verifier-front.bkws runs/s31/cascade-front.bkws "$OUT" "" \
      runs/s31/heldout-cascade-front.log
    ;;
  *)
    echo "usage: bash docs/results/verifier-front/run.sh train|screen|evaluate" >&2
    exit 2
    ;;
esac
