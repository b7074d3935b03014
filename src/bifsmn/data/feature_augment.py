"""Augmentation in the fbank40 feature domain, vectorised over a batch, driven by a torch.Generator.

The at-scale data are images, not audio, so the waveform recipe (bifsmn.data.augment) is
replaced by its feature-domain counterparts (docs/fbank40.md says which were measured):

* time shift: up to ``shift_max`` frames (10 ms each) either way, vacated frames zero (= digital
  silence, what shifting zero-padded audio gives);
* background noise: a noise image mixed in the *energy* domain, ``E = E_clip + g * E_noise``
  with ``E = 540 (exp(v / 10.0673) - 1)``, so adding noise to the features behaves like adding it
  to the audio (up to the cross term, which averages out over a filter's bins);
* SpecAugment: ``time_masks`` masks of up to ``time_mask_max`` frames and ``freq_masks`` masks of
  up to ``freq_mask_max`` channels, filled with the image's mean value.

All randomness comes from one generator seeded per epoch, so a resumed run replays its batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bifsmn.data.fbank import Fbank40Config, energy_to_values, values_to_energy


@dataclass(frozen=True)
class FeatureAugmentConfig:
    """Probabilities and ranges of each feature-domain augmentation."""

    shift_prob: float = 0.5
    shift_max: int = 10
    noise_prob: float = 0.5
    noise_max_gain: float = 1.0
    mask_prob: float = 0.5
    time_masks: int = 2
    time_mask_max: int = 10
    freq_masks: int = 2
    freq_mask_max: int = 5


class FeatureAugmenter:
    """Applies :class:`FeatureAugmentConfig` to a batch of images (B, frames, mels)."""

    def __init__(self, cfg: FeatureAugmentConfig, noise_images: torch.Tensor | None = None,
                 feature_cfg: Fbank40Config | None = None) -> None:
        self.cfg = cfg
        self.fcfg = feature_cfg or Fbank40Config()
        self.noise_energy = None
        if noise_images is not None and len(noise_images):
            self.noise_energy = values_to_energy(noise_images.float(), self.fcfg)

    def __call__(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        cfg = self.cfg
        x = images.float()
        b, t, m = x.shape

        def coin(p: float) -> torch.Tensor:
            return torch.rand(b, generator=gen) < p

        if cfg.shift_prob > 0 and cfg.shift_max > 0:
            k = torch.randint(-cfg.shift_max, cfg.shift_max + 1, (b,), generator=gen)
            k = torch.where(coin(cfg.shift_prob), k, torch.zeros_like(k))
            src = torch.arange(t)[None, :] - k[:, None]
            valid = ((src >= 0) & (src < t)).float()[:, :, None]
            x = torch.gather(x, 1, src.clamp(0, t - 1)[:, :, None].expand(b, t, m)) * valid
        if self.noise_energy is not None and cfg.noise_prob > 0:
            which = torch.randint(len(self.noise_energy), (b,), generator=gen)
            gain = cfg.noise_max_gain * torch.rand(b, generator=gen)
            gain = torch.where(coin(cfg.noise_prob), gain, torch.zeros_like(gain))
            e = values_to_energy(x, self.fcfg) + gain[:, None, None] * self.noise_energy[which]
            x = energy_to_values(e, self.fcfg)
        if cfg.mask_prob > 0:
            use = coin(cfg.mask_prob)[:, None, None]
            fill = x.mean((1, 2), keepdim=True)
            mask = torch.zeros(b, t, m, dtype=torch.bool)
            for _ in range(cfg.time_masks):
                w = torch.randint(0, cfg.time_mask_max + 1, (b,), generator=gen)
                s = (torch.rand(b, generator=gen) * (t - w + 1)).long()
                r = torch.arange(t)[None, :]
                mask |= ((r >= s[:, None]) & (r < (s + w)[:, None]))[:, :, None]
            for _ in range(cfg.freq_masks):
                w = torch.randint(0, cfg.freq_mask_max + 1, (b,), generator=gen)
                s = (torch.rand(b, generator=gen) * (m - w + 1)).long()
                r = torch.arange(m)[None, :]
                mask |= ((r >= s[:, None]) & (r < (s + w)[:, None]))[:, None, :]
            x = torch.where(mask & use, fill.expand_as(x), x)
        return x
