#!/usr/bin/env bash
# Session 39: the log-mel front end in 16-frame groups on AVX-512 (4ddbe62) and the front ends'
# FFT in place and cache-blocked (3a0df75); same bits (docs/engine.md, "Front ends"). Old and
# new engine builds alternated on one machine; each line is `round build mode median_us min_us`
# of one `engine_bench` run of RUNS calls:
#   logmel-clip    the log-mel front end of one whole 1-s clip (models/bifsmnv2_a01_sc12dev.pt)
#   logmel-stream  the same per 1536-sample hop of a stream (rows shared through a FrameCache)
#   fbank40-clip   the fbank40 front end of one whole clip (the bundled model)
#   fbank40-stream the same per 100 ms hop of a stream
#
#   bash docs/results/frontend-s39/ab.sh OLD_REV [ROUNDS] [RUNS] > docs/results/frontend-s39/ab.txt
#   python docs/results/frontend-tail/summary.py docs/results/frontend-s39/ab.txt
#
# OLD_REV's engine library is built in /tmp/ab-old (a git worktree; remove it afterwards with
# `git worktree remove --force /tmp/ab-old`), this checkout's in cpp/build-native; both are timed
# by this checkout's cpp/bench/engine_bench.cc (OLD_REV's has no `frontend` mode).
set -euo pipefail
rounds=${2:-10} runs=${3:-2000}
. docs/results/binarizer-avx512/ab_build.sh
ab_setup "${1:?usage: ab.sh OLD_REV [ROUNDS] [RUNS]}" fe  # sets $old and $new
"${BIFSMN:-.venv/bin/bifsmn}" export models/bifsmnv2_a01_sc12dev.pt -o runs/ab/a01.bkws > /dev/null
for r in $(seq "$rounds"); do
  for mode in logmel-clip logmel-stream fbank40-clip fbank40-stream; do
    case $mode in
      logmel-clip) m=runs/ab/a01.bkws arg=frontend ;;
      logmel-stream) m=runs/ab/a01.bkws arg=stream:1536 ;;
      fbank40-clip) m=src/bifsmn/models_data/bifsmnv2.bkws arg=frontend ;;
      fbank40-stream) m=src/bifsmn/models_data/bifsmnv2.bkws arg=stream ;;
    esac
    ab_rows "$r" "$mode" "$m" "$runs" "$arg"
  done
done
