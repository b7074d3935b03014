"""Streaming evaluation as keyword-spotting users measure it: miss rate vs false alarms per hour.

Clip accuracy says little about a detector that listens all day. Here long test streams are
assembled from the clips of a Speech Commands split (keywords interleaved with unknown words and
pauses, background noise mixed in at a chosen SNR, every keyword's time recorded), the detector
runs over them once per model and thinnable path, and the decision threshold is swept offline on
the stored smoothed posteriors (the model never re-runs per threshold).

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

import collections
import csv
import functools
import io
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bifsmn.audio import load_audio
from bifsmn.data.archive import AudioSource
from bifsmn.data.labels import SILENCE, UNKNOWN, keywords_of
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect import operating
from bifsmn.detect.cascade import Verifier, check_wake_hold, resolve_verifier
from bifsmn.detect.detector import (
    DEFAULT_REFRACTORY_MS,
    DEFAULT_SMOOTH_MS,
    IGNORED,
    Event,
    events_from_smoothed,
    smooth,
    smooth_frames,
)
from bifsmn.detect.gate import DEFAULT_GATE, MODEL_GATE, Gate, resolve_gate
from bifsmn.detect.operating import stored_points
from bifsmn.detect.placement import draw_placements
from bifsmn.detect.scorer import Scorer, models_task, scorers_for_blocks
from bifsmn.detect.stream import DEFAULT_HOP_MS, Posteriors, Streamer, hop_samples
from bifsmn.errors import BifsmnError
from bifsmn.outputs import atomic_write_text, check_output, make_folder

SR = 16000
NEGATIVE = "_negative_"  # label of placed negative-speech clips (never a keyword)
DEFAULT_THRESHOLDS = tuple(np.round(np.r_[np.arange(0.02, 0.981, 0.02), 0.99, 0.995, 0.998,
                                        0.999, 0.9995, 0.9999], 6))


# --------------------------------------------------------------------------- test streams
@dataclass(frozen=True)
class Segment:
    """A clip placed in a stream: ``label`` is a keyword, ``_unknown_`` or ``_silence_``."""

    label: str
    start: float
    end: float
    source: str = ""


def keyword_segments(segments: Sequence[Segment]) -> list[Segment]:
    """The placed clips whose label is a keyword (a stream's ground truth)."""
    return [s for s in segments if s.label not in IGNORED and s.label != NEGATIVE]


def negative_segments(segments: Sequence[Segment]) -> list[Segment]:
    """The placed negative-speech clips."""
    return [s for s in segments if s.label == NEGATIVE]


@dataclass
class EvalStream:
    """A synthetic long recording and what was placed in it."""

    audio: np.ndarray
    segments: list[Segment]
    sample_rate: int = SR
    snr_db: float = math.inf
    meta: dict = field(default_factory=dict)

    @property
    def keywords(self) -> list[Segment]:
        """The ground truth: placed clips whose label is a keyword."""
        return keyword_segments(self.segments)

    @property
    def negatives(self) -> list[Segment]:
        """Placed negative-speech clips (``--negatives``)."""
        return negative_segments(self.segments)

    @property
    def hours(self) -> float:
        return len(self.audio) / self.sample_rate / 3600.0


def noise_bed(noises: Sequence[np.ndarray], length: int, rng: np.random.Generator,
              min_piece: int = SR) -> np.ndarray:
    """``length`` samples of background noise at unit RMS: random excerpts of the noise
    recordings laid end to end (so a 10-minute stream does not loop one file)."""
    out = excerpts(noises, length, rng, min_piece, np.float32)
    rms = float(np.sqrt(np.mean(out.astype(np.float64) ** 2))) if len(out) else 0.0
    return out / rms if rms > 0 else out


def excerpts(sources: Sequence[np.ndarray], length: int, rng: np.random.Generator,
             min_piece: int, dtype=np.float32) -> np.ndarray:
    """``length`` entries (along the first axis) of random excerpts of ``sources``, each at least
    ``min_piece`` long (or a whole short source), laid end to end; zeros if no source has any.
    Shared by the audio noise bed and its feature-row twin
    (:mod:`bifsmn.detect.feature_streams`), so both draw noise the same way."""
    usable = [n for n in sources if len(n) > 0]
    out = np.zeros((length, *(usable[0].shape[1:] if usable else ())), dtype)
    pos = 0
    while usable and pos < length:
        src = usable[int(rng.integers(len(usable)))]
        piece = int(rng.integers(min(min_piece, len(src)), len(src) + 1))
        start = int(rng.integers(0, len(src) - piece + 1))
        take = min(piece, length - pos)
        out[pos:pos + take] = src[start:start + take]
        pos += take
    return out


#: How ``snr_db`` relates clips to noise (``--snr-mode``): see :func:`compose_stream`.
SNR_MODES = ("clip", "global")


def _power(clip: np.ndarray) -> float:
    return float(np.mean(np.asarray(clip, np.float64) ** 2)) if len(clip) else 0.0


def compose_stream(length: int, placements: Sequence[tuple[np.ndarray, int, str, str]],
                   noise: np.ndarray | None = None, snr_db: float = math.inf,
                   sample_rate: int = SR, snr_mode: str = "clip") -> EvalStream:
    """Lay clips at given sample offsets on silence, then add noise at ``snr_db``.

    ``placements``: ``(audio, start_sample, label, source)``; clips must not overlap. A clip's
    power is its mean square over the whole clip; ``P`` is the mean of the clips' powers. The
    noise (stationary, one level for the whole stream) has power ``P / 10^(snr_db / 10)``.

    * ``snr_mode="clip"`` (default): every clip is first scaled to power ``P``, so **each** word
      is at ``snr_db`` over the noise: what "keywords at 10 dB SNR" means to a KWS user, and
      how training mixes noise (``data.noise_snr_db``, per clip). Like a device's automatic gain
      control, quiet speakers are brought to the common level.
    * ``snr_mode="global"``: clips keep their recorded levels; ``snr_db`` holds only on average
      (dominated by loud clips), so quiet speakers' words are far below it (docs/detection.md,
      "SNR"). The only definition before session 11.

    A clean stream (``snr_db`` infinite or no noise) keeps every clip as recorded in both modes.
    """
    if snr_mode not in SNR_MODES:
        raise BifsmnError(f"snr_mode must be one of {', '.join(SNR_MODES)} (got {snr_mode!r})")
    noisy = noise is not None and math.isfinite(snr_db)
    ordered = sorted(placements, key=lambda p: p[1])
    clip_powers = [_power(p[0]) for p in ordered]
    powers = [pw for pw in clip_powers if pw > 0]
    level = float(np.mean(powers)) if powers else 0.0
    audio = np.zeros(length, np.float32)
    segments = []
    prev_end = 0
    for (clip, start, label, source), pw in zip(ordered, clip_powers, strict=True):
        end = start + len(clip)
        if start < prev_end or end > length:
            raise BifsmnError(f"clip {source or label} at sample {start} overlaps another or "
                              "runs past the stream end")
        if noisy and snr_mode == "clip" and pw > 0:
            clip = np.asarray(clip, np.float64) * math.sqrt(level / pw)
        audio[start:end] = clip
        prev_end = end
        segments.append(Segment(label, start / sample_rate, end / sample_rate, source))
    if noisy and powers:
        gain = math.sqrt(level / 10.0 ** (snr_db / 10.0))
        audio = (audio + gain * noise[:length]).astype(np.float32)
    else:
        snr_db = math.inf
    return EvalStream(audio, segments, sample_rate, snr_db)


def negative_files(folder: str | Path, split: str = "validation") -> list[str]:
    """Recordings of a negative-speech folder (any depth) in ``split``: files are split
    80/10/10 % by a stable SHA-1 hash of their path relative to the folder
    (:func:`bifsmn.data.archive.hash_split`, as for training), so calibration and evaluation use
    only the validation share."""
    try:
        return [str(p) for p in AudioSource(folder).split_files(split)]
    except BifsmnError as exc:
        raise BifsmnError(f"--negatives: {exc}") from None


def build_stream(ds, split: str, minutes: float, snr_db: float = math.inf, seed: int = 0,
                 keyword_fraction: float = 0.5, gap: tuple[float, float] = (0.5, 2.0),
                 negatives: Sequence[str | Path] = (), negative_fraction: float = 0.3,
                 snr_mode: str = "clip") -> EvalStream:
    """A seeded ``minutes``-long stream from the clips of ``ds.items(split)``.

    ``ds`` is a :class:`bifsmn.data.speech_commands.SpeechCommands` (12-class task, or keywords
    of one's own: its keywords are the stream's, every other word is unknown). The stream
    alternates a pause (uniform in ``gap`` seconds) and a clip: a keyword with probability
    ``keyword_fraction``, else an unknown word. With ``negatives`` (recordings of other speech),
    a clip is one of them with probability ``negative_fraction`` (label ``_negative_``), and the
    rest are drawn as above. Clips are drawn with replacement, so a small split still fills a
    long stream. The same seed gives the same clip sequence at every SNR (only the noise level
    changes), so SNRs are compared on the same words. ``snr_mode``: see :func:`compose_stream`.
    """
    items = [it for it in ds.items(split) if it.path is not None]
    negs = [str(p) for p in negatives]
    words = set(keywords_of(ds.labels))  # the ten commands, or the data set's own keywords
    kws = [it for it in items if it.word in words]
    unk = [it for it in items if it.word not in words and it.word != SILENCE]
    if not kws:
        raise BifsmnError(f"split '{split}' has no keyword clips", ds.root)
    rng = np.random.default_rng(seed)
    length = int(round(minutes * 60 * SR))
    cache: dict[str, np.ndarray] = {}

    def path_of(item) -> str:  # a negative-speech path, or a data set item
        return item if isinstance(item, str) else item.path

    def clip_of(item) -> np.ndarray:
        path = path_of(item)
        if path not in cache:
            cache[path] = load_audio(path)
        return cache[path]

    placements = []
    for pos, pool, it in draw_placements(rng, length, SR, gap, kws, unk, keyword_fraction, negs,
                                         negative_fraction, lambda _, it: len(clip_of(it))):
        label = NEGATIVE if pool == "negative" else it.word if pool == "keyword" else UNKNOWN
        placements.append((clip_of(it), pos, label, path_of(it)))
    noise = None
    if math.isfinite(snr_db) and ds.noise_files:
        nrng = np.random.default_rng([seed, 1])
        noise = noise_bed([load_audio(f) for f in ds.noise_files], length, nrng)
    if not any(p[2] not in (UNKNOWN, NEGATIVE) for p in placements):
        raise BifsmnError(f"a {minutes:g}-minute stream holds no keyword clip; use more --minutes")
    stream = compose_stream(length, placements, noise, snr_db, snr_mode=snr_mode)
    stream.meta = {"split": split, "seed": seed, "minutes": minutes, "data": str(ds.root),
                   "negative_files": len(negs), "snr_mode": snr_mode}
    return stream


# --------------------------------------------------------------------------- metrics
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


def classify_events(events: Sequence[Event], truth: Sequence[Segment],
                    tolerance: float = 0.5) -> list[tuple[Event, str]]:
    """Each event with its kind: ``"hit"`` (first match of a keyword), ``"dup"`` (another event
    on an already matched keyword) or ``"fa"`` (false alarm), by the rule of the module
    docstring. One rule for the counts of :func:`match_events` and for analyses that need the
    false-alarm events themselves."""
    by_label: dict[str, list[Segment]] = {}
    for t in sorted(truth, key=lambda s: s.start):
        by_label.setdefault(t.label, []).append(t)
    used: dict[str, set[int]] = {lb: set() for lb in by_label}
    out = []
    for ev in sorted(events, key=lambda e: (e.end, e.label)):
        match = seen = None
        for i, t in enumerate(by_label.get(ev.label, ())):
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
    stream_posteriors.last_scored = ws.windows_scored / max(ws.windows_seen, 1)
    stream_posteriors.last_verified = ws.windows_verified / max(ws.windows_scored, 1)
    return Posteriors.concat(parts, len(scorer.labels), st.window, st.sample_rate), dt


# --------------------------------------------------------------------------- outputs
CSV_FIELDS = ("system", "model", "blocks", "snr_db", "threshold", "keywords", "hits", "misses",
              "false_alarms", "duplicates", "miss_rate", "fa_per_hour", "hours",
              "negative_clips", "negative_clips_fired")


def write_csv(results: Sequence[SystemResult], path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_FIELDS)
    for r in results:
        for t, s in zip(r.thresholds, r.scores, strict=True):
            w.writerow([r.name, r.model, r.blocks, r.snr_db, f"{t:g}", s.keywords, s.hits,
                        s.misses, s.false_alarms, s.duplicates, f"{s.miss_rate:.6f}",
                        f"{s.fa_per_hour:.6f}", f"{s.hours:.6f}", s.negatives,
                        s.negatives_fired])
    atomic_write_text(path, buf.getvalue())


def _targets(fa_target: float | Sequence[float]) -> list[float]:
    t = [float(fa_target)] if isinstance(fa_target, int | float) else [float(v) for v in
                                                                        fa_target]
    if not t or not all(math.isfinite(v) and v > 0 for v in t):  # NaN would pass a <= 0 test
        raise BifsmnError("FA targets must be positive finite numbers (got "
                          f"{', '.join(f'{v:g}' for v in t) or 'none'})")
    return sorted(set(t))


def det_limits(results: Sequence[SystemResult], fa_target: float | Sequence[float] = 1.0
               ) -> tuple[float, float, float]:
    """(x_min, x_max, zero_x) of the log FA/h axis.

    Zero false alarms cannot sit on a log axis; such points are drawn at ``zero_x``, below both
    the smallest non-zero rate a stream can show (one event: 1/hours) and the FA target, so the
    picture never suggests that "no false alarm in 10 minutes" is worse than the target. The
    upper limit follows the worst system (untrained models reach 10^4 FA/h).
    """
    fa_target = min(_targets(fa_target))
    hours = min(s.hours for r in results for s in r.scores)
    zero_x = min(0.5 / hours, fa_target / 2)
    nonzero = [s.fa_per_hour for r in results for s in r.scores if s.false_alarms > 0]
    lo = zero_x / 1.5
    hi = max(max(nonzero, default=0.0) * 1.5, fa_target * 10, lo * 100)
    return lo, hi, zero_x


def plot_det(results: Sequence[SystemResult], path: Path,
             fa_target: float | Sequence[float] = 1.0) -> None:
    """DET curve: miss rate against FA/h (log x), every system and SNR in one figure; each
    curve follows the threshold from low (right) to high (left)."""
    from matplotlib import rcParams

    from bifsmn.plots import save_png, subplots

    lo, hi, zero_x = det_limits(results, fa_target)
    fig, ax = subplots(figsize=(7.5, 5))
    styles = ["-", "--", ":", "-."]
    snrs = sorted({r.snr_db for r in results})
    names = list(dict.fromkeys(r.name for r in results))
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    for r in results:
        xs = [s.fa_per_hour if s.false_alarms else zero_x for s in r.scores]
        ys = [100 * s.miss_rate for s in r.scores]
        snr = "clean" if math.isinf(r.snr_db) else f"{r.snr_db:g} dB"
        ax.plot(xs, ys, marker=".", ms=3, ls=styles[snrs.index(r.snr_db) % len(styles)],
                color=colors[names.index(r.name) % len(colors)], label=f"{r.name}, {snr}")
    for t in _targets(fa_target):
        ax.axvline(t, color="0.5", lw=0.8)
        ax.text(t, 101, f" {t:g} FA/h", fontsize=7, color="0.4", va="bottom")
    for r in results:  # the model's stored (calibrated) points, as markers
        for _, s in r.stored:
            ax.plot([s.fa_per_hour if s.false_alarms else zero_x], [100 * s.miss_rate],
                    marker="*", ms=9, ls="none",
                    color=colors[names.index(r.name) % len(colors)])
    ax.axvline(zero_x, color="0.8", lw=0.8)
    ax.text(zero_x, 101, "0 FA ", fontsize=7, color="0.4", va="bottom", ha="right")
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(0, 100)
    ax.set_xlabel("false alarms per hour")
    ax.set_ylabel("miss rate (%)")
    hours = min(s.hours for r in results for s in r.scores)
    ax.set_title(f"DET, threshold sweep ({60 * hours:g} min per stream)", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    save_png(fig, path)


def _neg(s: Score) -> str:
    return f"{100 * s.negative_rate:.1f}%" if s.negatives else "-"


def format_summary(results: Sequence[SystemResult], fa_target: float | Sequence[float] = 1.0
                   ) -> str:
    """One line per system x SNR and FA target: the sweep's best single threshold within the
    target (chosen on this stream) and, where the model stores operating points, the stored
    per-keyword point for that rate (chosen by ``bifsmn calibrate`` on other streams)."""
    lines = [f"{'system':<32} {'SNR':>6} {'FA/h<=':>6} {'miss (FA/h) swept':>22} "
             f"{'threshold':>9} {'neg. clips':>10} {'stored point: miss (FA/h)':>26} "
             f"{'neg. clips':>10} {'net%':>5} {'RTF':>7}"]
    for r in results:
        snr = "clean" if math.isinf(r.snr_db) else f"{r.snr_db:g}"
        stored = dict(r.stored)
        for t in _targets(fa_target):
            op = r.operating_point(t)
            if op is None:
                worst = min(r.scores, key=lambda s: s.fa_per_hour)
                # the lowest FA/h any threshold reached ("min" read as minutes here), in
                # the column's 22 characters
                low = worst.fa_per_hour
                miss = f"n/a (best {low:.3g} FA/h)" if low < 1000 else f"n/a (best {low:.0f}/h)"
                th, neg = "-", "-"
            else:
                th, s = op
                miss = f"{100 * s.miss_rate:.2f}% ({s.fa_per_hour:.3g})"
                th, neg = f"{th:g}", _neg(s)
            sp = stored.get(t)
            smiss = "-" if sp is None else f"{100 * sp.miss_rate:.2f}% ({sp.fa_per_hour:.3g})"
            sneg = "-" if sp is None else _neg(sp)
            lines.append(f"{r.name:<32} {snr:>6} {t:>6g} {miss:>22} {th:>9} {neg:>10} "
                         f"{smiss:>26} {sneg:>10} {100 * r.scored_fraction:5.1f} "
                         f"{r.rtf:7.4f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- driver
def check_stream_settings(minutes: float, seed: int, refractory_ms: float | None) -> None:
    """The stream settings eval-stream and calibrate share, refused in one line each where
    they would fail later as a traceback (NaN or infinite minutes when counting samples, a
    negative seed in numpy's generator) or run without meaning (a negative refractory time)."""
    if not (math.isfinite(minutes) and minutes > 0):
        raise BifsmnError(f"--minutes must be a positive finite number (got {minutes})")
    if seed < 0:
        raise BifsmnError(f"--seed must be 0 or more (got {seed})")
    if refractory_ms is not None and not (math.isfinite(refractory_ms) and refractory_ms >= 0):
        raise BifsmnError(f"--refractory-ms must be a finite number >= 0 (got {refractory_ms})")


#: the SNRs a stream may be mixed at: beyond them the noise gain under- or overflows
SNR_RANGE_DB = (-100.0, 200.0)


def parse_snrs(text: str | Sequence[float]) -> list[float]:
    """``"10,20"`` -> [10.0, 20.0]; ``inf``/``clean`` mean no noise."""
    if not isinstance(text, str):
        return [float(v) for v in text]
    out = []
    for part in text.split(","):
        p = part.strip().lower()
        if not p:
            continue
        if p in ("inf", "clean", "none"):
            out.append(math.inf)
            continue
        try:
            value = float(p)
        except ValueError:
            raise BifsmnError(f"bad SNR {part!r} (numbers in dB, or 'clean')") from None
        if value == math.inf:  # "+inf", "infinity": no noise, as "inf"
            out.append(value)
            continue
        if not SNR_RANGE_DB[0] <= value <= SNR_RANGE_DB[1]:  # also NaN and -inf
            raise BifsmnError(f"SNR {part.strip()!r} outside {SNR_RANGE_DB[0]:g} to "
                              f"{SNR_RANGE_DB[1]:g} dB (or 'clean' for no noise)")
        out.append(value)
    if not out:
        raise BifsmnError("give at least one SNR")
    return out


def eval_stream(data: str | Path, models: Sequence[str | Path | Scorer],
                blocks: Sequence[int] = (8,), minutes: float = 10.0,
                snrs: Sequence[float] = (10.0, 20.0), seed: int = 0, split: str | None = None,
                out: str | Path | None = None, hop_ms: float | None = None,
                smooth_ms: float = DEFAULT_SMOOTH_MS,
                refractory_ms: float | None = None, tolerance: float = 0.5,
                thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                fa_target: float | Sequence[float] = (0.5, 1.0),
                rearm: bool = False, negatives: str | Path | None = None,
                negatives_split: str = "testing",
                gate: Gate | None | str = MODEL_GATE, snr_mode: str = "clip",
                verifier: str | Path | None = None, wake: float | None = None,
                hold_ms: float | None = None, log: Callable[[str], None] | None = None
                ) -> list[SystemResult]:
    """Build the streams, score every model x path once per stream, sweep thresholds, and
    write ``sweep.csv``, ``det.png``, ``summary.json`` and ``truth_*.csv`` under ``out``.

    ``negatives``: a folder of other speech whose ``negatives_split`` share (hash split; by
    default ``testing``, never used by training or calibration) is mixed in
    (30 % of the clips); ``fa_target``: one or more FA/h budgets to report. A model with stored
    operating points is also scored at each of them (its own per-keyword thresholds).
    ``gate``: ``"model"`` (default) runs each model behind the gate its operating points were
    calibrated with (the default gate for a model without a record); a :class:`Gate` or None
    applies to every model. ``snr_mode``: how noisy streams set each word's SNR
    (:func:`compose_stream`). ``verifier``: every model runs as the first stage of a cascade
    with this second stage (:mod:`bifsmn.detect.cascade`; ``wake``/``hold_ms`` default to those
    a model's record was calibrated with). ``hop_ms`` / ``refractory_ms``: None (default) runs
    each model at the values its record was calibrated with (100 / 1000 ms without one)."""
    log = log or logging.getLogger("bifsmn.detect").info  # the CLI passes print
    check_stream_settings(minutes, seed, refractory_ms)
    check_wake_hold(wake, hold_ms)
    if not (math.isfinite(smooth_ms) and smooth_ms >= 0):
        raise BifsmnError(f"--smooth-ms must be >= 0 (got {smooth_ms:g})")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise BifsmnError(f"--tolerance-ms must be >= 0 (got {1000 * tolerance:g})")
    num_classes, keywords = models_task(models)  # the ten commands, or the models' own
    ds = SpeechCommands(data, num_classes, keywords=keywords)
    split = split or ds.default_eval_split()
    if not ds.noise_files and any(math.isfinite(s) for s in snrs):
        log(f"note: {ds.root} has no _background_noise_/ files; streams are clean")
        snrs = [math.inf]
    thresholds = sorted(float(t) for t in thresholds)
    targets = _targets(fa_target)
    outdir = Path(out) if out is not None else None
    if outdir is not None:  # before minutes of work: the outputs are written at the end
        if outdir.exists() and not outdir.is_dir():
            raise BifsmnError("--out is a file, not a folder for the results", outdir)
        for name in ("sweep.csv", "det.png", "summary.json"):
            check_output(outdir / name)
    negs = negative_files(negatives, negatives_split) if negatives else []
    if negatives and not negs:
        raise BifsmnError(f"--negatives {negatives}: no recording falls in the "
                          f"{negatives_split} share")
    streams = {}
    for snr in dict.fromkeys(snrs):
        streams[snr] = build_stream(ds, split, minutes, snr, seed, negatives=negs,
                                    snr_mode=snr_mode)
    first = next(iter(streams.values()))
    log(f"streams: {len(streams)} x {minutes:g} min from {ds.root} [{split}], "
        f"{len(first.keywords)} keywords ({len({k.source for k in first.keywords})} distinct "
        "clips), "
        f"{sum(s.label == UNKNOWN for s in first.segments)} unknown words"
        + (f" and {len(first.negatives)} negative-speech clips ({len(negs)} files)"
           if negs else "") + " each")
    results: list[SystemResult] = []
    labels = _display_names(models)
    load_verifier = functools.cache(Verifier.load)  # one read and hash for every model and path
    for model, label in zip(models, labels, strict=True):
        for b, scorer in scorers_for_blocks(model, list(blocks), log):
            name = f"{label} [{b} blocks]"
            ver, ops = resolve_verifier(verifier, getattr(scorer, "operating_points", None),
                                        wake, hold_ms, False, scorer.name,
                                        getattr(scorer, "cascade_points", None),
                                        load_verifier)
            def note(msg: str, name: str = name) -> None:
                log(f"{name}: note: {msg}")

            sr = scorer.feature_config.sample_rate
            hop = hop_samples(operating.stored_setting(ops, "hop_ms", hop_ms, DEFAULT_HOP_MS,
                                                       note),
                              sr, scorer.feature_config.clip_samples)
            n = smooth_frames(smooth_ms, hop, sr)
            refr = round(operating.stored_setting(ops, "refractory_ms", refractory_ms,
                                                  DEFAULT_REFRACTORY_MS, note) * sr / 1000.0)
            g = resolve_gate(gate, ops)
            if g != DEFAULT_GATE:
                log(f"{name}: gate {'off' if g is None else g.to_dict()}")
            if ver is not None:
                name = f"{name} + {ver.name}"
                log(f"{name}: verifier woken at {ver.wake:g}, held {ver.hold_ms:g} ms")
            for snr, st in streams.items():
                post, dt = stream_posteriors(scorer, st.audio, hop, gate=g, verifier=ver)
                frac = stream_posteriors.last_scored
                if ver is not None:
                    log(f"{name}: verifier ran on {100 * stream_posteriors.last_verified:.1f}% "
                        "of the windows the gate let through")
                dur = len(st.audio) / st.sample_rate
                scores = sweep(post, list(scorer.labels), st.keywords, st.hours, thresholds, n,
                               refr, tolerance, rearm, negatives=st.negatives)
                stored = _stored_scores(scorer, ops, b, post, st, targets, hop, refr,
                                        tolerance, rearm)
                r = SystemResult(name, str(model), b, snr, dt / dur, dt, thresholds, scores,
                                 frac, stored)
                results.append(r)
                snr_s = "clean" if math.isinf(snr) else f"{snr:g} dB"
                log(f"{name}, {snr_s}: RTF {r.rtf:.4f} ({dt:.1f} s for {dur / 60:.1f} min; "
                    f"network ran on {100 * frac:.1f}% of windows)")
    if not results:
        raise BifsmnError("no model/path combination could be evaluated")
    if outdir is not None:  # all outputs at the end: a kill never leaves two runs' files mixed
        make_folder(outdir, "folder for the results (--out)")
        truths = {f"truth_{_snr_tag(snr)}.csv" for snr in streams}
        for stale in outdir.glob("truth_*.csv"):  # an earlier run's other SNRs: not this one's
            if stale.name not in truths:
                stale.unlink()
        for snr, st in streams.items():
            _write_truth(st, outdir / f"truth_{_snr_tag(snr)}.csv")
        write_csv(results, outdir / "sweep.csv")
        plot_det(results, outdir / "det.png", targets)
        _write_summary(results, outdir / "summary.json", targets, first,
                       {"smooth_ms": smooth_ms, "tolerance_s": tolerance,
                        "hop_ms": hop_ms, "refractory_ms": refractory_ms, "rearm": rearm})
    return results


def _stored_scores(scorer, ops: dict | None, blocks: int, post: Posteriors, st: EvalStream,
                   targets: Sequence[float], hop: int, refractory: int, tolerance: float,
                   rearm: bool) -> list[tuple[float, Score]]:
    """Scores of the stored operating points in use (``ops``: the model's own, or those
    calibrated with the verifier) at the given rates (if any)."""
    out = []
    pts = {float(p["fa_per_hour"]): p for p in stored_points(ops, blocks)}
    for t in targets:
        p = pts.get(t)
        if p is None:
            continue
        n = smooth_frames(float(p.get("smooth_ms", DEFAULT_SMOOTH_MS)), hop, post.sample_rate)
        th = {k: float(v) for k, v in p["thresholds"].items() if k in scorer.labels}
        ev = events_from_smoothed(smooth(post.probs, n), post.ends, list(scorer.labels), th,
                                  refractory, post.window, post.sample_rate, rearm,
                                  post.audio_end)
        out.append((t, score_events(ev, st.keywords, st.hours, tolerance, st.negatives)))
    return out


def _display_names(models: Sequence[str | Path | Scorer]) -> list[str]:
    """Short names for plots and tables: the file name, or parent/name where two models share
    a file name (``runs/a/best.pt`` and ``runs/b/best.pt``)."""
    names = []
    for m in models:
        if isinstance(m, str | Path):
            p = Path(m)
            names.append((p.name, f"{p.parent.name}/{p.name}" if p.parent.name else p.name))
        else:
            n = str(getattr(m, "name", type(m).__name__))
            names.append((n, n))
    short = [a for a, _ in names]
    return [b if short.count(a) > 1 else a for a, b in names]


def _snr_tag(snr: float) -> str:
    return "clean" if math.isinf(snr) else f"{snr:g}dB"


def _write_truth(stream: EvalStream, path: Path) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["label", "start", "end", "source"])
    for s in stream.segments:
        w.writerow([s.label, f"{s.start:.4f}", f"{s.end:.4f}", s.source])
    atomic_write_text(path, buf.getvalue())


def _score_dict(s: Score) -> dict:
    return {"miss_rate": s.miss_rate, "fa_per_hour": s.fa_per_hour, "hits": s.hits,
            "false_alarms": s.false_alarms, "duplicates": s.duplicates,
            "negative_clips": s.negatives,
            "negative_rate": s.negative_rate if s.negatives else None,
            "per_keyword": {lb: {"keywords": n, "misses": n - h,
                                 "miss_rate": (n - h) / n if n else None, "false_alarms": f}
                            for lb, n, h, f in s.by_keyword}}


def _write_summary(results: Sequence[SystemResult], path: Path,
                   fa_target: float | Sequence[float], stream: EvalStream,
                   settings: dict | None = None) -> None:
    """``summary.json``; ``settings``: the sweep's smoothing and event rules as given (hop and
    refractory None: each model's stored values), so a reader knows what the rows measured."""
    targets = _targets(fa_target)
    rows = []
    for r in results:
        ops = {}
        for t in targets:
            op = r.operating_point(t)
            ops[f"{t:g}"] = None if op is None else {"threshold": op[0], **_score_dict(op[1])}
        row = {
            "system": r.name, "model": r.model, "blocks": r.blocks,
            # JSON has no infinity: a clean stream is snr_db null and says so
            "snr_db": None if math.isinf(r.snr_db) else r.snr_db,
            "clean": math.isinf(r.snr_db),
            "rtf": r.rtf, "seconds": r.seconds, "scored_fraction": r.scored_fraction,
            "operating_points": ops,
            "stored_points": {f"{t:g}": _score_dict(s) for t, s in r.stored},
        }
        if 1.0 in targets:  # the single point of earlier summaries
            row["operating_point"] = ops["1"]
        rows.append(row)
    doc = {"fa_targets_per_hour": targets, "stream": stream.meta,
           "keywords_per_stream": len(stream.keywords),
           "negative_clips_per_stream": len(stream.negatives),
           "hours_per_stream": stream.hours, "settings": settings or {}, "systems": rows}
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
