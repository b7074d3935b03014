"""Validation curves of the at-scale comparison rows (10 epochs each; SGD unless marked AdamW).

Run from the repository root: ``python docs/results/at-scale-compare/curves.py`` reads the
per-epoch metrics committed under docs/results/ and writes curves.png next to this file;
``--after-fix`` draws session 48's re-run after the gradient fix instead, from the metrics in
docs/results/at-scale-compare-s48/ (copied there from the run folders), into that folder's
curves.png; ``--fid60`` draws session 49's 60-epoch FID / no-FID runs
(docs/results/fid-at-scale-60/, its run.sh) into that folder's curves.png.
"""

from __future__ import annotations

import argparse
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
#: session 48, after the gradient fix (runs/s46-sgd-fbank40-10 and runs/s48-RECIPE-fbank40-10)
AFTER_FIX = {
    "BiFSMNv2": "at-scale-compare-s48/bifsmnv2-metrics.csv",
    "no dual-scale (clip 5)": "at-scale-compare-s48/no_dual_scale-metrics.csv",
    "no FID (no distillation)": "at-scale-compare-s48/no_fid-metrics.csv",
    "BiFSMNv2, alpha 0.01": "at-scale-compare-s48/alpha001-metrics.csv",
    "IR-Net (fc1 BN, clip 5)": "at-scale-compare-s48/ir_net-metrics.csv",
    "BiFSMN v1 (clip 5)": "at-scale-compare-s48/bifsmn_v1-metrics.csv",
}

#: session 49, 60 SGD epochs from the 60-epoch teacher (docs/results/fid-at-scale-60/run.sh)
FID60 = {
    "FID, alpha 0.1 (sgd60)": "fid-at-scale-60/fid-metrics.csv",
    "FID, alpha 0.01": "fid-at-scale-60/fid_alpha001-metrics.csv",
    "no FID (no distillation)": "fid-at-scale-60/no_fid-metrics.csv",
}


def draw(rows: dict[str, str], title: str, out: Path) -> None:
    """One panel per path: validation accuracy per epoch of every row's metrics file."""
    fig, axes = plt.subplots(1, 4, figsize=(16, 4), sharey=True)
    for name, file in rows.items():
        if not (RESULTS / file).is_file():
            print(f"{file}: not there yet, left out")
            continue
        with open(RESULTS / file) as f:
            per_epoch = list(csv.DictReader(f))
        epochs = [int(r["epoch"]) for r in per_epoch]
        for ax, blocks in zip(axes, (8, 4, 2, 1), strict=True):
            ax.plot(epochs, [100 * float(r[f"val_acc_{blocks}"]) for r in per_epoch], marker="o",
                    markersize=3 if len(epochs) > 20 else 6, label=name)
            ax.set_title(f"{blocks} blocks")
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation accuracy (%)")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--after-fix", action="store_true",
                    help="session 48's re-run after the gradient fix (SGD 5e-3 for every row)")
    ap.add_argument("--fid60", action="store_true",
                    help="session 49's 60-epoch FID (alpha 0.1 and 0.01) and no-FID runs")
    args = ap.parse_args()
    if args.fid60:
        draw(FID60, "At scale after the gradient fix (fbank40 archive, seed 0): 60 SGD 5e-3 "
             "epochs from the 60-epoch teacher", RESULTS / "fid-at-scale-60" / "curves.png")
    elif args.after_fix:
        draw(AFTER_FIX, "At scale after the gradient fix (fbank40 archive, seed 0): 10 SGD 5e-3 "
             "epochs per method", RESULTS / "at-scale-compare-s48" / "curves.png")
    else:
        draw(ROWS, "At scale (fbank40 archive, seed 0): 10 epochs per method; SGD 5e-3 or "
             "AdamW 1e-3", Path(__file__).with_name("curves.png"))


if __name__ == "__main__":
    main()
