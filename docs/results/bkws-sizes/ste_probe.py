"""Probe: can the folded constants be fine-tuned *through* their storage rounding?

Why this exists (docs/bkws-format.md, "Precision choices"): storage-aware fine-tuning was the
untried route to narrow constants without changing the function. This probe trains every
constant of the ``small`` storage plan (thresholds, scales, biases, conv1, classifier; sign bits
fixed) with the rounding in the forward pass (straight-through) and a clipped straight-through
sign, distilling toward the float32 file's own logits on 512 training clips of
``models/bifsmnv2_sc12dev.pt`` (8 blocks), with Adam at a learning rate relative to each
record's RMS. It prints the distillation loss and the share of those clips whose predicted class
equals the float32 file's, before and after each epoch, for three learning rates.

Usage (from the repository root; needs the shared data, about 3 minutes on one core)::

    python docs/results/bkws-sizes/ste_probe.py > docs/results/bkws-sizes/ste_probe.txt
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bifsmn.blocks import layers_of_index, to_index
from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.sources import split_inputs
from bifsmn.deploy import DeployedDFSMN, DeploySpec, fold
from bifsmn.deploy.plans import PLANS, group_of
from bifsmn.errors import BifsmnError
from bifsmn.train.checkpoint import model_from_checkpoint


# ---------------------------------------------------------------------- fake quantization
def _f24(x: torch.Tensor) -> torch.Tensor:
    """float32 -> 24-bit float, round half to even (bifsmn.deploy.storage.round_f24)."""
    bits = x.detach().float().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    rounded = (bits + 0x7F + ((bits >> 8) & 1)) & 0xFFFFFF00
    rounded = torch.where(rounded >= 2**31, rounded - 2**32, rounded)
    return rounded.to(torch.int32).view(torch.float32)


def stored(x: torch.Tensor, dtype: str) -> torch.Tensor:
    """The value ``x`` takes in storage ``dtype``, with a straight-through gradient."""
    if dtype == "f32":
        return x
    with torch.no_grad():
        if dtype == "f16":
            v = x.half().float()
        elif dtype == "f24":
            v = _f24(x)
        else:
            rows = x.reshape(x.shape[0], -1) if dtype == "i8" else x.reshape(1, -1)
            peak = rows.abs().amax(dim=1, keepdim=True)
            scale = torch.where(peak > 0, peak / 127.0, torch.ones_like(peak))
            v = (torch.clamp(torch.round(rows / scale), -127, 127) * scale).reshape(x.shape)
    return x + (v - x).detach()


class _SignSTE(torch.autograd.Function):
    """+1 where x >= 0 else -1; gradient passed where |x| <= 1 (clipped identity)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (x.abs() <= 1).to(grad.dtype)


def _sign(x: torch.Tensor) -> torch.Tensor:
    return _SignSTE.apply(x)


def _act(z: torch.Tensor, slope: float) -> torch.Tensor:
    return torch.where(z >= 0, z, z * slope)


def _dual(v: torch.Tensor, tau0: torch.Tensor, tau1: torch.Tensor, axes: tuple[int, ...]
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(b1, b2, s)``: the dual-scale split with ``s = mean |r|`` over ``axes`` (no gradient)."""
    b1 = _sign(v - tau0)
    r = (v - b1) - tau1
    s = r.detach().abs().mean(dim=axes, keepdim=True)
    return b1, _sign(r), s


# ---------------------------------------------------------------------- trainable network
class TrainableDeployed(nn.Module):
    """A ``bifsmnv2`` deployed spec whose float constants are parameters.

    ``forward(x, blocks)`` computes the deployed function (as :class:`DeployedDFSMN`, up to
    float summation order) with every planned constant rounded to its storage dtype on the way
    in (straight-through), so training sees the function the narrow file will compute.
    """

    def __init__(self, spec: DeploySpec, plan: dict[str, str]) -> None:
        super().__init__()
        if spec.kind != "bifsmnv2":
            raise BifsmnError(f"shrink fine-tunes bifsmnv2 (dual-scale) models, not {spec.kind}")
        for name, const in spec.constants.items():
            if const.dtype not in ("f32", "bits", "i32") and group_of(name):
                raise BifsmnError(f"shrink starts from a float32 spec ({name} is {const.dtype})")
        self.spec, self.plan = spec, plan
        a = spec.arch
        self.arch = a
        self.blocks = list(spec.blocks)
        self.params = nn.ParameterDict()
        self.keys: dict[str, str] = {}
        self.fixed: dict[str, torch.Tensor] = {}
        for name, const in spec.constants.items():
            value = torch.from_numpy(np.array(const.widened()))
            if group_of(name) is not None or name == "classifier.b":
                key = name.replace(".", "__")
                self.keys[name] = key
                self.params[key] = nn.Parameter(value.float().clone())
            elif const.dtype == "bits":
                self.fixed[name] = torch.where(value, -1.0, 1.0)
            else:
                self.fixed[name] = value
        self.inside = self._conv2_inside()

    def c(self, name: str) -> torch.Tensor:
        """Constant ``name`` as the narrow file will hold it (straight-through)."""
        if name in self.keys:
            group = group_of(name)
            p = self.params[self.keys[name]]
            return stored(p, self.plan.get(group, "f32")) if group else p
        return self.fixed[name]

    def slope(self, name: str) -> float:
        return float(self.fixed[name].reshape(-1)[0])

    def _conv2_inside(self) -> torch.Tensor:
        """(H2*T, C2, C1): sum of sign(W) over the taps inside the input at each position,
        so conv2's per-position bias ``bias - scale * inside @ tau2`` stays differentiable."""
        a = self.arch
        k, pad = a.kernel, a.kernel // 2
        h1, w1, h2, t = a.n_mels // 2, a.frames // 2, a.n_mels // 4, a.frames // 4
        sg = self.fixed["conv2.bits"].reshape(a.c2, a.c1, k, k)
        out = torch.empty(h2 * t, a.c2, a.c1)
        for i2 in range(h2):
            rows = [u for u in range(k) if 0 <= 2 * i2 - pad + u < h1]
            for j2 in range(t):
                cols = [v for v in range(k) if 0 <= 2 * j2 - pad + v < w1]
                out[i2 * t + j2] = sg[:, :, rows][:, :, :, cols].sum(dim=(2, 3))
        return out

    def _conv2(self, v: torch.Tensor) -> torch.Tensor:
        a = self.arch
        k, pad = a.kernel, a.kernel // 2
        w = self.fixed["conv2.bits"].reshape(a.c2, a.c1, k, k)
        tau = self.c("conv2.tau")
        b1, b2, s = _dual(v, tau[0][None, :, None, None], tau[1][None, :, None, None],
                          (1, 2, 3))
        d = F.conv2d(b1, w, stride=2, padding=pad) + s * F.conv2d(b2, w, stride=2, padding=pad)
        h2, t = d.shape[2], d.shape[3]
        scale, bias = self.c("conv2.scale"), self.c("conv2.bias")
        t2 = self.inside @ self.c("conv2.tau2")  # (H2*T, C2)
        bp = (bias[None] - scale[None] * t2).reshape(h2, t, a.c2).permute(2, 0, 1)[None]
        y = _act(scale[None, :, None, None] * d + bp, self.slope("act2"))
        return y.reshape(v.shape[0], a.c2 * h2, t).transpose(1, 2)

    def _linear(self, name: str, x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor,
                slope: float) -> torch.Tensor:
        w = self.fixed[f"{name}.bits"]
        tau = self.c(f"{name}.tau")
        b1, b2, s = _dual(x, tau[0], tau[1], (-1,))
        return _act(scale * (b1 @ w.T + s * (b2 @ w.T)) + bias, slope)

    def _memory(self, j: int, x: torch.Tensor) -> torch.Tensor:
        a = self.arch
        pre = f"b{j}.mem"
        w = self.fixed[f"{pre}.bits"]
        tau = self.c(f"{pre}.tau")

        def levels(v: torch.Tensor) -> torch.Tensor:
            b1, b2, s = _dual(v, tau[0], tau[1], (-1,))
            return b1 + s * b2

        u, pad = levels(x), levels(x.new_zeros((1, 1, a.dim)))
        bsz, t = x.shape[0], x.shape[1]
        u = torch.cat([pad.expand(bsz, a.left, -1), u, pad.expand(bsz, a.right, -1)], 1)
        acc = sum(w[:, kk] * u[:, kk:kk + t] for kk in range(a.left + a.right + 1))
        z = self.c(f"{pre}.scale") * acc + self.c(f"{pre}.bias")
        return _act(z, self.slope(f"b{j}.act_m")) + x

    def forward(self, x: torch.Tensor, blocks: int) -> torch.Tensor:
        a = self.arch
        path = to_index(blocks, a.layers)
        k, pad = a.kernel, a.kernel // 2
        col = F.unfold(x, k, padding=pad, stride=2)  # (B, k*k, P1)
        z = torch.einsum("ck,bkp->bcp", self.c("conv1.w"), col) + self.c("conv1.b")[None, :, None]
        h1 = _act(z, self.slope("act1")).reshape(x.shape[0], a.c1, a.n_mels // 2, a.frames // 2)
        h = self._linear("fc1", self._conv2(h1), self.c("fc1.scale"), self.c("fc1.bias"),
                         self.slope("act3"))
        for j in layers_of_index(path, a.layers):
            m = self._memory(j, h)
            hid = self._linear(f"b{j}.fc_in", m, self.c(f"b{j}.fc_in.scale"),
                               self.c(f"b{j}.fc_in.bias"), self.slope(f"b{j}.act_h"))
            h = self._linear(f"b{j}.fc_out", hid, self.c(f"b{j}.fc_out.scale.p{path}"),
                             self.c(f"b{j}.fc_out.bias.p{path}"),
                             self.slope(f"b{j}.act_p.p{path}")) + m
        return h.flatten(1) @ self.c("classifier.w").T + self.c("classifier.b")

    def values(self) -> dict[str, np.ndarray]:
        """Trained float32 values of the parameters, by constant name (before rounding)."""
        return {name: self.params[key].detach().numpy().astype(np.float32).copy()
                for name, key in self.keys.items()}




def main() -> None:
    torch.set_num_threads(1)
    model, meta = model_from_checkpoint("models/bifsmnv2_sc12dev.pt")
    spec = fold(model, meta["binary"])
    feats, _, _, _ = split_inputs("../shared/data/speech_commands_test12_v0.02", "training",
                                  feature_config_from_dict(meta["features"]), 12, "auto", None,
                                  False)
    x = feats[:512]
    with torch.no_grad():
        target = DeployedDFSMN(spec)(x, 8)
    print("model models/bifsmnv2_sc12dev.pt, 8 blocks, 512 training clips, plan small; "
          "agreement = predicted class equals the float32 file's")
    for lr in (1e-5, 1e-4, 1e-3):
        torch.manual_seed(0)
        net = TrainableDeployed(spec, PLANS["small"])
        opt = torch.optim.Adam([{"params": [p], "lr": lr * float(p.detach().pow(2).mean().sqrt())}
                                for p in net.params.values()])

        def report(tag: str, net: TrainableDeployed = net, lr: float = lr) -> None:
            with torch.no_grad():
                out = net(x, 8)
                kd = F.kl_div(F.log_softmax(out, 1), F.softmax(target, 1), reduction="batchmean")
                agree = (out.argmax(1) == target.argmax(1)).float().mean()
            print(f"relative lr {lr:g} {tag}: KD loss {float(kd):.4f}, agreement "
                  f"{100 * float(agree):.2f} %", flush=True)

        report("before")
        for epoch in range(1, 7):
            order = torch.randperm(len(x))
            for i in range(0, len(x), 64):
                idx = order[i:i + 64]
                loss = F.kl_div(F.log_softmax(net(x[idx], 8), 1), F.softmax(target[idx], 1),
                                reduction="batchmean")
                opt.zero_grad()
                loss.backward()
                opt.step()
            report(f"epoch {epoch}")


if __name__ == "__main__":
    main()
