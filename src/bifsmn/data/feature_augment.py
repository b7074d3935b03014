"""Augmentation in the fbank40 feature domain, vectorised over a batch, driven by a torch.Generator.

The at-scale data are images, not audio, so the waveform recipe (bifsmn.data.augment) is
replaced by its feature-domain counterparts (docs/fbank40.md says which were measured):

* time shift: up to ``shift_max`` frames (10 ms each) either way, vacated frames zero (= digital
  silence, what shifting zero-padded audio gives);
* background noise: a noise image mixed in the *energy* domain, ``E = E_clip + g * E_noise``
  with ``E = 540 (exp(v / 10.0673) - 1)``, so adding noise to the features behaves like adding it
  to the audio (up to the cross term, which averages out over a filter's bins); ``g`` uniform in
  ``[0, noise_max_gain]``, or, with ``noise_snr_db = (lo, hi)``, set so that the clip's total
  filter energy over the noise's is a signal-to-noise ratio drawn uniformly in ``[lo, hi]`` dB.
  Why the second form: with raw gains the noise images' own levels decide the SNR; on the
  at-scale archive the noisy keyword clips had a median SNR of 49 dB and 7 % were below 10 dB
  (docs/results/noise-snr/measure.py), so a model trained so hardly ever hears speech at the
  10 dB of issue 13's noisy streams (whose SNR is defined the same way, each clip's power over
  the noise power, in ``eval-stream``'s default ``--snr-mode clip``:
  bifsmn.detect.mixing.compose_stream);
* SpecAugment: ``time_masks`` masks of up to ``time_mask_max`` frames and ``freq_masks`` masks of
  up to ``freq_mask_max`` channels, filled with the image's mean value;
* cut keywords (:meth:`FeatureAugmenter.cut_keywords`, off unless ``cut_prob > 0``): a share of
  keyword clips is shifted so far that only a part of the word (``cut_keep_min`` to
  ``cut_keep_max`` of its energy) stays in the 1-s window, and relabelled ``unknown``. Why: a
  streaming detector scores a window every 100 ms, so it sees every keyword cut at both
  edges and every other word half-way in or out; a clip classifier never sees those windows
  and calls a word's first or last part a keyword (issue 13, item 3). The word is located by
  its energy above the clip's floor, so the shift depends on where the speaker put it.

All randomness comes from one generator seeded per epoch, so a resumed run replays its batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch

from bifsmn.data.fbank import Fbank40Config, energy_to_values, values_to_energy


@dataclass(frozen=True)
class FeatureAugmentConfig:
    """Probabilities and ranges of each feature-domain augmentation."""

    shift_prob: float = 0.5
    shift_max: int = 10
    noise_prob: float = 0.5
    noise_max_gain: float = 1.0
    noise_snr_db: tuple[float, float] | None = None  # (lo, hi): SNR-controlled mixing instead
    mask_prob: float = 0.5
    time_masks: int = 2
    time_mask_max: int = 10
    freq_masks: int = 2
    freq_mask_max: int = 5
    cut_prob: float = 0.0  # share of keyword clips cut and relabelled unknown (0: off)
    cut_keep_min: float = 0.1  # ... and at least this share (a part of the word, not silence)
    cut_keep_max: float = 0.4  # at most this share of the word's energy stays in the window


class FeatureAugmenter:
    """Applies :class:`FeatureAugmentConfig` to a batch of images (B, frames, mels)."""

    def __init__(self, cfg: FeatureAugmentConfig, noise_images: torch.Tensor | None = None,
                 feature_cfg: Fbank40Config | None = None,
                 keyword_labels: Sequence[int] = (), unknown_label: int | None = None) -> None:
        self.cfg = cfg
        self.fcfg = feature_cfg or Fbank40Config()
        self.keyword_labels = torch.tensor(sorted(set(keyword_labels)), dtype=torch.long)
        self.unknown_label = unknown_label
        if cfg.cut_prob > 0 and (unknown_label is None or not len(self.keyword_labels)):
            raise ValueError("cut_prob > 0 needs keyword labels and an unknown label")
        if cfg.noise_snr_db is not None:
            lo, hi = cfg.noise_snr_db
            if not lo <= hi:
                raise ValueError(
                    f"noise_snr_db must be (lo, hi) with lo <= hi, got {cfg.noise_snr_db}")
        self.noise_energy = None
        if noise_images is not None and len(noise_images):
            self.noise_energy = values_to_energy(noise_images.float(), self.fcfg)

    def __call__(self, images: torch.Tensor, gen: torch.Generator, return_clean: bool = False
                 ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Augmented images; with ``return_clean`` also the same images without the noise
        (same shifts and masks, masks filled with the clean image's mean): the teacher's input
        when ``distill.teacher_input`` is ``clean``. The random draws do not depend on it."""
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
        clean = x
        if self.noise_energy is not None and cfg.noise_prob > 0:
            which = torch.randint(len(self.noise_energy), (b,), generator=gen)
            u = torch.rand(b, generator=gen)  # one draw per clip in either mode
            e_clip = values_to_energy(x, self.fcfg)
            e_noise = self.noise_energy[which]
            if cfg.noise_snr_db is None:
                gain = cfg.noise_max_gain * u
            else:
                lo, hi = cfg.noise_snr_db
                snr = lo + (hi - lo) * u
                p_noise = e_noise.sum((1, 2))
                gain = torch.where(p_noise > 0, e_clip.sum((1, 2)) / (
                    p_noise.clamp_min(1e-30) * 10.0 ** (snr / 10.0)), torch.zeros_like(u))
            gain = torch.where(coin(cfg.noise_prob), gain, torch.zeros_like(gain))
            x = energy_to_values(e_clip + gain[:, None, None] * e_noise, self.fcfg)
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
            if return_clean:
                cfill = clean.mean((1, 2), keepdim=True)
                clean = torch.where(mask & use, cfill.expand_as(clean), clean)
        return (x, clean) if return_clean else x

    def cut_keywords(self, images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Cut a share (``cut_prob``) of the keyword images and relabel them unknown.

        For a chosen image, the word's energy profile over frames (filter energies summed over
        channels, minus the clip's 10th-percentile frame, so steady background does not count)
        gives its cumulative share; a kept share ``f`` is drawn uniformly in
        ``[cut_keep_min, cut_keep_max]`` and the image is shifted left or right (a coin) by the
        number of frames that leaves the first (right shift) or last (left shift) ``f`` of the
        energy inside (just under ``f``: whole frames); vacated frames are zero (digital
        silence, as in :meth:`__call__`'s shift).
        Clips with no energy above their floor are left as they are. Without ``cut_prob`` no
        random number is drawn, so existing runs replay their batches unchanged."""
        cfg = self.cfg
        if cfg.cut_prob <= 0:
            return images, labels
        x = images.float()
        b, t, _ = x.shape
        is_kw = torch.isin(labels, self.keyword_labels)
        pick = (torch.rand(b, generator=gen) < cfg.cut_prob) & is_kw
        keep = cfg.cut_keep_min + (cfg.cut_keep_max - cfg.cut_keep_min) * torch.rand(
            b, generator=gen)
        right = torch.rand(b, generator=gen) < 0.5
        if not bool(pick.any()):
            return images, labels
        e = values_to_energy(x, self.fcfg).sum(2)  # (B, T)
        e = (e - torch.quantile(e, 0.1, dim=1, keepdim=True)).clamp(min=0)
        total = e.sum(1)
        pick &= total > 0
        cum = torch.cumsum(e, 1) / total.clamp(min=1e-12)[:, None]  # share up to frame i
        # right shift by k loses frames [t - k, t): keep cum[t - k - 1] ~= f
        # left shift by k loses frames [0, k): keep 1 - cum[k - 1] ~= f
        first_at = (cum < keep[:, None]).sum(1)  # first frame with cum >= f
        last_at = (cum <= 1 - keep[:, None]).sum(1)  # frames with cum <= 1 - f
        k = torch.where(right, t - first_at, -(last_at + 1)).clamp(-t, t)
        k = torch.where(pick, k, torch.zeros_like(k))
        src = torch.arange(t)[None, :] - k[:, None]
        valid = ((src >= 0) & (src < t)).to(x.dtype)[:, :, None]
        out = torch.gather(x, 1, src.clamp(0, t - 1)[:, :, None].expand_as(x)) * valid
        unknown = cast(int, self.unknown_label)  # __init__ refused cut_prob > 0 without one
        new_labels = torch.where(pick, torch.full_like(labels, unknown), labels)
        return out.to(images.dtype) if not images.is_floating_point() else out, new_labels
