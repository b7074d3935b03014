"""Are the confusions that set the calibrated thresholds ones that every network makes?

``python docs/results/fa-anatomy/consensus.py [--fa-per-hour 5]`` (from the repository root;
about 5 minutes on one core). Two measurements:

1. **Clip level.** Every keyword clip of the dev data
   (`../shared/data/speech_commands_test12_v0.02`, training and validation lists, fixed to 1 s
   as in training) through the three full-precision
   teachers at scale (`models/teacher_fbank40_snr.pt`, `teacher_fbank40_60.pt`,
   `teacher_fbank40.pt`, exported to `.bkws` in a temporary folder) and the bundled 1-bit model
   (8 blocks). A **consensus confusion** is a clip whose top class is one and the same *other*
   keyword for all three teachers, each with a posterior of at least ``--confident`` (0.5): an
   error that networks of this family trained on this data share (label noise, a cut or
   mispronounced word, or a genuinely ambiguous one; nobody here has listened to them). With
   ``--confident 0.99`` (session 15) there were none.
2. **Stream level.** The bundled two-stage detector (bundled model + bundled verifier, its stored
   cascade record) on its own 12 calibration hours at the stored ``--fa-per-hour`` point: for
   every false alarm, the clip under it, and whether that clip is a consensus confusion.

Why: at the calibrated 1 FA/h point the detector may raise at most 2 false alarms in each
condition's 6 hours of word-dense streams, so a handful of clips that every network hears as
another keyword, each placed in several streams, can decide a keyword's threshold alone.
"""

from __future__ import annotations

import argparse
import collections
import math
import tempfile
from pathlib import Path

import numpy as np

from bifsmn.audio import fix_length, load_audio
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect import operating
from bifsmn.detect.cascade import BUNDLED, Verifier, keyword_columns
from bifsmn.detect.detector import events_from_smoothed, smooth, smooth_frames
from bifsmn.detect.evaluate import build_stream, classify_events, negative_files, stream_posteriors
from bifsmn.detect.gate import resolve_gate
from bifsmn.detect.scorer import bundled_model, load_scorer
from bifsmn.detect.stream import hop_samples
from bifsmn.engine import export_checkpoint

DATA = Path("../shared/data/speech_commands_test12_v0.02")
NEGATIVES = Path("../shared/data/picovoice_wake_words")
TEACHERS = ["models/teacher_fbank40_snr.pt", "models/teacher_fbank40_60.pt",
            "models/teacher_fbank40.pt"]


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def clip_posteriors(scorer, paths: list[str], batch: int = 64) -> np.ndarray:
    out = []
    for i in range(0, len(paths), batch):
        w = np.stack([fix_length(load_audio(p)) for p in paths[i:i + batch]]).astype(np.float32)
        out.append(softmax(scorer.scores(scorer.features(w)).astype(np.float64)))
    return np.concatenate(out)


def clip_level(confident: float, scorers: list) -> set[str]:
    ds = SpeechCommands(DATA, 12)
    binary = load_scorer(bundled_model(), 8)
    labels = list(binary.labels)
    kw = keyword_columns(labels)
    found: set[str] = set()
    for split in ("training", "validation"):
        items = [it for it in ds.items(split) if it.path and it.word in labels
                 and labels.index(it.word) in kw]
        paths = [it.path for it in items]
        truth = np.array([labels.index(it.word) for it in items])
        posts = [clip_posteriors(s, paths) for s in scorers]
        bpost = clip_posteriors(binary, paths)
        wrong = np.ones(len(items), bool)
        top = posts[0].argmax(axis=1)
        for p in posts:
            wrong &= (p.argmax(axis=1) == top) & (p.max(axis=1) >= confident)
        wrong &= (top != truth) & np.isin(top, kw)
        pairs = collections.Counter(f"{labels[truth[i]]} -> {labels[top[i]]}"
                                    for i in np.flatnonzero(wrong))
        also = int(np.sum(wrong & (bpost.argmax(axis=1) == top)))
        acc = [float(np.mean(p.argmax(axis=1) == truth)) for p in posts]
        print(f"{split}: {len(items)} keyword clips; teachers' clip accuracy "
              + " / ".join(f"{100 * a:.1f} %" for a in acc)
              + f" (bundled 1-bit: {100 * np.mean(bpost.argmax(axis=1) == truth):.1f} %); "
              f"consensus confusions (all three >= {confident:g} for one other keyword): "
              f"{int(wrong.sum())} ({100 * wrong.mean():.2f} %), {also} of them also the "
              f"1-bit model's top class")
        print("  " + ", ".join(f"{k} {v}" for k, v in pairs.most_common()))
        for i in np.flatnonzero(wrong):
            found.add(items[i].path)
            print(f"  {Path(items[i].path).parent.name}/{Path(items[i].path).name}: "
                  f"heard as {labels[top[i]]} ("
                  + ", ".join(f"{p[i, top[i]]:.4f}" for p in posts) + ")")
    return found


def stream_level(fa_per_hour: float, consensus: set[str], teachers: list,
                 model: Path) -> None:
    scorer = load_scorer(model, 8)
    ver = Verifier.load(BUNDLED)
    ops = next(r for r in operating.read_cascades(model)
               if r["verifier"]["sha256"] == ver.sha256)
    ver = Verifier(ver.scorer, ops["verifier"]["wake"], ops["verifier"]["hold_ms"], ver.name,
                   ver.sha256)
    point = operating.pick(ops, 8, fa_per_hour)
    gate = resolve_gate("model", ops)
    cfg = scorer.feature_config
    hop = hop_samples(float(ops["hop_ms"]), cfg.sample_rate, cfg.clip_samples)
    refr = round(float(ops["refractory_ms"]) * cfg.sample_rate / 1000.0)
    n = smooth_frames(float(point["smooth_ms"]), hop, cfg.sample_rate)
    ds = SpeechCommands(DATA, 12)
    negs = negative_files(NEGATIVES, "validation")
    by_clip: collections.Counter = collections.Counter()
    kinds: collections.Counter = collections.Counter()
    placed: collections.Counter = collections.Counter()
    for i, snr in enumerate([math.inf] * 6 + [10.0] * 6):
        st = build_stream(ds, "training", 60, snr, 1000 + i, negatives=negs, snr_mode="clip")
        placed.update(s.source for s in st.segments if s.source in consensus)
        post, _ = stream_posteriors(scorer, st.audio, hop, gate=gate, verifier=ver)
        events = events_from_smoothed(smooth(post.probs, n), post.ends, scorer.labels,
                                      point["thresholds"], refr, post.window, post.sample_rate,
                                      False, post.audio_end)
        keywords = [s for s in st.segments if s.label not in ("_unknown_", "_negative_")]
        for ev, kind in classify_events(events, keywords, float(ops["tolerance_s"])):
            if kind != "fa":
                continue
            seg = max(st.segments, key=lambda s: min(ev.end, s.end) - max(ev.start, s.start))
            overlap = min(ev.end, seg.end) - max(ev.start, seg.start)
            src = seg.source if overlap > 0 else "(pause/noise)"
            by_clip[(src, ev.label)] += 1
            kinds["consensus confusion" if src in consensus else
                  "other keyword clip" if seg.label not in ("_unknown_", "_negative_")
                  and overlap > 0 else "non-keyword or pause"] += 1
    total = sum(by_clip.values())
    print(f"\nbundled two-stage detector, stored {fa_per_hour:g} FA/h point, 12 calibration "
          f"hours: {total} false alarms from {len(by_clip)} distinct clips; "
          + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    print(f"consensus-confusion clips placed in the 12 streams: {sum(placed.values())} times "
          f"({len(placed)} distinct clips)")
    print("each clip: false alarms, the keyword they fired, and the three teachers' top class "
          "on the clip alone (1 s, as in training) with its posterior")
    labels = list(teachers[0].labels)
    for (src, fired), c in by_clip.most_common():
        tag = " [consensus]" if src in consensus else ""
        alone = ""
        if Path(src).is_file():
            posts = [clip_posteriors(t, [src])[0] for t in teachers]
            alone = "; alone: " + ", ".join(f"{labels[int(p.argmax())]} {p.max():.3f}"
                                            for p in posts)
        print(f"  {c} x {Path(src).parent.name}/{Path(src).name} -> {fired}{tag}{alone}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fa-per-hour", type=float, default=5.0)
    ap.add_argument("--confident", type=float, default=0.5)
    ap.add_argument("--model", type=Path, default=bundled_model(),
                    help="the bundled model (default); the committed outputs used session 15's "
                    "file (keyword-rule records): git show 2bd853e:src/bifsmn/models_data/"
                    "bifsmnv2.bkws > runs/bundle-s15.bkws")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        teachers = [load_scorer(export_checkpoint(t, Path(tmp) / f"t{i}.bkws"), 8)
                    for i, t in enumerate(TEACHERS)]
        consensus = clip_level(args.confident, teachers)
        stream_level(args.fa_per_hour, consensus, teachers, args.model)


if __name__ == "__main__":
    main()
