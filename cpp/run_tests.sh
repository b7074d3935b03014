#!/usr/bin/env bash
# Build and test the C++ core.
#
#   cpp/run_tests.sh [native|debug|asan|aarch64|armhf|armhf-clang|clang|all]     (default: native)
#
# Each variant configures and builds into cpp/build-<variant>/ (incremental
# on re-runs), runs test_kernels, test_ops (each op against its reference), test_engine (engine: loader, network,
# kernels bit-exactness, corrupt files, log-mel, WAV, a short fuzz run) and a
# --quick smoke run of the roofline bench; debug builds test_engine and test_ops with GCC at -O0; asan also runs the two mutation fuzzers
# (.bkws loader, WAV reader) for 100,000 inputs each; clang builds the three tests with clang++
# (no roofline run); armhf cross-builds for 32-bit ARM and runs the three tests under qemu (NEON
# kernel), test_kernels also on a CPU without NEON (portable kernel); armhf-clang does the same
# with clang++ (which compiles the NEON kernel's file alone for NEON). Exits non-zero on any failure. aarch64, armhf(-clang) and clang print "SKIP: <reason>"
# and exit 0 when their tools are missing (the cross compiler and qemu; clang++):
# cpp/install_cross_tools.sh installs them.
# Env: BIFSMN_JOBS (parallel build jobs, default 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
jobs="${BIFSMN_JOBS:-2}"
# The tests choose kernels themselves; a forced kernel would only confuse.
unset BIFSMN_KERNEL

generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); fi

targets=()  # set by a variant to build only what it runs (empty: every target)

build() {  # build <variant> <cmake args...>
  local dir="$here/build-$1"
  shift
  # One build of a folder at a time: the test suite runs on two pytest workers, and other test
  # modules build cpp/build-native and cpp/build-aarch64 too (tests/cpp_build.py takes the same
  # lock file); two cmake runs in one folder can leave it half-configured.
  local lock="$dir.lock"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$lock"
    flock 9
  fi
  # A cache from another generator cannot be reused: start that dir afresh.
  if [[ -f "$dir/CMakeCache.txt" ]] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${generator[1]:-Unix Makefiles}\$" "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
  fi
  cmake -S "$here" -B "$dir" "${generator[@]}" -DBIFSMN_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs" ${targets[@]+--target "${targets[@]}"}
  if command -v flock >/dev/null 2>&1; then
    exec 9>&-
  fi
}

run_native() {
  echo "=== native: Release build ==="
  build native -DCMAKE_BUILD_TYPE=Release
  "$here/build-native/test_kernels"
  # the portable kernel's other x86-64 build (POPCNT or shift-and-mask, whichever the CPU did
  # not get above): BIFSMN_ISA=baseline rules the instruction out
  BIFSMN_ISA=baseline "$here/build-native/test_kernels"
  "$here/build-native/test_engine"
  "$here/build-native/test_ops"
  "$here/build-native/roofline" --quick
}

run_asan() {
  echo "=== asan: -fsanitize=address,undefined ==="
  # -O1 -g, as the sanitizers' own docs advise: a third less compile time than -O2, and what
  # this variant runs (tests, fuzzers) is all it builds (the benches and the runner are
  # built, with -Werror, by the native variant)
  targets=(test_kernels test_engine test_ops fuzz_driver fuzz_wav roofline)
  build asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DBIFSMN_SANITIZE=ON
  export ASAN_OPTIONS="abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  "$here/build-asan/test_kernels"
  "$here/build-asan/test_engine" 1000
  "$here/build-asan/test_ops" 20
  # the .bkws loader and the runner's WAV reader: >= 100,000 mutated inputs each (bounded:
  # both print their time; BIFSMN_FUZZ_RUNS / BIFSMN_FUZZ_WAV_RUNS override the counts)
  "$here/build-asan/fuzz_driver" "${BIFSMN_FUZZ_RUNS:-100000}"
  "$here/build-asan/fuzz_wav" "${BIFSMN_FUZZ_WAV_RUNS:-100000}"
  "$here/build-asan/roofline" --quick
}

# have TOOL... -> 1 after "SKIP: <the first missing tool> not installed ..." where one is missing.
have() {
  local tool
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      echo "SKIP: $tool not installed (run cpp/install_cross_tools.sh)"
      return 1
    fi
  done
}

# A cross build under qemu-user: cross VARIANT TRIPLE QEMU [TOOLCHAIN] builds cpp/build-VARIANT
# with cmake/TOOLCHAIN.cmake (default TRIPLE; TRIPLE-g++ also provides the target's headers and
# libraries), runs test_kernels, test_engine and test_ops there, and leaves the qemu command in
# the array `qemu`. Check the tools with `have` first, in its own statement: a call inside an
# `||` list would turn off `set -e` in here, and a failing test would pass unnoticed.
cross() {
  local variant=$1 triple=$2 emulator=$3 toolchain=${4:-$2}
  build "$variant" -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$here/cmake/$toolchain.cmake"
  qemu=("$emulator" -L "/usr/$triple")
  "${qemu[@]}" "$here/build-$variant/test_kernels"
  "${qemu[@]}" "$here/build-$variant/test_engine" 200
  "${qemu[@]}" "$here/build-$variant/test_ops" 20
}

run_aarch64() {
  echo "=== aarch64: cross build, tests under qemu-user ==="
  local qemu
  have aarch64-linux-gnu-g++ qemu-aarch64-static || return 0
  cross aarch64 aarch64-linux-gnu qemu-aarch64-static
  echo "(roofline under qemu: emulated timings, smoke test only)"
  "${qemu[@]}" "$here/build-aarch64/roofline" --quick
}

# arm32 VARIANT TOOLCHAIN [TOOL...]: 32-bit ARM, hard float (Raspberry Pi OS 32-bit and Debian
# armhf): 4-byte long and size_t; the NEON kernel where the CPU reports NEON (qemu's default CPU
# does), the portable kernel and the scalar fallbacks of the other ops; the same bits
# (tests/test_runner.py compares its logits with the x86-64 build's). test_kernels runs again on
# an ARMv7 CPU without NEON (qemu's cortex-r5f): the kernel must not be offered there.
arm32() {
  local variant=$1 toolchain=$2 qemu
  targets=(test_kernels test_engine test_ops bifsmn-run)
  have arm-linux-gnueabihf-g++ qemu-arm-static "${@:3}" || return 0
  cross "$variant" arm-linux-gnueabihf qemu-arm-static "$toolchain"
  echo "(test_kernels on an ARMv7 CPU without NEON)"
  "${qemu[0]}" -cpu cortex-r5f "${qemu[@]:1}" "$here/build-$variant/test_kernels"
}

run_armhf() {
  echo "=== armhf: cross build (32-bit ARM), tests under qemu-user ==="
  arm32 armhf arm-linux-gnueabihf
}

run_armhf_clang() {
  # clang's arm_neon.h needs a file built for NEON, so CMakeLists.txt compiles the NEON kernel's
  # file alone with -mfpu=neon (cmake/arm-linux-gnueabihf-clang.cmake: the same baseline).
  echo "=== armhf-clang: cross build (32-bit ARM) with clang++, tests under qemu-user ==="
  arm32 armhf-clang arm-linux-gnueabihf-clang clang++
}

run_clang() {
  # The compiler of macOS and of many Linux users: the engine must build with it (-Werror) and
  # pass the same tests, with the same bits.
  echo "=== clang: Release build with clang++ ==="
  if ! command -v clang++ >/dev/null 2>&1; then
    echo "SKIP: clang++ not installed (run cpp/install_cross_tools.sh)"
    return 0
  fi
  targets=(test_kernels test_engine test_ops bifsmn-run)
  build clang -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++
  "$here/build-clang/test_kernels"
  "$here/build-clang/test_engine" 200
  "$here/build-clang/test_ops" 20
}

run_debug() {
  # GCC at -O0 (a parent project's Debug build embedding the engine by add_subdirectory): no
  # inlining, so a lambda taking a 256/512-bit vector by value (lambdas do not inherit their
  # function's target attribute) is called with another ABI, and the front ends gave other
  # values until session 71. -Werror makes GCC's -Wpsabi note on such a call fail the build.
  echo "=== debug: GCC -O0 build ==="
  # (test_kernels is left out: the GEMM kernels take pointers, not vectors, and run at -O1
  # under the sanitizers; the suite's time budget is tight)
  targets=(test_engine test_ops)
  build debug -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0"
  "$here/build-debug/test_engine" 100
  "$here/build-debug/test_ops" 5
}

case "${1:-native}" in
  native) run_native ;;
  debug) run_debug ;;
  asan) run_asan ;;
  aarch64) run_aarch64 ;;
  armhf) run_armhf ;;
  armhf-clang) run_armhf_clang ;;
  clang) run_clang ;;
  all) run_native; run_debug; run_asan; run_aarch64; run_armhf; run_armhf_clang; run_clang ;;
  *) echo "usage: $0 [native|debug|asan|aarch64|armhf|armhf-clang|clang|all]" >&2; exit 2 ;;
esac
