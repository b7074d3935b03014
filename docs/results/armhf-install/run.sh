#!/usr/bin/env bash
# Session 66: `pip install bifsmn` (the detection-only install, built from source) in a Debian
# trixie armhf system under qemu-user, and its outputs compared bit for bit with this x86-64
# machine's. Needs root, Debian's debootstrap, binfmt-support and qemu-user-static, network
# access to deb.debian.org and PyPI, and ~25 GB-minutes of patience (the C++ engine compiles
# under emulation). Not part of CI.
#
#   sudo bash docs/results/armhf-install/run.sh [ROOT [SPEECH]]
#
# ROOT: the armhf system's folder (default /tmp/armroot); SPEECH: a Speech Commands folder whose
# first two clips of each keyword go into the detector's stream (default: the shared dev data;
# copied into ROOT, never into the repository). Writes ROOT/src/install.log (the install, timed)
# and prints check.py's comparison; the session's output is in this folder (install.log,
# compare.txt).
set -euo pipefail
root=${1:-/tmp/armroot}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(git -C "$here" rev-parse --show-toplevel)
speech=${2:-$repo/../shared/data/speech_commands_test12_v0.02}
py=${PYTHON:-$repo/.venv/bin/python}
bifsmn=${BIFSMN:-$repo/.venv/bin/bifsmn}

# 1. the armhf system: python3 with numpy, soundfile, yaml and tqdm from Debian; g++, cmake, ninja
if [[ ! -x "$root/usr/bin/python3" ]]; then
  debootstrap --arch=armhf --foreign --variant=minbase \
    --include=python3,python3-venv,python3-dev,python3-pip,python3-numpy,python3-soundfile,python3-yaml,python3-tqdm,python3-ply,g++,cmake,ninja-build,ca-certificates \
    trixie "$root" http://deb.debian.org/debian
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-arm || true  # the arm ELF handler (qemu-user-static, fix-binary)
  cp /usr/bin/qemu-arm-static "$root/usr/bin/"
  chroot "$root" /debootstrap/debootstrap --second-stage || true  # --include's ordering: fixed below
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" bash -c "DEBIAN_FRONTEND=noninteractive apt-get -f install -y -q"
fi
# this machine's CA bundle (the network's TLS proxy) for pip inside
cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/host-ca.crt"
chroot "$root" python3 -m venv --system-site-packages /opt/venv

# 2. the source (the committed tree), the x86-64 reference outputs, the install
rm -rf "$root/src" && mkdir -p "$root/src/bifsmn"
git -C "$repo" archive HEAD | tar -x -C "$root/src/bifsmn"
cp "$here/check.py" "$here/install.sh" "$root/src/"
"$bifsmn" export "$repo/models/bifsmnv2_a01_sc12dev.pt" -o "$root/src/dev.bkws" > /dev/null
rm -rf "$root/speech"
for w in yes no up down left right on off stop go; do
  mkdir -p "$root/speech/$w"
  find "$speech/$w" -name '*.wav' | LC_ALL=C sort | head -2 | xargs -I{} cp {} "$root/speech/$w/"
done
BIFSMN_SPEECH="$root/speech" "$py" "$here/check.py" dump "$root/src/ref.npz" "$root/src/dev.bkws" > /dev/null
chroot "$root" bash /src/install.sh > "$root/src/install.log" 2>&1

# 3. the same outputs on armhf (from /, so that the installed package is imported)
chroot "$root" bash -c "cd / && BIFSMN_SPEECH=/speech /opt/venv/bin/python /src/check.py compare /src/ref.npz /src/dev.bkws"
