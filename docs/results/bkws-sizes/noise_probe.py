"""Probe (session 64): make a binary model *robust to* the narrow storage's rounding by
fine-tuning its whole training graph with that rounding's size injected as random noise, then
score the narrow file it exports.

Why this exists (docs/bkws-format.md, "Precision choices"): ``--storage small`` is the only
storage under issue 10's 120 KB line, but every narrowing of ``bifsmnv2_a01_sc12dev``'s
constants flips 2-5 % of its validation predictions, and whether a path stays within the
0.2-point rule is a matter of which way the flips fall. Training the folded constants through
their rounding (``ste_probe.py``, ``qat_probe.py``) did not help: the straight-through gradient
is no descent direction for that piecewise-constant function. This probe leaves the constants
unrounded and instead trains the network (latent weights, so the sign bits may change,
thresholds, BatchNorm affine parameters, LPB alphas) while every forward pass sees random
perturbations as large as the plan's rounding errors, so that what it learns does not depend on
where inside a rounding step a constant lies (noise injection as a robustness regulariser).

The perturbations, resampled every step, one value per channel (the plan below):

* thresholds tau0, tau1 of every dual-scale input (plan ``tau=i8``, one scale per row):
  ``+ U(-1/2, 1/2) * max|row| / 127``;
* each folded bias record (``bias=i8r``, one scale per record): the layer's normalised output
  ``+ U(-1/2, 1/2) * max|record| / 127``, the record's peak read from a fold of the current
  model at the start of each epoch (conv2 -> ``bn2``, fc1 -> its output, each block's memory,
  fc_in and per-path fc_out -> ``mem_bn``, ``hid_bn``, ``path_bn[p]``);
* each folded scale (``scale=f16``): the same outputs times ``1 + U(-1, 1) * 2**-11``.

Fixed before it ran (the rule; committed with this script, before its output): BatchNorm
running statistics frozen (the model in eval mode, gradients on), Adam at learning rate 1e-4,
batch 64, 10 epochs, seed 0, on the 3,321 un-augmented training clips; loss = cross-entropy on
labels + KL to the original float32 file's logits, averaged over the four paths. Storage plan
(fixed here, not chosen on validation): ``small`` with conv1 kept float32
(``conv1=f32,tau=i8,tau2=f16,scale=f16,bias=i8r,classifier=i8``; conv1 is 416 values, 832 bytes
more, and narrowing it alone changes the most clips per byte saved, sizes.md). After the last
epoch (no selection) the fine-tuned model's float32 file and its plan file are scored once on
the 643 validation clips by the deployed PyTorch reference (which the engine equals bit for
bit). Adopted (exported, bit-checked in the engine, added to models/) only if every path of the
plan file is at least (a) the original float32 file's accuracy minus 0.2 points (84.29 / 83.51 /
83.98 / 84.29 %) and (b) the fine-tuned float32 file's minus 0.2. The same plan applied to the
original model is printed too, for reference only. Per epoch the probe prints, on the *training*
clips, how many predictions the plan file changes against the float32 file (the quantity the
noise is meant to shrink); validation is not looked at before the end.

    python docs/results/bkws-sizes/noise_probe.py > docs/results/bkws-sizes/noise_probe.txt

About 5 minutes on one core.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bifsmn.binary.quantizers import DualScaleSign
from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.sources import split_inputs
from bifsmn.deploy import DeployedDFSMN, fold
from bifsmn.deploy.plans import narrowed_spec, parse_plan
from bifsmn.train.checkpoint import model_from_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from noise_train import jittered_dual_forward  # noqa: E402  (the same jitter as the training run)

MODEL = "models/bifsmnv2_a01_sc12dev.pt"
DATA = "../shared/data/speech_commands_test12_v0.02"
PATHS = (8, 4, 2, 1)
PATH_INDEX = {8: 0, 4: 1, 2: 2, 1: 3}
FLOAT_ACC = {8: 84.29, 4: 83.51, 2: 83.98, 1: 84.29}  # sizes.md, the original float32 file
PLAN = "conv1=f32,tau=i8,tau2=f16,scale=f16,bias=i8r,classifier=i8"
LR, BATCH, EPOCHS, SEED = 1e-4, 64, 10, 0
F16_REL = 2.0 ** -11

NOISE = {"on": False}


def _noisy_dual_forward(self: DualScaleSign, x: torch.Tensor) -> torch.Tensor:
    """DualScaleSign.forward with tau0, tau1 jittered by half an int8 step (input role)."""
    if self.role != "input" or not NOISE["on"]:
        return _ORIG_FORWARD(self, x)
    return jittered_dual_forward(self, x)


_ORIG_FORWARD = DualScaleSign.forward


class OutputNoise:
    """Forward hook: per-channel bias noise of one int8 step of the record, and f16 scale noise."""

    def __init__(self, axis: int) -> None:
        self.axis, self.step = axis, 0.0

    def __call__(self, module, inputs, out: torch.Tensor) -> torch.Tensor:
        if not NOISE["on"]:
            return out
        c = out.shape[self.axis]
        shape = [1] * out.dim()
        shape[self.axis] = c
        with torch.no_grad():
            rel = 1.0 + (torch.rand(c) * 2.0 - 1.0) * F16_REL
            add = (torch.rand(c) - 0.5) * self.step
        return out * rel.view(shape) + add.view(shape)


def install(model) -> dict[str, OutputNoise]:
    """Hooks on the modules whose outputs carry each folded bias record; name -> hook."""
    hooks = {"conv2.bias": (model.bn2, 1), "fc1.bias": (model.fc1, -1)}
    for j, blk in enumerate(model.blocks):
        hooks[f"b{j}.mem.bias"] = (blk.mem_bn, -1)
        hooks[f"b{j}.fc_in.bias"] = (blk.hid_bn, -1)
        for q, bn in enumerate(blk.path_bn):
            hooks[f"b{j}.fc_out.bias.p{q}"] = (bn, -1)
    out = {}
    for name, (mod, axis) in hooks.items():
        hook = OutputNoise(axis)
        mod.register_forward_hook(hook)
        out[name] = hook
    return out


def set_steps(model, binary: dict, hooks: dict[str, OutputNoise]) -> None:
    """Each hook's step: max|record| / 127 of the current model's fold."""
    spec = fold(model, binary)
    for name, hook in hooks.items():
        const = spec.constants.get(name)  # a block outside a path has no record for it
        hook.step = 0.0 if const is None else float(np.abs(np.asarray(const.value)).max()) / 127.0


def logits(spec, x: torch.Tensor) -> dict[int, torch.Tensor]:
    ref = DeployedDFSMN(spec)
    with torch.no_grad():
        return {b: ref(x, b) for b in PATHS}


def accuracy(spec, x: torch.Tensor, y: torch.Tensor) -> dict[int, float]:
    out = logits(spec, x)
    return {b: round(100.0 * float((out[b].argmax(1) == y).float().mean()), 2) for b in PATHS}


def changed(spec_a, spec_b, x: torch.Tensor) -> dict[int, int]:
    a, b = logits(spec_a, x), logits(spec_b, x)
    return {p: int((a[p].argmax(1) != b[p].argmax(1)).sum()) for p in PATHS}


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    model, meta = model_from_checkpoint(MODEL)
    fcfg = feature_config_from_dict(meta["features"])
    xt, yt, _, _ = split_inputs(DATA, "training", fcfg, 12, "auto", None, False)
    xv, yv, _, _ = split_inputs(DATA, "validation", fcfg, 12, "auto", None, False)
    plan = parse_plan(PLAN)
    print(f"model {MODEL}, plan {PLAN}, {len(xt)} training clips, {len(xv)} validation clips; "
          f"lr {LR:g}, batch {BATCH}, {EPOCHS} epochs, seed {SEED}", flush=True)
    spec0 = fold(model, meta["binary"])
    target = logits(spec0, xt)  # the original float32 file's logits
    print("original, training clips changed by the plan:",
          changed(spec0, narrowed_spec(spec0, plan), xt), flush=True)
    DualScaleSign.forward = _noisy_dual_forward
    hooks = install(model)
    model.eval()  # BatchNorm running statistics frozen; gradients still flow
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    for epoch in range(1, EPOCHS + 1):
        set_steps(model, meta["binary"], hooks)
        NOISE["on"] = True
        t0, total, steps = time.time(), 0.0, 0
        order = torch.randperm(len(xt))
        for i in range(0, len(xt), BATCH):
            idx = order[i:i + BATCH]
            outs = model(xt[idx], paths=[PATH_INDEX[b] for b in PATHS])
            loss = torch.zeros(())
            for b, (out, _) in zip(PATHS, outs, strict=True):
                loss = loss + F.cross_entropy(out, yt[idx]) + F.kl_div(
                    F.log_softmax(out, 1), F.softmax(target[b][idx], 1), reduction="batchmean")
            loss = loss / len(PATHS)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, steps = total + float(loss), steps + 1
        NOISE["on"] = False
        spec = fold(model, meta["binary"])
        print(f"epoch {epoch}/{EPOCHS}: mean loss {total / steps:.4f} ({time.time() - t0:.0f} s); "
              f"training clips changed by the plan: {changed(spec, narrowed_spec(spec, plan), xt)}",
              flush=True)
    spec = fold(model, meta["binary"])
    print("original float32 file, validation:", accuracy(spec0, xv, yv), "(sizes.md:", FLOAT_ACC,
          ")")
    print("original with the plan (reference only), validation:",
          accuracy(narrowed_spec(spec0, plan), xv, yv))
    ft_float = accuracy(spec, xv, yv)
    ft_plan = accuracy(narrowed_spec(spec, plan), xv, yv)
    print("fine-tuned float32 file, validation:", ft_float)
    print("fine-tuned with the plan, validation:", ft_plan,
          "clips changed against its float32 file:", changed(spec, narrowed_spec(spec, plan), xv))
    ok_a = all(ft_plan[b] >= FLOAT_ACC[b] - 0.2 - 1e-9 for b in PATHS)
    ok_b = all(ft_plan[b] >= ft_float[b] - 0.2 - 1e-9 for b in PATHS)
    print("rule (a) every path >= original float32 - 0.2:", "met" if ok_a else "not met")
    print("rule (b) every path >= fine-tuned float32 - 0.2:", "met" if ok_b else "not met")
    if ok_a and ok_b:
        out = "runs/noise-probe/bifsmnv2_a01_noise_sc12dev.pt"
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model": model.state_dict()}, out)
        print("state dict saved to", out)


if __name__ == "__main__":
    main()
