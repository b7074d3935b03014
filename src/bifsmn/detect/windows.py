"""The audio behind every detector event, saved: ``bifsmn detect FILE... --save-windows DIR``.

Why: hard-negative mining, which users of keyword spotters ask for (openWakeWord, Porcupine
threads on false activations). Run the detector over recordings that hold none of its keywords
(meetings, radio, the room the device will live in) at a looser operating point
(``--fa-per-hour 5`` or ``--threshold 0.5``): every event is then a false activation, and the
1-s windows that raised them are the examples a model most needs to learn as "not a keyword".
Train with the folder as negative speech (``data.negatives=[DIR]``: read like any audio folder,
:class:`bifsmn.data.archive.AudioSource`), then calibrate again. On keyword audio the same option
saves what the detector heard, for listening.

Each saved clip is exactly the window the model scored (16 kHz mono; the zero padding before a
stream's first second and the trailing zeros of the final flush included), written as PCM-16 WAV
atomically. ``windows.csv`` lists clip, source, start, end (seconds of the source), label and
score; it is rewritten after every input file, merged with the rows already in it, so an
interrupted run keeps what it saved and a second run over other files adds to the folder.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from pathlib import Path

import numpy as np
import soundfile as sf

from bifsmn.errors import BifsmnError
from bifsmn.outputs import atomic_write, atomic_write_text, folder_lock, make_folder

MANIFEST = "windows.csv"
FIELDS = ("clip", "source", "start", "end", "label", "score")


class WindowSaver:
    """Keeps the last ``keep_seconds`` of a stream's audio and writes event windows from it.

    ``feed`` every block the detector processes (before or after it; the events of a block come
    from audio already fed), ``save`` each event, ``write_manifest`` when a file is done.
    ``keep_seconds`` must exceed the detector's read block plus one window: an event is reported
    at the latest when the block holding its window's end has been processed.
    """

    def __init__(self, out: str | Path, sample_rate: int, window: int,
                 keep_seconds: float = 30.0) -> None:
        self.out = Path(out)
        # now, not at the first event: a folder that cannot be made fails before any audio
        make_folder(self.out, "folder for --save-windows")
        if (self.out / MANIFEST).exists() and not (self.out / MANIFEST).is_file():
            raise BifsmnError(f"{MANIFEST} there is not a file", self.out / MANIFEST)
        self.sample_rate, self.window = int(sample_rate), int(window)
        self.keep = max(int(keep_seconds * sample_rate), 2 * self.window)
        self._read_manifest()  # a foreign or unreadable list is refused before any audio
        #: the rows of the clips this saver wrote (merged into the list on disk when written)
        self.rows: dict[str, dict[str, str]] = {}
        #: events whose window is a clip this saver already wrote (same end, same label: a
        #: file shorter than one window flushes several windows that end where it ends)
        self.shared = 0
        self._written: set[str] = set()
        self.start("")

    def _read_manifest(self) -> dict[str, dict[str, str]]:
        path = self.out / MANIFEST
        if not path.is_file():
            return {}
        try:
            with path.open(newline="") as f:
                reader = csv.DictReader(f)
                rows = list(reader)
                columns = reader.fieldnames  # None for an empty file
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise BifsmnError(f"cannot read the saved-windows list ({exc})", path) from None
        if columns is not None and set(FIELDS) - set(columns):  # a header alone counts too
            raise BifsmnError(f"not a saved-windows list (columns {', '.join(FIELDS)} "
                              "expected)", path)
        return {r["clip"]: {k: r[k] for k in FIELDS} for r in rows}

    def start(self, source: str | Path) -> None:
        """A new stream (one input file): the kept audio is cleared."""
        self.source = str(source)
        self._buf = np.zeros(0, np.float32)
        self._offset = 0  # stream sample index of _buf[0]
        self._total = 0  # samples fed so far
        digest = hashlib.sha256(os.fsencode(Path(self.source).resolve())).hexdigest()[:8]
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(self.source).stem)[:60] or "audio"
        self._prefix = f"{stem}-{digest}"

    def feed(self, block: np.ndarray) -> None:
        block = np.asarray(block, np.float32).reshape(-1)
        self._buf = np.concatenate([self._buf, block])
        self._total += block.size
        drop = self._buf.size - self.keep
        if drop > 0:
            self._buf = self._buf[drop:]
            self._offset += drop

    def window_of(self, start_s: float, end_s: float) -> tuple[int, np.ndarray]:
        """(end sample, samples) of the window behind an event spanning ``start_s``-``end_s``
        (:class:`~bifsmn.detect.detector.Event` times: the start is clamped at 0 for windows
        reaching into the leading padding, the end at the audio's end for flushed windows).
        Exact except for a file shorter than one window whose event came from the final flush:
        its clip holds the whole file, ending where the file ends, where the model saw it
        followed by more zeros."""
        sr = self.sample_rate
        end = round(end_s * sr) if start_s <= 0.0 else round(start_s * sr) + self.window
        begin = end - self.window
        lo, hi = max(begin, 0), min(end, self._total)
        if lo < hi and lo < self._offset:
            raise BifsmnError(f"window at {start_s:.2f} s is no longer in memory (internal: "
                              "keep_seconds too small for the read block)", self.source)
        clip = np.zeros(self.window, np.float32)
        if lo < hi:
            clip[lo - begin:hi - begin] = self._buf[lo - self._offset:hi - self._offset]
        return end, clip

    def save(self, label: str, start_s: float, end_s: float, score: float) -> Path:
        """Write one event's window; returns the clip's path."""
        end, clip = self.window_of(start_s, end_s)
        name = f"{self._prefix}_{round(1000 * end / self.sample_rate):09d}ms_{label}.wav"
        if name in self._written:  # the same samples: one file, counted once
            self.shared += 1
            return self.out / name
        pcm = np.clip(clip, -1.0, 32767 / 32768)

        def write(f) -> None:
            buf = io.BytesIO()
            sf.write(buf, pcm, self.sample_rate, subtype="PCM_16", format="WAV")
            f.write(buf.getvalue())

        path = atomic_write(self.out / name, write)
        # the list is UTF-8 text: a name that is not UTF-8 is written with \\xNN escapes
        source = os.fsencode(self.source).decode("utf-8", "backslashreplace")
        self.rows[name] = {"clip": name, "source": source, "start": f"{start_s:.3f}",
                           "end": f"{end_s:.3f}", "label": label, "score": f"{score:.6f}"}
        self._written.add(name)
        return path

    @property
    def saved(self) -> int:
        """Files this saver wrote (what the user finds on disk)."""
        return len(self._written)

    def write_manifest(self) -> Path:
        """Rewrite ``windows.csv``: the rows on disk now, with this saver's rows merged in. Read
        and written under the folder's lock: another ``--save-windows`` run into the same folder
        may have added rows since this one started, and a list read once at the start would
        drop them."""
        with folder_lock(self.out):
            rows = {**self._read_manifest(), **self.rows}
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
            w.writeheader()
            w.writerows(rows[k] for k in sorted(rows))
            return atomic_write_text(self.out / MANIFEST, buf.getvalue())
