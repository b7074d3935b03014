"""Helpers shared by the detection tests (no tests here).

* :class:`StubScorer`: constant logits and no front end, for tests about memory and plumbing.
* :class:`ScriptScorer`: logits read from the audio itself (the mean level of the window's last
  hop says which class wins), so smoothing, thresholds and refractory time can be tested with
  exactly known posteriors.
* :func:`tiny_checkpoint`: a small thinnable DFSMN trained in ~2 s on the synthetic tones of
  conftest, so end-to-end tests see real detections. Built once per session.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from conftest import tone

from bifsmn.data.features import FeatureConfig, LogMel
from bifsmn.data.labels import COMMANDS, LABELS_12
from bifsmn.train.checkpoint import save_checkpoint

SR = 16000
HOP = 1600
TINY_KWARGS = {"num_classes": 12, "hidden": 64, "dim": 32, "frontend_channels": 8}


class StubScorer:
    """Constant-time scorer: zero logits, zero features (no STFT)."""

    name = "stub"

    def __init__(self) -> None:
        self.labels = list(LABELS_12)
        self.feature_config = FeatureConfig()
        self.calls = 0

    def features(self, windows: np.ndarray) -> np.ndarray:
        return np.zeros((len(windows), 1, 1, 1), np.float32)

    def scores(self, features: np.ndarray) -> np.ndarray:
        self.calls += 1
        return np.zeros((len(features), len(self.labels)), np.float32)


class WindowProbeScorer(StubScorer):
    """Logits that depend on where every sample of the window sits (each row on its own, so
    batching cannot change them): a window read from the wrong place in the stream's buffer
    scores differently."""

    batch_invariant = True

    def __init__(self, gain: float = 1.0) -> None:
        super().__init__()
        self._w = gain * np.random.default_rng(5).standard_normal((len(self.labels), 80))

    def features(self, windows: np.ndarray) -> np.ndarray:
        w = np.asarray(windows, np.float64)
        return (w.reshape(len(w), 1, 80, -1).sum(axis=3) / 50).astype(np.float32)

    def scores(self, features: np.ndarray) -> np.ndarray:
        return np.stack([self._w @ f.reshape(-1).astype(np.float64) for f in features]
                        ).astype(np.float32)


class ScriptScorer:
    """Class ``c`` wins (logit 30, others 0) when the last hop of the window has mean
    ``c / 100``; use :func:`script_audio` to write such audio."""

    name = "script"

    def __init__(self, hop: int = HOP) -> None:
        self.labels = list(LABELS_12)
        self.feature_config = FeatureConfig()
        self.hop = hop

    def features(self, windows: np.ndarray) -> np.ndarray:
        return windows[:, -self.hop:].mean(axis=1).reshape(-1, 1, 1, 1)

    def scores(self, features: np.ndarray) -> np.ndarray:
        cls = np.clip(np.rint(features.reshape(-1) * 100), 0, len(self.labels) - 1).astype(int)
        out = np.zeros((len(cls), len(self.labels)), np.float32)
        out[np.arange(len(cls)), cls] = 30.0
        return out


def script_audio(classes: list[str], hop: int = HOP) -> np.ndarray:
    """One hop of constant level per entry: the class that :class:`ScriptScorer` makes win."""
    return np.concatenate([np.full(hop, LABELS_12.index(c) / 100, np.float32)
                           for c in classes])


def tone_stream(layout: list[tuple[str, float]], seconds: float, seed: int = 0,
                noise: float = 0.005) -> np.ndarray:
    """Low noise with 1-s word tones (conftest's) starting at the given times."""
    rng = np.random.default_rng(seed)
    x = (noise * rng.standard_normal(int(seconds * SR))).astype(np.float32)
    for word, t in layout:
        s = int(t * SR)
        clip = tone(word, rng)[: len(x) - s]
        x[s:s + len(clip)] += clip
    return x


def _training_windows(rng: np.random.Generator, per_class: int) -> tuple[torch.Tensor,
                                                                           torch.Tensor]:
    xs, ys = [], []
    for i, lab in enumerate(LABELS_12):
        for k in range(per_class):
            # half on digital silence: streams are zero-padded at both ends, and real models
            # learn all-zero clips as _silence_ too (reference protocol, fix_length padding)
            w = ((k % 2) * 0.005 * rng.standard_normal(SR)).astype(np.float32)
            if lab != "_silence_":
                word = lab if lab in COMMANDS else ("bed", "cat")[k % 2]
                x = tone(word, rng)
                sh = int(rng.integers(-5000, 5001))  # partly outside, as in a sliding window
                if sh >= 0:
                    w[sh:] += x[:SR - sh]
                else:
                    w[:SR + sh] += x[-sh:]
            xs.append(w)
            ys.append(i)
    return LogMel()(torch.from_numpy(np.stack(xs))), torch.tensor(ys)


_MEMO: dict[str, Path] = {}


def tiny_checkpoint(root: Path, trained: bool = True, steps: int = 60) -> Path:
    """A thinnable float DFSMN checkpoint (path 0 trained on tones unless ``trained=False``)."""
    key = f"{root}:{trained}"
    if key in _MEMO and _MEMO[key].is_file():
        return _MEMO[key]
    from bifsmn.models import create_model

    torch.manual_seed(0)
    model = create_model("dfsmn_thinnable", **TINY_KWARGS)
    if trained:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            feats, labels = _training_windows(np.random.default_rng(0), 24)
            opt = torch.optim.Adam(model.parameters(), 3e-3)
            gen = torch.Generator().manual_seed(0)
            model.train()
            for _ in range(steps):
                idx = torch.randint(0, len(labels), (48,), generator=gen)
                loss = torch.nn.functional.cross_entropy(model(feats[idx]), labels[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        finally:
            torch.set_num_threads(threads)
    model.eval()
    path = Path(root) / ("tiny_trained.pt" if trained else "tiny_untrained.pt")
    save_checkpoint(path, {
        "model": {"name": "dfsmn_thinnable", "kwargs": dict(TINY_KWARGS)},
        "binary": {"method": "none"},
        "labels": list(LABELS_12),
        "features": FeatureConfig().to_dict(),
        "state_dict": model.state_dict(),
    })
    _MEMO[key] = path
    return path


def test_helpers_behave():
    """The stubs do what the other tests assume."""
    s = ScriptScorer()
    x = script_audio(["yes", "_silence_", "go"])
    windows = np.stack([np.pad(x[:k * HOP], (SR - k * HOP, 0)) for k in (1, 2, 3)])
    winners = s.scores(s.features(windows)).argmax(1)
    assert [LABELS_12[i] for i in winners] == ["yes", "_silence_", "go"]
    stub = StubScorer()
    assert stub.scores(stub.features(windows)).shape == (3, 12) and stub.calls == 1
    assert len(tone_stream([("no", 0.5)], 2.0)) == 2 * SR
