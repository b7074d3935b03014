"""What the live detector costs per 100-ms hop, as ``bifsmn detect --mic`` runs it: the seeded
5-minute stream of measure.py (dev validation speakers plus negative speech, clean, seed 0) fed
to ``Detector`` 1,600 samples at a time, with the bundled model alone and with its bundled
verifier; per system the fastest of ``--runs`` passes (wall time per hop, real-time factor), the
window gate's share of it (``Gate.active``, timed around each call), and the events with a
digest of their labels, times and scores, so that two code versions can be compared (ab.sh).

    python docs/results/live-stream/hop_cost.py [--minutes 5] [--runs 3]
"""

from __future__ import annotations

import hashlib
import sys
import time

import numpy as np
from measure import HOP, live_stream

import bifsmn.detect.gate as gate_mod
from bifsmn.detect.detector import Detector


def one_pass(det: Detector, audio: np.ndarray) -> tuple[float, float, list]:
    """(seconds, seconds inside Gate.active, events) of one pass over the stream."""
    active = gate_mod.Gate.active
    spent = [0.0]

    def timed(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        t0 = time.perf_counter()
        out = active(self, *a, **k)
        spent[0] += time.perf_counter() - t0
        return out

    gate_mod.Gate.active = timed
    try:
        det.reset()
        events = []
        t0 = time.perf_counter()
        for s in range(0, len(audio), HOP):
            events += det.process(audio[s:s + HOP])
        events += det.flush()
        return time.perf_counter() - t0, spent[0], events
    finally:
        gate_mod.Gate.active = active


def main() -> None:
    runs = 3
    if "--runs" in sys.argv:  # measure.py's parser owns the other flags
        i = sys.argv.index("--runs")
        runs = int(sys.argv[i + 1])
        del sys.argv[i:i + 2]
    _, st = live_stream(__doc__, 5.0)
    audio = st.audio.astype(np.float32)
    hops = -(-len(audio) // HOP)
    seconds = len(audio) / 16000
    for name, verifier in (("model", None), ("two-stage", "bundled")):
        det = Detector(verifier=verifier)
        best = min((one_pass(det, audio) for _ in range(runs)), key=lambda r: r[0])
        sec, gate_sec, events = best
        digest = hashlib.sha1(repr([(e.label, e.start, e.end, e.score) for e in events])
                              .encode()).hexdigest()[:12]
        print(f"{name}: {sec / hops * 1e6:.1f} µs per hop (gate {gate_sec / hops * 1e6:.1f}), "
              f"real-time factor {sec / seconds:.5f}, {len(events)} events {digest}",
              flush=True)


if __name__ == "__main__":
    main()
