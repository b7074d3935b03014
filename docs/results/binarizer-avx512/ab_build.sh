# Sourced by the engine A/B scripts (docs/results/binarizer-avx512/ab.sh, fp-gemm-avx512/ab.sh):
#   ab_worktree OLD_REV (below), ab_build OLD_REV
# builds OLD_REV's engine_bench in /tmp/ab-old (a git worktree, moved to OLD_REV when it exists;
# remove it afterwards with `git worktree remove --force /tmp/ab-old`) and this checkout's in
# cpp/build-native, so that old and new builds can be alternated on one machine.
#   ab_harness BENCH.cc OUT BUILD_DIR INCLUDE_DIR...
# compiles one of this checkout's bench harnesses (cpp/bench/*.cc) into OUT, linked with the
# engine libraries of BUILD_DIR (old or new), with the given include folders, so that both
# builds are timed by the same harness code (memory-levels/widths.sh, frontend-tail/ab.sh).
ab_build() {
  local old_rev=$1
  ab_worktree "$old_rev"
  cmake -S /tmp/ab-old/cpp -B /tmp/ab-old/build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
  ninja -C /tmp/ab-old/build engine_bench > /dev/null
  cmake -S cpp -B cpp/build-native -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
  ninja -C cpp/build-native engine_bench > /dev/null
}

# ab_worktree OLD_REV: OLD_REV's tree in /tmp/ab-old (a git worktree, moved to OLD_REV when it
# exists) and the runs/ab folder the scripts export their models to; ab_build's first step, and
# all of it for scripts that build OLD_REV their own way (clang-s40/ab.sh: with clang++).
ab_worktree() {
  mkdir -p runs/ab
  # resolved here first: inside the worktree `HEAD` would name the worktree's own commit
  local rev
  rev=$(git rev-parse --verify "$1^{commit}")
  if [ -d /tmp/ab-old ]; then git -C /tmp/ab-old checkout -q --detach "$rev"; else git worktree add -q /tmp/ab-old "$rev"; fi
}

ab_harness() {
  local bench=$1 out=$2 build=$3
  shift 3
  local inc=() d
  for d in "$@"; do inc+=("-I$d"); done
  "${CXX:-g++}" -O2 -std=c++17 "${inc[@]}" "$bench" -o "$out" \
    "$build/libbifsmn_engine.a" "$build/libbifsmn_core.a" -lpthread
}

# ab_setup OLD_REV SUFFIX: ab_build OLD_REV, then this checkout's cpp/bench/engine_bench.cc
# compiled against both builds as $old (/tmp/ab-old/build/engine_bench_SUFFIX) and $new
# (cpp/build-native/engine_bench_SUFFIX), for scripts that time both with the current harness
# (frontend-s39/ab.sh).
ab_setup() {
  ab_build "$1"
  old=/tmp/ab-old/build/engine_bench_$2
  new=cpp/build-native/engine_bench_$2
  ab_harness cpp/bench/engine_bench.cc "$old" /tmp/ab-old/build /tmp/ab-old/cpp/include
  ab_harness cpp/bench/engine_bench.cc "$new" cpp/build-native cpp/include
}

# ab_rows ROUND MODE MODEL RUNS ARG: `engine_bench MODEL RUNS 8 ARG` with $old, then $new, each
# printed as one `ROUND build MODE median_us min_us` line.
ab_rows() {
  local which exe
  for which in old new; do
    if [ "$which" = old ]; then exe=$old; else exe=$new; fi
    echo "$1 $which $2 $("$exe" "$3" "$4" 8 "$5" | sed -E 's/.*median ([0-9.]+) us, min ([0-9.]+) us.*/\1 \2/')"
  done
}
