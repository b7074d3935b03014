#!/usr/bin/env bash
# Session 63 (issue 13): a second 12-block verifier from scratch (seed 1), the same recipe as scratch.sh
# (seed 0). Written and committed before scratch.sh's run had a result (runs/verifier-deep-scratch at epoch
# 53 of 80, no screen yet) and before this run started. Two seeds of one recipe averaged are the pair the
# bundle already uses (verifier.bkws + verifier2.bkws); this asks whether two 12-block networks make a better
# pair than two 8-block ones. Run from the repository root:
#
#   bash docs/results/verifier-deep/seed1.sh train      # runs/verifier-deep-scratch-seed1 (resumable)
#   bash docs/results/verifier-deep/seed1.sh screen     # the 8-block cascade: the two 12-block networks, and seed 1 alone
#   bash docs/results/verifier-deep/seed1.sh evaluate   # only if the pair's screen passes: all paths, held out
#
# Fixed before any result:
# - the checkpoint judged is last.pt (the end of the cosine schedule); seed 0's network is the one scratch.sh
#   screen exports (runs/s61/verifier-deep-scratch.bkws);
# - judged as the bundled cascade's verifier (the bundle's paths wake it, wake 0.9, hold 1 s, pooled rule, the
#   bundle's 12 calibration hours), the logits of seed 0 and seed 1 averaged, in that order;
# - the pair replaces the bundled verifier (whatever is bundled when this screen runs) only if its 8-block
#   calibration miss at 1 FA/h is at least 2 points below the bundled verifier's and at most 15.5 %, and its
#   2-block miss is not above the bundled one's; if another candidate passes in the same session, the lower
#   8-block miss is bundled (within 0.2 points the cheaper: two 12-block networks cost ~3x one 8-block network
#   per verified window);
# - seed 1 alone is screened and reported, not used to decide; the held-out streams are reported, not used
#   to decide.
set -euo pipefail
. docs/results/cascade/evaluate_verifier.sh
OUT=docs/results/verifier-deep/seed1
RUN=runs/verifier-deep-scratch-seed1
SEED0=runs/s61/verifier-deep-scratch.bkws
CAND=runs/s63/verifier-deep-scratch-seed1.bkws
V=$SEED0+$CAND
mkdir -p runs/s63 "$OUT"
case "${1:-}" in
  train)
    train_or_resume "$RUN" --config teacher_fbank40 --data ../shared/data/speech_commands_v0.02_fbank40 \
      --epochs 80 train.seed=1 train.threads=1 train.compile=true "data.negatives=[$NEG]" \
      optim.lr=0.001 "data.noise_snr_db=[0,20]" data.noise_prob=0.8 data.pool=1 \
      model.kwargs.frames=96 model.kwargs.num_layers=12 "train.blocks=[12]"
    ;;
  screen)
    [ -f "$SEED0" ] || { echo "seed1.sh: $SEED0 missing: run verifier-deep/scratch.sh screen first" >&2; exit 2; }
    cp "$RUN/metrics.csv" "$OUT/metrics.csv"
    "$B" export "$RUN/last.pt" -o "$CAND"
    probe_cascade8 "$V" runs/s63/cascade-deep2-pair8.bkws "$OUT/screen-pair-cascade8.txt"
    probe_cascade8 "$CAND" runs/s63/cascade-deep2-alone8.bkws "$OUT/screen-alone-cascade8.txt"
    ;;
  evaluate)
    calibrate_cascade "$V" runs/s63/cascade-deep2-pair.bkws "$OUT/calibrate-cascade.txt"
    heldout_cascade "$V" runs/s63/cascade-deep2-pair.bkws "$OUT/heldout-cascade"
    ;;
  *)
    echo "usage: bash docs/results/verifier-deep/seed1.sh train|screen|evaluate" >&2
    exit 2
    ;;
esac
