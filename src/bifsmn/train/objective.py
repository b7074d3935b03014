"""Training losses: what one batch contributes, independent of the loop that drives it.

The supervised objective sums cross-entropy over the trained thinnable paths with their weights
(the reference uses 1, 0.5, 0.25 for 8/4/2 blocks). Distillation objectives (bifsmn.distill)
follow the same call signature, so the trainer does not care which one it runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Supervised:
    """``sum_p w_p * CE(model(x, p), y)`` over the configured paths."""

    def __init__(self, paths: list[int], weights: list[float]) -> None:
        self.paths, self.weights = list(paths), list(weights)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (loss, logits of the first path)."""
        loss = x.new_zeros(())
        first = None
        for p, w in zip(self.paths, self.weights, strict=True):
            logits = model(x, path=p)
            loss = loss + w * F.cross_entropy(logits, y)
            first = logits if first is None else first
        return loss, first
