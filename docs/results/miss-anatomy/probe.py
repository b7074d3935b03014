"""Where the bundled cascade's missed keywords are lost: a diagnostic, not a feature (session 63).

    python docs/results/miss-anatomy/probe.py [--streams 2] [--blocks 8]

Why: since session 60 every verifier pair or triple screened has landed at 16.5-18.0 % calibration
miss at 1 FA/h (8 blocks), most of it at 10 dB. Whether the misses are keywords the verifiers do
not recognize (a recognition problem: more of the same training cannot be expected to move it) or
keywords recognized below the stored thresholds (a calibration problem: the few confusable false
alarms that set the thresholds) decides what to try next. This script splits them, on the bundle's
own calibration streams (the training split's speakers, seeds 1000... clean and 1006... at 10 dB,
exactly as ``bifsmn calibrate`` builds them), never the held-out ones.

For every keyword clip of a stream, over the 1-s windows (100-ms hop, on the stream's grid) whose
end lies between 0.2 s after the clip's start and 0.8 s after its end (the windows holding some of
the word; an event matches a keyword whose clip, widened by 0.5 s, overlaps its window):

* **not woken**: the verifier is off on all of them (no window up to the 1-s hold before reached the
  wake level 0.9 on the first stage's largest keyword posterior);
* **not recognized**: woken, but the verifier's posterior of the right keyword, smoothed as the
  stored point smooths (the mean of consecutive windows over its smoothing span), stays under 0.5;
* **below threshold**: recognized (>= 0.5) but under the stored 1 FA/h threshold of that keyword;
* **above threshold**: reaches it (such a keyword is detected unless an event of another keyword
  or the refractory time takes it: the count of misses here is not exactly calibrate's).

The energy gate is not applied (at 10 dB it lets nearly every speech window through; in clean
streams it can only remove windows, so "not woken" is a lower bound there).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

from bifsmn.data.labels import SILENCE
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect import operating
from bifsmn.detect.cascade import Verifier, bundled_verifiers, keyword_columns, wake_mask
from bifsmn.detect.evaluate import build_stream, negative_files
from bifsmn.detect.scorer import EngineScorer, models_task
from bifsmn.detect.stream import softmax

DATA = "../shared/data/speech_commands_test12_v0.02"
NEG = "../shared/data/picovoice_wake_words"
MODEL = "src/bifsmn/models_data/bifsmnv2.bkws"
SR = 16000
WIN = SR
HOP = SR // 10
HOLD_HOPS = 10  # the cascade's 1-s hold, in hops
FIRST, LAST = 0.2, 0.8  # window ends from clip start + FIRST to clip end + LAST (seconds)


def stored_point(blocks: int) -> dict:
    """The bundled cascade's stored 1 FA/h point for ``blocks`` (thresholds, smoothing)."""
    recs = operating.read_cascades(MODEL)
    if not recs:
        raise SystemExit(f"{MODEL}: no cascade operating points stored")
    point = operating.pick(recs[0], blocks, 1.0)
    if point is None:
        raise SystemExit(f"{MODEL}: no stored cascade point for {blocks} blocks")
    return point


def posteriors(scorer, windows: np.ndarray) -> np.ndarray:
    """Softmax posteriors of ``scorer`` on raw 1-s audio windows, 256 at a time."""
    out = []
    for i in range(0, len(windows), 256):
        part = windows[i:i + 256]
        out.append(softmax(np.asarray(scorer.scores(scorer.features(part)), np.float64)))
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", type=int, default=2,
                    help="60-min streams per SNR (calibrate uses 6)")
    ap.add_argument("--blocks", type=int, default=8)
    a = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    first = EngineScorer(MODEL, a.blocks)
    ver = Verifier.load([str(p) for p in bundled_verifiers()])
    point = stored_point(a.blocks)
    thr, smooth = point["thresholds"], int(round(point["smooth_ms"] / 100.0))
    labels = first.labels
    kw_cols = keyword_columns(labels)
    silence = labels.index(SILENCE)
    task = models_task([MODEL])
    ds = SpeechCommands(DATA, task[0], keywords=task[1])
    negs = negative_files(NEG, "validation")
    print(f"first stage {MODEL} ({a.blocks} blocks), verifier {ver.name}, wake {ver.wake:g}; "
          f"stored 1 FA/h point: smoothing {point['smooth_ms']:g} ms, thresholds {thr}", flush=True)
    for snr, seed0 in ((math.inf, 1000), (10.0, 1006)):
        counts = {"not woken": 0, "not recognized": 0, "below threshold": 0, "above threshold": 0}
        by_kw: dict[str, dict[str, int]] = {}
        kw_best: list[float] = []  # not woken: the largest keyword posterior over the range
        sil_min: list[float] = []  # ... and the smallest silence posterior
        for sd in range(seed0, seed0 + a.streams):
            st = build_stream(ds, "training", 60, snr, sd, negatives=negs)
            audio = st.audio
            kws = [s for s in st.segments if s.label in thr]
            ends, owner = [], []
            for j, seg in enumerate(kws):
                # earlier windows too: one that woke up to the hold time before still has the
                # verifier on, and the smoothing looks back over its span
                lo = math.ceil((seg.start + FIRST) * SR / HOP) - smooth + 1 - HOLD_HOPS
                hi = math.floor((seg.end + LAST) * SR / HOP)
                for k in range(lo, hi + 1):
                    end = k * HOP
                    if WIN <= end <= len(audio):
                        ends.append(end)
                        owner.append(j)
            ends_a = np.asarray(ends)
            windows = np.stack([audio[x - WIN:x] for x in ends_a]).astype(np.float32)
            p1 = posteriors(first, windows)
            pv = posteriors(ver.scorer, windows)
            owner_a = np.asarray(owner)
            for j, seg in enumerate(kws):
                idx = np.flatnonzero(owner_a == j)
                c = labels.index(seg.label)
                # the cascade's own rule: a waking window keeps the verifier on for the hold
                on, _ = wake_mask(p1[idx][:, kw_cols].max(axis=1), ends_a[idx],
                                  ver.hold_samples(SR), None, ver.wake)
                # the verifier only answers verified windows (else the silence row: P(kw) = 0)
                pk = np.where(on, pv[idx, c], 0.0)
                sm = np.convolve(pk, np.ones(smooth) / smooth, mode="valid")
                # the smoothed values at the windows of the range (window ends FIRST...LAST)
                first_end = math.ceil((seg.start + FIRST) * SR / HOP) * HOP
                sm = sm[ends_a[idx][smooth - 1:] >= first_end]
                best = float(sm.max()) if len(sm) else 0.0
                if not on[ends_a[idx] >= first_end].any():
                    kind = "not woken"
                elif best < 0.5:
                    kind = "not recognized"
                elif best < thr[seg.label]:
                    kind = "below threshold"
                else:
                    kind = "above threshold"
                if kind == "not woken":  # how far from waking: the first stage's best answer
                    near = ends_a[idx] >= first_end
                    kw_best.append(float(p1[idx][near][:, kw_cols].max()))
                    sil_min.append(float(p1[idx][near][:, silence].min()))
                counts[kind] += 1
                by_kw.setdefault(seg.label, dict.fromkeys(counts, 0))[kind] += 1
            print(f"stream seed {sd} ({'clean' if math.isinf(snr) else f'{snr:g} dB'}): "
                  f"{len(kws)} keywords", flush=True)
        n = sum(counts.values())
        name = "clean" if math.isinf(snr) else f"{snr:g} dB"
        print(f"\n{name}: {n} keywords in {a.streams} h")
        print("| keyword | n | " + " | ".join(counts) + " |")
        print("|---|---:|" + "---:|" * len(counts))
        for kw in sorted(by_kw):
            row = by_kw[kw]
            m = sum(row.values())
            cells = " | ".join(f"{100 * row[k] / m:.1f} %" for k in counts)
            print(f"| {kw} | {m} | {cells} |")
        if kw_best:
            q = np.quantile(kw_best, [0.25, 0.5, 0.75])
            r = np.quantile(sil_min, [0.25, 0.5, 0.75])
            under = np.mean(np.asarray(kw_best) < 0.5) * 100
            print(f"not woken ({len(kw_best)}): the first stage's largest keyword posterior over "
                  f"the windows, quartiles {q[0]:.3f} / {q[1]:.3f} / {q[2]:.3f}; under 0.5: "
                  f"{under:.0f} %; its smallest silence posterior, "
                  f"quartiles {r[0]:.3f} / {r[1]:.3f} / {r[2]:.3f}")
        print(f"| all | {n} | " + " | ".join(f"{100 * counts[k] / n:.1f} %" for k in counts) + " |",
              flush=True)


if __name__ == "__main__":
    main()
