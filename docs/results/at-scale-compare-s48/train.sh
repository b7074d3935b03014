#!/bin/bash
# Session 48: the at-scale comparison re-run after session 46's gradient fix (the commands of README's
# pre-fix table, unchanged; bifsmn_v1's recipe carries clipping at 5 since session 47). Sequential,
# one thread each, resumable (re-run it). Run from the repository root with the package installed:
#   bash docs/results/at-scale-compare-s48/train.sh
# The BiFSMNv2 row is session 46's run (runs/s46-sgd-fbank40-10: `bifsmn train --config bifsmnv2_fbank40`
# with the same arguments); the alpha-0.01 row is that command with `--out runs/s48-alpha001-fbank40-10
# distill.alpha=0.01` (table: alpha001/table.md). Table: the command at the end of table.md.
set -u
for r in ir_net bifsmn_v1 no_fid no_dual_scale; do
  extra=""
  [ "$r" = no_dual_scale ] && extra="optim.grad_clip=5"
  if [ -f runs/s48-$r-fbank40-10/last.pt ]; then
    OMP_NUM_THREADS=1 bifsmn train --resume runs/s48-$r-fbank40-10
  else
    OMP_NUM_THREADS=1 bifsmn train --config $r --base bifsmnv2_fbank40 --teacher models/teacher_fbank40.pt --data ../shared/data/speech_commands_v0.02_fbank40 --out runs/s48-$r-fbank40-10 --epochs 10 train.threads=1 train.compile=true "data.negatives=[../shared/data/picovoice_wake_words]" optim.name=sgd optim.lr=0.005 $extra
  fi
  echo "done $r rc=$?"
done
