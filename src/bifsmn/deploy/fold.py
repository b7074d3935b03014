"""Folding: a trained (eval-mode) DFSMN -> :class:`~bifsmn.deploy.spec.DeploySpec`.

Every number is read from the modules *as they compute in eval mode* (weight quantizer
outputs, BatchNorm running statistics), so the spec describes exactly the function the
training graph evaluates. Folding follows docs/binary-arithmetic.md:

* binarized layer: sign bits of ``W_hat`` plus ``scale = g * sw`` and
  ``bias = g * (b - sw * sum_i sign(W[o, i]) * tau2[i]) + h`` (BN ``g, h`` when one follows,
  else ``g = 1, h = 0``); the dual-scale thresholds ``tau0, tau1`` stay per input channel.
  conv2 keeps ``tau2`` because its border makes the tau2 term position-dependent; the engine
  (and :class:`~bifsmn.deploy.reference.DeployedDFSMN`) build that table from it.
* full-precision layers: BN folded into the weights (conv1, conv2, memory, fc_in of FP models);
  fc_out keeps one (scale, bias) pair per thinnable path since the paths share its weights.

Folding is exact in real arithmetic (float64 here); each constant is rounded once to its
storage dtype. A model on a GPU is folded from a CPU copy of itself (numpy needs host memory),
so the model passed in is never moved.
"""

from __future__ import annotations

import copy
from typing import TypeVar, cast

import numpy as np
import torch
from torch import nn

from bifsmn import blocks as blocks_mod
from bifsmn.binary.methods import METHODS
from bifsmn.binary.quantizers import DualScaleSign, VanillaSign
from bifsmn.deploy.spec import FLOAT_DTYPES, Arch, DeploySpec
from bifsmn.deploy.storage import F16_MAX
from bifsmn.errors import BifsmnError
from bifsmn.models.dfsmn import DFSMN, DFSMNBlock

#: full-precision model names that have a deployed (``.bkws``) form
FP_KINDS = ("dfsmn_teacher", "dfsmn_thinnable")
#: classifier weight storages (i8: per-row int8, binary models only)
CLASSIFIER_DTYPES = ("f32", "f16", "i8")
#: storages of a binary model's per-channel constants
PARAM_DTYPES = ("f32", "f24", "f16")

_M = TypeVar("_M", bound=nn.Module)


class NotDeployable(BifsmnError):
    """The model has no bitwise deployed form (a training-only baseline, reference
    granularity, fc1 normalisation, ...): evaluate its training graph instead."""


def deploy_kind(binary: dict | None, model_name: str | None = None) -> str:
    """The deployed kind of a model (``bifsmnv2``, ``bifsmn_v1`` or a full-precision name),
    or :class:`NotDeployable` saying why it has none. Checks the binarization spec only;
    :func:`fold` also checks the network."""
    binary = binary or {"method": "none"}
    method = binary.get("method", "none")
    if method == "none":
        if model_name not in FP_KINDS:
            raise NotDeployable(f"full-precision model {model_name!r} not exportable "
                                f"({', '.join(FP_KINDS)})")
        return model_name
    record = METHODS.get(method)
    if record is None or record.deploy_kind is None:
        supported = ", ".join(m for m, r in METHODS.items() if r.deploy_kind)
        raise NotDeployable(f"binarization method {method!r} is not exportable "
                            f"(supported: none, {supported})")
    granularity = (binary.get("options") or {}).get("granularity", "channel")
    if granularity != "channel":
        raise NotDeployable(f"granularity {granularity!r} is not exportable: only 'channel' "
                            "(true 1-bit weights and factorable activation scales)")
    keep = sorted(binary.get("keep_fp", ["conv1", "classifier"]))
    if keep != ["classifier", "conv1"]:
        raise NotDeployable(f"keep_fp must be [conv1, classifier] to export, not {keep}")
    return record.deploy_kind


def _bn(bn: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """Eval BatchNorm as ``g * v + h`` (float64)."""
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.running_var is None:
        raise NotDeployable(f"unsupported normalisation layer {type(bn).__name__}")
    var = bn.running_var.double().numpy()
    # torch registers running_mean and running_var together (both None without running stats)
    mean = cast(torch.Tensor, bn.running_mean).double().numpy()
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
    raise NotDeployable(f"{where}: activation {type(act).__name__} is not exportable "
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
        quantizer = cast(nn.Module, layer.weight_quantizer)  # a QuantMixin layer's
        wh = quantizer(layer.weight).detach().float()
    wh = wh.reshape(wh.shape[0], -1)
    sw = wh.abs().amax(dim=1)
    if not torch.equal(wh.abs(), sw[:, None].expand_as(wh)):
        raise NotDeployable(f"layer {name}: weights are not one scale times signs per output "
                            "channel; only granularity 'channel' (true 1-bit) is exportable")
    return (wh < 0).numpy(), sw.double().numpy()


def _thresholds(layer: nn.Module, kind: str, name: str) -> np.ndarray | None:
    """(3, C_in) thresholds tau0, tau1, tau2 of a dual-scale input, None for plain sign."""
    q = layer.input_quantizer
    if kind == "bifsmnv2":
        if not isinstance(q, DualScaleSign):
            raise NotDeployable(f"layer {name}: expected a dual-scale input quantizer")
        return q.threshold.detach().double().numpy()
    if not isinstance(q, VanillaSign):
        raise NotDeployable(f"layer {name}: expected the bifsmn_v1 input quantizer")
    return None


class _Folder:
    """Adds constants to a spec. ``vec_dtype`` is the storage of a binary model's
    per-channel constants (conv1 weights and bias, thresholds, folded scales and biases;
    the PReLU slopes stay float32: 4 bytes each, not worth a rounding)."""

    def __init__(self, spec: DeploySpec) -> None:
        self.spec = spec
        self.vec_dtype = spec.param_dtype

    def add(self, name: str, value, dtype: str) -> None:
        if dtype == "f16":
            peak = np.abs(np.asarray(value, np.float64)).max(initial=0.0)
            if peak > F16_MAX:  # NaN compares False: left to the non-finite checks
                raise BifsmnError(f"record {name}: values beyond the float16 range "
                                  f"(max |v| {peak:.3g}); export with f32")
        if dtype in FLOAT_DTYPES:
            value = np.asarray(value, np.float64)  # rounded once, by DeploySpec.add
        self.spec.add(name, value, dtype)

    def vec(self, name: str, value) -> None:
        """A per-channel constant of a binary model, in ``vec_dtype``."""
        self.add(name, value, self.vec_dtype)


def _binary_layer(w: _Folder, name: str, layer: nn.Module, kind: str,
                  bn: nn.Module | None = None, fold_tau2: bool = True,
                  affine: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Add ``name.bits/.tau`` and (with ``affine``) ``.scale/.bias``.

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


def _memory_binary(w: _Folder, name: str, mem: nn.Module, bn: nn.Module, kind: str) -> None:
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
    wt = cast(torch.Tensor, layer.weight).detach().double().numpy()
    return wt.reshape(wt.shape[0], -1)


def _fp_layer(w: _Folder, name: str, layer: nn.Module, bn: nn.Module | None, dtype: str,
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


def arch_of(model: DFSMN) -> Arch:
    """The network shape of an exportable DFSMN (refused: non-'same' or even kernels)."""
    b0, conv = cast(DFSMNBlock, model.blocks[0]), model.conv1
    ks = conv.kernel_size[0]
    if (conv.kernel_size != (ks, ks) or conv.stride != (2, 2) or conv.padding != (ks // 2,) * 2
            or ks % 2 == 0 or model.conv2.kernel_size != (ks, ks)):
        raise NotDeployable("only odd square kernels with stride 2 and 'same' padding export")
    n_mels = model.fc1.in_features // model.conv2.out_channels * 4
    frames = model.classifier.in_features // model.fc1.out_features * 4
    return Arch(model.classifier.out_features, n_mels, frames, conv.out_channels,
                model.conv2.out_channels, ks, model.fc1.out_features, b0.fc_in.out_features,
                model.num_layers, b0.memory.left, b0.memory.right, model.num_paths)


def _cpu_copy(model: _M) -> _M:
    """``model`` itself when it is on the CPU, else a CPU copy (the original stays put)."""
    if all(t.device.type == "cpu" for t in (*model.parameters(), *model.buffers())):
        return model
    return copy.deepcopy(model).cpu()


def fold(model: nn.Module, binary: dict | None = None, model_name: str | None = None,
         blocks: list[int] | None = None, classifier_dtype: str = "f32",
         param_dtype: str = "f32", storage: str | None = None) -> DeploySpec:
    """Fold ``model`` (any device, any mode: read in eval mode) into a :class:`DeploySpec`.

    ``binary``: the checkpoint's ``{"method", "keep_fp", "options"}`` (default: the model's
    own ``binary_spec``, set by :func:`bifsmn.binary.convert.binarize`); ``model_name``: the
    registered name, needed for full-precision models only (default: the ``model_name`` that
    :func:`bifsmn.models.create_model` records on the model). ``blocks``: block counts of the
    paths to include (default: every path the model has); a count the model lacks raises
    :class:`~bifsmn.errors.MissingPath`. ``param_dtype`` ``"f24"``/``"f16"`` (binary models
    only) stores the per-channel constants as 24-bit floats / float16, ``classifier_dtype``
    ``"f16"``/``"i8"`` (i8: binary models only) the classifier weights as float16 / per-row
    int8 (:mod:`bifsmn.deploy.storage`): the engine widens them to float32 at load, and so does
    the reference, to the same values. ``storage`` (binary models; instead of the two
    dtypes) is a storage plan, a name such as ``"small"`` or ``"tau=i8,bias=i8r,..."``
    (:mod:`bifsmn.deploy.plans`).
    Raises :class:`NotDeployable` for a model with no deployed form.
    """
    if storage is not None:
        from bifsmn.deploy.plans import narrowed_spec, parse_plan

        if (param_dtype, classifier_dtype) != ("f32", "f32"):
            raise BifsmnError("a storage plan sets every dtype itself; give either the plan "
                              "or --param-dtype/--classifier-dtype")
        plan = parse_plan(storage)
        return narrowed_spec(fold(model, binary, model_name, blocks), plan)
    if binary is None:
        binary = getattr(model, "binary_spec", None) or {"method": "none"}
    if model_name is None:  # create_model records it on the model
        model_name = getattr(model, "model_name", None)
    if not isinstance(model, DFSMN):
        raise NotDeployable(f"model {type(model).__name__} is not exportable (DFSMN family "
                            "only)")
    if not isinstance(model.norm3, nn.Identity):
        raise NotDeployable("fc1_norm models (the BNN/Bi-Real/IR-Net comparison baselines) "
                            "are not exportable")
    kind = deploy_kind(binary, model_name)
    is_binary = kind in ("bifsmnv2", "bifsmn_v1")
    if classifier_dtype not in CLASSIFIER_DTYPES:
        raise BifsmnError(f"classifier dtype must be one of {', '.join(CLASSIFIER_DTYPES)}, "
                          f"not {classifier_dtype!r}")
    if param_dtype not in PARAM_DTYPES:
        raise BifsmnError(f"parameter dtype must be one of {', '.join(PARAM_DTYPES)}, not "
                          f"{param_dtype!r}")
    if param_dtype != "f32" and not is_binary:
        raise BifsmnError(f"--param-dtype {param_dtype} applies to binary models only")
    if classifier_dtype == "i8" and not is_binary:
        # a full-precision model stores all its weights in the classifier dtype
        raise BifsmnError("--classifier-dtype i8 applies to binary models only")
    fp_dtype = "f32" if is_binary else classifier_dtype
    if blocks is None:
        blocks = blocks_mod.counts(model.num_layers, model.num_paths)
    paths = [blocks_mod.require(b, model.num_layers, model.num_paths) for b in blocks]
    arch = arch_of(model)

    src = _cpu_copy(model)
    was = src.training
    src.eval()
    try:
        spec = DeploySpec(kind, binary.get("method", "none"), binary, arch,
                          [blocks_mod.from_index(p, model.num_layers) for p in paths],
                          classifier_dtype, param_dtype)
        if not is_binary:
            _check_fp(src)
        _fold_layers(_Folder(spec), src, kind, is_binary, fp_dtype, paths)
    finally:
        src.train(was)
    return spec


def _fold_layers(w: _Folder, model: DFSMN, kind: str, is_binary: bool, fp_dtype: str,
                 paths: list[int]) -> None:
    """Add every network constant, in the order of the ``.bkws`` records."""
    included = sorted({j for p in paths for j in blocks_mod.layers_of_index(p, model.num_layers)})
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
        blk, pre = cast(DFSMNBlock, model.blocks[j]), f"b{j}"
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
            if j not in blocks_mod.layers_of_index(p, model.num_layers):
                continue
            q = min(p, len(blk.path_bn) - 1)  # as DFSMNBlock.forward
            g, h = _bn(blk.path_bn[q])
            w.vec(f"{pre}.fc_out.scale.p{p}", g * sw)
            w.vec(f"{pre}.fc_out.bias.p{p}", g * bias + h)
            w.add(f"{pre}.act_p.p{p}", _slope(blk.path_act[q], f"{pre}.path_act"), "f32")
    w.add("classifier.w", _fp_weight(model.classifier), w.spec.classifier_dtype)
    w.add("classifier.b", _bias(model.classifier, w.spec.arch.classes), "f32")
