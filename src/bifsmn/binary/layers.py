"""Layers whose input and weight pass through named quantizers before the float op.

With the ``identity`` quantizers (the default) they are plain full-precision layers, which is how
the teacher uses them; :func:`bifsmn.binary.convert.binarize` swaps the quantizers in place, so
a student keeps the teacher's module names and loads its checkpoint directly.

The sequence models use a (batch, time, channel) layout: pointwise convolutions become
``QuantLinear`` over the channel axis (a quick probe halved the training step time against
``Conv1d`` in (B, C, T)), and the FSMN memory is ``QuantDepthwiseTime``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bifsmn.binary.registry import get_quantizer


class QuantMixin:
    """Holds ``input_quantizer`` / ``weight_quantizer`` and rebuilds them by name."""

    in_channels: int
    out_channels: int
    kind: str = "linear"  # linear | pointwise | depthwise | conv2d: picks reference scale axes
    input_channel_dim: int = -1
    input_quantizer: nn.Module
    weight_quantizer: nn.Module
    weight: torch.Tensor  # set by the torch layer class it is mixed with

    def set_quantizers(self, input_quantizer: str | nn.Module | None,
                       weight_quantizer: str | nn.Module | None, **kwargs: object) -> None:
        self.input_quantizer = get_quantizer(
            input_quantizer, channels=self.in_channels, channel_dim=self.input_channel_dim,
            role="input", kind=self.kind, **kwargs)
        self.weight_quantizer = get_quantizer(
            weight_quantizer, channels=self.out_channels, channel_dim=0, role="weight",
            kind=self.kind, **kwargs)

    def quantizer_names(self) -> tuple[str, str]:
        return (getattr(self.input_quantizer, "registered_name", "custom"),
                getattr(self.weight_quantizer, "registered_name", "custom"))


class QuantLinear(QuantMixin, nn.Linear):
    """``nn.Linear`` over the last axis with quantized input and weight."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 input_quantizer: str | None = None, weight_quantizer: str | None = None,
                 kind: str = "linear") -> None:
        nn.Linear.__init__(self, in_features, out_features, bias)
        self.in_channels, self.out_channels = in_features, out_features
        self.kind = kind  # "pointwise" for the FSMN 1x1 convs written as Linear
        self.set_quantizers(input_quantizer, weight_quantizer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.input_quantizer(x), self.weight_quantizer(self.weight), self.bias)


class QuantConv2d(QuantMixin, nn.Conv2d):
    """``nn.Conv2d`` with quantized input (padding added after quantization: true zeros)."""

    input_channel_dim = 1
    kind = "conv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True, input_quantizer: str | None = None,
                 weight_quantizer: str | None = None) -> None:
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding,
                           bias=bias)
        self.set_quantizers(input_quantizer, weight_quantizer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.input_quantizer(x), self.weight_quantizer(self.weight),
                                  self.bias)


class QuantDepthwiseTime(QuantMixin, nn.Module):
    """FSMN memory: a depthwise convolution along time on (B, T, C) input.

    ``y[t, c] = b[c] + sum_k w[c, k] * x_pad[t + k, c]`` with ``left`` look-back and ``right``
    look-ahead frames of zero padding. Padding happens *before* the input quantizer, as in the
    released reference code, so padded frames are quantized like real ones.
    """

    kind = "depthwise"

    def __init__(self, channels: int, left: int = 2, right: int = 2, bias: bool = True,
                 input_quantizer: str | None = None, weight_quantizer: str | None = None) -> None:
        super().__init__()
        self.in_channels = self.out_channels = channels
        self.left, self.right = left, right
        k = left + right + 1
        self.weight = nn.Parameter(torch.empty(channels, 1, k))
        self.bias = nn.Parameter(torch.empty(channels)) if bias else None
        bound = 1.0 / math.sqrt(k)  # PyTorch's Conv1d default init for groups == channels
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)
        self.set_quantizers(input_quantizer, weight_quantizer)

    @property
    def kernel_size(self) -> int:
        return self.left + self.right + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        xp = self.input_quantizer(F.pad(x, (0, 0, self.left, self.right)))
        w = self.weight_quantizer(self.weight)[:, 0, :]  # (C, K)
        out = xp[:, 0:t, :] * w[:, 0]
        for k in range(1, self.kernel_size):
            out = out + xp[:, k : k + t, :] * w[:, k]
        return out if self.bias is None else out + self.bias
