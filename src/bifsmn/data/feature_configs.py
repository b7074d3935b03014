"""Front-end settings as plain data: what checkpoints and ``.bkws`` files store about the
features a model was trained on.

Why a module of its own: reading a model's front-end description (every detector does, at load)
must not import PyTorch. A ``.bkws`` model computes its features in the C++ engine, so the
detection path of an engine file runs without torch (``bifsmn detect`` starts in a fraction of the
time); the front-end *modules* (:class:`bifsmn.data.features.LogMel`,
:class:`bifsmn.data.fbank.Fbank40`) stay beside their math, which needs torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FeatureConfig:
    """Front-end settings; stored in checkpoints and exports so inference matches training."""

    sample_rate: int = 16000
    clip_samples: int = 16000
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 32
    f_min: float = 0.0
    f_max: float = 8000.0
    amin: float = 1e-10

    @property
    def num_frames(self) -> int:
        return 1 + self.clip_samples // self.hop_length

    def to_dict(self) -> dict:
        return asdict(self)



KIND = "fbank40"


@dataclass(frozen=True)
class Fbank40Config:
    """Parameters of the fbank40 front end; stored in checkpoints and ``.bkws`` files."""

    kind: str = KIND
    sample_rate: int = 16000
    clip_samples: int = 16000
    frame_length: int = 480
    hop_length: int = 160
    n_fft: int = 512
    n_mels: int = 40
    f_min: float = 0.0
    f_max: float = 4000.0
    window_power: float = 0.85
    log_scale: float = 10.0673
    log_offset: float = 540.0
    pool: int = 3  # frames averaged into one network time step
    input_scale: float = 1.0 / 96.0  # network input = (sum of `pool` values) * input_scale

    @property
    def image_frames(self) -> int:
        """Frames of one clip's image: 98 for one second."""
        return 1 + (self.clip_samples - self.frame_length) // self.hop_length

    @property
    def num_frames(self) -> int:
        """Time steps the network sees: whole pooled steps, rounded down to a multiple of 4
        because the network's two stride-2 convolutions need one (pool 3: 32, 2: 48, 1: 96)."""
        return self.image_frames // self.pool // 4 * 4

    @property
    def pool_offset(self) -> int:
        """Image frames dropped at the start before pooling (1 for pools 1-3: the 96 central
        frames)."""
        return (self.image_frames - self.num_frames * self.pool) // 2

    def to_dict(self) -> dict:
        return asdict(self)
