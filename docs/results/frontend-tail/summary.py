"""Summarise ab.txt: per build and mode, the minimum and median of the rounds' medians.

    python docs/results/frontend-tail/summary.py docs/results/frontend-tail/ab.txt
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict


def main(path: str) -> None:
    med: dict[tuple[str, str], list[float]] = defaultdict(list)
    wins: dict[str, int] = defaultdict(int)
    rounds: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    with open(path) as f:
        for line in f:
            r, which, mode, median, _ = line.split()
            med[(mode, which)].append(float(median))
            rounds[(r, mode)][which] = float(median)
    for (_, mode), pair in rounds.items():
        if len(pair) == 2 and pair["new"] < pair["old"]:
            wins[mode] += 1
    for mode in sorted({m for m, _ in med}):
        old, new = med[(mode, "old")], med[(mode, "new")]
        print(f"{mode}: old min {min(old):.2f} / median {statistics.median(old):.2f} us, "
              f"new min {min(new):.2f} / median {statistics.median(new):.2f} us "
              f"(min ratio {min(old) / min(new):.3f}x); new faster in {wins[mode]} of "
              f"{len(new)} rounds")


if __name__ == "__main__":
    main(sys.argv[1])
