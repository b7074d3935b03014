"""Widen an FP Deep-FSMN teacher's convolutional front end without changing its function.

Session 31 (issue 13): the two-stage detector's 10-dB misses are its verifier's, and its blocks'
width (session 28, docs/results/verifier-wide) was not what held it back at 1 FA/h. The front end
that turns the 40 x 96 fbank40 image into tokens is narrow: conv1 has 16 channels, conv2 32. This
script doubles both (factor 2) so that the verifier can learn more spectro-temporal patterns in
noise, starting from the bundled verifier's function:

* each new conv1 / conv2 output channel is a copy of an existing one with Gaussian noise of
  ``noise`` times that filter's standard deviation (its BatchNorm copied), so the new channels
  start as useful, distinct features;
* every weight that *reads* a new channel is zero (conv2's columns for new conv1 channels, fc1's
  columns for new conv2 channels), so the widened model computes exactly the original's logits
  (checked here, eval mode, in PyTorch and in the engine). Training moves those zero weights
  first (their gradients are not zero: the new channels are active), then the new filters.

Unlike duplicating units (Net2WiderNet, widen.py of session 28), this needs no dropout to break
the copies' symmetry: the front end has none.

    python docs/results/verifier-front/widen_front.py models/teacher_fbank40_pool1_noise.pt \
        runs/s31/verifier-front-init.pt --factor 2

The output is a normal checkpoint with ``model.kwargs.frontend_channels`` set; ``bifsmn train``
starts from it with ``model.init=... model.kwargs.frontend_channels=32``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from bifsmn.train.checkpoint import load_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "verifier-wide"))
from widen import save_grown  # noqa: E402  (session 28's check, shared)

BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def _noisy_copies(w: torch.Tensor, factor: int, noise: float, gen: torch.Generator
                  ) -> torch.Tensor:
    """Rows of ``w`` repeated ``factor`` times, each copy after the first with noise added."""
    out = [w]
    for _ in range(factor - 1):
        std = w.flatten(1).std(dim=1).clamp_min(1e-8).view(-1, *([1] * (w.dim() - 1)))
        out.append(w + noise * std * torch.randn(w.shape, generator=gen))
    return torch.cat(out, 0)


def widen_front(state: dict[str, torch.Tensor], factor: int, n_mels: int, noise: float,
                seed: int = 0) -> dict[str, torch.Tensor]:
    """The state dict with conv1's and conv2's output channels multiplied by ``factor``."""
    gen = torch.Generator().manual_seed(seed)
    out = {k: v.clone() for k, v in state.items()}
    c1, c2 = state["conv1.weight"].shape[0], state["conv2.weight"].shape[0]
    rows = n_mels // 4
    out["conv1.weight"] = _noisy_copies(state["conv1.weight"], factor, noise, gen)
    out["conv1.bias"] = state["conv1.bias"].repeat(factor)
    w2 = state["conv2.weight"]  # (c2, c1, k, k): new input columns read new channels -> zero
    w2 = torch.cat([w2, torch.zeros(c2, c1 * (factor - 1), *w2.shape[2:])], 1)
    out["conv2.weight"] = _noisy_copies(w2, factor, noise, gen)
    # the copies' columns on new inputs stay zero: only their old-input weights got noise
    out["conv2.weight"][:, c1:] = 0.0
    out["conv2.bias"] = state["conv2.bias"].repeat(factor)
    for bn in ("bn1", "bn2"):
        for k in BN_KEYS:
            out[f"{bn}.{k}"] = state[f"{bn}.{k}"].repeat(factor)
    w = state["fc1.weight"]  # (dim, c2 * rows), feature index = channel * rows + row
    out["fc1.weight"] = torch.cat([w, torch.zeros(w.shape[0], c2 * rows * (factor - 1))], 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--factor", type=int, default=2)
    ap.add_argument("--noise", type=float, default=0.1,
                    help="noise on each new filter, times that filter's standard deviation")
    a = ap.parse_args()
    ckpt = load_checkpoint(a.src)
    kw = ckpt["model"]["kwargs"]
    c1 = ckpt["state_dict"]["conv1.weight"].shape[0]
    save_grown(a.src, a.dst, ckpt, {"frontend_channels": c1 * a.factor},
               widen_front(ckpt["state_dict"], a.factor, kw["n_mels"], a.noise),
               {"path": a.src, "factor": a.factor, "part": "front end", "noise": a.noise},
               f"front end {c1}/{2 * c1} -> {c1 * a.factor}/{2 * c1 * a.factor} channels")


if __name__ == "__main__":
    main()
