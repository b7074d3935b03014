"""Probe (session 64): a BiFSMNv2 dev student trained *from the start* with the narrow storage's
rounding injected as noise, then scored with and without that storage.

Why this exists (docs/bkws-format.md, "Precision choices"): every narrowing of a dev model's
constants flips 2-5 % of its validation predictions, so ``--storage small`` (the only storage
under issue 10's 120 KB line) passes or fails the 0.2-point rule by which way the flips fall.
Fine-tuning an already trained model through the rounding (``qat_probe.py``) or under noise of
the rounding's size (``noise_probe.py``) did not make it insensitive. What the docs name as
untried is a model trained with the narrow constants from the start. This probe is the closest
trainable form of that: the packaged recipe of ``models/bifsmnv2_a01_s46_sc12dev.pt`` (the
dev student with distillation weight 0.1, seed 0, 300 epochs, after session 46's gradient fix),
unchanged except that every training forward pass of the *student* sees, resampled each step:

* its dual-scale thresholds tau0, tau1 jittered by up to half an int8 step of their row
  (``U(-1/2, 1/2) * max|row| / 127``: plan ``tau=i8``);
* the outputs of the layers whose folded biases are stored as int8 with one scale per record
  (``bias=i8r``: conv2's ``bn2``, ``fc1``, each block's ``mem_bn``, ``hid_bn`` and ``path_bn``)
  shifted per channel by up to half a step of ``max|offset| / 127``, where ``offset`` is the
  layer's BatchNorm shift ``beta - gamma * mean / sqrt(var + eps)`` (for fc1, its bias): an
  estimate of the folded bias's peak, read from the module's current state;
* the same outputs times ``1 + U(-1, 1) * 2**-11`` (``scale=f16``).

Evaluation passes (validation, best-epoch selection) see no noise. Run with
``--resume`` semantics: an interrupted run continues from ``runs/noise-train/last.pt``.

Fixed before it ran (the rule; committed with this script, before any result): plan
``conv1=f32,tau=i8,tau2=f16,scale=f16,bias=i8r,classifier=i8`` (as noise_probe.py). The run's
``best.pt`` (the trainer's own selection on validation, as for every committed dev model) is
folded, and its float32 file and its plan file are scored once on the 643 validation clips by
the deployed PyTorch reference. Adopted (exported, checked bit for bit in the engine, committed
to models/ with a card, and offered as the size row of issue 10) only if (a) on every path the
plan file is at least its own float32 file's accuracy minus 0.2 points (the issue's rule), and
(b) the plan file's mean over the four paths is at least the mean of issue 10's bench model
``bifsmnv2_a01_sc12dev``'s float32 file (84.02 %) minus 0.2, so that a smaller file is not
bought with a weaker model. Printed beside, for reference only: the same plan on
``bifsmnv2_a01_s46_sc12dev`` (the same recipe without noise).

    python docs/results/bkws-sizes/noise_train.py train      # about 70 minutes on one core
    python docs/results/bkws-sizes/noise_train.py evaluate > docs/results/bkws-sizes/noise_train.txt
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

import bifsmn.train.trainer as trainer_mod
from bifsmn.binary.quantizers import DualScaleSign, activation_scale, scaled

RUN = Path("runs/noise-train")
DATA = "../shared/data/speech_commands_test12_v0.02"
TEACHER = "models/teacher_sc12dev.pt"
PLAN = "conv1=f32,tau=i8,tau2=f16,scale=f16,bias=i8r,classifier=i8"
PATHS = (8, 4, 2, 1)
BENCH_MEAN = 84.02  # bifsmnv2_a01_sc12dev's float32 file: 84.29 / 83.51 / 83.98 / 84.29 %
F16_REL = 2.0 ** -11
_ORIG_FORWARD = DualScaleSign.forward
_ORIG_APPLY = trainer_mod.apply_binary


def _noisy_dual_forward(self: DualScaleSign, x: torch.Tensor) -> torch.Tensor:
    """DualScaleSign.forward; in training, tau0 and tau1 jittered by half an int8 step."""
    if self.role != "input" or not self.training:
        return _ORIG_FORWARD(self, x)
    return jittered_dual_forward(self, x)


def jittered_dual_forward(self: DualScaleSign, x: torch.Tensor) -> torch.Tensor:
    """An input DualScaleSign's forward with tau0 and tau1 each moved by U(-1/2, 1/2) of
    their row's int8 step (max|row| / 127), one draw per channel and call (noise_probe.py too)."""
    th = self.threshold
    with torch.no_grad():
        step = th[:2].abs().amax(dim=1, keepdim=True) / 127.0
        jitter = (torch.rand_like(th[:2]) - 0.5) * step
    tau0 = self.per_channel(th[0] + jitter[0], x)
    tau1 = self.per_channel(th[1] + jitter[1], x)
    tau2 = self.per_channel(th[2], x)
    b1 = self._sign(x - tau0, 0)
    r = x - b1 - tau1
    s = activation_scale(r, self.kind, self.granularity)
    return b1 + scaled(self._sign(r, 1), s, self.scale_grad) - tau2


def _offset(mod: nn.Module) -> torch.Tensor:
    """The per-channel shift a module's output carries (BatchNorm: beta - gamma*mean/std)."""
    if isinstance(mod, nn.modules.batchnorm._BatchNorm):
        g = mod.weight / torch.sqrt(mod.running_var + mod.eps)
        return mod.bias - g * mod.running_mean
    return mod.bias if mod.bias is not None else torch.zeros(mod.out_features)


def _hook(axis: int):
    def hook(mod: nn.Module, inputs, out: torch.Tensor) -> torch.Tensor:
        if not mod.training:
            return out
        c = out.shape[axis]
        shape = [1] * out.dim()
        shape[axis] = c
        with torch.no_grad():
            step = _offset(mod).detach().abs().amax() / 127.0
            rel = 1.0 + (torch.rand(c, device=out.device) * 2.0 - 1.0) * F16_REL
            add = (torch.rand(c, device=out.device) - 0.5) * step
        return out * rel.view(shape) + add.view(shape)
    return hook


def _apply_binary_with_noise(model: nn.Module, spec: dict) -> nn.Module:
    model = _ORIG_APPLY(model, spec)
    if spec.get("method", "none") != "none":
        model.bn2.register_forward_hook(_hook(1))
        model.fc1.register_forward_hook(_hook(-1))
        for blk in model.blocks:
            for mod in (blk.mem_bn, blk.hid_bn, *blk.path_bn):
                mod.register_forward_hook(_hook(-1))
    return model


def train() -> int:
    from bifsmn.cli import main as cli_main

    DualScaleSign.forward = _noisy_dual_forward
    trainer_mod.apply_binary = _apply_binary_with_noise
    if (RUN / "last.pt").exists():
        return cli_main(["train", "--resume", str(RUN)])
    return cli_main(["train", "--config", "bifsmnv2", "--teacher", TEACHER, "--data", DATA,
                     "--out", str(RUN), "train.threads=1", "train.compile=true",
                     "distill.alpha=0.1"])


def evaluate() -> int:
    from bifsmn.data.frontends import feature_config_from_dict
    from bifsmn.data.sources import split_inputs
    from bifsmn.deploy import DeployedDFSMN, fold
    from bifsmn.deploy.plans import narrowed_spec, parse_plan
    from bifsmn.train.checkpoint import model_from_checkpoint

    torch.set_num_threads(1)
    plan = parse_plan(PLAN)

    def scores(path: str) -> tuple[dict, dict, dict]:
        model, meta = model_from_checkpoint(path)
        fcfg = feature_config_from_dict(meta["features"])
        xv, yv, _, _ = split_inputs(DATA, "validation", fcfg, 12, "auto", None, False)
        out = {"float32": fold(model, meta["binary"])}
        out["plan"] = narrowed_spec(out["float32"], plan)
        acc, pred = {}, {}
        with torch.no_grad():
            for name, spec in out.items():
                ref = DeployedDFSMN(spec)
                pred[name] = {b: ref(xv, b).argmax(1) for b in PATHS}
                acc[name] = {b: round(100.0 * float((pred[name][b] == yv).float().mean()), 2)
                             for b in PATHS}
        changed = {b: int((pred["float32"][b] != pred["plan"][b]).sum()) for b in PATHS}
        return acc["float32"], acc["plan"], changed

    print(f"plan {PLAN}; validation of {DATA} (643 clips), deployed PyTorch reference")
    for label, path in (("bifsmnv2_a01_s46_sc12dev (same recipe, no noise; reference only)",
                         "models/bifsmnv2_a01_s46_sc12dev.pt"),
                        ("noise-trained best.pt", str(RUN / "best.pt"))):
        f32, pl, changed = scores(path)
        print(f"{label}: float32 {f32}; plan {pl}; clips changed {changed}; plan - float32 "
              f"{ {b: round(pl[b] - f32[b], 2) for b in PATHS} }")
    mean = sum(pl.values()) / len(PATHS)
    ok_a = all(pl[b] >= f32[b] - 0.2 - 1e-9 for b in PATHS)
    ok_b = mean >= BENCH_MEAN - 0.2 - 1e-9
    print("rule (a) every path of the plan file >= its float32 file - 0.2:",
          "met" if ok_a else "not met")
    print(f"rule (b) plan file's mean {mean:.2f} >= {BENCH_MEAN} - 0.2:",
          "met" if ok_b else "not met")
    print("adopt:", "yes" if ok_a and ok_b else "no")
    return 0


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what not in ("train", "evaluate"):
        sys.exit("usage: python docs/results/bkws-sizes/noise_train.py train|evaluate")
    sys.exit(train() if what == "train" else evaluate())
