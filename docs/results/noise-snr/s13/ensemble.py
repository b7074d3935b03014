"""Calibrate the bundled model with the posteriors of several thinnable paths averaged (dry run).

``python docs/results/noise-snr/s13/ensemble.py 8 2`` (from the repository root; about 15
minutes on one core): the bundle's calibration (12 h, the bundle's stored gate) with the paths
listed; the first path's posteriors are replaced by the mean of all listed paths' posteriors on
the same windows (same gate, same hop), so its printed points are those of the ensemble, while
the other paths print their own. Why: the false alarms at the bundle's operating points are
keywords heard as other keywords (docs/results/fa-anatomy); paths of different depth share the
first blocks but not the rest, and an average is the cheapest ensemble the thinnable network
offers (8 + 2 blocks cost 1.25 times the 8-block path). Prints the points; writes nothing.
"""
import sys

import numpy as np

import bifsmn.detect.calibrate as cal

MODEL = "src/bifsmn/models_data/bifsmnv2.bkws"

paths = [int(b) for b in sys.argv[1:]] or [8, 2]
orig = cal.stream_posteriors


class Ensemble:
    """Stands in for ``stream_posteriors``. The calibration loop runs every listed path on one
    stream before the next stream: once the last path's posteriors exist, the first path's
    become the mean of all of them."""

    def __init__(self) -> None:
        self.pending: list = []

    @property
    def last_scored(self) -> float:  # calibrate's log line reads it
        return orig.last_scored

    def __call__(self, scorer, audio, hop, **kw):
        post, dt = orig(scorer, audio, hop, **kw)
        self.pending.append(post)
        if len(self.pending) == len(paths):
            first = self.pending[0]
            if any(not np.array_equal(p.ends, first.ends) for p in self.pending[1:]):
                raise SystemExit("paths scored different windows")
            first.probs[:] = np.mean([p.probs for p in self.pending], axis=0)
            self.pending.clear()
        return post, dt


print(f"ensemble: path {paths[0]} reported as the mean of paths {paths}")
cal.stream_posteriors = Ensemble()
cal.calibrate(MODEL, "../shared/data/speech_commands_test12_v0.02",
              negatives="../shared/data/picovoice_wake_words", blocks=paths, split="training",
              minutes=60, write=False)
