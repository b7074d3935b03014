#!/usr/bin/env bash
# Install the Debian packages for `run_tests.sh aarch64`, `run_tests.sh armhf` and `run_tests.sh
# clang`: the aarch64 and 32-bit ARM (armhf) cross compilers with qemu user-mode emulation, and
# clang (the other compiler the engine must build with). Idempotent: installs only what is
# missing. The groups are installed by separate apt calls, so that one that cannot be installed
# does not take the others with it.
# Needs root (or sudo) and apt.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
cross=()
if ! have aarch64-linux-gnu-g++ || ! have qemu-aarch64-static; then
  cross=(g++-aarch64-linux-gnu qemu-user-static)
fi
armhf=()
if ! have arm-linux-gnueabihf-g++ || ! have qemu-arm-static; then
  armhf=(g++-arm-linux-gnueabihf qemu-user-static)
fi
clang=()
if ! have clang++; then clang=(clang); fi
if [[ ${#cross[@]} -eq 0 && ${#armhf[@]} -eq 0 && ${#clang[@]} -eq 0 ]]; then
  echo "aarch64 and armhf cross tools and clang already installed"
  exit 0
fi

sudo_cmd=()
if [[ "$(id -u)" -ne 0 ]]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
status=0
for group in cross armhf clang; do
  declare -n pkgs=$group
  if [[ ${#pkgs[@]} -gt 0 ]]; then
    "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${pkgs[@]}" || {
      echo "warning: could not install ${pkgs[*]}" >&2
      status=1
    }
  fi
done
exit "$status"
