"""One place that turns a stored feature description into a config and a front-end module.

Checkpoints and exports store their front end as a dict. Older files (and the paper's pipeline)
hold the 32 x 32 log-mel settings without a ``kind``; the at-scale models say ``kind: fbank40``.
Every reader goes through :func:`feature_config_from_dict`, so a model is always fed the features
it was trained on, and :func:`check_feature_kind` refuses the wrong kind with one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bifsmn.data.feature_configs import KIND as FBANK40
from bifsmn.data.feature_configs import Fbank40Config, FeatureConfig
from bifsmn.errors import BifsmnError

if TYPE_CHECKING:
    import torch
    from torch import nn

LOGMEL32 = "logmel32"
KINDS = (LOGMEL32, FBANK40)
AnyFeatureConfig = FeatureConfig | Fbank40Config


def feature_kind(cfg: AnyFeatureConfig) -> str:
    return FBANK40 if isinstance(cfg, Fbank40Config) else LOGMEL32


def feature_config_from_dict(d: dict[str, Any] | None, src: str | None = None
                             ) -> AnyFeatureConfig:
    """The config of a stored ``features`` dict (no ``kind``: the paper's 32 x 32 log-mel)."""
    d = dict(d or {})
    kind = d.pop("kind", LOGMEL32)
    cls = {LOGMEL32: FeatureConfig, FBANK40: Fbank40Config}.get(kind)
    if cls is None:
        raise BifsmnError(f"unknown feature kind {kind!r} (known: {', '.join(KINDS)})", src)
    try:
        return cls(**d) if cls is FeatureConfig else cls(kind=kind, **d)
    except TypeError as exc:
        raise BifsmnError(f"bad {kind} feature settings ({exc})", src) from None


def feature_config_for(kind: str) -> AnyFeatureConfig:
    """Default config of a feature kind by name."""
    if kind == FBANK40:
        return Fbank40Config()
    if kind == LOGMEL32:
        return FeatureConfig()
    raise BifsmnError(f"unknown feature kind {kind!r} (known: {', '.join(KINDS)})")


def make_frontend(cfg: AnyFeatureConfig) -> nn.Module:
    """Waveforms (B, samples) in [-1, 1) -> network input (B, 1, mel, frames). The modules
    (and torch) are imported here, not with this module: reading a config needs no torch."""
    from bifsmn.data.fbank import Fbank40
    from bifsmn.data.features import LogMel

    return Fbank40(cfg) if isinstance(cfg, Fbank40Config) else LogMel(cfg)


def frontend_device(cfg: AnyFeatureConfig, device: torch.device) -> torch.device:
    """Where the front end of ``cfg`` runs when the model trains on ``device``: the model's
    device, except fbank40 on Apple's MPS, which has no float64 (fbank40 computes in float64 so
    that its images equal the archive's and the engine's), so it runs on the CPU there and only
    its float32 output moves to the device."""
    import torch

    if isinstance(cfg, Fbank40Config) and device.type == "mps":
        return torch.device("cpu")
    return device


def check_feature_kind(model_cfg: AnyFeatureConfig, data_kind: str, what: str) -> None:
    """Refuse data of another feature kind than the model's, naming both."""
    if feature_kind(model_cfg) != data_kind:
        raise BifsmnError(f"model expects {feature_kind(model_cfg)} features but {what} gives "
                          f"{data_kind} features")


def check_fbank40(model_cfg: AnyFeatureConfig, what: str) -> Fbank40Config:
    """:func:`check_feature_kind` for fbank40 data: ``model_cfg``, now known to be an
    :class:`Fbank40Config` (for the type checker), or the same refusal."""
    check_feature_kind(model_cfg, FBANK40, what)
    assert isinstance(model_cfg, Fbank40Config)  # feature_kind(model_cfg) == FBANK40
    return model_cfg
