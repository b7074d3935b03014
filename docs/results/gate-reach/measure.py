"""How many keywords the bundled detector's window gate leaves unreachable, on the streams the
bundle is calibrated on (issue 13, session 28).

Run from the repo root (output in measure.txt beside it):
``.venv/bin/python docs/results/gate-reach/measure.py``

docs/results/band-gate measured the gate before the flatness test was stored with the bundle, on
streams with one SNR for the whole stream. The bundle's stored gate (``floor -60 dB, contrast
10 dB, speech-band contrast 12 dB, flatness <= 0.35``) runs on calibration streams with the SNR
set per word (``snr_mode="clip"``). Here, on the calibration data (the ``training`` list of the
shared dev data, negatives' validation share, 6 x 60 min per SNR, seeds 1000-1011 as
``bifsmn calibrate``), for each keyword clip: is at least one of the windows (1 s, 100-ms hop)
that hold most of it (window end within 250 ms of the clip end) scored by the gate? A keyword with
none can never be detected, whatever the models. Also the share of windows each gate scores
(the first stage's duty).
"""

from __future__ import annotations

import math

import numpy as np

from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect.evaluate import build_stream, negative_files
from bifsmn.detect.gate import FrameSpectra, Gate

ROOT = "../shared/data/speech_commands_test12_v0.02"
NEG = "../shared/data/picovoice_wake_words"
SR, W, HOP = 16000, 16000, 1600
STORED = dict(floor_db=-60.0, contrast_db=10.0, band_contrast_db=12.0, flat_max=0.35)
GATES = {
    "stored (bundle)": Gate(**STORED),
    "stored, no flatness test": Gate(**{**STORED, "flat_max": None}),
    "stored, band contrast 10 dB": Gate(**{**STORED, "band_contrast_db": 10.0}),
    "stored, band 10 dB, no flatness": Gate(**{**STORED, "band_contrast_db": 10.0,
                                               "flat_max": None}),
    "padding rule only": Gate(floor_db=None, contrast_db=None),
}


def scored(gate: Gate, x: np.ndarray, ends: np.ndarray, batch: int = 500) -> np.ndarray:
    cache = FrameSpectra()
    out = []
    for i in range(0, len(ends), batch):
        e = ends[i:i + batch]
        wins = np.stack([x[max(0, k - W):k] if k >= W else
                         np.concatenate([np.zeros(W - k, np.float32), x[:k]]) for k in e])
        out.append(gate.active(wins, e, None, SR, cache))
    return np.concatenate(out)


def main() -> None:
    ds = SpeechCommands(ROOT, 12)
    negs = negative_files(NEG, "validation")
    rows = {g: {} for g in GATES}
    for i, snr in enumerate([math.inf] * 6 + [10.0] * 6):
        st = build_stream(ds, "training", 60, snr, 1000 + i, negatives=negs, snr_mode="clip")
        x = st.audio
        ends = np.arange(HOP, len(x) + 1, HOP)
        for name, g in GATES.items():
            keep = scored(g, x, ends)
            lost = sum(not keep[np.abs(ends - int(round(s.end * SR))) <= SR // 4].any()
                       for s in st.keywords)
            acc = rows[name].setdefault(snr, [0, 0, 0.0, 0])
            acc[0] += lost
            acc[1] += len(st.keywords)
            acc[2] += keep.sum()
            acc[3] += len(keep)
        print(f"stream {i + 1}/12 done", flush=True)
    print("keywords of the bundle's 12 calibration hours (training list, seeds 1000-1011, SNR per "
          "word) that no gate-scored window reaches; windows scored:")
    print(f"{'gate':<34} {'clean':>8} {'10 dB':>8}   windows scored (clean / 10 dB)")
    for name, r in rows.items():
        a, b = r[math.inf], r[10.0]
        print(f"{name:<34} {100 * a[0] / a[1]:7.1f}% {100 * b[0] / b[1]:7.1f}%   "
              f"{100 * a[2] / a[3]:.1f}% / {100 * b[2] / b[3]:.1f}%   "
              f"({a[1]} / {b[1]} keywords)")


if __name__ == "__main__":
    main()
