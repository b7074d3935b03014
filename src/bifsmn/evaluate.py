"""Accuracy, per-class accuracy and confusion matrix of a checkpoint on a data split."""

from __future__ import annotations

from pathlib import Path

import torch

from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.sources import split_inputs
from bifsmn.errors import BifsmnError, NonFiniteError
from bifsmn.models.dfsmn import BLOCKS_TO_PATH
from bifsmn.train.checkpoint import model_from_checkpoint
from bifsmn.train.trainer import predict


def confusion(pred: torch.Tensor, target: torch.Tensor, n: int) -> torch.Tensor:
    """Rows: true class, columns: predicted class."""
    return torch.bincount(target * n + pred, minlength=n * n).reshape(n, n)


def metrics_from_logits(logits: torch.Tensor, labels: torch.Tensor,
                        names: list[str]) -> dict:
    pred = logits.argmax(1)
    cm = confusion(pred, labels, len(names))
    support = cm.sum(1)
    per_class = {n: (cm[i, i] / support[i]).item() if support[i] else None
                 for i, n in enumerate(names)}
    return {"accuracy": (pred == labels).float().mean().item() if len(labels) else float("nan"),
            "count": len(labels), "per_class": per_class, "confusion": cm.tolist(),
            "labels": names}


def evaluate_checkpoint(checkpoint: str | Path, data: str | Path, split: str | None = None,
                        blocks: int = 8, protocol: str = "auto",
                        cache_dir: Path | None = None, progress: bool = True) -> dict:
    """Evaluate a checkpoint on a split; ``split=None`` picks the layout's default.

    A feature archive is read as images; audio goes through the checkpoint's own front end
    (for an fbank40 model that is the deployed path: :mod:`bifsmn.data.sources`)."""
    model, ckpt = model_from_checkpoint(checkpoint)
    if blocks not in BLOCKS_TO_PATH:
        raise BifsmnError(f"--blocks must be one of 8, 4, 2, 1 (got {blocks})")
    num_classes = ckpt["model"]["kwargs"].get("num_classes", 12)
    feats, labels, split, source = split_inputs(
        data, split, feature_config_from_dict(ckpt["features"], str(checkpoint)), num_classes,
        protocol, cache_dir, progress)
    if len(labels) == 0:
        raise BifsmnError(f"split '{split}' is empty", data)
    logits = predict(model, feats, BLOCKS_TO_PATH[blocks])
    if not torch.isfinite(logits).all():  # once per evaluation: NaN never becomes an accuracy
        raise NonFiniteError(f"model gives non-finite logits (NaN or inf) on split '{split}' of "
                             f"{data} (diverged or corrupt model?)", checkpoint)
    out = metrics_from_logits(logits, labels, list(ckpt["labels"]))
    out.update({"checkpoint": str(checkpoint), "data": str(data), "split": split,
                "blocks": blocks, "source": source})
    return out


def format_report(m: dict) -> str:
    names = m["labels"]
    lines = [f"{m['checkpoint']} on {m['data']} [{m['split']}, {m['blocks']} blocks]: "
             f"accuracy {100 * m['accuracy']:.2f}% of {m['count']} clips", "",
             "per-class accuracy:"]
    for n in names:
        v = m["per_class"][n]
        lines.append(f"  {n:<10} {'-' if v is None else f'{100 * v:6.2f}%'}")
    w = max(len(n) for n in names)
    lines += ["", "confusion (rows true, columns predicted):",
              " " * (w + 1) + " ".join(f"{n[:5]:>5}" for n in names)]
    for n, row in zip(names, m["confusion"], strict=True):
        lines.append(f"{n:<{w}} " + " ".join(f"{v:5d}" for v in row))
    return "\n".join(lines)
