"""Audio arrays handed to the library in memory: integer PCM scaled to float, absurd values refused.

One definition for every entry point that takes samples (``Engine``, ``Detector``), so that an
int16 buffer from a sound card or ``soundfile.read(dtype="int16")`` means the same audio
everywhere. Depends on numpy only: running a ``.bkws`` file needs no audio library.
"""

from __future__ import annotations

import math

import numpy as np

from bifsmn.errors import BifsmnError

#: Float samples beyond this magnitude are refused: decoded audio lies in [-1, 1] (integer PCM
#: cannot exceed it), so a float array holding e.g. 1e20 (one corrupted exponent byte) is damaged,
#: and its power spectrum would overflow float32 into NaN scores; unscaled 16-bit PCM passed as
#: floats (values up to 32767) is caught by the same rule. The C++ runner's WAV reader applies it
#: too (cpp/include/bifsmn/wav.h).
MAX_FLOAT_SAMPLE = 1000.0


def pcm_to_float32(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 samples in [-1, 1]: int16 / 32768, int32 / 2**31, 8-bit PCM as WAV
    stores it (uint8, offset 128: (x - 128) / 128; int8 / 128), floats as they are.

    Other integer types (int64, uint16, ...) carry no agreed full scale (a Python list of ints
    arrives as int64); they are taken as sample values and then face :func:`check_samples` like
    floats.
    """
    if x.dtype.kind not in "fiu":
        raise BifsmnError(f"audio must be numeric samples, not {x.dtype}")
    if x.dtype == np.int16:  # exact in float32, and the division by 2**15 is exact too
        return x.astype(np.float32) / np.float32(32768.0)
    if x.dtype == np.int32:  # 31 bits: divided in float64, then rounded once
        return (x.astype(np.float64) / 2147483648.0).astype(np.float32)
    if x.dtype == np.uint8:  # silence is 128, not 0 (a raw 8-bit WAV buffer)
        return (x.astype(np.float32) - np.float32(128.0)) / np.float32(128.0)
    if x.dtype == np.int8:
        return x.astype(np.float32) / np.float32(128.0)
    return np.asarray(x, np.float32)


def check_samples(x: np.ndarray, what: str = "audio input") -> None:
    """Refuse NaN/inf and samples of magnitude > :data:`MAX_FLOAT_SAMPLE` (one line naming
    ``what``). max and -min rather than max(abs(x)): no temporary array per live chunk, and NaN
    propagates through both reductions."""
    if not x.size:
        return
    peak = max(float(x.max()), -float(x.min()))
    if not math.isfinite(peak):
        raise BifsmnError(f"{what} contains NaN or infinite samples")
    if peak > MAX_FLOAT_SAMPLE:
        raise BifsmnError(f"{what} has a sample of magnitude {peak:.3g} (audio must lie in "
                          f"[-1, 1]: pass int16/int32 PCM as integers or scale it; |x| > "
                          f"{MAX_FLOAT_SAMPLE:g} is refused)")
