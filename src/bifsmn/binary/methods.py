"""Binarization methods: which quantizers a method puts on inputs and weights, and any other
model change it needs (ReActNet's RPReLU).

============== ==================== ================ ==============================================
method         input quantizer      weight quant.    notes
============== ==================== ================ ==============================================
bnn            ste_sign             ste_sign         Hubara et al. 2016, no scales
xnor           xnor                 xnor             Rastegari et al. 2016, mean-|x| scales
bireal         approx_sign          approx_sign      Liu et al. 2018 (gradient; shortcuts exist)
ir_net         ir_net               ir_net           Qin et al. 2020, balanced weights + EDE
react          react                react            Liu et al. 2020, RSign + RPReLU
bifsmn_v1      bifsmn_v1            bifsmn_v1        BiFSMN (IJCAI'22) "Vanilla" binarizer
bifsmnv2       dual_scale           lpb              BiFSMNv2: dual-scale activations + LPB
bifsmnv2_single lpb                 lpb              ablation: no dual scale
bifsmnv2_ste   dual_scale(ste)      dual_scale(ste)  ablation: no learnable propagation (STE)
============== ==================== ================ ==============================================

Any method accepts ``granularity: reference`` in ``binary.options`` to reproduce the reference
code's scale axes (FP weights in the 1x1 convs, per-channel activation scales).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from bifsmn.binary import quantizers as _quantizers  # noqa: F401  (registers quantizers)
from bifsmn.errors import BifsmnError
from bifsmn.models.summary import model_input_shape


@dataclass(frozen=True)
class Method:
    """What ``binarize`` does for one method name, and the facts other layers need about it.

    ``dual_scale``: activations are binarized to two bit planes (BiFSMNv2's dual-scale
    thresholds), so a binary layer costs two popcount GEMMs; cost tables and the deployed
    arithmetic read it here instead of matching method names.
    ``deploy_kind``: the ``.bkws`` kind its deployed arithmetic is (``bifsmnv2``: dual-scale
    input and 1-bit scaled weights; ``bifsmn_v1``: plain sign input), None when the method has
    no bitwise deployed form (training-only baselines).
    """

    input: str
    weight: str
    input_options: dict = field(default_factory=dict)
    rprelu: bool = False
    dual_scale: bool = False
    deploy_kind: str | None = None


METHODS: dict[str, Method] = {
    "none": Method("identity", "identity"),
    "bnn": Method("ste_sign", "ste_sign"),
    "xnor": Method("xnor", "xnor"),
    "bireal": Method("approx_sign", "approx_sign"),
    "ir_net": Method("ir_net", "ir_net"),
    "react": Method("react", "react", rprelu=True),
    "bifsmn_v1": Method("bifsmn_v1", "bifsmn_v1", deploy_kind="bifsmn_v1"),
    "bifsmnv2": Method("dual_scale", "lpb", dual_scale=True, deploy_kind="bifsmnv2"),
    "bifsmnv2_single": Method("lpb", "lpb"),
    # the same forward function as bifsmnv2; only its training gradients differ
    # (weights: clipped-STE signs times s_w, the scale kept out of the gradient as in bifsmnv2)
    "bifsmnv2_ste": Method("dual_scale", "dual_scale", {"ste": True}, dual_scale=True,
                           deploy_kind="bifsmnv2"),
}


def method_record(name: str) -> Method:
    """The :class:`Method` of a registered method name (``none`` is full precision)."""
    if name not in METHODS:
        raise BifsmnError(f"unknown binarization method {name!r} "
                          f"(known: {', '.join(sorted(METHODS))})")
    return METHODS[name]


class RPReLU(nn.Module):
    """ReActNet's RPReLU: ``PReLU(x - gamma) + zeta`` with per-channel slope and shifts.

    Built from an existing PReLU so that conversion keeps the function (gamma = zeta = 0).
    """

    def __init__(self, prelu: nn.PReLU, channels: int, channel_dim: int) -> None:
        super().__init__()
        self.channel_dim = channel_dim
        self.weight = nn.Parameter(prelu.weight.detach().expand(channels).clone())
        self.shift_in = nn.Parameter(torch.zeros(channels))
        self.shift_out = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = [1] * x.dim()
        shape[self.channel_dim] = -1
        u = x - self.shift_in.view(shape)
        return torch.where(u >= 0, u, self.weight.view(shape) * u) + self.shift_out.view(shape)


def replace_prelu_with_rprelu(model: nn.Module) -> None:
    """Swap every PReLU for an RPReLU sized by a probe forward pass over all paths."""
    shapes: dict[str, torch.Size] = {}
    hooks = []

    def record(name: str):
        def hook(_m: nn.Module, inp: tuple, _out: torch.Tensor) -> None:
            shapes.setdefault(name, inp[0].shape)  # returns None: output untouched

        return hook

    for name, mod in model.named_modules():
        if isinstance(mod, nn.PReLU):
            hooks.append(mod.register_forward_hook(record(name)))
    was = model.training
    model.eval()
    # the model's own input (an fbank40 model reads 40 bands), where its weights are
    first = next(model.parameters())
    probe = torch.zeros(model_input_shape(model), device=first.device, dtype=first.dtype)
    with torch.no_grad():
        for p in range(getattr(model, "num_paths", 1)):
            model(probe, path=p, return_features=True)  # the graph
    model.train(was)
    for h in hooks:
        h.remove()
    for name, shape in shapes.items():
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        dim = 1 if len(shape) == 4 else len(shape) - 1
        setattr(parent, attr, RPReLU(getattr(parent, attr), shape[dim], dim))
