"""Which windows reach the network: the start-padding rule and an energy/contrast gate.

Two cheap tests run on the raw samples of every 1-s window before any features are computed;
a window that fails either is **not scored** and gets the posterior of silence (probability 1
for ``_silence_``, 0 for every keyword), so it also counts as silence in the smoothing average.

* **Start padding.** Samples before the stream start are zeros. A window more than
  ``max_lead`` (half) of which lies before the start is not scored: the first window of a stream
  is 0.9 s of zeros and 0.1 s of audio, which the models never saw in training and on which, with
  no smoothing history, one window decided alone (issue 13: all of white noise's false alarms
  were in the first 0.1 s). Trailing padding (:meth:`Streamer.flush`) is *not* limited: it
  reproduces the right-padding of short training clips, so files shorter than 1 s still work.
* **Energy/contrast gate.** The window's samples are pre-emphasised (``y[n] = x[n] -
  0.97 x[n-1]``) and cut into 25-ms frames; each real (non-padding) frame's level is taken in
  dBFS (``10 log10(mean(y^2))``, full scale = 1.0). With
  ``peak`` the loudest frame and ``floor`` the 10th-percentile frame, the window is scored only if
  ``peak >= floor_db`` (something audible) **and** ``peak - floor >= contrast_db`` (something
  starts or stops inside the window: a word between pauses, not a stationary hum or hiss). Digital
  silence and quiet rooms fail the first test; white, pink or fan noise at any level fails the
  second. Non-stationary noise (dishes, a miaowing dude) passes and is left to the network and
  its calibrated thresholds.

Defaults (measured, see docs/detection.md "Gate"): ``floor_db = -60``, ``contrast_db = 10``
(levels after a 0.97 pre-emphasis, which flattens pink and rumbling noise).

* **Flatness** (``flat_max``, off by default): scored only if a loud frame is voiced-like
  (:func:`loud_flatness` <= ``flat_max``). It rejects bursts of broadband noise (clatter,
  white-noise bursts) that pass the contrast test; ``flat_max = 0.35`` keeps every keyword clip
  of the dev training split (max 0.047) and rejects synthetic "dishes" bursts (>= 0.457 in 99 %
  of windows), but 1-2 % of keyword windows in white/pink noise at 10 dB SNR exceed 0.3, so it
  stays off until a model is calibrated behind it and its 10-dB cost measured.
* **Speech-band contrast** (``band_contrast_db``; 12 dB in :data:`DEFAULT_GATE`): a window that
  fails the broadband contrast test is still scored if the power of its 25-ms Hann frames
  inside SPEECH_BAND_HZ (300-3400 Hz, no pre-emphasis) has that contrast. Why: in white or pink
  noise at 10 dB SNR a keyword's window has no quiet 10 % after pre-emphasis, and the broadband
  test alone left 34.5 % of the calibration streams' keywords at 10 dB (53.8 % at 5 dB) without
  a single scored window, so no model could find them; with the band test 5.8 % (13.0 %).
  Stationary noise stays out: over the ``_background_noise_`` files the band contrast is at most
  10.5 dB (running tap; white and pink about 4). ``python docs/results/band-gate/measure.py``.
  A stored gate without it (written before it existed) keeps it off: a model's thresholds stay
  with the gate they were calibrated behind.
``Gate(floor_db=None, contrast_db=None)`` keeps only the padding rule; ``gate=None`` in
:class:`~bifsmn.detect.stream.Streamer` and :class:`~bifsmn.detect.Detector` scores every
window as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from bifsmn.errors import BifsmnError

FRAME_MS = 25.0
PREEMPHASIS = 0.97  # y[n] = x[n] - 0.97 x[n-1]: flattens pink/rumble noise, keeps speech
FLOOR_QUANTILE = 0.1
SILENT_DB = -120.0  # level of an all-zero frame
LOUD_WITHIN_DB = 10.0  # the flatness test's "loud" frames: within this of the loudest
LEVEL_FLOOR = 1e-12  # mean square below which a frame's level is -120 dB (log of zero)
SPECTRUM_FLOOR = 1e-20  # added to every power bin, so the flatness' log is finite
# Band of the speech-band contrast test (band_contrast_db): where keywords put most of their
# energy, and where white or pink noise at a given SNR puts a minority of its own.
SPEECH_BAND_HZ = (300.0, 3400.0)


@dataclass(frozen=True)
class Gate:
    """Window gate; see the module docstring. ``None`` turns a test off."""

    floor_db: float | None = -60.0
    contrast_db: float | None = 10.0
    max_lead: float | None = 0.5
    # Spectral-flatness test (off by default; see flat_max in the module docstring): scored
    # only if some frame within 10 dB of the loudest has flatness <= flat_max (a voiced sound).
    flat_max: float | None = None
    # Speech-band contrast (off by default; see band_contrast_db in the module docstring): a
    # window failing the broadband contrast test is still scored if its speech-band contrast
    # reaches band_contrast_db.
    band_contrast_db: float | None = None

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():  # NaN would pass every comparison below
            if value is not None and math.isnan(value):
                raise BifsmnError(f"gate {name} must be a number (got {value})")
        if self.max_lead is not None and not 0.0 <= self.max_lead <= 1.0:
            raise BifsmnError(f"max_lead must be in [0, 1] (got {self.max_lead})")
        if self.contrast_db is not None and self.contrast_db < 0:
            raise BifsmnError(f"contrast_db must be >= 0 (got {self.contrast_db})")
        if self.band_contrast_db is not None and self.band_contrast_db < 0:
            raise BifsmnError(f"band_contrast_db must be >= 0 (got {self.band_contrast_db})")
        if self.flat_max is not None and not 0.0 < self.flat_max <= 1.0:
            raise BifsmnError(f"flat_max must be in (0, 1] (got {self.flat_max})")

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """The tests in force, in words for a log line (``floor -60 dB, contrast 10 dB, ...``);
        tests that are off are left out."""
        units = {"floor_db": ("floor", " dB"), "contrast_db": ("contrast", " dB"),
                 "max_lead": ("max lead", ""), "flat_max": ("flatness at most", ""),
                 "band_contrast_db": ("speech-band contrast", " dB")}
        on = [f"{units[k][0]} {v:g}{units[k][1]}" for k, v in asdict(self).items()
              if v is not None]
        return ", ".join(on) or "every test off"

    @classmethod
    def from_dict(cls, d: dict | None) -> Gate | None:
        return None if d is None else cls(**{k: d[k] for k in asdict(cls()) if k in d})

    def active(self, windows: np.ndarray, ends: np.ndarray, audio_end: int | None,
               sample_rate: int, cache: FrameSpectra | None = None) -> np.ndarray:
        """Boolean (B,): which windows are scored. ``ends`` are the windows' end samples in the
        stream (window ``i`` covers ``[ends[i] - W, ends[i])``), ``audio_end`` the number of real
        samples (None: all samples up to ``ends`` are real). ``cache``: the stream's
        :class:`FrameSpectra` (the flatness test then computes each frame once per stream).

        Float32 windows run the C++ gate (``bifsmn.engine._engine.gate_active``: the same
        tests and float64 statistics up to rounding, tests/test_detect_gate.py); others run
        :meth:`active_numpy`, the definition."""
        if _native_fits(windows, sample_rate):
            return self._active_native(windows, ends, audio_end, sample_rate, cache)
        return self.active_numpy(windows, ends, audio_end, sample_rate, cache)

    def _active_native(self, windows: np.ndarray, ends: np.ndarray, audio_end: int | None,
                       sample_rate: int, cache: FrameSpectra | None) -> np.ndarray:
        f, lo, hi = _native_frames(sample_rate)
        keep = np.empty(len(windows), np.uint8)
        _native().gate_active(
            np.ascontiguousarray(windows), np.ascontiguousarray(ends, np.int64),
            -1 if audio_end is None else int(audio_end), _hann(f), f, lo, hi, NATIVE_CONSTANTS,
            self.floor_db, self.contrast_db, self.max_lead, self.flat_max,
            self.band_contrast_db if self.contrast_db is not None else None,
            None if cache is None else cache.native(), keep)
        return keep.view(bool)  # 0/1 bytes: the same booleans without a copy

    def active_numpy(self, windows: np.ndarray, ends: np.ndarray, audio_end: int | None,
                     sample_rate: int, cache: FrameSpectra | None = None) -> np.ndarray:
        """:meth:`active` in numpy: the gate's definition, and the fallback where the native
        one does not apply (windows that are not float32)."""
        b, w = windows.shape
        ends = np.asarray(ends, np.int64)
        lead = np.clip(w - ends, 0, w)
        keep = np.ones(b, bool)
        if self.max_lead is not None:
            keep &= lead <= self.max_lead * w
        if self.floor_db is None and self.contrast_db is None:
            return keep
        peak, floor = frame_levels(windows, ends, audio_end, sample_rate)
        if self.floor_db is not None:
            keep &= peak >= self.floor_db
        if self.contrast_db is not None:
            ok = peak - floor >= self.contrast_db
            if self.band_contrast_db is not None:
                retry = np.flatnonzero(keep & ~ok)
                if retry.size:
                    ok[retry] = band_contrast(windows[retry], ends[retry], audio_end,
                                              sample_rate, cache) >= self.band_contrast_db
            keep &= ok
        if self.flat_max is not None and keep.any():
            idx = np.flatnonzero(keep)
            flat = loud_flatness(windows[idx], ends[idx], audio_end, sample_rate,
                                cache=cache)
            keep[idx[flat > self.flat_max]] = False
        return keep


# The gate of models without a stored one, and the base of the CLI's gate flags: the band test
# on (a stored gate without band_contrast_db, written before it existed, keeps it off).
DEFAULT_GATE = Gate(band_contrast_db=12.0)


def _frame_starts(ends: np.ndarray, nf: int, f: int, audio_end: int | None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(B, nf) stream sample where each window's frame j starts (the last nf*f samples of the
    window ending at ``ends``, cut into frames of f), and whether it is real: not touching the
    padding before the stream start or after ``audio_end``."""
    first = np.asarray(ends, np.int64) - nf * f
    starts = first[:, None] + f * np.arange(nf)[None, :]
    real = starts >= 0
    if audio_end is not None:
        real &= starts + f <= audio_end
    return starts, real


def _peak_floor(db: np.ndarray, real: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per window (rows of ``db``, frame levels in dB): the loudest real frame, the
    FLOOR_QUANTILE frame among the real ones, and the number of real frames (``real`` masks
    frames touching padding). Both contrast tests use it."""
    nreal = real.sum(axis=1)
    peak = np.where(real, db, -np.inf).max(axis=1, initial=-np.inf)
    srt = np.sort(np.where(real, db, np.inf), axis=1)
    idx = np.floor(FLOOR_QUANTILE * np.maximum(nreal - 1, 0)).astype(np.int64)
    floor = np.take_along_axis(srt, idx[:, None], axis=1)[:, 0]
    return peak, floor, nreal


def frame_levels(windows: np.ndarray, ends: np.ndarray, audio_end: int | None,
                 sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(peak, floor) frame level in dBFS of each window's real samples (25-ms frames; frames
    touching the padding before the start or after ``audio_end`` are left out). A window with
    no real frame gets ``SILENT_DB`` for both."""
    b, w = windows.shape
    ends = np.asarray(ends, np.int64)
    f = _frame_len(sample_rate)
    nf = w // f
    x = np.asarray(windows, np.float32)
    x = np.concatenate([x[:, :1], x[:, 1:] - PREEMPHASIS * x[:, :-1]], axis=1)
    x = x[:, w - nf * f:].reshape(b, nf, f)
    ms = np.einsum("bij,bij->bi", x, x, dtype=np.float64) / f
    db = 10.0 * np.log10(np.maximum(ms, LEVEL_FLOOR))
    _, real = _frame_starts(ends, nf, f, audio_end)
    peak, floor, nreal = _peak_floor(db, real)
    none = nreal == 0
    peak[none] = SILENT_DB
    floor[none] = SILENT_DB
    return peak, floor


@lru_cache(maxsize=8)
def _hann(f: int) -> np.ndarray:
    out = np.hanning(f)
    out.flags.writeable = False
    return out


def _frame_len(sample_rate: int) -> int:
    return max(1, round(FRAME_MS * sample_rate / 1000.0))


# what the C++ gate takes of this module's definition (GateParams in cpp/include/bifsmn/gate.h)
NATIVE_CONSTANTS = np.array([PREEMPHASIS, FLOOR_QUANTILE, SILENT_DB, LOUD_WITHIN_DB, LEVEL_FLOOR,
                             SPECTRUM_FLOOR])
NATIVE_CONSTANTS.flags.writeable = False


@lru_cache(maxsize=1)
def _native():  # noqa: ANN202  (the extension module)
    """The extension module, looked up once (an import statement per call was ~3 µs of
    every live hop); a failed lookup raises and is not cached."""
    from bifsmn.engine import native

    return native()


@lru_cache(maxsize=8)
def _native_frames(sample_rate: int) -> tuple[int, int, int]:
    """(frame length, first and last speech-band bin) as the C++ gate takes them."""
    f = _frame_len(sample_rate)
    band = _band_bins(f, sample_rate)
    return f, band.start + 1, band.stop


def _native_fits(windows: np.ndarray, sample_rate: int) -> bool:
    """Whether the C++ gate computes what :meth:`Gate.active_numpy` would: float32 windows
    (numpy's spectra read the windows' own dtype) and frames long enough to hold the speech
    band."""
    if not (isinstance(windows, np.ndarray) and windows.dtype == np.float32
            and windows.ndim == 2):
        return False
    f, lo, hi = _native_frames(sample_rate)
    return f >= 4 and 1 <= lo <= hi <= f // 2


def _band_bins(f: int, sample_rate: int) -> slice:
    """Bins (of the DC-less power spectrum of an ``f``-sample frame) inside SPEECH_BAND_HZ."""
    lo = max(1, int(np.ceil(SPEECH_BAND_HZ[0] * f / sample_rate)))
    hi = min(f // 2, int(np.floor(SPEECH_BAND_HZ[1] * f / sample_rate)))
    return slice(lo - 1, hi)


def _frame_spectra(frames: np.ndarray, sample_rate: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean power, flatness, speech-band power) of each row of ``frames`` (N, f): Hann window,
    power spectrum with DC left out, flatness = geometric / arithmetic mean, band power = mean
    power of the bins inside SPEECH_BAND_HZ."""
    p = np.abs(np.fft.rfft(frames * _hann(frames.shape[1]), axis=1))[:, 1:] ** 2 + SPECTRUM_FLOOR
    mean = p.mean(axis=1)
    band = p[:, _band_bins(frames.shape[1], sample_rate)].mean(axis=1)
    return mean, np.exp(np.log(p).mean(axis=1)) / mean, band


class FrameSpectra:
    """A stream's per-frame (mean power, flatness), keyed by the frame's first stream sample.

    Why: with a 100-ms hop each 1-s window shares 36 of its 40 gate frames with the previous
    one; computing every frame's FFT once per stream instead of once per window cuts the
    flatness test's cost about tenfold (it was most of the detector's Python time). A frame's
    values depend only on the stream samples it covers, so cached and uncached results are the
    same numbers (``tests/test_detect_gate.py``). Once it holds more than four calls' worth of
    frames, frames that start before the latest call's first frame are dropped, so memory stays
    flat on an endless stream; one cache per stream (:meth:`clear` when the stream restarts:
    positions then mean other samples)."""

    def __init__(self) -> None:
        self._values: dict[int, tuple[float, float, float]] = {}
        self._native = None  # the C++ gate's cache (same role), made on first use

    def __len__(self) -> int:
        return len(self._values) + (len(self._native) if self._native is not None else 0)

    def clear(self) -> None:
        self._values.clear()
        if self._native is not None:
            self._native.clear()

    def native(self):  # noqa: ANN201  (bifsmn.engine._engine.GateCache)
        """The frames the C++ gate has computed for this stream (one cache per stream)."""
        if self._native is None:
            self._native = _native().GateCache()
        return self._native

    def lookup(self, starts: np.ndarray, frames: Callable[[np.ndarray], np.ndarray],
               sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, flatness, band power) for frames beginning at stream samples ``starts`` (any
        shape); ``frames(i)`` returns the samples (len(i), f) of the frames at flat indices
        ``i`` of ``starts``; only frames not seen before are computed."""
        flat_starts = starts.ravel()
        uniq, first, inv = np.unique(flat_starts, return_index=True, return_inverse=True)
        out = np.empty((3, uniq.size))
        vals = self._values
        missing = []
        for k, s in enumerate(uniq.tolist()):
            got = vals.get(s)
            if got is None:
                missing.append(k)
            else:
                out[:, k] = got
        if missing:
            miss = np.asarray(missing, np.int64)
            new = np.stack(_frame_spectra(frames(first[miss]), sample_rate))
            out[:, miss] = new
            for s, v in zip(uniq[miss].tolist(), new.T.tolist(), strict=True):
                vals[s] = tuple(v)
        if uniq.size:  # forget frames before this call's earliest one: streams move forward
            lo = int(uniq[0])
            if len(vals) > 4 * uniq.size:
                self._values = {s: v for s, v in vals.items() if s >= lo}
        mean, flat, band = (a[inv].reshape(starts.shape) for a in out)
        return mean, flat, band


def _window_spectra(windows: np.ndarray, ends: np.ndarray, audio_end: int | None,
                    sample_rate: int, cache: FrameSpectra | None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per window and 25-ms frame (B, nf): (mean power, flatness, band power, real frame)."""
    b, w = windows.shape
    f = _frame_len(sample_rate)
    nf = w // f
    x = np.asarray(windows, np.float64)[:, w - nf * f:].reshape(b, nf, f)
    starts, real = _frame_starts(ends, nf, f, audio_end)
    if cache is None:
        mean, flat, band = (a.reshape(b, nf)
                            for a in _frame_spectra(x.reshape(b * nf, f), sample_rate))
    else:
        rows = x.reshape(b * nf, f)
        mean, flat, band = cache.lookup(starts, lambda i: rows[i], sample_rate)
    return mean, flat, band, real


def loud_flatness(windows: np.ndarray, ends: np.ndarray, audio_end: int | None,
                  sample_rate: int, within_db: float = LOUD_WITHIN_DB,
                  cache: FrameSpectra | None = None) -> np.ndarray:
    """Per window, the lowest spectral flatness (geometric over arithmetic mean of the power
    spectrum, DC left out; 25-ms Hann frames) among the real frames within ``within_db`` of the
    window's loudest real frame. Voiced speech has harmonics and scores near 0 (every keyword
    clip of the dev data's training split: at most 0.047); white-noise bursts score about 0.5
    (synthetic "dishes": 1st percentile of windows 0.457). A window with no real frame gets 1.
    With ``cache`` (the stream's :class:`FrameSpectra`) frames seen before are not recomputed.
    """
    mean, flat, _, real = _window_spectra(windows, ends, audio_end, sample_rate, cache)
    lvl = np.where(real, 10.0 * np.log10(mean), -np.inf)
    loud = real & (lvl >= lvl.max(axis=1, keepdims=True) - within_db)
    out = np.where(loud, flat, np.inf).min(axis=1)
    return np.where(np.isfinite(out), out, 1.0)


def band_contrast(windows: np.ndarray, ends: np.ndarray, audio_end: int | None,
                  sample_rate: int, cache: FrameSpectra | None = None) -> np.ndarray:
    """Per window, loudest minus 10th-percentile real frame in dB, measured on the power inside
    SPEECH_BAND_HZ (25-ms Hann frames, no pre-emphasis): the contrast test of the speech band.
    In broadband noise a keyword stands out more there than in the whole spectrum, because
    the noise spreads its power over all frequencies while speech keeps most of its own in the
    band. A window with no real frame gets 0."""
    _, _, band, real = _window_spectra(windows, ends, audio_end, sample_rate, cache)
    db = 10.0 * np.log10(band)
    peak, floor, nreal = _peak_floor(db, real)
    return np.where(nreal > 0, peak - floor, 0.0)


MODEL_GATE = "model"  # sentinel: the gate the model's operating points were calibrated with


def resolve_gate(gate: Gate | None | str, ops: dict | None) -> Gate | None:
    """The gate to run: ``gate`` itself unless it is :data:`MODEL_GATE`, which means the one
    stored with the model's operating points (``ops["gate"]``, written by ``bifsmn
    calibrate``; ``None`` there means the points were calibrated without a gate), or
    :data:`DEFAULT_GATE` for a model without a stored record.

    Why: the stored thresholds were chosen on posteriors computed behind that gate (windows it
    rejects count as silence in the smoothing); running another gate shifts the smoothed scores
    the thresholds apply to, so the model's settings are the default and explicit arguments
    (a :class:`Gate`, ``None`` for no gate, CLI flags) override them."""
    if gate is None or isinstance(gate, Gate):
        return gate
    if gate != MODEL_GATE:  # False, 0 or a dict would fail only at the first audio
        raise BifsmnError(f"gate must be a Gate, None or {MODEL_GATE!r} (got {gate!r}; "
                          "Gate.from_dict builds one from a dict)")
    if not ops or "gate" not in ops:
        return DEFAULT_GATE
    return Gate.from_dict(ops["gate"])
