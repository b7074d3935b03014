"""Where the live detector's time goes per hop: the whole ``Detector.process`` loop and the
gate (``Gate.active``) inside it, three runs.

Same stream as measure.py (1 minute by default), fed in 100 ms chunks to the bundled model.

    python docs/results/live-stream/gate_time.py [--minutes 1]
"""

from __future__ import annotations

import time

import numpy as np
from measure import HOP, live_stream

import bifsmn.detect.gate as gate_mod
from bifsmn.detect.detector import Detector


def main() -> None:
    _, st = live_stream(__doc__, 1.0)
    audio = st.audio.astype(np.float32)
    hops = len(audio) // HOP
    active = gate_mod.Gate.active
    for _ in range(3):
        det = Detector()
        spent = [0.0]

        def timed(self, *a, spent=spent, **k):
            t0 = time.perf_counter()
            out = active(self, *a, **k)
            spent[0] += time.perf_counter() - t0
            return out

        gate_mod.Gate.active = timed
        t0 = time.perf_counter()
        for s in range(0, len(audio), HOP):
            det.process(audio[s:s + HOP])
        total = time.perf_counter() - t0
        gate_mod.Gate.active = active
        print(f"per hop: {total / hops * 1e6:.1f} µs, of which the gate "
              f"{spent[0] / hops * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
