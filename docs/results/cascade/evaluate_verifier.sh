# Sourced by the verifier experiments' run.sh (docs/results/verifier-noise, -wide, -scratch,
# -consistency; sessions 27-29): train a FP teacher and judge it as the bundled two-stage
# detector's verifier. Uses B (the bifsmn command), DATA (the shared dev data) and NEG (the
# negative-speech folder): the caller's, else the defaults below (set -u safe).
: "${B:=${BIFSMN:-.venv/bin/bifsmn}}"
: "${DATA:=../shared/data/speech_commands_test12_v0.02}"
: "${NEG:=../shared/data/picovoice_wake_words}"
#
#   train_or_resume RUN TRAIN-ARGS...
#
# runs `bifsmn train --out RUN TRAIN-ARGS...`, or `bifsmn train --resume RUN` once RUN/last.pt
# exists (an interrupted run continues).
#
#   probe_cascade8 V.bkws CASCADE.bkws LOG
#
# calibrates the bundle's 8-block cascade with verifier V (wake 0.9, hold 1 s, pooled rule, the
# bundle's 12 calibration hours; written to CASCADE.bkws, the log to LOG): the screen the session-29
# rules apply before `evaluate_verifier`.
#
#   evaluate_verifier RUN V.bkws CASCADE.bkws OUT SUFFIX LOG
#
# copies RUN/metrics.csv to OUT/metricsSUFFIX.csv, exports RUN/last.pt to V.bkws, calibrates the
# bundle's cascade with it on the bundle's 12 calibration hours (all four paths, wake 0.9, hold
# 1 s, pooled rule; --drop-other-verifiers so that CASCADE.bkws could be bundled as it is:
# OUT/calibrate-cascadeSUFFIX.txt), then runs README's held-out streams at the stored points
# (OUT/heldout-cascadeSUFFIX/, the log in LOG, its table in heldout.txt).
#
#   calibrate_cascade V CASCADE.bkws LOG
#
# the bundle's cascade with verifier V (a file, or A.bkws+B.bkws: their mean logits) calibrated on
# all four paths (the 12 hours, wake 0.9, hold 1 s, pooled rule, --drop-other-verifiers), written
# to CASCADE.bkws, the log to LOG: the command every bundled cascade record came from.
calibrate_cascade() {
  "$B" calibrate src/bifsmn/models_data/bifsmnv2.bkws --data "$DATA" --split training \
    --negatives "$NEG" --blocks 8 4 2 1 --minutes 60 --snr clean,10 --gate-flat-max 0.35 \
    --rule pooled --verifier "$1" --wake 0.9 --hold-ms 1000 --threads 1 \
    --drop-other-verifiers --out "$2" 2>&1 | tee "$3"
}

#   heldout_cascade V CASCADE.bkws OUT [LOG]
#
# the held-out streams (validation speakers, 60 min clean and at 10 dB, 8 and 2 blocks, stored
# points and sweep) of CASCADE with verifier V: log LOG (default OUT.log), table OUT/heldout.txt
# (evaluate_verifier's last step; session 61's candidate scripts in docs/results/verifier-ensemble)
heldout_cascade() {
  local log=${4:-$3.log}
  "$B" eval-stream --data "$DATA" --split validation --negatives "$NEG" \
    --model "$2" --verifier "$1" --blocks 8 2 \
    --minutes 60 --snr clean,10 --fa-target 0.5 1 --threads 1 \
    --out "$3" 2>&1 | tee "$log"
  grep -A20 "^system" "$log" > "$3/heldout.txt"
}

evaluate_verifier() {
  local run=$1 v=$2 c=$3 out=$4 sfx=$5 log=$6
  cp "$run/metrics.csv" "$out/metrics$sfx.csv"
  "$B" export "$run/last.pt" -o "$v"
  calibrate_cascade "$v" "$c" "$out/calibrate-cascade$sfx.txt"
  heldout_cascade "$v" "$c" "$out/heldout-cascade$sfx" "$log"
}

train_or_resume() {
  local run=$1
  shift
  if [ -f "$run/last.pt" ]; then
    "$B" train --resume "$run"
  else
    "$B" train --out "$run" "$@"
  fi
}

probe_cascade8() {
  "$B" calibrate src/bifsmn/models_data/bifsmnv2.bkws --data "$DATA" --split training \
    --negatives "$NEG" --blocks 8 --minutes 60 --snr clean,10 --gate-flat-max 0.35 \
    --rule pooled --verifier "$1" --wake 0.9 --hold-ms 1000 --threads 1 \
    --drop-other-verifiers --out "$2" 2>&1 | tee "$3"
}

#   verifier_probe NAME screen|evaluate
#
# the two judging steps of a verifier probe trained into $RUN, its outputs in $OUT, its files
# in $PROBES (runs/s34 unless set) named after NAME: `screen` copies the metrics, exports
# RUN/last.pt to verifier-NAME.bkws and runs probe_cascade8 (OUT/screen-cascade8.txt);
# `evaluate` runs evaluate_verifier on that file (session 34's probes).
verifier_probe() {
  local name=$1 dir=${PROBES:-runs/s34}
  mkdir -p "$dir"
  case "$2" in
    screen)
      cp "$RUN/metrics.csv" "$OUT/metrics.csv"
      "$B" export "$RUN/last.pt" -o "$dir/verifier-$name.bkws"
      probe_cascade8 "$dir/verifier-$name.bkws" "$dir/cascade-${name}8.bkws" \
        "$OUT/screen-cascade8.txt"
      ;;
    evaluate)
      evaluate_verifier "$RUN" "$dir/verifier-$name.bkws" "$dir/cascade-$name.bkws" "$OUT" "" \
        "$dir/heldout-cascade-$name.log"
      ;;
  esac
}

#   probe_main NAME train|screen|evaluate TRAIN-ARGS...
#
# a session-34 verifier probe's command line: `train` runs session 27's second step (10 epochs
# from the bundled verifier models/teacher_fbank40_pool1_noise.pt, noise on every clip at 0-20 dB
# SNR, lr 3e-4, negative speech in `_unknown_`, 96 steps) into $RUN with TRAIN-ARGS added (the
# probe's change, applied after these, so a probe may replace the SNR range; $EPOCHS, $THREADS and
# $EXTRA as in the earlier run.sh files), `screen` / `evaluate` run verifier_probe NAME.
# Until session 38 the SNR range was missing here: probes that did not pass it (session 36's
# shift, session 38's first smooth and ema runs) mixed noise by data.noise_max_scale instead of
# by SNR, unlike their control (docs/results/verifier-shift/README.md says what that means).
probe_main() {
  local name=$1 action=$2
  shift 2
  case "$action" in
    train)
      # shellcheck disable=SC2086  # EXTRA: extra settings, split on spaces
      train_or_resume "$RUN" --config teacher_fbank40 \
        --data ../shared/data/speech_commands_v0.02_fbank40 --epochs "${EPOCHS:-10}" \
        model.init=models/teacher_fbank40_pool1_noise.pt \
        train.threads="${THREADS:-1}" train.compile=true "data.negatives=[$NEG]" \
        optim.lr=0.0003 "data.noise_snr_db=[0,20]" data.noise_prob=1.0 data.pool=1 \
        model.kwargs.frames=96 "$@" ${EXTRA:-}
      ;;
    screen|evaluate)
      verifier_probe "$name" "$action"
      ;;
    *)
      echo "usage: bash $OUT/run.sh train|screen|evaluate" >&2
      exit 2
      ;;
  esac
}
