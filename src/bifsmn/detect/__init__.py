"""Streaming keyword detection: sliding-window posteriors, a detector, streaming evaluation.

>>> from bifsmn.detect import Detector
>>> det = Detector("model.pt", blocks=8, threshold=0.5)
>>> events = det.detect_file("recording.wav")     # [Event(label, start, end, score), ...]

Names are imported lazily so that ``import bifsmn.detect`` (done by the CLI parser) does not
pull in torch; see docs/detection.md.
"""

from __future__ import annotations

from bifsmn.lazy import installed, lazy_exports

_EXPORTS = {
    "Detector": "bifsmn.detect.detector",
    "Event": "bifsmn.detect.detector",
    "Streamer": "bifsmn.detect.stream",
    "Posteriors": "bifsmn.detect.stream",
    "Frame": "bifsmn.detect.stream",
    "sliding_posteriors": "bifsmn.detect.stream",
    "Scorer": "bifsmn.detect.scorer",
    "TorchScorer": "bifsmn.detect.scorer",
    "EngineScorer": "bifsmn.detect.scorer",
    "load_scorer": "bifsmn.detect.scorer",
    "iter_audio_blocks": "bifsmn.detect.audio_io",
    "eval_stream": "bifsmn.detect.evaluate",
    "Gate": "bifsmn.detect.gate",
    "Verifier": "bifsmn.detect.cascade",
}
#: names whose module needs the training stack (the stream builder reads data sets with torch)
_NEEDS_TORCH = {"eval_stream"}
# `from bifsmn.detect import *` works on a detection-only install (no torch): the names that
# need it are then left out of __all__ (still reachable by attribute, where the import error
# names torch)



__all__ = sorted(n for n in _EXPORTS if n not in _NEEDS_TORCH or installed("torch"))


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
