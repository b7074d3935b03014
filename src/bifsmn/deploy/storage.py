"""Narrow storage of deployed constants, defined once for the exporter and the reference.

Why this module: a compact ``.bkws`` file stores some constants in fewer bits than float32,
and the C++ engine widens them back to float32 at load. The deployed PyTorch reference must
compute with the *same* float32 values, so the rounding (export) and the widening (reference,
engine) are written down here, as exact integer and float32 operations that the engine's loader
(``Container::floats`` in cpp/src/engine/bkws.cc) repeats:

* ``f24``: the upper 24 bits of an IEEE float32 (sign, 8 exponent bits, 15 mantissa bits).
  The value is rounded to float32 once, then to 24 bits, round half to even on the dropped byte.
  Widening appends a zero byte: exact.
* ``i8``: per-row symmetric int8 with one float32 scale per row (rows = first axis),
  ``scale = float32(max|row| / 127)`` and ``q = clip(rint(w / scale), -127, 127)``. Widening is
  one float32 multiplication, ``float32(q) * scale``, the same rounded product in numpy and in
  C++ (compiled with ``-ffp-contract=off``).
* ``i8`` with one scale for the whole record (``quantize_record``, format version 5): the same
  widening with ``scale[0]`` for every row.

Which constants tolerate which storage was measured, not assumed (docs/bkws-format.md,
"Precision choices"): the classifier takes int8 without moving validation accuracy by more than
0.1 points, the per-channel constants inside the binary network take 24 bits but not 16.
"""

from __future__ import annotations

import numpy as np

#: float16's largest finite value: a constant beyond it cannot be stored as f16
F16_MAX = 65504.0
#: largest int8 code used (symmetric: -127..127, so negation is exact)
I8_MAX = 127


def round_f24(value: np.ndarray) -> np.ndarray:
    """``value`` rounded to float32, then to the 24-bit float (a float32 array whose low byte
    is zero). Values that round past float32's range become infinite (the exporter refuses
    non-finite constants)."""
    bits = np.ascontiguousarray(np.asarray(value, np.float64).astype(np.float32)).view(np.uint32)
    bits = bits.astype(np.uint64)
    # round half to even on the low byte; a carry into the exponent is the correct rounding
    rounded = (bits + 0x7F + ((bits >> 8) & 1)) & 0xFFFFFF00
    # NaN/inf stay as they are (their low byte is dropped without rounding)
    special = (bits & 0x7F800000) == 0x7F800000
    out = np.where(special, bits & 0xFFFFFF00, rounded).astype(np.uint32)
    return out.view(np.float32).reshape(np.shape(value))


def quantize_rows(value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(q, scale)``: int8 codes (same shape as ``value``, at least 1-D) and one float32 scale
    per row (first axis). An all-zero row gets scale 1."""
    w = np.asarray(value, np.float64)
    if w.ndim < 1:
        raise ValueError("int8 storage needs an array with rows")
    rows = w.reshape(w.shape[0], -1)
    peak = np.abs(rows).max(axis=1, initial=0.0)
    scale = np.where(peak > 0, peak / I8_MAX, 1.0).astype(np.float32)
    q = np.clip(np.rint(rows / scale.astype(np.float64)[:, None]), -I8_MAX, I8_MAX)
    return q.astype(np.int8).reshape(w.shape), scale


def quantize_record(value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(q, scale)``: int8 codes and **one** float32 scale (shape (1,)) for the whole array,
    ``scale = float32(max|value| / 127)`` (format version 5). For per-channel vectors, whose
    rows are single values, where a per-row scale would store every value twice."""
    w = np.asarray(value, np.float64)
    if w.ndim < 1:
        raise ValueError("int8 storage needs an array with rows")
    peak = float(np.abs(w).max(initial=0.0))
    scale = np.array([peak / I8_MAX if peak > 0 else 1.0], np.float32)
    q = np.clip(np.rint(w / float(scale[0])), -I8_MAX, I8_MAX)
    return q.astype(np.int8), scale


def dequantize_rows(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The float32 values an ``i8`` constant stands for: ``float32(q) * scale[row]`` (or
    ``scale[0]`` for a one-value scale), one rounded float32 product per element (what the
    engine computes at load)."""
    q = np.asarray(q)
    rows = q.reshape(q.shape[0], -1).astype(np.float32)
    out = rows * np.asarray(scale, np.float32)[:, None]
    return out.astype(np.float32).reshape(q.shape)
