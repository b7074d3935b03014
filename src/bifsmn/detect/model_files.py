"""What kind of model file a path holds, from its first bytes, and where the packaged model
files are (no heavy imports).

Shared by the scorers (which backend runs it) and the operating-point reader/writer (where in
the file the points live), so a misnamed file gets the same clear error from both.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from bifsmn.errors import BifsmnError
from bifsmn.signatures import file_kind, special_kind


def sniff(path: Path) -> str:
    """``bkws`` | ``torch`` from the file's first bytes, so a misnamed file gets a clear error
    instead of a deep unpickling or parsing failure."""
    if path.is_dir():  # calibrate writes points into the file: name the file itself
        raise BifsmnError("this is a folder, not a model file (pass a run's best.pt or a "
                          ".bkws engine file)", path)
    special = special_kind(path)
    if special is not None:
        raise BifsmnError(f"this is {special}, not a model file (expected a .pt checkpoint or "
                          "a .bkws engine file)", path)
    if not path.is_file():
        raise BifsmnError("model file not found", path)
    kind = file_kind(path)
    if kind == "empty":
        raise BifsmnError("model file is empty", path)
    if kind in ("bkws", "torch"):
        return kind
    if kind == "audio":
        raise BifsmnError("this is an audio file, not a model (expected a .pt checkpoint or a "
                          ".bkws engine file)", path)
    raise BifsmnError("not a model file (expected a .pt checkpoint or a .bkws engine file)",
                      path)


def packaged(parts: tuple[str, ...], what: str, hint: str) -> Path:
    """A file shipped inside the package (``bifsmn/<parts>``), or a one-line error naming it
    and what to pass instead (``hint``) if this installation has none."""
    res = resources.files("bifsmn")
    for part in parts:
        res = res / part
    if not res.is_file():
        raise BifsmnError(f"no bundled {what} is installed (bifsmn/{'/'.join(parts)}); {hint}")
    return Path(str(res))
