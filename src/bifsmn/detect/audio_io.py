"""Reading long audio files in blocks: flat memory for any duration.

:func:`bifsmn.audio.load_audio` decodes a whole file, which is right for 1-s clips and wrong for
an hour-long recording (230 MB of float32). Here the file is decoded block by block with
libsndfile, downmixed by averaging channels and resampled with a *streaming* soxr resampler, so
at most one block is in memory at a time. Error messages match ``load_audio``'s (one line naming
the file).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from bifsmn.audio import check_samples, open_audio
from bifsmn.errors import BifsmnError

BLOCK_SECONDS = 10.0


def iter_audio_blocks(path: str | Path, sample_rate: int = 16000,
                      block_seconds: float = BLOCK_SECONDS) -> Iterator[np.ndarray]:
    """Yield consecutive mono float32 blocks of ``path`` at ``sample_rate``.

    Raises :class:`BifsmnError` (one line, naming the file) for a missing, empty, truncated,
    undecodable, sample-less or non-finite file; the checks that need the data happen as the
    blocks are read, so a NaN an hour into a file is reported when it is reached.
    """
    path = Path(path)
    try:
        secs = None if isinstance(block_seconds, bool | str) else float(block_seconds)
    except (TypeError, ValueError):
        secs = None
    if secs is None or not 0 < secs < math.inf:  # NaN too
        raise BifsmnError(f"block_seconds must be a positive number of seconds (got "
                          f"{block_seconds!r})", path)
    with open_audio(path) as f:
        sr = int(f.samplerate)
        resampler = (soxr.ResampleStream(sr, sample_rate, 1, dtype="float32", quality="HQ")
                     if sr != sample_rate else None)
        frames = max(1, int(round(block_seconds * sr)))
        total = 0
        while True:
            try:
                data = f.read(frames, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise BifsmnError(f"audio decoding failed after {total} frames ({exc})",
                                  path) from None
            last = data.shape[0] < frames
            if data.shape[0]:
                check_samples(data, path)
                total += data.shape[0]
            mono = data.mean(axis=1, dtype=np.float32) if data.shape[1] > 1 else data[:, 0]
            mono = np.ascontiguousarray(mono, np.float32)
            if resampler is not None:
                mono = resampler.resample_chunk(mono, last=last)
            if mono.size:
                yield np.asarray(mono, np.float32)
            if last:
                break
        if total == 0:
            raise BifsmnError("audio file holds no samples", path)
