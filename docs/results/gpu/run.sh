#!/bin/bash
# CUDA checks and GPU training throughput for bifsmn (device tool). Logs go to $OUT.
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 BIFSMN_CACHE=/tmp/bcache
T0=$(date +%s); log() { echo "== [$(( $(date +%s) - T0 ))s] $*"; }
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
PY=${PY:-python3}
if [ -d .whl ]; then $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site; fi
nvidia-smi -L; $PY -c "import torch,sys; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name())"
log build
if [ -z "$SKIP_BUILD" ]; then
  CMAKE_BUILD_PARALLEL_LEVEL=16 timeout 240 $PY -m pip install -q --no-deps --no-build-isolation --no-index . > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
fi
B="$PY -m bifsmn.cli"
log cuda tests
timeout 120 $PY -m pytest -q -p no:cacheprovider -n 6 tests/test_cuda.py tests/test_deploy.py tests/test_reliability.py 2>&1 | tee "$OUT/pytest_cuda.log" | tail -15
# a full-size epoch: the 3,000 carried training images listed 14 times (42,000 items; the real split has 41,473)
rm -rf /tmp/fb40big && cp -r .gpu/fb40 /tmp/fb40big && for i in $(seq 14); do cat .gpu/fb40/training_list.txt; done > /tmp/fb40big/training_list.txt
log student 2 epochs
timeout 180 $B train --config bifsmnv2_fbank40 --data /tmp/fb40big --epochs ${EPOCHS:-2} --out /tmp/r/student --teacher models/teacher_fbank40_60.pt "data.negatives=[.gpu/neg]" train.device=${DEV:-cuda} train.threads=8 2>&1 | tee "$OUT/student.log" | grep -v "it/s\]" | tail -8
cp /tmp/r/student/metrics.csv "$OUT/student_metrics.csv" 2>/dev/null
log teacher 2 epochs
timeout 100 $B train --config teacher_fbank40 --data /tmp/fb40big --epochs ${EPOCHS:-2} --out /tmp/r/teacher "data.negatives=[.gpu/neg]" train.device=${DEV:-cuda} train.threads=8 2>&1 | tee "$OUT/teacher.log" | grep -v "it/s\]" | tail -6
cp /tmp/r/teacher/metrics.csv "$OUT/teacher_metrics.csv" 2>/dev/null
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv
log full suite
timeout ${SUITE_S:-150} $PY -m pytest -q -p no:cacheprovider -n 12 tests 2>&1 | tee "$OUT/pytest_all.log" | tail -25
log done
