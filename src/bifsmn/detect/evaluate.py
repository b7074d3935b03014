"""Streaming evaluation as keyword-spotting users measure it: miss rate vs false alarms per hour
(``bifsmn eval-stream``).

Long test streams are assembled from the clips of a Speech Commands split
(:mod:`bifsmn.detect.mixing`), the detector runs over them once per model and thinnable path,
and the decision threshold is swept offline on the stored smoothed posteriors (the model never
re-runs per threshold); hits, false alarms and operating points are defined in
:mod:`bifsmn.detect.metrics`, and the outputs are written by :mod:`bifsmn.detect.report`. The
names of those modules are importable from here as before.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bifsmn.data.labels import UNKNOWN
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect import operating
from bifsmn.detect.cascade import Verifier, check_wake_hold, resolve_verifier
from bifsmn.detect.detector import (
    DEFAULT_REFRACTORY_MS,
    DEFAULT_SMOOTH_MS,
    events_from_smoothed,
    smooth,
    smooth_frames,
)
from bifsmn.detect.gate import DEFAULT_GATE, MODEL_GATE, Gate, resolve_gate
from bifsmn.detect.metrics import (
    DEFAULT_THRESHOLDS,
    Score,
    SystemResult,
    classify_events,
    match_events,
    negatives_fired,
    score_events,
    scored_fractions,
    stream_posteriors,
    sweep,
)
from bifsmn.detect.mixing import (
    NEGATIVE,
    SNR_MODES,
    SR,
    EvalStream,
    Segment,
    StreamTruth,
    build_stream,
    compose_stream,
    excerpts,
    keyword_segments,
    negative_files,
    negative_segments,
    noise_bed,
    snr_name,
)
from bifsmn.detect.operating import stored_points
from bifsmn.detect.report import (
    CSV_FIELDS,
    _snr_tag,
    _targets,
    _write_summary,
    _write_truth,
    det_limits,
    format_summary,
    plot_det,
    write_csv,
)
from bifsmn.detect.scorer import Scorer, models_task, scorers_for_blocks
from bifsmn.detect.stream import DEFAULT_HOP_MS, Posteriors, hop_samples
from bifsmn.errors import BifsmnError
from bifsmn.outputs import check_output, make_folder

__all__ = [
    "CSV_FIELDS", "DEFAULT_THRESHOLDS", "NEGATIVE", "SNR_MODES", "SNR_RANGE_DB", "SR",
    "EvalStream", "Score", "Segment", "SystemResult", "build_stream", "check_stream_settings",
    "classify_events", "compose_stream", "det_limits", "eval_stream", "excerpts",
    "format_summary", "keyword_segments", "match_events", "negative_files", "negative_segments",
    "negatives_fired", "noise_bed", "parse_snrs", "plot_det", "score_events",
    "stream_posteriors", "sweep", "write_csv",
]


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
                blocks: Sequence[int] | None = None, minutes: float = 10.0,
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
    # every model x path set up first (a bad model fails before minutes of mixing), then one
    # stream at a time: each SNR's audio is built, scored by every system and dropped, so a
    # long evaluation holds one stream's audio, not one per SNR
    labels = _display_names(models)
    load_verifier = functools.cache(Verifier.load)  # one read and hash for every model and path
    systems: list[_System] = []
    for model, label in zip(models, labels, strict=True):
        for b, scorer in scorers_for_blocks(model, None if blocks is None else list(blocks),
                                            log):
            systems.append(_setup(model, label, b, scorer, verifier, wake, hold_ms, hop_ms,
                                  refractory_ms, smooth_ms, gate, load_verifier, log))
    if not systems:  # before any stream is mixed
        raise BifsmnError("no model/path combination could be evaluated")
    snr_list = list(dict.fromkeys(snrs))
    found: dict[tuple[int, float], SystemResult] = {}
    streams: dict[float, StreamTruth] = {}
    for snr in snr_list:
        st = build_stream(ds, split, minutes, snr, seed, negatives=negs, snr_mode=snr_mode)
        if not streams:
            log(f"streams: {len(snr_list)} x {minutes:g} min from {ds.root} [{split}], "
                f"{len(st.keywords)} keywords ({len({k.source for k in st.keywords})} distinct "
                "clips), "
                f"{sum(s.label == UNKNOWN for s in st.segments)} unknown words"
                + (f" and {len(st.negatives)} negative-speech clips ({len(negs)} files)"
                   if negs else "") + " each")
        for i, sys_ in enumerate(systems):
            found[i, snr] = _score_system(sys_, st, snr, thresholds, tolerance, rearm, targets,
                                          log)
        streams[snr] = st.truth()
        del st
    first = streams[snr_list[0]]
    # model-major, as the table reads: every SNR of one model x path, then the next
    results = [found[i, snr] for i in range(len(systems)) for snr in snr_list]
    if outdir is not None:
        # all outputs at the end, summary.json removed first and written last: a folder
        # with a summary.json holds one run's complete set; a kill in between leaves none
        make_folder(outdir, "folder for the results (--out)")
        done = outdir / "summary.json"
        if done.is_file() and not done.is_symlink():  # a link's target is replaced, as always
            with contextlib.suppress(OSError):  # unwritable: the writes below say so
                done.unlink()
        truths = {f"truth_{_snr_tag(snr)}.csv" for snr in streams}
        for stale in outdir.glob("truth_*.csv"):  # an earlier run's other SNRs: not this one's
            if stale.name not in truths:
                stale.unlink()
        for snr, truth in streams.items():
            _write_truth(truth, outdir / f"truth_{_snr_tag(snr)}.csv")
        write_csv(results, outdir / "sweep.csv")
        plot_det(results, outdir / "det.png", targets)
        _write_summary(results, outdir / "summary.json", targets, first,
                       {"smooth_ms": smooth_ms, "tolerance_s": tolerance,
                        "hop_ms": hop_ms, "refractory_ms": refractory_ms, "rearm": rearm})
    return results


@dataclass
class _System:
    """One model x path as eval-stream runs it: the scorer and the settings it is swept at."""

    name: str
    model: str
    blocks: int
    scorer: Any
    verifier: Verifier | None
    ops: dict | None
    hop: int
    smooth_n: int
    refractory: int
    gate: Gate | None


def _setup(model: str | Path | Scorer, label: str, b: int, scorer: Any,
           verifier: str | Path | None, wake: float | None, hold_ms: float | None,
           hop_ms: float | None, refractory_ms: float | None, smooth_ms: float,
           gate: Gate | None | str, load_verifier: Callable, log: Callable[[str], None]
           ) -> _System:
    """A model x path's verifier, hop, smoothing, refractory time and gate (its stored record's
    unless given), with the notes saying which."""
    name = f"{label} [{b} blocks]"
    ver, ops = resolve_verifier(verifier, getattr(scorer, "operating_points", None),
                                wake, hold_ms, False, scorer.name,
                                getattr(scorer, "cascade_points", None), load_verifier)

    def note(msg: str) -> None:
        log(f"{name}: note: {msg}")

    sr = scorer.feature_config.sample_rate
    hop = hop_samples(operating.stored_setting(ops, "hop_ms", hop_ms, DEFAULT_HOP_MS, note),
                      sr, scorer.feature_config.clip_samples)
    n = smooth_frames(smooth_ms, hop, sr)
    refr = round(operating.stored_setting(ops, "refractory_ms", refractory_ms,
                                          DEFAULT_REFRACTORY_MS, note) * sr / 1000.0)
    g = resolve_gate(gate, ops)
    if g != DEFAULT_GATE:
        log(f"{name}: gate {'off' if g is None else g.describe()}")
    if ver is not None:
        name = f"{name} + {ver.name}"
        log(f"{name}: verifier woken at {ver.wake:g}, held {ver.hold_ms:g} ms")
    return _System(name, str(model), b, scorer, ver, ops, hop, n, refr, g)


def _score_system(sys_: _System, st: EvalStream, snr: float, thresholds: list[float],
                  tolerance: float, rearm: bool, targets: Sequence[float],
                  log: Callable[[str], None]) -> SystemResult:
    """One system's posteriors of one stream, swept over ``thresholds`` (and its stored
    points at ``targets``)."""
    post, dt = stream_posteriors(sys_.scorer, st.audio, sys_.hop, gate=sys_.gate,
                                 verifier=sys_.verifier)
    frac, verified = scored_fractions()
    if sys_.verifier is not None:
        log(f"{sys_.name}: verifier ran on {100 * verified:.1f}% of the windows the gate let "
            "through")
    dur = len(st.audio) / st.sample_rate
    scores = sweep(post, list(sys_.scorer.labels), st.keywords, st.hours, thresholds,
                   sys_.smooth_n, sys_.refractory, tolerance, rearm, negatives=st.negatives)
    stored = _stored_scores(sys_.scorer, sys_.ops, sys_.blocks, post, st, targets, sys_.hop,
                            sys_.refractory, tolerance, rearm)
    r = SystemResult(sys_.name, sys_.model, sys_.blocks, snr, dt / dur, dt, thresholds, scores,
                     frac, stored)
    log(f"{sys_.name}, {snr_name(snr)}: RTF {r.rtf:.4f} ({dt:.1f} s for {dur / 60:.1f} min; "
        f"network ran on {100 * frac:.1f}% of windows)")
    return r


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
