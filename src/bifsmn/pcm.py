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


def as_samples(x: object, what: str = "audio input") -> np.ndarray:
    """``x`` (a numpy array, a list, a torch tensor) as a numpy array of numbers, or one line
    naming ``what`` and the problem.

    Why not plain ``np.asarray``: it reads a ``bytearray`` or ``memoryview`` of PCM bytes as
    uint8, which is then taken as 8-bit audio (twice the samples, garbage scores, no error); it
    fails with torch's or numpy's own message on a tensor that requires grad, a bfloat16 tensor
    or a ragged list. Torch is not imported: a tensor is recognised by its methods."""
    if isinstance(x, str):
        raise BifsmnError(f"{what} is a str ({x[:60]!r}), not samples: read a file with "
                          "Detector.detect_file or bifsmn.audio.load_audio")
    if isinstance(x, bytes | bytearray) or (isinstance(x, memoryview) and x.itemsize == 1):
        raise BifsmnError(f"{what} is {type(x).__name__} of bytes, not samples: wrap raw PCM "
                          "bytes as numbers first, e.g. np.frombuffer(buf, '<i2') for 16-bit "
                          "little-endian")
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor (any device, any grad)
        t = x.detach().cpu()
        if t.is_floating_point() and t.element_size() < 4:  # float16 / bfloat16: numpy
            t = t.float()  # has no bfloat16; float32 holds both exactly
        x = t.numpy()
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError, RuntimeError) as exc:  # ragged lists, lists of tensors
        # that require grad, unconvertible objects
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BifsmnError(f"{what} is not an array of numbers ({why})") from None
    if arr.dtype.kind not in "fiu":
        raise BifsmnError(f"{what} must be numeric samples, not {arr.dtype}")
    return arr


def pcm_to_float32(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 samples in [-1, 1]: int16 / 32768, int32 / 2**31, 8-bit PCM as WAV
    stores it (uint8, offset 128: (x - 128) / 128; int8 / 128), floats as they are.

    Other integer types (int64, uint16, ...) carry no agreed full scale (a Python list of ints
    arrives as int64); they are taken as sample values and then face :func:`check_samples` like
    floats.
    """
    if x.dtype.kind not in "fiu":
        raise BifsmnError(f"audio must be numeric samples, not {x.dtype}")
    if not x.dtype.isnative:  # big-endian PCM ('>i2' is not np.int16): same values, native
        x = x.astype(x.dtype.newbyteorder("="))
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
