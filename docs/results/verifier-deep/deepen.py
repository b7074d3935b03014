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
mode) and the new one exported, in the engine, on seeded random input (session 28's
``same_function``, docs/results/verifier-wide/widen.py).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch

from bifsmn.models import create_model
from bifsmn.train.checkpoint import load_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "verifier-wide"))
from widen import save_grown  # noqa: E402  (session 28's check, shared)

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--after", type=int, nargs="+", default=[1, 3, 5, 7])
    a = ap.parse_args()
    ckpt = load_checkpoint(a.src)
    state, layers = deepen_state(ckpt, a.after)
    save_grown(a.src, a.dst, ckpt, {"num_layers": layers}, state,
               {"path": a.src, "after": a.after},
               f"blocks {layers - len(a.after)} -> {layers}", verb="deepened")


if __name__ == "__main__":
    main()
