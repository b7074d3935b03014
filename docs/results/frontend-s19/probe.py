"""Would a float32 first pass make the fbank40 front end faster at the same levels? (session 19)

Writes 400 Speech Commands clips (a fixed random sample of ``--data``), the ``_background_noise_``
files and synthetic tones, chirps and noise from 1e-4 to full scale into a scratch folder, builds
``error_probe.cc`` against the engine's FFT and prints how far float32 mel energies fall from the
float64 path's, and how many frames a bounded float32 pass would hand back to float64
(README.md here). Nothing is written to the repository; the audio stays in the scratch folder
(``--keep DIR``: in DIR, as raw float32 ``audio.f32``, for ``images.cc``).

    python docs/results/frontend-s19/probe.py --data ../shared/data/speech_commands_test12_v0.02
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from bifsmn.data.fbank import Fbank40Config, kaldi_filterbank, povey_window

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def clips(data: Path) -> np.ndarray:
    """The probe's audio, one float32 array (clips end to end; frames may straddle two)."""
    files = sorted(p for p in data.glob("*/*.wav") if p.parent.name != "_background_noise_")
    out = [sf.read(f, dtype="float32")[0] for f in random.Random(0).sample(files, 400)]
    out += [sf.read(f, dtype="float32")[0][:160000]
            for f in sorted((data / "_background_noise_").glob("*.wav"))]
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    for amp in (1e-4, 1e-2, 0.5, 0.99):
        out.append(amp * np.sin(2 * np.pi * 440 * t))
        out.append(amp * np.sin(2 * np.pi * (100 + 3000 * t) * t))
        out.append(np.clip(amp * rng.standard_normal(16000), -1, 1))
        # a loud low tone over quiet noise: bands 80 dB apart in one frame
        out.append(amp * np.sin(2 * np.pi * 200 * t) + amp * 1e-4 * rng.standard_normal(16000))
    return np.concatenate([np.asarray(c, np.float32) for c in out])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="Speech Commands folder")
    ap.add_argument("--keep", type=Path, help="also write the audio to DIR/audio.f32")
    args = ap.parse_args()
    cfg = Fbank40Config()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        audio = clips(args.data)
        audio.tofile(d / "audio.f32")
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            audio.tofile(args.keep / "audio.f32")
        povey_window(cfg.frame_length, cfg.window_power).numpy().astype(np.float64).tofile(
            d / "window.f64")
        kaldi_filterbank(cfg).numpy().astype(np.float64).tofile(d / "filterbank.f64")
        exe = d / "error_probe"
        subprocess.run(["g++", "-O2", "-std=c++17", "-ffp-contract=off",
                        f"-I{ROOT / 'cpp' / 'src'}", str(HERE / "error_probe.cc"), "-o", str(exe)],
                       check=True)
        subprocess.run([str(exe), str(d)], check=True)


if __name__ == "__main__":
    main()
