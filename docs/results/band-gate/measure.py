"""What the window gate costs keywords in noise, and what the speech-band contrast test wins back.

Run from the repo root (output in measure.txt beside it):
``.venv/bin/python docs/results/band-gate/measure.py``

Calibration data only (the ``training`` list of the shared dev data, as ``bifsmn calibrate``
uses; seed 0; 30-min streams built by ``bifsmn.detect.evaluate.build_stream`` with negative
speech, clean and with ``_background_noise_`` at 10 and 5 dB). For each keyword clip of a
stream: is at least one of the windows (1 s, 100-ms hop) that hold most of it (window end
within 250 ms of the clip end) scored by the gate? A keyword with none can never be detected.
Then, over 1-s windows of each ``_background_noise_`` file and of synthetic white and pink
noise: the fraction of windows each gate scores (stationary noise should score none).
"""

from __future__ import annotations

import glob
import math

import numpy as np

from bifsmn.audio import load_audio
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect.evaluate import build_stream, negative_files
from bifsmn.detect.gate import FrameSpectra, Gate, band_contrast

ROOT = "../shared/data/speech_commands_test12_v0.02"
NEG = "../shared/data/picovoice_wake_words"
SR, W, HOP = 16000, 16000, 1600
GATES = {
    "energy/contrast only": Gate(),
    "+ band 10 dB": Gate(band_contrast_db=10.0),
    "+ band 12 dB (the default)": Gate(band_contrast_db=12.0),
    "+ band 15 dB": Gate(band_contrast_db=15.0),
}


def windows_of(x: np.ndarray):
    ends = np.arange(W, len(x) + 1, HOP)
    return ends


def scored(gate: Gate, x: np.ndarray, ends: np.ndarray, batch: int = 500) -> np.ndarray:
    cache = FrameSpectra()
    out = []
    for i in range(0, len(ends), batch):
        e = ends[i:i + batch]
        wins = np.stack([x[k - W:k] for k in e])
        out.append(gate.active(wins, e, None, SR, cache))
    return np.concatenate(out)


def main() -> None:
    ds = SpeechCommands(ROOT, 12)
    negs = negative_files(NEG, "validation")
    print("keywords of the calibration streams (training list, seed 0, 30 min each) that no "
          "gate-scored window reaches:")
    print(f"{'gate':<28} {'clean':>8} {'10 dB':>8} {'5 dB':>8}   windows scored (clean / 10 / 5)")
    rows = {g: [] for g in GATES}
    for snr in (math.inf, 10.0, 5.0):
        st = build_stream(ds, "training", 30, snr, 0, negatives=negs, snr_mode="global")
        x = st.audio
        ends = windows_of(x)
        kws = st.keywords
        for name, g in GATES.items():
            keep = scored(g, x, ends)
            lost = 0
            for seg in kws:
                e = int(round(seg.end * SR))
                near = np.abs(ends - e) <= SR // 4
                lost += not keep[near].any()
            rows[name].append((lost / len(kws), keep.mean(), len(kws)))
    for name, r in rows.items():
        print(f"{name:<28} " + " ".join(f"{100 * a:7.1f}%" for a, _, _ in r)
              + "   " + " / ".join(f"{100 * b:.1f}%" for _, b, _ in r)
              + f"   ({r[0][2]} keywords per stream)")
    print()
    print("1-s windows (100-ms hop) of noise alone: fraction scored by each gate; "
          "speech-band contrast 50/90/99/max percentiles (dB)")
    rng = np.random.default_rng(0)
    white = rng.standard_normal(SR * 60).astype(np.float32) * 0.1
    spec = np.fft.rfft(rng.standard_normal(SR * 60))
    fr = np.arange(len(spec))
    fr[0] = 1
    pink = np.fft.irfft(spec / np.sqrt(fr)).astype(np.float32)
    pink *= 0.1 / np.sqrt(np.mean(pink ** 2))
    sources = [(f.split("/")[-1], load_audio(f)) for f in
               sorted(glob.glob(ROOT + "/_background_noise_/*.wav"))]
    sources += [("synthetic white", white), ("synthetic pink", pink)]
    for name, x in sources:
        ends = windows_of(x)
        frac = [scored(g, x, ends).mean() for g in GATES.values()]
        bc = []
        for i in range(0, len(ends), 500):
            e = ends[i:i + 500]
            bc.append(band_contrast(np.stack([x[k - W:k] for k in e]), e, None, SR))
        bc = np.concatenate(bc)
        print(f"{name:<24} " + "  ".join(f"{100 * f:5.1f}%" for f in frac)
              + "   band contrast " + " ".join(f"{v:5.1f}" for v in
                                               np.percentile(bc, [50, 90, 99, 100])))
    print("(columns: " + ", ".join(GATES) + ")")


if __name__ == "__main__":
    main()
