#!/bin/bash
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 BIFSMN_CACHE=/tmp/bcache
T0=$(date +%s); log() { echo "== [$(( $(date +%s) - T0 ))s] $*"; }
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; PY=${PY:-python3}
$PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
CMAKE_BUILD_PARALLEL_LEVEL=16 timeout 240 $PY -m pip install -q --no-deps --no-build-isolation --no-index . > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
log suite
timeout ${SUITE_S:-220} $PY -m pytest -v -p no:cacheprovider -n 14 tests > "$OUT/suite.log" 2>&1
grep -E "passed|failed" "$OUT/suite.log" | tail -2
grep -oE "(FAILED|ERROR) tests/[^ ]+" "$OUT/suite.log" | sort -u | tee "$OUT/failed.txt"
log rerun failures
if [ -s "$OUT/failed.txt" ]; then timeout 60 $PY -m pytest -q -p no:cacheprovider -p no:xdist --tb=short $(awk '{print $2}' "$OUT/failed.txt" | head -6) > "$OUT/failures.log" 2>&1; grep -E "^E |Error|error:" "$OUT/failures.log" | head -30; fi
rm -rf /tmp/fb40big && cp -r .gpu/fb40 /tmp/fb40big && for i in $(seq 14); do cat .gpu/fb40/training_list.txt; done > /tmp/fb40big/training_list.txt
log "teacher 100 steps compile=false"
timeout 40 $PY -m bifsmn.cli train --config teacher_fbank40 --data /tmp/fb40big --epochs 1 data.negatives=[.gpu/neg] train.device=cuda train.threads=8 data.limit_train=12800 train.compile=false --out /tmp/r/t1 2>&1 | grep -E "^epoch|rror" | tail -2
log profile student 10 steps
timeout 60 $PY .gpu/prof.py bifsmnv2_fbank40 /tmp/r/p1 data.root=/tmp/fb40big data.negatives=[.gpu/neg] train.device=cuda train.epochs=1 train.threads=8 data.limit_train=1280 train.compile=false > "$OUT/prof_student.txt" 2>&1; tail -3 "$OUT/prof_student.txt"
log done
