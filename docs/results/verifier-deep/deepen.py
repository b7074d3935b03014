"""Deepen an FP Deep-FSMN teacher (more FSMN blocks) without changing its function.

Session 56 (issue 13): at 10 dB the two-stage detector's misses are its verifier's; more width
in the verifier's blocks (session 28) or in its convolutional front end (session 31) was level,
and depth was never tried. This script inserts identity blocks between the verifier's own: each
new block is a freshly initialised FSMN block whose two BatchNorms that end a branch (the
memory's ``mem_bn`` and the output's ``path_bn``) have weight and bias 0, so both branches add
exactly 0 and the block passes its input through (in training and eval mode alike: a BatchNorm
with weight 0 outputs its bias whatever its statistics). Training grows those weights from 0
(the zero-gamma initialisation of residual branches); the layers behind them get gradients from
the first step.

    python docs/results/verifier-deep/deepen.py models/teacher_fbank40_pool1_noise.pt \
        runs/s56/verifier-deep-init.pt --after 1 3 5 7

``--after``: the old blocks (0-based) each followed by a new one (1 3 5 7: 8 -> 12 blocks, one
new block after every second old one). The output is a normal checkpoint with
``model.kwargs.num_layers`` set; ``bifsmn train`` starts from it with ``model.init=...
model.kwargs.num_layers=12``. The function check runs the old and new models in PyTorch (eval
mode) and the new one exported, in the engine, on seeded random input.
"""

from __future__ import annotations

import argparse
import copy
import re
import tempfile
from pathlib import Path

import numpy as np
import torch

from bifsmn.engine import Engine, export_checkpoint
from bifsmn.models import create_model
from bifsmn.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint

ZEROED = ("mem_bn.weight", "mem_bn.bias", "path_bn.0.weight", "path_bn.0.bias")


def deepen_state(ckpt: dict, after: list[int], seed: int = 0) -> tuple[dict, int]:
    """The state dict of the deepened model and its layer count: old block j keeps its weights
    under its new index; a new block follows each old block in ``after``."""
    kw = ckpt["model"]["kwargs"]
    old_layers = int(kw.get("num_layers", 8))
    if sorted(set(after)) != sorted(after) or not all(0 <= j < old_layers for j in after):
        raise SystemExit(f"--after must name distinct blocks in 0..{old_layers - 1}")
    order: list[int | None] = []  # new index -> old block, None for a new identity block
    for j in range(old_layers):
        order.append(j)
        if j in after:
            order.append(None)
    torch.manual_seed(seed)
    fresh = create_model(ckpt["model"]["name"], **{**kw, "num_layers": len(order)}).state_dict()
    old = ckpt["state_dict"]
    out = {}
    for key, value in fresh.items():
        m = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
        if m is None:
            out[key] = old[key].clone()
            continue
        src = order[int(m.group(1))]
        if src is not None:
            out[key] = old[f"blocks.{src}.{m.group(2)}"].clone()
        elif m.group(2) in ZEROED:
            out[key] = torch.zeros_like(value)
        else:
            out[key] = value.clone()
    return out, len(order)


def same_function(src: str, dst: str, layers: int) -> tuple[float, float]:
    """Max |logit difference| of ``dst`` against ``src`` on seeded random input: in PyTorch
    (eval mode) and with ``dst`` exported and run by the engine (all of its blocks)."""
    old, _ = model_from_checkpoint(src)
    new, _ = model_from_checkpoint(dst)
    old.eval()
    new.eval()
    kw = load_checkpoint(src)["model"]["kwargs"]
    x = torch.randn(16, 1, kw["n_mels"], kw["frames"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = old(x)
        diff = (ref - new(x)).abs().max().item()
    with tempfile.TemporaryDirectory() as tmp:
        bkws = export_checkpoint(dst, Path(tmp) / "deep.bkws")
        eng = Engine(bkws, blocks=layers).predict(x.numpy()) - ref.numpy()
    return diff, float(np.abs(eng).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--after", type=int, nargs="+", default=[1, 3, 5, 7])
    a = ap.parse_args()
    ckpt = load_checkpoint(a.src)
    state, layers = deepen_state(ckpt, a.after)
    new = copy.deepcopy(ckpt)
    new["model"]["kwargs"] = {**ckpt["model"]["kwargs"], "num_layers": layers}
    new["state_dict"] = state
    new["epoch"], new["metrics"] = 0, {}
    new["deepened_from"] = {"path": a.src, "after": a.after}
    Path(a.dst).parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(a.dst, new)
    diff, eng_diff = same_function(a.src, a.dst, layers)
    n_old = sum(v.numel() for k, v in ckpt["state_dict"].items() if v.is_floating_point())
    n_new = sum(v.numel() for k, v in state.items() if v.is_floating_point())
    print(f"{a.dst}: blocks {layers - len(a.after)} -> {layers}, float tensors {n_old:,} -> "
          f"{n_new:,} values, max logit difference on random input {diff:.2e} (PyTorch), "
          f"{eng_diff:.2e} (engine)")
    if max(diff, eng_diff) > 1e-3:
        raise SystemExit(f"{a.dst}: deepened model does not compute the original's logits")


if __name__ == "__main__":
    main()
