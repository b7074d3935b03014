"""Scoring backends: one small protocol, a PyTorch and a native-engine implementation.

Streaming and detection only need "features of B windows in, B logit vectors out", the label
names and the front-end settings that produced the training features. Keeping that behind the
:class:`Scorer` protocol lets the same detector run a training checkpoint (``.pt``, PyTorch), the
bitwise C++ engine (``.bkws``) or a test stub, and lets the evaluation compare them on equal
terms.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bifsmn import blocks as blocks_mod
from bifsmn.data.frontends import FBANK40, AnyFeatureConfig, feature_config_from_dict
from bifsmn.data.labels import UNKNOWN, ClassMerge, task_of
from bifsmn.detect.model_files import packaged, sniff
from bifsmn.detect.operating import CASCADE_KEY, OWN_KEY, check, check_cascades
from bifsmn.engine import Engine
from bifsmn.errors import BifsmnError, MissingPath, NonFiniteError

# PyTorch (TorchScorer, checkpoints, the deployed reference) is imported where a checkpoint is
# run, not with this module: a detector of an fbank40 .bkws file (its front end in the engine
# too) runs without torch
# (tests/test_detect_cli.py::test_detect_on_an_engine_file_does_not_import_torch)

BUNDLED_MODEL = ("models_data", "bifsmnv2.bkws")
_torch_threads: int | None = None  # set_torch_threads: applied when torch is first used


def set_torch_threads(n: int) -> None:
    """PyTorch intra-op threads for this process's detectors (``--threads``), without importing
    torch for it: applied at once if torch is loaded, else by :func:`detection_torch` when a
    checkpoint or the Python front end first needs it (an fbank40 ``.bkws`` detector never does)."""
    global _torch_threads
    _torch_threads = int(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(_torch_threads)


def detection_torch():
    """The ``torch`` module, with the thread count of :func:`set_torch_threads` applied."""
    import torch

    if _torch_threads is not None and torch.get_num_threads() != _torch_threads:
        torch.set_num_threads(_torch_threads)
    return torch


@runtime_checkable
class Scorer(Protocol):
    """What the streamer needs from a model.

    ``scores`` takes network inputs (B, 1, n_mels, frames) float32 of the model's front end
    (``feature_config``: 32 x 32 log-mel or fbank40) and returns logits (B, classes) as numpy.
    A scorer may also define ``features(windows) -> (B, 1, M, T)`` to replace the Python front
    end (test stubs do, to stay cheap), and ``batch_invariant = True`` when a window's scores do
    not depend on the other windows of its batch or the batch size (then the streamer runs only
    the windows it has instead of a fixed batch padded with zeros); see
    :class:`bifsmn.detect.stream.Streamer`.
    """

    labels: list[str]
    feature_config: AnyFeatureConfig
    name: str

    def scores(self, features: np.ndarray) -> np.ndarray: ...


def torch_available() -> bool:
    """Whether ``import torch`` would find a package, without importing it (a detection-only
    install has none: docs/detection.md, "Without PyTorch")."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def _check_blocks(blocks: int | None) -> int | None:
    """A block count that can name a path: a positive whole number, or None for the model's
    deepest path. Whether the model has it is checked against its own depth when it is loaded
    (8 / 4 / 2 / 1 for the paper's 8 layers; other depths run too)."""
    return None if blocks is None else blocks_mod.check_count(blocks)


class TorchScorer:
    """A training checkpoint (``.pt``) run by PyTorch on one thinnable path, in the deployed
    arithmetic where the model has one (:class:`bifsmn.deploy.Scoring`: the function the
    engine computes), else its graph; the model may be on any device, scores come back as
    numpy on the CPU."""

    def __init__(self, model: Any, labels: list[str], feature_config: AnyFeatureConfig,
                 blocks: int | None = 8, name: str = "model") -> None:
        _check_blocks(blocks)
        layers = getattr(model, "num_layers", blocks_mod.DEFAULT_LAYERS)
        if blocks is None:
            blocks = layers  # the deepest path: every block
        self.path = blocks_mod.require(blocks, layers, getattr(model, "num_paths", 1),
                                       f"model {name}")
        from bifsmn.deploy import Scoring

        self.model = model.eval()
        self.scoring = Scoring(self.model)  # folded once: the model must not change
        self.blocks = blocks
        # a 37-class model answers with its 12 merged classes (bifsmn.data.labels.ClassMerge)
        self.merge = ClassMerge(labels)
        self.labels = self.merge.labels
        self.feature_config = feature_config
        self.name = name
        self.operating_points: dict | None = None
        self.cascade_points: list[dict] = []

    @classmethod
    def from_checkpoint(cls, path: str | Path, blocks: int | None = 8) -> TorchScorer:
        detection_torch()
        from bifsmn.train.checkpoint import checkpoint_labels, model_from_checkpoint

        model, ckpt = model_from_checkpoint(path)
        cfg = feature_config_from_dict(ckpt.get("features"), str(path))
        scorer = cls(model, checkpoint_labels(ckpt), cfg, blocks, name=Path(path).name)
        scorer.operating_points = _operating_points(ckpt.get(OWN_KEY), path)
        scorer.cascade_points = check_cascades(ckpt.get(CASCADE_KEY), path)
        return scorer

    def scores(self, features: np.ndarray) -> np.ndarray:
        torch = detection_torch()
        with torch.inference_mode():
            out = self.scoring(torch.from_numpy(np.ascontiguousarray(features, np.float32)),
                               self.blocks)
        out = out.float().numpy()
        if not np.isfinite(out).all():  # once per call
            raise NonFiniteError(f"model {self.name} gives non-finite scores (NaN or inf) "
                                 "(diverged or corrupt model?)")
        return self.merge.logits(out)


class EngineScorer:
    """A ``.bkws`` file run by the native bitwise engine (:class:`bifsmn.engine.Engine`).

    Features of the paper's log-mel come from the same Python front end as for PyTorch, so both
    backends see identical inputs and any difference in their scores is the network's; where
    PyTorch is not installed they come from the engine's log-mel front end instead (within
    0.01 dB of the Python one, tests/test_fft_frontend.py), so that a detection-only install
    runs every ``.bkws`` file, with a logged note that its scores may differ slightly from
    those its operating points were calibrated on. fbank40
    features come from the engine's C++ front end, which is bit-identical to the Python one
    (``tests/test_fbank40_engine.py``) and ~50x faster than its float64 torch version.
    """

    #: the engine computes each clip on its own, in the same operation order at any batch size
    #: (C++ ``test_engine``: batch == single calls for every kernel), so a live stream scores one
    #: window per hop instead of a zero-padded batch of 16
    batch_invariant = True

    def __init__(self, path: str | Path, blocks: int | None = 8) -> None:
        _check_blocks(blocks)
        self.engine = Engine(path, blocks=blocks)  # None: the file's deepest path
        self.blocks = self.engine.blocks
        self.merge = ClassMerge(self.engine.labels)  # as TorchScorer
        self.labels = self.merge.labels
        self.feature_config = feature_config_from_dict(dict(self.engine.feature_config),
                                                       str(path))
        self.name = Path(path).name
        self.operating_points = _operating_points(self.engine.metadata.get(OWN_KEY), path)
        self.cascade_points = check_cascades(self.engine.metadata.get(CASCADE_KEY), path)
        # The engine's front end replaces the Python one: ``features`` and ``stream_frontend``
        # are partials of module functions over the engine, never bound methods of this scorer
        # (a scorer holding its own bound method is a reference cycle, freed only by the cyclic
        # collector, which cannot see the engine's native memory: dropped detectors piled up by
        # MBs each until a rare full collection; session 70)
        fbank40 = self.feature_config.to_dict().get("kind") == FBANK40
        if fbank40 or not torch_available():
            self.features = functools.partial(_engine_features, self.engine)
            self.stream_frontend = functools.partial(_engine_stream_frontend, self.engine,
                                                     self.merge)
        if not fbank40 and not torch_available():
            calibrated = (" its operating points were calibrated with; scores may differ "
                          "slightly" if self.operating_points or self.cascade_points else "")
            logging.getLogger("bifsmn.detect").warning(
                "%s: PyTorch is not installed, so its log-mel features come from the engine's "
                "C++ front end (within 0.01 dB of the PyTorch one%s)", self.name, calibrated)

    def scores(self, features: np.ndarray) -> np.ndarray:
        return self.merge.logits(np.asarray(
            self.engine.predict(np.ascontiguousarray(features, np.float32)), np.float32))


def _engine_features(engine: Engine, windows: np.ndarray) -> np.ndarray:
    """The engine's front end on a batch of windows (``EngineScorer.features``)."""
    return engine.features(np.ascontiguousarray(windows, np.float32))


def _engine_stream_frontend(engine: Engine, merge: ClassMerge
                            ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``(windows, starts) -> features`` for one stream (``EngineScorer.stream_frontend``):
    fbank40 rows computed once per stream position and reused by the following windows
    (:meth:`Engine.stream_features`)."""
    cache = engine.frame_cache()

    def features(windows: np.ndarray, starts: np.ndarray) -> np.ndarray:
        # the streamer's windows (float32, C-contiguous), whose samples it checked on arrival
        return engine.stream_features(windows, starts, cache, check=False)

    def logits(windows: np.ndarray, starts: np.ndarray) -> np.ndarray:
        # features and network in one native call (Engine.stream_predict, session 37): the
        # same bits as scores(features(...)), without the features' round trip through
        # Python and a second check of them
        return merge.logits(engine.stream_predict(windows, starts, cache, check=False))

    features.cache = cache  # type: ignore[attr-defined]  # hits/misses, for tests and stats
    features.logits = logits  # type: ignore[attr-defined]  # the fused path (WindowScorer)
    return features


def _operating_points(ops: dict | None, path: str | Path) -> dict | None:
    """A model file's stored operating points (``bifsmn calibrate``), validated."""
    return None if ops is None else check(ops, path)


def bundled_model() -> Path:
    """The model shipped inside the package, or a one-line error if none is installed."""
    return packaged(BUNDLED_MODEL, "model", "pass --model FILE (.pt or .bkws)")


def load_scorer(model: str | Path | Scorer | None = None, blocks: int | None = 8) -> Scorer:
    """A scorer for ``model``: a path (``.bkws`` -> engine, checkpoint -> PyTorch), an object
    already implementing :class:`Scorer`, or None for the bundled model; ``blocks`` None runs
    the model's deepest path (all its blocks, whatever its depth)."""
    _check_blocks(blocks)
    if model is not None and not isinstance(model, str | Path):
        if not isinstance(model, Scorer):
            raise BifsmnError(f"model must be a file path or a Scorer, not {type(model).__name__}")
        return model
    path = bundled_model() if model is None else Path(model)
    kind = sniff(path)
    if kind == "bkws":
        return EngineScorer(path, blocks)
    return TorchScorer.from_checkpoint(path, blocks)


def model_labels(model: str | Path | Scorer | None) -> list[str]:
    """The classes ``model`` answers with (merged, as its scorer's ``labels``), read without
    building a scorer: what streams must be built for before any model runs."""
    if model is not None and not isinstance(model, str | Path):
        return list(load_scorer(model).labels)
    path = bundled_model() if model is None else Path(model)
    if sniff(path) == "bkws":
        from bifsmn.engine.format import read_file

        records = read_file(path)
        if "meta.labels" not in records:
            raise BifsmnError("missing record 'meta.labels' (corrupt file)", path)
        labels = records["meta.labels"].text().split("\n")
    else:
        from bifsmn.train.checkpoint import checkpoint_labels, load_checkpoint

        labels = checkpoint_labels(load_checkpoint(path))
    return ClassMerge(labels).labels


def models_task(models: Sequence[str | Path | Scorer | None]) -> tuple[int, tuple[str, ...]]:
    """``(num_classes, keywords)`` of the task the ``models`` answer (:func:`task_of`): the
    ten commands, or keywords of their own; detection streams hold that task's keywords. Models
    of different keyword sets are refused in one line (their misses would not compare)."""
    tasks: dict[tuple[int, tuple[str, ...]], str | Path | Scorer | None] = {}
    for m in models:
        labels = model_labels(m)
        # a task without an unknown class (35 words) is scored on the ten commands' streams
        tasks.setdefault(task_of(labels) if UNKNOWN in labels else (12, ()), m)
    if len(tasks) > 1:
        names = "; ".join(f"{m if m is not None else 'the bundled model'}: "
                          f"{', '.join(kw) if kw else 'the ten commands'}"
                          for (_, kw), m in tasks.items())
        raise BifsmnError(f"the models answer different keywords ({names}): evaluate them "
                          "separately")
    return next(iter(tasks)) if tasks else (12, ())


def scorers_for_blocks(model: str | Path | Scorer | None, blocks: list[int] | None,
                       log: Callable[[str], None] | None = None
                       ) -> Iterator[tuple[int, Scorer]]:
    """``(blocks, scorer)`` for each requested path; when several paths are asked for, one the
    model lacks (a single-path teacher, a one-path ``.bkws`` export) is skipped with a line.
    ``blocks`` None: the model's deepest path only (8 blocks of 8 layers, the one path of a
    one-path export), as :class:`~bifsmn.detect.detector.Detector` runs by default."""
    log = log or logging.getLogger("bifsmn.detect").info
    if blocks is None:
        scorer = load_scorer(model, None)
        yield int(getattr(scorer, "blocks", None) or blocks_mod.DEFAULT_LAYERS), scorer
        return
    for b in blocks:
        try:
            scorer = load_scorer(model, b)
        except MissingPath as exc:
            if len(blocks) == 1:
                raise
            log(f"skipped: {exc}")
            continue
        yield b, scorer
