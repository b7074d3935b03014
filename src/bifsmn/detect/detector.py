"""Keyword detection on streaming posteriors: smoothing, thresholds, refractory time.

Raw per-window posteriors flicker: a keyword is seen by ~10 overlapping windows, some of which
cut it. Following the classic small-footprint KWS recipe (Chen et al., ICASSP 2014) the
posterior of each class is smoothed with a causal moving average over the last ``smooth_ms``
(5 windows at the default 500 ms / 100 ms hop; fewer at the very start). A keyword fires when its
smoothed posterior reaches its threshold, and cannot fire again within ``refractory_ms``.
Optionally (``rearm=True``) it must also have dropped below its threshold in between, so that a
score that stays high for longer than the refractory time still gives one event; this is off by
default because it makes the number of events non-monotone in the threshold, which muddles the
threshold sweep of the evaluation. ``_unknown_`` and ``_silence_`` never fire.

The same two steps are implemented twice on purpose: incrementally in :class:`Detector` for live
audio, and on whole arrays (:func:`smooth`, :func:`trigger_frames`) for the threshold sweep of
the evaluation; both give the same floats and the same events (tested).
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from bifsmn import blocks as blocks_mod
from bifsmn.data.labels import NON_KEYWORDS
from bifsmn.detect import operating
from bifsmn.detect.audio_io import iter_audio_blocks
from bifsmn.detect.cascade import AUTO, Verifier, default_verifier, resolve_verifier
from bifsmn.detect.gate import MODEL_GATE, Gate, resolve_gate
from bifsmn.detect.scorer import Scorer, bundled_model, load_scorer
from bifsmn.detect.stream import DEFAULT_BATCH, DEFAULT_HOP_MS, Posteriors, Streamer, hop_samples
from bifsmn.errors import BifsmnError, NonFiniteError

IGNORED = NON_KEYWORDS
DEFAULT_SMOOTH_MS = operating.DEFAULT_SMOOTH_MS
DEFAULT_REFRACTORY_MS = 1000.0
DEFAULT_THRESHOLD = 0.5  # for models without stored operating points
_NOTED: set[str] = set()


def _note_once(key: str, message: str) -> None:
    import logging

    if key not in _NOTED:
        _NOTED.add(key)
        logging.getLogger("bifsmn.detect").warning(message)


@dataclass(frozen=True)
class Event:
    """A detected keyword: the 1-s window of the triggering frame, in seconds of the stream,
    and the smoothed posterior that crossed the threshold."""

    label: str
    start: float
    end: float
    score: float

    def to_dict(self) -> dict:
        return asdict(self)


def _event(label: str, end: int, window: int, sample_rate: int, audio_end: int | None,
           score: float) -> Event:
    stop = end if audio_end is None else min(end, audio_end)
    return Event(label, max(end - window, 0) / sample_rate, stop / sample_rate, score)


def smooth_frames(smooth_ms: float, hop: int, sample_rate: int) -> int:
    """Moving-average length in windows (at least 1)."""
    if not 0 <= smooth_ms < math.inf:  # NaN too
        raise BifsmnError(f"smoothing must be a finite number of ms >= 0 (got {smooth_ms})")
    return max(1, round(smooth_ms * sample_rate / 1000.0 / hop))


def smooth(probs: np.ndarray, n: int) -> np.ndarray:
    """Causal moving average over the last ``n`` rows (fewer at the start), float64.

    Summation is chronological, term by term, exactly as :class:`Detector` does it online, so
    the two agree to the last bit.
    """
    p = np.asarray(probs, np.float64)
    k = len(p)
    acc = np.zeros_like(p)
    head = min(n - 1, k)
    run = np.zeros(p.shape[1:], np.float64)
    for j in range(head):
        run = run + p[j]
        acc[j] = run
    if k >= n:
        tail = np.zeros((k - n + 1, *p.shape[1:]), np.float64)
        for i in range(n):
            tail = tail + p[i:k - n + 1 + i]
        acc[n - 1:] = tail
    counts = np.minimum(np.arange(1, k + 1), n).astype(np.float64)
    return acc / counts.reshape(-1, *([1] * (p.ndim - 1)))


def trigger_frames(scores: np.ndarray, ends: np.ndarray, threshold: float,
                   refractory: int, rearm: bool = False) -> np.ndarray:
    """Indices of the frames that fire for one class (whole-stream form of the online rule).

    A class fires on a frame whose score is at or above ``threshold`` if its last event ended
    at least ``refractory`` samples earlier. Greedy earliest picking gives the largest set of
    events that are ``refractory`` apart, so raising the threshold (fewer eligible frames) never
    gives more events. With ``rearm``, a class must also have dropped below the threshold since
    its last event: a score that stays high then gives one event however long it lasts, but
    the event count is no longer monotone in the threshold.
    """
    above = np.asarray(scores) >= threshold
    up = np.flatnonzero(above)
    if up.size == 0:
        return up
    down = np.flatnonzero(~above)
    e = np.asarray(ends)
    picked = []
    j = int(up[0])
    while True:
        picked.append(j)
        first = max(j + 1, int(np.searchsorted(e, e[j] + refractory, side="left")))
        if rearm:
            k = int(np.searchsorted(down, j, side="right"))  # first re-arming frame after j
            if k == down.size:
                break
            first = max(first, int(down[k]) + 1)
        k = int(np.searchsorted(up, first, side="left"))
        if k == up.size:
            break
        j = int(up[k])
    return np.asarray(picked, np.int64)


def events_from_smoothed(smoothed: np.ndarray, ends: np.ndarray, labels: list[str],
                         thresholds: Mapping[str, float], refractory: int, window: int,
                         sample_rate: int, rearm: bool = False, audio_end: int | None = None
                         ) -> list[Event]:
    """All events of a whole stream's smoothed posteriors, in time order (then label order).
    Event times are clipped to the real audio ``[0, audio_end]``."""
    found: list[tuple[int, int, Event]] = []
    for c, label in enumerate(labels):
        if label not in thresholds:
            continue
        for j in trigger_frames(smoothed[:, c], ends, thresholds[label], refractory, rearm):
            e = int(ends[j])
            found.append((e, c, _event(label, e, window, sample_rate, audio_end,
                                       float(smoothed[j, c]))))
    found.sort(key=lambda t: (t[0], t[1]))
    return [ev for _, _, ev in found]


def _rebuild_detector(args: dict, changes: dict[tuple[str, str], float],
                      shas: tuple[str | None, str | None] = (None, None)) -> Detector:
    """Unpickle a :class:`Detector` (:meth:`Detector.__reduce__`): refused where its model or
    verifier file holds other contents than when it was built."""
    det = Detector(**args)
    now = (det._model_sha, None if det.verifier is None else det.verifier.sha256)
    for what, was, is_ in zip(("model", "verifier"), shas, now, strict=True):
        if was and is_ and was != is_:
            raise BifsmnError(f"cannot unpickle the detector: its {what} file changed since the "
                              "detector was built (calibrated or exported again?)")
    for (what, keyword), value in changes.items():
        getattr(det, f"set_{what}")(keyword, value)
    det.reset()  # a new stream
    return det


def _number(value: object, name: str) -> float:
    """A numeric argument as a float (Python and numpy numbers, 0-d arrays and tensors,
    Decimal, Fraction), or one line naming it: a string such as ``"0.5"`` would otherwise fail
    deep inside, in formatting or a comparison."""
    bad = isinstance(value, str | bytes | complex) or blocks_mod.is_boolean(value) \
        or getattr(value, "ndim", 0) != 0 or "complex" in str(getattr(value, "dtype", ""))
    try:
        number = None if bad else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # 10**400 too
        number = None
    if number is None:
        raise BifsmnError(f"{name} must be a number, not {value!r}")
    return number


def _real(value: object, name: str) -> float | None:
    """:func:`_number`, None passing through (the argument's default)."""
    return None if value is None else _number(value, name)


def _reals(values: Mapping[str, object] | None, name: str) -> dict[str, float] | None:
    """Per-keyword numbers (``thresholds``, ``smoothing``, ``refractories``) as floats."""
    if values is None:
        return None
    if not isinstance(values, Mapping):
        raise BifsmnError(f"{name} must map keywords to numbers, not {type(values).__name__}")
    return {k: _number(v, f"{name}[{k!r}]") for k, v in values.items()}


class Detector:
    """Streaming keyword detector in the spirit of openWakeWord.

    >>> det = Detector("model.pt", blocks=8, threshold=0.5, thresholds={"yes": 0.7})
    >>> for chunk in mic_chunks:           # 16 kHz mono float32 or int16, any chunk size
    ...     for ev in det.process(chunk):
    ...         print(ev.label, ev.start, ev.end, ev.score)
    >>> det.detect_file("long_recording.flac")   # any rate/channels, streamed from disk

    ``model``: a ``.pt`` checkpoint, a ``.bkws`` engine file, a :class:`Scorer`, or None for the
    bundled model. ``blocks``: the thinnable path to run; None (default) runs the model's
    deepest path (8 blocks of the paper's 8 layers; the one path of a file exported with one), a
    :class:`Scorer` its own (its ``blocks``). Thresholds and smoothing come from the model's
    stored operating point for ``fa_per_hour`` (default 1 FA/h; see ``bifsmn calibrate``) unless
    ``threshold`` is given; a model without stored points uses threshold 0.5 and says so once
    (``operating_point`` is then None, ``threshold_source`` says which rule is in use).
    ``gate``: which windows reach the network (:mod:`bifsmn.detect.gate`): by default
    (``"model"``) the gate stored with the model's operating points, because its thresholds were
    chosen behind it (the default gate for a model without a record); a :class:`Gate` overrides
    it, None scores every window.
    ``det.gate`` is the gate in use. ``verifier``: a second model (file,
    :class:`~bifsmn.detect.cascade.Verifier`, ``"bundled"``; several files, as a list or
    ``"A.bkws+B.bkws"``: the mean of their logits) woken by this one
    (:mod:`bifsmn.detect.cascade`); the default ``"auto"`` runs the bundled model as the first
    stage of the bundled two-stage detector and any other model alone, None or ``"none"`` runs
    the model alone (:func:`~bifsmn.detect.cascade.default_verifier` says why);
    ``wake`` and ``hold_ms`` default to those the stored points were calibrated with. A model
    whose points were calibrated with a verifier needs it, unless ``threshold`` is given.
    ``hop_ms`` (how often a window is scored) and ``refractory_ms`` default to the values the
    operating points were calibrated with (100 and 1000 ms without a record).
    ``threshold``, ``smooth_ms`` and ``refractory_ms`` apply to every keyword;
    ``thresholds``, ``smoothing`` and ``refractories`` override them per keyword (and
    :meth:`set_threshold`, :meth:`set_smoothing`, :meth:`set_refractory` change them while a
    stream runs); ``rearm`` also requires the score to drop below the threshold between two
    events of a keyword. Times are seconds since the stream began (the last :meth:`reset`).

    A detector follows one stream: use one per thread (or per stream). A second thread calling
    :meth:`process`, :meth:`flush`, :meth:`reset`, ``detect_*`` or :meth:`iter_file` while one
    runs (an ``iter_file`` holds the detector until its file ends or the generator is closed)
    gets a :class:`~bifsmn.errors.BifsmnError` instead of interleaving two streams' audio. The
    :meth:`set_threshold` family may be called from another thread: a change waits for the
    chunk being turned into events and applies from the next one. Detectors may share one
    ``EngineScorer`` (an ``Engine`` is safe to share).
    """

    _history: deque[list[float]]  # set by reset()

    def __init__(self, model: str | Path | Scorer | None = None, blocks: int | None = None,
                 threshold: float | None = None, thresholds: Mapping[str, float] | None = None,
                 smooth_ms: float | None = None,
                 refractory_ms: float | None = None, hop_ms: float | None = None,
                 ignore: Iterable[str] = IGNORED, batch_size: int = DEFAULT_BATCH,
                 rearm: bool = False, smoothing: Mapping[str, float] | None = None,
                 refractories: Mapping[str, float] | None = None,
                 fa_per_hour: float | None = None, gate: Gate | None | str = MODEL_GATE,
                 verifier: str | Path | Sequence[str | Path] | Verifier | None = AUTO,
                 wake: float | None = None,
                 hold_ms: float | None = None) -> None:
        threshold, smooth_ms, refractory_ms, hop_ms, fa_per_hour, wake, hold_ms = (
            _real(v, name) for v, name in (
                (threshold, "threshold"), (smooth_ms, "smooth_ms"),
                (refractory_ms, "refractory_ms"), (hop_ms, "hop_ms"),
                (fa_per_hour, "fa_per_hour"), (wake, "wake"), (hold_ms, "hold_ms")))
        thresholds, smoothing, refractories = (
            _reals(m, name) for m, name in ((thresholds, "thresholds"), (smoothing, "smoothing"),
                                            (refractories, "refractories")))
        if ignore is None:  # nothing beyond the non-keyword classes, which are never detected
            ignore = ()
        if not isinstance(ignore, str):
            ignore = tuple(ignore)  # an iterator would be spent here and lost to pickling
        # what pickling rebuilds the detector from (:meth:`__reduce__`): the arguments (copies
        # of the mappings) and the set_* changes made since
        self._init_args = {k: dict(v) if isinstance(v, Mapping) else v
                           for k, v in locals().items() if k != "self"}
        self._changes: dict[tuple[str, str], float] = {}
        self._busy = threading.Lock()  # held while a call feeds the stream (_exclusive)
        # held while posteriors become events, and by the set_* changes (another thread's)
        self._settings = threading.Lock()
        self.scorer = load_scorer(model, blocks)
        # the model file's contents as built: a detector unpickled over a file rewritten since
        # (bifsmn calibrate) would mix the new record's gate and hop with this one's thresholds
        self._model_sha = None
        if model is None or isinstance(model, str | Path):
            from bifsmn.data.download import sha256_file

            self._model_sha = sha256_file(bundled_model() if model is None else Path(model))
        # the path the scorer runs, whose operating point applies: a Scorer object given as
        # ``model`` runs its own (its 8-block point was picked for a 2-block scorer before)
        runs = getattr(self.scorer, "blocks", None)
        if blocks is not None and runs is not None and int(runs) != int(blocks):
            raise BifsmnError(f"the scorer given runs {runs} blocks, not blocks={blocks}: "
                              "leave blocks out or give a scorer of that path")
        if runs is not None:
            blocks = int(runs)
        elif blocks is None:
            blocks = blocks_mod.DEFAULT_LAYERS
        else:
            blocks = int(blocks)
        self.blocks = blocks
        verifier = default_verifier(verifier, model)
        # the record in use: the model's own, or the one calibrated with this verifier
        self.verifier, ops = resolve_verifier(
            verifier, getattr(self.scorer, "operating_points", None), wake, hold_ms,
            threshold is not None, getattr(self.scorer, "name", "model"),
            getattr(self.scorer, "cascade_points", None))
        if self.verifier is None and (wake is not None or hold_ms is not None):
            raise BifsmnError("wake / hold_ms (--wake, --hold-ms) apply to a two-stage detector "
                              "only; this one runs its model without a verifier")
        if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
            raise BifsmnError(f"threshold must be in [0, 1] (got {threshold})")
        self.gate = resolve_gate(gate, ops)
        self.labels = list(self.scorer.labels)
        cfg = self.scorer.feature_config
        self.sample_rate = int(cfg.sample_rate)
        self.window = int(cfg.clip_samples)
        # bad values are refused before the note below could warn about them
        if hop_ms is not None:
            hop_samples(hop_ms, self.sample_rate, self.window)
        if refractory_ms is not None:
            self._refractory_samples(refractory_ms)
        # the hop and refractory time the stored points were counted at (a note, once, where
        # they are overridden while those points are in use)
        note = (lambda msg: _note_once(msg, msg)) if threshold is None else None
        hop_ms = operating.stored_setting(ops, "hop_ms", hop_ms, DEFAULT_HOP_MS, note)
        refractory_ms = operating.stored_setting(ops, "refractory_ms", refractory_ms,
                                                 DEFAULT_REFRACTORY_MS, note)
        hop = hop_samples(hop_ms, self.sample_rate, self.window)
        self.streamer = Streamer(self.scorer, hop, batch_size, self.gate, self.verifier)
        self.hop = hop
        self.rearm = bool(rearm)
        # labels never detected: the non-keyword classes always, plus the keywords named here
        # (one name as a str, not its letters; a name the model lacks is a typo, not a no-op)
        named = {ignore} if isinstance(ignore, str) else set(ignore)
        unknown = sorted(named - set(self.labels) - set(IGNORED))  # models without them too
        if unknown:
            raise BifsmnError(f"ignore names labels the model does not have: {', '.join(unknown)} "
                              f"(labels: {', '.join(self.labels)})")
        ignored = named | set(IGNORED)
        self.keywords = [lb for lb in self.labels if lb not in ignored]
        if not self.keywords:
            raise BifsmnError("ignore leaves no keyword to detect")
        if threshold is not None and fa_per_hour is not None:
            raise BifsmnError("give a threshold or an FA/h operating point, not both")
        self.operating_points = ops
        # what the stored points were calibrated on ("" without stored points)
        self.calibration_data = operating.calibration_data(ops)
        self.operating_point = (None if threshold is not None
                                else operating.pick(ops, blocks, fa_per_hour))
        point = self.operating_point
        if smooth_ms is not None:
            smooth_frames(smooth_ms, hop, self.sample_rate)  # refused before any note on it
            if point is not None and note is not None:
                stored_smooth = float(point.get("smooth_ms", DEFAULT_SMOOTH_MS))
                if float(smooth_ms) != stored_smooth:  # as for the hop and refractory time
                    note(f"the operating point was calibrated with smoothing "
                         f"{stored_smooth:g} ms; at {float(smooth_ms):g} ms its false-alarm "
                         "rate may not hold")
        if threshold is not None:
            self.threshold_source = f"threshold {threshold:g}"
        elif point is not None:
            self.threshold_source = operating.describe(point, smooth_ms)
        else:
            threshold = DEFAULT_THRESHOLD
            self.threshold_source = (f"threshold {threshold:g} (the model has no stored "
                                     "operating points; run `bifsmn calibrate`)")
            _note_once(f"nocal:{getattr(self.scorer, 'name', '')}",
                       f"{getattr(self.scorer, 'name', 'model')}: {self.threshold_source}")
        base = dict(point["thresholds"]) if point is not None else {}
        base = {k: v for k, v in base.items() if k in self.keywords}
        base.update(thresholds or {})
        if smooth_ms is None:
            smooth_ms = float(point.get("smooth_ms", DEFAULT_SMOOTH_MS)) if point is not None \
                else DEFAULT_SMOOTH_MS
        self.thresholds = self._thresholds(1.0 if threshold is None else threshold, base)
        self._check_keywords(smoothing or {})
        self._check_keywords(refractories or {})
        # defaults (used by the offline sweep) and the per-keyword values actually applied
        self.smooth_n = smooth_frames(smooth_ms, hop, self.sample_rate)
        self.refractory = self._refractory_samples(refractory_ms)
        self.smooth_for = {k: smooth_frames((smoothing or {}).get(k, smooth_ms), hop,
                                            self.sample_rate) for k in self.keywords}
        self.refractory_for = {k: self._refractory_samples((refractories or {}).get(
            k, refractory_ms)) for k in self.keywords}
        # the keyword columns, as a slice when they are contiguous (every bundled label set):
        # a view, where a list of columns makes numpy copy through fancy indexing on every hop
        cols = [self.labels.index(k) for k in self.keywords]
        c0 = cols[0] if cols else 0
        self._col_slice: slice | list[int] = (
            slice(c0, c0 + len(cols)) if cols == list(range(c0, c0 + len(cols))) else cols)
        # the second stage in words ("" without one), also part of threshold_source
        self.verifier_source = "" if self.verifier is None else (
            f"verifier {self.verifier.name} (wake {self.verifier.wake:g}, "
            f"hold {self.verifier.hold_ms:g} ms)")
        if self.verifier_source:
            self.threshold_source += f"; {self.verifier_source}"
        self.reset()

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        """The stream's state for this call alone; a call from another thread meanwhile is an
        error (waiting would only interleave the two threads' audio into one stream)."""
        acquired = False
        try:
            acquired = self._busy.acquire(blocking=False)
            if not acquired:
                raise BifsmnError("this Detector is in use (by another thread, or by an "
                                  "unfinished iter_file): a detector follows one stream, so "
                                  "build one per thread (they may share a scorer)")
            yield
        finally:
            if acquired:
                self._busy.release()

    def _check_keywords(self, per: Mapping[str, float]) -> None:
        unknown = sorted(set(per) - set(self.keywords))
        if unknown:
            raise BifsmnError(f"no keyword {', '.join(map(repr, unknown))} in this model "
                              f"(keywords: {', '.join(self.keywords)})")

    def _refractory_samples(self, ms: float) -> int:
        if not 0 <= ms < math.inf:  # NaN too
            raise BifsmnError(f"refractory time must be a finite number of ms >= 0 (got {ms})")
        return round(ms * self.sample_rate / 1000.0)

    def __reduce__(self) -> tuple:
        """Pickle (and ``copy.deepcopy``) as the detector it was built as (its arguments: a
        model or verifier given as a file is read again where it is unpickled, so the same
        file must be there, refused if its contents changed; one given as an object, e.g. an
        ``EngineScorer``, travels as its bytes)
        plus the :meth:`set_threshold` / :meth:`set_smoothing` / :meth:`set_refractory`
        changes made since, at the start of a new stream (as after :meth:`reset`). Arguments
        that cannot be pickled are a one-line error."""
        import pickle

        args = dict(self._init_args)
        try:
            pickle.dumps(args)
        except Exception as exc:  # noqa: BLE001 - whatever the object raises, one line
            raise BifsmnError(f"cannot pickle this detector: {exc} (build it from file paths, "
                              "or one in each worker)") from None
        shas = (self._model_sha, None if self.verifier is None else self.verifier.sha256)
        return (_rebuild_detector, (args, dict(self._changes), shas))

    def set_threshold(self, keyword: str, value: float) -> None:
        """Change one keyword's threshold while the stream runs."""
        value = _number(value, "threshold")
        with self._settings:  # between two calls' events, never inside one
            self._check_keywords({keyword: value})
            self.thresholds[keyword] = self._thresholds(float(value), {})[keyword]
            self._changes["threshold", keyword] = float(value)

    def set_smoothing(self, keyword: str, ms: float) -> None:
        """Change one keyword's smoothing window while the stream runs."""
        ms = _number(ms, "ms")
        with self._settings:  # between two calls' events, never inside one
            self._check_keywords({keyword: ms})
            self.smooth_for[keyword] = smooth_frames(ms, self.hop, self.sample_rate)
            self._grow_history()
            self._changes["smoothing", keyword] = float(ms)

    def set_refractory(self, keyword: str, ms: float) -> None:
        """Change one keyword's refractory time while the stream runs."""
        ms = _number(ms, "ms")
        with self._settings:  # between two calls' events, never inside one
            self._check_keywords({keyword: ms})
            self.refractory_for[keyword] = self._refractory_samples(ms)
            self._changes["refractory", keyword] = float(ms)

    def _grow_history(self) -> None:
        need = max(self.smooth_for.values(), default=1)
        if self._history.maxlen != need:  # the newest rows that still fit are kept
            self._history = deque(self._history, maxlen=need)

    def _thresholds(self, default: float, per: Mapping[str, float]) -> dict[str, float]:
        unknown = sorted(set(per) - set(self.keywords))
        if unknown:
            raise BifsmnError(f"no keyword {', '.join(map(repr, unknown))} in this model "
                              f"(keywords: {', '.join(self.keywords)})")
        out = {k: float(per.get(k, default)) for k in self.keywords}
        for k, v in out.items():
            if not 0.0 <= v <= 1.0 or v != v:
                raise BifsmnError(f"threshold for {k!r} must be in [0, 1] (got {v})")
        return out

    def reset(self) -> None:
        """Start a new stream: audio, smoothing history and refractory timers are cleared.
        The ended stream's :attr:`peaks` move to :attr:`previous_peaks`."""
        with self._exclusive():
            self._reset()

    def _reset(self) -> None:
        with self._settings:  # the history's length follows smooth_for, which set_* change
            self._reset_state()

    def _reset_state(self) -> None:
        self.streamer.reset()
        # the latest windows' keyword posteriors (in keyword order, as Python floats: the
        # float32 values widened exactly, as float64), oldest first, as many as the longest
        # smoothing needs
        self._history = deque(maxlen=max(self.smooth_for.values(), default=1))
        self._last_fire: dict[str, int] = {}
        self._armed: set[str] = set(self.keywords)
        self.last_scores: dict[str, float] = {k: 0.0 for k in self.keywords}
        self.previous_peaks: dict[str, Event] = getattr(self, "peaks", {})
        # Per keyword, the window with the highest smoothed score of this stream (as an Event,
        # fired or not): what threshold would have caught a keyword the detector stayed quiet
        # on (`bifsmn detect --closest`).
        self.peaks: dict[str, Event] = {}

    def closest(self, peaks: Mapping[str, Event] | None = None) -> tuple[Event, float] | None:
        """The keyword window that came closest to (or furthest above) its threshold, and that
        threshold: the largest ``score - threshold`` among ``peaks`` (default: this stream's,
        or, before any audio of a new stream, the ended one's: ``detect_file`` and
        ``detect_array`` reset the detector when they return)."""
        if peaks is None:
            peaks = self.peaks or self.previous_peaks
        if not peaks:
            return None
        k = max(peaks, key=lambda q: peaks[q].score - self.thresholds[q])
        return peaks[k], self.thresholds[k]

    def _on_posteriors(self, post: Posteriors) -> list[Event]:
        with self._settings:  # the set_* changes wait for this chunk's events
            return self._events(post)

    def _events(self, post: Posteriors) -> list[Event]:
        events: list[Event] = []
        if not len(post):
            return events
        keywords, smooth_for, thresholds = self.keywords, self.smooth_for, self.thresholds
        peaks, armed_now = self.peaks, self._armed
        lengths = set(smooth_for.values())
        hist = self._history
        ends = post.ends.tolist()
        for i, row in enumerate(post.probs[:, self._col_slice].tolist()):
            hist.append(row)
            have = len(hist)
            means: dict[int, list[float]] = {}
            for n in lengths:
                m = min(n, have)
                # the chronological sum, term by term, as the offline sweep (smooth) sums, in
                # Python floats (IEEE doubles, as numpy's float64): the same bits. Until session
                # 36 a float64 array summed by np.add.accumulate, whose numpy calls cost more than
                # these few float additions (docs/results/live-stream, session 37).
                rows = islice(hist, have - m, have)
                acc = next(rows)
                for r in rows:
                    acc = [a + b for a, b in zip(acc, r, strict=True)]
                means[n] = [a / m for a in acc]
            e = ends[i]
            if len(means) == 1:  # one smoothing for every keyword (the usual case)
                (scores,) = means.values()
            else:
                scores = [means[smooth_for[k]][j] for j, k in enumerate(keywords)]
            self.last_scores.update(zip(keywords, scores, strict=True))
            for k, s in zip(keywords, scores, strict=True):
                peak = peaks.get(k)
                if s == s and (peak is None or s > peak.score):  # NaN never a peak
                    peaks[k] = _event(k, e, self.window, self.sample_rate, post.audio_end, s)
                if not s >= thresholds[k]:  # NaN compares False: it never fires
                    armed_now.add(k)
                    continue
                last = self._last_fire.get(k)
                armed = k in self._armed or not self.rearm
                if armed and (last is None or e >= last + self.refractory_for[k]):
                    self._last_fire[k] = e
                    self._armed.discard(k)
                    events.append(_event(k, e, self.window, self.sample_rate, post.audio_end,
                                         s))
        return events

    def process(self, chunk: np.ndarray) -> list[Event]:
        """Feed 16 kHz mono samples (any length); return the events they complete."""
        with self._exclusive():
            return self._on_posteriors(self.streamer.process(chunk))

    def flush(self) -> list[Event]:
        """End of stream: score 0.5 s of trailing zeros and the partial last hop (see
        :meth:`Streamer.flush`) and return their events."""
        with self._exclusive():
            return self._on_posteriors(self.streamer.flush())

    def iter_file(self, path: str | Path, block_seconds: float = 10.0
                  ) -> Iterator[tuple[np.ndarray, list[Event]]]:
        """``(block, events)`` for each block of an audio file read as :meth:`detect_file`
        reads it: the block's 16 kHz mono samples, then the events they completed (the last
        item is an empty block with the events of :meth:`flush`). For callers that need the
        audio beside the events (``bifsmn detect --save-windows``) without a second decode.
        Starts a new stream and leaves the detector reset afterwards."""
        with self._exclusive():  # the whole file: no other thread's audio between blocks
            self._reset()
            try:
                for block in iter_audio_blocks(path, self.sample_rate, block_seconds):
                    yield block, self._on_posteriors(self.streamer.process(block))
                yield np.zeros(0, np.float32), self._on_posteriors(self.streamer.flush())
            except NonFiniteError as exc:
                raise NonFiniteError(str(exc), path) from None  # names the input file too
            finally:
                self._reset()

    def detect_array(self, audio: np.ndarray) -> list[Event]:
        """Events of 16 kHz mono samples already in memory (float32 in [-1, 1], or int16, as
        :meth:`process` takes them): what :meth:`detect_file` gives for the same samples, so
        audio decoded or synthesized by the caller needs no temporary file. Starts a new
        stream (times are seconds from ``audio[0]``), flushes its end (a keyword in the last
        second is reported) and leaves the detector reset afterwards."""
        with self._exclusive():
            self._reset()
            try:
                return (self._on_posteriors(self.streamer.process(audio))
                        + self._on_posteriors(self.streamer.flush()))
            finally:
                self._reset()

    def detect_file(self, path: str | Path, block_seconds: float = 10.0) -> list[Event]:
        """Events of an audio file of any length, rate and channel count, read in blocks (flat
        memory). Starts a new stream (times are seconds from the file start) and leaves the
        detector reset afterwards."""
        return [ev for _, events in self.iter_file(path, block_seconds) for ev in events]
