"""Cost of live detection per hop: the detector's Streamer with and without zero-padded batches.

Why: until session 33 the live detector (``Detector.process``, ``bifsmn detect --mic``) ran
every network call on a fixed batch of 16 windows, padding with zero windows, because PyTorch's
CPU GEMMs round differently at other batch sizes. A live stream completes one window per
100 ms hop, so the engine computed 16 windows to use one. The engine's scores do not depend on
the batch (C++ ``test_engine``: batch == single calls for every kernel), so ``EngineScorer``
now says so (``batch_invariant``) and the streamer runs only the windows it has. This script
feeds one seeded stream from the dev data's validation speakers plus negative speech (clean,
``bifsmn.detect.evaluate.build_stream``, seed 0) to ``Detector`` in 100 ms chunks, as a
microphone would, with the bundled model alone and with its bundled verifier, once as now and
once with the old padded batches, and prints per hop the wall time and the windows the networks
ran. The events of the two modes must be identical (asserted).

    python docs/results/live-stream/measure.py --minutes 5 > docs/results/live-stream/measure.txt

Session 34: ``--compare gate`` runs both systems without padding, once with the window gate in
numpy (``Gate.active_numpy``, before) and once in C++ (``Gate.active``, now), same events
asserted:

    python docs/results/live-stream/measure.py --minutes 5 --compare gate
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect.detector import Detector
from bifsmn.detect.evaluate import EvalStream, build_stream, negative_files

DATA = "../shared/data/speech_commands_test12_v0.02"
NEG = "../shared/data/picovoice_wake_words"
HOP = 1600


def run(audio: np.ndarray, verifier: str | None, padded: bool,
        numpy_gate: bool = False) -> tuple[float, int, int, list]:
    """(seconds, network windows of the first stage, of the verifier, events)."""
    det = Detector(verifier=verifier)
    if numpy_gate:  # the gate before session 34 (frozen dataclass: wrap the streamer's call)
        gate = det.streamer._score.gate
        det.streamer._score.gate = _NumpyGate(gate)
    ws = det.streamer._score
    counts = [0, 0]
    scorers = [(0, ws)] + ([(1, ws._verify)] if ws._verify is not None else [])
    for i, w in scorers:
        if padded:
            w._fixed_batch = True  # the behaviour before session 33
        scores = w.scorer.scores

        def counted(f, i=i, scores=scores):
            counts[i] += len(f)
            return scores(f)

        w.scorer.scores = counted
    events = []
    t0 = time.perf_counter()
    for s in range(0, len(audio), HOP):
        events += det.process(audio[s:s + HOP])
    events += det.flush()
    return time.perf_counter() - t0, counts[0], counts[1], events


class _NumpyGate:
    """A gate whose ``active`` is the numpy definition (``Gate.active_numpy``)."""

    def __init__(self, gate) -> None:  # noqa: ANN001
        self.gate = gate

    def active(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return self.gate.active_numpy(*args, **kwargs)


def live_stream(doc: str, minutes: float) -> tuple[argparse.Namespace, EvalStream]:
    """Command-line arguments (``--minutes``, ``--compare``) and the seeded clean stream both
    scripts feed; one torch thread."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=minutes)
    ap.add_argument("--compare", choices=("batch", "gate"), default="batch",
                    help="padded against unpadded batches (session 33), or the numpy against "
                         "the C++ window gate (session 34)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = SpeechCommands(DATA, 12)
    return args, build_stream(ds, "validation", args.minutes, seed=0,
                              negatives=negative_files(NEG, "validation"))


def main() -> None:
    args, st = live_stream(__doc__, 5.0)
    audio = st.audio.astype(np.float32)
    hops = -(-len(audio) // HOP)
    seconds = len(audio) / 16000
    print(f"stream: {args.minutes:g} min, clean, seed 0, {len(st.keywords)} keywords; "
          f"{hops} hops of {HOP} samples fed one at a time; 1 thread")
    gate = args.compare == "gate"
    print(f"| system | {'window gate' if gate else 'batches'} | µs per hop | real-time factor | "
          "windows run (first stage) | windows run (verifier) | events |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, verifier in (("bundled 1-bit model, 8 blocks", None),
                           ("bundled two-stage (--verifier bundled)", "bundled")):
        results = {}
        for before in (True, False):
            if gate:
                sec, n1, n2, ev = run(audio, verifier, False, numpy_gate=before)
                mode = "numpy (before)" if before else "C++ (now)"
            else:
                sec, n1, n2, ev = run(audio, verifier, before)
                mode = "padded to 16 (before)" if before else "only its windows (now)"
            results[before] = ev
            print(f"| {name} | {mode} | {sec / hops * 1e6:,.1f} | {sec / seconds:.5f} | "
                  f"{n1:,} | {n2:,} | {len(ev)} |", flush=True)
        assert results[True] == results[False], f"{name}: events differ between the modes"
    print("\nevents identical in both modes: yes")


if __name__ == "__main__":
    main()
