#!/usr/bin/env bash
# Install the Debian packages for `run_tests.sh aarch64` and `run_tests.sh clang`: the aarch64
# cross compiler, qemu user-mode emulation and clang (the other compiler the engine must build
# with). Idempotent: does nothing when all three tools are already present. Needs root (or sudo)
# and apt.
set -euo pipefail

if command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 &&
   command -v qemu-aarch64-static >/dev/null 2>&1 && command -v clang++ >/dev/null 2>&1; then
  echo "aarch64 cross tools and clang already installed"
  exit 0
fi

sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends \
  g++-aarch64-linux-gnu qemu-user-static clang
