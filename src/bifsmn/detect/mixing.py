"""Long test streams for streaming evaluation: the clips of a Speech Commands split laid on
silence (keywords interleaved with unknown words, negative speech and pauses), background noise
mixed in at a chosen SNR, and every clip's place recorded as ground truth. Used by
``bifsmn eval-stream`` and ``bifsmn calibrate`` (:mod:`bifsmn.detect.evaluate`,
:mod:`bifsmn.detect.calibrate`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from bifsmn.audio import load_audio
from bifsmn.data.archive import AudioSource
from bifsmn.data.labels import SILENCE, UNKNOWN, keywords_of
from bifsmn.detect.detector import (
    IGNORED,
)
from bifsmn.detect.placement import draw_placements
from bifsmn.errors import BifsmnError

SR = 16000
NEGATIVE = "_negative_"  # label of placed negative-speech clips (never a keyword)


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


class _Placed:
    """The ground-truth views of a stream's placed clips (``segments``)."""

    segments: list[Segment]

    @property
    def keywords(self) -> list[Segment]:
        """The ground truth: placed clips whose label is a keyword."""
        return keyword_segments(self.segments)

    @property
    def negatives(self) -> list[Segment]:
        """Placed negative-speech clips (``--negatives``)."""
        return negative_segments(self.segments)


@dataclass
class EvalStream(_Placed):
    """A synthetic long recording and what was placed in it."""

    audio: np.ndarray
    segments: list[Segment]
    sample_rate: int = SR
    snr_db: float = math.inf
    meta: dict = field(default_factory=dict)

    @property
    def hours(self) -> float:
        return len(self.audio) / self.sample_rate / 3600.0

    def truth(self) -> StreamTruth:
        """What was placed in the stream, without its audio: what reports need once every
        system has scored it (a 160-minute stream's audio is 614 MB)."""
        return StreamTruth(list(self.segments), self.hours, self.snr_db, dict(self.meta))


@dataclass
class StreamTruth(_Placed):
    """The ground truth and length of an :class:`EvalStream` whose audio is gone."""

    segments: list[Segment]
    hours: float
    snr_db: float = math.inf
    meta: dict = field(default_factory=dict)


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


def snr_name(snr: float | None, unit: str = " dB") -> str:
    """How outputs name a stream's SNR: ``"clean"`` for no noise (infinite or None), else the
    number with ``unit`` (``"10 dB"``; ``unit="dB"`` for file names, ``""`` for table cells)."""
    return "clean" if snr is None or math.isinf(snr) else f"{snr:g}{unit}"


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
        bed = cast(np.ndarray, noise)  # noisy: noise is not None
        audio = (audio + gain * bed[:length]).astype(np.float32)
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

