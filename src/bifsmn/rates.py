"""Shares of a boolean tensor as exact Python floats.

Why: ``mask.float().mean().item()`` is a float32 mean widened to float64, so JSON, CSV and
metrics files printed 0.3333333432674408 for 1 of 3, noise in the last digits that differs
from the ratio a user computes from the counts. Counting in integers and dividing in Python
gives the ratio itself.
"""

from __future__ import annotations

import torch


def rate(mask: torch.Tensor) -> float:
    """``mask.sum() / mask.numel()`` as a Python float; NaN for an empty mask (no items to
    count, rather than a ZeroDivisionError)."""
    n = mask.numel()
    return int(mask.sum()) / n if n else float("nan")
