"""Engine time per woken window of two verifiers, measured interleaved (session 28).

    python docs/results/verifier-wide/time_verifiers.py NAME=FILE.bkws NAME=FILE.bkws [--repeat K]

Batch 1, 1 thread, the network alone on one window's features (the front end is shared with the
first stage in a cascade): the minimum over ``K`` rounds of each file's median of 300 calls, the
files alternated within a round so that load from other jobs falls on both alike.
"""

from __future__ import annotations

import argparse

import numpy as np

from bifsmn.engine import Engine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="NAME=FILE.bkws")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--runs", type=int, default=300)
    a = ap.parse_args()
    engines = {}
    for spec in a.files:
        name, _, path = spec.partition("=")
        engines[name] = Engine(path)  # all of its blocks (8, or a deeper verifier's own)
    audio = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    feats = {n: e.features(audio) for n, e in engines.items()}
    best = {n: float("inf") for n in engines}
    for _ in range(a.repeat):
        for n, e in engines.items():
            best[n] = min(best[n], float(np.median(e.time_calls(feats[n], a.runs))))
    base = next(iter(best.values()))
    for n, t in best.items():
        print(f"{n}: {1e6 * t:.1f} us per window (min of {a.repeat} medians of {a.runs} calls; "
              f"{t / base:.2f}x the first)")


if __name__ == "__main__":
    main()
