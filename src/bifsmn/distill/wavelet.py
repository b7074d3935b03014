"""Wavelet band split of feature maps, as Frequency Independent Distillation uses it.

A block output (B, T, C) is a one-channel image over (time, channel). A ``levels``-level 2-D Haar
DWT with zero padding, then the inverse with all detail subbands zeroed, gives the *low* band;
for Haar this is the mean over each 2^L x 2^L block, broadcast back. The *high* band is the rest,
``x - low`` (inverse with the approximation zeroed). Zero padding (``mode='zero'``) matters only
for odd sizes: a partial block's mean is taken over the full block, counting the zeros.

Other orthogonal wavelets (``wavelet="db2"``, ``"sym4"``, ... any PyWavelets name) use
``mode='periodization'``: along each axis the ``levels``-level analysis followed by the synthesis of
the approximation alone is a linear map ``P`` (n x n), built once from PyWavelets by transforming
unit vectors, and the 2-D low band is ``P_rows @ X @ P_cols^T`` (the transform is separable). Both
axes must then be divisible by ``2**levels``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from bifsmn.errors import BifsmnError


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


@lru_cache(maxsize=64)
def _low_pass_matrix(wavelet: str, levels: int, n: int) -> np.ndarray:
    """(n, n) map of one axis to its ``levels``-level approximation (periodization mode)."""
    import pywt

    try:
        w = pywt.Wavelet(wavelet)
    except ValueError:
        raise BifsmnError(f"unknown wavelet {wavelet!r} (any PyWavelets name, e.g. haar, db2, "
                          "sym4)") from None
    if not w.orthogonal:
        raise BifsmnError(f"wavelet {wavelet!r} is not orthogonal; FID needs low + high == x "
                          "with orthogonal bands")
    if n % 2**levels:
        raise BifsmnError(f"wavelet {wavelet!r}: size {n} is not divisible by 2**{levels}")
    eye = np.eye(n)
    cols = []
    for v in eye:
        coeffs = pywt.wavedec(v, w, mode="periodization", level=levels)
        coeffs = [coeffs[0]] + [np.zeros_like(c) for c in coeffs[1:]]
        cols.append(pywt.waverec(coeffs, w, mode="periodization"))
    return np.stack(cols, axis=1)  # column j = image of unit vector j


@lru_cache(maxsize=64)
def _low_pass_tensor(wavelet: str, levels: int, n: int, dtype: torch.dtype,
                     device: torch.device) -> torch.Tensor:
    """:func:`_low_pass_matrix` as a tensor on ``device``, made once: distillation calls
    :func:`wavelet_bands` every step, and a host-to-GPU copy of the same matrix per step would
    synchronize the stream each time. Callers must not modify it in place."""
    return torch.as_tensor(_low_pass_matrix(wavelet, levels, n), dtype=dtype, device=device)


def wavelet_bands(x: torch.Tensor, wavelet: str = "haar", levels: int = 1
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(low, high)`` of the last two axes of ``x`` for any orthogonal PyWavelets wavelet
    (``haar`` uses :func:`haar_bands`, the zero-padded form)."""
    if wavelet == "haar":
        return haar_bands(x, levels)
    h, w = x.shape[-2:]
    ph = _low_pass_tensor(wavelet, levels, h, x.dtype, x.device)
    pw = _low_pass_tensor(wavelet, levels, w, x.dtype, x.device)
    low = ph @ x @ pw.T
    return low, x - low
