"""Validation curves of the FP teacher at 32, 48 and 96 network steps (README.md here).

Run from the repository root: ``python docs/results/pool/curves.py``; reads the per-epoch
metrics committed beside this file (and the 32-step run's, docs/results) and writes
curves.png next to it.
"""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
RUNS = {  # label: metrics file, relative to this folder
    "32 steps (pool 3), lr 2e-3: models/teacher_fbank40.pt": "../teacher-fbank40-metrics.csv",
    "32 steps (pool 3), lr 1e-3": "teacher-pool3-lr1e-3-metrics.csv",
    "48 steps (pool 2), lr 2e-3": "teacher-pool2-metrics.csv",
    "96 steps (pool 1), lr 1e-3": "teacher-pool1-lr1e-3-metrics.csv",
}


def main() -> None:
    fig, ax = plt.subplots(figsize=(9, 5))
    for label, file in RUNS.items():
        path = HERE / file
        if not path.is_file():
            continue
        with path.open() as f:
            rows = list(csv.DictReader(f))
        ax.plot([int(r["epoch"]) for r in rows], [100 * float(r["val_acc_8"]) for r in rows],
                marker="o", ms=3, label=label)
    ax.set_ylim(80, 97)
    ax.set_xlabel("epoch (25-epoch cosine schedule, seed 0)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("FP Deep-FSMN teacher on the fbank40 archive: network time steps per clip")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "curves.png", dpi=110)
    print(f"wrote {HERE / 'curves.png'}")


if __name__ == "__main__":
    main()
