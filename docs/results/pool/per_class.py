"""Per-word accuracy of fbank40 models pooled differently (docs/results/pool/README.md).

Each checkpoint reads the archive's images through its own ``features`` (``data.pool``), so
models at 32, 48 and 96 network steps are compared on the same clips:

    python docs/results/pool/per_class.py NAME=CKPT [NAME=CKPT ...] [--split testing]

Prints, per model, overall accuracy, accuracy on each word and how many keyword clips were
called another keyword (the confusion that sets a detector's thresholds, README "Issue 13").
"""

from __future__ import annotations

import argparse

import torch

from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.labels import COMMANDS
from bifsmn.data.sources import split_inputs
from bifsmn.deploy import predict, scoring
from bifsmn.train.checkpoint import model_from_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", metavar="NAME=CKPT")
    ap.add_argument("--archive", default="../shared/data/speech_commands_v0.02_fbank40")
    ap.add_argument("--split", default="testing")
    a = ap.parse_args()
    torch.set_num_threads(1)
    rows, labels = [], None
    for spec in a.models:
        name, ckpt_path = spec.split("=", 1)
        model, ckpt = model_from_checkpoint(ckpt_path)
        labels = list(ckpt["labels"])
        fcfg = feature_config_from_dict(ckpt["features"], ckpt_path)
        x, y, _, _ = split_inputs(a.archive, a.split, fcfg)
        with torch.no_grad():
            pred = predict(scoring(model), x, 8).argmax(1)
        kw = torch.tensor([lb in COMMANDS for lb in labels])
        cross = (kw[y] & kw[pred] & (pred != y)).sum().item()
        per = {lb: (pred[y == i] == i).float().mean().item() for i, lb in enumerate(labels)}
        rows.append((name, (pred == y).float().mean().item(), cross, int(kw[y].sum()), per))
    assert labels is not None
    print(f"{a.split} split of {a.archive}, 8 blocks")
    print("| model | all | keyword called another keyword | "
          + " | ".join(labels) + " |")
    print("|---|---|---|" + "---|" * len(labels))
    for name, acc, cross, nkw, per in rows:
        print(f"| {name} | {100 * acc:.2f} % | {cross} of {nkw} | "
              + " | ".join(f"{100 * per[lb]:.1f}" for lb in labels) + " |")


if __name__ == "__main__":
    main()
