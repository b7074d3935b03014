"""Summarise ab.txt (lines `round build model blocks median_us min_us`): per model and path,
the minimum and median of the rounds' medians for each build, and in how many rounds the new
build was faster.

    python docs/results/fused-epilogue/summary.py docs/results/fused-epilogue/ab.txt
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict


def main(path: str) -> None:
    med: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    rounds: dict[tuple[str, str, str], dict[str, float]] = defaultdict(dict)
    with open(path) as f:
        for line in f:
            r, which, model, blocks, median, _ = line.split()
            med[(model, blocks, which)].append(float(median))
            rounds[(r, model, blocks)][which] = float(median)
    for model, blocks in sorted({(m, b) for m, b, _ in med}):
        old, new = med[(model, blocks, "old")], med[(model, blocks, "new")]
        wins = sum(1 for (_, m, b), pair in rounds.items()
                   if (m, b) == (model, blocks) and len(pair) == 2 and pair["new"] < pair["old"])
        print(f"{model} {blocks} blocks: "
              f"old min {min(old):.2f} / median {statistics.median(old):.2f} us, "
              f"new min {min(new):.2f} / median {statistics.median(new):.2f} us "
              f"(min ratio {min(old) / min(new):.3f}x); new faster in {wins} of {len(new)} rounds")


if __name__ == "__main__":
    main(sys.argv[1])
