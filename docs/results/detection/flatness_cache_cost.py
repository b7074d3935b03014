"""Cost of the gate's spectral-flatness test per window, with and without the per-stream frame
cache (``bifsmn.detect.gate.FrameSpectra``): the figures of docs/detection.md ("Flatness").

    python docs/results/detection/flatness_cache_cost.py

A 60-s stream of modulated noise (seed 0), 1-s windows every 100 ms; three ways: every window's
40 frames computed (no cache), windows in batches of 100 with the cache (files, eval-stream),
one window per call with the cache (live audio). Prints microseconds per window, best of 2.
"""

from __future__ import annotations

import time

import numpy as np

from bifsmn.detect.gate import FrameSpectra, loud_flatness

SR, HOP, SECONDS = 16000, 1600, 60


def main() -> None:
    rng = np.random.default_rng(0)
    n = SECONDS * SR
    x = (0.1 * rng.standard_normal(n)).astype(np.float32)
    padded = np.concatenate([np.zeros(SR, np.float32), x, np.zeros(SR, np.float32)])
    ends = HOP * np.arange(1, n // HOP + 1)
    wins = np.stack([padded[e:e + SR] for e in ends])

    def run(batch: int, cached: bool) -> float:
        cache = FrameSpectra() if cached else None
        t = time.perf_counter()
        for i in range(0, len(ends), batch):
            loud_flatness(wins[i:i + batch], ends[i:i + batch], n, SR, cache=cache)
        return (time.perf_counter() - t) / len(ends) * 1e6

    for name, batch, cached in (("no cache, batches of 100", 100, False),
                                ("cache, batches of 100", 100, True),
                                ("cache, one window per call", 1, True)):
        print(f"{name}: {min(run(batch, cached) for _ in range(2)):.0f} us per window")


if __name__ == "__main__":
    main()
