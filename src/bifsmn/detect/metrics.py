"""Scoring a detector on a test stream as keyword-spotting users do: miss rate vs false alarms
per hour.

Clip accuracy says little about a detector that listens all day. The detector's events on a
long test stream (:mod:`bifsmn.detect.mixing`) are matched against the stream's ground truth,
and the decision threshold is swept offline on the stored smoothed posteriors (the model never
re-runs per threshold).

Metrics (see docs/detection.md):

* An event is a **hit** if its label equals that of a ground-truth keyword whose interval,
  widened by ``tolerance`` seconds on each side, overlaps the event's interval; every other event
  is a **false alarm**. Events are matched in time order, preferring the earliest keyword not yet
  matched; a hit on an already matched keyword (a repeated trigger on one utterance) is counted
  as a **duplicate** and reported, but is neither a false alarm nor a second detection.
* **miss rate** = keywords without a matching event / keywords; **FA/h** = false alarms / hours
  of stream.
* The operating point is the lowest swept threshold whose FA/h is at or below the target
  (1 FA/h), i.e. the best miss rate the sweep offers within the false-alarm budget.
"""

from __future__ import annotations

import bisect
import collections
import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from bifsmn.detect.cascade import Verifier
from bifsmn.detect.detector import (
    IGNORED,
    Event,
    events_from_smoothed,
    smooth,
)
from bifsmn.detect.gate import DEFAULT_GATE, Gate
from bifsmn.detect.mixing import SR, Segment
from bifsmn.detect.scorer import Scorer
from bifsmn.detect.stream import Posteriors, Streamer

DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(cast(np.ndarray, np.round(  # an array
    np.r_[np.arange(0.02, 0.981, 0.02), 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999], 6)))


@dataclass(frozen=True)
class Score:
    hits: int
    misses: int
    false_alarms: int
    keywords: int
    hours: float
    duplicates: int = 0
    negatives: int = 0  # negative-speech clips in the stream
    negatives_fired: int = 0  # ... with an event during the clip or within the tolerance after
    # (keyword, keywords in the stream, hits, false alarms raised as that keyword), by label:
    # which words a model misses and which it fires wrongly, not only the totals
    by_keyword: tuple[tuple[str, int, int, int], ...] = ()

    @property
    def negative_rate(self) -> float:
        return self.negatives_fired / self.negatives if self.negatives else float("nan")

    @property
    def miss_rate(self) -> float:
        return self.misses / self.keywords if self.keywords else float("nan")

    @property
    def fa_per_hour(self) -> float:
        return self.false_alarms / self.hours if self.hours > 0 else float("nan")


def _reach(x: float) -> float:
    return -math.inf if math.isnan(x) else x


def classify_events(events: Sequence[Event], truth: Sequence[Segment],
                    tolerance: float = 0.5) -> list[tuple[Event, str]]:
    """Each event with its kind: ``"hit"`` (first match of a keyword), ``"dup"`` (another event
    on an already matched keyword) or ``"fa"`` (false alarm), by the rule of the module
    docstring. One rule for the counts of :func:`match_events` and for analyses that need the
    false-alarm events themselves."""
    by_label: dict[str, list[Segment]] = {}
    for t in sorted(truth, key=lambda s: s.start):
        by_label.setdefault(t.label, []).append(t)
    # reach[i]: the latest end (+ tolerance) of a label's keywords 0..i; the keywords before
    # the first reach past an event's start cannot overlap it, so the scan starts there
    # (linear in the stream; a scan from the first keyword was quadratic, session 70)
    # (a NaN end can match nothing: it counts as -inf, so that reach stays sorted)
    reach = {lb: list(itertools.accumulate((_reach(t.end + tolerance) for t in segs), max))
             for lb, segs in by_label.items()}
    used: dict[str, set[int]] = {lb: set() for lb in by_label}
    out = []
    for ev in sorted(events, key=lambda e: (e.end, e.label)):
        match = seen = None
        segs = by_label.get(ev.label, [])
        first = bisect.bisect_right(reach[ev.label], ev.start) if segs else 0
        for i in range(first, len(segs)):
            t = segs[i]
            if t.start - tolerance >= ev.end:
                break  # sorted by start: no later keyword can overlap
            if ev.start < t.end + tolerance:
                if i not in used[ev.label]:
                    match = i
                    break
                seen = i
        if match is not None:
            used[ev.label].add(match)
            out.append((ev, "hit"))
        else:
            out.append((ev, "dup" if seen is not None else "fa"))
    return out


def match_events(events: Sequence[Event], truth: Sequence[Segment], hours: float,
                 tolerance: float = 0.5) -> Score:
    """Hits (keywords detected), misses, false alarms and duplicates (module docstring)."""
    classified = classify_events(events, truth, tolerance)
    kinds = collections.Counter(k for _, k in classified)
    hits = kinds["hit"]
    per = collections.Counter((ev.label, k) for ev, k in classified)
    present = collections.Counter(t.label for t in truth)
    labels = sorted(set(present) | {lb for lb, k in per if k == "fa"})
    by_kw = tuple((lb, present[lb], per[lb, "hit"], per[lb, "fa"]) for lb in labels)
    return Score(hits, len(truth) - hits, kinds["fa"], len(truth), hours, kinds["dup"],
                 by_keyword=by_kw)


@dataclass
class SystemResult:
    """Sweep of one (model, path) on one stream."""

    name: str
    model: str
    blocks: int
    snr_db: float
    rtf: float
    seconds: float
    thresholds: list[float]
    scores: list[Score]
    scored_fraction: float = 1.0  # windows that went through the network (gate)
    stored: list[tuple[float, Score]] = field(default_factory=list)  # model's own points

    def operating_point(self, fa_target: float = 1.0) -> tuple[float, Score] | None:
        """Lowest threshold with FA/h <= target (best miss rate within the FA budget)."""
        ok = [(t, s) for t, s in zip(self.thresholds, self.scores, strict=True)
              if s.fa_per_hour <= fa_target]
        if not ok:
            return None
        best = min(s.miss_rate for _, s in ok)
        return min(((t, s) for t, s in ok if s.miss_rate == best), key=lambda ts: ts[0])


def negatives_fired(events: Sequence[Event], negatives: Sequence[Segment],
                    tolerance: float = 0.5) -> int:
    """How many negative-speech clips raised an event: an event whose trigger time (its
    ``end``) falls within the clip or up to ``tolerance`` seconds after it."""
    ends = np.sort(np.array([e.end for e in events], np.float64))
    n = 0
    for seg in negatives:
        i = int(np.searchsorted(ends, seg.start, side="left"))
        n += bool(i < len(ends) and ends[i] <= seg.end + tolerance)
    return n


def score_events(events: Sequence[Event], truth: Sequence[Segment], hours: float,
                 tolerance: float = 0.5, negatives: Sequence[Segment] = ()) -> Score:
    """:func:`match_events` plus the negative-speech clips that raised an event."""
    from dataclasses import replace

    s = match_events(events, truth, hours, tolerance)
    if not negatives:
        return s
    return replace(s, negatives=len(negatives),
                   negatives_fired=negatives_fired(events, negatives, tolerance))


def sweep(post: Posteriors, labels: list[str], truth: Sequence[Segment], hours: float,
          thresholds: Sequence[float], smooth_n: int, refractory: int,
          tolerance: float = 0.5, rearm: bool = False, keywords: Sequence[str] | None = None,
          negatives: Sequence[Segment] = (), smoothed: np.ndarray | None = None
          ) -> list[Score]:
    """Scores at every threshold from one set of posteriors (smoothed once).

    ``keywords``: sweep only these (the others never fire), e.g. one keyword at a time for the
    per-keyword calibration; ``truth`` should then hold only their segments. ``smoothed``:
    the already smoothed posteriors, to reuse across calls."""
    s = smooth(post.probs, smooth_n) if smoothed is None else smoothed
    if keywords is None:
        keywords = [lb for lb in labels if lb not in IGNORED]
    out = []
    for th in thresholds:
        events = events_from_smoothed(s, post.ends, labels, dict.fromkeys(keywords, float(th)),
                                      refractory, post.window, post.sample_rate, rearm,
                                      post.audio_end)
        out.append(score_events(events, truth, hours, tolerance, negatives))
    return out


def stream_posteriors(scorer: Scorer, audio: np.ndarray, hop: int, block: int = 10 * SR,
                      gate: Gate | None = DEFAULT_GATE, verifier: Verifier | None = None
                      ) -> tuple[Posteriors, float]:
    """Posteriors of a whole stream fed block by block, and the seconds it took (the
    fraction of windows the gate let through is in ``stream_posteriors.last_scored``, the
    fraction of those a ``verifier`` scored in ``stream_posteriors.last_verified``)."""
    st = Streamer(scorer, hop, gate=gate, verifier=verifier)
    parts = []
    t0 = time.perf_counter()
    for i in range(0, len(audio), block):
        parts.append(st.process(audio[i:i + block]))
    parts.append(st.flush())
    dt = time.perf_counter() - t0
    ws = st._score
    # function attributes (the documented interface; scored_fractions() reads them typed)
    fn: Any = stream_posteriors
    fn.last_scored = ws.windows_scored / max(ws.windows_seen, 1)
    fn.last_verified = ws.windows_verified / max(ws.windows_scored, 1)
    return Posteriors.concat(parts, len(scorer.labels), st.window, st.sample_rate), dt


def scored_fractions() -> tuple[float, float]:
    """The last :func:`stream_posteriors` call's share of windows the gate let through and the
    share of those a verifier scored (0, 0 before any call)."""
    fn: Any = stream_posteriors
    return float(getattr(fn, "last_scored", 0.0)), float(getattr(fn, "last_verified", 0.0))

