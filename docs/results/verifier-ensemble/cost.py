"""What one verified window costs with the bundled verifier pair against one network.

    python docs/results/verifier-ensemble/cost.py [--calls 500] [--rounds 3]

Why: the pair runs two networks on each window the 1-bit model wakes (the front end once); this
prints the engine time of one window (batch 1, one thread) for the front end, each network alone
and the pair's ``scores`` (both networks and the mean), as the minimum over rounds of the median
over calls, so the doc's "costs two networks" has a measured figure beside it.
"""

from __future__ import annotations

import argparse

import numpy as np

from bifsmn.detect.cascade import Verifier, bundled_verifiers
from bifsmn.detect.scorer import EngineScorer
from bifsmn.engine.bench import time_us  # median after 20 warm-up calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    first, second = (EngineScorer(p, None) for p in bundled_verifiers())
    pair = Verifier.load("bundled").scorer
    rng = np.random.default_rng(0)
    window = (0.1 * rng.standard_normal((1, 16000))).astype(np.float32)
    feats = first.features(window)
    rows = {"front end (fbank40, once per window)": (first.features, window),
            "verifier.bkws alone": (first.scores, feats),
            "verifier2.bkws alone": (second.scores, feats),
            "the pair (both networks, mean logits)": (pair.scores, feats)}
    best = {k: min(time_us(lambda fn=fn, x=x: fn(x), a.calls, 20)[0] for _ in range(a.rounds))
            for k, (fn, x) in rows.items()}
    print(f"engine kernels: {first.engine.kernel} / fp {first.engine.fp_kernel}; "
          f"batch 1; {a.rounds} rounds x {a.calls} calls; minimum of the medians")
    for k, v in best.items():
        print(f"{k:40s} {v:8.1f} us")


if __name__ == "__main__":
    main()
