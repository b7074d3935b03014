"""``bifsmn calibrate``: choose per-keyword thresholds and the smoothing window for a few
false-alarm rates on validation streams, and store them in the model file.

Streams are built exactly as for ``eval-stream`` (:func:`bifsmn.detect.mixing.build_stream`):
keyword clips and other words of the data set's validation split, optionally negative speech
(the validation share of a folder of recordings, :func:`~bifsmn.detect.mixing.negative_files`)
and ``_background_noise_`` at each SNR, ``streams`` of them per SNR (default 6 x 60 min: a
rate of one per hour cannot be read off one hour). The model runs once per stream and path
(gate and padding rule as in detection, the gate stored with the model by default);
everything else is swept on the stored posteriors:

1. for each smoothing window (300, 500, 700, 1000 ms) and each keyword, the existing threshold
   sweep (:func:`~bifsmn.detect.metrics.sweep`, one keyword at a time) gives that keyword's
   hits and false alarms at every threshold, summed over the streams. Keywords are matched
   independently, so the total false alarms of a set of per-keyword thresholds are the sum of
   the keywords' own;
2. for a target of F false alarms per hour, each SNR condition gets a budget (:func:`fa_budget`):
   by default the largest count whose 90 % Poisson upper bound fits ``F * hours`` of that SNR's
   streams (``confidence=None``: ``floor(F * hours)``; ``per_snr=False``: one budget for the
   pooled hours, the rule before issue 13's fix). Every keyword starts at the lowest threshold
   with its fewest false alarms; then, greedily, the keyword move (to a lower threshold) that
   buys the most hits per extra false alarm within every remaining budget is taken, until none
   fits (always moving to the lowest threshold with those false-alarm counts, as
   ``eval-stream``'s operating point does). That is ``rule="keyword"`` (the rule until
   session 16). ``rule="pooled"`` (the default) orders the moves by false alarms that are at
   least the mean keyword's at each threshold (:func:`pooled_false_alarms`: a keyword whose
   calibration curve is flat is not taken to be safe there, since new speakers' clips do fire
   it) and stops before the first move whose counted false alarms do not fit;
   ``rule="shared"`` stores one threshold for all keywords (:func:`allocate_shared`). On
   speakers the calibration never heard (docs/results/threshold-rule: a speaker-disjoint
   two-fold split of the calibration data, and the held-out validation speakers) the keyword
   rule's 1 FA/h points raised 0.9-2.8 FA/h, the pooled rule's 0.5-1.1, for more misses;
3. the smoothing window with the most hits wins (ties: the one closest to 500 ms).

The stored record (:mod:`bifsmn.detect.operating`) also says what data the points were chosen
on and what they achieved there (in-sample; docs/results/calibration measures them on held-out
streams).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from bifsmn.data.download import sha256_file
from bifsmn.data.speech_commands import SpeechCommands
from bifsmn.detect import operating
from bifsmn.detect.cascade import Verifier, check_wake_hold, resolve_verifier
from bifsmn.detect.detector import (
    DEFAULT_REFRACTORY_MS,
    Event,
    events_from_smoothed,
    smooth,
    smooth_frames,
)
from bifsmn.detect.evaluate import (
    DEFAULT_THRESHOLDS,
    UNKNOWN,
    Segment,
    build_stream,
    check_stream_settings,
    classify_events,
    keyword_segments,
    negative_files,
    negative_segments,
    score_events,
    scored_fractions,
    stream_posteriors,
    sweep,
)
from bifsmn.detect.gate import MODEL_GATE, Gate, resolve_gate
from bifsmn.detect.mixing import snr_name
from bifsmn.detect.model_files import sniff
from bifsmn.detect.scorer import models_task, scorers_for_blocks
from bifsmn.detect.stream import DEFAULT_HOP_MS, hop_samples
from bifsmn.errors import BifsmnError
from bifsmn.outputs import atomic_write_bytes, check_output, folder_lock
from bifsmn.signatures import check_replaceable

DEFAULT_FA_TARGETS = (0.5, 1.0, 5.0)
DEFAULT_SMOOTHING_MS = (300.0, 500.0, 700.0, 1000.0)
# Measured (docs/results/calibration): 2 h of streams with the point estimate stored a "1 FA/h"
# point that gave 6.7-12.3 FA/h on other draws of the same clips; 12 h with the 90 % bound, 0-1.7.
DEFAULT_STREAMS = 6
DEFAULT_CONFIDENCE = 0.9
RULES = ("keyword", "shared", "pooled")
CALIBRATION_THRESHOLDS = tuple(sorted({*DEFAULT_THRESHOLDS, 0.99995, 0.99999, 0.999995,
                                       0.999999}))


def poisson_upper(count: int, confidence: float) -> float:
    """One-sided upper confidence bound on a Poisson mean after observing ``count`` events: the
    ``lam`` with ``P(X <= count | lam) = 1 - confidence`` (exact, by bisection; no SciPy).

    Why: a false-alarm rate read off a few hours is a small count. Choosing thresholds so that the
    *bound*, not the count, fits the budget keeps the stored point from being the lucky draw of
    the calibration streams (winner's curse of picking the threshold just above their highest
    non-keyword scores)."""
    if not 0.0 < confidence < 1.0:
        raise BifsmnError(f"confidence must be in (0, 1) (got {confidence})")
    if count < 0:
        raise BifsmnError(f"count must be >= 0 (got {count})")

    def cdf(lam: float) -> float:
        term = total = math.exp(-lam)
        for k in range(1, count + 1):
            term *= lam / k
            total += term
        return total

    lo, hi = 0.0, count + 10.0 + 10.0 * math.sqrt(count + 1.0)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if cdf(mid) > 1.0 - confidence:
            lo = mid
        else:
            hi = mid
    return hi


def fa_budget(fa_per_hour: float, hours: float, confidence: float | None = None) -> int:
    """How many false alarms the calibration streams may hold for a target of ``fa_per_hour``.

    ``confidence=None``: ``floor(F * hours)`` (the point estimate fits the target). Otherwise the
    largest count whose one-sided Poisson upper bound at ``confidence`` is still within
    ``F * hours``; -1 if even zero false alarms cannot show it (too few hours: then the highest
    thresholds are stored and the point is marked not reached)."""
    allowed = fa_per_hour * hours
    if confidence is None:
        return int(math.floor(allowed + 1e-9))
    c = -1
    while poisson_upper(c + 1, confidence) <= allowed + 1e-9:
        c += 1
    return c


def _by_condition(fas: np.ndarray, budget: int | Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``fas`` as (C, K, T) and one budget per condition C (a (K, T) array is one condition)."""
    fas = np.asarray(fas)
    if fas.ndim == 2:
        fas = fas[None]
    budgets = np.atleast_1d(np.asarray(budget, np.int64))
    if len(budgets) != len(fas):
        raise BifsmnError(f"{len(fas)} conditions but {len(budgets)} budgets")
    return fas, budgets


def allocate(hits: np.ndarray, fas: np.ndarray, budget: int | Sequence[int],
             actual: np.ndarray | None = None) -> np.ndarray:
    """Per-keyword threshold indices (into ascending thresholds) maximising total hits with at
    most ``budget`` false alarms in all; see the module docstring. ``hits``: (K, T); ``fas``:
    (K, T), or (C, K, T) with one ``budget`` per condition C (e.g. per SNR: the point must hold
    in each, not only on their pooled hours); non-increasing along T. A move's cost is its
    extra false alarms summed over the conditions.

    ``actual``: the false alarms counted (same shape as ``fas``) when ``fas`` are estimates
    used only to order the moves (:func:`pooled_false_alarms`): the greedy path then follows
    ``fas`` without a budget and stops before its first move whose ``actual`` false alarms do
    not fit, so the chosen point keeps the budget on what was counted."""
    fas, budgets = _by_condition(fas, budget)
    act = None if actual is None else np.asarray(actual).reshape(fas.shape)
    _, k, t = fas.shape
    ks = np.arange(k)

    def lowest_same(j: int, i: int) -> int:  # lowest index with the false alarms of (j, i)
        same = np.all(fas[:, j, :] == fas[:, j, i][:, None], axis=0)
        if act is not None:
            same &= np.all(act[:, j, :] == act[:, j, i][:, None], axis=0)
        return int(np.flatnonzero(same)[0])

    idx = np.array([lowest_same(j, t - 1) for j in range(k)])
    used = fas[:, ks, idx].sum(axis=1)
    while True:
        best = None
        for j in range(k):
            cur = idx[j]
            for i in range(cur - 1, -1, -1):
                costs = fas[:, j, i] - fas[:, j, cur]
                if act is None and np.any(used + costs > budgets):
                    break  # lower thresholds only cost more
                cost = costs.sum()
                gain = int(hits[j, i] - hits[j, cur])
                if cost <= 0 or gain <= 0:
                    continue
                key = (gain / cost, gain)
                if best is None or key > best[0]:
                    best = (key, j, lowest_same(j, i), costs)
        if best is None:
            return idx
        _, j, i, costs = best
        if act is not None:
            moved = idx.copy()
            moved[j] = i
            if np.any(act[:, ks, moved].sum(axis=1) > budgets):
                return idx
        idx[j] = i
        if act is None:
            used = used + costs


def pooled_false_alarms(fas: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """Each keyword's false alarms per threshold, but at least ``weight`` times the mean
    keyword's: a keyword that raised none on the calibration clips at some threshold is not
    assumed safer there than the average keyword (held out, new speakers' clips fire keywords
    whose calibration curve was flat: docs/results/threshold-rule). ``fas``: (..., K, T)."""
    fas = np.asarray(fas, np.float64)
    return np.maximum(fas, weight * fas.mean(axis=-2, keepdims=True))


def allocate_shared(fas: np.ndarray, budget: int | Sequence[int]) -> int:
    """One threshold index for every keyword (the lowest whose summed false alarms fit every
    condition's budget): one parameter instead of one per keyword, so it cannot fit the
    calibration clips keyword by keyword. ``fas``: (K, T) or (C, K, T) as in :func:`allocate`;
    the highest index if none fits."""
    fas, budgets = _by_condition(fas, budget)
    total = fas.sum(axis=1)  # (C, T)
    fits = np.all(total <= budgets[:, None], axis=0)
    return int(np.flatnonzero(fits)[0]) if fits.any() else fas.shape[2] - 1


def calibrate(model: str | Path, data: str | Path, negatives: str | Path | None = None,
              blocks: Sequence[int] | None = None, minutes: float = 60.0,
              snrs: Sequence[float] = (math.inf, 10.0), seed: int = 1000,
              fa_targets: Sequence[float] = DEFAULT_FA_TARGETS,
              smoothing_ms: Sequence[float] = DEFAULT_SMOOTHING_MS,
              refractory_ms: float = DEFAULT_REFRACTORY_MS, hop_ms: float = DEFAULT_HOP_MS,
              tolerance: float = 0.5, gate: Gate | None | str = MODEL_GATE,
              thresholds: Sequence[float] = CALIBRATION_THRESHOLDS, split: str = "validation",
              negatives_split: str = "validation", out: str | Path | None = None,
              write: bool = True, streams: int = DEFAULT_STREAMS,
              confidence: float | None = DEFAULT_CONFIDENCE, per_snr: bool = True,
              snr_mode: str = "clip",
              verifier: str | Path | Sequence[str | Path] | Verifier | None = None,
              wake: float | None = None, hold_ms: float | None = None,
              rule: str = "pooled", archive: str | Path | None = None,
              archive_streams: int | None = None, archive_split: str = "validation",
              only_cascade: bool = False, log: Callable[[str], None] | None = None,
              progress: Callable[[str], None] | None = None) -> dict:
    """Calibrate ``model`` (a ``.pt`` or ``.bkws`` file) and store the operating points in
    ``out`` (default: the model file itself, rewritten atomically). Returns the record.

    ``streams``: how many ``minutes``-long streams per SNR (seeds ``seed``, ``seed + 1``, ...,
    one per stream; built one at a time, so memory holds one stream's audio). More hours are
    what makes a rate of 1 FA/h measurable at all: with 2 h a single event decides the point.
    ``confidence``: choose thresholds so that the one-sided Poisson upper bound of the
    calibration false alarms (not their count) fits the budget (:func:`fa_budget`); None keeps
    the point estimate. ``per_snr``: the budget must hold on each SNR's streams separately
    (default), not only on the pooled hours. ``gate``: ``"model"`` (default) uses the gate the
    model's stored points were calibrated with, else the default gate; a :class:`Gate` or None
    overrides. ``snr_mode``: how noisy streams set each word's SNR
    (:func:`bifsmn.detect.mixing.compose_stream`; records before it imply ``"global"``).
    ``verifier``: calibrate the cascade of ``model`` and this second stage
    (:mod:`bifsmn.detect.cascade`, woken at ``wake``, held ``hold_ms``; None: the values of the
    record the model stores for that verifier, as detect and eval-stream use them, else
    :data:`~bifsmn.detect.cascade.DEFAULT_WAKE` / ``DEFAULT_HOLD_MS``); the record names the
    verifier and its SHA-256 (``"bundled"``: the packaged verifier) and is stored beside the
    model's own points (:data:`bifsmn.detect.operating.CASCADE_KEY`, replacing an earlier one of
    the same verifier file), so the model's own points stay as they were and detectors pick the
    cascade's when given that verifier. ``rule``: how thresholds are chosen (module docstring,
    step 2): ``"pooled"`` (default since session 16), ``"keyword"`` (before) or ``"shared"``.
    ``archive``: a feature archive (fbank40 images) whose ``archive_split`` clips make
    ``archive_streams`` more streams per SNR (default: ``streams``), built in the feature domain
    (:mod:`bifsmn.detect.feature_streams`; fbank40 models only) and counted with the audio
    streams of the same SNR: more distinct speakers behind the stored rates. ``only_cascade``
    (with ``verifier``): the new record replaces every cascade record the file stored, not only
    the same verifier's (a model re-bundled with a new verifier)."""
    log = log or logging.getLogger("bifsmn.detect").info  # the CLI passes print
    # progress, notes and warnings (the CLI: stderr), apart from the results that ``log`` gets
    progress = progress or log
    model = Path(model)
    _check_rule(rule)
    if only_cascade and verifier is None:
        raise BifsmnError("--drop-other-verifiers needs --verifier (it replaces the stored "
                          "cascade records with the new verifier's)", model)
    check_stream_settings(minutes, seed, refractory_ms)
    check_wake_hold(wake, hold_ms)
    if streams < 1:
        raise BifsmnError(f"--streams must be >= 1 (got {streams})")
    if confidence is not None and not 0.0 < confidence < 1.0:
        raise BifsmnError(f"--confidence must be in (0, 1) (got {confidence})")
    targets = sorted({float(f) for f in fa_targets})
    if not targets or not all(math.isfinite(t) and t > 0 for t in targets):
        raise BifsmnError("false-alarm targets must be positive finite numbers (got "
                          f"{', '.join(f'{t:g}' for t in targets) or 'none'})")
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise BifsmnError(f"--tolerance-ms must be >= 0 (got {1000 * tolerance:g})")
    if write and out is not None and Path(out).resolve() != model.resolve():
        # before minutes of scoring: a directory, a device or a recording given as --out
        check_output(out)
        check_replaceable(Path(out), "bkws" if sniff(model) == "bkws" else "torch")
    if isinstance(gate, str):
        gate = resolve_gate(gate, operating.read(model))
    task = models_task([model])  # the ten commands, or the model's own keywords
    ds = SpeechCommands(data, task[0], keywords=task[1])
    if not ds.noise_files and any(math.isfinite(s) for s in snrs):
        progress(f"note: {ds.root} has no _background_noise_/ files; calibration streams are "
                 "clean")
        snrs = [math.inf]
    negs = negative_files(negatives, negatives_split) if negatives else []
    if negatives and not negs:
        raise BifsmnError(f"--negatives {negatives}: no recording falls in the "
                          f"{negatives_split} share")
    thr = sorted(float(t) for t in thresholds)
    ver = None
    if verifier is not None:  # wake/hold not given: the ones stored with this verifier
        ver, _ = resolve_verifier(verifier, operating.read(model), wake, hold_ms, True,
                                  str(model), operating.read_cascades(model))
    digest = sha256_file(model)  # the points belong to this file's contents
    paths = list(scorers_for_blocks(model, None if blocks is None else list(blocks),
                                    progress))
    if not paths:
        raise BifsmnError("no thinnable path of the model could be calibrated")
    specs = [(snr, seed + i) for i, snr in enumerate(
        [s for s in dict.fromkeys(snrs) for _ in range(streams)])]
    n_arch = 0 if archive is None else (streams if archive_streams is None else archive_streams)
    if n_arch < 0:
        raise BifsmnError(f"--archive-streams must be >= 0 (got {n_arch})")
    arch_specs = [(snr, seed + len(specs) + i) for i, snr in enumerate(
        [s for s in dict.fromkeys(snrs) for _ in range(n_arch)])]
    clips = None
    if arch_specs:  # bad archive input fails here, before the audio streams' minutes of work
        from bifsmn.detect.feature_streams import ArchiveClips, check_model

        for _, scorer in paths:
            check_model(scorer)
        # (arch_specs is empty without an archive)
        clips = ArchiveClips.load(cast(str | Path, archive), archive_split, task)
    # One stream at a time: keep its ground truth and every path's posteriors, drop the audio.
    kept: list[_Kept] = []
    posts: dict[int, list] = {b: [] for b, _ in paths}
    t_start = time.time()
    for k, (snr, sd) in enumerate(specs):
        if k:  # progress over the audio streams (minutes to hours in all)
            left = (time.time() - t_start) / k * (len(specs) - k)
            progress(f"audio stream {k + 1}/{len(specs)}, ETA {left / 60:.1f} min")
        st = build_stream(ds, split, minutes, snr, sd, negatives=negs, snr_mode=snr_mode)
        kept.append(_Kept(list(st.segments), st.hours, st.snr_db))
        for b, scorer in paths:
            hop = hop_samples(hop_ms, scorer.feature_config.sample_rate,
                              scorer.feature_config.clip_samples)
            post, dt = stream_posteriors(scorer, st.audio, hop, gate=gate, verifier=ver)
            posts[b].append(post)
            scored, verified = scored_fractions()
            progress(f"[{b} blocks] stream {snr_name(st.snr_db)} "
                     f"(seed {sd}): {dt:.1f} s for {st.hours * 60:.3g} min, network ran on "
                     f"{100 * scored:.1f}% of windows"
                     + ("" if ver is None else f", verifier on {100 * verified:.1f}% of those"))
        del st
    nkw = sum(len(k.keywords) for k in kept)
    nneg = sum(len(k.negatives) for k in kept)
    nunk = sum(k.unknown for k in kept)
    n_audio = len(kept)
    arch_desc = ""
    if clips is not None:
        arch_desc = _archive_streams(clips, arch_specs, minutes, paths, ds, negs, gate, ver,
                                     hop_ms, kept, posts, progress)
    hours = sum(k.hours for k in kept)
    snr_text = ", ".join(snr_name(s) for s in dict.fromkeys(snrs))
    desc = (f"{n_audio} x {minutes:g}-min streams ({streams} per SNR: {snr_text}; seeds "
            f"{seed}...{seed + n_audio - 1}) from {Path(data).name} [{split}]: {nkw} keywords, "
            f"{nunk} other words" + (f", {nneg} negative-speech clips ({len(negs)} files, "
                                     f"{negatives_split} share of "
                                     f"{Path(cast(str | Path, negatives)).name})"
                                     if negs else "")
            + arch_desc
            + f"; noise: {len(ds.noise_files)} _background_noise_ files"
            + (f" (SNR per {'word' if snr_mode == 'clip' else 'stream'})"
               if any(math.isfinite(s) for s in snrs) else "")
            + ("" if confidence is None else
               f"; budget: {100 * confidence:g}% Poisson upper bound")
            + f"; thresholds: {rule} rule")
    log(f"calibration data: {desc}")
    ops: dict[str, Any] = {"format": operating.FORMAT, "version": operating.VERSION,
           "default_fa_per_hour": operating.DEFAULT_FA_PER_HOUR,
           "refractory_ms": float(refractory_ms), "hop_ms": float(hop_ms),
           "gate": None if gate is None else gate.to_dict(),
           "tolerance_s": float(tolerance),
           "data": {"description": desc, "dataset": str(data), "split": split,
                    "negatives": None if not negatives else str(negatives),
                    "negative_files": len(negs), "minutes": minutes,
                    "streams_per_snr": streams,
                    "snr_db": [None if math.isinf(k.snr_db) else k.snr_db for k in kept],
                    "snr_mode": snr_mode,
                    "seed": seed, "keywords": sum(len(k.keywords) for k in kept),
                    "negative_clips": sum(len(k.negatives) for k in kept), "hours": hours,
                    "confidence": confidence, "budget_per_snr": per_snr, "rule": rule,
                    **({} if not arch_specs else {
                        "archive": str(archive), "archive_split": archive_split,
                        "archive_streams_per_snr": n_arch,
                        "archive_seeds": [sd for _, sd in arch_specs]})},
           "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
           "paths": {}}
    if ver is not None:
        ops["verifier"] = ver.record()
    for b, scorer in paths:
        cfg = scorer.feature_config
        hop = hop_samples(hop_ms, cfg.sample_rate, cfg.clip_samples)
        refr = round(refractory_ms * cfg.sample_rate / 1000.0)
        keywords = [k for k in scorer.labels if k not in ("_unknown_", "_silence_")]
        points = _points(posts[b], kept, scorer.labels, keywords, thr, targets, smoothing_ms,
                         hop, cfg.sample_rate, refr, tolerance, hours, confidence, per_snr,
                         rule)
        ops["paths"][str(b)] = points
        for p in points:
            c = p["calibration"]
            log(f"[{b} blocks] {p['fa_per_hour']:g} FA/h: smoothing {p['smooth_ms']:g} ms, "
                f"miss {100 * c['miss_rate']:.1f}%, {c['false_alarms']} FA "
                f"({c['false_alarm_sources']} sources) in {hours:.2f} h "
                + (f"(budget {c['budget']})" if c["budget"] >= 0 else
                   "(too little audio: even 0 false alarms in these hours cannot show this "
                   "rate)")
                + ("" if c["reached"] else " (target not reached)")
                + (f", negative clips with an event {100 * c['negative_rate']:.1f}%"
                   if c.get("negative_rate") is not None else "")
                + ("" if len(c["conditions"]) < 2 else "; per SNR: " + ", ".join(
                    f"{d['snr']} miss {100 * d['miss_rate']:.1f}% {d['false_alarms']} FA"
                    for d in c["conditions"] if d["miss_rate"] is not None)))
    operating.check(ops)
    uncertified = [f"{b} blocks at {p['fa_per_hour']:g} FA/h" for b, pts in ops["paths"].items()
                   for p in pts if not p["calibration"]["reached"]]
    if uncertified:
        progress(f"warning: {len(uncertified)} operating point(s) not certified ("
                 f"{', '.join(uncertified)}): {'stored' if write else 'would be stored'} "
                 "anyway, and detect says so when it uses one; calibrate on more hours "
                 "(--minutes, --streams) to certify them")
    if write:
        target = Path(out) if out is not None else model
        # under the folder's lock: another calibrate of the same file checks, merges and renames
        # after this one, so it sees this one's rename as a change and stops instead of both
        # reporting success and the later rename dropping the earlier's points
        with folder_lock(target.resolve().parent):
            image = model.read_bytes()
            if hashlib.sha256(image).hexdigest() != digest:
                raise BifsmnError("changed while it was being calibrated (another export or "
                                  "calibrate wrote it): the points, chosen for the old "
                                  "contents, were not written; run calibrate again", model)
            if target.resolve() != model.resolve():
                atomic_write_bytes(target, image)
            operating.write(target, ops, only_cascade)
        log(f"operating points written to {target}")
    return ops


def _archive_streams(clips, specs, minutes, paths, ds, negs, gate, ver, hop_ms, kept, posts,
                     log) -> str:
    """Build the feature-archive streams of ``specs`` ((snr, seed) each) from ``clips``
    (:class:`~bifsmn.detect.feature_streams.ArchiveClips`), score every path on them, append
    their ground truth to ``kept`` and posteriors to ``posts``; returns the description's clause
    for them."""
    from bifsmn.data.fbank import Fbank40Config
    from bifsmn.detect.feature_streams import (
        audio_energies,
        build_feature_stream,
        feature_posteriors,
    )

    cfg = Fbank40Config()  # the archive's rows (check_model: the paths read them)
    neg_e = audio_energies(negs, cfg) if negs else {}
    noise_e = list(audio_energies(ds.noise_files, cfg).values()) \
        if any(math.isfinite(s) for s, _ in specs) else []
    nkw = nunk = nneg = 0
    for snr, sd in specs:
        st = build_feature_stream(clips, minutes, snr, sd, neg_e, noise_e, cfg)
        kept.append(_Kept(list(st.segments), st.hours, st.snr_db))
        nkw += len(kept[-1].keywords)
        nunk += kept[-1].unknown
        nneg += len(kept[-1].negatives)
        for b, scorer in paths:
            hop = hop_samples(hop_ms, cfg.sample_rate, cfg.clip_samples)
            post, dt, scored, verified = feature_posteriors(scorer, st, hop, gate, ver)
            posts[b].append(post)
            log(f"[{b} blocks] archive stream {snr_name(st.snr_db)} (seed {sd}): {dt:.1f} s "
                f"for {st.hours * 60:.3g} min, network ran on {100 * scored:.1f}% of windows"
                + ("" if ver is None else f", verifier on {100 * verified:.1f}% of those"))
    return (f"; plus {len(specs)} x {minutes:g}-min feature streams (seeds {specs[0][1]}..."
            f"{specs[-1][1]}) from {Path(clips.root).name} [{clips.split}, "
            f"{len(clips.names)} images]: {nkw} keywords, {nunk} other words"
            + (f", {nneg} negative-speech clips (the same files)" if negs else ""))


def false_alarm_sources(events: Sequence[Event], keywords: Sequence[Segment],
                        segments: Sequence[Segment], tolerance: float,
                        stream: int = 0) -> list[tuple]:
    """Where each false alarm of one stream comes from: the source file of the placed clip it
    overlaps most, or ``("pause", stream, end)`` where it overlaps none. Why: streams reuse
    clips, and a clip that fires fires wherever it is placed (docs/results/fa-anatomy), so
    the false alarms behind a stored point can be fewer independent sources than events."""
    out = []
    for ev, kind in classify_events(events, keywords, tolerance):
        if kind != "fa":
            continue
        best, src = 0.0, None
        for g in segments:
            ov = min(ev.end, g.end) - max(ev.start, g.start)
            if ov > best and g.source:
                best, src = ov, ("clip", g.source)
        out.append(src if src is not None else ("pause", stream, round(ev.end, 3)))
    return out


@dataclass(frozen=True)
class _Kept:
    """What calibration keeps of a stream once its posteriors are computed (no audio)."""

    segments: list  # every placed clip (with its source file): truth and false-alarm sources
    hours: float
    snr_db: float

    @property
    def keywords(self) -> list:
        return keyword_segments(self.segments)

    @property
    def negatives(self) -> list:
        return negative_segments(self.segments)

    @property
    def unknown(self) -> int:
        return sum(g.label == UNKNOWN for g in self.segments)


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise BifsmnError(f"unknown threshold rule {rule!r} (choose from {', '.join(RULES)})")




def _points(posts, streams, labels, keywords, thr, targets, smoothing_ms, hop, sr, refr,
            tolerance, hours, confidence: float | None = None, per_snr: bool = True,
            rule: str = "pooled") -> list[dict]:
    """The stored points (module docstring). ``per_snr``: the budget holds in each SNR
    condition's hours separately (a point whose false alarms all come from the noisy streams
    does not hold there even if the pooled rate fits); False pools all streams. ``rule``:
    ``"keyword"`` (one threshold per keyword, :func:`allocate`), ``"shared"`` (one for all,
    :func:`allocate_shared`) or ``"pooled"`` (:func:`allocate` ordered by
    :func:`pooled_false_alarms`, budgeted on the counts)."""
    _check_rule(rule)
    conds = list(dict.fromkeys(st.snr_db for st in streams)) if per_snr else [None]
    which = [conds.index(st.snr_db) if per_snr else 0 for st in streams]
    chours = [sum(st.hours for st, w in zip(streams, which, strict=True) if w == c)
              for c in range(len(conds))]
    budgets = {f: [fa_budget(f, h, confidence) for h in chours] for f in targets}
    best: dict[float, tuple] = {}
    order = sorted(dict.fromkeys(float(m) for m in smoothing_ms),
                   key=lambda m: abs(m - operating.DEFAULT_SMOOTH_MS))
    for ms in order:
        n = smooth_frames(ms, hop, sr)
        smoothed = [smooth(p.probs, n) for p in posts]
        hits = np.zeros((len(keywords), len(thr)), np.int64)
        fas = np.zeros((len(conds), len(keywords), len(thr)), np.int64)
        for j, kw in enumerate(keywords):
            for post, st, sm, c in zip(posts, streams, smoothed, which, strict=True):
                truth = [s for s in st.keywords if s.label == kw]
                sc = sweep(post, labels, truth, st.hours, thr, n, refr, tolerance,
                           keywords=[kw], smoothed=sm)
                hits[j] += [s.hits for s in sc]
                fas[c, j] += [s.false_alarms for s in sc]
        for f, budget in budgets.items():
            if rule == "shared":
                idx = np.full(len(keywords), allocate_shared(fas, budget))
            else:
                idx = allocate(hits, fas, budget) if rule == "keyword" else \
                    allocate(hits, pooled_false_alarms(fas), budget, actual=fas)
            total = int(hits[np.arange(len(keywords)), idx].sum())
            if f not in best or total > best[f][0]:
                best[f] = (total, ms, n, idx, smoothed)
    points = []
    for f in targets:
        _, ms, n, idx, smoothed = best[f]
        th = {kw: float(thr[i]) for kw, i in zip(keywords, idx, strict=True)}
        hits = kws = negs = fired = 0
        cfa, chits, ckws = [0] * len(conds), [0] * len(conds), [0] * len(conds)
        sources: set = set()
        for k, (post, st, sm, c) in enumerate(zip(posts, streams, smoothed, which,
                                                   strict=True)):
            ev = events_from_smoothed(sm, post.ends, labels, th, refr, post.window,
                                      post.sample_rate, False, post.audio_end)
            s = score_events(ev, st.keywords, st.hours, tolerance, st.negatives)
            sources.update(false_alarm_sources(ev, st.keywords, st.segments, tolerance, k))
            hits, kws = hits + s.hits, kws + s.keywords
            cfa[c] += s.false_alarms
            chits[c] += s.hits
            ckws[c] += s.keywords
            negs, fired = negs + s.negatives, fired + s.negatives_fired
        fa = sum(cfa)
        points.append({
            "fa_per_hour": f, "smooth_ms": float(ms), "thresholds": th,
            "calibration": {"hits": hits, "keywords": kws, "false_alarms": fa, "hours": hours,
                            "false_alarm_sources": len(sources),
                            "miss_rate": (kws - hits) / kws if kws else None,
                            "fa_per_hour": fa / hours, "budget": sum(budgets[f]),
                            "reached": all(a <= b for a, b in zip(cfa, budgets[f],
                                                                    strict=True)),
                            "confidence": confidence,
                            "conditions": [
                                {"snr": "pooled" if c is None else snr_name(c), "hours": h,
                                 "budget": b, "false_alarms": a, "keywords": k,
                                 "miss_rate": (k - ht) / k if k else None}
                                for c, h, b, a, ht, k in zip(conds, chours, budgets[f], cfa,
                                                             chits, ckws, strict=True)],
                            "negative_clips": negs,
                            "negative_rate": fired / negs if negs else None}})
    return points
