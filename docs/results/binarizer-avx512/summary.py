"""Minimum and lower quartile of the medians in ab.sh's output, per model, blocks and build.

    python docs/results/binarizer-avx512/summary.py docs/results/binarizer-avx512/ab.txt
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def main() -> None:
    med: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    lines = Path(sys.argv[1]).read_text().splitlines()
    print(lines[0])
    for line in lines[1:]:
        _, which, model, blocks, median, _ = line.split()
        med[(model, blocks, which)].append(float(median))
    print("| model | blocks | old: min / lower quartile of medians (us) | new | "
          "change of the minimum |")
    print("|---|---:|---:|---:|---:|")
    for model, blocks in sorted({k[:2] for k in med}, key=lambda k: (k[0], -int(k[1]))):
        o, n = np.array(med[(model, blocks, "old")]), np.array(med[(model, blocks, "new")])
        change = 100 * (n.min() / o.min() - 1)
        print(f"| {model} | {blocks} | {o.min():.2f} / {np.percentile(o, 25):.2f} | "
              f"{n.min():.2f} / {np.percentile(n, 25):.2f} | {change:+.1f} % |")


if __name__ == "__main__":
    main()
