"""PNG plots of results, written atomically.

Figures are made with :class:`matplotlib.figure.Figure` directly, never through pyplot: a
library call must not switch the caller's matplotlib backend (a notebook's inline figures) or
leave figures in pyplot's registry.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from bifsmn.outputs import atomic_write_bytes


def subplots(*args: Any, figsize: tuple[float, float] | None = None,
             **kwargs: Any) -> tuple[Figure, Any]:
    """``(figure, axes)`` as ``pyplot.subplots`` gives them, without pyplot."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def save_png(fig: Figure, path: Path, tight: bool = True) -> None:
    """Render ``fig`` to PNG (Agg, whatever the process's backend) and write it atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight" if tight else None)
    atomic_write_bytes(Path(path), buf.getvalue())


def plot_curves(history: list[dict], path: Path) -> None:
    """Training loss, training accuracy and validation accuracy per path against epoch."""
    ep = [m["epoch"] for m in history]
    fig, (a1, a2) = subplots(1, 2, figsize=(11, 4))
    a1.plot(ep, [m["train_loss"] for m in history], label="train loss")
    a1.set_xlabel("epoch")
    a1.set_ylabel("loss")
    a1.grid(alpha=0.3)
    a1.legend()
    a2.plot(ep, [m["train_acc"] for m in history], label="train acc", color="0.6")
    for k in history[0]:
        if k.startswith("val_acc"):
            a2.plot(ep, [m[k] for m in history], label=f"val acc ({k[8:]} blocks)")
    a2.set_xlabel("epoch")
    a2.set_ylabel("accuracy")
    a2.grid(alpha=0.3)
    a2.legend()
    save_png(fig, path)
