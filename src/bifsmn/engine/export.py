"""Checkpoint -> ``.bkws``: what the bitwise engine needs, folded, packed and checksummed.

The exporter rebuilds the eval-mode model with :func:`model_from_checkpoint` and reads every
number from the modules *as they compute in eval mode* (weight quantizer outputs, BatchNorm
running statistics), so the file describes exactly the function PyTorch evaluates. Folding
follows docs/binary-arithmetic.md:

* binarized layer: sign bits of ``W_hat`` plus ``scale = g * sw`` and
  ``bias = g * (b - sw * sum_i sign(W[o, i]) * tau2[i]) + h`` (BN ``g, h`` when one follows,
  else ``g = 1, h = 0``); the dual-scale thresholds ``tau0, tau1`` stay per input channel.
  conv2 keeps ``tau2`` because its border makes the tau2 term position-dependent; the engine
  builds that table (and the border correction of the popcount) when it loads the file.
* full-precision layers: BN folded into the weights (conv1, conv2, memory, fc_in of FP models);
  fc_out keeps one (scale, bias) pair per thinnable path since the paths share its weights.

Folding is exact in real arithmetic; in float32 the folded products round differently from
PyTorch's unfolded ones (relative 1e-7), which is the only source of disagreement besides the
classifier's storage precision (FP16 for binary models, see docs/bkws-format.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from bifsmn.binary.quantizers import DualScaleSign, VanillaSign
from bifsmn.data.frontends import feature_config_from_dict, feature_kind
from bifsmn.engine.format import FEATURE_FIELDS, Record, encode, make_record
from bifsmn.errors import BifsmnError
from bifsmn.models.dfsmn import BLOCKS_TO_PATH, DFSMN, path_blocks

#: binarization method -> file kind. bifsmnv2_ste computes the same forward function as
#: bifsmnv2 (dual-scale input, 1-bit scaled weights); only its training gradients differ.
BINARY_KINDS = {"bifsmnv2": "bifsmnv2", "bifsmnv2_ste": "bifsmnv2", "bifsmn_v1": "bifsmn_v1"}
FP_KINDS = ("dfsmn_teacher", "dfsmn_thinnable")
BlocksArg = Literal["all", 8, 4, 2, 1] | str | int


def parse_blocks(blocks: BlocksArg, num_paths: int) -> list[int]:
    """Thinnable paths to include: ``"all"`` (every path the model has) or one block count."""
    if str(blocks) == "all":
        return list(range(num_paths))
    try:
        path = BLOCKS_TO_PATH[int(blocks)]
    except (KeyError, ValueError):
        raise BifsmnError(f"blocks must be 'all', 8, 4, 2 or 1, not {blocks!r}") from None
    if path >= num_paths:
        raise BifsmnError(f"{blocks} blocks not available: the model has one path set "
                          "(8 blocks only)")
    return [path]


def _bn(bn: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """Eval BatchNorm as ``g * v + h`` (float64)."""
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.running_var is None:
        raise BifsmnError(f"unsupported normalisation layer {type(bn).__name__}")
    var = bn.running_var.double().numpy()
    mean = bn.running_mean.double().numpy()
    g = 1.0 / np.sqrt(var + bn.eps)
    if bn.weight is not None:
        g = g * bn.weight.detach().double().numpy()
    h = -g * mean
    if bn.bias is not None:
        h = h + bn.bias.detach().double().numpy()
    return g, h


def _slope(act: nn.Module, where: str) -> np.ndarray:
    """ReLU -> slope 0; PReLU with one shared slope -> that slope."""
    if isinstance(act, nn.ReLU):
        return np.zeros(1, np.float32)
    if isinstance(act, nn.PReLU) and act.weight.numel() == 1:
        return act.weight.detach().float().numpy().reshape(1)
    raise BifsmnError(f"{where}: activation {type(act).__name__} is not exportable "
                      "(ReLU or single-slope PReLU)")


def _bias(layer: nn.Module, out: int) -> np.ndarray:
    b = getattr(layer, "bias", None)
    return np.zeros(out) if b is None else b.detach().double().numpy().reshape(out)


def _binary_weight(layer: nn.Module, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(sign bits (O, K) bool, per-output-channel scale sw (O,) float64) of ``W_hat``.

    Reads the weight quantizer's own output, so method-specific preprocessing (bifsmn_v1's mean
    centring, LPB's alpha) is whatever the forward pass does; then checks that each output
    channel really is ``sw[o] * (+-1)``.
    """
    with torch.no_grad():
        wh = layer.weight_quantizer(layer.weight).detach().float()
    wh = wh.reshape(wh.shape[0], -1)
    sw = wh.abs().amax(dim=1)
    if not torch.equal(wh.abs(), sw[:, None].expand_as(wh)):
        raise BifsmnError(f"layer {name}: weights are not one scale times signs per output "
                          "channel; only granularity 'channel' (true 1-bit) is exportable")
    return (wh < 0).numpy(), sw.double().numpy()


def _thresholds(layer: nn.Module, kind: str, name: str) -> np.ndarray | None:
    """(3, C_in) thresholds tau0, tau1, tau2 of a dual-scale input, None for plain sign."""
    q = layer.input_quantizer
    if kind == "bifsmnv2":
        if not isinstance(q, DualScaleSign):
            raise BifsmnError(f"layer {name}: expected a dual-scale input quantizer")
        return q.threshold.detach().double().numpy()
    if not isinstance(q, VanillaSign):
        raise BifsmnError(f"layer {name}: expected the bifsmn_v1 input quantizer")
    return None


F16_MAX = 65504.0


class _Writer:
    """Collects records. ``vec_dtype`` is the storage of a binary model's per-channel
    constants (conv1 weights and bias, thresholds, folded scales and biases: see ``vec``)."""

    def __init__(self, vec_dtype: str = "f32") -> None:
        self.records: list[Record] = []
        self.vec_dtype = vec_dtype

    def add(self, name: str, value, dtype: str | None = None) -> None:
        if dtype in ("f32", "f16"):
            value = np.asarray(value, np.float64)
            if not np.isfinite(value).all():
                raise BifsmnError(f"record {name}: non-finite values (diverged model?)")
            if dtype == "f16" and np.abs(value).max(initial=0.0) > F16_MAX:
                raise BifsmnError(f"record {name}: values beyond the float16 range "
                                  f"(max |v| {np.abs(value).max():.3g}); export with f32")
        self.records.append(make_record(name, value, dtype))

    def vec(self, name: str, value) -> None:
        """A per-channel constant of a binary model, in ``vec_dtype``."""
        self.add(name, value, self.vec_dtype)


def _binary_layer(w: _Writer, name: str, layer: nn.Module, kind: str,
                  bn: nn.Module | None = None, fold_tau2: bool = True,
                  affine: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Write ``name.bits/.tau`` and (with ``affine``) ``.scale/.bias``.

    Returns ``(sw, bias)`` before any BN, tau2 folded: fc_out folds one BN per path itself.
    """
    bits, sw = _binary_weight(layer, name)
    tau = _thresholds(layer, kind, name)
    out, k = bits.shape
    bias = _bias(layer, out)
    if tau is not None:
        cin = tau.shape[1]
        sgn = np.where(bits, -1.0, 1.0)
        if fold_tau2:
            # the tau2 term: sum over every tap of sign(W) * tau2[channel of that tap]
            per_tap = np.repeat(tau[2], k // cin) if k != cin else tau[2]
            bias = bias - sw * (sgn @ per_tap)
        w.vec(f"{name}.tau", tau[:2])
    w.add(f"{name}.bits", bits, "bits")
    if affine:
        g, h = (np.ones(out), np.zeros(out)) if bn is None else _bn(bn)
        w.vec(f"{name}.scale", g * sw)
        w.vec(f"{name}.bias", g * bias + h)
    return sw, bias


def _memory_binary(w: _Writer, name: str, mem: nn.Module, bn: nn.Module, kind: str) -> None:
    bits, sw = _binary_weight(mem, name)
    tau = _thresholds(mem, kind, name)
    bias = _bias(mem, bits.shape[0])
    if tau is not None:
        # every output frame sees all taps (padded frames are quantized too): constant shift
        bias = bias - sw * tau[2] * np.where(bits, -1.0, 1.0).sum(axis=1)
        w.vec(f"{name}.tau", tau[:2])
    g, h = _bn(bn)
    w.add(f"{name}.bits", bits, "bits")
    w.vec(f"{name}.scale", g * sw)
    w.vec(f"{name}.bias", g * bias + h)


def _fp_weight(layer: nn.Module) -> np.ndarray:
    wt = layer.weight.detach().double().numpy()
    return wt.reshape(wt.shape[0], -1)


def _fp_layer(w: _Writer, name: str, layer: nn.Module, bn: nn.Module | None, dtype: str,
              bias_dtype: str = "f32") -> None:
    wt = _fp_weight(layer)
    b = _bias(layer, wt.shape[0])
    if bn is not None:
        g, h = _bn(bn)
        wt, b = wt * g[:, None], g * b + h
    w.add(f"{name}.w", wt, dtype)
    w.add(f"{name}.b", b, bias_dtype)


def _check_fp(model: nn.Module) -> None:
    """A full-precision model must really be full precision: identity quantizers only."""
    for name, mod in model.named_modules():
        names = getattr(mod, "quantizer_names", None)
        if names is not None and names() != ("identity", "identity"):
            raise BifsmnError(f"layer {name} is quantized but the checkpoint's method is 'none'")


def _labels(ckpt: dict, num_classes: int) -> list[str]:
    labels = [str(x) for x in ckpt.get("labels") or range(num_classes)]
    if len(labels) != num_classes or any(not x or "\n" in x for x in labels):
        raise BifsmnError(f"checkpoint labels do not fit {num_classes} classes")
    return labels


def build_records(model: DFSMN, ckpt: dict, blocks: BlocksArg = "all",
                  classifier_dtype: str | None = None, source: str = "",
                  with_features: bool = True, param_dtype: str = "f32") -> list[Record]:
    """All records of a ``.bkws`` file for an eval-mode model and its checkpoint dict.

    ``param_dtype="f16"`` (binary models only) stores the per-channel constants (conv1, the
    thresholds, folded scales and biases) as float16: the engine widens them at load and
    ``bifsmn.binary.deploy.deployed(..., param_dtype="f16")`` computes with the same widened
    values, so the two stay bit-identical; the model's function changes by that rounding.

    ``with_features=False`` leaves out the front-end records (``feat.*``) and their check
    against the network's input size: the deployed arithmetic (bifsmn.binary.deploy) needs
    only the network, whatever front end feeds it."""
    if not isinstance(model, DFSMN):
        raise BifsmnError(f"model {type(model).__name__} is not exportable (DFSMN family only)")
    if not isinstance(model.norm3, nn.Identity):
        raise BifsmnError("fc1_norm models (the BNN/Bi-Real/IR-Net comparison baselines) are "
                          "not exportable")
    binary = ckpt.get("binary") or {"method": "none"}
    method = binary.get("method", "none")
    granularity = (binary.get("options") or {}).get("granularity", "channel")
    name = ckpt["model"]["name"]
    if method == "none":
        if name not in FP_KINDS:
            raise BifsmnError(f"full-precision model {name!r} not exportable "
                              f"({', '.join(FP_KINDS)})")
        kind = name
        _check_fp(model)
    elif method in BINARY_KINDS:
        if granularity != "channel":
            raise BifsmnError(f"granularity {granularity!r} is not exportable: only 'channel' "
                              "(true 1-bit weights and factorable activation scales)")
        keep = sorted(binary.get("keep_fp", ["conv1", "classifier"]))
        if keep != ["classifier", "conv1"]:
            raise BifsmnError(f"keep_fp must be [conv1, classifier] to export, not {keep}")
        kind = BINARY_KINDS[method]
    else:
        raise BifsmnError(f"binarization method {method!r} is not exportable "
                          f"(supported: none, {', '.join(BINARY_KINDS)})")
    is_binary = kind in ("bifsmnv2", "bifsmn_v1")
    cls_dtype = classifier_dtype or "f32"
    fp_dtype = "f32" if is_binary else cls_dtype
    if cls_dtype not in ("f16", "f32"):
        raise BifsmnError(f"classifier dtype must be f16 or f32, not {cls_dtype!r}")
    if param_dtype not in ("f16", "f32"):
        raise BifsmnError(f"parameter dtype must be f16 or f32, not {param_dtype!r}")
    if param_dtype != "f32" and not is_binary:
        raise BifsmnError("--param-dtype f16 applies to binary models only")
    paths = parse_blocks(blocks, model.num_paths)
    included = sorted({j for p in paths for j in path_blocks(p, model.num_layers)})

    b0 = model.blocks[0]
    conv = model.conv1
    ks = conv.kernel_size[0]
    if (conv.kernel_size != (ks, ks) or conv.stride != (2, 2) or conv.padding != (ks // 2,) * 2
            or ks % 2 == 0 or model.conv2.kernel_size != (ks, ks)):
        raise BifsmnError("only odd square kernels with stride 2 and 'same' padding export")
    n_mels = model.fc1.in_features // model.conv2.out_channels * 4
    frames = model.classifier.in_features // model.fc1.out_features * 4
    arch = [model.classifier.out_features, n_mels, frames, conv.out_channels,
            model.conv2.out_channels, ks, model.fc1.out_features, b0.fc_in.out_features,
            model.num_layers, b0.memory.left, b0.memory.right, model.num_paths]
    feats = feature_config_from_dict(ckpt.get("features"))
    feat_kind = feature_kind(feats)
    if with_features and feats.n_mels != n_mels:
        raise BifsmnError(f"feature config ({feat_kind}) has {feats.n_mels} mel bands, model "
                          f"expects {n_mels}")
    if with_features and feats.num_frames != frames:
        raise BifsmnError(f"feature config ({feat_kind}) gives {feats.num_frames} frames, model "
                          f"expects {frames}")
    labels = _labels(ckpt, arch[0])

    w = _Writer(param_dtype)
    w.add("meta.kind", kind)
    w.add("meta.method", method)
    w.add("meta.labels", "\n".join(labels))
    info = {"source": source, "model": ckpt["model"], "binary": binary,
            "epoch": ckpt.get("epoch"), "classifier_dtype": cls_dtype,
            "param_dtype": param_dtype,
            "blocks": [8 >> p for p in paths]}
    if ckpt.get("operating_points"):  # bifsmn calibrate; read by bifsmn.detect
        info["operating_points"] = ckpt["operating_points"]
    w.add("meta.json", json.dumps(info, sort_keys=True, default=str))
    w.add("arch", np.array(arch), "i32")
    w.add("paths", np.array(paths), "i32")
    # the front end: its kind, then its settings (format.FEATURE_FIELDS, docs/bkws-format.md)
    if with_features:
        ints, floats = FEATURE_FIELDS[feat_kind]
        w.add("feat.kind", feat_kind)
        w.add("feat.i", np.array([getattr(feats, k) for k in ints]), "i32")
        w.add("feat.f", np.array([getattr(feats, k) for k in floats], np.float64), "f64")

    _fp_layer(w, "conv1", model.conv1, model.bn1, w.vec_dtype, w.vec_dtype)
    w.add("act1", _slope(model.act1, "act1"), "f32")
    if is_binary:
        _binary_layer(w, "conv2", model.conv2, kind, model.bn2, fold_tau2=False)
        tau = _thresholds(model.conv2, kind, "conv2")
        if tau is not None:
            w.vec("conv2.tau2", tau[2])
        _binary_layer(w, "fc1", model.fc1, kind)
    else:
        _fp_layer(w, "conv2", model.conv2, model.bn2, fp_dtype)
        _fp_layer(w, "fc1", model.fc1, None, fp_dtype)
    w.add("act2", _slope(model.act2, "act2"), "f32")
    w.add("act3", _slope(model.act3, "act3"), "f32")
    for j in included:
        blk, pre = model.blocks[j], f"b{j}"
        if is_binary:
            _memory_binary(w, f"{pre}.mem", blk.memory, blk.mem_bn, kind)
            _binary_layer(w, f"{pre}.fc_in", blk.fc_in, kind, blk.hid_bn)
            sw, bias = _binary_layer(w, f"{pre}.fc_out", blk.fc_out, kind, affine=False)
        else:
            mw = blk.memory.weight.detach().double().numpy()[:, 0, :]
            g, h = _bn(blk.mem_bn)
            w.add(f"{pre}.mem.w", mw * g[:, None], "f32")
            w.add(f"{pre}.mem.b", g * _bias(blk.memory, mw.shape[0]) + h, "f32")
            _fp_layer(w, f"{pre}.fc_in", blk.fc_in, blk.hid_bn, fp_dtype)
            w.add(f"{pre}.fc_out.w", _fp_weight(blk.fc_out), fp_dtype)
            bias = _bias(blk.fc_out, blk.fc_out.out_features)
            sw = np.ones_like(bias)
        w.add(f"{pre}.act_m", _slope(blk.mem_act, f"{pre}.mem_act"), "f32")
        w.add(f"{pre}.act_h", _slope(blk.hid_act, f"{pre}.hid_act"), "f32")
        for p in paths:
            if j not in path_blocks(p, model.num_layers):
                continue
            q = min(p, len(blk.path_bn) - 1)  # as DFSMNBlock.forward
            g, h = _bn(blk.path_bn[q])
            w.vec(f"{pre}.fc_out.scale.p{p}", g * sw)
            w.vec(f"{pre}.fc_out.bias.p{p}", g * bias + h)
            w.add(f"{pre}.act_p.p{p}", _slope(blk.path_act[q], f"{pre}.path_act"), "f32")
    w.add("classifier.w", _fp_weight(model.classifier), cls_dtype)
    w.add("classifier.b", _bias(model.classifier, arch[0]), "f32")
    return w.records


def _atomic_write(path: Path, data: bytes, inputs: tuple[Path, ...] = ()) -> Path:
    """Atomic write after the output-path checks of :mod:`bifsmn.outputs` (never onto the
    checkpoint itself, a directory, a device, a FIFO or a socket)."""
    from bifsmn.outputs import atomic_write_bytes

    return atomic_write_bytes(path, data, inputs)


def export_checkpoint(checkpoint: str | Path, out_path: str | Path, blocks: BlocksArg = "all",
                      classifier_dtype: str | None = None, param_dtype: str = "f32") -> Path:
    """Write a self-contained ``.bkws`` for ``checkpoint`` (atomically) and return its path.

    ``blocks``: ``"all"`` keeps every thinnable path the model has (one file serves 8/4/2/1
    blocks); a block count keeps only that path and only the blocks it runs, which makes a
    smaller file. ``classifier_dtype``: ``"f32"`` (default: the engine's logits then equal the
    PyTorch eval-mode logits, see bifsmn.binary.deploy) or ``"f16"`` (24 KiB smaller for 12
    classes; logits move by ~1e-3, which can reorder near-tied classes). ``param_dtype``
    (binary models): ``"f32"`` (default) or ``"f16"``, see :func:`build_records`; the PyTorch
    reference of such a file is ``bifsmn.binary.deploy.deployed(model, binary, param_dtype=,
    classifier_dtype=)``.
    """
    from bifsmn.outputs import check_output
    from bifsmn.train.checkpoint import model_from_checkpoint

    checkpoint, out_path = Path(checkpoint), Path(out_path)
    check_output(out_path, (checkpoint,))  # fail before the (slow) build, again when writing
    model, ckpt = model_from_checkpoint(checkpoint)
    if classifier_dtype is not None:
        classifier_dtype = re.sub(r"^float", "f", classifier_dtype)
    records = build_records(model, ckpt, blocks, classifier_dtype, source=checkpoint.name,
                            param_dtype=param_dtype)
    _atomic_write(out_path, encode(records), (checkpoint,))
    return out_path
