"""Per-layer parameter and multiply-accumulate counts (``bifsmn summary``).

MACs are counted from the shapes seen in one forward pass (hooks), so thinnable paths, input
sizes and binarized layers are all accounted for by what actually runs. Normalisation,
activations and residual additions are not counted, as in the paper's convention
(docs/binary-arithmetic.md, "Costs").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeGuard

import torch
from torch import nn

from bifsmn.binary.layers import QuantDepthwiseTime, QuantMixin
from bifsmn.blocks import DEFAULT_LAYERS, to_index


@dataclass
class LayerStat:
    name: str
    kind: str
    params: int
    macs: int
    binary: bool


def is_binary_layer(m: nn.Module) -> TypeGuard[QuantMixin]:
    """A layer whose MACs are 1-bit: input and weight binarized. Reference granularity keeps
    the pointwise layers' weights in full precision (``bifsmn.compare.storage_bytes`` counts
    them so too), so their products are not XNOR-popcounts."""
    if not isinstance(m, QuantMixin):
        return False
    if getattr(m.weight_quantizer, "granularity", "channel") == "reference" and \
            getattr(m, "kind", None) == "pointwise":
        return False
    return all(n != "identity" for n in m.quantizer_names())


def _macs(m: nn.Module, out: torch.Tensor) -> int:
    per_sample = out[0].numel()
    if isinstance(m, nn.Linear):
        return per_sample * m.in_features
    if isinstance(m, nn.Conv2d):
        k = m.kernel_size[0] * m.kernel_size[1]
        return per_sample * (m.in_channels // m.groups) * k
    if isinstance(m, QuantDepthwiseTime):
        return per_sample * m.kernel_size
    return 0


def model_input_shape(model: nn.Module) -> tuple[int, int, int, int]:
    """One sample of the input the model was built for: (1, 1, n_mels, frames)."""
    return (1, 1, int(getattr(model, "n_mels", 32)), int(getattr(model, "frames", 32)))


def layer_stats(model: nn.Module, blocks: int | None = None,
                input_shape: tuple[int, ...] | None = None) -> list[LayerStat]:
    """Run one sample through the path of ``blocks`` blocks (default: all layers) and return
    stats for every parameterised leaf layer. ``input_shape`` defaults to the model's own
    (:func:`model_input_shape`: an fbank40 model reads 40 bands)."""
    input_shape = input_shape or model_input_shape(model)
    layers = getattr(model, "num_layers", DEFAULT_LAYERS)
    path = 0 if blocks is None else to_index(blocks, layers)
    stats: dict[str, LayerStat] = {}
    hooks = []
    for name, mod in model.named_modules():
        own = sum(p.numel() for p in mod.parameters(recurse=False))
        if own == 0 or any(True for _ in mod.children() if not _is_quantizer(_)):
            continue

        def hook(m: nn.Module, _inp: tuple, out: torch.Tensor, name: str = name) -> None:
            prev = stats.get(name)
            macs = _macs(m, out) + (prev.macs if prev else 0)
            stats[name] = LayerStat(name, type(m).__name__, _own_params(m), macs,
                                    is_binary_layer(m))

        hooks.append(mod.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            # the training graph: its per-layer modules are what the hooks count
            model(torch.zeros(input_shape), path=path)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return list(stats.values())


def _is_quantizer(m: nn.Module) -> bool:
    return hasattr(m, "registered_name")


def _own_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def format_summary(model: nn.Module, blocks: int | None = None,
                   input_shape: tuple[int, ...] | None = None) -> str:
    """A table of layers with parameters, MACs and whether they run binarized, on the path of
    ``blocks`` blocks (default: all layers)."""
    stats = layer_stats(model, blocks, input_shape)
    total_params = sum(p.numel() for p in model.parameters())
    lines = [f"{'layer':<28}{'type':<20}{'params':>10}{'MACs':>12}  bits",
             "-" * 76]
    for s in stats:
        lines.append(f"{s.name:<28}{s.kind:<20}{s.params:>10,}{s.macs:>12,}  "
                     f"{'1' if s.binary else '32'}")
    macs = sum(s.macs for s in stats)
    bmacs = sum(s.macs for s in stats if s.binary)
    lines += ["-" * 76,
              f"total parameters: {total_params:,}",
              f"MACs per 1-s clip: {macs:,} (binary: {bmacs:,}, full precision: {macs - bmacs:,})"]
    if bmacs:  # `bifsmn compare` counts the engine's work instead: say which count this is
        lines.append("binary MACs count each weight x input product once; a dual-scale "
                     "binarizer runs two 1-bit GEMMs per product (compare's tables count both)")
    return "\n".join(lines)
