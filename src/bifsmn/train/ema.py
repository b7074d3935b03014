"""Exponential moving average of a model's weights (``train.ema_decay``).

Why: the weights after the last step of an epoch are one noisy point of the optimizer's walk; an
average over the last ~1 / (1 - decay) steps usually generalises at least as well and moves less
from epoch to epoch (timm's ``ModelEmaV2``, Polyak averaging). With EMA on, the run validates,
selects and saves the averaged weights (``best.pt`` / ``last.pt``'s ``state_dict``: what
``bifsmn eval``, export and detection use); ``last.pt`` also keeps the raw training weights
(``raw_state_dict``) so that a resumed run continues exactly.

Floating-point parameters and buffers are averaged after every optimizer step,
``ema = decay * ema + (1 - decay) * value``; integer buffers (BatchNorm's step counter) are
copied. BatchNorm running statistics are buffers, so they are averaged like the weights.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from bifsmn.errors import BifsmnError


class ModelEma:
    """The averaged copy of ``model``'s state (on the model's device)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise BifsmnError(f"EMA decay must be in (0, 1) (got {decay})")
        self.decay = float(decay)
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One step: fold the model's current state into the average."""
        avg, live = [], []
        for k, v in model.state_dict().items():
            s = self.shadow[k]
            if s.is_floating_point():
                avg.append(s)
                live.append(v.detach())
            else:
                s.copy_(v)
        # the same two elementwise operations per tensor as s.mul_(d).add_(v, alpha=1 - d),
        # in a few multi-tensor kernels instead of two launches per tensor (on a GPU)
        if avg:
            torch._foreach_mul_(avg, self.decay)
            torch._foreach_add_(avg, live, alpha=1.0 - self.decay)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.shadow) ^ set(state)
        if missing:
            raise BifsmnError(f"EMA state does not match the model ({sorted(missing)[:3]} ...)")
        for k, v in state.items():
            self.shadow[k].copy_(v)

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Within the block ``model`` holds the averaged weights; its own come back after."""
        raw = {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(self.shadow)
        try:
            yield
        finally:
            model.load_state_dict(raw)
