"""Quantizers registered under string names (Larq's habit).

A layer is given its input and weight quantizers by name, so a model config that says
``input_quantizer: dual_scale`` serialises and reads cleanly. Every quantizer is an ``nn.Module``
built by ``get_quantizer(name, channels=..., channel_dim=..., role=...)``; constructors take the
keyword arguments they need and ignore the rest, so layers can build any of them uniformly.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from bifsmn.errors import BifsmnError

_QUANTIZERS: dict[str, type[nn.Module]] = {}


def register_quantizer(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: make a quantizer available as ``name``."""

    def deco(cls: type[nn.Module]) -> type[nn.Module]:
        if name in _QUANTIZERS:
            raise ValueError(f"quantizer {name!r} registered twice")
        _QUANTIZERS[name] = cls
        cls.registered_name = name  # type: ignore[attr-defined]
        return cls

    return deco


def list_quantizers() -> list[str]:
    return sorted(_QUANTIZERS)


def get_quantizer(spec: str | nn.Module | None, **kwargs) -> nn.Module:
    """Build a quantizer from a registered name (or pass an instance through)."""
    if spec is None:
        spec = "identity"
    if isinstance(spec, nn.Module):
        return spec
    if spec not in _QUANTIZERS:
        raise BifsmnError(f"unknown quantizer {spec!r} (known: {', '.join(list_quantizers())})")
    return _QUANTIZERS[spec](**kwargs)


@register_quantizer("identity")
class Identity(nn.Module):
    """Full precision: the value passes unchanged."""

    def __init__(self, **_: object) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
