"""Calibrate the bundled model with another temporal aggregation of its posteriors (dry run).

``python docs/results/noise-snr/s12/aggregation.py mean|geo|temp [T]`` (from the repository
root; about 10 minutes on one core): the bundle's calibration (12 h, both paths, the bundle's
stored gate) with the detector's causal moving average of posteriors (``mean``, reproduces the
stored record), a moving geometric mean (``geo``: one confident window among unsure ones counts
less), posteriors softened by a temperature before averaging (``temp``), or the average kept
only where its class is the window's top class (``argmax``: over all classes; ``argmax-kw``: over
the keywords only), so that one word fires at most one keyword. Prints the points; writes
nothing.
"""
import sys

import numpy as np

import bifsmn.detect.calibrate as cal
from bifsmn.engine import Engine

MODEL = "src/bifsmn/models_data/bifsmnv2.bkws"

mode = sys.argv[1]
orig = cal.smooth


def geo(probs, n):
    lp = np.log(np.clip(np.asarray(probs, np.float64), 1e-12, 1.0))
    return np.exp(orig(lp, n))


TEMPERATURE = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0


def temp(probs, n, t=TEMPERATURE):
    p = np.clip(np.asarray(probs, np.float64), 1e-12, 1.0) ** (1.0 / t)
    return orig(p / p.sum(axis=-1, keepdims=True), n)


def argmax(probs, n, keywords_only=False):
    """The moving average, kept only where the class is the window's top class (all classes,
    or among the keywords only): a word fires at most one keyword at a time."""
    s = orig(probs, n)
    cols = slice(None) if not keywords_only else KEYWORD_COLUMNS
    top = s[:, cols].max(axis=1, keepdims=True)
    out = np.where(s >= top, s, 0.0)
    if keywords_only:
        out[:, ~KEYWORD_MASK] = s[:, ~KEYWORD_MASK]
    return out


LABELS = Engine(MODEL).labels
KEYWORD_MASK = np.array([lb not in ("_silence_", "_unknown_") for lb in LABELS])
KEYWORD_COLUMNS = np.flatnonzero(KEYWORD_MASK)


cal.smooth = {"geo": geo, "temp": temp, "mean": orig, "argmax": argmax,
              "argmax-kw": lambda p, n: argmax(p, n, True)}[mode]
cal.calibrate(MODEL,
              "../shared/data/speech_commands_test12_v0.02",
              negatives="../shared/data/picovoice_wake_words", blocks=[8, 2], split="training",
              minutes=60, write=False)
