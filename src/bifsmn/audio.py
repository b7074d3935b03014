"""Audio file reading: any rate, channel count and sample format in, 16 kHz mono float32 out.

Keyword-spotting models are trained on 16 kHz mono clips, but users feed whatever their recorder
wrote. Everything is decoded by libsndfile (``soundfile``), downmixed by averaging channels and
resampled with a real band-limited resampler (``soxr``), never by naive decimation. Conversions are
reported once per process, not once per file, so a data set of 8 kHz files does not flood the log.
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from bifsmn.errors import BifsmnError
from bifsmn.pcm import MAX_FLOAT_SAMPLE  # re-exported: decoded files face the same rule

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000
#: audio file types read from folders (`bifsmn detect DIR`, negative-speech folders)
AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3")
log = logging.getLogger(__name__)
_reported: set[str] = set()


def audio_files_in(folder: Path) -> list[Path]:
    """The audio files (:data:`AUDIO_EXTS`) anywhere below ``folder``, sorted, so that a run over
    a folder visits its files in the same order on every machine. Hidden files and folders
    (``.Trash``, macOS's ``._NAME.wav`` resource forks, which are not audio) are left out;
    linked folders are followed, each real folder once (a link loop ends)."""
    found: list[Path] = []
    seen: set[str] = set()
    for top, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        # sorted, real folders before links: a folder reached both ways keeps its real path
        # (its name feeds hash splits and cache keys) whatever order the OS lists them in
        dirs[:] = sorted((d for d in dirs if not d.startswith(".")),
                         key=lambda d: (os.path.islink(os.path.join(top, d)), d))
        found += [Path(top) / f for f in files if not f.startswith(".")
                  and Path(f).suffix.lower() in AUDIO_EXTS and (Path(top) / f).is_file()]
    return sorted(found)


def _report_once(key: str, message: str) -> None:
    if key not in _reported:
        _reported.add(key)
        log.warning(message)


def check_wav_truncation(path: Path) -> None:
    """Raise if a RIFF/WAVE file's data chunk claims more bytes than the file holds.

    libsndfile silently reads what is there, so a half-copied file would otherwise pass as a
    shorter clip and corrupt a data set without any sign.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            cid, clen = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if cid == b"data":
                have = size - pos - 8
                if clen > have and clen != 0xFFFFFFFF:
                    raise BifsmnError(
                        f"truncated WAV: header declares {clen} bytes of audio, file holds {have}",
                        path,
                    )
                return
            pos += 8 + clen + (clen & 1)
        raise BifsmnError("truncated WAV: no data chunk", path)


def check_samples(data: np.ndarray, path: str | Path) -> None:
    """Refuse decoded samples that are NaN, infinite or of magnitude > :data:`MAX_FLOAT_SAMPLE`
    (one pass over the block), naming the file."""
    if not data.size:
        return
    peak = float(np.max(np.abs(data)))
    if not np.isfinite(peak):
        raise BifsmnError("audio contains NaN or infinite samples", path)
    if peak > MAX_FLOAT_SAMPLE:
        raise BifsmnError(f"float sample of magnitude {peak:.3g} (audio must lie in [-1, 1]; "
                          f"|x| > {MAX_FLOAT_SAMPLE:g} is refused as corrupt)", path)


def open_audio(path: str | Path) -> sf.SoundFile:
    """Open an audio file after the checks every reader needs (exists, not empty, not a
    truncated WAV, decodable), each failure a one-line :class:`BifsmnError` naming the file."""
    path = Path(path)
    if path.is_dir():
        raise BifsmnError("a directory, not an audio file", path)
    if not path.is_file():
        raise BifsmnError("not a regular file (a device, pipe or socket)" if path.exists()
                          else "no such audio file", path)
    if path.stat().st_size == 0:
        raise BifsmnError("empty file (0 bytes)", path)
    check_wav_truncation(path)
    try:
        # the name as the OS's bytes: soundfile encodes a str strictly as UTF-8, which a
        # POSIX name that is not UTF-8 (a surrogate-escaped str in Python) cannot pass
        return sf.SoundFile(str(path) if os.name == "nt" else os.fsencode(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        # libsndfile's own words: str(exc) repeats the name, now as bytes (b'/path')
        why = getattr(exc, "error_string", None) or str(exc)
        raise BifsmnError(f"not a readable audio file ({why})", path) from None


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a whole audio file as mono float32 in [-1, 1] at ``sample_rate``.

    Raises :class:`BifsmnError` with a one-line message for a missing, empty, truncated,
    undecodable or non-finite file. (Long recordings: ``bifsmn.detect.audio_io`` streams.)
    """
    with open_audio(path) as f:
        sr = int(f.samplerate)
        try:
            data = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise BifsmnError(f"audio decoding failed ({exc})", path) from None
    if data.shape[0] == 0:
        raise BifsmnError("audio file holds no samples", path)
    check_samples(data, path)
    if data.shape[1] > 1:
        _report_once(
            f"ch{data.shape[1]}", f"downmixing {data.shape[1]}-channel audio to mono ({path})"
        )
        data = data.mean(axis=1, keepdims=True)
    wav = data[:, 0]
    if sr != sample_rate:
        _report_once(f"sr{sr}", f"resampling audio from {sr} Hz to {sample_rate} Hz ({path})")
        wav = soxr.resample(wav, sr, sample_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(wav, dtype=np.float32)


def fix_length(wav: np.ndarray, length: int = CLIP_SAMPLES) -> np.ndarray:
    """Truncate or zero-pad on the right to exactly ``length`` samples (the models need 1 s)."""
    if wav.shape[0] >= length:
        return wav[:length]
    return np.pad(wav, (0, length - wav.shape[0]))
