"""Spectral flatness of a window's loud frames (``bifsmn.detect.gate.loud_flatness``): keyword
clips of the dev data's training split, keyword windows in 10/5/0-dB training-split streams, the
synthetic test noises and the ``_background_noise_`` files.

    python docs/results/calibration/flatness.py
"""

import glob
import sys

import numpy as np

from bifsmn.audio import load_audio
from bifsmn.data.labels import COMMANDS
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect.evaluate import build_stream, negative_files
from bifsmn.detect.gate import loud_flatness

DATA = "../shared/data/speech_commands_test12_v0.02"
SR = 16000


def flat(x: np.ndarray) -> float:
    return float(loud_flatness(x[None, :SR].astype(np.float32), np.array([5 * SR]), None, SR)[0])


def main() -> None:
    sys.path.insert(0, "tests")
    from test_detect_gate import synthetic_background

    ds = SpeechCommands(DATA, 12)
    kw = [it for it in ds.items("training") if it.word in COMMANDS]
    v = np.array([flat(load_audio(it.path)) for it in kw])
    print(f"{len(v)} keyword clips: quantiles 50/90/99/99.9/max",
          np.round(np.quantile(v, [.5, .9, .99, .999, 1]), 3))
    negs = negative_files("../shared/data/picovoice_wake_words", "validation")
    for snr, seed in ((10.0, 1001), (5.0, 1003), (0.0, 1005)):
        st = build_stream(ds, "training", 20, snr, seed, negatives=negs, snr_mode="global")
        v = np.array([flat(st.audio[int(s.start * SR):int(s.start * SR) + SR])
                      for s in st.keywords])
        print(f"{snr:g} dB: {len(v)} keyword windows: quantiles 50/90/99/max",
              np.round(np.quantile(v, [.5, .9, .99, 1]), 3),
              f"share > 0.2: {np.mean(v > 0.2):.3f}, > 0.3: {np.mean(v > 0.3):.3f}")
    for kind in ("dishes", "tap", "bike"):
        x = synthetic_background(kind, 60.0, 0)
        w = np.array([flat(x[i:i + SR]) for i in range(0, len(x) - SR, 1600)])
        print(f"synthetic {kind}: quantiles 1/10/50", np.round(np.quantile(w, [.01, .1, .5]), 3))
    for f in sorted(glob.glob(f"{DATA}/_background_noise_/*.wav")):
        x = load_audio(f)
        w = np.array([flat(x[i:i + SR]) for i in range(0, len(x) - SR, 8000)])
        print(f.split("/")[-1], "quantiles 1/10/50", np.round(np.quantile(w, [.01, .1, .5]), 3))


if __name__ == "__main__":
    main()
