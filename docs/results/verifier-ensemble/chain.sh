#!/usr/bin/env bash
# Session 62 (issue 13): resume a verifier candidate's training and run its screens as soon as it ends,
# unattended (a session's processes die with it; the next one starts this again and it picks up from
# last.pt). Nothing here decides anything: the screens' rules are the ones fixed in their own scripts
# before the candidates had results (swap.sh, verifier-long/run.sh, verifier-deep/scratch.sh). Run from
# the repository root, in the background, one per candidate:
#
#   (setsid nohup bash docs/results/verifier-ensemble/chain.sh scratch160 >> runs/verifier-long-scratch160.log 2>&1 &)
#   (setsid nohup bash docs/results/verifier-ensemble/chain.sh deep >> runs/verifier-deep-scratch.log 2>&1 &)
#   (setsid nohup bash docs/results/verifier-ensemble/chain.sh late >> runs/s62-late.log 2>&1 &)
#   (setsid nohup bash docs/results/verifier-ensemble/chain.sh deep1 >> runs/verifier-deep-scratch-seed1.log 2>&1 &)
#
# scratch160: the 160-epoch scratch verifier, then swap.sh screen (as the pair's second network) and
#             verifier-long/run.sh screen-scratch160 (alone);
# deep:       the 12-block scratch verifier, then verifier-deep/scratch.sh screen (in the pair and alone);
# deep1:      the second 12-block scratch verifier (seed 1, session 63), then verifier-deep/seed1.sh screen
#             (once seed 0's screen has exported its network);
# late:       waits until both screens above have exported their networks, then late.sh's three screens.
# The screens write their outputs under docs/results/ (committed by hand afterwards, with the README rows).
set -euo pipefail
case "${1:-}" in
  scratch160)
    bash docs/results/verifier-long/run.sh scratch160
    bash docs/results/verifier-ensemble/swap.sh screen
    bash docs/results/verifier-long/run.sh screen-scratch160
    ;;
  deep)
    bash docs/results/verifier-deep/scratch.sh train
    bash docs/results/verifier-deep/scratch.sh screen
    ;;
  deep1)
    bash docs/results/verifier-deep/seed1.sh train
    until [ -s docs/results/verifier-deep/scratch/screen-alone-cascade8.txt ] &&
      grep -q "1 FA/h" docs/results/verifier-deep/scratch/screen-alone-cascade8.txt; do
      sleep 60
    done
    bash docs/results/verifier-deep/seed1.sh screen
    ;;
  late)
    # each screen exports its network before its first calibration; wait for both screens' logs to end
    until [ -s docs/results/verifier-ensemble/swap/screen-cascade8.txt ] &&
      [ -s docs/results/verifier-deep/scratch/screen-alone-cascade8.txt ] &&
      grep -q "1 FA/h" docs/results/verifier-ensemble/swap/screen-cascade8.txt &&
      grep -q "1 FA/h" docs/results/verifier-deep/scratch/screen-alone-cascade8.txt; do
      sleep 60
    done
    for s in screen-second160 screen-new screen-triple; do bash docs/results/verifier-ensemble/late.sh "$s"; done
    ;;
  *)
    echo "usage: bash docs/results/verifier-ensemble/chain.sh scratch160|deep|deep1|late" >&2
    exit 2
    ;;
esac
