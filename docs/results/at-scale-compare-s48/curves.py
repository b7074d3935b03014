"""Validation curves of the at-scale comparison re-run after session 46's gradient fix (10 SGD
epochs each, the schedule of docs/results/at-scale-compare, whose runs predate the fix).

Run from the repository root: ``python docs/results/at-scale-compare-s48/curves.py``; reads the
per-epoch metrics copied next to this file from the run folders (``runs/s46-sgd-fbank40-10``
for BiFSMNv2, ``runs/s48-RECIPE-fbank40-10`` for the others) and writes curves.png beside them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
ROWS = {
    "BiFSMNv2": "bifsmnv2-metrics.csv",
    "no dual-scale (clip 5)": "no_dual_scale-metrics.csv",
    "no FID (no distillation)": "no_fid-metrics.csv",
    "IR-Net (fc1 BN, clip 5)": "ir_net-metrics.csv",
    "BiFSMN v1 (clip 5)": "bifsmn_v1-metrics.csv",
}


def main() -> None:
    fig, axes = plt.subplots(1, 4, figsize=(16, 4), sharey=True)
    for name, file in ROWS.items():
        with open(HERE / file) as f:
            rows = list(csv.DictReader(f))
        epochs = [int(r["epoch"]) for r in rows]
        for ax, blocks in zip(axes, (8, 4, 2, 1), strict=True):
            ax.plot(epochs, [100 * float(r[f"val_acc_{blocks}"]) for r in rows], marker="o",
                    label=name)
            ax.set_title(f"{blocks} blocks")
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation accuracy (%)")
    axes[0].legend(fontsize=8)
    fig.suptitle("At scale after the gradient fix (fbank40 archive, seed 0): 10 SGD 5e-3 epochs "
                 "per method")
    fig.tight_layout()
    fig.savefig(HERE / "curves.png", dpi=100)


if __name__ == "__main__":
    main()
