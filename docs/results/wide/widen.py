"""Widen a trained BiFSMNv2 student's FSMN blocks (hidden units x K) without changing its function.

Each block's hidden layer is copied K times: fc_in's rows, its bias and hid_bn are tiled, so
every hidden unit appears K times with the same value; fc_out's columns and its dual-scale input
thresholds are tiled too. fc_out's per-row weight scale mean|W| and the activation scale
mean|r| per token are unchanged by tiling, so fc_out's sum would grow K times: its latent
weights are divided by K (a power of two keeps them exact), which divides s_w by K and leaves
sign(W) as it was. The wide network computes the narrow one's function (up to the order of
float sums; checked below on random inputs for every path) and is a starting point for
fine-tuning: the block dropout draws different masks for the copies, which breaks their symmetry.

    python docs/results/wide/widen.py models/bifsmnv2_fbank40_120snr.pt runs/wide/init.pt --factor 2
"""

from __future__ import annotations

import argparse
import re

import torch

from bifsmn.deploy import predict, scoring
from bifsmn.train.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint


def widen_state(state: dict[str, torch.Tensor], k: int) -> dict[str, torch.Tensor]:
    """The state dict of the K-times-wider model (see the module docstring)."""
    out = {}
    for name, v in state.items():
        m = re.match(r"blocks\.\d+\.(.+)$", name)
        part = m.group(1) if m else ""
        if part in ("fc_in.weight", "fc_in.bias") or (
                part.startswith("hid_bn.") and v.dim() == 1):
            v = v.repeat(k, *([1] * (v.dim() - 1)))  # hidden units along dim 0
        elif part == "fc_out.weight":
            v = v.repeat(1, k) / k
        elif part == "fc_out.input_quantizer.threshold":
            v = v.repeat(1, k)
        out[name] = v.clone()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--factor", type=int, default=2)
    a = ap.parse_args()
    ckpt = load_checkpoint(a.src)
    kw = dict(ckpt["model"].get("kwargs", {}))
    kw["hidden"] = kw.get("hidden", 256) * a.factor
    # what describes the network carries over; the narrow model's epoch, metrics, optimizer
    # state and operating points do not describe the wide one
    wide = {k: ckpt[k] for k in ("binary", "labels", "features") if k in ckpt}
    wide["model"] = {**ckpt["model"], "kwargs": kw}
    wide["state_dict"] = widen_state(ckpt["state_dict"], a.factor)
    save_checkpoint(a.dst, wide)
    narrow, _ = model_from_checkpoint(a.src)
    widened, _ = model_from_checkpoint(a.dst)
    torch.manual_seed(0)
    x = torch.randn(64, 1, kw.get("n_mels", 40), kw.get("frames", 32)) * 3
    sn, sw = scoring(narrow), scoring(widened)
    for b in (8, 4, 2, 1):
        yn, yw = predict(sn, x, b), predict(sw, x, b)
        d = (yn - yw).abs().max().item()
        same = (yn.argmax(1) == yw.argmax(1)).float().mean()
        print(f"{b} blocks: max |logit diff| {d:.2e}, same argmax {same.item() * 100:.1f} %")
    print(f"wrote {a.dst}: hidden {kw['hidden']}")


if __name__ == "__main__":
    main()
