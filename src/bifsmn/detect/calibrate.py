"""``bifsmn calibrate``: choose per-keyword thresholds and the smoothing window for a few
false-alarm rates on validation streams, and store them in the model file.

Streams are built exactly as for ``eval-stream`` (:func:`bifsmn.detect.evaluate.build_stream`):
keyword clips and other words of the data set's validation split, optionally negative speech
(the validation share of a folder of recordings, :func:`~bifsmn.detect.evaluate.negative_files`)
and ``_background_noise_`` at each SNR. The model runs once per stream and path (gate and
padding rule as in detection); everything else is swept on the stored posteriors:

1. for each smoothing window (300, 500, 700, 1000 ms) and each keyword, the existing threshold
   sweep (:func:`~bifsmn.detect.evaluate.sweep`, one keyword at a time) gives that keyword's
   hits and false alarms at every threshold, summed over the streams. Keywords are matched
   independently, so the total false alarms of a set of per-keyword thresholds are the sum of
   the keywords' own;
2. for a target of F false alarms per hour, the budget is ``floor(F * hours)`` false alarms.
   Every keyword starts at the lowest threshold with its fewest false alarms; then, greedily,
   the keyword move (to a lower threshold) that buys the most hits per extra false alarm within
   the remaining budget is taken, until none fits (always moving to the lowest threshold with
   that false-alarm count, as ``eval-stream``'s operating point does);
3. the smoothing window with the most hits wins (ties: the one closest to 500 ms).

The stored record (:mod:`bifsmn.detect.operating`) also says what data the points were chosen
on and what they achieved there (in-sample: expect more false alarms on new audio, most of all
for the 0.5 FA/h point whose budget is a handful of events).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect import operating
from bifsmn.detect.detector import (
    DEFAULT_REFRACTORY_MS,
    events_from_smoothed,
    smooth,
    smooth_frames,
)
from bifsmn.detect.evaluate import (
    DEFAULT_THRESHOLDS,
    UNKNOWN,
    build_stream,
    negative_files,
    score_events,
    stream_posteriors,
    sweep,
)
from bifsmn.detect.gate import DEFAULT_GATE, Gate
from bifsmn.detect.scorer import scorers_for_blocks
from bifsmn.detect.stream import DEFAULT_HOP_MS, hop_samples
from bifsmn.errors import BifsmnError
from bifsmn.outputs import atomic_write_bytes

DEFAULT_FA_TARGETS = (0.5, 1.0, 5.0)
DEFAULT_SMOOTHING_MS = (300.0, 500.0, 700.0, 1000.0)
CALIBRATION_THRESHOLDS = tuple(sorted({*DEFAULT_THRESHOLDS, 0.99995, 0.99999, 0.999995,
                                       0.999999}))


def allocate(hits: np.ndarray, fas: np.ndarray, budget: int) -> np.ndarray:
    """Per-keyword threshold indices (into ascending thresholds) maximising total hits with at
    most ``budget`` false alarms in all; see the module docstring. ``hits``, ``fas``: (K, T),
    non-increasing along T."""
    k, t = hits.shape

    def lowest_same(j: int, i: int) -> int:  # lowest index with the false alarms of (j, i)
        return int(np.flatnonzero(fas[j] == fas[j, i])[0])

    idx = np.array([lowest_same(j, t - 1) for j in range(k)])
    used = int(fas[np.arange(k), idx].sum())
    while True:
        best = None
        for j in range(k):
            cur = idx[j]
            for i in range(cur - 1, -1, -1):
                cost = int(fas[j, i] - fas[j, cur])
                gain = int(hits[j, i] - hits[j, cur])
                if cost <= 0 or used + cost > budget:
                    if used + cost > budget:
                        break
                    continue
                if gain <= 0:
                    continue
                key = (gain / cost, gain)
                if best is None or key > best[0]:
                    best = (key, j, lowest_same(j, i), cost)
        if best is None:
            return idx
        _, j, i, cost = best
        idx[j] = i
        used += cost


def calibrate(model: str | Path, data: str | Path, negatives: str | Path | None = None,
              blocks: Sequence[int] = (8,), minutes: float = 60.0,
              snrs: Sequence[float] = (math.inf, 10.0), seed: int = 1000,
              fa_targets: Sequence[float] = DEFAULT_FA_TARGETS,
              smoothing_ms: Sequence[float] = DEFAULT_SMOOTHING_MS,
              refractory_ms: float = DEFAULT_REFRACTORY_MS, hop_ms: float = DEFAULT_HOP_MS,
              tolerance: float = 0.5, gate: Gate | None = DEFAULT_GATE,
              thresholds: Sequence[float] = CALIBRATION_THRESHOLDS, split: str = "validation",
              negatives_split: str = "validation", out: str | Path | None = None,
              write: bool = True, log=print) -> dict:
    """Calibrate ``model`` (a ``.pt`` or ``.bkws`` file) and store the operating points in
    ``out`` (default: the model file itself, rewritten atomically). Returns the record."""
    model = Path(model)
    if minutes <= 0:
        raise BifsmnError(f"--minutes must be positive (got {minutes})")
    targets = sorted({float(f) for f in fa_targets})
    if not targets or min(targets) <= 0:
        raise BifsmnError("false-alarm targets must be positive")
    ds = SpeechCommands(data, 12)
    if not ds.noise_files and any(math.isfinite(s) for s in snrs):
        log(f"note: {ds.root} has no _background_noise_/ files; calibration streams are clean")
        snrs = [math.inf]
    negs = negative_files(negatives, negatives_split) if negatives else []
    if negatives and not negs:
        raise BifsmnError(f"--negatives {negatives}: no recording falls in the "
                          f"{negatives_split} share")
    thr = sorted(float(t) for t in thresholds)
    streams = [build_stream(ds, split, minutes, snr, seed + i, negatives=negs)
               for i, snr in enumerate(dict.fromkeys(snrs))]
    hours = sum(s.hours for s in streams)
    nkw = sum(len(s.keywords) for s in streams)
    nneg = sum(len(s.negatives) for s in streams)
    nunk = sum(sum(g.label == UNKNOWN for g in s.segments) for s in streams)
    snr_text = ", ".join("clean" if math.isinf(s.snr_db) else f"{s.snr_db:g} dB"
                         for s in streams)
    desc = (f"{len(streams)} x {minutes:g}-min streams ({snr_text}; seeds {seed}..."
            f"{seed + len(streams) - 1}) from {Path(data).name} [{split}]: {nkw} keywords, "
            f"{nunk} other words" + (f", {nneg} negative-speech clips ({len(negs)} files, "
                                     f"{negatives_split} share of {Path(negatives).name})"
                                     if negs else "")
            + f"; noise: {len(ds.noise_files)} _background_noise_ files")
    log(f"calibration data: {desc}")
    ops = {"format": operating.FORMAT, "version": operating.VERSION,
           "default_fa_per_hour": operating.DEFAULT_FA_PER_HOUR,
           "refractory_ms": float(refractory_ms), "hop_ms": float(hop_ms),
           "gate": None if gate is None else gate.to_dict(),
           "tolerance_s": float(tolerance),
           "data": {"description": desc, "dataset": str(data), "split": split,
                    "negatives": None if not negatives else str(negatives),
                    "negative_files": len(negs), "minutes": minutes,
                    "snr_db": [None if math.isinf(s.snr_db) else s.snr_db for s in streams],
                    "seed": seed, "keywords": nkw, "negative_clips": nneg, "hours": hours},
           "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "paths": {}}
    done = False
    for b, scorer in scorers_for_blocks(model, list(blocks), log):
        cfg = scorer.feature_config
        hop = hop_samples(hop_ms, cfg.sample_rate, cfg.clip_samples)
        refr = round(refractory_ms * cfg.sample_rate / 1000.0)
        keywords = [k for k in scorer.labels if k not in ("_unknown_", "_silence_")]
        posts = []
        for st in streams:
            post, dt = stream_posteriors(scorer, st.audio, hop, gate=gate)
            frac = stream_posteriors.last_scored
            posts.append(post)
            log(f"[{b} blocks] stream {'clean' if math.isinf(st.snr_db) else st.snr_db}: "
                f"{dt:.1f} s for {len(st.audio) / st.sample_rate / 60:.0f} min, network ran on "
                f"{100 * frac:.1f}% of windows")
        points = _points(posts, streams, scorer.labels, keywords, thr, targets, smoothing_ms,
                         hop, cfg.sample_rate, refr, tolerance, hours)
        ops["paths"][str(b)] = points
        for p in points:
            c = p["calibration"]
            log(f"[{b} blocks] {p['fa_per_hour']:g} FA/h: smoothing {p['smooth_ms']:g} ms, "
                f"miss {100 * c['miss_rate']:.1f}%, {c['false_alarms']} FA in {hours:.2f} h"
                + ("" if c["reached"] else " (target not reached)")
                + (f", negative clips with an event {100 * c['negative_rate']:.1f}%"
                   if c.get("negative_rate") is not None else ""))
        done = True
    if not done:
        raise BifsmnError("no thinnable path of the model could be calibrated")
    operating.check(ops)
    if write:
        target = Path(out) if out is not None else model
        if target.resolve() != model.resolve():
            atomic_write_bytes(target, model.read_bytes())
        operating.write(target, ops)
        log(f"operating points written to {target}")
    return ops


def _points(posts, streams, labels, keywords, thr, targets, smoothing_ms, hop, sr, refr,
            tolerance, hours) -> list[dict]:
    budgets = {f: int(math.floor(f * hours + 1e-9)) for f in targets}
    best: dict[float, tuple] = {}
    order = sorted(dict.fromkeys(float(m) for m in smoothing_ms), key=lambda m: abs(m - 500))
    for ms in order:
        n = smooth_frames(ms, hop, sr)
        smoothed = [smooth(p.probs, n) for p in posts]
        hits = np.zeros((len(keywords), len(thr)), np.int64)
        fas = np.zeros_like(hits)
        for j, kw in enumerate(keywords):
            for post, st, sm in zip(posts, streams, smoothed, strict=True):
                truth = [s for s in st.keywords if s.label == kw]
                sc = sweep(post, labels, truth, st.hours, thr, n, refr, tolerance,
                           keywords=[kw], smoothed=sm)
                hits[j] += [s.hits for s in sc]
                fas[j] += [s.false_alarms for s in sc]
        for f, budget in budgets.items():
            idx = allocate(hits, fas, budget)
            total = int(hits[np.arange(len(keywords)), idx].sum())
            if f not in best or total > best[f][0]:
                best[f] = (total, ms, n, idx, smoothed)
    points = []
    for f in targets:
        _, ms, n, idx, smoothed = best[f]
        th = {kw: float(thr[i]) for kw, i in zip(keywords, idx, strict=True)}
        hits = fa = kws = negs = fired = 0
        for post, st, sm in zip(posts, streams, smoothed, strict=True):
            ev = events_from_smoothed(sm, post.ends, labels, th, refr, post.window,
                                      post.sample_rate, False, post.audio_end)
            s = score_events(ev, st.keywords, st.hours, tolerance, st.negatives)
            hits, fa, kws = hits + s.hits, fa + s.false_alarms, kws + s.keywords
            negs, fired = negs + s.negatives, fired + s.negatives_fired
        points.append({
            "fa_per_hour": f, "smooth_ms": float(ms), "thresholds": th,
            "calibration": {"hits": hits, "keywords": kws, "false_alarms": fa, "hours": hours,
                            "miss_rate": (kws - hits) / kws if kws else None,
                            "fa_per_hour": fa / hours, "budget": budgets[f],
                            "reached": fa <= budgets[f],
                            "negative_clips": negs,
                            "negative_rate": fired / negs if negs else None}})
    return points
