"""Choosing the calibration rule without the validation split.

    python docs/results/calibration/crossseed.py RULE [RULE ...] -- POSTS.pkl [POSTS.pkl ...]

POSTS.pkl (cache_posts.py) hold training-split streams: clean ones with even seeds 1000...1016
and 10-dB ones with odd seeds 1001...1017 (9 each). The rule calibrates on the first n streams
of each SNR (n = 1, 2, 6: 2, 4, 12 h) and is measured on the last 3 of each (6 h never used
for that calibration: other draws of the same training-split clips, other noise excerpts).
RULE: ``floor`` (point estimate within each SNR), ``poolfloor`` (point estimate on the pooled
hours: the rule before issue 13's fix), or a confidence such as ``0.9`` (Poisson upper bound,
per SNR).
"""

import math
import pickle
import sys
import types

from bifsmn.detect import calibrate as cal_mod
from bifsmn.detect.detector import events_from_smoothed, smooth, smooth_frames
from bifsmn.detect.evaluate import NEGATIVE, score_events
from bifsmn.detect.stream import Posteriors


def main() -> None:
    cut = sys.argv.index("--")
    rules, files = sys.argv[1:cut], sys.argv[cut + 1:]
    res = {}
    for fn in files:
        with open(fn, "rb") as f:
            res.update({k: v for k, v in pickle.load(f).items() if k[1] == "training"})

    def post(r):
        return Posteriors(r["ends"], r["probs"], r["window"], r["sr"], 0, r["audio_end"])

    def stream(k, r):
        segs = r["segments"]
        return types.SimpleNamespace(
            keywords=[s for s in segs if s.label not in ("_unknown_", "_silence_", NEGATIVE)],
            negatives=[s for s in segs if s.label == NEGATIVE], hours=r["hours"],
            snr_db=k[4])

    labels = next(iter(res.values()))["labels"]
    kws = [k for k in labels if k not in ("_unknown_", "_silence_")]
    thr = sorted(cal_mod.CALIBRATION_THRESHOLDS)
    clean = sorted(k for k in res if math.isinf(k[4]))
    noisy = sorted(k for k in res if not math.isinf(k[4]))
    test = clean[-3:] + noisy[-3:]

    def held(p):
        out = {}
        for k in test:
            r = res[k]
            n = smooth_frames(p["smooth_ms"], 1600, 16000)
            ev = events_from_smoothed(smooth(r["probs"], n), r["ends"], labels, p["thresholds"],
                                      16000, r["window"], 16000, False, r["audio_end"])
            s = score_events(ev, stream(k, r).keywords, r["hours"], 0.5)
            t = out.setdefault("clean" if math.isinf(k[4]) else "10 dB", [0, 0, 0, 0.0])
            t[0] += s.false_alarms
            t[1] += s.hits
            t[2] += s.keywords
            t[3] += r["hours"]
        return "; ".join(f"{c} {v[0] / v[3]:.2f} FA/h, miss {100 * (1 - v[1] / v[2]):.1f}%"
                         for c, v in out.items())

    for nper in (1, 2, 6):
        keys = clean[:nper] + noisy[:nper]
        posts = [post(res[k]) for k in keys]
        sts = [stream(k, res[k]) for k in keys]
        hours = sum(s.hours for s in sts)
        for rule in rules:
            pooled = rule.startswith("pool")
            r2 = rule.replace("pool", "")
            conf = None if r2 == "floor" else float(r2)
            pts = cal_mod._points(posts, sts, labels, kws, thr, [0.5, 1.0, 5.0],
                                  cal_mod.DEFAULT_SMOOTHING_MS, 1600, 16000, 16000, 0.5, hours,
                                  conf, not pooled)
            for p in pts:
                c = p["calibration"]
                print(f"| {hours:.0f} h | {rule} | {p['fa_per_hour']:g} | "
                      f"{100 * c['miss_rate']:.1f}% ({c['false_alarms']} FA) | {held(p)} |",
                      flush=True)


if __name__ == "__main__":
    main()
