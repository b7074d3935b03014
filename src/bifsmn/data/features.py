"""Log-mel features exactly as the BiFSMN reference pipeline computes them (README, "Data").

Written on ``torch.stft`` because the torchaudio wheel does not import with the CPU torch used
here. The settings reproduce ``torchaudio.transforms.MelSpectrogram(n_fft=2048, hop=512,
n_mels=32, normalized=True)`` followed by ``AmplitudeToDB()``: a 1-s clip gives a
(1, 32 mel, 32 frame) image. The module runs on whole batches so that feature extraction of
augmented training audio costs little next to the model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bifsmn.data.feature_configs import FeatureConfig

__all__ = ["FeatureConfig", "LogMel", "hz_to_mel", "mel_filterbank", "mel_to_hz"]


def hz_to_mel(f: torch.Tensor | float) -> torch.Tensor:
    """HTK mel scale."""
    return 2595.0 * torch.log10(1.0 + torch.as_tensor(f, dtype=torch.float64) / 700.0)


def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_filterbank(cfg: FeatureConfig) -> torch.Tensor:
    """Triangular HTK filters without area normalisation, shape (n_fft//2+1, n_mels)."""
    n_freqs = cfg.n_fft // 2 + 1
    freqs = torch.linspace(0, cfg.sample_rate // 2, n_freqs, dtype=torch.float64)
    m_pts = torch.linspace(hz_to_mel(cfg.f_min), hz_to_mel(cfg.f_max), cfg.n_mels + 2,
                           dtype=torch.float64)
    f_pts = mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.clamp(torch.minimum(down, up), min=0.0).to(torch.float32)


class LogMel(nn.Module):
    """Waveforms (B, samples) -> log-mel dB images (B, 1, n_mels, frames)."""

    # buffers (registered in __init__)
    window: torch.Tensor
    fbank: torch.Tensor

    def __init__(self, cfg: FeatureConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or FeatureConfig()
        window = torch.hann_window(self.cfg.n_fft, periodic=True)
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("fbank", mel_filterbank(self.cfg), persistent=False)
        self.norm = 1.0 / math.sqrt(float(window.pow(2).sum()))

    @torch.no_grad()
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() == 1:
            wav = wav[None]
        spec = torch.stft(
            wav.float(), self.cfg.n_fft, self.cfg.hop_length, self.cfg.n_fft, self.window,
            center=True, pad_mode="reflect", normalized=False, return_complex=True,
        )
        power = (spec.real.square() + spec.imag.square()) * (self.norm**2)
        mel = torch.matmul(power.transpose(1, 2), self.fbank).transpose(1, 2)
        db = 10.0 * torch.log10(torch.clamp(mel, min=self.cfg.amin))
        return db.unsqueeze(1)
