"""Is a detector that switches to clean-speech thresholds in quiet conditions safe? (session 19)

docs/results/archive-calibration/per_snr.py found that thresholds calibrated on the clean hours
alone miss 6-9 points fewer clean keywords than the stored joint set (one set for clean and
10 dB), so a detector that used them when it hears little noise would find more keywords in
quiet rooms. What it must not do is raise false alarms when the noise is between the calibrated
conditions. This probe measures, on the speaker-disjoint halves of threshold-rule/cv.py (one
half calibrates, the other is scored; both ways): the joint and the clean-only ("quiet") sets
of the bundle's 8-block path and of the bundled two-stage detector on the other half's streams
clean and at 10, 20 and 30 dB (the 20- and 30-dB streams are new: seeds of the clean streams,
so the same words, 3 x 60 min per half), a joint set calibrated on the half's 20-dB hours as
well ("3-SNR": what ``bifsmn calibrate --snr clean,20,10`` would store), and a stream-level
noise estimate an online switch
could use: the gap between the 95th and the 10th percentile of 25-ms frame levels (dB, the
gate's pre-emphasised levels) over the stream.

    python docs/results/noise-switch/probe.py > docs/results/noise-switch/probe.txt

Needs docs/results/threshold-rule/cv.py's caches (runs/threshold-rule/cv-fold*.pkl); writes its
own posteriors of the 20- and 30-dB streams to runs/noise-switch/.
"""

from __future__ import annotations

import math
import pickle
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "threshold-rule"))
from cv import Half, half  # noqa: E402
from rules import DATA, NEG, add_scores, calibrated_points, score, systems  # noqa: E402

from bifsmn.data.speech_commands import SpeechCommands  # noqa: E402
from bifsmn.detect.calibrate import _Kept  # noqa: E402
from bifsmn.detect.evaluate import build_stream, negative_files, stream_posteriors  # noqa: E402
from bifsmn.detect.gate import FRAME_MS, PREEMPHASIS  # noqa: E402
from bifsmn.detect.scorer import bundled_model  # noqa: E402
from bifsmn.detect.stream import DEFAULT_HOP_MS, hop_samples  # noqa: E402

SYSTEMS = ("8 blocks", "cascade 8 blocks")
NEW_SNRS = (20.0, 30.0)
CACHE = Path("runs/noise-switch")


def level_gap(audio: np.ndarray, sr: int = 16000) -> float:
    """95th minus 10th percentile of the stream's 25-ms frame levels in dB (pre-emphasised as
    the gate's; digital silence counts as -120 dB)."""
    f = round(FRAME_MS * sr / 1000)
    x = np.concatenate([audio[:1], audio[1:] - PREEMPHASIS * audio[:-1]])
    n = len(x) // f
    ms = np.einsum("ij,ij->i", x[:n * f].reshape(n, f), x[:n * f].reshape(n, f),
                   dtype=np.float64) / f
    db = 10 * np.log10(np.maximum(ms, 1e-12))
    return float(np.percentile(db, 95) - np.percentile(db, 10))


def new_streams(fold: int, syst) -> tuple[list, dict, list]:
    """Truth, posteriors and level gaps of the half's 20- and 30-dB streams (cached)."""
    f = CACHE / f"fold{fold}.pkl"
    if f.exists():
        return pickle.loads(f.read_bytes())
    ds = SpeechCommands(DATA, 12)
    negs = [n for n in negative_files(NEG, "validation") if half(Path(n).name) == fold]
    kept, posts, gaps = [], {s[0]: [] for s in syst}, []
    for snr in NEW_SNRS:
        for i in range(3):
            t0 = time.time()
            st = build_stream(Half(ds, fold), "training", 60.0, snr, 2000 + 1000 * fold + i,
                              negatives=negs, snr_mode="clip")
            kept.append(_Kept(list(st.segments), st.hours, st.snr_db))
            gaps.append(level_gap(st.audio))
            for name, scorer, ver, gate, _, _ in syst:
                hop = hop_samples(DEFAULT_HOP_MS, scorer.feature_config.sample_rate,
                                  scorer.feature_config.clip_samples)
                posts[name].append(stream_posteriors(scorer, st.audio, hop, gate=gate,
                                                     verifier=ver)[0])
            print(f"# fold {fold}, {snr:g} dB stream {i}: {time.time() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    f.write_bytes(pickle.dumps((kept, posts, gaps)))
    return kept, posts, gaps


def cached_gaps(fold: int, kept) -> list[float]:
    """Level gaps of the cached clean / 10-dB streams (rebuilt once: the caches hold no
    audio)."""
    f = CACHE / f"gaps-fold{fold}.pkl"
    if f.exists():
        return pickle.loads(f.read_bytes())
    ds = SpeechCommands(DATA, 12)
    negs = [n for n in negative_files(NEG, "validation") if half(Path(n).name) == fold]
    out = []
    for i, k in enumerate(kept):
        st = build_stream(Half(ds, fold), "training", 60.0, k.snr_db, 2000 + 1000 * fold + i,
                          negatives=negs, snr_mode="clip")
        out.append(level_gap(st.audio))
    f.write_bytes(pickle.dumps(out))
    return out


def main() -> None:
    syst = [s for s in systems(bundled_model()) if s[0] in SYSTEMS]
    data = [pickle.loads(Path(f"runs/threshold-rule/cv-fold{f}.pkl").read_bytes())
            for f in (0, 1)]
    extra = [new_streams(f, syst) for f in (0, 1)]
    print("Stream-level noise estimate (95th - 10th percentile frame level, dB), per half:")
    for f in (0, 1):
        gaps = cached_gaps(f, data[f][0]) + extra[f][2]
        snrs = [k.snr_db for k in data[f][0]] + [k.snr_db for k in extra[f][0]]
        by: dict = {}
        for s, g in zip(snrs, gaps, strict=True):
            by.setdefault("clean" if math.isinf(s) else f"{s:g} dB", []).append(g)
        print(f"  half {f}: " + "; ".join(f"{k} {min(v):.1f}-{max(v):.1f}"
                                          for k, v in by.items()))
    print()
    print("system             set     target  SNR     test miss  test FA/h  (both folds)")
    for name, scorer, *_ in syst:
        for which in ("joint", "quiet", "3-SNR"):
            agg: dict = {}
            for fold in (0, 1):
                kc, pc = data[fold][0], data[fold][1][name]
                if which == "quiet":
                    pc = [p for k, p in zip(kc, pc, strict=True) if math.isinf(k.snr_db)]
                    kc = [k for k in kc if math.isinf(k.snr_db)]
                if which == "3-SNR":  # the half's 20-dB streams calibrate too
                    more = [i for i, k in enumerate(extra[fold][0]) if k.snr_db == 20.0]
                    kc = kc + [extra[fold][0][i] for i in more]
                    pc = pc + [extra[fold][1][name][i] for i in more]
                pts = calibrated_points(scorer, pc, kc, "pooled")
                kt = data[1 - fold][0] + extra[1 - fold][0]
                pt = data[1 - fold][1][name] + extra[1 - fold][1][name]
                add_scores(agg, score(pts, scorer, pt, kt))
            for (f, snr), a in sorted(agg.items(), key=lambda x: (x[0][0], _order(x[0][1]))):
                print(f"{name:18s} {which:6s} {f:4g} FA/h {snr:7s} {100 * (1 - a[1] / a[0]):6.1f} %"
                      f"  {a[2] / a[3]:6.2f} ({a[2]} in {a[3]:.0f} h)", flush=True)


def _order(snr: str) -> float:
    return math.inf if snr == "clean" else -float(snr.split()[0])


if __name__ == "__main__":
    main()
