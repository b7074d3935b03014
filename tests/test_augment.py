"""Batched waveform augmentation: seeded, and each step doing what spec 1.4 says."""

from __future__ import annotations

import pytest
import torch

from bifsmn.data.augment import AugmentConfig, Augmenter

OFF = dict(noise_prob=0.0, amplitude_prob=0.0, speed_prob=0.0, shift_prob=0.0)


def ramp(b: int = 4, n: int = 16000) -> torch.Tensor:
    return torch.arange(1, n + 1, dtype=torch.float32).repeat(b, 1) / n


def test_same_seed_same_batch_and_different_seed_differs():
    aug = Augmenter(AugmentConfig(), [torch.randn(40000)])
    x = torch.randn(8, 16000)
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    c = aug(x, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape


def test_all_off_is_identity():
    x = torch.randn(4, 16000)
    assert torch.equal(Augmenter(AugmentConfig(**OFF))(x, torch.Generator()), x)


def _ramp_index(row: torch.Tensor, n: int = 16000) -> torch.Tensor:
    """Which input sample each output sample of a :func:`ramp` row is (-1: zero fill)."""
    return torch.where(row != 0, torch.round(row.double() * n).long() - 1, -1)


def test_shift_positive_advances_and_negative_delays():
    x = ramp(64)
    n = x.shape[1]
    cfg = AugmentConfig(**{**OFF, "shift_prob": 1.0, "shift_max": 100})
    y = Augmenter(cfg)(x, torch.Generator().manual_seed(0))
    shifts = []
    for row_in, row in zip(x, y, strict=True):
        # recover the row's shift k from where the original samples landed
        first = int(row.nonzero()[0].item())
        k = -first if first > 0 else int(_ramp_index(row)[0].item())
        assert abs(k) <= 100
        # an exact shifted copy: out[j] = in[j + k], zero where j + k falls outside the clip
        j = torch.arange(n) + k
        want = torch.where((j >= 0) & (j < n), row_in[j.clamp(0, n - 1)], 0.0)
        assert torch.equal(row, want), k
        shifts.append(k)
    # shifting really happens, both ways (positive k advances, negative k delays)
    assert any(k > 0 for k in shifts) and any(k < 0 for k in shifts)
    assert len(set(shifts)) > 10


def test_speed_keeps_length_and_uses_nearest_samples():
    x = ramp(32)
    n = x.shape[1]
    cfg = AugmentConfig(**{**OFF, "speed_prob": 1.0})
    y = Augmenter(cfg)(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape
    # nearest-neighbour: every output value is an input value or zero
    vals = set(x[0].tolist()) | {0.0}
    assert all(v in vals for v in y[:4].flatten().tolist()[::97])
    factors = []
    for row in y:
        src = _ramp_index(row)
        last = int((src >= 0).nonzero()[-1].item())
        assert (src[: last + 1] >= 0).all() and (src[last + 1:] == -1).all()  # zeros at the end
        # output sample j reads input floor(j * f): recover f, check every sample follows it
        f = src[last].item() / last
        j = torch.arange(last + 1, dtype=torch.float64)
        assert (src[: last + 1] - j * f).abs().max() <= 2
        assert (src[1: last + 1] >= src[:last]).all()
        assert 0.8 - 1e-3 <= f <= 1.2 + 1e-3  # scale in U(-0.2, 0.2)
        if f > 1:  # faster: the clip runs out before the end
            assert last + 1 == pytest.approx(n / f, abs=3)
        factors.append(f)
    # speed really changes the clips: some faster, some slower, by more than rounding
    assert any(f > 1.05 for f in factors) and any(f < 0.95 for f in factors)


def test_noise_mix_bounds():
    x = torch.zeros(256, 16000)
    noise = torch.ones(50000)
    cfg = AugmentConfig(**{**OFF, "noise_prob": 0.3, "noise_max_scale": 0.3})
    y = Augmenter(cfg, [noise])(x, torch.Generator().manual_seed(0))
    level = y[:, 0]
    assert (level <= 0.3 + 1e-6).all()
    frac = (level > 0).float().mean().item()
    assert 0.15 < frac < 0.45  # about 30 % of clips get noise


def test_amplitude_range():
    x = torch.ones(512, 10)
    cfg = AugmentConfig(**{**OFF, "amplitude_prob": 1.0})
    y = Augmenter(cfg)(x, torch.Generator().manual_seed(0))[:, 0]
    assert y.min() >= 0.7 and y.max() <= 1.1
