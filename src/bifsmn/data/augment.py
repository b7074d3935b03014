"""Waveform augmentation of the BiFSMN reference pipeline, vectorised over a batch and driven
by a torch.Generator.

The reference code augments clip by clip in 16 DataLoader workers; on a 2-core machine that makes
data loading, not the model, the cost of an epoch. Here every step is a few tensor ops on the
whole batch, and all randomness comes from one generator seeded per epoch, so a resumed run sees
exactly the same augmented batches as an uninterrupted one.

Order (as the reference): background noise (p=0.3, mix scale s ~ U(0, 0.3): x <- (1-s)x + s*n),
amplitude (p=0.5, x U(0.7, 1.1)), speed+pitch by nearest-neighbour resampling (p=0.5, scale
U(-0.2, 0.2), length factor 1/(1+scale)), time shift (p=0.5, integer in [-3200, 3200]; positive
advances), then fix to the clip length. Speed, shift and length fix are one gather.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation (defaults: the reference recipe)."""

    noise_prob: float = 0.3
    noise_max_scale: float = 0.3
    amplitude_prob: float = 0.5
    amplitude_min: float = 0.7
    amplitude_max: float = 1.1
    speed_prob: float = 0.5
    speed_max: float = 0.2
    shift_prob: float = 0.5
    shift_max: int = 3200


class Augmenter:
    """Applies :class:`AugmentConfig` to a batch of 1-s waveforms (B, L)."""

    def __init__(self, cfg: AugmentConfig, noises: list[torch.Tensor] | None = None) -> None:
        self.cfg = cfg
        noises = [n.float().flatten() for n in (noises or []) if n.numel() > 0]
        self.noise = torch.cat(noises) if noises else None
        self.noise_starts = torch.tensor([0] + [n.numel() for n in noises]).cumsum(0)[:-1]
        self.noise_lens = torch.tensor([n.numel() for n in noises])

    def __call__(self, wav: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        cfg = self.cfg
        b, length = wav.shape
        out = wav.clone()

        def coin(p: float) -> torch.Tensor:
            return torch.rand(b, generator=gen) < p

        def uniform(lo: float, hi: float) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(b, generator=gen)

        if self.noise is not None and cfg.noise_prob > 0:
            use = coin(cfg.noise_prob)
            which = torch.randint(len(self.noise_lens), (b,), generator=gen)
            room = (self.noise_lens[which] - length).clamp(min=1)
            start = self.noise_starts[which] + (torch.rand(b, generator=gen) * room).long()
            idx = start[:, None] + torch.arange(length)[None, :]
            seg = self.noise[idx.clamp(max=self.noise.numel() - 1)]
            s = uniform(0.0, cfg.noise_max_scale) * use
            out = (1 - s)[:, None] * out + s[:, None] * seg
        gain = torch.where(coin(cfg.amplitude_prob), uniform(cfg.amplitude_min, cfg.amplitude_max),
                           torch.ones(b))
        out = out * gain[:, None]
        speed = torch.where(coin(cfg.speed_prob), uniform(-cfg.speed_max, cfg.speed_max),
                            torch.zeros(b))
        shift_draw = torch.randint(-cfg.shift_max, cfg.shift_max + 1, (b,), generator=gen)
        shift = torch.where(coin(cfg.shift_prob), shift_draw, torch.zeros(b, dtype=torch.long))
        j = torch.arange(length)[None, :] + shift[:, None]  # index into the resampled signal
        src = torch.floor(j.double() * (1.0 + speed.double())[:, None]).long()
        valid = (j >= 0) & (src >= 0) & (src < length)
        out = torch.gather(out, 1, src.clamp(0, length - 1)) * valid
        return out
