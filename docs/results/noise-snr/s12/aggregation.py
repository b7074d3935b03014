"""Calibrate the bundled model with another temporal aggregation of its posteriors (dry run).

``python docs/results/noise-snr/s12/aggregation.py mean|geo|temp [T]`` (from the repository
root; about 10 minutes on one core): the bundle's calibration (12 h, both paths, the bundle's
stored gate) with the detector's causal moving average of posteriors (``mean``, reproduces the
stored record), a moving geometric mean (``geo``: one confident window among unsure ones counts
less), or posteriors softened by a temperature before averaging (``temp``). Prints the points;
writes nothing.
"""
import sys

import numpy as np

import bifsmn.detect.calibrate as cal

mode = sys.argv[1]
orig = cal.smooth


def geo(probs, n):
    lp = np.log(np.clip(np.asarray(probs, np.float64), 1e-12, 1.0))
    return np.exp(orig(lp, n))


TEMPERATURE = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0


def temp(probs, n, t=TEMPERATURE):
    p = np.clip(np.asarray(probs, np.float64), 1e-12, 1.0) ** (1.0 / t)
    return orig(p / p.sum(axis=-1, keepdims=True), n)


cal.smooth = {"geo": geo, "temp": temp, "mean": orig}[mode]
cal.calibrate("src/bifsmn/models_data/bifsmnv2.bkws",
              "../shared/data/speech_commands_test12_v0.02",
              negatives="../shared/data/picovoice_wake_words", blocks=[8, 2], split="training",
              minutes=60, write=False)
