"""Probe (session 52): data-aware rounding of the ``small`` plan's int8 thresholds
(``rounding.round_thresholds`` beside this script; in ``bifsmn.deploy`` while it was probed)
against nearest rounding.

Fixed before it ran (the rule): the codes are chosen on the training split only (radius 2);
the validation split is scored once per model. The size target's accuracy rule (issue 10: no
path more than 0.2 points below the float32 file) is read off the validation split as in
docs/results/bkws-sizes/sizes.md. Adopted as what ``--storage small`` does when the exporter
is given training data only if, over the models probed, it changes fewer validation
predictions than nearest rounding in total and meets the rule for at least as many models.

    python docs/results/bkws-rounding/probe.py DATA MODEL [MODEL ...]

(run as ``probe.py ../shared/data/speech_commands_test12_v0.02 models/bifsmnv2_a01_sc12dev.pt``,
then the same with the other three dev models; outputs in probe.txt, outcome in README.md)

DATA: the data root the models were trained on (the dev data for the ``sc12dev`` models).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.sources import split_inputs
from bifsmn.deploy import DeployedDFSMN, fold
from bifsmn.deploy.plans import PLANS, narrowed_spec
from bifsmn.train.checkpoint import model_from_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rounding import round_thresholds  # noqa: E402  (this folder's data-aware rounding)


def predictions(spec, x: torch.Tensor) -> dict[int, torch.Tensor]:
    ref = DeployedDFSMN(spec)
    with torch.no_grad():
        return {b: torch.cat([ref(x[i:i + 512], b).argmax(1) for i in range(0, len(x), 512)])
                for b in spec.blocks}


def main(data: str, models: list[str]) -> None:
    torch.set_num_threads(1)
    for path in models:
        t0 = time.time()
        model, meta = model_from_checkpoint(path)
        spec = fold(model, meta["binary"])
        fcfg = feature_config_from_dict(meta["features"])
        xt, _, _, _ = split_inputs(data, "training", fcfg, 12, "auto", None, False)
        xv, yv, _, _ = split_inputs(data, "validation", fcfg, 12, "auto", None, False)
        plan = PLANS["small"]
        print(f"model {path}: {len(xt)} training clips of {data} (codes chosen on them), "
              f"{len(xv)} validation clips", flush=True)
        base = predictions(spec, xv)
        near = narrowed_spec(spec, plan)
        aware = round_thresholds(spec, plan, xt, progress=lambda m: print("  " + m, flush=True))
        for name, s in (("nearest", near), ("data-aware", aware)):
            pred = predictions(s, xv)
            cells = []
            for b in spec.blocks:
                acc0 = 100.0 * float((base[b] == yv).float().mean())
                acc = 100.0 * float((pred[b] == yv).float().mean())
                changed = int((pred[b] != base[b]).sum())
                cells.append(f"{b} blocks {acc0:.2f} -> {acc:.2f} ({acc - acc0:+.2f}, "
                             f"{changed} changed)")
            print(f"  {name}: " + "; ".join(cells), flush=True)
        print(f"  ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
