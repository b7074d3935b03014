"""Training losses: what one batch contributes, independent of the loop that drives it.

The supervised objective sums cross-entropy over the trained thinnable paths with their weights
(the reference uses 1, 0.5, 0.25 for 8/4/2 blocks). Distillation objectives (bifsmn.distill)
follow the same call signature, so the trainer does not care which one it runs.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn


def forward_paths(model: nn.Module, x: torch.Tensor, paths: list[int]
                  ) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
    """``(logits, features)`` per path; one shared front-end pass where the model offers it.

    Calls the (possibly DDP- or torch.compile-wrapped) model with ``paths=``, so the wrappers
    see the whole multi-path forward.
    """
    inner = model
    for attr in ("module", "_orig_mod", "module"):
        inner = getattr(inner, attr, inner)
    if hasattr(inner, "forward_paths"):
        return model(x, paths=paths)
    return [model(x, path=p, return_features=True) for p in paths]


class Supervised:
    """``sum_p w_p * CE(model(x, p), y)`` over the configured paths (``label_smoothing``:
    ``train.label_smoothing``)."""

    def __init__(self, paths: list[int], weights: list[float],
                 label_smoothing: float = 0.0) -> None:
        self.paths, self.weights = list(paths), list(weights)
        self.label_smoothing = float(label_smoothing)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (loss, logits of the first path)."""
        loss = x.new_zeros(())
        first = None
        outs = forward_paths(model, x, self.paths)
        for w, (logits, _) in zip(self.weights, outs, strict=True):
            loss = loss + w * F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
            first = logits if first is None else first
        return loss, cast(torch.Tensor, first)  # train.blocks is non-empty: a path ran
