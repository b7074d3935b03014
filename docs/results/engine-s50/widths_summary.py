"""Summarise widths.txt (docs/results/engine-s50/widths.sh): per op and width, the minimum and
median of the rounds' medians for the old and new builds.

    python docs/results/engine-s50/widths_summary.py docs/results/engine-s50/widths.txt
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict


def main(path: str) -> None:
    runs: dict[tuple[str, int, str], list[float]] = defaultdict(list)
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 5 or not parts[0].isdigit():
                continue  # the header line
            _, width, which, op, value = parts
            runs[(op, int(width), which)].append(float(value))
    for op in sorted({k[0] for k in runs}):
        for width in sorted({k[1] for k in runs if k[0] == op}, reverse=True):
            old, new = runs[(op, width, "old")], runs[(op, width, "new")]
            print(f"{op} width {width}: old min {min(old):.2f} / median "
                  f"{statistics.median(old):.2f} us, new min {min(new):.2f} / median "
                  f"{statistics.median(new):.2f} us ({(min(new) / min(old) - 1) * 100:+.1f} % "
                  f"at the minimum)")


if __name__ == "__main__":
    main(sys.argv[1])
