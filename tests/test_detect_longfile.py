"""Hour-long files are streamed from disk: memory stays flat (no timing is asserted)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf
from test_detect_support import SR, StubScorer

from bifsmn.detect import Detector


@pytest.mark.slow
def test_one_hour_file_in_flat_memory(tmp_path):
    path = tmp_path / "hour.wav"
    rng = np.random.default_rng(0)
    block = 10 * SR
    try:
        with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as f:
            for _ in range(360):  # written in blocks too: the test itself stays small
                f.write((0.01 * rng.standard_normal(block)).astype(np.float32))
        assert path.stat().st_size > 115_000_000
        stub = StubScorer()  # constant-time model: what is measured is the I/O and state
        det = Detector(stub, gate=None)
        # no ru_maxrss check: it is the worker's all-time peak, which earlier tests may have set
        tracemalloc.start()
        try:
            events = det.detect_file(path)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        path.unlink(missing_ok=True)
    assert events == []
    # every window of the hour was scored (36000 hops + the flushed tail), in batches of <= 16
    assert stub.calls >= (3600 * 10 + 5) / 16
    # decoding the whole file would hold 230 MB of float32 (115 MB as int16)
    assert peak < 30_000_000, f"traced peak {peak / 1e6:.1f} MB"
