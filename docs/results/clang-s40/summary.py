"""Summarise ab.txt (docs/results/clang-s40/ab.sh): per mode and build, the minimum and the
median of the rounds' median times, and in how many rounds each build was the fastest.

    python docs/results/clang-s40/summary.py docs/results/clang-s40/ab.txt
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict


def main(path: str) -> None:
    med: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    rounds: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    with open(path) as f:
        for line in f:
            r, which, mode, median, _ = line.split()
            med[mode][which].append(float(median))
            rounds[(r, mode)][which] = float(median)
    for mode, builds in med.items():
        fastest: dict[str, int] = defaultdict(int)
        for (_, m), times in rounds.items():
            if m == mode:
                fastest[min(times, key=times.get)] += 1
        parts = [f"{b} min {min(v):.2f} / median {statistics.median(v):.2f} us "
                 f"(fastest in {fastest[b]} of {len(v)})" for b, v in builds.items()]
        print(f"{mode}: " + "; ".join(parts))


if __name__ == "__main__":
    main(sys.argv[1])
