#!/usr/bin/env bash
# Session 40: the engine built with clang++ (macOS's compiler) against the default GCC build, and
# against the clang build of the session before (OLD_REV, 144d45a: every op at the baseline
# width, the FFT not inlined into its AVX-512 group). Each line is `round build mode median_us
# min_us` of one `engine_bench MODEL RUNS 8 [frontend]` run, builds alternated:
#   gcc        this checkout, default compiler (cpp/build-native)
#   clang      this checkout, clang++ (cpp/build-clang-bench)
#   clang-old  OLD_REV, clang++ (/tmp/ab-old/build-clang; remove the worktree afterwards with
#              `git worktree remove --force /tmp/ab-old`)
# modes: logmel-clip (the log-mel front end of one 1-s clip, models/bifsmnv2_a01_sc12dev.pt),
# logmel-stream (the same per 1536-sample hop of a stream: 8-frame groups), fbank40-clip (the
# bundled model's front end), net8 (its 8-block network from features).
#
#   bash docs/results/clang-s40/ab.sh OLD_REV [ROUNDS] [RUNS] > docs/results/clang-s40/ab.txt
#   python docs/results/clang-s40/summary.py docs/results/clang-s40/ab.txt
set -euo pipefail
old_rev=${1:?usage: ab.sh OLD_REV [ROUNDS] [RUNS]} rounds=${2:-8} runs=${3:-3000}
B=${BIFSMN:-.venv/bin/bifsmn}
. docs/results/binarizer-avx512/ab_build.sh  # ab_worktree
ab_worktree "$old_rev"
"$B" export models/bifsmnv2_a01_sc12dev.pt -o runs/ab/a01.bkws > /dev/null
build() {  # build SRC DIR [cmake args]: engine_bench only (an older tree's tests may not build)
  cmake -S "$1/cpp" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release "${@:3}" > /dev/null
  ninja -C "$2" engine_bench > /dev/null
}
build . cpp/build-native
build . cpp/build-clang-bench -DCMAKE_CXX_COMPILER=clang++
build /tmp/ab-old /tmp/ab-old/build-clang -DCMAKE_CXX_COMPILER=clang++
for r in $(seq "$rounds"); do
  for which in gcc clang clang-old; do
    case $which in
      gcc) exe=cpp/build-native/engine_bench ;;
      clang) exe=cpp/build-clang-bench/engine_bench ;;
      clang-old) exe=/tmp/ab-old/build-clang/engine_bench ;;
    esac
    for mode in logmel-clip logmel-stream fbank40-clip net8; do
      case $mode in
        logmel-clip) args=(runs/ab/a01.bkws "$runs" 8 frontend) ;;
        logmel-stream) args=(runs/ab/a01.bkws "$runs" 8 stream:1536) ;;
        fbank40-clip) args=(src/bifsmn/models_data/bifsmnv2.bkws "$runs" 8 frontend) ;;
        net8) args=(src/bifsmn/models_data/bifsmnv2.bkws "$runs" 8) ;;
      esac
      echo "$r $which $mode $("$exe" "${args[@]}" | sed -E 's/.*median ([0-9.]+) us, min ([0-9.]+) us.*/\1 \2/')"
    done
  done
done
