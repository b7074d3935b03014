"""Decoded-audio and feature cache for data splits.

Decoding thousands of WAV files and recomputing features of un-augmented splits every epoch is
what made the reference code's epochs slow. A split is decoded once into an int16 array
(N, 16000) and its un-augmented log-mel features into float32 (N, 1, 32, 32), both stored as
``.npy`` under a key that hashes the file list (path, size, mtime), the task, protocol and seed,
and for features the :class:`FeatureConfig`: any change to files or settings makes a new key.
Writes go to a temporary file renamed into place, so an interrupted run never leaves a bad cache.

Each entry has a ``.json`` sidecar naming its *slot*: what it caches (kind, data folder, split,
settings) without the file stats. A fresh checkout or a re-mounted data folder changes every
mtime, hence every key; without slots each such change left another full copy behind (three
158 MB copies of the fbank40 training split after three sessions). Saving an entry deletes the
older entries of its slot; ``bifsmn data cache`` lists and clears the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bifsmn.audio import CLIP_SAMPLES, fix_length, load_audio
from bifsmn.data.features import FeatureConfig, LogMel
from bifsmn.data.speech_commands import Item, SpeechCommands
from bifsmn.errors import BifsmnError
from bifsmn.outputs import atomic_write, remove_stale_temp_files, stale_temp_files

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    """``$BIFSMN_CACHE`` or ``~/.cache/bifsmn`` (data folders may be read-only)."""
    env = os.environ.get("BIFSMN_CACHE", "").strip()
    return Path(env) if env else Path.home() / ".cache" / "bifsmn"


def resolver() -> Callable[[str | Path], str]:
    """``path -> its folder resolved + its name``, each folder resolved once (a split's
    tens of thousands of files share a few dozen folders; ``realpath`` per file cost 6x the
    ``stat`` calls): the spelling-free name cache keys hash."""
    folders: dict[str, str] = {}

    def resolve(path: str | Path) -> str:
        head, name = os.path.split(os.fspath(path))
        if head not in folders:
            folders[head] = os.path.realpath(head or ".")
        return os.path.join(folders[head], name)

    return resolve


def _fingerprint(items: list[Item], extra: dict) -> str:
    """Cache key of a split's items: each file by its resolved path (``data``, ``./data/`` and
    ``/abs/data`` are one data set, so spellings neither rebuild nor evict each other's entry),
    size and mtime, plus the item's label and noise window."""
    h = hashlib.sha256(json.dumps({"v": CACHE_VERSION, **extra}, sort_keys=True).encode())
    resolve = resolver()
    for it in items:
        src = it.path or (it.noise[0] if it.noise else "")
        st = os.stat(src) if src else None
        path = resolve(it.path) if it.path else it.path
        noise = (resolve(it.noise[0]), it.noise[1]) if it.noise else it.noise
        h.update(
            f"{path}|{noise}|{it.label}|{st.st_size if st else 0}|"
            f"{st.st_mtime_ns if st else 0}\n".encode("utf-8", "surrogateescape")  # any name
        )
    return h.hexdigest()[:24]


def slot_of(kind: str, source: str | Path, split: str, extra: object = None) -> dict:
    """What a cache entry holds, minus file stats: entries with equal slots replace each other."""
    return {"kind": kind, "source": str(Path(source).resolve()), "split": split,
            "settings": hashlib.sha256(json.dumps(extra, sort_keys=True, default=str)
                                       .encode()).hexdigest()[:16]}


_UNWRITABLE: set[Path] = set()  # cache folders already reported as unwritable


def atomic_save_npy(path: Path, array: np.ndarray, slot: dict | None = None) -> None:
    """Write ``array`` to ``path`` via a temp file + rename (no half-written caches).

    With ``slot`` (see :func:`slot_of`), also write the sidecar and delete the entries of the
    same slot under other keys: they were made from older file stats and will never be read.

    A cache that cannot be written (HOME read-only or missing in a CI job, a full disk) is a
    warning, once per folder, not an error: the data was decoded already and is returned; only
    the next run decodes it again."""
    try:
        atomic_write(path, lambda f: np.save(f, array))
        remove_stale_temp_files(path.parent, dest=_cache_file)  # killed writers', long ago
        if slot is None:
            return
        side = path.with_suffix(".json")
        atomic_write(side, lambda f: f.write(json.dumps(slot, sort_keys=True).encode()))
        for other in path.parent.glob("*.json"):
            if other == side or read_slot(other) != slot:
                continue
            other.with_suffix(".npy").unlink(missing_ok=True)
            other.unlink(missing_ok=True)
    except (BifsmnError, OSError) as exc:
        if path.parent not in _UNWRITABLE:
            _UNWRITABLE.add(path.parent)
            logging.getLogger("bifsmn.data").warning(
                "warning: the data cache was not written (%s); the data is decoded again next "
                "time: point BIFSMN_CACHE (or the config's data.cache_dir) at a writable "
                "folder to keep it", exc)


def read_slot(sidecar: Path) -> dict | None:
    """The slot stored in a sidecar, or None if it is missing or unreadable."""
    try:
        data = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def cache_entries(cache_dir: Path | None = None) -> list[tuple[Path, int, dict | None]]:
    """``(npy path, bytes, slot or None)`` of every entry, oldest first (None: no sidecar,
    written before slots existed, so never pruned automatically)."""
    cache_dir = cache_dir or default_cache_dir()
    if not cache_dir.is_dir():
        return []
    files = sorted(cache_dir.glob("*.npy"), key=lambda p: p.stat().st_mtime)
    return [(p, p.stat().st_size, read_slot(p.with_suffix(".json"))) for p in files]


def _cache_file(name: str) -> bool:
    """An entry's file name (``KIND-....npy`` or its ``.json`` sidecar)."""
    return name.endswith((".npy", ".json"))


def leftover_temp_files(cache_dir: Path | None = None) -> tuple[int, int]:
    """``(files, bytes on disk)`` of the temp files killed writers left in the cache (what
    ``bifsmn data cache`` reports beside the entries and ``--clear`` deletes)."""
    n = size = 0
    for p in stale_temp_files(cache_dir or default_cache_dir(), dest=_cache_file):
        try:
            size += p.stat().st_blocks * 512
        except OSError:  # removed meanwhile
            continue
        n += 1
    return n, size


def clear_leftover_temp_files(cache_dir: Path | None = None) -> tuple[int, int]:
    """Delete :func:`leftover_temp_files` (``bifsmn data cache --clear``); returns ``(files,
    bytes on disk)``."""
    return remove_stale_temp_files(cache_dir or default_cache_dir(), dest=_cache_file)


def clear_cache(cache_dir: Path | None = None, unslotted_only: bool = False) -> tuple[int, int]:
    """Delete every entry (or only those without a sidecar); returns ``(entries, bytes)``."""
    n = size = 0
    for path, nbytes, slot in cache_entries(cache_dir):
        if unslotted_only and slot is not None:
            continue
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
        n, size = n + 1, size + nbytes
    return n, size


def _finite(arr: np.ndarray, rows: int = 1 << 22) -> bool:
    """No NaN or infinity in a float array (others are finite by type), checked in slices of
    ``rows`` values so that the check's mask stays small beside a large cache entry."""
    if arr.dtype.kind != "f":
        return True
    flat = arr.reshape(-1)
    return all(bool(np.isfinite(flat[i:i + rows]).all()) for i in range(0, flat.size, rows))


def load_cached_npy(path: Path, shape: tuple[int, ...] | None = None,
                    dtype: np.dtype | type | None = None) -> np.ndarray | None:
    """A cached array, or None if absent, unreadable (truncated, corrupt), not of the expected
    ``shape``/``dtype``, or a float array holding NaN or infinity (no writer stores those:
    features of finite audio are finite, so such an entry is damaged and would otherwise
    surface as a "diverged" training or a non-finite model input naming no file); a bad
    entry is deleted so that the caller rebuilds it (feature archives use it too)."""
    if not path.is_file():
        return None
    try:
        arr = np.load(path)
    except (OSError, ValueError, EOFError):
        arr = None
    if arr is not None and (shape is None or arr.shape == tuple(shape)) and (
            dtype is None or arr.dtype == np.dtype(dtype)) and _finite(arr):
        return arr
    # a read-only cache: the caller rebuilds it, and its save is a one-line error
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
    return None


def decode_item(item: Item, noise_cache: dict[str, np.ndarray]) -> np.ndarray:
    """1-s float32 waveform of one item (file, zero silence, or a noise window)."""
    if item.path is not None:
        return fix_length(load_audio(item.path))
    if item.noise is None:
        return np.zeros(CLIP_SAMPLES, np.float32)
    file, start = item.noise
    if file not in noise_cache:
        noise_cache[file] = load_audio(file)
    return fix_length(noise_cache[file][start : start + CLIP_SAMPLES])


def to_int16(wav: np.ndarray) -> np.ndarray:
    return np.clip(np.round(wav * 32767.0), -32768, 32767).astype(np.int16)


def _task(ds: SpeechCommands) -> dict:
    """What selects a split's items besides its files: the task, protocol and seed (and
    keywords of one's own, only where given, so that the ten-command tasks' keys stay)."""
    task = {"classes": ds.num_classes, "protocol": ds.protocol, "seed": ds.seed}
    if getattr(ds, "keywords", ()):
        task["keywords"] = list(ds.keywords)
    return task


def load_waves(
    ds: SpeechCommands, split: str, cache_dir: Path | None = None, progress: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Int16 waveforms (N, 16000) and labels (N,) of a split, decoded once and cached."""
    items = ds.items(split)
    cache_dir = cache_dir or default_cache_dir()
    key = _fingerprint(items, _task(ds))
    wpath = cache_dir / f"waves-{key}.npy"
    labels = torch.tensor([it.label for it in items], dtype=torch.long)
    cached = load_cached_npy(wpath, (len(items), CLIP_SAMPLES), np.int16)
    if cached is not None:
        return torch.from_numpy(cached), labels
    noise_cache: dict[str, np.ndarray] = {}
    waves = np.zeros((len(items), CLIP_SAMPLES), np.int16)
    it = tqdm(items, desc=f"decode {split}", unit="clip", disable=not progress, leave=False)
    for i, item in enumerate(it):
        waves[i] = to_int16(decode_item(item, noise_cache))
    atomic_save_npy(wpath, waves, slot_of("waves", ds.root, split, _task(ds)))
    return torch.from_numpy(waves), labels


def waves_to_float(waves: torch.Tensor) -> torch.Tensor:
    return waves.float() / 32767.0


def load_features(
    ds: SpeechCommands,
    split: str,
    feature_cfg: FeatureConfig | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Un-augmented log-mel features (N, 1, n_mels, frames) and labels, cached on disk."""
    feature_cfg = feature_cfg or FeatureConfig()
    cache_dir = cache_dir or default_cache_dir()
    items = ds.items(split)
    key = _fingerprint(
        items,
        {**_task(ds), "features": feature_cfg.to_dict()},
    )
    fpath = cache_dir / f"feats-{key}.npy"
    labels = torch.tensor([it.label for it in items], dtype=torch.long)
    cached = load_cached_npy(fpath, (len(items), 1, feature_cfg.n_mels, feature_cfg.num_frames),
                             np.float32)
    if cached is not None:
        return torch.from_numpy(cached), labels
    waves, labels = load_waves(ds, split, cache_dir, progress)
    mel = LogMel(feature_cfg)
    feats = torch.cat([mel(waves_to_float(w)) for w in waves.split(512)]) if len(waves) else \
        torch.zeros(0, 1, feature_cfg.n_mels, feature_cfg.num_frames)
    atomic_save_npy(fpath, feats.numpy(), slot_of("feats", ds.root, split, {
        **_task(ds), "features": feature_cfg.to_dict()}))
    return feats, labels


def load_noises(ds: SpeechCommands) -> list[torch.Tensor]:
    """The background-noise recordings used by augmentation."""
    return [torch.from_numpy(load_audio(f)) for f in ds.noise_files]
