"""The deployed arithmetic of a binary DFSMN, in PyTorch: what a trained student computes in
eval mode, operation for operation the same float32 arithmetic as the C++ engine.

Why a second formulation: the training graph computes a binarized layer as a float matmul of
scaled signs followed by BatchNorm. Mathematically that is the XNOR-popcount form of
docs/binary-arithmetic.md, but the two round differently, and wherever a pre-activation lies
within float32 rounding of a binarization threshold the next layer sees a different sign. On the
shared dev data that happened a few hundred times per model, and flipped the predicted class of
1-2 clips in 3,964. Evaluating the model *in the deployed form* removes the ambiguity: the values
that reach each sign function are produced by the same sequence of IEEE float32 operations here
and in the engine (cpp/src/engine/engine.cc wiring the ops of cpp/src/ops/,
cpp/src/ops/binarize/quant.h), so the signs, hence the integer
popcounts, are identical, and so are the logits.

The contract, per stage (every ``+``/``*`` is one rounded float32 operation, no fused
multiply-add; the engine is compiled with ``-ffp-contract=off``):

* conv1 (full precision, BN folded): ``acc = w[0]*x[0]; acc = acc + w[k]*x[k]`` for taps k in
  (row, column) order, then ``act(acc + b)``.
* dual-scale binarizer of a value v with thresholds (tau0, tau1): ``d = v - tau0``,
  ``b1 = d >= 0 ? 1 : -1``, ``r = (v - b1) - tau1``, ``b2 = r >= 0 ? 1 : -1``; the group scale
  ``s = sum8(|r|) / n`` where ``sum8`` adds element i into partial sum ``i % 8`` in index
  order and combines ``((p0+p1)+(p2+p3))+((p4+p5)+(p6+p7))``.
* binary linear epilogue: ``d = D1 + s*D2`` (D1, D2 exact integer popcount dots),
  ``z = scale*d + bias``, ``y = act(z) [+ residual]``; conv2 subtracts its border correction
  from D1, D2 first (exact integers) and uses a per-position bias.
* FSMN memory: ``u = b1 + s*b2`` per padded frame, ``acc = 0; acc = acc + w[k]*u[t+k]`` over
  taps in order, ``act(scale*acc + bias) + x``.
* classifier (full precision): float64 dot products rounded once to float32.

Constants (folded scales and biases) are the constants of a :class:`~bifsmn.deploy.spec.
DeploySpec` (:func:`bifsmn.deploy.fold.fold`), the very arrays ``bifsmn export`` writes as
records, so both sides start from the same bits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bifsmn.binary.quantizers import sign  # +1 where x >= 0 (NaN -> -1, as the engine)
from bifsmn.blocks import layers_of_index, to_index
from bifsmn.deploy.spec import DeploySpec
from bifsmn.errors import BifsmnError, MissingPath


def sum8(x: torch.Tensor) -> torch.Tensor:
    """Sum over the last axis in the engine's fixed order (see the module docstring)."""
    n = x.shape[-1]
    full = n - n % 8
    p = x.new_zeros((*x.shape[:-1], 8))
    for i in range(0, full, 8):
        p = p + x[..., i:i + 8]
    for i in range(full, n):
        p[..., i & 7] = p[..., i & 7] + x[..., i]
    return ((p[..., 0] + p[..., 1]) + (p[..., 2] + p[..., 3])) + (
        (p[..., 4] + p[..., 5]) + (p[..., 6] + p[..., 7]))


def _act(z: torch.Tensor, slope: float) -> torch.Tensor:
    return torch.where(z >= 0, z, z * slope)


def dual_split(v: torch.Tensor, tau0: torch.Tensor, tau1: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(b1, b2, |r|)`` of the dual-scale binarizer, thresholds broadcast against ``v``."""
    b1 = sign(v - tau0)
    r = (v - b1) - tau1
    return b1, sign(r), r.abs()


class DeployedDFSMN(nn.Module):
    """Eval-only network computing a :class:`DeploySpec` (a binary model's folded constants).

    ``forward(features, blocks)`` takes (B, 1, n_mels, frames) network inputs and returns
    float32 logits of the path of ``blocks`` blocks, bit-compatible with
    ``bifsmn.engine.Engine.predict``. It runs on the CPU, as the engine does: inputs on another
    device are copied to the CPU and the logits come back on the input's device.
    """

    def __init__(self, spec: DeploySpec) -> None:
        super().__init__()
        if not spec.is_binary:
            raise BifsmnError(f"the deployed reference computes binary models, not {spec.kind}")
        self.spec = spec
        self.kind = spec.kind
        self.dual = spec.dual_scale
        a = spec.arch
        (self.classes, self.n_mels, self.frames, self.c1, self.c2, self.k, self.dim, self.hidden,
         self.layers, self.left, self.right, self.model_paths) = a.as_list()
        self.blocks = list(spec.blocks)
        # narrow constants (f16, f24, per-row i8: bifsmn.deploy.storage) are widened to the
        # float32 values the engine computes at load
        self.r = {k: torch.from_numpy(np.array(c.widened())) for k, c in spec.constants.items()}
        self.conv2_bias_pos = self._conv2_bias_pos(
            {k: c.widened() for k, c in spec.constants.items() if k.startswith("conv2.")})
        # how every group scale's sum is computed: :func:`sum8`; the ONNX exporter swaps in
        # a form with the same order that traces to few graph nodes (bifsmn.engine.onnx_export)
        self.sum8 = sum8
        # called as split_hook(record, v) with every value a dual-scale binarizer splits (the
        # thresholds' record name, e.g. ``b3.fc_in.tau``), before the split: what a probe of
        # the thresholds needs to see (docs/results/bkws-rounding); None: no call
        self.split_hook: Callable[[str, torch.Tensor], None] | None = None

    # ------------------------------------------------------------------ helpers
    def _split(self, record: str, v: torch.Tensor, tau0: torch.Tensor, tau1: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:func:`dual_split` of ``v`` with the thresholds of ``record`` (after the hook)."""
        if self.split_hook is not None:
            self.split_hook(record, v)
        return dual_split(v, tau0, tau1)

    def _signs(self, name: str) -> torch.Tensor:
        """+-1 float weights of a ``bits`` record (bit set <=> -1)."""
        return torch.where(self.r[name], -1.0, 1.0)

    def _scalar(self, name: str) -> float:
        return float(self.r[name].reshape(-1)[0])

    def _conv2_bias_pos(self, rec: dict[str, np.ndarray]) -> torch.Tensor:
        """(H2*T, C2) bias per output position: ``bias - scale * T2`` in float64, rounded once.

        ``T2[pos, o]`` sums ``sign(W[o, tap]) * tau2[channel]`` over the taps inside the input;
        the engine builds the same table at load time (``ops::conv2_tables`` in
        cpp/src/ops/conv2/conv2.cc).
        """
        k, pad = self.k, self.k // 2
        h1, w1 = self.n_mels // 2, self.frames // 2
        h2, t = self.n_mels // 4, self.frames // 4
        bias = rec["conv2.bias"].astype(np.float64)
        if self.kind != "bifsmnv2":
            return torch.from_numpy(np.tile(bias.astype(np.float32), (h2 * t, 1)))
        scale = rec["conv2.scale"].astype(np.float64)
        sg = np.where(rec["conv2.bits"], -1.0, 1.0).reshape(self.c2, self.c1, k, k)
        tau2 = rec["conv2.tau2"].astype(np.float64)
        out = np.empty((h2 * t, self.c2), np.float32)
        for i2 in range(h2):
            rows = [u for u in range(k) if 0 <= 2 * i2 - pad + u < h1]
            for j2 in range(t):
                cols = [v for v in range(k) if 0 <= 2 * j2 - pad + v < w1]
                inside = sg[:, :, rows][:, :, :, cols]  # (C2, C1, u, v)
                t2 = np.einsum("ocuv,c->o", inside, tau2)
                out[i2 * t + j2] = (bias - scale * t2).astype(np.float32)
        return torch.from_numpy(out)

    # ------------------------------------------------------------------ stages
    def _conv1(self, x: torch.Tensor) -> torch.Tensor:
        k, pad = self.k, self.k // 2
        col = F.unfold(x, k, padding=pad, stride=2)  # (B, k*k, P1), taps in (u, v) order
        w, b = self.r["conv1.w"], self.r["conv1.b"]  # (C1, k*k), (C1,)
        acc = w[None, :, 0, None] * col[:, None, 0, :]
        for tap in range(1, k * k):
            acc = acc + w[None, :, tap, None] * col[:, None, tap, :]
        z = acc + b[None, :, None]
        return _act(z, self._scalar("act1")).reshape(x.shape[0], self.c1, self.n_mels // 2,
                                                     self.frames // 2)

    def _conv2(self, v: torch.Tensor) -> torch.Tensor:
        """(B, C1, H1, W1) -> tokens (B, T, C2 * H2)."""
        bsz = v.shape[0]
        k, pad = self.k, self.k // 2
        w = self._signs("conv2.bits").reshape(self.c2, self.c1, k, k)
        if self.dual:
            tau = self.r["conv2.tau"]
            b1, b2, absr = self._split("conv2.tau", v, tau[0][None, :, None, None],
                                       tau[1][None, :, None, None])
            s = self.sum8(absr.reshape(bsz, -1)) / float(absr[0].numel())
        else:
            b1 = sign(v)
        d1 = F.conv2d(b1, w, stride=2, padding=pad)  # zero padding: exact integer sums
        d = d1
        if self.dual:
            d = d1 + s[:, None, None, None] * F.conv2d(b2, w, stride=2, padding=pad)
        h2, t = d.shape[2], d.shape[3]
        bp = self.conv2_bias_pos.reshape(h2, t, self.c2).permute(2, 0, 1)[None]
        z = self.r["conv2.scale"][None, :, None, None] * d + bp
        y = _act(z, self._scalar("act2"))  # (B, C2, H2, T)
        return y.reshape(bsz, self.c2 * h2, t).transpose(1, 2)

    def _linear(self, name: str, x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor,
                slope: float, res: torch.Tensor | None = None) -> torch.Tensor:
        w = self._signs(f"{name}.bits")  # (out, in)
        if self.dual:
            tau = self.r[f"{name}.tau"]
            b1, b2, absr = self._split(f"{name}.tau", x, tau[0], tau[1])
            s = self.sum8(absr) / float(x.shape[-1])
            d = b1 @ w.T + s[..., None] * (b2 @ w.T)
        else:
            d = sign(x) @ w.T
        y = _act(scale * d + bias, slope)
        return y if res is None else y + res

    def _memory(self, j: int, x: torch.Tensor) -> torch.Tensor:
        pre = f"b{j}.mem"
        w = self._signs(f"{pre}.bits")  # (C, taps)
        zero = x.new_zeros((1, 1, self.dim))
        levels: Callable[[torch.Tensor], torch.Tensor]
        if self.dual:
            tau = self.r[f"{pre}.tau"]

            def dual_levels(v: torch.Tensor) -> torch.Tensor:
                b1, b2, absr = self._split(f"{pre}.tau", v, tau[0], tau[1])
                return b1 + (self.sum8(absr) / float(self.dim))[..., None] * b2
            levels = dual_levels
        else:
            levels = sign
        u, pad = levels(x), levels(zero)
        bsz, t = x.shape[0], x.shape[1]
        u = torch.cat([pad.expand(bsz, self.left, -1), u, pad.expand(bsz, self.right, -1)], 1)
        acc = torch.zeros_like(x)
        for kk in range(self.left + self.right + 1):
            acc = acc + w[:, kk] * u[:, kk:kk + t]
        z = self.r[f"{pre}.scale"] * acc + self.r[f"{pre}.bias"]
        return _act(z, self._scalar(f"b{j}.act_m")) + x

    def path_index(self, blocks: int) -> int:
        """Path index of ``blocks``; :class:`MissingPath` if the spec does not include it."""
        if blocks not in self.blocks:
            raise MissingPath(f"{blocks} blocks not in this deployed model (included: "
                              f"{', '.join(map(str, self.blocks))})")
        return to_index(blocks, self.layers)

    def forward(self, x: torch.Tensor, blocks: int | None = None) -> torch.Tensor:
        """Logits (B, classes) of the path of ``blocks`` blocks (default: the most included)."""
        path = self.path_index(self.blocks[0] if blocks is None else blocks)
        device = x.device
        x = x.detach().cpu().float()
        h = self._linear("fc1", self._conv2(self._conv1(x)), self.r["fc1.scale"],
                         self.r["fc1.bias"], self._scalar("act3"))
        for j in layers_of_index(path, self.layers):
            m = self._memory(j, h)
            hid = self._linear(f"b{j}.fc_in", m, self.r[f"b{j}.fc_in.scale"],
                               self.r[f"b{j}.fc_in.bias"], self._scalar(f"b{j}.act_h"))
            h = self._linear(f"b{j}.fc_out", hid, self.r[f"b{j}.fc_out.scale.p{path}"],
                             self.r[f"b{j}.fc_out.bias.p{path}"],
                             self._scalar(f"b{j}.act_p.p{path}"), res=m)
        flat = h.flatten(1).double()
        logits = flat @ self.r["classifier.w"].double().T + self.r["classifier.b"].double()
        return logits.float().to(device)
