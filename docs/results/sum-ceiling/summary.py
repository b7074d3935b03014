"""Summarise docs/results/sum-ceiling/ceiling.txt: per variant and path, the median over rounds
of the per-round medians, and its change against ``base`` (same rounds, alternated builds).

``python docs/results/sum-ceiling/summary.py docs/results/sum-ceiling/ceiling.txt``
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict


def main() -> None:
    rows: dict[tuple[str, str], list[float]] = defaultdict(list)
    with open(sys.argv[1]) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 5 and parts[0].isdigit():
                rows[(parts[2], parts[1])].append(float(parts[3]))
    paths = sorted({p for p, _ in rows}, key=lambda p: -int(p.split("-")[-1]))
    variants = list(dict.fromkeys(v for _, v in rows))
    head = " | ".join(f"{p} median of medians (us) | vs base" for p in paths)
    print(f"| variant | {head} |")
    print("|---|" + "---:|---:|" * len(paths))
    for v in variants:
        cells = []
        for p in paths:
            m = statistics.median(rows[(p, v)])
            base = statistics.median(rows[(p, "base")])
            cells += [f"{m:.2f}", f"{100 * (m / base - 1):+.1f} %"]
        print(f"| {v} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
