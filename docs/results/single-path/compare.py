"""Validation accuracy of the 8-block path, epoch by epoch, for two run folders (metrics.csv).

Why: session 10 asked whether training all four thinnable paths costs the 8-block path (the
one the detector and the bench use most). Usage, from the repository root::

    python docs/results/single-path/compare.py runs/adam-fbank40-30 runs/single8-fbank40-30 \
        > docs/results/single-path/compare.md
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path


def acc8(run: Path) -> list[float]:
    with (run / "metrics.csv").open() as f:
        return [float(r["val_acc_8"]) for r in csv.DictReader(f)]


def epoch_time(run: Path) -> float:
    with (run / "metrics.csv").open() as f:
        times = sorted(float(r["epoch_time_s"]) for r in csv.DictReader(f))
    return times[len(times) // 2]


def main(runs: list[str]) -> None:
    paths = [Path(r) for r in runs]
    curves = [acc8(p) for p in paths]
    print("| epoch | " + " | ".join(f"`{p}` val acc, 8 blocks" for p in paths) + " |")
    print("|---:|" + "---:|" * len(paths))
    for e in range(max(len(c) for c in curves)):
        cells = [f"{100 * c[e]:.2f} %" if e < len(c) else "" for c in curves]
        print(f"| {e + 1} | " + " | ".join(cells) + " |")
    print("| best (epoch) | " + " | ".join(
        f"**{100 * max(c):.2f} %** ({c.index(max(c)) + 1})" for c in curves) + " |")
    print("| median epoch time | " + " | ".join(f"{epoch_time(p):.1f} s" for p in paths) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
