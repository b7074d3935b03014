"""Streaming posteriors: a 1-s window every hop over audio that arrives in arbitrary chunks.

The model classifies 1-s clips, so a stream is scored as a sliding window: every ``hop`` samples
(default 1600 = 100 ms) the last ``window`` samples (the model's clip length, 1 s) are turned
into the model's features (the 32 x 32 log-mel, or fbank40 for models trained on it) and
classified. The only state is the last ``window`` samples (plus the
samples of a hop not yet complete, in a buffer of one window and ``BUFFER_HOPS`` hops that is
compacted, not grown, by chunks shorter than it), so memory is flat however long the stream runs.

Conventions, shared with the offline reference :func:`sliding_posteriors`:

* Window ``k`` (k = 1, 2, ...) ends at sample ``k * hop`` of the stream and covers
  ``[k * hop - window, k * hop)``. Samples before the stream start are zeros: the stream is
  **zero-padded at the start**, so the first posterior arrives after one hop and a keyword in the
  first second (e.g. at 0.2 s) is scored like any other.
* :meth:`Streamer.flush` ends the stream: half a window of zeros (0.5 s) is appended and the
  last hop completed with zeros, so a keyword in the last half second is still seen centred in
  a window, and a file shorter than 1 s is also scored exactly as the zero-padded clip
  (:func:`bifsmn.audio.fix_length`) the model was trained on. Reported times are clipped to the
  real audio (``[0, audio_end]``); the padding is not audio.

Exactness: features of a window are a function of its samples only. The log-mel's STFT frames
are recomputed per window, with the window's own reflect padding, exactly as for a training clip
(caching them across windows would not be exact because of that padding and because the hop is
not a multiple of the STFT hop). fbank40 frames have no padding and a 160-sample hop, so with a
scorer that offers ``stream_frontend()`` (the engine, :class:`~bifsmn.detect.scorer.EngineScorer`)
each frame is computed once per stream position and reused by every window that holds it (a
100 ms hop computes 10 of a window's 98 frames), bit-identical to computing each window in full
(``tests/test_stream_cache.py``). PyTorch scorers always run the network on batches
of exactly ``batch_size`` windows (the last batch padded with zeros): PyTorch's CPU GEMMs round
differently for different batch sizes (about 1e-6), and a fixed shape makes the scores
independent of how the audio was chunked. The engine's scores of a window do not depend on its
batch (``EngineScorer.batch_invariant``), so a live stream runs only the windows it has: one per
hop, not a batch of 16 mostly zero windows (16x the network's work per hop until session 33).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import numpy as np

from bifsmn.data.frontends import make_frontend
from bifsmn.detect.cascade import Verifier, check_compatible, keyword_columns, wake_mask
from bifsmn.detect.gate import DEFAULT_GATE, FrameSpectra, Gate
from bifsmn.detect.scorer import Scorer, detection_torch
from bifsmn.errors import BifsmnError, NonFiniteError
from bifsmn.pcm import as_samples, check_samples, pcm_to_float32

DEFAULT_HOP_MS = 100.0
DEFAULT_BATCH = 16
BUFFER_HOPS = 32  # Streamer: hops of samples held beyond one window before the buffer compacts


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, returned as float32 (row by row, so batch-independent)."""
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return (z / z.sum(axis=1, keepdims=True)).astype(np.float32)


def hop_samples(hop_ms: float, sample_rate: int, window: int) -> int:
    """Hop in samples from milliseconds; must be at least one sample and at most one window."""
    ms = float(hop_ms)
    hop = round(ms * sample_rate / 1000.0) if math.isfinite(ms) else 0  # NaN/inf: refused
    if not 1 <= hop <= window:
        raise BifsmnError(f"hop must be between {1000 / sample_rate:.4g} ms and "
                          f"{1000 * window / sample_rate:g} ms (got {hop_ms} ms)")
    return hop


def check_hop(hop: object, window: int) -> int:
    """A hop in samples: a whole number from 1 to one window (a hop of 0 never advances, a
    longer one skips audio no window sees), or one line saying so."""
    try:
        n = None if isinstance(hop, bool | str) else int(hop)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        n = None
    if n is None or n != hop or not 1 <= n <= window:
        raise BifsmnError(f"hop must be 1..{window} samples (got {hop!r})")
    return n


def as_mono_float(chunk: object) -> np.ndarray:
    """A 1-D float32 chunk from float or integer PCM (int16 like openWakeWord, int32):
    :func:`bifsmn.pcm.pcm_to_float32`, the same conversion ``Engine`` applies. A (samples,
    channels) block with up to 8 channels, as ``sounddevice`` delivers it (``(n, 1)`` for
    mono), is mixed to mono by its channel mean."""
    x = as_samples(chunk, "audio chunk")
    if x.ndim != 1 and not (x.ndim == 2 and 1 <= x.shape[1] <= 8):
        raise BifsmnError(f"audio chunks must be 1-D mono samples or (samples, channels) "
                          f"blocks, got shape {x.shape}")
    x = pcm_to_float32(x)
    if x.ndim == 2:
        x = np.ascontiguousarray(x[:, 0]) if x.shape[1] == 1 else x.mean(axis=1, dtype=np.float32)
    check_samples(x, "audio chunk")
    return x


@dataclass(frozen=True)
class Frame:
    """One posterior vector and the window it was computed on (times in seconds)."""

    index: int
    start: float
    end: float
    probs: np.ndarray


@dataclass(frozen=True)
class Posteriors:
    """Posteriors of consecutive windows: ``probs[i]`` is for the window ending at ``ends[i]``.

    ``ends`` are sample indices (exclusive) in the zero-padded stream; ``start``/``end`` give
    seconds clipped to the real audio ``[0, audio_end]`` (the padding is not audio).
    """

    ends: np.ndarray
    probs: np.ndarray
    window: int
    sample_rate: int
    first_index: int = 0
    audio_end: int | None = None

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def end(self) -> np.ndarray:
        e = self.ends if self.audio_end is None else np.minimum(self.ends, self.audio_end)
        return e / self.sample_rate

    @property
    def start(self) -> np.ndarray:
        return np.maximum(self.ends - self.window, 0) / self.sample_rate

    def __iter__(self) -> Iterator[Frame]:
        start, end = self.start, self.end
        for i in range(len(self)):
            yield Frame(self.first_index + i, float(start[i]), float(end[i]), self.probs[i])

    @staticmethod
    def concat(parts: list[Posteriors], num_classes: int, window: int,
               sample_rate: int) -> Posteriors:
        """Join consecutive blocks (an empty list gives an empty block)."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return Posteriors(np.zeros(0, np.int64), np.zeros((0, num_classes), np.float32),
                              window, sample_rate)
        return Posteriors(np.concatenate([p.ends for p in parts]),
                          np.concatenate([p.probs for p in parts]), window, sample_rate,
                          parts[0].first_index, parts[-1].audio_end)


def silence_posterior(labels: list[str]) -> np.ndarray:
    """Posterior given to a window that is not scored: 1 for ``_silence_`` (if the model has
    it), 0 for every other class."""
    p = np.zeros(len(labels), np.float32)
    if "_silence_" in labels:
        p[labels.index("_silence_")] = 1.0
    return p


class WindowScorer:
    """Windows of raw samples (B, window) -> posteriors (B, classes) with a fixed batch shape.

    With a :class:`~bifsmn.detect.gate.Gate` (and the windows' ``ends``), windows the gate
    rejects are not scored and get :func:`silence_posterior`; ``windows_seen`` and
    ``windows_scored`` count how many went through the network."""

    def __init__(self, scorer: Scorer, batch_size: int = DEFAULT_BATCH,
                 gate: Gate | None = DEFAULT_GATE, verifier: Verifier | None = None) -> None:
        if batch_size < 1:
            raise BifsmnError(f"batch size must be at least 1 (got {batch_size})")
        self.scorer = scorer
        self.gate = gate
        self.windows_seen = 0
        self.windows_scored = 0
        self.windows_verified = 0
        self.verifier = verifier
        self._verify: WindowScorer | None = None
        if verifier is not None:  # the second stage (bifsmn.detect.cascade): no gate of its own
            check_compatible(scorer, verifier)
            self._verify = WindowScorer(verifier.scorer, batch_size, None)
            self._hold = verifier.hold_samples(int(scorer.feature_config.sample_rate))
            self._kw = keyword_columns(list(scorer.labels))
        self._silence = silence_posterior(list(scorer.labels))
        self.batch_size = int(batch_size)
        # pad every batch to batch_size windows unless the scorer's scores do not depend on it
        self._fixed_batch = not getattr(scorer, "batch_invariant", False)
        cfg = scorer.feature_config
        self.window = int(cfg.clip_samples)
        self.sample_rate = int(cfg.sample_rate)
        custom = getattr(scorer, "features", None)
        # the scorer's own front end, else None: the Python one (a method, not a bound method
        # stored here: that would be a reference cycle keeping the scorer's engine alive)
        self._custom_features = custom if callable(custom) else None
        if self._custom_features is None:
            # the model's own front end: 32 x 32 log-mel or fbank40 (feature_config's kind)
            detection_torch()  # the Python front end runs on torch (with --threads applied)
            self._frontend = make_frontend(cfg)
        make_stream = getattr(scorer, "stream_frontend", None)
        self._make_stream = make_stream if callable(make_stream) else None
        self._pad_features: np.ndarray | None = None
        self.reset()

    def reset(self) -> None:
        """A new stream: forget the front-end rows and gate frames shared between windows
        (positions restart)."""
        self._stream = self._make_stream() if self._make_stream is not None else None
        # a stream front end that also runs the network in the same call (EngineScorer's):
        # used when every batch is exactly its windows (a batch-invariant scorer)
        self._stream_logits = (getattr(self._stream, "logits", None)
                               if not self._fixed_batch else None)
        self._gate_frames = FrameSpectra()
        self._last_wake: int | None = None
        if self._verify is not None:
            self._verify.reset()

    def _features(self, windows: np.ndarray) -> np.ndarray:
        if self._custom_features is not None:
            return self._custom_features(windows)
        import torch

        return self._frontend(torch.from_numpy(windows)).float().numpy()

    def __call__(self, windows: np.ndarray, ends: np.ndarray | None = None,
                 audio_end: int | None = None) -> np.ndarray:
        self.windows_seen += len(windows)
        starts = None if ends is None else np.asarray(ends, np.int64) - self.window
        if self.gate is not None and ends is not None and len(windows):
            keep = self.gate.active(windows, ends, audio_end, self.sample_rate,
                                    self._gate_frames)
            if keep.all():  # the windows as they are: a boolean index would copy each one
                out = self._score(windows, starts)
            else:
                out = np.tile(self._silence, (len(windows), 1))
                if keep.any():
                    # (ends is not None here, so neither is starts)
                    out[keep] = self._score(windows[keep], cast(np.ndarray, starts)[keep])
        else:
            keep = None
            out = self._score(windows, starts)
        if self._verify is None or not len(windows):
            return out
        # second stage: only windows woken by the first stage (and let through by the gate)
        assert self.verifier is not None
        on, self._last_wake = wake_mask(out[:, self._kw].max(axis=1), ends, self._hold,
                                        self._last_wake, self.verifier.wake)
        if keep is not None:
            on &= keep
        self.windows_verified += int(on.sum())
        if on.all():  # as above: no copy of the windows
            return self._verify._score(windows, starts)
        final = np.tile(self._silence, (len(windows), 1))
        if on.any():
            final[on] = self._verify._score(windows[on], None if starts is None else starts[on])
        return final

    def _batch_features(self, part: np.ndarray, starts: np.ndarray | None) -> np.ndarray:
        """Features of one batch of exactly ``batch_size`` windows (``part`` padded with zero
        windows; only ``part`` for a batch-invariant scorer); the stream's shared rows are used
        when the windows' positions are known."""
        m = len(part)
        b = self.batch_size if self._fixed_batch else m
        if self._stream is None or starts is None:
            batch = np.zeros((b, self.window), np.float32)
            batch[:m] = part
            return self._features(batch)
        feats = self._stream(np.ascontiguousarray(part, np.float32), starts)
        if m == b:
            return feats
        if self._pad_features is None:  # the features of a zero window, as the plain path pads
            self._pad_features = self._features(np.zeros((1, self.window), np.float32))
        pad = np.broadcast_to(self._pad_features, (b - m, *self._pad_features.shape[1:]))
        return np.concatenate([feats, pad])

    def _score(self, windows: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
        n = len(windows)
        self.windows_scored += n
        out = np.empty((n, len(self.scorer.labels)), np.float32)
        for i in range(0, n, self.batch_size):
            part = windows[i:i + self.batch_size]
            m = len(part)
            b = self.batch_size if self._fixed_batch else m
            if self._stream_logits is not None and starts is not None:
                logits = self._stream_logits(np.ascontiguousarray(part, np.float32),
                                             starts[i:i + self.batch_size])
            else:
                feats = self._batch_features(
                    part, None if starts is None else starts[i:i + self.batch_size])
                logits = np.asarray(self.scorer.scores(feats))
            if logits.shape != (b, len(self.scorer.labels)):
                raise BifsmnError(f"{self.scorer.name}: scores of shape {logits.shape}, "
                                  f"expected {(b, len(self.scorer.labels))}")
            if not np.isfinite(logits[:m]).all():  # once per batch: NaN never becomes an event
                raise NonFiniteError(f"model {self.scorer.name} gives non-finite scores (NaN or "
                                     "inf) on this audio (diverged or corrupt model?)")
            out[i:i + m] = softmax(logits[:m])
        return out


class Streamer:
    """Stateful sliding-window scorer for a stream fed in chunks of any size.

    >>> s = Streamer(scorer)                 # hop 1600 samples = 100 ms at 16 kHz
    >>> for chunk in chunks:                  # 16 kHz mono float32 (or int16) of any length
    ...     post = s.process(chunk)           # zero or more new windows
    >>> post = s.flush()                      # 0.5 s of zeros + the partial last hop

    Outputs equal :func:`sliding_posteriors` over the whole stream, whatever the chunking.
    """

    def __init__(self, scorer: Scorer, hop: int | None = None, batch_size: int = DEFAULT_BATCH,
                 gate: Gate | None = DEFAULT_GATE, verifier: Verifier | None = None) -> None:
        self.scorer = scorer
        self._score = WindowScorer(scorer, batch_size, gate, verifier)
        self.window = self._score.window
        self.sample_rate = self._score.sample_rate
        self.labels = list(scorer.labels)
        if hop is None:
            hop = hop_samples(DEFAULT_HOP_MS, self.sample_rate, self.window)
        self.hop = check_hop(hop, self.window)
        # hops (windows) per slice of a long chunk (process): at least BUFFER_HOPS - 1 and a
        # whole number of batches, so that a scorer padding every batch (TorchScorer) runs full
        # batches; the buffer holds one slice beyond the window and a partial hop
        per = self._score.batch_size
        self._slice_hops = per * -(-(BUFFER_HOPS - 1) // per)
        self.reset()

    @property
    def windows_scored(self) -> int:
        """Windows the network has run on since this streamer was made (those the gate let
        through), across resets: a caller compares it before and after a file to tell "the
        gate passed nothing" from "the network scored it low" (``detect --closest``)."""
        return self._score.windows_scored

    def reset(self) -> None:
        """Forget all audio: the next sample is sample 0 of a new, zero-padded stream."""
        self._score.reset()
        # The samples from the window ending at self._done onwards are self._buf[_lo:_hi]: that
        # window (`window` samples, zeros before the stream start), then the samples of hops
        # not yet complete. New samples are appended at _hi and emitted hops advance _lo, so a
        # hop copies only its own samples; the live part moves to the front only when the
        # buffer is full (once every ~BUFFER_HOPS hops). Before session 36 every hop
        # concatenated and copied the whole window twice (~130 KB).
        self._buf = np.zeros(self.window + max(BUFFER_HOPS, self._slice_hops + 1) * self.hop,
                             np.float32)
        self._lo, self._hi = 0, self.window
        self._done = 0  # stream samples covered by emitted windows
        self._count = 0  # windows emitted
        self.samples_seen = 0  # real audio samples received
        self._flushed_at = 0
        self._flushing = False

    @property
    def _npending(self) -> int:
        """Samples received after the last emitted window."""
        return self._hi - self._lo - self.window

    def _append(self, x: np.ndarray) -> None:
        if self._hi + x.size > self._buf.size:
            live = self._hi - self._lo
            if live + x.size > self._buf.size:  # a chunk longer than the buffer: grow it
                grown = np.empty(2 * (live + x.size), np.float32)
                grown[:live] = self._buf[self._lo:self._hi]
                self._buf = grown
            else:  # move the live part to the front (overlapping copy: numpy buffers it)
                self._buf[:live] = self._buf[self._lo:self._hi]
            self._lo, self._hi = 0, live
        self._buf[self._hi:self._hi + x.size] = x
        self._hi += x.size

    def _empty(self) -> Posteriors:
        return Posteriors(np.zeros(0, np.int64), np.zeros((0, len(self.labels)), np.float32),
                          self.window, self.sample_rate, self._count, self.samples_seen)

    def process(self, chunk: np.ndarray) -> Posteriors:
        """Add samples; return the posteriors of every window completed by them.

        A long chunk (a whole recording through ``Detector.detect_array``) is taken in slices
        of whole batches of hops (at least ``BUFFER_HOPS - 1``): the windows scored at once,
        and the copies the gate and the scorers make of them, stay bounded (before session 70 an
        hour in one chunk was scored at once, each overlapping window copied), and the buffer
        never grows. The posteriors are the same whatever the chunking."""
        x = as_mono_float(chunk)
        step = self._slice_hops * self.hop
        if x.size <= step:
            return self._process(x)
        parts = [p for p in (self._process(x[i:i + step]) for i in range(0, x.size, step))
                 if len(p)]
        if not parts:
            return self._empty()
        joined = Posteriors.concat(parts, len(self.labels), self.window, self.sample_rate)
        return dataclasses.replace(joined, audio_end=self.samples_seen)  # as in one piece

    def _process(self, x: np.ndarray) -> Posteriors:
        if x.size:
            self._append(x)
            self.samples_seen += x.size
        if self._npending < self.hop:
            return self._empty()
        return self._emit()

    def flush(self) -> Posteriors:
        """End of stream: append half a window of zeros, complete the last hop with zeros and
        score what that completes (nothing if no audio came since the last flush). Call
        :meth:`reset` before a new stream; audio fed after a flush continues after the padding.
        """
        if self.samples_seen == self._flushed_at:
            return self._empty()
        self._flushed_at = self.samples_seen
        tail = self.window // 2
        pad = tail + (-(self._npending + tail)) % self.hop
        self._append(np.zeros(pad, np.float32))
        self._flushing = True
        try:
            return self._emit()
        finally:
            self._flushing = False

    def _emit(self) -> Posteriors:
        nwin = self._npending // self.hop
        # window j (1..nwin) covers buf[_lo + j*hop : _lo + j*hop + window]: a read-only
        # strided view made by the ndarray constructor (sliding_window_view's checks cost
        # ~30 µs per call and as_strided's ~5 µs, against ~1 µs here). The windows are read
        # only during this call, before the buffer changes again.
        step = self._buf.strides[0]
        windows = np.ndarray((nwin, self.window), np.float32, self._buf,
                             (self._lo + self.hop) * step, (self.hop * step, step))
        windows.flags.writeable = False
        ends = self._done + self.hop * np.arange(1, nwin + 1, dtype=np.int64)
        probs = self._score(windows, ends, self.samples_seen if self._flushing else None)
        out = Posteriors(ends, probs, self.window, self.sample_rate, self._count,
                         self.samples_seen)
        used = nwin * self.hop
        self._lo += used
        self._done += used
        self._count += nwin
        return out


def sliding_posteriors(scorer: Scorer, audio: np.ndarray, hop: int, flush: bool = True,
                       batch_size: int = DEFAULT_BATCH, gate: Gate | None = DEFAULT_GATE,
                       verifier: Verifier | None = None) -> Posteriors:
    """Offline reference: posteriors of every window of a whole in-memory stream.

    Same conventions as :class:`Streamer` (zero padding before the start, window ``k`` ending at
    ``k * hop``; with ``flush``, 0.5 s of zeros after the end, then the last hop completed),
    written independently of the streaming state so that the two can check each other.
    """
    ws = WindowScorer(scorer, batch_size, gate, verifier)
    hop = check_hop(hop, ws.window)
    x = as_mono_float(audio)
    n = x.size
    total = n + ws.window // 2 if flush and n else n
    nwin = -(-total // hop) if flush else n // hop
    padded = np.concatenate([np.zeros(ws.window, np.float32), x,
                             np.zeros(max(nwin * hop - n, 0), np.float32)])
    ends = hop * np.arange(1, nwin + 1, dtype=np.int64)
    parts = []
    for i in range(0, nwin, ws.batch_size):
        sel = ends[i:i + ws.batch_size]
        parts.append(ws(np.stack([padded[e:e + ws.window] for e in sel]), sel, n))
    probs = (np.concatenate(parts) if parts
             else np.zeros((0, len(scorer.labels)), np.float32))
    return Posteriors(ends, probs, ws.window, ws.sample_rate, 0, n)
