"""Validation curves of the width runs (docs/results/wide/README.md).

Run from the repository root: ``python docs/results/wide/curves.py``; reads the per-epoch
metrics committed beside this file and writes curves.png next to it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
BUNDLE = HERE.parents[2] / "models" / "bifsmnv2_fbank40_120snr.pt"  # the fine-tunes' start
PANELS = {
    "from the teacher, 10 epochs": {
        "hidden 256": "h256-10ep-metrics.csv",
        "hidden 512": "h512-10ep-metrics.csv",
    },
    "fine-tuned from the bundled student, 8 epochs": {
        "hidden 256 (as bundled)": "narrow-ft-metrics.csv",
        "hidden 512 (widened)": "wide-ft-metrics.csv",
    },
}


def main() -> None:
    start = torch.load(BUNDLE, map_location="cpu", weights_only=True)["metrics"]
    fig, axes = plt.subplots(2, 4, figsize=(16, 8))
    for row, (title, runs) in zip(axes, PANELS.items(), strict=True):
        for name, file in runs.items():
            with open(HERE / file) as f:
                rows = list(csv.DictReader(f))
            epochs = [int(r["epoch"]) for r in rows]
            for ax, blocks in zip(row, (8, 4, 2, 1), strict=True):
                ax.plot(epochs, [100 * float(r[f"val_acc_{blocks}"]) for r in rows],
                        marker="o", label=name)
                ax.set_title(f"{title}: {blocks} blocks", fontsize=9)
                ax.set_xlabel("epoch")
                ax.grid(alpha=0.3)
        if "bundled" in title:
            for ax, blocks in zip(row, (8, 4, 2, 1), strict=True):
                ax.axhline(100 * start[f"val_acc_{blocks}"], color="gray", ls="--",
                           label="bundled student (start)")
        row[0].set_ylabel("validation accuracy (%)")
        row[0].legend(fontsize=8)
    fig.suptitle("BiFSMNv2 at scale (fbank40 archive, seed 0): FSMN hidden width 256 vs 512")
    fig.tight_layout()
    fig.savefig(HERE / "curves.png", dpi=100)


if __name__ == "__main__":
    main()
