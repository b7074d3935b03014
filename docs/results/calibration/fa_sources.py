"""Where the false alarms of a model's stored operating points come from, on cached streams.

    python docs/results/calibration/fa_sources.py POSTERIORS.pkl MODEL [MODEL ...]
    python docs/results/calibration/fa_sources.py POSTERIORS.pkl --threshold T [T ...]

(the second form: one threshold for every keyword, smoothing 500 ms, for models without
stored points)

POSTERIORS.pkl is written by cache_posts.py (same folder): the posteriors of one network (the
bundled one: recalibrating changes thresholds, not posteriors) on seeded streams. Each false
alarm is attributed to the placed clip its 1-s window overlaps most (within the 0.5-s matching
tolerance): another keyword's clip, an unknown word, a negative-speech recording, or nothing
(pause/noise). ``distinct`` counts different source clips: the validation split has only 57
unknown-word clips, so a 60-min stream plays each about 8 times and one confusable clip can
add several false alarms per hour.
"""

import collections
import math
import pickle
import sys

from bifsmn.detect import operating
from bifsmn.detect.detector import events_from_smoothed, smooth, smooth_frames
from bifsmn.detect.evaluate import NEGATIVE, classify_events

IGN = ("_unknown_", "_silence_", NEGATIVE)


def false_alarms(events, truth, tol=0.5):
    """The events match_events counts as false alarms (its own rule, kept as a list)."""
    return [e for e, kind in classify_events(events, truth, tol) if kind == "fa"]


def source(e, segs, tol=0.5):
    best, bo = None, 0.0
    for s in segs:
        o = min(e.end, s.end + tol) - max(e.start, s.start - tol)
        if o > bo:
            bo, best = o, s
    if best is None:
        return "pause/noise", "-"
    kind = {"_unknown_": "unknown word", NEGATIVE: "negative speech"}.get(
        best.label, "same keyword" if best.label == e.label else "other keyword")
    return kind, best.source


def main() -> None:
    with open(sys.argv[1], "rb") as f:
        res = pickle.load(f)
    fixed = sys.argv[2] == "--threshold"
    for model in ([sys.argv[1]] if fixed else sys.argv[2:]):
        ops = None if fixed else operating.read(model)
        for key, r in res.items():
            b, split, nsplit, seed, snr, minutes = key
            truth = [s for s in r["segments"] if s.label not in IGN]
            kws = [lb for lb in r["labels"] if lb not in IGN]
            points = ([{"fa_per_hour": float("nan"), "smooth_ms": 500.0,
                        "thresholds": dict.fromkeys(kws, float(t)), "threshold": float(t)}
                       for t in sys.argv[3:]] if fixed else operating.stored_points(ops, b))
            for p in points:
                n = smooth_frames(p["smooth_ms"], 1600, 16000)
                ev = events_from_smoothed(smooth(r["probs"], n), r["ends"], r["labels"],
                                          p["thresholds"], 16000, r["window"], 16000, False,
                                          r["audio_end"])
                fas = false_alarms(ev, truth)
                src = [source(e, r["segments"]) for e in fas]
                cats = collections.Counter(k for k, _ in src)
                distinct = {k: len({s for kk, s in src if kk == k}) for k in cats}
                snr_s = "clean" if math.isinf(snr) else f"{snr:g} dB"
                what = (f"threshold {p['threshold']:g}" if fixed
                        else f"{p['fa_per_hour']:g} FA/h point")
                print(f"{model.split('/')[-1]} [{b}] {split}/{nsplit} seed {seed} {snr_s} "
                      f"{what}: {len(fas)} FA in {r['hours']:.2f} h; "
                      + ", ".join(f"{k} {v} ({distinct[k]} distinct clips)"
                                  for k, v in cats.most_common()))


if __name__ == "__main__":
    main()
