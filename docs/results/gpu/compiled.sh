#!/bin/bash
# Next GPU session: the at-scale student and teacher epochs compiled vs not (device tool).
# Carry .gpu and .whl (python docs/results/gpu/make_subset.py ../shared/data builds .gpu).
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 BIFSMN_CACHE=/tmp/bcache
T0=$(date +%s); log() { echo "== [$(( $(date +%s) - T0 ))s] $*"; }
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"; PY=${PY:-python3}; DEV=${DEV:-cuda}
if [ -d .whl ]; then $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site; fi
if [ -z "$SKIP_BUILD" ]; then
  CMAKE_BUILD_PARALLEL_LEVEL=16 timeout 240 $PY -m pip install -q --no-deps --no-build-isolation --no-index . > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
fi
# a full-size epoch: the 3,000 carried training images listed 14 times (42,000 items)
rm -rf /tmp/fb40big && cp -r .gpu/fb40 /tmp/fb40big
for i in $(seq ${REPEAT:-14}); do cat .gpu/fb40/training_list.txt; done > /tmp/fb40big/training_list.txt
for comp in true false; do
  log "student, train.compile=$comp"
  timeout ${STUDENT_S:-200} $PY -m bifsmn.cli train --config bifsmnv2_fbank40 --data /tmp/fb40big --epochs ${EPOCHS:-2} --teacher models/teacher_fbank40_60.pt --out /tmp/r/student-$comp "data.negatives=[.gpu/neg]" train.device=$DEV train.threads=8 train.compile=$comp 2>&1 | tee "$OUT/student-$comp.log" | grep -E "^epoch|rror" | tail -3
  log "teacher, train.compile=$comp"
  timeout ${TEACHER_S:-120} $PY -m bifsmn.cli train --config teacher_fbank40 --data /tmp/fb40big --epochs ${EPOCHS:-2} --out /tmp/r/teacher-$comp "data.negatives=[.gpu/neg]" train.device=$DEV train.threads=8 train.compile=$comp 2>&1 | tee "$OUT/teacher-$comp.log" | grep -E "^epoch|rror" | tail -3
done
log done
