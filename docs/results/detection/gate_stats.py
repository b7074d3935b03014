"""Gate threshold measurement (docs/detection.md, Gate). Run from the repo root:
.venv/bin/python docs/results/detection/gate_stats.py"""

import glob

import numpy as np

from bifsmn.audio import load_audio
from bifsmn.data.labels import COMMANDS
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect.gate import frame_levels

root = "../shared/data/speech_commands_test12_v0.02"
ds = SpeechCommands(root, 12)
items = [it for it in ds.items("validation") if it.path and it.word in COMMANDS]
pk = []
ct = []
for it in items:
    x = load_audio(it.path)[:16000]
    x = np.pad(x, (0, 16000 - len(x)))
    p, f = frame_levels(x[None], np.array([16000]), None, 16000)
    pk.append(p[0])
    ct.append(p[0] - f[0])
pk = np.array(pk)
ct = np.array(ct)
print(
    "keyword clips",
    len(items),
    "peak dB pct 0,1,5,50:",
    np.percentile(pk, [0, 1, 5, 50]).round(1),
    "contrast(clip alone) pct 0,1,5,50:",
    np.percentile(ct, [0, 1, 5, 50]).round(1),
)
for f in sorted(glob.glob(root + "/_background_noise_/*.wav")):
    x = load_audio(f)
    n = len(x) // 1600 - 10
    ends = 16000 + 1600 * np.arange(n)
    W = np.stack([x[e - 16000 : e] for e in ends])
    p, fl = frame_levels(W, ends, None, 16000)
    c = p - fl
    print(
        f.split("/")[-1],
        f"peak med {np.median(p):.1f}",
        "contrast pct 50,90,99,max",
        np.percentile(c, [50, 90, 99, 100]).round(1),
        f"frac>=8dB {(c >= 8).mean():.3f}",
        f">=6 {(c >= 6).mean():.3f}",
        f">=10 {(c >= 10).mean():.3f}",
    )
rng = np.random.default_rng(0)
w = rng.standard_normal(16000 * 60).astype(np.float32)
X = np.fft.rfft(rng.standard_normal(16000 * 60))
fr = np.arange(len(X))
fr[0] = 1
pink = np.fft.irfft(X / np.sqrt(fr)).astype(np.float32)
for name, x in [("white", w), ("pink", pink)]:
    n = len(x) // 1600 - 10
    ends = 16000 + 1600 * np.arange(n)
    W = np.stack([x[e - 16000 : e] for e in ends])
    p, fl = frame_levels(W, ends, None, 16000)
    c = p - fl
    print(name, f"contrast max {c.max():.2f} p99 {np.percentile(c, 99):.2f}")
