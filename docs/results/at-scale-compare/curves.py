"""Validation curves of the at-scale comparison rows (10 epochs each; SGD unless marked AdamW).

Run from the repository root: ``python docs/results/at-scale-compare/curves.py``; reads the
per-epoch metrics committed under docs/results/ and writes curves.png next to this file.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1]
ROWS = {
    "BiFSMNv2, AdamW": "bifsmnv2_adamw-fbank40-10ep-metrics.csv",
    "IR-Net, AdamW (fc1 BN, clip 5)": "ir_net_adamw-fbank40-10ep-metrics.csv",
    "BiFSMNv2": "bifsmnv2-fbank40-10ep-metrics.csv",
    "no dual-scale (clip 5)": "no_dual_scale-fbank40-10ep-metrics.csv",
    "no FID": "no_fid-fbank40-10ep-metrics.csv",
    "IR-Net (fc1 BN, clip 5)": "ir_net-fbank40-10ep-metrics.csv",
    "BiFSMN v1 (clip 5)": "bifsmn_v1-fbank40-10ep-metrics.csv",
}


def main() -> None:
    fig, axes = plt.subplots(1, 4, figsize=(16, 4), sharey=True)
    for name, file in ROWS.items():
        with open(RESULTS / file) as f:
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
    fig.suptitle("At scale (fbank40 archive, seed 0): 10 epochs per method; SGD 5e-3 or AdamW 1e-3")
    fig.tight_layout()
    fig.savefig(Path(__file__).with_name("curves.png"), dpi=100)


if __name__ == "__main__":
    main()
