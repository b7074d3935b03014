#!/usr/bin/env bash
# Session 36: the live detector's cost per hop, old and new code alternated on one machine
# (hop_cost.py: the bundled model alone and two-stage, fastest of RUNS passes each).
#
#   bash docs/results/live-stream/ab.sh OLD_REV [ROUNDS] [RUNS] > docs/results/live-stream/ab-s36.txt
#
# OLD_REV is checked out in /tmp/ab-live-old (a git worktree; `git worktree remove --force
# /tmp/ab-live-old` afterwards) and installed, C++ engine included, into /tmp/ab-live-old/site
# with pip (no dependencies: this venv's are used); this checkout runs as installed. Compare
# minima: the machine is shared and the VM has fast and slow phases. The events must be the same.
set -euo pipefail
old_rev=${1:?usage: ab.sh OLD_REV [ROUNDS] [RUNS]}
old_rev=$(git rev-parse --verify "$old_rev^{commit}")  # here: in the worktree HEAD is its own
rounds=${2:-4}
runs=${3:-3}
PY=${PYTHON:-.venv/bin/python}
old=/tmp/ab-live-old
if [ -d "$old" ]; then git -C "$old" checkout -q --detach "$old_rev"; else git worktree add -q --detach "$old" "$old_rev"; fi
if [ ! -f "$old/site/.rev" ] || [ "$(cat "$old/site/.rev")" != "$(git -C "$old" rev-parse HEAD)" ]; then
  rm -rf "$old/site"
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} "$PY" -m pip install -q --no-deps \
    --target "$old/site" "$old" >&2
  git -C "$old" rev-parse HEAD > "$old/site/.rev"
fi
here=docs/results/live-stream
echo "old $(git -C "$old" rev-parse --short HEAD), new $(git rev-parse --short HEAD) + working tree;" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $rounds rounds, fastest of $runs passes each"
lines=$(mktemp)
for r in $(seq "$rounds"); do
  "$PY" "$here/in_tree.py" "$old/site" "$here/hop_cost.py" --runs "$runs" | sed "s/^/$r old /" | tee -a "$lines"
  "$PY" "$here/hop_cost.py" --runs "$runs" | sed "s/^/$r new /" | tee -a "$lines"
done
# per code version and system: the fastest round, with its gate share; the events' digests
echo "minimum over the rounds:"
awk '{k = $2 " " $3; v = $4 + 0; if (!(k in m) || v < m[k]) { m[k] = v; g[k] = $9; gsub(/[),]/, "", g[k]) } d[k] = $(NF - 2) " events " $NF}
     END { for (k in m) printf "  %s %.1f µs per hop (gate %s), %s\n", k, m[k], g[k], d[k] }' "$lines" | sort
rm -f "$lines"
