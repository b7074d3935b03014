"""Checkpoint files: written atomically, read without executing code.

A checkpoint is a plain dict of tensors and primitives, so it loads with
``torch.load(weights_only=True)``: opening a model file never runs code from it. It carries what
is needed to rebuild and use the model on its own: registered model name and kwargs, binarization
method, label names and the feature configuration.
"""

from __future__ import annotations

import copy
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bifsmn import outputs as _outputs
from bifsmn.binary.convert import apply_binary
from bifsmn.data.labels import labels_for_task
from bifsmn.errors import BifsmnError
from bifsmn.models import create_model
from bifsmn.signatures import file_kind, special_kind
from bifsmn.train.config import run_best

FORMAT = "bifsmn-checkpoint"
VERSION = 1


def atomic_write_text(path: Path, text: str) -> None:
    """Write text via temp file + rename: readers see the old or the new file, never half.
    The path is checked first (:func:`bifsmn.outputs.check_output`)."""
    _outputs.atomic_write_text(path, text)


def atomic_write_bytes(path: Path, data: bytes, inputs=()) -> None:
    _outputs.atomic_write_bytes(path, data, inputs)


def on_cpu(obj: Any) -> Any:
    """``obj`` with every tensor in its dicts, lists and tuples moved to the CPU (others as
    they are). Why: ``torch.save`` records each tensor's device, so a run trained on a GPU
    wrote CUDA tensors that a plain ``torch.load(path, weights_only=True)`` refuses on a
    machine without one; resuming on a GPU moves them back (``load_state_dict`` copies into
    the model's tensors, optimizers cast their state to the parameters' device)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):  # an OrderedDict state_dict stays one, with its _metadata
        out = copy.copy(obj)  # its own type (a defaultdict keeps its factory), then the values
        for k, v in obj.items():
            out[k] = on_cpu(v)
        return out
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a named tuple
        return type(obj)(*(on_cpu(v) for v in obj))
    if isinstance(obj, list | tuple):
        return type(obj)(on_cpu(v) for v in obj)
    return obj


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Save ``payload`` (must already hold ``model``/``state_dict``) atomically, every tensor
    on the CPU (:func:`on_cpu`)."""
    payload = on_cpu({"format": FORMAT, "version": VERSION, **payload})
    _outputs.atomic_write(path, lambda f: torch.save(payload, f))


def _check_crcs(path: Path) -> None:
    """Refuse an archive whose members fail their CRC-32. Why: ``torch.load`` does not
    check them, so a byte flipped inside a tensor (a damaged copy or download) would load as
    silently different weights; the check reads the file once (milliseconds for a model).
    A file that is not a readable zip is left to ``torch.load``'s own error."""
    bad = None
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.CRC == 0:  # saved without CRCs (torch.serialization.set_crc32_options)
                    continue
                try:
                    with archive.open(info) as member:  # checks the CRC as it reaches the end
                        while member.read(1 << 20):
                            pass
                except zipfile.BadZipFile as exc:
                    if "CRC" not in str(exc):
                        raise
                    bad = info.filename
                    break
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError):
        return  # truncated or not a zip: torch.load's error below says so
    if bad is not None:
        raise BifsmnError(f"corrupt checkpoint: {bad} fails its CRC check (the file was "
                          "damaged after it was written; use another copy)", path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and sanity-check a checkpoint; any damage is a one-line :class:`BifsmnError`.

    A training run folder stands for its ``best.pt``, so the folder that ``bifsmn train``
    printed can be handed straight to eval, export or detection."""
    path = Path(path)
    if path.is_dir():  # a run folder: its best epoch, the file eval/export/detect want
        best = run_best(path)
        if best is None:
            hint = (" yet (no epoch has met train.best_rule): pass last.pt for the last epoch"
                    if (path / "last.pt").is_file() else " (not a training run folder)")
            raise BifsmnError(f"folder holds no best.pt{hint}", path)
        path = best
    special = special_kind(path)
    if special is not None:
        raise BifsmnError(f"this is {special}, not a checkpoint (.pt)", path)
    if not path.is_file():
        raise BifsmnError("checkpoint not found", path)
    kind = file_kind(path)  # an empty file goes on to torch.load: "truncated or corrupt"
    if kind == "bkws":
        raise BifsmnError("this is a .bkws engine file, not a checkpoint: pass the .pt it was "
                          "exported from (bifsmn eval, detect, calibrate and eval-stream run .bkws "
                          "files)", path)
    if kind == "audio":
        raise BifsmnError("this is an audio file, not a checkpoint (.pt)", path)
    if kind == "other":
        raise BifsmnError("not a bifsmn checkpoint (not a PyTorch zip archive)", path)
    _check_crcs(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" in str(exc).lower():  # PyTorch's refusal paragraph
            found = re.search(r"unsupported GLOBAL (\S+)", str(exc))
            what = f" ({found.group(1)})" if found else ""
            raise BifsmnError(f"checkpoint holds Python objects{what} that bifsmn refuses to "
                              "load (only tensors and plain values are read, so a model file "
                              "can never run code); not a bifsmn checkpoint", path) from None
        raise BifsmnError(f"not a readable checkpoint (truncated or corrupt: "
                          f"{_first_line(exc)})", path) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, IndexError,
            KeyError, TypeError) as exc:  # what a damaged archive's pickle stream can raise
        first = _first_line(exc)
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:120] if text else type(exc).__name__


def _checked_spec(path: str | Path, ckpt: dict) -> tuple[str, dict]:
    """The model spec of a checkpoint, refused (one line) if malformed or if the model it
    describes is larger than the weights the file holds: a crafted ``num_classes=10**7`` is
    caught on PyTorch's meta device, before anything is allocated."""
    spec, state = ckpt["model"], ckpt["state_dict"]
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise BifsmnError("checkpoint's model spec has no model name string (crafted or "
                          "corrupt file)", path)
    kwargs = spec.get("kwargs", {})
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise BifsmnError("checkpoint's model kwargs are not a mapping of names", path)
    if not isinstance(state, dict):
        raise BifsmnError("checkpoint's state_dict is not a mapping", path)
    stored = sum(v.numel() for v in state.values() if isinstance(v, torch.Tensor))
    try:
        with torch.device("meta"):
            probe = create_model(spec["name"], **kwargs)
    except BifsmnError as exc:
        raise BifsmnError(str(exc), path) from None
    except (TypeError, ValueError, RuntimeError, OverflowError, AttributeError) as exc:
        raise BifsmnError(f"model {spec['name']!r} with kwargs {kwargs} cannot be built "
                          f"({_first_line(exc)})", path) from None
    need = sum(p.numel() for p in probe.parameters())
    if need > stored:
        raise BifsmnError(f"checkpoint describes a model of {need:,} parameters but holds "
                          f"{stored:,} weight values (crafted or corrupt file)", path)
    return spec["name"], kwargs


def checkpoint_labels(ckpt: dict) -> list[str]:
    """The classes a checkpoint answers with: the labels it stores, else those of its task
    (``model.kwargs.num_classes``; checkpoints written before labels were stored)."""
    labels = ckpt.get("labels")
    if not labels:
        labels = labels_for_task(ckpt["model"]["kwargs"].get("num_classes", 12))
    return list(labels)


def model_from_checkpoint(path: str | Path, ckpt: dict | None = None) -> tuple[nn.Module, dict]:
    """Rebuild the model a checkpoint describes, load its weights, return (model, ckpt)."""
    ckpt = ckpt or load_checkpoint(path)
    name, kwargs = _checked_spec(path, ckpt)
    spec = ckpt["model"]
    model = create_model(name, **kwargs)
    binary = ckpt.get("binary") or {"method": "none"}
    apply_binary(model, binary)
    state = ckpt["state_dict"]
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:  # say which: torch's first line names none
        parts = [f"{what} {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                 for what, keys in (("missing", missing), ("unexpected", unexpected)) if keys]
        raise BifsmnError(f"weights do not fit model {spec['name']!r}: {'; '.join(parts)}",
                          path)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        detail = next((ln.strip() for ln in str(exc).splitlines()[1:] if ln.strip()),
                      str(exc).splitlines()[0])  # e.g. a shape mismatch, naming the tensor
        raise BifsmnError(f"weights do not fit model {spec['name']!r}: {detail[:200]}",
                          path) from None
    model.eval()
    return model, ckpt
