"""Minimum and median of widths.sh's memory-op medians per vector width and build.

    python docs/results/memory-levels/widths_summary.py docs/results/memory-levels/widths.txt
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np


def main() -> None:
    med: dict[tuple[str, str], list[float]] = defaultdict(list)
    lines = Path(sys.argv[1]).read_text().splitlines()
    print(lines[0])
    for line in lines[1:]:
        _, width, which, median = line.split()
        med[(width, which)].append(float(median))
    print("| ops width | old: min / median of medians (us) | new | change of the minimum |")
    print("|---:|---:|---:|---:|")
    for width in sorted({k[0] for k in med}, key=lambda w: -int(w)):
        o, n = np.array(med[(width, "old")]), np.array(med[(width, "new")])
        print(f"| {width} | {o.min():.2f} / {np.median(o):.2f} | {n.min():.2f} / "
              f"{np.median(n):.2f} | {100 * (n.min() / o.min() - 1):+.1f} % |")


if __name__ == "__main__":
    main()
