"""Entry point that picks the objective for a config and runs the trainer."""

from __future__ import annotations

from pathlib import Path

from bifsmn.distill.objective import make_distill_objective
from bifsmn.train.config import Config, absolute_paths
from bifsmn.train.trainer import Trainer


def run_training(cfg: Config, run_dir: str | Path, resume: bool = False,
                 progress: bool | None = None) -> dict:
    """Train ``cfg`` into ``run_dir`` (distillation objectives when ``distill.kind`` is set).

    Relative paths in ``cfg`` are made absolute first (they name the same files either way),
    so that the ``config.yaml`` a fresh run writes resumes from any working directory."""
    absolute_paths(cfg)
    factory = None
    if cfg.distill.kind != "none":
        factory = make_distill_objective
    return Trainer(cfg, run_dir, progress=progress, objective_factory=factory).fit(resume)
