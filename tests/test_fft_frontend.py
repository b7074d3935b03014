"""The engine's C++ log-mel front end (shared radix-2 real FFT, fft.h; 8 or 16 frames per SIMD pass,
sparse mel weights) against an independent float64 numpy reference (numpy.fft.rfft), and
lane independence: a clip's features do not depend on which clips share its pass.

Stated tolerance (docs/engine.md, "Front end"): within 0.01 dB of the float64 reference wherever
the mel band holds energy above -80 dB; silence maps to exactly -100 dB.
"""

from __future__ import annotations

import numpy as np
import pytest

from bifsmn.data.features import FeatureConfig, mel_filterbank
from bifsmn.engine import Engine, export_checkpoint
from bifsmn.engine.testing import make_checkpoint, synthetic_audio


def numpy_logmel(audio: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """(B, samples) -> (B, 1, n_mels, frames) log-mel in float64 (reflect-padded STFT,
    periodic Hann, power / sum(w^2), HTK mel weights of bifsmn.data.features, dB)."""
    n, hop = cfg.n_fft, cfg.hop_length
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    fb = mel_filterbank(cfg).numpy().astype(np.float64)  # (n/2+1, n_mels)
    out = []
    for clip in audio.astype(np.float64):
        padded = np.pad(clip, n // 2, mode="reflect")
        frames = np.stack([padded[t * hop:t * hop + n] for t in range(cfg.num_frames)])
        power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2 / np.sum(window ** 2)
        mel = power @ fb  # (frames, n_mels)
        out.append(10 * np.log10(np.maximum(mel, cfg.amin)).T[None])
    return np.stack(out)


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> Engine:
    root = tmp_path_factory.mktemp("fe")
    ckpt = make_checkpoint(root / "m.pt", "bifsmnv2", seed=3)
    return Engine(export_checkpoint(ckpt, root / "m.bkws"))


def test_logmel_matches_numpy_fft(engine) -> None:
    rng = np.random.default_rng(5)
    audio = np.concatenate([
        synthetic_audio(9, seed=13),
        (0.3 * rng.standard_normal((2, 16000))).astype(np.float32),
        np.zeros((1, 16000), np.float32),
        np.full((1, 16000), 0.25, np.float32),  # DC only
    ])
    ours = engine.features(audio)
    ref = numpy_logmel(audio, FeatureConfig())
    assert ours.shape == ref.shape == (len(audio), 1, 32, 32)
    mask = ref > -80
    assert mask.mean() > 0.5
    err = np.abs(ours - ref)
    assert err[mask].max() < 0.01, err[mask].max()
    assert err.max() < 1.0, err.max()
    np.testing.assert_array_equal(ours[11], np.full((1, 32, 32), -100.0, np.float32))


def test_logmel_lanes_independent(engine) -> None:
    """8 frames share one SIMD pass; a clip's features are bitwise the same alone, in a batch,
    and time-shifted by one hop (the shared frames then match bitwise: streaming can reuse
    them)."""
    audio = synthetic_audio(3, seed=17)
    batch = engine.features(audio)
    for i in range(3):
        np.testing.assert_array_equal(engine.features(audio[i]), batch[i])
    hop = FeatureConfig().hop_length
    long = np.concatenate([audio[0], audio[1]])
    a = engine.features(long[4 * hop:4 * hop + 16000])
    b = engine.features(long[5 * hop:5 * hop + 16000])
    # frames 2.. of a (their windows lie inside the clip, away from the reflect padding) are
    # frames 1.. of b
    np.testing.assert_array_equal(a[0, :, 3:-2], b[0, :, 2:-3])
