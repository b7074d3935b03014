"""Google Speech Commands: file discovery, splits and the 12/35-class label protocols.

Two on-disk layouts exist and both are read:

* ``full``: the v0.01/v0.02 data sets, one folder per word, ``validation_list.txt`` and
  ``testing_list.txt``; training is every other clip (torchaudio semantics; README, "Data").
* ``test-archive``: the official 12-class test archives, with ``_silence_/`` (real noise windows)
  and ``_unknown_/`` (``<word>_<speaker>_nohash_<n>.wav.wav``) already balanced.

An explicit ``training_list.txt`` is honoured in either layout (the shared dev data has one).

For the 12-class task on the full layout two protocols exist, so results can be compared with
both literatures:

* ``reference``: the BiFSMN code. Every non-command word is ``unknown`` (no subsampling) and
  ``int(0.1 * n)`` all-zero 1-s silence items are appended to each split.
* ``standard``: the TF/Google recipe. Unknown words are subsampled to 10 % of the keyword count
  and silence items (also 10 %) are 1-s windows cut from ``_background_noise_``; the subsampling
  is seeded, so a split is the same on every machine.

Items are plain dataclasses; datasets return plain tuples, as torchaudio's do.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bifsmn.audio import AUDIO_EXTS, CLIP_SAMPLES, SAMPLE_RATE, open_audio
from bifsmn.data.labels import (
    SILENCE,
    UNKNOWN,
    keywords_of,
    label_of_word,
    labels_for_task,
    task_size,
)
from bifsmn.errors import BifsmnError

log = logging.getLogger(__name__)

SPLITS = ("training", "validation", "testing", "all")
PROTOCOLS = ("auto", "reference", "standard")
NOISE_DIR = "_background_noise_"


@dataclass(frozen=True)
class Item:
    """One 1-s example.

    ``path`` is None for synthetic silence; then ``noise`` is None for an all-zero clip
    (reference protocol) or ``(noise_file, start_sample)`` for a window of background noise.
    """

    path: str | None
    word: str
    speaker: str | None
    label: int
    noise: tuple[str, int] | None = None


def parse_name(rel: str) -> tuple[str, str | None]:
    """Return ``(word, speaker)`` of a relative clip path such as ``yes/0a7c2a8d_nohash_0.wav``.

    In ``_unknown_/`` of the test archives the word is the file name's prefix.
    """
    parts = rel.split("/")
    folder, name = parts[-2] if len(parts) > 1 else "", parts[-1]
    fields = name.split("_")
    if folder == UNKNOWN and len(fields) >= 3:
        return fields[0], fields[1]
    if folder == SILENCE:
        return SILENCE, None
    speaker = fields[0] if "_nohash_" in name else None
    return folder, speaker


def _length_at_16k(path: str | Path) -> int:
    """Samples of an audio file once decoded at :data:`SAMPLE_RATE` (what
    :func:`~bifsmn.audio.load_audio` returns), from its header: a 44.1 kHz noise file's frame
    count would place most windows past the resampled recording's end (all-zero "silence")."""
    with open_audio(path) as f:
        return int(f.frames) * SAMPLE_RATE // int(f.samplerate)


def read_list(path: Path) -> list[str]:
    """The non-blank lines of a split list (``validation_list.txt``...). UTF-8, with a byte
    order mark allowed (an editor's "UTF-8 with BOM" would otherwise glue it to the first
    name); other encodings are a one-line error naming the file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BifsmnError(f"not UTF-8 text (byte {exc.start}: {exc.reason}); save the list "
                          "as UTF-8, one relative path per line", path) from None
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def _scan(root: Path) -> list[str]:
    """The clips of the word folders (``WORD/NAME.wav``, the data set's layout). Other audio
    there (``yes/a.WAV``, ``no/b.flac``) is not a clip: said once, with a count, so that a
    converted or hand-made data set does not lose its recordings without a word."""
    files, others = [], 0
    for p in sorted(root.glob("*/*")):
        folder = p.parent.name
        if folder == NOISE_DIR or folder.startswith(".") or p.name.startswith("."):
            continue
        if p.suffix == ".wav":  # as the glob of */*.wav before: no stat per clip
            files.append(f"{folder}/{p.name}")
        elif p.suffix.lower() in AUDIO_EXTS and p.is_file():
            others += 1
    if others:
        log.warning("%s: %d audio file%s in word folders not named *.wav (lower case) are not "
                    "read as clips", root, others, "s" * (others != 1))
    return files


def detect_layout(root: Path) -> str:
    """``test-archive`` if the official ``_unknown_`` and ``_silence_`` folders both exist,
    else ``full``. Both: a full data set to which a user added an ``_unknown_/`` folder of
    other words stays a full one (one such folder made it an archive: no training split and
    no silence items)."""
    return "test-archive" if (root / UNKNOWN).is_dir() and (root / SILENCE).is_dir() else "full"


class SpeechCommands:
    """Index of a Speech Commands folder for one task and protocol.

    ``SpeechCommands(root, num_classes=12)[split]`` gives the list of :class:`Item` of a split;
    ``dataset.tuples(split)`` gives torchaudio-style ``(path, label, word, speaker)`` tuples.
    ``keywords``: a keyword task of one's own (:func:`~bifsmn.data.labels.labels_for_task`;
    ``num_classes`` must then be ``2 + len(keywords)``).
    """

    def __init__(
        self, root: str | Path, num_classes: int = 12, protocol: str = "auto", seed: int = 0,
        keywords: Sequence[str] = (),
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise BifsmnError("a file, not a data directory" if self.root.exists()
                              else "data directory does not exist", self.root)
        if protocol not in PROTOCOLS:
            raise BifsmnError(f"unknown protocol {protocol!r} (choose from {', '.join(PROTOCOLS)})")
        self.labels = labels_for_task(task_size(num_classes, keywords), keywords)
        self.num_classes = len(self.labels)
        self.keywords = tuple(keywords)  # () for the tasks of the ten commands
        self.layout = detect_layout(self.root)
        if protocol == "auto":
            protocol = "archive" if self.layout == "test-archive" else "reference"
        elif self.layout == "test-archive":
            protocol = "archive"  # the archive's silence/unknown are fixed by Google
        self.protocol = protocol
        # only the standard protocol draws items: other protocols' splits (and cache entries)
        # are the same for every seed
        self.seed = seed if protocol == "standard" else 0
        self.noise_files = sorted(str(p) for p in (self.root / NOISE_DIR).glob("*.wav"))
        self._files = _scan(self.root)
        if not self._files:
            raise BifsmnError("no */*.wav clips found: not a Speech Commands folder", self.root)
        self._check_word_case()
        self._split_files = self._make_splits()
        self._cache: dict[str, list[Item]] = {}
        self._note_archive_folders()

    def _note_archive_folders(self) -> None:
        """Say once that a task without a silence class (35 words) skips the test archive's
        ``_silence_/`` clips (its ``_unknown_/`` clips keep their words, named in the file
        names): its accuracy counts fewer clips than the archive holds, which a user comparing
        with 12-class numbers must know."""
        if self.layout != "test-archive" or SILENCE in self.labels:
            return
        skipped = [rel for rel in self._files if self._label(parse_name(rel)[0]) is None]
        if skipped:
            folders = sorted({rel.split("/", 1)[0] for rel in skipped})
            log.warning("%s: the %d-class task has no class for the archive's %d clips in %s: "
                        "they are skipped", self.root, self.num_classes, len(skipped),
                        ", ".join(f"{f}/" for f in folders))

    def _check_word_case(self) -> None:
        """Refuse a word folder that differs from a class word only in case (``Yes/`` for
        ``yes``): word folders are case-sensitive, so its clips would silently become
        ``_unknown_`` and the class would have none."""
        classes = [w for w in self.labels if w not in (UNKNOWN, SILENCE)]
        words = {w.lower(): w for w in classes}
        folders = {rel.split("/", 1)[0] for rel in self._files}
        for folder in sorted(folders - set(classes)):  # a class's own folder is fine
            word = words.get(folder.lower())
            if word is not None:
                fix = (f"move its clips into {word}/" if word in folders
                       else f"rename it {word}/")
                raise BifsmnError(f"word folder {folder!r} differs from the class {word!r} only "
                                  f"in case: its clips would count as {UNKNOWN} ({fix})",
                                  self.root)

    # ------------------------------------------------------------------ splits
    def _list(self, name: str) -> list[str] | None:
        p = self.root / name
        if not p.is_file():
            return None
        entries = read_list(p)
        present = set(self._files)
        seen: set[str] = set()
        for rel in entries:
            if rel not in present:
                if (self.root / rel).is_file():  # there, but not a clip the scan takes
                    raise BifsmnError(f"lists {rel!r}, which is not a clip of a word folder "
                                      "(clips are WORD/NAME.wav, lower-case .wav)", p)
                raise BifsmnError(f"lists {rel!r}, which does not exist under {self.root}", p)
            if rel in seen:  # it would count twice in its split's accuracy
                raise BifsmnError(f"lists {rel!r} twice", p)
            seen.add(rel)
        return entries

    def _make_splits(self) -> dict[str, list[str]]:
        train, val, test = (self._list(f"{s}_list.txt")
                            for s in ("training", "validation", "testing"))
        splits: dict[str, list[str]] = {"all": list(self._files)}
        lists = {"training": train or [], "validation": val or [], "testing": test or []}
        for a, b in (("validation", "testing"), ("training", "validation"),
                     ("training", "testing")):
            both = sorted(set(lists[a]) & set(lists[b]))
            if both:  # a clip scored on the split it was trained or selected on
                raise BifsmnError(f"{a}_list.txt and {b}_list.txt both list {both[0]!r}"
                                  f"{f' (and {len(both) - 1} more)' if len(both) > 1 else ''}: "
                                  "the splits must not share clips", self.root)
        held = set(val or []) | set(test or [])
        splits["validation"] = val or []
        splits["testing"] = test or []
        if train is not None:
            splits["training"] = train
        elif self.layout == "full":
            splits["training"] = [f for f in self._files if f not in held]
        else:
            splits["training"] = []
        if self.layout == "test-archive" and not (val or test or train):
            splits["testing"] = list(self._files)  # the archive *is* a test set
        return splits

    def default_eval_split(self) -> str:
        """``all`` on a bare test archive (no lists), else ``validation``."""
        if self.layout == "test-archive" and not self._split_files["validation"]:
            return "all"
        return "validation"

    # ------------------------------------------------------------------ items
    def _label(self, word: str) -> int | None:
        return label_of_word(self.labels, word)

    def items(self, split: str) -> list[Item]:
        """The examples of ``split`` (one of ``training|validation|testing|all``)."""
        if split not in SPLITS:
            raise BifsmnError(f"unknown split {split!r} (choose from {', '.join(SPLITS)})")
        if split not in self._cache:
            self._cache[split] = self._build(split)
        return self._cache[split]

    __getitem__ = items

    def _build(self, split: str) -> list[Item]:
        rng = random.Random(f"{self.seed}:{split}")
        keywords = keywords_of(self.labels)  # standard protocol: the others are subsampled
        keep: list[Item] = []
        unknown: list[Item] = []
        for rel in self._split_files[split]:
            word, speaker = parse_name(rel)
            label = self._label(word)
            if label is None:
                continue
            item = Item(str(self.root / rel), word, speaker, label)
            if UNKNOWN in self.labels and self.protocol == "standard" and word not in keywords:
                unknown.append(item)
            else:
                keep.append(item)
        if UNKNOWN not in self.labels or self.protocol == "archive":
            return keep
        silence = self.labels.index(SILENCE)
        if self.protocol == "reference":
            n = int(0.1 * len(keep))
            return keep + [Item(None, SILENCE, None, silence) for _ in range(n)]
        # standard: 10 % unknown (sampled) and 10 % background-noise silence windows
        n = max(1, round(0.1 * len(keep)))
        rng.shuffle(unknown)
        items = keep + unknown[:n]
        if not self.noise_files:
            raise BifsmnError(f"protocol 'standard' needs {NOISE_DIR}/ noise files", self.root)
        # starts index the recording as decoded for the windows: resampled to 16 kHz
        lengths = {f: _length_at_16k(f) for f in self.noise_files}
        for _ in range(n):
            f = rng.choice(self.noise_files)
            start = rng.randrange(max(1, lengths[f] - CLIP_SAMPLES))
            items.append(Item(None, SILENCE, None, silence, (f, start)))
        return items

    def tuples(self, split: str) -> list[tuple[str | None, int, str, str | None]]:
        """torchaudio-style plain tuples ``(path, label, word, speaker)``."""
        return [(it.path, it.label, it.word, it.speaker) for it in self.items(split)]
