"""PNG plots of results (headless matplotlib), written atomically."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bifsmn.outputs import atomic_write_bytes  # noqa: E402


def save_png(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())


def plot_curves(history: list[dict], path: Path) -> None:
    """Training loss, training accuracy and validation accuracy per path against epoch."""
    ep = [m["epoch"] for m in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
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
