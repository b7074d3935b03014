# Sourced by the engine A/B scripts (docs/results/binarizer-avx512/ab.sh, fp-gemm-avx512/ab.sh):
#   ab_build OLD_REV
# builds OLD_REV's engine_bench in /tmp/ab-old (a git worktree, moved to OLD_REV when it exists;
# remove it afterwards with `git worktree remove --force /tmp/ab-old`) and this checkout's in
# cpp/build-native, so that old and new builds can be alternated on one machine.
ab_build() {
  local old_rev=$1
  mkdir -p runs/ab
  if [ -d /tmp/ab-old ]; then git -C /tmp/ab-old checkout -q --detach "$old_rev"; else git worktree add -q /tmp/ab-old "$old_rev"; fi
  cmake -S /tmp/ab-old/cpp -B /tmp/ab-old/build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
  ninja -C /tmp/ab-old/build engine_bench > /dev/null
  cmake -S cpp -B cpp/build-native -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
  ninja -C cpp/build-native engine_bench > /dev/null
}
