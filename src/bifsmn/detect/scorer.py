"""Scoring backends: one small protocol, a PyTorch and a native-engine implementation.

Streaming and detection only need "features of B windows in, B logit vectors out", the label
names and the front-end settings that produced the training features. Keeping that behind the
:class:`Scorer` protocol lets the same detector run a training checkpoint (``.pt``, PyTorch), the
bitwise C++ engine (``.bkws``) or a test stub, and lets the evaluation compare them on equal
terms.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from bifsmn.data.frontends import FBANK40, AnyFeatureConfig, feature_config_from_dict
from bifsmn.errors import BifsmnError, MissingPath, NonFiniteError

BUNDLED_MODEL = ("models_data", "bifsmnv2.bkws")
_ZIP_MAGIC = b"PK\x03\x04"
_BKWS_MAGIC = b"BKWS\r\n\x1a\n"
_AUDIO_MAGICS = (b"RIFF", b"fLaC", b"OggS", b"FORM", b"ID3", b"\xff\xfb")


@runtime_checkable
class Scorer(Protocol):
    """What the streamer needs from a model.

    ``scores`` takes network inputs (B, 1, n_mels, frames) float32 of the model's front end
    (``feature_config``: 32 x 32 log-mel or fbank40) and returns logits (B, classes) as numpy.
    A scorer may also define ``features(windows) -> (B, 1, M, T)`` to replace the Python front
    end (test stubs do, to stay cheap); see
    :class:`bifsmn.detect.stream.Streamer`.
    """

    labels: list[str]
    feature_config: AnyFeatureConfig
    name: str

    def scores(self, features: np.ndarray) -> np.ndarray: ...


def _check_blocks(blocks: int) -> int:
    from bifsmn.models.dfsmn import BLOCKS_TO_PATH

    if blocks not in BLOCKS_TO_PATH:
        raise BifsmnError(f"blocks must be one of 8, 4, 2, 1 (got {blocks!r})")
    return BLOCKS_TO_PATH[blocks]


class TorchScorer:
    """A training checkpoint (``.pt``) run by PyTorch on the CPU, on one thinnable path."""

    def __init__(self, model: Any, labels: list[str], feature_config: AnyFeatureConfig,
                 blocks: int = 8, name: str = "model") -> None:
        path = _check_blocks(blocks)
        num_paths = getattr(model, "num_paths", 1)
        if path >= num_paths:
            raise MissingPath(f"{name}: {blocks} blocks not available (the model has "
                              f"{num_paths} thinnable path set{'s' * (num_paths != 1)}; "
                              "use --blocks 8)")
        self.model = model.eval()
        self.path = path
        self.blocks = blocks
        self.labels = list(labels)
        self.feature_config = feature_config
        self.name = name
        self.operating_points: dict | None = None

    @classmethod
    def from_checkpoint(cls, path: str | Path, blocks: int = 8) -> TorchScorer:
        from bifsmn.train.checkpoint import model_from_checkpoint

        model, ckpt = model_from_checkpoint(path)
        cfg = feature_config_from_dict(ckpt.get("features"), str(path))
        labels = ckpt.get("labels")
        if not labels:
            from bifsmn.data.labels import labels_for_task

            labels = list(labels_for_task(ckpt["model"]["kwargs"].get("num_classes", 12)))
        scorer = cls(model, list(labels), cfg, blocks, name=Path(path).name)
        scorer.operating_points = _operating_points(ckpt.get("operating_points"), path)
        return scorer

    def scores(self, features: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.model(torch.from_numpy(np.ascontiguousarray(features, np.float32)),
                             path=self.path)
        out = out.float().numpy()
        if not np.isfinite(out).all():  # once per call
            raise NonFiniteError(f"model {self.name} gives non-finite scores (NaN or inf) "
                                 "(diverged or corrupt model?)")
        return out


class EngineScorer:
    """A ``.bkws`` file run by the native bitwise engine (:class:`bifsmn.engine.Engine`).

    Features of the paper's log-mel come from the same Python front end as for PyTorch, so both
    backends see identical inputs and any difference in their scores is the network's. fbank40
    features come from the engine's C++ front end, which is bit-identical to the Python one
    (``tests/test_fbank40_engine.py``) and ~50x faster than its float64 torch version.
    """

    def __init__(self, path: str | Path, blocks: int = 8) -> None:
        _check_blocks(blocks)
        try:
            from bifsmn.engine import Engine
        except ImportError as exc:
            raise BifsmnError(f"{path}: .bkws models need the native engine, which does not "
                              f"import ({exc}); use a .pt checkpoint") from None
        self.engine = Engine(path, blocks=blocks)
        self.blocks = blocks
        self.labels = list(self.engine.labels)
        self.feature_config = feature_config_from_dict(dict(self.engine.feature_config),
                                                       str(path))
        self.name = Path(path).name
        self.operating_points = _operating_points(
            self.engine.metadata.get("operating_points"), path)
        if self.feature_config.to_dict().get("kind") == FBANK40:
            self.features = self._engine_features

    def _engine_features(self, windows: np.ndarray) -> np.ndarray:
        return self.engine.features(np.ascontiguousarray(windows, np.float32))

    def scores(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(self.engine.predict(np.ascontiguousarray(features, np.float32)),
                          np.float32)


def _operating_points(ops: dict | None, path: str | Path) -> dict | None:
    """A model file's stored operating points (``bifsmn calibrate``), validated."""
    from bifsmn.detect.operating import check

    return None if ops is None else check(ops, path)


def bundled_model() -> Path:
    """The model shipped inside the package, or a one-line error if none is installed yet."""
    res = resources.files("bifsmn")
    for part in BUNDLED_MODEL:
        res = res / part
    if not res.is_file():
        raise BifsmnError("no bundled model is installed yet (bifsmn/"
                          f"{'/'.join(BUNDLED_MODEL)}); pass --model FILE (.pt or .bkws)")
    return Path(str(res))


def _sniff(path: Path) -> str:
    """``bkws`` | ``torch`` from the file's first bytes, so a misnamed file gets a clear error
    instead of a deep unpickling or parsing failure."""
    if not path.is_file():
        raise BifsmnError("model file not found", path)
    with path.open("rb") as f:
        head = f.read(16)
    if not head:
        raise BifsmnError("model file is empty", path)
    if head.startswith(_BKWS_MAGIC):
        return "bkws"
    if head.startswith(_ZIP_MAGIC):
        return "torch"
    if head.startswith(_AUDIO_MAGICS):
        raise BifsmnError("this is an audio file, not a model (expected a .pt checkpoint or a "
                          ".bkws engine file)", path)
    raise BifsmnError("not a model file (expected a .pt checkpoint or a .bkws engine file)",
                      path)


def load_scorer(model: str | Path | Scorer | None = None, blocks: int = 8) -> Scorer:
    """A scorer for ``model``: a path (``.bkws`` -> engine, checkpoint -> PyTorch), an object
    already implementing :class:`Scorer`, or None for the bundled model."""
    _check_blocks(blocks)
    if model is not None and not isinstance(model, str | Path):
        if not isinstance(model, Scorer):
            raise BifsmnError(f"model must be a file path or a Scorer, not {type(model).__name__}")
        return model
    path = bundled_model() if model is None else Path(model)
    kind = _sniff(path)
    if kind == "bkws":
        return EngineScorer(path, blocks)
    return TorchScorer.from_checkpoint(path, blocks)


def scorers_for_blocks(model: str | Path | Scorer | None, blocks: list[int], log=print
                       ) -> Iterator[tuple[int, Scorer]]:
    """``(blocks, scorer)`` for each requested path; when several paths are asked for, one the
    model lacks (a single-path teacher, a one-path ``.bkws`` export) is skipped with a line."""
    for b in blocks:
        try:
            scorer = load_scorer(model, b)
        except MissingPath as exc:
            if len(blocks) == 1:
                raise
            log(f"skipped: {exc}")
            continue
        yield b, scorer
