"""How evaluation scores a model: one rule, used by validation, ``bifsmn eval``, compare,
scale tables and detection.

A binarized model with a deployed form is scored in the deployed arithmetic
(:class:`~bifsmn.deploy.reference.DeployedDFSMN`), the function the engine runs bit for bit;
any other model (full precision, training-only baselines such as IR-Net, reference
granularity) is scored by its training graph in eval mode. The choice is made once per
:class:`Scoring`, from the typed :class:`~bifsmn.deploy.fold.NotDeployable` refusal only:
any other error (a float16 overflow, a broken model) propagates.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bifsmn.blocks import require
from bifsmn.deploy.fold import NotDeployable, fold
from bifsmn.deploy.reference import DeployedDFSMN
from bifsmn.errors import NonFiniteError


def _deployed_or_none(model: nn.Module) -> DeployedDFSMN | None:
    binary = getattr(model, "binary_spec", None)
    if not binary or binary.get("method", "none") == "none":
        return None  # full precision: the graph is the deployed arithmetic's reference
    try:
        return DeployedDFSMN(fold(model, binary))
    except NotDeployable:
        return None  # a training-only binarization: its graph is all there is


class Scoring:
    """A model frozen for scoring: ``scoring(x, blocks)`` -> logits (B, classes) on the CPU.

    Built once per evaluation (folding costs a fraction of a second): the model must not
    change while it is in use. ``deployed`` is the deployed form, or None when the graph runs.
    """

    def __init__(self, model: nn.Module, device: torch.device | None = None) -> None:
        self.model = model
        self.deployed = _deployed_or_none(model)
        self.device = device or next(model.parameters()).device
        self.num_layers = getattr(model, "num_layers", 8)
        self.num_paths = getattr(model, "num_paths", 1)

    def path(self, blocks: int) -> int:
        """Path index of ``blocks`` (:class:`~bifsmn.errors.MissingPath` if the model lacks it)."""
        return require(blocks, self.num_layers, self.num_paths)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, blocks: int = 8) -> torch.Tensor:
        path = self.path(blocks)
        if self.deployed is not None:
            return self.deployed(x.cpu(), blocks)  # runs on the CPU, as the engine
        was = self.model.training
        self.model.eval()
        try:
            return self.model(x.to(self.device), path=path).cpu()
        finally:
            self.model.train(was)


def scoring(model: nn.Module | Scoring, device: torch.device | None = None) -> Scoring:
    """``model`` as a :class:`Scoring` (passed through if it already is one)."""
    return model if isinstance(model, Scoring) else Scoring(model, device)


def predict_paths(model: nn.Module | Scoring, feats: torch.Tensor, blocks: list[int],
                  batch_size: int = 512, device: torch.device | None = None
                  ) -> dict[int, torch.Tensor]:
    """Logits (N, classes) on the CPU for each block count in ``blocks``, folding once."""
    s = scoring(model, device)
    out = {}
    for b in blocks:
        parts = [s(f, b) for f in feats.split(batch_size)]
        out[b] = torch.cat(parts) if parts else torch.zeros(0)
    return out


def predict(model: nn.Module | Scoring, feats: torch.Tensor, blocks: int = 8,
            batch_size: int = 512, device: torch.device | None = None) -> torch.Tensor:
    """Evaluation logits (N, classes) on the CPU of features (N, 1, mel, time), in the
    deployed arithmetic where the model has one (see the module docstring)."""
    return predict_paths(model, feats, [blocks], batch_size, device)[blocks]


def predict_finite(model: nn.Module | Scoring, feats: torch.Tensor, blocks: int,
                   what: str, source: str | Path) -> torch.Tensor:
    """:func:`predict`, refusing non-finite logits with one line naming ``source`` (the
    checkpoint) and ``what`` was scored: an argmax over NaN never becomes an accuracy."""
    logits = predict(model, feats, blocks)
    if not torch.isfinite(logits).all():
        raise NonFiniteError(f"model gives non-finite logits (NaN or inf) on {what}, {blocks} "
                             "blocks (diverged or corrupt model?)", source)
    return logits
