#!/usr/bin/env bash
# Session 33: the fbank40 front end computes a short tail of rows (a stream's 10 new rows per
# 100 ms hop are 8 + 2) at the narrowest SIMD width that holds it (docs/engine.md, "Streaming
# with a 1-s window model"). Old and new engine builds alternated on one machine; each line is
# `round build mode median_us min_us` of one `engine_bench` run of RUNS calls on the bundled
# model: `stream` = the front end per 100 ms hop of a stream (rows shared through a FrameCache),
# `audio` = front end + 8-block network per whole clip.
#
#   bash docs/results/frontend-tail/ab.sh OLD_REV [ROUNDS] [RUNS] > docs/results/frontend-tail/ab.txt
#
# OLD_REV's engine library is built in /tmp/ab-old (a git worktree; remove it afterwards with
# `git worktree remove --force /tmp/ab-old`), this checkout's in cpp/build-native; each is linked
# with this checkout's cpp/bench/engine_bench.cc, compiled the same way (OLD_REV's engine_bench
# has no `stream` mode; the engine API it uses is the same).
set -euo pipefail
old_rev=${1:?usage: ab.sh OLD_REV [ROUNDS] [RUNS]}
rounds=${2:-20}
runs=${3:-2000}
. docs/results/binarizer-avx512/ab_build.sh
ab_build "$old_rev"
# both harnesses compiled the same way from this checkout's engine_bench.cc, each linked with
# its build's (Release) engine library
old=/tmp/ab-old/build/engine_bench_stream
new=cpp/build-native/engine_bench_stream
ab_harness cpp/bench/engine_bench.cc "$old" /tmp/ab-old/build /tmp/ab-old/cpp/include
ab_harness cpp/bench/engine_bench.cc "$new" cpp/build-native cpp/include
m=src/bifsmn/models_data/bifsmnv2.bkws
for r in $(seq "$rounds"); do
  for mode in stream audio; do
    for which in old new; do
      if [ "$which" = old ]; then exe=$old; else exe=$new; fi
      echo "$r $which $mode $("$exe" "$m" "$runs" 8 "$mode" | sed -E 's/.*median ([0-9.]+) us, min ([0-9.]+) us.*/\1 \2/')"
    done
  done
done
