"""Random, non-trivial checkpoints for engine tests, the benchmark's smoke test and fuzzing.

A freshly initialised model has BatchNorm at identity (mean 0, var 1, gamma 1, beta 0), PReLU
slopes of 0.25 and thresholds near 0, which would leave most folding code untested. These
helpers randomise every one of those, so that export and engine are checked on a model whose
every per-channel parameter matters.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import torch
from torch import nn

from bifsmn.binary.convert import apply_binary
from bifsmn.data.features import FeatureConfig
from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.models import create_model
from bifsmn.train.checkpoint import save_checkpoint

#: kind -> (registered model name, binary spec)
KINDS: dict[str, tuple[str, dict]] = {
    "bifsmnv2": ("dfsmn_thinnable", {"method": "bifsmnv2"}),
    "bifsmn_v1": ("dfsmn_thinnable", {"method": "bifsmn_v1"}),
    "dfsmn_teacher": ("dfsmn_teacher", {"method": "none"}),
    "dfsmn_thinnable": ("dfsmn_thinnable", {"method": "none"}),
}


def randomize(model: nn.Module, seed: int) -> nn.Module:
    """Random BN running stats and affine, PReLU slopes, input thresholds (in place)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                n = mod.num_features
                # the models' BatchNorms track running statistics (tensors, not None)
                cast(torch.Tensor, mod.running_mean).copy_(torch.randn(n, generator=g) * 0.3)
                cast(torch.Tensor, mod.running_var).copy_(torch.rand(n, generator=g) * 1.5 + 0.3)
                mod.weight.copy_(torch.randn(n, generator=g) * 0.5 + 1.0)
                mod.bias.copy_(torch.randn(n, generator=g) * 0.3)
            elif isinstance(mod, nn.PReLU):
                mod.weight.copy_(torch.rand(mod.weight.shape, generator=g) * 0.5 - 0.1)
        for name, p in model.named_parameters():
            if name.endswith("threshold"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model


def make_checkpoint(path: str | Path, kind: str = "bifsmnv2", seed: int = 0,
                    num_classes: int = 12, granularity: str | None = None,
                    method: str | None = None, features: dict | None = None,
                    **model_kwargs: object) -> Path:
    """Write a checkpoint of a randomly initialised model of ``kind`` (see :data:`KINDS`).

    ``method`` overrides the binarization method (e.g. to test refusals), ``granularity`` sets
    ``binary.options.granularity``. ``features``: the stored front end (default: the 32 x 32
    log-mel; for fbank40 pass ``Fbank40Config().to_dict()`` with ``n_mels=40, frames=32``).
    """
    features = dict(FeatureConfig().to_dict() if features is None else features)
    feature_config_from_dict(features)  # refuse a bad one here rather than at export
    name, binary = KINDS[kind]
    binary = {"keep_fp": ["conv1", "classifier"], "options": {}, **binary}
    if method is not None:
        binary["method"] = method
    if granularity is not None:
        binary["options"] = {"granularity": granularity}
    torch.manual_seed(seed)
    model = create_model(name, num_classes=num_classes, **model_kwargs)
    apply_binary(model, binary)
    randomize(model, seed + 1)
    path = Path(path)
    save_checkpoint(path, {
        "model": {"name": name, "kwargs": {"num_classes": num_classes, **model_kwargs}},
        "binary": binary,
        "labels": [f"word{i}" for i in range(num_classes)],
        "features": features,
        "state_dict": model.state_dict(),
        "epoch": 0,
    })
    return path


def synthetic_audio(n: int, seed: int = 0, samples: int = 16000, sr: int = 16000) -> np.ndarray:
    """(n, samples) float32 clips: tones, chirps, noise bursts and silence, mixed."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sr
    out = np.zeros((n, samples), np.float32)
    for i in range(n):
        kind = i % 4
        if kind == 0:  # tone + a little noise
            f = rng.uniform(200, 3000)
            x = 0.3 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.28))
            x += 0.01 * rng.standard_normal(samples)
        elif kind == 1:  # chirp
            f0, f1 = rng.uniform(100, 1000), rng.uniform(1000, 6000)
            x = 0.2 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / 2))
        elif kind == 2:  # noise burst in the middle
            x = np.zeros(samples)
            a, b = sorted(rng.integers(0, samples, 2))
            x[a:b] = 0.2 * rng.standard_normal(b - a)
            x += 1e-3 * rng.standard_normal(samples)
        else:  # two tones with an envelope
            env = np.exp(-((t - rng.uniform(0.2, 0.8)) ** 2) / 0.02)
            x = env * (0.2 * np.sin(2 * np.pi * rng.uniform(300, 800) * t)
                       + 0.1 * np.sin(2 * np.pi * rng.uniform(1000, 4000) * t))
        out[i] = x
    return out


def random_features(n: int, seed: int = 0, n_mels: int = 32, frames: int = 32) -> np.ndarray:
    """(n, 1, n_mels, frames) float32 values in the range of log-mel dB features."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, 1, n_mels, frames)) * 12 - 35).astype(np.float32)


def random_fbank40_features(n: int, seed: int = 0, n_mels: int = 40, frames: int = 32,
                            pool: int = 3, scale: float = 1.0 / 96.0) -> np.ndarray:
    """(n, 1, n_mels, frames) float32 fbank40 network inputs: sums of ``pool`` random image
    values 0..255 times float32(scale), as :func:`bifsmn.data.fbank.image_to_input` makes them."""
    rng = np.random.default_rng(seed)
    sums = rng.integers(0, 256, (n, 1, n_mels, frames, pool)).sum(-1).astype(np.float32)
    return sums * np.float32(scale)


def assert_engine_matches_deployed(bkws: str | Path, checkpoint: str | Path, x: np.ndarray,
                                   **dtypes: str) -> None:
    """Every path of the ``.bkws`` file gives logits bit-identical to the checkpoint's deployed
    PyTorch reference built with the file's storage (``dtypes``: ``param_dtype`` /
    ``classifier_dtype`` as given to the export) on the features ``x``; AssertionError naming
    the path otherwise. One parity check for every narrow-storage test."""
    from bifsmn.deploy import deploy
    from bifsmn.engine import Engine
    from bifsmn.train.checkpoint import model_from_checkpoint

    model, meta = model_from_checkpoint(checkpoint)
    ref = deploy(model, meta["binary"], **dtypes)
    eng = Engine(bkws)
    for blocks in eng.paths:
        eng.set_blocks(blocks)
        with torch.no_grad():
            want = ref(torch.from_numpy(x), blocks).numpy()
        np.testing.assert_array_equal(eng.predict(x), want, err_msg=f"{bkws}: {blocks} blocks")
