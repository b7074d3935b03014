"""The ``fbank40`` front end: 40-channel Kaldi-style log-mel filterbank images (98 x 40, uint8).

This is the front end that made the at-scale Speech Commands feature archive; its parameters are
given in ``docs/fbank40.md`` (30 ms povey-windowed frames every 10 ms, 512-point power spectrum,
40 triangular mel filters over 0-4 kHz, ``v = 10.0673 ln(1 + E / 540)`` rounded and clipped to
0..255). Computing the same values from audio is what lets a model trained on the images run on
live speech.

The network does not see the 98 x 40 image directly: :func:`image_to_input` drops the first and
last frame and averages the remaining 96 frames in groups of three, giving a (1, 40, 32) input
(mel x time) with the paper model's 32 time steps, so parameters, MACs and latency stay close to
the 32 x 32 model (docs/fbank40.md measures the choice). The average is ``sum / (3 * 32)`` in
float32: the sum of three integers is exact and the single multiply is reproduced bit for bit by
the C++ engine.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bifsmn.data.feature_configs import KIND, Fbank40Config

__all__ = ["KIND", "Fbank40", "Fbank40Config", "energy_to_values", "image_to_input",
           "kaldi_filterbank", "kaldi_mel", "pad_image", "povey_window", "values_to_energy"]


def povey_window(length: int, power: float = 0.85) -> torch.Tensor:
    """Kaldi's povey window ``(0.5 - 0.5 cos(2 pi i / (N - 1))) ** 0.85``, float64."""
    i = torch.arange(length, dtype=torch.float64)
    return (0.5 - 0.5 * torch.cos(2 * math.pi * i / (length - 1))) ** power


def kaldi_mel(f: torch.Tensor | float) -> torch.Tensor:
    """Kaldi's mel scale ``1127 ln(1 + f / 700)``."""
    return 1127.0 * torch.log1p(torch.as_tensor(f, dtype=torch.float64) / 700.0)


def kaldi_filterbank(cfg: Fbank40Config) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels) float64 triangles, linear in mel, no area normalisation.

    Bins 0..n_fft/2-1 carry weights (the Nyquist bin gets 0, as in Kaldi); a bin at exactly a
    triangle's edge gets 0, so the DC bin (at the first edge, 0 Hz) is 0.
    """
    n_bins = cfg.n_fft // 2 + 1
    edges = torch.linspace(float(kaldi_mel(cfg.f_min)), float(kaldi_mel(cfg.f_max)),
                           cfg.n_mels + 2, dtype=torch.float64)
    freqs = torch.arange(n_bins, dtype=torch.float64) * cfg.sample_rate / cfg.n_fft
    mel = kaldi_mel(freqs)[:, None]
    left, center, right = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    w = torch.where(mel <= center, up, down)
    w = torch.where((mel > left) & (mel < right), w, torch.zeros_like(w))
    w[-1] = 0.0
    return w


def image_to_input(images: torch.Tensor, cfg: Fbank40Config | None = None) -> torch.Tensor:
    """uint8-valued images (B, frames, n_mels) -> network input (B, 1, n_mels, num_frames).

    Works on uint8 or float tensors holding integers; the sum of ``pool`` values is exact in
    float32, then one multiply by ``input_scale``.
    """
    cfg = cfg or Fbank40Config()
    b, t, m = images.shape
    n, k, off = cfg.num_frames, cfg.pool, cfg.pool_offset
    if t != cfg.image_frames:
        raise ValueError(f"expected {cfg.image_frames} frames, got {t}")
    x = images[:, off:off + n * k].float().reshape(b, n, k, m).sum(2)
    return (x * cfg.input_scale).transpose(1, 2).unsqueeze(1).contiguous()


class Fbank40(nn.Module):
    """Waveforms (B, samples) in [-1, 1) -> fbank40 images or network input.

    ``image(wav)`` gives the (B, frames, 40) values 0..255 (float64 arithmetic, as the numpy
    reference and the C++ engine); ``forward(wav)`` gives the network input of
    :func:`image_to_input`.
    """

    # buffers (registered in __init__)
    window: torch.Tensor
    fbank: torch.Tensor

    def __init__(self, cfg: Fbank40Config | None = None) -> None:
        super().__init__()
        self.cfg = cfg or Fbank40Config()
        self.register_buffer("window", povey_window(self.cfg.frame_length, self.cfg.window_power),
                             persistent=False)
        self.register_buffer("fbank", kaldi_filterbank(self.cfg), persistent=False)

    @torch.no_grad()
    def energies(self, wav: torch.Tensor) -> torch.Tensor:
        """Filter energies E (B, frames, n_mels), float64, samples at int16 scale."""
        c = self.cfg
        if wav.dim() == 1:
            wav = wav[None]
        if wav.shape[-1] < c.frame_length:
            return wav.new_zeros((wav.shape[0], 0, c.n_mels), dtype=torch.float64)
        frames = (wav.double() * 32768.0).unfold(-1, c.frame_length, c.hop_length)
        spec = torch.fft.rfft(frames * self.window, n=c.n_fft)
        power = spec.real.square() + spec.imag.square()
        return power @ self.fbank

    @torch.no_grad()
    def image(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, frames, n_mels) float32 values 0..255 (what the archive's JPEGs hold)."""
        c = self.cfg
        v = c.log_scale * torch.log1p(self.energies(wav) / c.log_offset)
        return torch.clamp(torch.round(v), 0, 255).float()

    @torch.no_grad()
    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return image_to_input(self.image(wav), self.cfg)


def values_to_energy(v: torch.Tensor, cfg: Fbank40Config | None = None) -> torch.Tensor:
    """Invert the value mapping: image values -> filter energies (for mixing noise)."""
    cfg = cfg or Fbank40Config()
    return cfg.log_offset * torch.expm1(v / cfg.log_scale)


def energy_to_values(e: torch.Tensor, cfg: Fbank40Config | None = None) -> torch.Tensor:
    """Filter energies -> image values 0..255 (rounded, as the archive stores them)."""
    cfg = cfg or Fbank40Config()
    return torch.clamp(torch.round(cfg.log_scale * torch.log1p(e / cfg.log_offset)), 0, 255)


def pad_image(img: torch.Tensor, frames: int) -> torch.Tensor:
    """A short clip's image (n, mels) padded with zero rows, centred, to ``frames`` rows."""
    n = img.shape[0]
    if n >= frames:
        return img[:frames]
    front = (frames - n) // 2
    out = img.new_zeros((frames, img.shape[1]))
    out[front:front + n] = img
    return out
