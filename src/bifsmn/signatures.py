"""The first bytes of the files bifsmn reads, and what kind of file a path holds by them.

Why here, in the lowest layer: the checkpoint loader (below the engine), the ``.bkws`` format
(the engine) and the detector's model loader all need to tell a ``.pt`` checkpoint, a ``.bkws``
engine file and an audio file apart before parsing, so that a file passed to the wrong command
gets a one-line error saying what it is instead of a failure deep in a parser.
"""

from __future__ import annotations

from pathlib import Path

from bifsmn.outputs import mode_kind

#: ``.bkws`` magic: text-mode transfers mangle ``\r\n`` or stop at ``\x1a``, so they are caught
#: at once
BKWS_MAGIC = b"BKWS\r\n\x1a\n"
#: torch.save's zip container (every ``.pt`` checkpoint bifsmn writes)
ZIP_MAGIC = b"PK\x03\x04"
#: WAV, FLAC, Ogg, AIFF, MP3 (tagged or not)
AUDIO_MAGICS = (b"RIFF", b"fLaC", b"OggS", b"FORM", b"ID3", b"\xff\xfb")


def file_kind(path: Path) -> str:
    """``bkws`` | ``torch`` | ``audio`` | ``empty`` | ``other`` from the first bytes of an
    existing file (callers say what a missing one was meant to be)."""
    with path.open("rb") as f:
        head = f.read(16)
    if not head:
        return "empty"
    if head.startswith(BKWS_MAGIC):
        return "bkws"
    if head.startswith(ZIP_MAGIC):
        return "torch"
    if head.startswith(AUDIO_MAGICS):
        return "audio"
    return "other"


def special_kind(path: Path) -> str | None:
    """What ``path`` is when it exists but is not a regular file (``"a directory"``, ``"a
    character device"``, ``"a FIFO (named pipe)"``, ...; :func:`bifsmn.outputs.mode_kind`), else
    None: so a loader can say "is a FIFO, not a checkpoint" instead of "not found"
    (``Path.is_file`` is False for both), and never blocks opening a FIFO no one writes to."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):  # missing, dangling link, name too long, NUL in the name
        return None
    return mode_kind(mode)


_KIND_TEXT = {"bkws": "a .bkws model", "torch": "a PyTorch checkpoint", "audio": "audio",
              "other": "data of another kind"}
_SUFFIX = {"bkws": (".bkws",), "torch": (".pt", ".pth"), "onnx": (".onnx",)}
_WANT_TEXT = {"bkws": "a .bkws file", "torch": "a PyTorch checkpoint", "onnx": "an ONNX model"}


def check_replaceable(out_path: Path, want: str) -> None:
    """Refuse (one line) to replace an existing file that is not of kind ``want`` (``bkws``,
    ``torch`` or ``onnx``; ONNX has no magic: other bytes under ``.onnx`` count as one): writing
    a model over the model of a routine re-export or re-calibration is expected, but a
    recording or a checkpoint given as the output by mistake (``-o take1.wav``) would be lost
    for good. An empty file, or unreadable leftovers under the model's own suffix (an
    interrupted copy), may be replaced."""
    from bifsmn.errors import BifsmnError

    if not out_path.is_file():
        return
    kind = file_kind(out_path)
    if kind in (want, "empty") or (kind == "other" and out_path.suffix in _SUFFIX[want]):
        return
    raise BifsmnError(f"exists and holds {_KIND_TEXT[kind]}, not {_WANT_TEXT[want]}: refusing to "
                      "replace it (delete it first or choose another path)", out_path)
