"""Binarizers registered by name: the paper's methods and the baselines it compares with.

Each quantizer maps a tensor to (scaled) signs in the forward pass and defines its own surrogate
gradient. The same name serves as input quantizer (``role="input"``) and weight quantizer
(``role="weight"``); what differs per role is the scale:

* weights: one scale per output channel, ``mean |W|`` over every other axis. So *every* weight of
  a binarized layer is 1 bit and ``W_hat x = s_w[o] * (sign(W) x)``: the scale leaves the XNOR-
  popcount reduction. (The reference code takes the mean over the last axis only, which for the
  1x1 convs is ``|W|`` itself: no binarization at all (docs/methods.md, "Granularity").
  ``granularity="reference"`` reproduces that.)
* activations: where a method has an activation scale, it is shared by every element of one
  reduction: per token (mean over channels) for (B, T, C) inputs, per sample (mean over C, H, W)
  for 2-D convolution inputs. Again the scale factors out of the popcount. With
  ``granularity="reference"`` the reference code's axes are used instead (per channel over time
  for 1x1 and depthwise convs, per token for fc1, per (channel, row) for conv2d); see
  docs/binary-arithmetic.md.

Sign convention: ``sign(0) = +1`` everywhere, so a binarized value is always one of two levels and
the bit-packing rule of the engine (bit 1 <=> negative) is exact.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bifsmn.binary.registry import register_quantizer

# --------------------------------------------------------------------------- sign functions


def sign(x: torch.Tensor) -> torch.Tensor:
    """+1 for x >= 0, -1 otherwise (never 0)."""
    return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)


class _SignSurrogate(torch.autograd.Function):
    """sign forward; backward multiplies the incoming gradient by ``derivative(x)``, the
    method's surrogate for the derivative of sign."""

    @staticmethod
    def forward(ctx, x, derivative: Callable[[torch.Tensor], torch.Tensor]):
        ctx.save_for_backward(x)
        ctx.derivative = derivative
        return sign(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ctx.derivative(x), None


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """BNN's clipped straight-through estimator: gradient passed where |x| <= 1."""
    return _SignSurrogate.apply(x, lambda v: (v.abs() <= 1).to(v.dtype))


def sign_approx(x: torch.Tensor) -> torch.Tensor:
    """Bi-Real's piecewise-polynomial derivative ``max(0, 2 - 2|x|)``."""
    return _SignSurrogate.apply(x, lambda v: torch.clamp(2 - 2 * v.abs(), min=0))


class _SignEDE(torch.autograd.Function):
    """sign forward; IR-Net's error-decay estimator ``k * t * (1 - tanh(t x)^2)`` backward.

    ``tk`` is a tensor ``[t, k]`` rather than two Python floats: t changes every epoch, and
    under ``torch.compile`` a float would be a constant of the compiled graph (recompiled each
    epoch; with a closure over it, compilation fails outright).
    """

    @staticmethod
    def forward(ctx, x, tk):
        ctx.save_for_backward(x, tk)
        return sign(x)

    @staticmethod
    def backward(ctx, g):
        x, tk = ctx.saved_tensors
        t, k = tk[0], tk[1]
        return g * (k * t * (1 - torch.tanh(t * x) ** 2)), None


def sign_ede(x: torch.Tensor, t: float | torch.Tensor, k: float | None = None) -> torch.Tensor:
    """IR-Net's error-decay estimator, t annealed 0.1 -> 10; ``t`` may be a tensor ``[t, k]``."""
    tk = t if isinstance(t, torch.Tensor) else x.new_tensor([t, k])
    return _SignEDE.apply(x, tk.to(x.dtype))


class _SignLPB(torch.autograd.Function):
    """Learning Propagation Binarizer: ``sign(alpha * u)`` with a learnable alpha.

    Forward it is ``sign(u)`` (alpha > 0); backward the straight-through window has width
    ``1/alpha`` and gain ``alpha``: d/du = alpha * 1[|alpha u| <= 1], d/dalpha = u * 1[...].
    So alpha learns how far gradients propagate through each binarizer (docs/methods.md,
    "Binarization methods").
    """

    @staticmethod
    def forward(ctx, u, alpha):
        ctx.save_for_backward(u, alpha)
        return sign(u)

    @staticmethod
    def backward(ctx, g):
        u, alpha = ctx.saved_tensors
        gi = torch.where((alpha * u).abs() <= 1, g, 0.0)  # gradient inside the window
        return gi * alpha, (gi * u).sum().reshape(alpha.shape)


class _ScaleForwardOnly(torch.autograd.Function):
    """``b * scale`` forward; backward passes the gradient to ``b`` unscaled.

    Why: the paper's binarizers (LPB, dual-scale, BiFSMN's Vanilla) apply their scales s and
    s_w to the forward value only; the straight-through gradient of the sign is not multiplied
    by them (docs/methods.md, "Gradients and scales"). A plain ``sign(x) * s`` would multiply
    the gradient by s (~0.02 for weights: a 35-50x smaller step under SGD). The forward product
    is the same single float multiplication as ``b * scale``, so values do not change.
    """

    @staticmethod
    def forward(ctx, b, scale):
        ctx.shape = b.shape
        return b * scale

    @staticmethod
    def backward(ctx, g):
        # a scale that broadcast b to a larger shape: b's gradient sums over the new axes
        return (g if g.shape == ctx.shape else g.sum_to_size(ctx.shape)), None


def scaled(b: torch.Tensor, scale: torch.Tensor, scale_grad: bool = False) -> torch.Tensor:
    """``b * scale`` (``scale`` has no gradient); the gradient reaches ``b`` unscaled unless
    ``scale_grad`` (bifsmn before session 46: multiplied by the scale)."""
    return b * scale if scale_grad else _ScaleForwardOnly.apply(b, scale)


# --------------------------------------------------------------------------- scale helpers

REDUCTION_AXES_REFERENCE = {
    # layer kind -> axes of the activation scale in the reference code, in our layouts
    "linear": (-1,),  # fc1: per token over features
    "pointwise": (1,),  # Conv1d k=1 on (B, C, T): per channel over time
    "depthwise": (1,),  # memory conv: per channel over (padded) time
    "conv2d": (-1,),  # per (channel, mel row) over time
}


def activation_scale(r: torch.Tensor, kind: str, granularity: str) -> torch.Tensor:
    """Mean |r| over the reduction that the engine can factor out (no gradient)."""
    with torch.no_grad():
        if granularity == "reference":
            return r.abs().mean(dim=REDUCTION_AXES_REFERENCE[kind], keepdim=True)
        if r.dim() == 4:  # conv2d input (B, C, H, W): per sample
            return r.abs().mean(dim=(1, 2, 3), keepdim=True)
        return r.abs().mean(dim=-1, keepdim=True)  # (B, T, C): per token


def weight_scale(w: torch.Tensor, kind: str, granularity: str) -> torch.Tensor:
    """Mean |W| per output channel (or the reference's last-axis mean), no gradient."""
    with torch.no_grad():
        if granularity == "reference":
            if kind == "pointwise":
                return w.abs()  # mean over a kernel axis of length 1
            return w.abs().mean(dim=-1, keepdim=True)
        return w.abs().mean(dim=tuple(range(1, w.dim())), keepdim=True)


def _channel_shape(channels: int, channel_dim: int, ndim: int) -> list[int]:
    shape = [1] * ndim
    shape[channel_dim] = channels
    return shape


class Quantizer(nn.Module):
    """Common constructor: every quantizer knows its role, layer kind and scale granularity."""

    def __init__(self, channels: int = 1, channel_dim: int = -1, role: str = "input",
                 kind: str = "linear", granularity: str = "channel", scale_grad: bool = False,
                 **_: object) -> None:
        super().__init__()
        if granularity not in ("channel", "reference"):
            raise ValueError(f"granularity must be 'channel' or 'reference', not {granularity!r}")
        # a typo in either silently took the other role's code path (or failed in forward)
        if role not in ("input", "weight"):
            raise ValueError(f"role must be 'input' or 'weight', not {role!r}")
        if kind not in REDUCTION_AXES_REFERENCE:
            raise ValueError(f"kind must be one of {', '.join(REDUCTION_AXES_REFERENCE)}, "
                             f"not {kind!r}")
        if not isinstance(scale_grad, bool):
            raise ValueError(f"scale_grad must be true or false, not {scale_grad!r}")
        self.channels, self.channel_dim = channels, channel_dim
        self.role, self.kind, self.granularity = role, kind, granularity
        # the paper's binarizers (bifsmn_v1, lpb, dual_scale) keep their scales out of the
        # backward pass; scale_grad=True multiplies the gradient by them, as bifsmn did before
        # session 46 (the committed sc12dev and fbank40 students were trained so)
        self.scale_grad = scale_grad

    def per_channel(self, p: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """View a (channels,) parameter so it broadcasts along ``channel_dim`` of ``x``."""
        return p.view(_channel_shape(self.channels, self.channel_dim, x.dim()))

    def extra_repr(self) -> str:
        grad = ", scale_grad=True" if self.scale_grad else ""
        return f"role={self.role}, kind={self.kind}, granularity={self.granularity}{grad}"


# --------------------------------------------------------------------------- quantizers


@register_quantizer("ste_sign")
class SteSign(Quantizer):
    """BNN (Hubara et al.): plain sign, clipped straight-through gradient, no scales."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return sign_ste(x)


@register_quantizer("xnor")
class XnorSign(Quantizer):
    """XNOR-Net: sign times mean |x| (per output channel for weights, per reduction for inputs)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.role == "weight":
            return sign_ste(x) * weight_scale(x, self.kind, self.granularity)
        return sign_ste(x) * activation_scale(x, self.kind, self.granularity)


@register_quantizer("approx_sign")
class ApproxSign(Quantizer):
    """Bi-Real Net: sign with the piecewise-polynomial gradient; weights scaled like XNOR."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.role == "weight":
            return sign_approx(x) * weight_scale(x, self.kind, self.granularity)
        return sign_approx(x)


@register_quantizer("ir_net")
class IRNetSign(Quantizer):
    """IR-Net: balanced + standardized weights with a power-of-two scale, EDE gradient.

    ``set_progress(f)`` (f = fraction of training done, called by the trainer every epoch)
    anneals the estimator from a smooth identity-like gradient (t = 0.1) to a sharp one (t = 10).
    """

    tk: torch.Tensor  # buffer, registered in __init__

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.t, self.k = 0.1, 10.0
        # the same two numbers as a tensor the (possibly compiled) forward reads; not saved
        self.register_buffer("tk", torch.tensor([self.t, self.k]), persistent=False)

    def set_progress(self, frac: float) -> None:
        self.t = 0.1 * 10 ** (frac * math.log10(10 / 0.1))
        self.k = max(1.0 / self.t, 1.0)
        self.tk.copy_(torch.tensor([self.t, self.k]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.role == "weight":
            axes = tuple(range(1, x.dim()))
            bw = x - x.mean(dim=axes, keepdim=True)
            bw = bw / (bw.std(dim=axes, keepdim=True) + 1e-8)
            with torch.no_grad():
                scale = 2 ** torch.round(torch.log2(weight_scale(bw, self.kind,
                                                                 self.granularity) + 1e-12))
            return sign_ede(bw, self.tk) * scale
        return sign_ede(x, self.tk)


@register_quantizer("react")
class ReActSign(Quantizer):
    """ReActNet RSign: sign(x - beta) with a learnable per-channel threshold beta (inputs);
    weights as XNOR. RPReLU replaces PReLU in the model (see bifsmn.binary.methods)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        if self.role == "input":
            self.threshold = nn.Parameter(torch.zeros(self.channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.role == "weight":
            return sign_approx(x) * weight_scale(x, self.kind, self.granularity)
        return sign_approx(x - self.per_channel(self.threshold, x))


@register_quantizer("bifsmn_v1")
class VanillaSign(Quantizer):
    """BiFSMN's "Vanilla" binarizer (docs/methods.md): clipped-STE sign of inputs; weights
    centred by their global mean, then sign times mean |W'|."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.role == "weight":
            if self.kind in ("pointwise", "depthwise", "conv2d"):
                x = x - x.mean()
            return scaled(sign_ste(x), weight_scale(x, self.kind, self.granularity),
                          self.scale_grad)
        return sign_ste(x)


@register_quantizer("lpb")
class LPBSign(Quantizer):
    """Learning Propagation Binarizer, single scale.

    Inputs: ``sign(alpha * (x - tau))`` with a learnable per-input-channel threshold ``tau``.
    Weights: ``s_w * sign(alpha * W)``. ``alpha`` (init 1) shapes the backward pass only.
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.alpha = nn.Parameter(torch.ones(1))
        if self.role == "input":
            self.threshold = nn.Parameter(torch.rand(self.channels) * 1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.role == "weight":
            return scaled(_SignLPB.apply(x, self.alpha),
                          weight_scale(x, self.kind, self.granularity), self.scale_grad)
        return _SignLPB.apply(x - self.per_channel(self.threshold, x), self.alpha)


@register_quantizer("dual_scale")
class DualScaleSign(Quantizer):
    """BiFSMNv2's dual-scale activation binarizer with LPB gradients (docs/methods.md,
    docs/binary-arithmetic.md).

    ``b1 = sign(x - tau0)``; ``r = x - b1 - tau1``; ``s = mean|r|`` over the reduction (no grad);
    ``x_hat = b1 + s * sign(r) - tau2``. Per element one of four levels ``{+-1 +- s} - tau2``:
    two 1-bit tensors and one scale that factors out, so a layer costs two XNOR-popcount GEMMs.
    ``tau2`` only shifts the input and folds into the layer bias at inference.
    ``ste=True`` replaces the learnable-alpha estimator by BNN's clipped STE (ablation).
    As a weight quantizer it behaves like ``lpb`` (with ``ste``: clipped-STE signs times
    ``s_w``). Neither s nor s_w enters the backward pass (:func:`scaled`).
    """

    def __init__(self, ste: bool = False, **kw: Any) -> None:
        super().__init__(**kw)
        self.ste = bool(ste)
        if not self.ste:  # one alpha per sign: b1 and b2 (inputs), sign(W) (weights)
            self.alpha = nn.Parameter(torch.ones(2 if self.role == "input" else 1))
        if self.role == "input":
            self.threshold = nn.Parameter(torch.rand(3, self.channels) * 1e-3)

    def _sign(self, u: torch.Tensor, i: int = 0) -> torch.Tensor:
        return sign_ste(u) if self.ste else _SignLPB.apply(u, self.alpha[i:i + 1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.role == "weight":
            return scaled(self._sign(x), weight_scale(x, self.kind, self.granularity),
                          self.scale_grad)
        tau0, tau1, tau2 = (self.per_channel(self.threshold[i], x) for i in range(3))
        b1 = self._sign(x - tau0, 0)
        r = x - b1 - tau1
        s = activation_scale(r, self.kind, self.granularity)
        return b1 + scaled(self._sign(r, 1), s, self.scale_grad) - tau2
