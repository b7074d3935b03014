#!/usr/bin/env bash
# Session 30: the two-stage detector's wake level, never swept since session 14 chose 0.9.
# Screen: the bundle's 8-block cascade with the bundled verifier, calibrated on the bundle's 12
# calibration hours (pooled rule, hold 1 s) at each wake level below, two at a time (one
# thread each); writes probe-wWAKE.txt here and runs/wake-sweep/cascade-wWAKE.bkws.
#
#   bash docs/results/wake-sweep/run.sh screen          # wake 0.3, 0.5, 0.7
#   bash docs/results/wake-sweep/run.sh full WAKE       # the chosen level: all four paths + held out
#
# Rule fixed before the runs (README.md here): see "Rule".
set -euo pipefail
B=${BIFSMN:-.venv/bin/bifsmn}
DATA=../shared/data/speech_commands_test12_v0.02
NEG=../shared/data/picovoice_wake_words
OUT=docs/results/wake-sweep
V=src/bifsmn/models_data/verifier.bkws
mkdir -p runs/wake-sweep

probe() {  # WAKE BLOCKS... : calibrate the cascade at this wake level
  local w=$1
  shift
  "$B" calibrate src/bifsmn/models_data/bifsmnv2.bkws --data "$DATA" --split training \
    --negatives "$NEG" --blocks "$@" --minutes 60 --snr clean,10 --gate-flat-max 0.35 \
    --rule pooled --verifier "$V" --wake "$w" --hold-ms 1000 --threads 1 \
    --drop-other-verifiers --out "runs/wake-sweep/cascade-w$w.bkws"
}

case ${1:?usage: run.sh screen | full WAKE} in
  screen)
    probe 0.5 8 > "$OUT/probe-w0.5.txt" 2>&1 &
    probe 0.7 8 > "$OUT/probe-w0.7.txt" 2>&1
    wait
    probe 0.3 8 > "$OUT/probe-w0.3.txt" 2>&1
    ;;
  full)
    w=${2:?usage: run.sh full WAKE}
    probe "$w" 8 4 2 1 2>&1 | tee "$OUT/calibrate-w$w.txt"
    "$B" eval-stream --data "$DATA" --split validation --negatives "$NEG" \
      --model "runs/wake-sweep/cascade-w$w.bkws" --verifier "$V" --blocks 8 2 \
      --minutes 60 --snr clean,10 --fa-target 0.5 1 --threads 1 --out "$OUT/heldout-w$w" \
      2>&1 | tee "runs/wake-sweep/heldout-w$w.log"
    grep -A20 "^system" "runs/wake-sweep/heldout-w$w.log" > "$OUT/heldout-w$w/heldout.txt"
    ;;
  *) echo "usage: run.sh screen | full WAKE" >&2; exit 2 ;;
esac
