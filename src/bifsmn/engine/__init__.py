"""Bitwise inference engine: ``.bkws`` export and the native (C++) runtime.

>>> from bifsmn.engine import Engine
>>> eng = Engine("model.bkws", blocks=8)
>>> logits = eng.predict(audio)           # (N,) 16 kHz float32 -> (classes,)
>>> logits = eng.predict(batch_features)  # (B, 1, 32, 32) -> (B, classes)

The whole network runs in one native call with the GIL released; see docs/engine.md.
:func:`export_checkpoint` (pure Python) turns a training checkpoint into a ``.bkws`` file.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from bifsmn.blocks import is_boolean
from bifsmn.data.labels import ClassMerge
from bifsmn.errors import BifsmnError, MissingPath, NonFiniteError
from bifsmn.pcm import as_samples, check_samples, pcm_to_float32
from bifsmn.signatures import file_kind, special_kind

__all__ = ["Engine", "available_kernels", "compiler", "export_checkpoint", "native",
           "popcount_peak_gbops"]


def export_checkpoint(checkpoint: str | Path, out_path: str | Path, blocks: Any = "all",
                      classifier_dtype: str | None = None, param_dtype: str = "f32",
                      storage: str | None = None) -> Path:
    """See :func:`bifsmn.engine.export.export_checkpoint` (imported lazily: it needs torch,
    which running a ``.bkws`` file does not)."""
    from bifsmn.engine.export import export_checkpoint as _export

    return _export(checkpoint, out_path, blocks, classifier_dtype, param_dtype=param_dtype,
                   storage=storage)


def native() -> Any:
    """The compiled extension module, or a one-line error telling how to build it."""
    try:
        from bifsmn.engine import _engine
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise BifsmnError("the native engine is not built (reinstall bifsmn with "
                          f"`pip install -e .`, which compiles it): {exc}") from None
    return _engine


def available_kernels() -> list[str]:
    """Kernels this CPU can run, best first (``BIFSMN_KERNEL`` picks one by name)."""
    return list(native().available_kernels())


def compiler() -> str:
    """The compiler that built the native engine, e.g. ``GCC 12.2.0`` (benchmarks name it)."""
    return str(native().compiler()).strip()


def popcount_peak_gbops(kernel: str = "", seconds: float = 0.3) -> float:
    """Measured XOR+popcount roofline of ``kernel`` (default: the active one), Gbop/s."""
    try:
        return float(native().popcount_peak_gbops(kernel, seconds))
    except native().BkwsError as exc:
        raise BifsmnError(str(exc)) from None


#: (n_mels, frames) of every front end's image, and (frames, n_mels) (the archive's 98 x 40
#: layout, a transposed image): as a 2-D array, never a batch of clips
FEATURE_IMAGES = {(32, 32): "logmel32", (40, 32): "fbank40", (40, 48): "fbank40, pool 2",
                  (40, 96): "fbank40, pool 1", (40, 98): "fbank40 frames",
                  (32, 40): "fbank40, transposed", (48, 40): "fbank40, pool 2, transposed",
                  (96, 40): "fbank40, pool 1, transposed", (98, 40): "fbank40 frames, transposed"}


def _whole(value: Any, name: str, low: int, high: int | None = None) -> int:
    """``value`` as an int in [low, high], or a one-line :class:`BifsmnError` naming ``name``
    (instead of nanobind's multi-line signature dump or a C++ ``bad_alloc``)."""
    limits = f">= {low}" if high is None else f"in [{low}, {high}]"
    try:  # a bool is no count (Engine(blocks=True) ran the 1-block path)
        n = None if is_boolean(value) or isinstance(value, str | bytes) else int(value)
    except (TypeError, ValueError, OverflowError):  # None, NaN, inf, ...
        n = None
    if n is None or n != value or n < low or (high is not None and n > high):  # 2.5 too
        raise BifsmnError(f"{name} must be a whole number {limits} (got {value!r})")
    return n


#: the most timed (or warm-up) calls one timing call takes: the native side keeps one double per
#: call and takes a 32-bit count (a larger one was nanobind's multi-line signature dump)
MAX_TIMED = 10_000_000
#: the largest hop :meth:`Engine.time_stream_frontend` takes (the native 32-bit int)
MAX_HOP = 2**31 - 1

#: the largest batch :meth:`Engine.reserve` takes: buffers grow with it (~35 KB per clip)
MAX_RESERVE = 1 << 16


def _file_identity(path: str | os.PathLike) -> tuple[int, ...]:
    """What tells a file from its replacement or rewrite: device, inode, size, mtime."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _rebuild_engine(data: bytes, name: str, blocks: int, kernel: str | None,
                    fp_kernel: str | None) -> Engine:
    """Unpickle an :class:`Engine` (:meth:`Engine.__reduce__`)."""
    return Engine.from_bytes(data, name, blocks, kernel, fp_kernel)


class Engine:
    """A loaded ``.bkws`` model.

    ``blocks``: which thinnable path to run (8/4/2/1; default: the most blocks in the file).
    ``kernel``: force a kernel by name; default follows ``BIFSMN_KERNEL`` at construction time,
    else the best one available (so tests can compare kernels in one process).
    ``fp_kernel``: kernel for the float GEMMs (default: ``kernel``). Binary GEMMs are exact, so
    with the float layers pinned to one kernel, logits are bit-identical across ``kernel``s.
    The environment variable ``BIFSMN_ISA`` (``avx512``, ``avx2``, ``x86-64-v2`` or
    ``baseline``, read once per process) holds the whole engine to a narrower x86-64 instruction
    set, to run what an older CPU would run (docs/engine.md, "Kernels and dispatch").
    """

    def __init__(self, path: str | Path, blocks: int | None = None, kernel: str | None = None,
                 fp_kernel: str | None = None, *, _data: bytes | None = None) -> None:
        if not isinstance(path, str | os.PathLike):  # Engine(None): say so, not a TypeError
            raise BifsmnError(f"Engine needs the path of a .bkws file, not {type(path).__name__}")
        mod = native()
        self.path = str(path)
        # what pickling rebuilds it from: the file image (read at pickling time for a file) and
        # the kernels as asked for (None: the best one where it is unpickled)
        self._image, self._asked = _data, (kernel, fp_kernel)
        try:
            if _data is not None:
                self._e = mod.NativeEngine.from_bytes(_data, self.path, kernel or "",
                                                      fp_kernel or "")
            else:
                special = special_kind(Path(path))
                if special is not None:
                    raise BifsmnError(f"is {special}, not a .bkws file", path)
                if not Path(path).is_file():
                    raise BifsmnError("no such .bkws file", path)
                self._e = mod.NativeEngine.from_file(self.path, kernel or "", fp_kernel or "")
            if blocks is not None:
                blocks = _whole(blocks, "blocks", 1)
                if blocks not in list(self._e.available_blocks):
                    raise MissingPath(f"{blocks} blocks not in this file (exported: "
                                      f"{list(self._e.available_blocks)})", path)
                self._e.set_blocks(blocks)
        except mod.BkwsError as exc:
            if _data is None and "bad magic" in str(exc) and file_kind(Path(path)) == "torch":
                raise BifsmnError("this is a PyTorch checkpoint, not a .bkws engine file: export "
                                  "it first (bifsmn export CHECKPOINT -o model.bkws)",
                                  path) from None
            raise BifsmnError(str(exc)) from None
        # the file as loaded (a read error now is a race with its removal: pickling refuses)
        try:
            self._identity = None if _data is not None else _file_identity(path)
        except OSError:
            self._identity = None
        self._err = mod.BkwsError
        self._cache_type = mod.FrameCache
        self.labels: list[str] = list(self._e.labels)
        # the 37 -> 12 class merge of classify(), built once (a file's labels never change)
        self._merge = ClassMerge(self.labels)
        #: block counts of the paths in the file (format version 3 stores them as such)
        self.paths: list[int] = list(self._e.available_blocks)
        try:
            meta = json.loads(self._e.metadata_json or "{}")
        except json.JSONDecodeError:
            meta = None
        if not isinstance(meta, dict):
            raise BifsmnError("record 'meta.json' is not a JSON object (corrupt file)", path)
        self.metadata: dict = meta
        self.feature_config: dict = dict(self._e.feature_config)
        self._feat_shape = (1, self._e.n_mels, self._e.frames)
        self._feat_size = self._e.n_mels * self._e.frames  # per clip (np.prod costs µs per call)

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>", blocks: int | None = None,
                   kernel: str | None = None, fp_kernel: str | None = None) -> Engine:
        """Load from an in-memory file image (``name`` only labels error messages)."""
        return cls(name, blocks, kernel, fp_kernel, _data=bytes(data))

    def __reduce__(self) -> tuple:
        """Pickle (and ``copy.deepcopy``) as the file's bytes, its path (for messages), the
        path run and the kernels asked for: an engine sent to a spawned worker (macOS's and
        Windows' default start method) is rebuilt there from the same model, not reloaded from
        a path that may have changed or not exist on the other side. A file replaced or
        rewritten since it was loaded (its size, mtime or inode differ) is refused."""
        data = self._image
        if data is None:
            try:
                data = Path(self.path).read_bytes()
                same = _file_identity(self.path) == self._identity
            except OSError as exc:
                raise BifsmnError(f"cannot pickle the engine: its file cannot be read "
                                  f"({exc.strerror or exc})", self.path) from None
            if not same or len(data) != self.file_bytes:
                raise BifsmnError("cannot pickle the engine: its file changed since it was "
                                  "loaded", self.path)
        return (_rebuild_engine, (data, self.path, self.blocks, *self._asked))

    # ----------------------------------------------------------------- properties
    @property
    def kernel(self) -> str:
        """Name of the kernel running the GEMMs (reference | portable | avx2 | avx512 |
        neon)."""
        return str(self._e.kernel)

    @property
    def fp_kernel(self) -> str:
        """Name of the kernel running the float GEMMs (full-precision layers)."""
        return str(self._e.fp_kernel)

    @property
    def blocks(self) -> int:
        return int(self._e.blocks)

    @property
    def kind(self) -> str:
        """bifsmnv2 | bifsmn_v1 | dfsmn_teacher | dfsmn_thinnable."""
        return str(self._e.kind)

    @property
    def is_binary(self) -> bool:
        return bool(self._e.is_binary)

    @property
    def num_classes(self) -> int:
        return int(self._e.num_classes)

    @property
    def file_bytes(self) -> int:
        return int(self._e.file_bytes)

    def set_blocks(self, n: int) -> None:
        """Switch the thinnable path (no reload): 8, 4, 2 or 1 blocks, if exported
        (:class:`~bifsmn.errors.MissingPath` if not)."""
        n = _whole(n, "blocks", 1)
        if n not in self.paths:
            raise MissingPath(f"{n} blocks not in this file (exported: {self.paths})",
                              self.path)
        try:
            self._e.set_blocks(n)
        except self._err as exc:
            raise BifsmnError(str(exc)) from None

    def reserve(self, batch: int) -> None:
        """Preallocate buffers for ``batch`` clips (later calls up to that size never allocate)."""
        self._e.reserve(_whole(batch, "batch", 1, MAX_RESERVE))

    # ----------------------------------------------------------------- inference
    def _input(self, x: Any) -> tuple[np.ndarray, str, bool]:
        """Classify ``x`` as audio or features; returns (2-D float32 array, kind, batched).

        Audio goes through :func:`bifsmn.pcm.pcm_to_float32` (int16 and int32 PCM scaled to
        [-1, 1], as ``Detector`` does), so the same buffer means the same audio to both."""
        arr = as_samples(x, "input")
        fshape = self._feat_shape
        if arr.ndim == 1:
            kind, batched, arr = "audio", False, arr[None]
        elif arr.ndim == 2:
            if arr.shape == fshape[1:]:
                raise BifsmnError(f"input of shape {arr.shape} looks like one feature image "
                                  f"without its channel axis: give it as {fshape}")
            if arr.shape[1] <= 8 < arr.shape[0]:
                # soundfile.read(always_2d=True) and sound cards give (samples, channels);
                # taken as (B, N) it would be thousands of clips of one or two samples
                raise BifsmnError(f"audio of shape {arr.shape} looks like (samples, channels): "
                                  "give mono samples (N,) or a batch of clips (B, N)")
            if arr.shape in FEATURE_IMAGES:
                # another front end's image without its channel axis ((40, 32) to a log-mel
                # model) would be scored as a batch of 40 clips of 32 samples
                raise BifsmnError(f"input of shape {arr.shape} looks like a feature image "
                                  f"({FEATURE_IMAGES[arr.shape]}), not a batch of clips: give "
                                  f"audio, or this model's "
                                  f"{self.feature_config.get('kind', 'logmel32')} features as "
                                  f"{fshape}")
            kind, batched = "audio", True
        elif arr.ndim == 3 and arr.shape == fshape:
            kind, batched, arr = "features", False, arr.reshape(1, -1)
        elif arr.ndim == 4 and arr.shape[1:] == fshape:
            # the row length spelled out: -1 cannot be inferred for an empty batch
            kind, batched, arr = "features", True, arr.reshape(arr.shape[0], int(np.prod(fshape)))
        else:
            fkind = self.feature_config.get("kind", "logmel32")
            raise BifsmnError(f"input of shape {arr.shape}: expected audio (N,) or (B, N), or "
                              f"{fkind} features {fshape} or (B, *{fshape})")
        if kind == "audio":
            arr = np.ascontiguousarray(pcm_to_float32(arr))
            if arr.shape[1] == 0:
                raise BifsmnError("audio input holds no samples")
            check_samples(arr, f"audio input (model {self.path})")
        else:
            arr = np.ascontiguousarray(arr, dtype=np.float32)
            if arr.size and not math.isfinite(max(float(arr.max()), -float(arr.min()))):
                raise BifsmnError(f"features input contains NaN or infinite values "
                                  f"(model {self.path})")
        return arr, kind, batched

    def predict(self, x: Any) -> np.ndarray:
        """Logits for one clip ((classes,)) or a batch ((B, classes)).

        ``x``: 16 kHz float audio, (N,) or (B, N) (cut or zero-padded to the model's clip
        length, like :func:`bifsmn.audio.fix_length`), or features of the model's front end
        (``feature_config["kind"]``: the 32 x 32 log-mel or fbank40's 40 x 32 pooled image),
        (1, n_mels, frames) or (B, 1, n_mels, frames). The network runs in one native call,
        GIL released.
        """
        arr, kind, batched = self._input(x)
        out = np.empty((arr.shape[0], self.num_classes), np.float32)
        try:
            if kind == "audio":
                self._e.predict_audio(arr, out)
            else:
                self._e.predict_features(arr, out)
        except self._err as exc:
            if "non-finite logits" in str(exc):  # the engine checks its output once per call
                raise NonFiniteError(str(exc)) from None
            raise BifsmnError(str(exc)) from None
        return out if batched else out[0]

    def features(self, audio: Any) -> np.ndarray:
        """The engine's C++ front end (the file's feature kind: log-mel or fbank40):
        (N,) -> (1, n_mels, frames), (B, N) -> batch."""
        arr, kind, batched = self._input(audio)
        if kind != "audio":
            raise BifsmnError("features() takes audio: (N,) or (B, N)")
        out = np.empty((arr.shape[0], self._feat_size), np.float32)
        self._e.compute_features(arr, out)
        out = out.reshape(arr.shape[0], *self._feat_shape)
        return out if batched else out[0]

    def frame_cache(self) -> Any:
        """A new, empty cache of front-end rows for one stream (:meth:`stream_features`)."""
        return self._e.new_frame_cache()

    def _stream_args(self, windows: Any, starts: Any, check: bool, method: str,
                     cache: Any) -> tuple[np.ndarray, np.ndarray]:
        """(windows, starts) as the native stream calls take them: windows checked as audio
        unless ``check`` is False (the caller then passes float32, C-contiguous windows),
        starts as contiguous int64; ``cache`` must come from :meth:`frame_cache`."""
        if not isinstance(cache, self._cache_type):
            raise BifsmnError(f"{method}() takes the cache from Engine.frame_cache(), not "
                              f"{type(cache).__name__}")
        if check:
            arr, kind, batched = self._input(windows)
            if kind != "audio" or not batched:
                raise BifsmnError(f"{method}() takes a batch of windows (B, clip_samples)")
        else:
            arr = windows
        pos = np.asarray(starts).reshape(-1)
        # whole sample positions only (a float was truncated without a word), and far from
        # int64's ends (the C++ cache marks empty slots with its minimum; t * hop must not
        # overflow): about 10^7 years of 16 kHz audio either way
        if pos.dtype.kind not in "iu":
            raise BifsmnError(f"{method}() starts must be whole sample positions (an integer "
                              f"array), got {pos.dtype}")
        if pos.size and (int(pos.min()) < -2**62 or int(pos.max()) > 2**62):
            raise BifsmnError(f"{method}() starts must lie within +-2**62 samples")
        return arr, np.ascontiguousarray(pos, dtype=np.int64)

    def _native_error(self, exc: Exception) -> BifsmnError:
        """A native error as a one-line :class:`BifsmnError` naming this engine's file once
        (some native messages name it already)."""
        text = str(exc)
        return BifsmnError(text if text.startswith(self.path + ":") else f"{self.path}: {text}")

    def stream_features(self, windows: Any, starts: Any, cache: Any,
                        check: bool = True) -> np.ndarray:
        """Features of windows of one stream, reusing front-end rows between them.

        ``windows``: (B, clip_samples) audio; ``starts``: (B,) int, each window's first sample
        as a position in the stream (negative where the stream is zero-padded before its
        start); ``cache``: from :meth:`frame_cache`, one per stream. A fbank40 frame depends on
        its own samples only, so a window that moved by whole frame hops (160 samples: the
        default 100 ms hop is 10 of them) computes only its new frames. A log-mel frame does
        too unless it reaches into the window's reflect padding (the 2 frames at each edge,
        always computed): windows that moved by whole 512-sample hops (a 1536-sample hop, not
        100 ms) share the rest. The result is bit-identical to :meth:`features` for any starts.
        The caller promises that one stream position always holds the same samples: a new
        stream needs a new cache.

        ``check=False`` skips the input checks (shape, NaN/inf, magnitude; ``windows`` must then
        be float32, C-contiguous, (B, clip_samples)): for a caller that checked the samples
        already. The detector's streamer checks every chunk it receives, and re-checking each
        1-s window would read every sample ten times more (a tenth of a live hop).
        """
        arr, pos = self._stream_args(windows, starts, check, "stream_features", cache)
        out = np.empty((arr.shape[0], self._feat_size), np.float32)
        try:
            self._e.compute_features_at(arr, pos, cache, out)
        except self._err as exc:
            raise self._native_error(exc) from None
        return out.reshape(arr.shape[0], *self._feat_shape)

    def stream_predict(self, windows: Any, starts: Any, cache: Any,
                       check: bool = True) -> np.ndarray:
        """Logits (B, classes) of windows of one stream: :meth:`stream_features` and then the
        network in one native call, so the features never pass through Python (the same bits
        as :meth:`predict` on :meth:`stream_features`' output). Arguments as for
        :meth:`stream_features`; non-finite logits raise
        :class:`~bifsmn.errors.NonFiniteError` as :meth:`predict` does."""
        arr, pos = self._stream_args(windows, starts, check, "stream_predict", cache)
        out = np.empty((arr.shape[0], self.num_classes), np.float32)
        try:
            self._e.predict_at(arr, pos, cache, out)
        except self._err as exc:
            if "non-finite logits" in str(exc):
                raise NonFiniteError(str(exc)) from None
            raise self._native_error(exc) from None
        return out

    def classify(self, x: Any, merge: bool = True) -> list[tuple[str, float]]:
        """(label, probability) of the top class per clip.

        A model of the 37-class task answers with the 12 classes by default, each unknown word's
        posterior summed into ``_unknown_`` (:class:`bifsmn.data.labels.ClassMerge`), as the
        detectors and ``bifsmn eval`` answer; ``merge=False`` gives its own classes
        (``_unknown_:bed``, ...). Models of other tasks are unaffected."""
        logits = np.atleast_2d(self.predict(x)).astype(np.float64)
        labels = list(self.labels)
        if merge:
            logits, labels = self._merge.logits(logits), self._merge.labels
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        top = p.argmax(axis=1)
        return [(labels[i], float(p[r, i])) for r, i in enumerate(top)]

    def time_calls(self, x: Any, runs: int = 200, warmup: int = 20) -> np.ndarray:
        """Seconds per call of ``runs`` calls (after ``warmup``) on ``x``, timed in C++ around
        the native call alone: the engine's own latency, without Python's call overhead."""
        arr, kind, _ = self._input(x)
        return np.asarray(self._e.time_calls(arr, kind == "audio",
                                             _whole(runs, "runs", 1, MAX_TIMED),
                                             _whole(warmup, "warmup", 0, MAX_TIMED)))

    def time_frontend(self, audio: Any, runs: int = 200, warmup: int = 20) -> np.ndarray:
        """Seconds per call of the C++ front end alone (audio clips -> features), timed in C++
        like :meth:`time_calls`; ``bifsmn bench``'s front-end figure."""
        arr, kind, _ = self._input(audio)
        if kind != "audio":
            raise BifsmnError("time_frontend needs audio clips (B, samples), not features")
        return np.asarray(self._e.time_frontend(arr, _whole(runs, "runs", 1, MAX_TIMED),
                                                _whole(warmup, "warmup", 0, MAX_TIMED)))

    def time_stream_frontend(self, stream: Any, hop: int, runs: int = 200,
                             warmup: int = 20) -> np.ndarray:
        """Seconds per window of the C++ front end in a stream: windows of the 1-D ``stream``
        every ``hop`` samples through one new :meth:`frame_cache` (rows shared between windows
        where the front end allows, :meth:`stream_features`), timed in C++ like
        :meth:`time_frontend`. What a live detector pays for features per hop."""
        arr = np.ascontiguousarray(np.asarray(stream, np.float32).reshape(-1))
        try:
            return np.asarray(self._e.time_stream_frontend(
                arr, _whole(hop, "hop", 1, MAX_HOP), _whole(runs, "runs", 1, MAX_TIMED),
                _whole(warmup, "warmup", 0, MAX_TIMED)))
        except self._err as exc:
            raise self._native_error(exc) from None

    def profile(self, on: bool = True) -> None:
        """Turn per-stage timing on/off (adds a few clock reads per layer) and reset it."""
        self._e.set_profiling(bool(on))
        self._e.reset_stage_times()

    def stage_times(self) -> dict[str, float]:
        """Seconds per stage summed over profiled calls, plus ``bops`` and ``calls``."""
        return dict(self._e.stage_times())

    def __repr__(self) -> str:
        return (f"Engine({self.path!r}, kind={self.kind}, blocks={self.blocks}, "
                f"paths={self.paths}, kernel={self.kernel})")
