# Sourced by docs/results/verifier-noise/run.sh and docs/results/verifier-wide/run.sh (sessions
# 27-28): judge a trained FP teacher as the bundled two-stage detector's verifier. Needs B (the
# bifsmn command), DATA (the shared dev data) and NEG (the negative-speech folder) set.
#
#   evaluate_verifier RUN V.bkws CASCADE.bkws OUT SUFFIX LOG
#
# copies RUN/metrics.csv to OUT/metricsSUFFIX.csv, exports RUN/last.pt to V.bkws, calibrates the
# bundle's cascade with it on the bundle's 12 calibration hours (all four paths, wake 0.9, hold
# 1 s, pooled rule; --drop-other-verifiers so that CASCADE.bkws could be bundled as it is:
# OUT/calibrate-cascadeSUFFIX.txt), then runs README's held-out streams at the stored points
# (OUT/heldout-cascadeSUFFIX/, the log in LOG, its table in heldout.txt).
evaluate_verifier() {
  local run=$1 v=$2 c=$3 out=$4 sfx=$5 log=$6
  cp "$run/metrics.csv" "$out/metrics$sfx.csv"
  "$B" export "$run/last.pt" -o "$v"
  "$B" calibrate src/bifsmn/models_data/bifsmnv2.bkws --data "$DATA" --split training \
    --negatives "$NEG" --blocks 8 4 2 1 --minutes 60 --snr clean,10 --gate-flat-max 0.35 \
    --rule pooled --verifier "$v" --wake 0.9 --hold-ms 1000 --threads 1 \
    --drop-other-verifiers --out "$c" 2>&1 | tee "$out/calibrate-cascade$sfx.txt"
  "$B" eval-stream --data "$DATA" --split validation --negatives "$NEG" \
    --model "$c" --verifier "$v" --blocks 8 2 \
    --minutes 60 --snr clean,10 --fa-target 0.5 1 --threads 1 --out "$out/heldout-cascade$sfx" \
    2>&1 | tee "$log"
  grep -A20 "^system" "$log" > "$out/heldout-cascade$sfx/heldout.txt"
}
