#!/usr/bin/env bash
# Session 58: the log-mel's dB step written with bit selects and a logical shift (so GCC builds
# its AVX2 version with vectors, not lane by lane) gives the same bits as 9fa8117's: both
# versions of `db` compiled side by side (taken from git and from this checkout) and compared on
# 16 M positive floats (normals, subnormals, +inf, NaN payloads), bit for bit, built for AVX2
# and for AVX-512. Run from the repository root: bash docs/results/isa-clones/db_check.sh
set -euo pipefail
d=$(mktemp -d)
git show 9fa8117:cpp/src/ops/frontend/logmel32.cc | sed -n '/^typedef long long v8l/,/^typedef float v16f/p' |
  sed '$d' | sed 's/inline void db(/inline void db_old(/' > "$d/old.inc"
sed -n '/^typedef long long v8l/,/^typedef float v16f/p' cpp/src/ops/frontend/logmel32.cc |
  sed '$d' | sed 's/typedef long long v8l.*//' | sed 's/inline void db(/inline void db_new(/' > "$d/new.inc"
cp docs/results/isa-clones/db_check.cc "$d/chk.cc"
for isa in avx2 avx512f; do
  "${CXX:-g++}" -O2 -std=c++17 "-m$isa" -ffp-contract=off "$d/chk.cc" -o "$d/chk"
  echo "$isa: $("$d/chk")"
done
rm -rf "$d"
