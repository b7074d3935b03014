"""Calibration streams built from a feature archive (fbank40 images) instead of audio.

Why: a stored "1 FA/h" point rests on how many distinct speakers and clips the calibration
streams hold. The shared audio folder's calibration split (3,321 clips of 708 speakers) puts
~2,150 distinct files 3.6 times each per SNR (docs/results/threshold-rule), while the fbank40
archive's validation split holds 4,954 more clips of 249 other speakers (speakers no model
here trained on and whose audio is not here). An fbank40 frame depends only on its own 480
samples, so a stream of rows can be assembled exactly as
:func:`bifsmn.detect.mixing.build_stream` assembles audio: a pause, a clip, a pause, ... and
the detector's 1-s windows every 100 ms are 98 consecutive rows.

Layout (rows at a 160-sample hop; row ``f`` covers samples ``[160 f, 160 f + 480)``): a pause of
uniform 0.5-2.0 s (zero rows: digital silence gives value 0), then a clip: with probability 0.3
(with negatives) a negative-speech recording's rows computed from its audio by the fbank40 front
end; else a keyword image (probability 0.5) or another word's image of the archive split. Clips
are drawn with replacement; the same seed gives the same clips at every SNR.

What is *not* the same as an audio stream (documented approximations):

* the ~2 frames at each clip boundary would straddle pause and clip in audio; here a clip's
  rows are its image's (zero-padded, centred for clips shorter than 1 s, as the archive stores
  them) and the pause's rows are zeros;
* archive rows are JPEG-decoded values (the model trained on such rows; on the 3,374 paired
  testing clips the FP teacher scores 94.25 % on the images and 94.37 % on their audio,
  docs/fbank40.md);
* noise is mixed in the filter-energy domain: ``E = 540 (exp(v / 10.0673) - 1)`` per band,
  clip and noise energies added (random-phase expectation: no cross term) and mapped back
  with the front end's rounding; SNR is measured on the 0-4 kHz filter energies (the sum over
  the 40 bands, mean over a clip's rows), each clip scaled to the mean clip level first
  (``snr_mode="clip"``);
* the gate is the audio gate's feature-domain twin (:func:`feature_gate`): the start-padding
  rule exactly, and "scored only if some row carries energy and the loudest row is at least
  the contrast (the stored gate's ``band_contrast_db``, else ``contrast_db``) above the
  10th-percentile row", on 0-4 kHz filter energies instead of pre-emphasised or band-passed
  25-ms frames.

``bifsmn calibrate --archive DIR`` adds such streams to the audio streams (their hours and false
alarms count in the same SNR conditions); docs/detection.md "Operating points" says what it
changed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from bifsmn.audio import load_audio
from bifsmn.data.archive import FeatureArchive
from bifsmn.data.fbank import KIND as FBANK_KIND
from bifsmn.data.fbank import Fbank40, Fbank40Config, image_to_input
from bifsmn.data.labels import COMMANDS, SILENCE, UNKNOWN, keywords_of
from bifsmn.detect.cascade import Verifier, check_compatible, keyword_columns, wake_mask
from bifsmn.detect.evaluate import NEGATIVE, Segment, excerpts
from bifsmn.detect.gate import FLOOR_QUANTILE, Gate
from bifsmn.detect.placement import draw_placements
from bifsmn.detect.scorer import Scorer
from bifsmn.detect.stream import DEFAULT_BATCH, Posteriors, silence_posterior, softmax
from bifsmn.errors import BifsmnError

#: Loudest-row floor of :func:`feature_gate` in dB of the 0-4 kHz filter-energy sum (int16-scale
#: samples), the twin of the audio gate's -60 dBFS; chosen where the two gates agree best on audio
#: streams of the dev data's training split, with errors balanced both ways (94.9 % of clean and
#: 89.5 % of 10-dB windows agree; docs/results/archive-calibration/gate_twin.py).
FEATURE_FLOOR_DB = 85.0


@dataclass
class FeatureStream:
    """A synthetic long recording as fbank40 rows, and what was placed in it."""

    rows: np.ndarray  # (N, n_mels) float32 values 0..255
    segments: list[Segment]
    cfg: Fbank40Config
    snr_db: float = math.inf
    meta: dict = field(default_factory=dict)

    @property
    def samples(self) -> int:
        """Length of the audio these rows stand for."""
        n = len(self.rows)
        return 0 if n == 0 else (n - 1) * self.cfg.hop_length + self.cfg.frame_length

    @property
    def hours(self) -> float:
        return self.samples / self.cfg.sample_rate / 3600.0


@dataclass(frozen=True)
class ArchiveClips:
    """The clips of one archive split that streams are drawn from (uint8 images)."""

    images: np.ndarray  # (N, frames, n_mels) uint8
    words: list[str]
    names: list[str]  # archive-relative paths (the false-alarm sources)
    root: str
    split: str
    keywords: tuple[str, ...] = COMMANDS  # the words streams hold as keywords

    @classmethod
    def load(cls, root: str | Path, split: str = "validation",
             task: tuple[int, tuple[str, ...]] = (12, ())) -> ArchiveClips:
        """The split's clips for ``task`` (``(num_classes, keywords)``, :func:`task_of`: the
        ten commands by default, or keywords of one's own)."""
        arch = FeatureArchive(root, *task)
        words = keywords_of(arch.labels)
        items = arch.items(split)
        imgs, _ = arch.images(split)
        keep = [i for i, it in enumerate(items) if it.word != SILENCE]
        if not any(items[i].word in words for i in keep):
            raise BifsmnError(f"archive split '{split}' has no keyword image", root)
        return cls(imgs.numpy()[keep], [items[i].word for i in keep],
                   [items[i].rel for i in keep], str(root), split, words)


def values_to_energy(v: np.ndarray, cfg: Fbank40Config) -> np.ndarray:
    """Image values -> filter energies (float64), the inverse of the front end's mapping.

    A numpy twin of :func:`bifsmn.data.fbank.values_to_energy`, kept on purpose: torch's expm1
    differs from numpy's in the last bit, and the committed archive-calibration results were
    computed with this one (docs/results/archive-calibration)."""
    return cfg.log_offset * np.expm1(np.asarray(v, np.float64) / cfg.log_scale)


def energy_to_values(e: np.ndarray, cfg: Fbank40Config) -> np.ndarray:
    """Filter energies -> image values 0..255 with the front end's rounding (float32)."""
    v = np.round(cfg.log_scale * np.log1p(np.asarray(e, np.float64) / cfg.log_offset))
    return np.clip(v, 0, 255).astype(np.float32)


def audio_energies(paths: Sequence[str | Path], cfg: Fbank40Config) -> dict[str, np.ndarray]:
    """Filter energies (frames, n_mels) of each audio file by the fbank40 front end."""
    import torch

    fe = Fbank40(cfg)
    out = {}
    for p in paths:
        wav = torch.from_numpy(np.asarray(load_audio(p), np.float32))
        out[str(p)] = fe.energies(wav)[0].numpy()
    return out


def _noise_bed(noises: Sequence[np.ndarray], rows: int, rng: np.random.Generator,
               min_piece: int = 100) -> np.ndarray:
    """``rows`` rows of noise energies, random excerpts laid end to end, scaled so that the
    mean over rows of the band sum is 1 (the row-domain twin of
    :func:`bifsmn.detect.mixing.noise_bed`)."""
    out = excerpts(noises, rows, rng, min_piece, np.float64)
    level = float(out.sum(axis=1).mean()) if out.size else 0.0
    return out / level if level > 0 else out


def build_feature_stream(clips: ArchiveClips, minutes: float, snr_db: float = math.inf,
                         seed: int = 0, negatives: dict[str, np.ndarray] | None = None,
                         noises: Sequence[np.ndarray] = (), cfg: Fbank40Config | None = None,
                         keyword_fraction: float = 0.5, gap: tuple[float, float] = (0.5, 2.0),
                         negative_fraction: float = 0.3) -> FeatureStream:
    """A seeded ``minutes``-long stream of fbank40 rows (module docstring).

    ``negatives``: filter energies of negative-speech recordings by path
    (:func:`audio_energies`); ``noises``: filter energies of noise recordings, mixed in at
    ``snr_db`` with each clip first scaled to the mean clip level (no noise: a clean stream)."""
    cfg = cfg or Fbank40Config()
    negs = sorted(negatives or {})
    kws = [i for i, w in enumerate(clips.words) if w in clips.keywords]
    unk = [i for i, w in enumerate(clips.words) if w not in clips.keywords]
    rng = np.random.default_rng(seed)
    samples = int(round(minutes * 60 * cfg.sample_rate))
    total = 1 + (samples - cfg.frame_length) // cfg.hop_length if samples >= cfg.frame_length \
        else 0
    per_s = cfg.sample_rate / cfg.hop_length

    def rows_of(pool: str, item) -> np.ndarray:
        return negatives[item] if pool == "negative" else clips.images[item]  # type: ignore[index]

    placed: list[tuple[int, np.ndarray, bool, str, str]] = []  # row, rows, is_energy, label, src
    for pos, pool, item in draw_placements(rng, total, per_s, gap, kws, unk, keyword_fraction,
                                           negs, negative_fraction,
                                           lambda pool, it: len(rows_of(pool, it))):
        if pool == "negative":
            placed.append((pos, rows_of(pool, item), True, NEGATIVE, cast(str, item)))
        else:
            clip = cast(int, item)  # keyword and unknown items are clip indices
            label = clips.words[clip] if pool == "keyword" else UNKNOWN
            placed.append((pos, clips.images[clip], False, label, clips.names[clip]))
    if not any(p[3] not in (UNKNOWN, NEGATIVE) for p in placed):
        raise BifsmnError(f"a {minutes:g}-minute stream holds no keyword clip; use more --minutes")
    noisy = math.isfinite(snr_db) and any(len(n) for n in noises)
    out = np.zeros((total, cfg.n_mels), np.float32)
    segments = []
    if noisy:
        energies = [r if e else values_to_energy(r, cfg) for _, r, e, _, _ in placed]
        powers = [float(e.sum(axis=1).mean()) if len(e) else 0.0 for e in energies]
        level = float(np.mean([p for p in powers if p > 0] or [0.0]))
        mix = np.zeros((total, cfg.n_mels), np.float64)
        for (p0, _, _, _, _), e, pw in zip(placed, energies, powers, strict=True):
            mix[p0:p0 + len(e)] = e * (level / pw if pw > 0 else 1.0)
        nrng = np.random.default_rng([seed, 1])
        mix += _noise_bed(noises, total, nrng) * (level / 10.0 ** (snr_db / 10.0))
        out[:] = energy_to_values(mix, cfg)
    else:
        snr_db = math.inf
        for p0, r, e, _, _ in placed:
            out[p0:p0 + len(r)] = energy_to_values(r, cfg) if e else r
    hop, fl, sr = cfg.hop_length, cfg.frame_length, cfg.sample_rate
    for p0, r, _, label, src in placed:
        segments.append(Segment(label, p0 * hop / sr, ((p0 + len(r) - 1) * hop + fl) / sr, src))
    return FeatureStream(out, segments, cfg, snr_db,
                         {"archive": clips.root, "split": clips.split, "seed": seed,
                          "minutes": minutes, "negative_files": len(negs)})


def feature_gate(windows: np.ndarray, lead_rows: np.ndarray, gate: Gate | None,
                 cfg: Fbank40Config, floor_db: float | None = FEATURE_FLOOR_DB) -> np.ndarray:
    """Boolean (B,): which windows of rows (B, frames, n_mels) are scored; the feature-domain
    twin of :meth:`bifsmn.detect.gate.Gate.active` (module docstring). ``lead_rows``: rows of
    each window that lie before the stream start."""
    b, frames, _ = windows.shape
    keep = np.ones(b, bool)
    if gate is None:
        return keep
    if gate.max_lead is not None:
        keep &= lead_rows * cfg.hop_length <= gate.max_lead * cfg.clip_samples  # as in audio
    if gate.floor_db is None and gate.contrast_db is None:
        return keep
    level = values_to_energy(windows, cfg).sum(axis=2)  # (B, frames)
    real = np.arange(frames)[None, :] >= lead_rows[:, None]
    db = 10.0 * np.log10(np.maximum(level, 1e-12))
    keep &= np.any((level > 0) & real & (db >= (-np.inf if floor_db is None else floor_db)),
                   axis=1)
    contrast = gate.band_contrast_db if gate.band_contrast_db is not None else gate.contrast_db
    if contrast is not None:
        db = np.where(real, db, np.nan)
        peak = np.nanmax(db, axis=1)
        floor = np.nanquantile(db, FLOOR_QUANTILE, axis=1, method="lower")
        keep &= peak - floor >= contrast
    return keep


def feature_posteriors(scorer: Scorer, stream: FeatureStream, hop: int,
                       gate: Gate | None = None, verifier: Verifier | None = None,
                       batch_size: int = DEFAULT_BATCH) -> tuple[Posteriors, float, float, float]:
    """Posteriors of every window of ``stream`` (one every ``hop`` samples, as the audio
    :class:`~bifsmn.detect.stream.Streamer` places them), the seconds it took, the fraction of
    windows the gate let through and the fraction of those the ``verifier`` scored (cascade rule
    of :mod:`bifsmn.detect.cascade`)."""
    check_model(scorer, stream.cfg)
    cfg = cast(Fbank40Config, scorer.feature_config)  # check_model: fbank40
    if verifier is not None:
        check_compatible(scorer, verifier)
    win, step, frames = cfg.clip_samples, cfg.hop_length, cfg.image_frames
    if hop % step or win % step:
        raise BifsmnError(f"archive streams need a hop that is a multiple of {step} samples "
                          f"(got {hop})")
    t0 = time.perf_counter()
    n = stream.samples
    ends = np.arange(hop, n + 1, hop, dtype=np.int64)
    first = (ends - win) // step  # first row of each window (negative: before the start)
    pad = max(0, int(-first.min())) if len(first) else 0
    rows = np.concatenate([np.zeros((pad, cfg.n_mels), np.float32), stream.rows])
    view = np.lib.stride_tricks.sliding_window_view(rows, frames, axis=0)  # (N, M, frames)
    labels = list(scorer.labels)
    silence = silence_posterior(labels)
    probs = np.tile(silence, (len(ends), 1))
    lead = np.clip(-first, 0, frames)
    keep = np.zeros(len(ends), bool)
    chunk = 4096
    for i in range(0, len(ends), chunk):
        w = view[first[i:i + chunk] + pad].transpose(0, 2, 1)
        keep[i:i + chunk] = feature_gate(w, lead[i:i + chunk], gate, cfg)
    idx = np.flatnonzero(keep)
    probs[idx] = _score(scorer, view, first[idx] + pad, batch_size, cfg)
    verified = 0
    if verifier is not None:
        on, _ = wake_mask(probs[:, keyword_columns(labels)].max(axis=1), ends,
                          verifier.hold_samples(cfg.sample_rate), None, verifier.wake)
        on &= keep
        final = np.tile(silence, (len(ends), 1))
        vidx = np.flatnonzero(on)
        # its own pooling (data.pool) of the same rows; fbank40 (check_model below)
        vcfg = cast(Fbank40Config, verifier.scorer.feature_config)
        check_model(verifier.scorer, stream.cfg)
        final[vidx] = _score(verifier.scorer, view, first[vidx] + pad, batch_size, vcfg)
        probs, verified = final, len(vidx)
    dt = time.perf_counter() - t0
    post = Posteriors(ends, probs.astype(np.float32), win, cfg.sample_rate, 0, n)
    return post, dt, len(idx) / max(len(ends), 1), verified / max(len(idx), 1)


def check_model(scorer: Scorer, cfg: Fbank40Config | None = None) -> None:
    """One-line error unless the model reads the rows the streams hold (fbank40, the archive's
    framing and bands)."""
    cfg = cfg or Fbank40Config()
    d = scorer.feature_config.to_dict()
    keys = ("sample_rate", "clip_samples", "frame_length", "hop_length", "n_mels")
    if d.get("kind") != FBANK_KIND or any(d.get(k) != getattr(cfg, k) for k in keys):
        from bifsmn.data.frontends import feature_kind

        raise BifsmnError("archive streams need a model with the archive's fbank40 features "
                          f"(the model has {feature_kind(scorer.feature_config)} features)",
                          getattr(scorer, "name", "model"))


def _score(scorer: Scorer, view: np.ndarray, starts: np.ndarray, batch_size: int,
           cfg: Fbank40Config) -> np.ndarray:
    """Softmax posteriors of the windows starting at rows ``starts`` (fixed batch shape)."""
    import torch

    out = np.empty((len(starts), len(scorer.labels)), np.float32)
    for i in range(0, len(starts), batch_size):
        part = starts[i:i + batch_size]
        m = len(part)
        batch = np.zeros((batch_size, cfg.image_frames, cfg.n_mels), np.float32)
        batch[:m] = view[part].transpose(0, 2, 1)
        feats = image_to_input(torch.from_numpy(batch), cfg).numpy()
        logits = np.asarray(scorer.scores(feats))
        if not np.isfinite(logits[:m]).all():
            raise BifsmnError(f"model {getattr(scorer, 'name', '')} gives non-finite scores on "
                              "archive stream windows (diverged or corrupt model?)")
        out[i:i + m] = softmax(logits[:m])
    return out
