"""Widen an FP Deep-FSMN teacher's blocks (hidden units) without changing its function.

Session 28 (issue 13): at 10 dB the two-stage detector's misses are its verifier's, and ten more
epochs of noise on the same verifier stopped helping (docs/results/verifier-noise, second step).
This script gives the verifier more capacity where it is cheapest to add: each block's hidden
layer (fc_in -> BatchNorm -> ReLU -> dropout -> fc_out). Every hidden unit is copied ``factor``
times (fc_in rows and the hidden BatchNorm duplicated, fc_out columns divided by ``factor``), so
the widened model computes the same logits as the original (checked here, eval mode, in PyTorch
and in the engine); training
breaks the copies' symmetry through the teacher's dropout, which masks each copy separately
(Net2WiderNet, Chen et al. 2016).

    python docs/results/verifier-wide/widen.py models/teacher_fbank40_pool1_noise.pt \
        runs/s28/verifier-wide-init.pt --factor 2

The output is a normal checkpoint with ``model.kwargs.hidden`` set; ``bifsmn train`` starts from
it with ``model.init=... model.kwargs.hidden=512``.
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
from bifsmn.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint


def widen_state(state: dict[str, torch.Tensor], factor: int) -> dict[str, torch.Tensor]:
    """The state dict with every block's hidden units repeated ``factor`` times."""
    out = {}
    for key, value in state.items():
        m = re.fullmatch(r"blocks\.\d+\.(fc_in\.(weight|bias)|hid_bn\.(weight|bias|running_mean"
                         r"|running_var)|fc_out\.weight)", key)
        if m is None:
            out[key] = value.clone()
        elif key.endswith("fc_out.weight"):  # (dim, hidden): each copy carries 1/factor
            out[key] = value.repeat(1, factor) / factor
        else:  # (hidden, ...) rows
            out[key] = value.repeat(factor, *([1] * (value.dim() - 1)))
    return out


def same_function(src: str, dst: str) -> tuple[float, float, int, int]:
    """Max |logit difference| between checkpoints ``src`` and ``dst`` on seeded random input, in
    PyTorch (eval mode) and with ``dst`` exported and run by the engine, plus both parameter
    counts. Why: a widening step must start training from exactly the original's function
    (also used by docs/results/verifier-front/widen_front.py)."""
    old, _ = model_from_checkpoint(src)
    wide, _ = model_from_checkpoint(dst)
    old.eval()
    wide.eval()
    kw = load_checkpoint(src)["model"]["kwargs"]
    x = torch.randn(16, 1, kw["n_mels"], kw["frames"], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = old(x)
        diff = (ref - wide(x)).abs().max().item()
    with tempfile.TemporaryDirectory() as tmp:  # the engine runs the widened file alike
        bkws = export_checkpoint(dst, Path(tmp) / "wide.bkws")
        eng = Engine(bkws).predict(x.numpy()) - ref.numpy()  # all of its blocks
    n_old = sum(p.numel() for p in old.parameters())
    n_new = sum(p.numel() for p in wide.parameters())
    return diff, float(np.abs(eng).max()), n_old, n_new


def save_grown(src: str, dst: str, ckpt: dict, kwargs: dict, state: dict, grown_from: dict,
               change: str, verb: str = "widened") -> None:
    """Write ``ckpt`` with new model ``kwargs`` and ``state`` to ``dst`` as a fresh checkpoint
    (epoch 0, no metrics, ``grown_from`` under ``<verb>_from``), check it computes ``src``'s
    logits (:func:`same_function`) and print one line naming ``change``. Shared by this script,
    docs/results/verifier-front/widen_front.py and docs/results/verifier-deep/deepen.py."""
    new = copy.deepcopy(ckpt)
    new["model"]["kwargs"] = {**ckpt["model"]["kwargs"], **kwargs}
    new["state_dict"] = state
    new["epoch"], new["metrics"] = 0, {}
    new[f"{verb}_from"] = grown_from
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(dst, new)
    diff, eng_diff, n_old, n_new = same_function(src, dst)
    print(f"{dst}: {change}, parameters {n_old:,} -> {n_new:,}, max logit difference on random "
          f"input {diff:.2e} (PyTorch), {eng_diff:.2e} (engine)")
    if max(diff, eng_diff) > 1e-3:
        raise SystemExit(f"{dst}: {verb} model does not compute the original's logits")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--factor", type=int, default=2)
    a = ap.parse_args()
    ckpt = load_checkpoint(a.src)
    hidden = ckpt["state_dict"]["blocks.0.fc_in.weight"].shape[0]
    save_grown(a.src, a.dst, ckpt, {"hidden": hidden * a.factor},
               widen_state(ckpt["state_dict"], a.factor), {"path": a.src, "factor": a.factor},
               f"hidden {hidden} -> {hidden * a.factor}")


if __name__ == "__main__":
    main()
