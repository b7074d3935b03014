"""How well the feature-domain gate (bifsmn.detect.feature_streams.feature_gate) reproduces the
audio gate, and which row-level floor makes it agree best.

Audio streams of the shared dev data's training split (clean and 10 dB, as calibration builds
them), every 100-ms window: the bundled model's stored gate on the samples against the feature
gate on the exact fbank40 rows of the same audio, for a range of floors. Prints agreement per
floor. Output: gate_twin.txt, from

    python docs/results/archive-calibration/gate_twin.py --minutes 30
"""

from __future__ import annotations

import argparse
import dataclasses
import math

import numpy as np
import torch

from bifsmn.data.fbank import Fbank40, Fbank40Config
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect import operating
from bifsmn.detect.evaluate import build_stream, negative_files
from bifsmn.detect.feature_streams import feature_gate
from bifsmn.detect.gate import resolve_gate
from bifsmn.detect.scorer import bundled_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/speech_commands_test12_v0.02")
    ap.add_argument("--negatives", default="../shared/data/picovoice_wake_words")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--floors", default="none,60,70,75,80,85,90")
    ap.add_argument("--contrasts", default="",
                    help="comma-separated contrasts (dB) for the feature gate; default: the "
                    "stored gate's")
    args = ap.parse_args()
    gate = resolve_gate("model", operating.read(bundled_model()))
    cfg = Fbank40Config()
    fe = Fbank40(cfg)
    ds = SpeechCommands(args.data, 12)
    negs = negative_files(args.negatives, "validation")
    floors = [None if f == "none" else float(f) for f in args.floors.split(",")]
    print(f"stored gate: {gate}")
    for snr in (math.inf, 10.0):
        st = build_stream(ds, "training", args.minutes, snr, 1000, negatives=negs)
        audio = st.audio
        win, hop = cfg.clip_samples, 1600
        ends = np.arange(hop, len(audio) + 1, hop, dtype=np.int64)
        padded = np.concatenate([np.zeros(win, np.float32), audio])
        windows = np.stack([padded[e:e + win] for e in ends])  # padded index e = stream e - win
        keep_audio = gate.active(windows, ends, len(audio), cfg.sample_rate)
        rows = fe.image(torch.from_numpy(audio))[0].numpy()
        first = (ends - win) // cfg.hop_length
        pad = int(-first.min())
        prow = np.concatenate([np.zeros((pad, cfg.n_mels), np.float32), rows])
        wrows = np.stack([prow[f + pad:f + pad + cfg.image_frames] for f in first])
        lead = np.clip(-first, 0, cfg.image_frames)
        name = "clean" if math.isinf(snr) else f"{snr:g} dB"
        print(f"{name}: {len(ends)} windows, audio gate scores {100 * keep_audio.mean():.1f} %")
        contrasts = [None] + [float(c) for c in args.contrasts.split(",") if c]
        for fl, ct in [(f, c) for f in floors for c in contrasts]:
            g = gate if ct is None else dataclasses.replace(gate, band_contrast_db=ct)
            k = feature_gate(wrows, lead, g, cfg, floor_db=fl)
            agree = (k == keep_audio).mean()
            print(f"  floor {fl} contrast {g.band_contrast_db}: feature gate scores "
                  f"{100 * k.mean():.1f} %, agrees on "
                  f"{100 * agree:.1f} % (scored only by it {100 * (k & ~keep_audio).mean():.1f} "
                  f"%, only by audio {100 * (~k & keep_audio).mean():.1f} %)")


if __name__ == "__main__":
    main()
