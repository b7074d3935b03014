"""Session 54: the front ends' output bits before and after a change (both front ends, whole clips,
batches, a stream's windows, and the logits), from the installed engine extension.

Run it with the old build installed, then with the new one, and compare:

    python docs/results/frontend-s54/bits.py dump /tmp/old.npz   # old build installed
    pip install -e . --no-deps -q                                   # the new build
    python docs/results/frontend-s54/bits.py dump /tmp/new.npz
    python docs/results/frontend-s54/bits.py compare /tmp/old.npz /tmp/new.npz

The audio: every 37th clip of the shared dev data's keyword folders (at most 120), padded or cut
to 1 s, plus Gaussian noise at four levels and digital silence. Models: the a01 dev model's
export (logmel32, `runs/ab/a01.bkws`, as `bifsmn export models/bifsmnv2_a01_sc12dev.pt -o
runs/ab/a01.bkws`) and the bundled fbank40 file.
"""

from __future__ import annotations

import glob
import sys

import numpy as np
import soundfile as sf

from bifsmn.engine import Engine

DATA = "../shared/data/speech_commands_test12_v0.02"
MODELS = (("logmel32", "runs/ab/a01.bkws"), ("fbank40", "src/bifsmn/models_data/bifsmnv2.bkws"))


def clips() -> list[np.ndarray]:
    """The audio described in the module docstring."""
    files = sorted(glob.glob(f"{DATA}/*/*.wav"))[::37][:120]
    out = [sf.read(f, dtype="float32")[0] for f in files]
    out = [np.pad(c, (0, max(0, 16000 - len(c))))[:16000] for c in out]
    rng = np.random.default_rng(0)
    out += [rng.standard_normal(16000).astype(np.float32) * s for s in (1e-6, 1e-3, 0.1, 1.0)]
    return [*out, np.zeros(16000, np.float32)]


def dump(path: str) -> None:
    """Write every output of both front ends (and the logits) to an .npz file."""
    audio = clips()
    batch = np.stack(audio)
    stream = np.concatenate(audio[:20])
    starts = np.arange(0, len(stream) - 16000, 1600)
    windows = np.stack([stream[s:s + 16000] for s in starts])
    res = {}
    for name, model in MODELS:
        eng = Engine(model)
        res[f"{name}_clips"] = np.stack([eng.features(c) for c in audio])
        res[f"{name}_batch"] = eng.features(batch)
        res[f"{name}_logits"] = eng.predict(batch)
        res[f"{name}_stream"] = eng.stream_features(windows, starts, eng.frame_cache())
    np.savez(path, **res)
    print(f"{path}: {len(audio)} clips, {len(starts)} stream windows")


def compare(old: str, new: str) -> int:
    """Print, per array, whether the two dumps hold the same bits; 1 if any differs."""
    a, b = np.load(old), np.load(new)
    bad = 0
    for key in a.files:
        same = a[key].tobytes() == b[key].tobytes()
        bad += not same
        print(f"{key} {a[key].shape}: {'bit-identical' if same else 'DIFFERENT'}")
    return int(bad > 0)


if __name__ == "__main__":
    if sys.argv[1:2] == ["dump"] and len(sys.argv) == 3:
        dump(sys.argv[2])
    elif sys.argv[1:2] == ["compare"] and len(sys.argv) == 4:
        sys.exit(compare(sys.argv[2], sys.argv[3]))
    else:
        sys.exit("usage: bits.py dump OUT.npz | compare OLD.npz NEW.npz")
