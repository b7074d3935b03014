"""Log-mel features against an independent numpy implementation of spec 1.3."""

from __future__ import annotations

import numpy as np
import torch

from bifsmn.data.features import FeatureConfig, LogMel


def numpy_logmel(x: np.ndarray, sr: int = 16000, n_fft: int = 2048, hop: int = 512,
                 n_mels: int = 32) -> np.ndarray:
    """Straight-from-the-definition reference: framing loop, rfft, HTK triangles, dB."""
    pad = n_fft // 2
    xp = np.pad(x.astype(np.float64), pad, mode="reflect")
    n = np.arange(n_fft)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)  # periodic Hann
    frames = 1 + (len(xp) - n_fft) // hop
    spec = np.stack([np.abs(np.fft.rfft(xp[i * hop:i * hop + n_fft] * win)) ** 2
                     for i in range(frames)], axis=1)
    spec /= np.sum(win**2)  # "normalized": divide the STFT by the window's L2 norm
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)

    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    edges = hz(np.linspace(mel(0.0), mel(sr / 2), n_mels + 2))
    fb = np.zeros((n_mels, len(freqs)))
    for m in range(n_mels):
        lo, c, hi = edges[m], edges[m + 1], edges[m + 2]
        for k, f in enumerate(freqs):
            if lo < f <= c:
                fb[m, k] = (f - lo) / (c - lo)
            elif c < f < hi:
                fb[m, k] = (hi - f) / (hi - c)
    return 10 * np.log10(np.maximum(fb @ spec, 1e-10))


def test_logmel_matches_numpy_reference():
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    clips = [0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(16000),
             0.2 * rng.standard_normal(16000),
             np.concatenate([np.zeros(8000), 0.5 * np.sin(2 * np.pi * 1200 * t[:8000])])]
    ours = LogMel()(torch.tensor(np.stack(clips), dtype=torch.float32)).numpy()
    assert ours.shape == (3, 1, 32, 32)
    for clip, got in zip(clips, ours, strict=True):
        ref = numpy_logmel(clip)
        assert ref.shape == (32, 32)
        # where there is energy, the float32 STFT agrees to a few thousandths of a dB
        mask = ref > -60
        assert mask.mean() > 0.2
        np.testing.assert_allclose(got[0][mask], ref[mask], atol=0.02)


def test_silence_is_floor_and_frames_follow_config():
    out = LogMel()(torch.zeros(2, 16000))
    assert torch.all(out == -100.0)
    cfg = FeatureConfig(n_mels=40, hop_length=256)
    assert LogMel(cfg)(torch.zeros(1, 16000)).shape == (1, 1, 40, cfg.num_frames)
