"""Distillation distances (docs/methods.md, "Distillation")."""

from __future__ import annotations

import torch


def attention_distance(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``|| a^2/||a^2||_F - b^2/||b^2||_F ||_F`` with norms over the whole batch tensor.

    The BiFSMN papers' feature loss: it compares where the energy of two feature maps sits,
    independent of their overall scale (a binary student's features are not on the teacher's
    scale).
    """
    a2, b2 = a.pow(2), b.pow(2)
    return (a2 / (a2.norm() + eps) - b2 / (b2.norm() + eps)).norm()


def hed_enhance(t: torch.Tensor, high: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """BiFSMN v1 High-frequency Enhancement: ``T/std(T) + H(T)/std(H(T))`` (whole-tensor std)."""
    return t / (t.std() + eps) + high / (high.std() + eps)
