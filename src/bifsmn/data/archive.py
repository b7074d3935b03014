"""Feature archives: Speech Commands as fbank40 images, and audio run through the same front end.

An archive folder (``../shared/data/speech_commands_v0.02_fbank40`` is one) holds one 98 x 40
8-bit JPEG per clip::

    yes/ no/ ... go/      <speaker>_nohash_<n>.<word>.jpg
    unknown/              the other words, same naming (the word is before .jpg)
    _background_noise_/   1-s noise images (silence items and noise for augmentation)
    training_list.txt validation_list.txt testing_list.txt

The lists give the data set's own speaker-disjoint split. Noise images are in no list; they are
split by a stable hash of their name (80 / 10 / 10 %) so silence items of the three splits
never share an image. Images are decoded once into a uint8 array (N, 98, 40) cached on disk:
41k clips take 160 MB in memory, and an epoch then never touches a JPEG again.

Audio sources (:class:`AudioSource`: a folder of recordings of other phrases, for ``unknown``)
are run through the fbank40 front end, cut into 1-s windows and, by default, JPEG round-tripped
at quality 75 like the archive's images: otherwise "clean features" would be a shortcut to the
``unknown`` label (docs/fbank40.md measures it).

Datasets return plain tuples and arrays, as torchaudio's do.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bifsmn.audio import AUDIO_EXTS, audio_files_in, load_audio
from bifsmn.data.cache import (
    atomic_save_npy,
    default_cache_dir,
    load_cached_npy,
    resolver,
    slot_of,
)
from bifsmn.data.fbank import Fbank40, Fbank40Config, pad_image
from bifsmn.data.labels import SILENCE, label_of_word, labels_for_task, task_size
from bifsmn.data.speech_commands import read_list
from bifsmn.errors import BifsmnError

NOISE_DIR = "_background_noise_"
SPLITS = ("training", "validation", "testing")
ARCHIVE_CACHE_VERSION = 1


def is_feature_archive(root: str | Path) -> bool:
    """True for a folder laid out as a feature archive: a ``training_list.txt`` whose first
    entry is an image (``WORD/NAME.jpg``). Decided by the list, not by the files beside it: an
    audio data set with a stray picture (a cover image) stays audio, and an archive holding
    some of the clips its images came from stays an archive."""
    lst = Path(root) / "training_list.txt"
    if not lst.is_file():
        return False
    try:
        with lst.open(encoding="utf-8-sig", errors="replace") as f:
            first = next((ln.strip() for ln in f if ln.strip()), "")
    except OSError:
        return False
    if not first:  # an empty list names nothing: the images beside it decide
        return any(Path(root).glob("*/*.jpg"))
    return first.lower().endswith(".jpg")


def check_feature_archive(root: str | Path) -> None:
    """Refuse, in one line naming it, a folder that is not a feature archive (commands that
    read images only: an audio folder there gave NaN tables or a reshape traceback)."""
    root = Path(root)
    if not root.is_dir():
        raise BifsmnError("a file, not a data directory" if root.exists()
                          else "data directory does not exist", root)
    if not is_feature_archive(root):
        raise BifsmnError("not a feature archive (needs a training_list.txt naming WORD/NAME.jpg "
                          "images)", root)


def hash_split(name: str, val_pct: int = 10, test_pct: int = 10) -> str:
    """Stable split of a name by SHA-1, as Speech Commands splits speakers."""
    # surrogateescape: a POSIX name that is not UTF-8 hashes as its own bytes (UTF-8 names
    # hash exactly as before)
    h = int(hashlib.sha1(name.encode("utf-8", "surrogateescape")).hexdigest(), 16) % 100
    if h < val_pct:
        return "validation"
    if h < val_pct + test_pct:
        return "testing"
    return "training"


@dataclass(frozen=True)
class ArchiveItem:
    """One image: its path relative to the archive, word, speaker (None for noise), label."""

    rel: str
    word: str
    speaker: str | None
    label: int


def parse_image_name(rel: str) -> tuple[str, str | None]:
    """``yes/0a7c2a8d_nohash_0.yes.jpg`` -> ``("yes", "0a7c2a8d")``; noise -> (silence, None)."""
    folder, name = rel.split("/", 1)
    if folder == NOISE_DIR:
        return SILENCE, None
    stem = name[:-4] if name.endswith(".jpg") else name
    word = stem.rsplit(".", 1)[1] if "." in stem else folder
    speaker = stem.split("_nohash_")[0] if "_nohash_" in stem else None
    return word, speaker


def decode_jpeg(path: Path) -> np.ndarray:
    """A grayscale image as uint8 (rows, cols); one-line error naming the file if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise BifsmnError(f"cannot decode image ({exc.__class__.__name__})", path) from None
    return arr


def jpeg_roundtrip(img: np.ndarray, quality: int = 75) -> np.ndarray:
    """Encode a uint8 image as JPEG (Pillow's default tables) and decode it again."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img, mode="L").save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return decode_jpeg_bytes(buf)


def decode_jpeg_bytes(buf: io.BytesIO) -> np.ndarray:
    from PIL import Image

    with Image.open(buf) as im:
        return np.asarray(im.convert("L"), dtype=np.uint8)


def _fingerprint(paths: list[Path], extra: str) -> str:
    h = hashlib.sha256(f"v{ARCHIVE_CACHE_VERSION}|{extra}".encode())
    resolve = resolver()  # two spellings of one archive share one entry
    for p in paths:
        st = os.stat(p)
        h.update(f"{resolve(p)}|{st.st_size}|{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:24]


class FeatureArchive:
    """Index of a feature archive for the 12-, 35- or 37-class task, or a keyword task.

    ``archive.items(split)`` lists :class:`ArchiveItem`; ``archive.images(split)`` gives the
    decoded uint8 images (N, 98, 40) and labels (N,). 12 words: the ten commands, ``unknown``
    (the other words) and ``silence`` (noise images); 35 words: the words present (no silence);
    37 classes: the 35 words, ``unknown`` and ``silence`` (scored as the 12 they report,
    :class:`~bifsmn.data.labels.ClassMerge`).
    ``keywords``: a keyword task of one's own (:func:`~bifsmn.data.labels.labels_for_task`).
    """

    def __init__(self, root: str | Path, num_classes: int = 12,
                 keywords: Sequence[str] = ()) -> None:
        self.root = Path(root)
        check_feature_archive(self.root)
        self.labels = labels_for_task(task_size(num_classes, keywords), keywords)
        self.num_classes = len(self.labels)
        self.keywords = tuple(keywords)  # () for the tasks of the ten commands
        self.feature_config = Fbank40Config()
        self._cache: dict[str, list[ArchiveItem]] = {}

    def _label(self, word: str) -> int | None:
        return label_of_word(self.labels, word)

    def _list(self, split: str) -> list[str]:
        p = self.root / f"{split}_list.txt"
        if not p.is_file():
            raise BifsmnError(f"no {split}_list.txt", self.root)
        return read_list(p)

    def noise_names(self, split: str) -> list[str]:
        """Background-noise images of ``split`` (stable hash split of their names)."""
        names = sorted(p.name for p in (self.root / NOISE_DIR).glob("*.jpg"))
        return [f"{NOISE_DIR}/{n}" for n in names if hash_split(n) == split]

    def items(self, split: str) -> list[ArchiveItem]:
        if split not in SPLITS:
            raise BifsmnError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
        if split not in self._cache:
            out = []
            rels = self._list(split)
            if SILENCE in self.labels:  # the tasks with a silence class (all but 35 words)
                rels = rels + self.noise_names(split)
            for rel in rels:
                word, speaker = parse_image_name(rel)
                label = self._label(word)
                if label is not None:
                    out.append(ArchiveItem(rel, word, speaker, label))
            self._cache[split] = out
        return self._cache[split]

    def images(self, split: str, cache_dir: Path | None = None, progress: bool = False
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images (N, 98, 40) and labels (N,), decoded once and cached as ``.npy``."""
        items = self.items(split)
        labels = torch.tensor([it.label for it in items], dtype=torch.long)
        paths = [self.root / it.rel for it in items]
        for p in paths:
            if not p.is_file():
                raise BifsmnError(f"listed image {p.relative_to(self.root)} does not exist",
                                  self.root)
        # the images depend only on the paths: the 37-class task and keyword tasks of one's
        # own (the same clips and noise images) read the 12-class one's
        family = 12 if SILENCE in self.labels else self.num_classes
        key = _fingerprint(paths, f"images|{family}")
        cpath = (cache_dir or default_cache_dir()) / f"fbank40-{split}-{key}.npy"
        frames, mels = self.feature_config.image_frames, self.feature_config.n_mels
        arr = load_cached_npy(cpath, (len(items), frames, mels), np.uint8)
        if arr is None:
            arr = np.zeros((len(items), frames, mels), np.uint8)
            for i, p in enumerate(tqdm(paths, desc=f"decode {split}", unit="img",
                                       disable=not progress, leave=False)):
                img = decode_jpeg(p)
                if img.shape != (frames, mels):
                    raise BifsmnError(f"image is {img.shape[0]}x{img.shape[1]}, expected "
                                      f"{frames}x{mels} (time x mel)", p)
                arr[i] = img
            atomic_save_npy(cpath, arr, slot_of("fbank40", self.root, split, family))
        return torch.from_numpy(arr), labels

    def noise_images(self, split: str = "training", cache_dir: Path | None = None
                     ) -> torch.Tensor:
        """uint8 noise images of ``split`` (for mixing background noise into training images)."""
        names = self.noise_names(split)
        paths = [self.root / n for n in names]
        if not paths:
            return torch.zeros(0, self.feature_config.image_frames, self.feature_config.n_mels,
                               dtype=torch.uint8)
        key = _fingerprint(paths, "noise")
        cpath = (cache_dir or default_cache_dir()) / f"fbank40-noise-{split}-{key}.npy"
        c = self.feature_config
        arr = load_cached_npy(cpath, (len(paths), c.image_frames, c.n_mels), np.uint8)
        if arr is None:
            arr = np.stack([decode_jpeg(p) for p in paths])
            atomic_save_npy(cpath, arr, slot_of("fbank40-noise", self.root, split))
        return torch.from_numpy(arr)


class AudioSource:
    """A folder of recordings (any depth) used as extra training/evaluation data for one label.

    Files are split 80 / 10 / 10 % by a stable hash of their relative path. Each recording gives
    ``windows`` 1-s windows (evenly spaced from start to end; a recording shorter than 1 s gives
    one window, centred with zero rows as the archive pads short clips), through the fbank40
    front end, JPEG round-tripped at ``jpeg_quality`` unless it is 0.
    """

    def __init__(self, root: str | Path, windows: int = 3, jpeg_quality: int = 75) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise BifsmnError("a file, not a folder of audio files" if self.root.exists()
                              else "audio source folder does not exist", self.root)
        self.files = audio_files_in(self.root)
        if not self.files:
            raise BifsmnError(f"no audio files ({', '.join(AUDIO_EXTS)}) found", self.root)
        self.windows, self.jpeg_quality = windows, jpeg_quality

    def split_files(self, split: str) -> list[Path]:
        return [p for p in self.files
                if hash_split(str(p.relative_to(self.root))) == split]

    def images(self, split: str, cfg: Fbank40Config | None = None,
               cache_dir: Path | None = None, progress: bool = False) -> torch.Tensor:
        """uint8 images (N, 98, 40) of the 1-s windows of ``split``'s recordings."""
        cfg = cfg or Fbank40Config()
        files = self.split_files(split)
        key = _fingerprint(files, f"audio|{self.windows}|{self.jpeg_quality}|{cfg.to_dict()}")
        cpath = (cache_dir or default_cache_dir()) / f"fbank40-audio-{split}-{key}.npy"
        arr = load_cached_npy(cpath, dtype=np.uint8)
        if arr is not None and arr.ndim == 3 and arr.shape[1:] == (cfg.image_frames, cfg.n_mels):
            return torch.from_numpy(arr)
        fb = Fbank40(cfg)
        frames = cfg.image_frames
        out = []
        for f in tqdm(files, desc=f"front end {self.root.name} {split}", unit="file",
                      disable=not progress, leave=False):
            img = fb.image(torch.from_numpy(load_audio(f)))[0]
            n = img.shape[0]
            if n <= frames:
                starts = [0]
            else:
                k = self.windows
                starts = sorted({round(i * (n - frames) / max(1, k - 1)) for i in range(k)})
            for s in starts:
                w = pad_image(img[s:s + frames], frames).numpy().astype(np.uint8)
                out.append(jpeg_roundtrip(w, self.jpeg_quality) if self.jpeg_quality else w)
        arr = np.stack(out) if out else np.zeros((0, frames, cfg.n_mels), np.uint8)
        atomic_save_npy(cpath, arr, slot_of("fbank40-audio", self.root, split, {
            "windows": self.windows, "jpeg": self.jpeg_quality, "cfg": cfg.to_dict()}))
        return torch.from_numpy(arr)
