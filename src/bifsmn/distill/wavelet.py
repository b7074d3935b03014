"""Haar wavelet band split of feature maps, as Frequency Independent Distillation uses it.

A block output (B, T, C) is a one-channel image over (time, channel). A ``levels``-level 2-D Haar
DWT with zero padding, then the inverse with all detail subbands zeroed, gives the *low* band;
for Haar this is the mean over each 2^L x 2^L block, broadcast back. The *high* band is the rest,
``x - low`` (inverse with the approximation zeroed). Zero padding (``mode='zero'``) matters only
for odd sizes: a partial block's mean is taken over the full block, counting the zeros.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def haar_low(x: torch.Tensor, levels: int = 1) -> torch.Tensor:
    """Low band of the last two axes of ``x`` (any leading shape)."""
    k = 2**levels
    h, w = x.shape[-2:]
    ph, pw = (-h) % k, (-w) % k
    lead = x.shape[:-2]
    img = x.reshape(-1, 1, h, w)
    if ph or pw:
        img = F.pad(img, (0, pw, 0, ph))
    mean = F.avg_pool2d(img, k, k)
    up = mean.repeat_interleave(k, dim=-2).repeat_interleave(k, dim=-1)
    return up[..., :h, :w].reshape(*lead, h, w)


def haar_bands(x: torch.Tensor, levels: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """``(low, high)`` with ``low + high == x``."""
    low = haar_low(x, levels)
    return low, x - low
