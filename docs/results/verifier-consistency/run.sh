#!/usr/bin/env bash
# Session 29 (issue 13): a verifier taught to answer on noisy input as it does on clean input.
# docs/results/noise-domain found the 10-dB misses in the verifier's top tail: noise lowers the
# true keyword's posterior below the calibrated 0.99-0.998 for twice as many words as clean
# (26.4 against 11.8 % below 0.99), the mass going to other keywords, at every SNR below 15 dB;
# the training noise itself is faithful. Cross-entropy on noisy clips alone (session 27's second
# step: the bundled verifier, 10 epochs, noise on every clip) was level. This run is that second
# step exactly plus one term: KL(p_clean || p_noisy), the bundled verifier itself (frozen) on the
# same batch without its noise as the target (distill.teacher_input=clean, kl 1, temperature 1;
# distill.alpha 0: no feature or logit-MSE terms). Session 27's second step is the control.
#
#   bash docs/results/verifier-consistency/run.sh train   # 10 epochs, 2 threads (resumable)
#   bash docs/results/verifier-consistency/run.sh probe   # the bundle's 8-block cascade with it
#   bash docs/results/verifier-consistency/run.sh evaluate  # all four paths + held out (if it passes)
#
# Fixed before any result (session 29, committed before the run):
# - the checkpoint judged is last.pt;
# - it replaces the bundled verifier only if the bundled cascade's calibration miss at 1 FA/h is
#   at least 2 points below the bundled verifier's at 8 blocks (21.8 %; the control: 21.9 %) and
#   not above it at 2 blocks (23.5 %), sessions 27-28's rule; `probe` screens the 8-block
#   condition, `evaluate` runs only if it passes. Held-out streams are reported, not used to decide.
set -euo pipefail
B=${BIFSMN:-.venv/bin/bifsmn}
DATA=../shared/data/speech_commands_test12_v0.02
NEG=../shared/data/picovoice_wake_words
OUT=docs/results/verifier-consistency
RUN=runs/verifier-consistency
V=models/teacher_fbank40_pool1_noise.pt
mkdir -p runs/s29
. docs/results/cascade/evaluate_verifier.sh  # train_or_resume, probe_cascade8, evaluate_verifier

case "${1:-}" in
  train)
    train_or_resume "$RUN" --config teacher_fbank40 --data ../shared/data/speech_commands_v0.02_fbank40 \
      --epochs 10 model.init=$V train.threads=2 train.compile=true "data.negatives=[$NEG]" \
      optim.lr=0.0003 "data.noise_snr_db=[0,20]" data.noise_prob=1.0 data.pool=1 \
      model.kwargs.frames=96 distill.kind=feature distill.teacher=$V distill.teacher_input=clean \
      distill.alpha=0 distill.options.kl=1.0 distill.options.kl_temperature=1.0
    ;;
  probe)
    cp "$RUN/metrics.csv" "$OUT/metrics.csv"
    "$B" export "$RUN/last.pt" -o runs/s29/verifier-consistency.bkws
    probe_cascade8 runs/s29/verifier-consistency.bkws runs/s29/cascade-consistency-8.bkws \
      "$OUT/probe.txt"
    ;;
  evaluate)  # the export, calibration and held-out commands: evaluate_verifier
    evaluate_verifier "$RUN" runs/s29/verifier-consistency.bkws runs/s29/cascade-consistency.bkws \
      "$OUT" "" runs/s29/heldout-cascade-consistency.log
    ;;
  *)
    echo "usage: bash docs/results/verifier-consistency/run.sh train|probe|evaluate" >&2
    exit 2
    ;;
esac
