"""Session 66: the detection-only install of bifsmn on 32-bit ARM (armhf), checked against x86-64.

Run once on the x86-64 machine (``dump``) and once inside the armhf system (``compare``), with the
same bifsmn source; needs only numpy, soundfile and bifsmn (no PyTorch):

    python check.py dump REF.npz MODEL.bkws...      # x86-64: every engine output below, saved
    python check.py compare REF.npz MODEL.bkws...   # armhf: the same outputs, compared bit for bit

With ``BIFSMN_SPEECH=DIR`` (a Speech Commands folder, the same on both machines) the detector's
stream also gets 20 real keyword clips (the first two files of each of the ten keywords), so that
it raises events; nothing is read from DIR otherwise.

For the packaged at-scale model (fbank40) and each MODEL given: the kernel, the features and
every path's logits of 24 generated 1-s clips (tones, chirps, noise, silence: no audio files
needed), and the bundled detector on a stream of 20 such clips (30 s more with BIFSMN_SPEECH),
1-bit model alone and two-stage (every window's posteriors through the gate and the stages, and
the events). Outputs
of the full-precision verifier are held to the FP tolerance (FP_OUTPUTS), the rest bit for bit.
Prints one line per comparison; exits 1 if any is not as required.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

import numpy as np


def clips(n: int = 24, seed: int = 7) -> np.ndarray:
    """(n, 16000) float32: tones, chirps, noise bursts and near-silence, by a fixed generator (its
    own: bifsmn.engine.testing.synthetic_audio imports PyTorch, which this install lacks)."""
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000.0
    out = np.zeros((n, 16000), np.float32)
    for i in range(n):
        kind = i % 4
        if kind == 0:
            x = np.sin(2 * np.pi * rng.uniform(200, 3000) * t) * rng.uniform(0.05, 0.5)
        elif kind == 1:
            f0, f1 = rng.uniform(100, 1000), rng.uniform(1000, 6000)
            x = 0.3 * np.sin(2 * np.pi * (f0 + (f1 - f0) * t / 2) * t)
        elif kind == 2:
            x = np.zeros(16000)
            s = rng.integers(0, 12000)
            x[s:s + 4000] = rng.normal(0, rng.uniform(0.01, 0.3), 4000)
        else:
            x = rng.normal(0, 1e-4, 16000)
        out[i] = x.astype(np.float32)
    return out


KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")


def speech(folder: str | None) -> list[np.ndarray]:
    """The first two clips of each keyword in a Speech Commands folder, each 1 s, then 0.5 s of
    silence (none without a folder)."""
    if not folder:
        return []
    import soundfile as sf

    out = []
    for word in KEYWORDS:
        for path in sorted(Path(folder, word).glob("*.wav"))[:2]:
            x, sr = sf.read(str(path), dtype="float32")
            if sr != 16000:
                raise SystemExit(f"{path}: {sr} Hz, expected 16000")
            out += [np.pad(x[:16000], (0, 16000 - len(x[:16000]))), np.zeros(8000, np.float32)]
    return out


def outputs(models: list[str]) -> dict[str, np.ndarray]:
    from bifsmn.detect import Detector
    from bifsmn.engine import Engine

    audio = clips()
    res: dict[str, np.ndarray] = {}
    bundled = str(resources.files("bifsmn") / "models_data" / "bifsmnv2.bkws")
    for name, path in [("bundled", bundled)] + [(f"model{i}", p) for i, p in enumerate(models)]:
        eng = Engine(path)
        res[f"{name}/kernel"] = np.array(eng.kernel)
        res[f"{name}/features"] = eng.features(audio)
        blocks = eng.blocks
        for b in (8, 4, 2, 1):
            if b <= blocks:
                eng.set_blocks(b)
                res[f"{name}/logits{b}"] = eng.predict(audio)
    # the bundled detector over the stream: every window's posteriors (gate, 1-bit model, and
    # in the two-stage form the FP verifier where it wakes) and the events
    stream = np.concatenate(list(clips(20, seed=11)) + speech(os.environ.get("BIFSMN_SPEECH")))
    for name, det in (("detector-1bit", Detector(verifier=None)), ("detector", Detector())):
        posts = [det.streamer.process(stream), det.streamer.flush()]
        res[f"{name}/posteriors"] = np.concatenate([p.probs for p in posts])
        det.reset()
        events = det.process(stream) + det.flush()
        res[f"{name}/events"] = np.array([f"{e.label} {e.start:.1f}-{e.end:.1f} s" for e in events]
                                         or ["(none)"])
        res[f"{name}/event_scores"] = np.array([e.score for e in events], np.float64)
    return res


# Outputs that involve a full-precision model (the two-stage detector's verifier): its float GEMMs
# sum in each kernel's own order (avx512, neon, portable), so they are compared within the FP
# models' documented parity tolerance (docs/engine.md, "Parity with PyTorch"), not bit for bit.
FP_OUTPUTS = ("detector/posteriors", "detector/event_scores")


def main(argv: list[str]) -> int:
    mode, ref, models = argv[0], argv[1], argv[2:]
    res = outputs(models)
    if mode == "dump":
        np.savez(ref, **res)
        for k, v in res.items():
            print(f"{k}: {v.shape} {v.dtype}" if v.dtype != object and v.ndim else f"{k}: {v}")
        return 0
    want = np.load(ref)
    bad = 0
    for k in want.files:
        a, b = want[k], res.get(k)
        if "kernel" in k:
            print(f"{k}: x86-64 {a}, here {b}")
            continue
        same = b is not None and a.shape == b.shape and a.tobytes() == b.tobytes()
        if k in FP_OUTPUTS and not same and b is not None and a.shape == b.shape:
            diff = float(np.abs(a.astype(np.float64) - b).max())
            top = a.ndim == 1 or bool((a.argmax(1) == b.argmax(1)).all())
            ok = diff <= 2e-4 and top
            bad += not ok
            print(f"{k}: {(a != b).sum()} of {a.size} values differ, largest by {diff:.2e}"
                  + ("" if a.ndim == 1 else
                     f"; top class {'the same' if top else 'DIFFERENT'} in every window")
                  + f" ({'within' if ok else 'OUTSIDE'} the FP tolerance)")
            continue
        bad += not same
        print(f"{k}: {'bit-identical' if same else 'DIFFERS'} {a.shape}")
        if k.endswith("/events"):
            print("  " + "\n  ".join(str(e) for e in b))
    print("all as required" if not bad else f"{bad} outputs differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
