"""Checkpoint files: written atomically, read without executing code.

A checkpoint is a plain dict of tensors and primitives, so it loads with
``torch.load(weights_only=True)``: opening a model file never runs code from it. It carries what
is needed to rebuild and use the model on its own: registered model name and kwargs, binarization
method, label names and the feature configuration.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bifsmn.errors import BifsmnError

FORMAT = "bifsmn-checkpoint"
VERSION = 1


def _atomic(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; published files must be readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write text via temp file + rename: readers see the old or the new file, never half."""
    _atomic(Path(path), lambda f: f.write(text.encode()))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    _atomic(Path(path), lambda f: f.write(data))


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Save ``payload`` (must already hold ``model``/``state_dict``) atomically."""
    payload = {"format": FORMAT, "version": VERSION, **payload}
    _atomic(Path(path), lambda f: torch.save(payload, f))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and sanity-check a checkpoint; any damage is a one-line :class:`BifsmnError`."""
    path = Path(path)
    if not path.is_file():
        raise BifsmnError("checkpoint not found", path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError,
            OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BifsmnError(f"not a readable checkpoint (truncated or corrupt: {first[:120]})",
                          path) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise BifsmnError("not a bifsmn checkpoint (missing format tag)", path)
    if ckpt.get("version") != VERSION:
        raise BifsmnError(f"checkpoint version {ckpt.get('version')} not supported "
                          f"(this bifsmn reads version {VERSION})", path)
    for key in ("model", "state_dict"):
        if key not in ckpt:
            raise BifsmnError(f"checkpoint lacks '{key}'", path)
    return ckpt


def model_from_checkpoint(path: str | Path, ckpt: dict | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the model a checkpoint describes, load its weights, return (model, ckpt)."""
    from bifsmn.binary.convert import apply_binary
    from bifsmn.models import create_model

    ckpt = ckpt or load_checkpoint(path)
    spec = ckpt["model"]
    model = create_model(spec["name"], **spec.get("kwargs", {}))
    binary = ckpt.get("binary") or {"method": "none"}
    apply_binary(model, binary)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise BifsmnError(f"weights do not fit model {spec['name']!r}: "
                          f"{str(exc).splitlines()[0][:160]}", path) from None
    model.eval()
    return model, ckpt
