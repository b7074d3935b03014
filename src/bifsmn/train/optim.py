"""Optimizers with per-parameter-group settings, and per-epoch learning-rate schedules.

The schedule is a pure function of the epoch (plus a small state for ``plateau``), so resuming
needs nothing but the epoch number and that state; no scheduler object has to be pickled.
"""

from __future__ import annotations

import math
import re
from typing import cast

import torch
from torch import nn

from bifsmn.errors import BifsmnError
from bifsmn.train.config import OptimConfig, SchedConfig


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """Split parameters by the regexes of ``cfg.groups`` (first match wins).

    Each group entry: ``{match: regex, lr_scale: float, weight_decay: float}``; the BiFSMNv2
    recipe puts thresholds and LPB alphas at 0.1x lr with ``match: "threshold|alpha"``.
    """
    specs = []
    for i, g in enumerate(cfg.groups):
        unknown = set(g) - {"match", "lr_scale", "weight_decay"}
        if "match" not in g or unknown:
            raise BifsmnError(f"optim.groups[{i}] needs 'match' and only lr_scale/weight_decay "
                              f"(got {sorted(g)})")
        try:
            rx = re.compile(str(g["match"]))
        except re.error as exc:
            raise BifsmnError(f"optim.groups[{i}].match {g['match']!r} is not a regular "
                              f"expression ({exc})") from None
        specs.append((rx, float(g.get("lr_scale", 1.0)),
                      float(g.get("weight_decay", cfg.weight_decay))))
    buckets: list[list[nn.Parameter]] = [[] for _ in range(len(specs) + 1)]
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        idx = next((i for i, (rx, _, _) in enumerate(specs) if rx.search(name)), len(specs))
        buckets[idx].append(p)
    groups = []
    for i, params in enumerate(buckets):
        if not params:
            continue
        scale, wd = (specs[i][1], specs[i][2]) if i < len(specs) else (1.0, cfg.weight_decay)
        groups.append({"params": params, "lr": cfg.lr * scale, "lr_scale": scale,
                       "weight_decay": wd})
    return groups


def _betas(cfg: OptimConfig) -> tuple[float, float]:
    """``optim.betas`` as the pair Adam takes (the config's list of two floats)."""
    return cast(tuple[float, float], tuple(cfg.betas))


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg)
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                               weight_decay=cfg.weight_decay)
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=_betas(cfg),
                                weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=_betas(cfg),
                                 weight_decay=cfg.weight_decay)
    raise BifsmnError(f"unknown optimizer {cfg.name!r} (sgd, adam, adamw)")


class Schedule:
    """Learning-rate factor per epoch: cosine, step, plateau or constant, with linear warm-up."""

    def __init__(self, cfg: SchedConfig, base_lr: float, epochs: int) -> None:
        if cfg.name not in ("cosine", "step", "plateau", "constant"):
            raise BifsmnError(f"unknown schedule {cfg.name!r} (cosine, step, plateau, constant)")
        self.cfg, self.base_lr, self.epochs = cfg, base_lr, epochs
        self.state = {"best": -math.inf, "bad": 0, "factor": 1.0}

    def factor(self, epoch: int) -> float:
        """Multiplier of the base lr during ``epoch`` (0-based)."""
        c = self.cfg
        if epoch < c.warmup_epochs:
            return c.warmup_start + (1 - c.warmup_start) * epoch / max(1, c.warmup_epochs)
        if c.name == "cosine":
            t = (epoch - c.warmup_epochs) / max(1, self.epochs - c.warmup_epochs)
            floor = c.min_lr / self.base_lr if self.base_lr else 0.0
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))
        if c.name == "step":
            return c.gamma ** ((epoch - c.warmup_epochs) // max(1, c.step_size))
        if c.name == "plateau":
            return self.state["factor"]
        return 1.0

    def observe(self, metric: float) -> None:
        """Feed the validation metric (higher is better); only ``plateau`` uses it."""
        if metric > self.state["best"]:
            self.state["best"], self.state["bad"] = metric, 0
        else:
            self.state["bad"] += 1
            if self.state["bad"] > self.cfg.patience:
                self.state["factor"] *= self.cfg.gamma
                self.state["bad"] = 0

    def apply(self, opt: torch.optim.Optimizer, epoch: int) -> float:
        f = self.factor(epoch)
        for g in opt.param_groups:
            g["lr"] = self.base_lr * g.get("lr_scale", 1.0) * f
        return self.base_lr * f
