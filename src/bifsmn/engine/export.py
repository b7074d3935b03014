"""Checkpoint -> ``.bkws``: a folded model (:mod:`bifsmn.deploy`), packed and checksummed.

Folding (BatchNorm into scales and biases, weights into sign bits, docs/binary-arithmetic.md)
is the deployment step, :func:`bifsmn.deploy.fold`; this module only adds what the file needs
besides the network (labels, metadata, the front end's settings), checks every stored value is
finite, and writes the records (docs/bkws-format.md). The file therefore holds exactly the
constants that :func:`bifsmn.deploy.deploy` computes with.

Folding is exact in real arithmetic; in float32 the folded products round differently from
PyTorch's unfolded ones (relative 1e-7), which is why the deployed arithmetic, not the training
graph, is the reference the engine matches bit for bit. The classifier is stored as float32 by
default (``classifier_dtype="f16"`` halves it, see docs/bkws-format.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal, cast

import numpy as np
from torch import nn

from bifsmn import blocks as blocks_mod
from bifsmn.data.frontends import feature_config_from_dict, feature_kind
from bifsmn.deploy import fold
from bifsmn.deploy.spec import FLOAT_DTYPES, DeploySpec
from bifsmn.engine.format import FEATURE_FIELDS, QSCALE, Record, encode, make_record
from bifsmn.errors import BifsmnError, naming
from bifsmn.outputs import atomic_write_bytes, check_output
from bifsmn.signatures import check_replaceable
from bifsmn.train.checkpoint import model_from_checkpoint

BlocksArg = Literal["all", 8, 4, 2, 1] | str | int

#: ``bifsmn export --compact``: the narrowest storage that kept every path's validation accuracy
#: within 0.2 points of the float32 file on both committed bifsmnv2 models (docs/bkws-format.md,
#: "Precision choices"): 24-bit per-channel constants, per-row int8 classifier
COMPACT = {"param_dtype": "f24", "classifier_dtype": "i8"}


def parse_blocks(blocks: BlocksArg, num_layers: int, num_paths: int) -> list[int]:
    """Block counts to include, most blocks first: ``"all"`` (every path the model has), one
    block count, or several as ``"8,2"`` / a list (e.g. a student trained on paths 8 and 2
    only, whose other paths' BatchNorm was never trained). :class:`~bifsmn.errors.MissingPath`
    if the model lacks one."""
    if str(blocks) == "all":
        return blocks_mod.counts(num_layers, num_paths)
    items = blocks if isinstance(blocks, list | tuple) else str(blocks).split(",")
    counts = blocks_mod.parse_many([str(item).strip() for item in items], num_layers)
    for count in counts:
        blocks_mod.require(count, num_layers, num_paths)
    return sorted(counts, reverse=True)


def _labels(ckpt: dict, num_classes: int) -> list[str]:
    labels = [str(x) for x in ckpt.get("labels") or range(num_classes)]
    if len(labels) != num_classes or any(not x or "\n" in x for x in labels):
        raise BifsmnError(f"checkpoint labels do not fit {num_classes} classes")
    return labels


def spec_records(spec: DeploySpec, ckpt: dict, source: str = "",
                 with_features: bool = True) -> list[Record]:
    """All records of a ``.bkws`` file: the spec's network plus the checkpoint's labels,
    metadata and (``with_features``) front end, which must fit the network's input size.

    The ``paths`` record holds block counts (format version 3)."""
    arch = spec.arch
    feats = feature_config_from_dict(ckpt.get("features"))
    feat_kind = feature_kind(feats)
    if with_features and feats.n_mels != arch.n_mels:
        raise BifsmnError(f"feature config ({feat_kind}) has {feats.n_mels} mel bands, model "
                          f"expects {arch.n_mels}")
    if with_features and feats.num_frames != arch.frames:
        raise BifsmnError(f"feature config ({feat_kind}) gives {feats.num_frames} frames, model "
                          f"expects {arch.frames}")
    labels = _labels(ckpt, arch.classes)
    info = {"source": source, "model": ckpt["model"], "binary": spec.binary,
            "epoch": ckpt.get("epoch"), "classifier_dtype": spec.classifier_dtype,
            "param_dtype": spec.param_dtype, "blocks": list(spec.blocks)}
    if isinstance(ckpt.get("data"), dict):  # the split rule (protocol, seed) eval follows
        info["data"] = ckpt["data"]
    for key in ("operating_points", "cascade_operating_points"):  # bifsmn calibrate
        if ckpt.get(key):  # read by bifsmn.detect (its own points; those with a verifier)
            info[key] = ckpt[key]
    recs = [make_record("meta.kind", spec.kind), make_record("meta.method", spec.method),
            make_record("meta.labels", "\n".join(labels)),
            make_record("meta.json", json.dumps(info, sort_keys=True, default=str)),
            make_record("arch", np.array(arch.as_list()), "i32"),
            make_record("paths", np.array(spec.blocks), "i32")]
    # the front end: its kind, then its settings (format.FEATURE_FIELDS, docs/bkws-format.md)
    if with_features:
        ints, floats = FEATURE_FIELDS[feat_kind]
        recs.append(make_record("feat.kind", feat_kind))
        recs.append(make_record("feat.i", np.array([getattr(feats, k) for k in ints]), "i32"))
        recs.append(make_record("feat.f", np.array([getattr(feats, k) for k in floats],
                                                   np.float64), "f64"))
    for name, const in spec.constants.items():
        if const.dtype in FLOAT_DTYPES and not np.isfinite(const.widened()).all():
            raise BifsmnError(f"record {name}: non-finite values (diverged model?)")
        recs.append(make_record(name, const.value, const.dtype))
        if const.dtype == "i8":  # the per-row scales travel in their own f32 record
            recs.append(make_record(name + QSCALE, cast(np.ndarray, const.scale), "f32"))
    return recs


def build_records(model: nn.Module, ckpt: dict, blocks: BlocksArg = "all",
                  classifier_dtype: str | None = None, source: str = "",
                  with_features: bool = True, param_dtype: str = "f32",
                  storage: str | None = None) -> list[Record]:
    """All records of a ``.bkws`` file for a model and its checkpoint dict: :func:`fold`
    then :func:`spec_records`. ``param_dtype`` ``"f24"``/``"f16"`` (binary models only)
    stores the per-channel constants in 24 / 16 bits, ``classifier_dtype`` ``"i8"`` the
    classifier as per-row int8; ``bifsmn.deploy.deploy(model, param_dtype=,
    classifier_dtype=)`` computes with the same widened values, so engine and reference stay
    bit-identical. ``storage`` is a storage plan instead of the two dtypes
    (:mod:`bifsmn.deploy.plans`)."""
    num_layers = getattr(model, "num_layers", blocks_mod.DEFAULT_LAYERS)
    counts = parse_blocks(blocks, num_layers, getattr(model, "num_paths", 1))
    spec = fold(model, ckpt.get("binary") or {"method": "none"}, ckpt["model"]["name"], counts,
                classifier_dtype or "f32", param_dtype, storage)
    return spec_records(spec, ckpt, source, with_features)


def _atomic_write(path: Path, data: bytes, inputs: tuple[Path, ...] = ()) -> Path:
    """Atomic write after the output-path checks of :mod:`bifsmn.outputs` (never onto the
    checkpoint itself, a directory, a device, a FIFO or a socket)."""
    return atomic_write_bytes(path, data, inputs)


def _check_replaceable(out_path: Path) -> None:
    """Re-exporting over an older ``.bkws`` is routine; a recording or a checkpoint given as
    ``-o`` by mistake is refused (:func:`bifsmn.signatures.check_replaceable`)."""
    check_replaceable(out_path, "bkws")


#: output names refused by :func:`export_checkpoint`: they announce a PyTorch checkpoint
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")


def check_export_output(checkpoint: str | Path, out_path: str | Path) -> Path:
    """``out_path`` as a Path, or a one-line :class:`BifsmnError` if :func:`export_checkpoint`
    would refuse to write it there: called before the (slow) build, and by callers that do
    slow work before they export (``bifsmn export --max-drop``); the write checks again."""
    if str(out_path).endswith(("/", "\\")):  # Path() would drop it and write a file
        raise BifsmnError("output path ends in a separator: give a file name "
                          "(e.g. DIR/model.bkws)", out_path)
    out_path = Path(out_path)
    check_output(out_path, (Path(checkpoint),))
    _check_replaceable(out_path)
    if out_path.suffix.lower() == ".onnx":  # the CLI picks the format by this suffix
        raise BifsmnError("export_checkpoint writes .bkws engine files; for ONNX call "
                          "bifsmn.export_onnx (or `bifsmn export CKPT -o model.onnx`)", out_path)
    if out_path.suffix.lower() in CHECKPOINT_SUFFIXES:
        # the engine reads the file by its bytes, but people and other tools read the name
        raise BifsmnError(f"the output is a .bkws engine file, not a {out_path.suffix} "
                          "checkpoint: name it .bkws", out_path)
    return out_path


def export_checkpoint(checkpoint: str | Path, out_path: str | Path, blocks: BlocksArg = "all",
                      classifier_dtype: str | None = None, param_dtype: str = "f32",
                      storage: str | None = None) -> Path:
    """Write a self-contained ``.bkws`` for ``checkpoint`` (atomically) and return its path.

    ``blocks``: ``"all"`` keeps every thinnable path the model has (one file serves 8/4/2/1
    blocks); a block count keeps only that path and only the blocks it runs, which makes a
    smaller file; several (``"8,2"`` or ``[8, 2]``) keep those paths. ``classifier_dtype``:
    ``"f32"`` (default: the engine's logits then equal the
    deployed reference's, :func:`bifsmn.deploy.deploy`), ``"f16"`` (24 KiB smaller for 12
    classes; logits move by ~1e-3, which can reorder near-tied classes) or ``"i8"`` (binary
    models; per-row int8, 37 KB smaller). ``param_dtype`` (binary models): ``"f32"``
    (default), ``"f24"`` or ``"f16"``, see :func:`build_records`; :data:`COMPACT` is the
    measured compact choice. The PyTorch reference of such a file is
    ``bifsmn.deploy.deploy(model, param_dtype=, classifier_dtype=)``. ``storage``: a storage
    plan instead (``"small"``: the smallest measured, :mod:`bifsmn.deploy.plans`); reference
    ``deploy(model, storage=)``.
    """
    checkpoint, out_path = Path(checkpoint), check_export_output(checkpoint, out_path)
    model, ckpt = model_from_checkpoint(checkpoint)
    if classifier_dtype is not None:
        classifier_dtype = re.sub(r"^float", "f", classifier_dtype)
    try:  # the build's errors come from the checkpoint's contents: name it
        records = build_records(model, ckpt, blocks, classifier_dtype, source=checkpoint.name,
                                param_dtype=param_dtype, storage=storage)
    except BifsmnError as err:
        raise naming(err, checkpoint) from None
    _atomic_write(out_path, encode(records), (checkpoint,))
    return out_path
