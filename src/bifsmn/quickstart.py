"""``bifsmn quickstart``: the README's main job, end to end on whatever data is at hand.

It trains a short full-precision teacher, evaluates it on the validation split and prints one
summary table with the run folder. Without ``--data`` it downloads Speech Commands v0.02 first
(only where a network exists). Later stages (binary student, export, benchmark, detection) are
added here as they land.
"""

from __future__ import annotations

import time
from pathlib import Path

from bifsmn.cli import resolve_config
from bifsmn.evaluate import evaluate_checkpoint
from bifsmn.train.config import load_config
from bifsmn.train.runner import run_training


def quickstart(data: str | None, out: Path, epochs: int = 20, root: Path = Path("data")) -> dict:
    """Run the quickstart pipeline; returns the summary rows."""
    if data is None:
        from bifsmn.data.download import download_speech_commands

        data = str(download_speech_commands("v0.02", root))
    t0 = time.time()
    cfg = load_config(resolve_config("teacher"), [f"train.epochs={epochs}"])
    cfg.data.root = str(data)
    run = out / "teacher"
    resume = (run / "last.pt").is_file()
    if resume:
        print(f"resuming {run}")
    summary = run_training(cfg, run, resume=resume)
    ev = evaluate_checkpoint(run / "best.pt", data, None, 8, progress=False)
    rows = [("teacher (FP32 Deep-FSMN)", f"{epochs}", f"{100 * summary['best_val_acc']:.2f}%",
             f"{100 * ev['accuracy']:.2f}% ({ev['split']}, {ev['count']} clips)",
             f"{summary['train_wall_s'] / max(1, epochs):.1f}")]
    header = ("model", "epochs", "best val acc", "eval of best.pt", "s/epoch")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(f"\nrun folder: {out} (total {time.time() - t0:.0f} s)")
    return {"rows": rows, "run": str(out)}
