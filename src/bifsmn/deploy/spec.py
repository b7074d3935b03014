"""The deployed model as data: what folding produces and what both the ``.bkws`` writer and
the PyTorch deployed reference consume.

Every constant is already in its storage dtype (float32, float16, 24-bit float, per-row int8;
sign bits as bool), so the file the exporter writes and the reference computes from the same
bits; nothing is rounded a second time on either side. :meth:`Constant.widened` is the float32
value both the reference and the engine compute with (:mod:`bifsmn.deploy.storage`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import numpy as np

from bifsmn.blocks import to_index
from bifsmn.deploy.storage import dequantize_rows, quantize_record, quantize_rows, round_f24

#: storage dtypes of constants (the ``.bkws`` record dtypes they become). ``f24`` constants are
#: float32 arrays already rounded to 24 bits; ``i8`` constants hold int8 codes plus a per-row
#: float32 :attr:`Constant.scale` (record ``NAME.qscale``); :meth:`DeploySpec.add` also takes
#: ``i8r``, an ``i8`` constant with one scale for the whole array (format version 5)
STORAGE = {"f32": np.float32, "f16": np.float16, "f24": np.float32, "i8": np.int8,
           "i32": np.int32, "bits": np.bool_}
#: float storages, widest first
FLOAT_DTYPES = ("f32", "f24", "f16", "i8")


@dataclass(frozen=True)
class Arch:
    """Network shape, in the order of the ``.bkws`` ``arch`` record (docs/bkws-format.md)."""

    classes: int
    n_mels: int
    frames: int
    c1: int
    c2: int
    kernel: int
    dim: int
    hidden: int
    layers: int
    left: int
    right: int
    model_paths: int

    def as_list(self) -> list[int]:
        return [self.classes, self.n_mels, self.frames, self.c1, self.c2, self.kernel,
                self.dim, self.hidden, self.layers, self.left, self.right, self.model_paths]


@dataclass(frozen=True)
class Constant:
    """One folded constant: ``value`` is a numpy array already in ``dtype``'s storage type;
    ``scale`` the per-row float32 scales of an ``i8`` constant, or one scale (shape (1,)) for
    all its rows (None for other dtypes)."""

    dtype: str
    value: np.ndarray
    scale: np.ndarray | None = None

    def widened(self) -> np.ndarray:
        """The value computed with: float32 for every float storage (exact widening of f16
        and f24, ``float32(q) * scale`` for i8), the stored array for bits and integers."""
        if self.dtype == "i8":
            return dequantize_rows(self.value, cast(np.ndarray, self.scale))  # i8: has rows' scales
        if self.dtype in ("f16", "f24"):
            return np.asarray(self.value, np.float32)
        return self.value


@dataclass
class DeploySpec:
    """A folded DFSMN: eval-mode BatchNorm folded into scales and biases, weights as signs.

    ``kind``: ``bifsmnv2`` (dual-scale input), ``bifsmn_v1`` (sign input), or a full-precision
    ``dfsmn_teacher`` / ``dfsmn_thinnable``. ``blocks``: the block counts of the thinnable
    paths included, most blocks first. ``constants``: name -> constant, named as the ``.bkws``
    records (docs/bkws-format.md), in the order the file stores them. Per-path constants carry
    the path *index* as suffix (``.p0`` .. ``.p3``, see :mod:`bifsmn.blocks`).
    """

    kind: str
    method: str
    binary: dict
    arch: Arch
    blocks: list[int]
    classifier_dtype: str
    param_dtype: str
    constants: dict[str, Constant] = field(default_factory=dict)

    @property
    def is_binary(self) -> bool:
        return self.kind in ("bifsmnv2", "bifsmn_v1")

    @property
    def dual_scale(self) -> bool:
        return self.kind == "bifsmnv2"

    @property
    def paths(self) -> list[int]:
        """Path indices of :attr:`blocks` (the model's internal names for them)."""
        return [to_index(b, self.arch.layers) for b in self.blocks]

    def add(self, name: str, value: object, dtype: str) -> None:
        """Store ``value`` cast once to ``dtype`` (float64 -> float32/float16 rounds once;
        f24 and i8 as :mod:`bifsmn.deploy.storage` defines them)."""
        if name in self.constants:
            raise ValueError(f"constant {name!r} folded twice")
        arr = np.asarray(value)
        if dtype in ("i8", "i8r"):
            q, scale = (quantize_rows if dtype == "i8" else quantize_record)(arr)
            self.constants[name] = Constant("i8", q, scale)
            return
        if dtype == "f24":
            arr = round_f24(arr)
        elif dtype == "bits":
            if arr.ndim != 2:
                raise ValueError(f"{name}: bits need a 2-D (rows, K) array")
            arr = arr.astype(bool)
        else:
            arr = np.ascontiguousarray(arr, dtype=STORAGE[dtype])
        self.constants[name] = Constant(dtype, arr)

    def array(self, name: str) -> np.ndarray:
        return self.constants[name].value
