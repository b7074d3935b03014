"""Does averaging a thinnable student's own paths make a stronger classifier?

Accuracy of every combination of the 8/4/2/1-block paths of one checkpoint (mean of their
log-softmax outputs, the deployed arithmetic of each path) on the archive's validation and
testing images:

    python docs/results/wide/path_ensemble.py models/bifsmnv2_fbank40_120snr.pt
"""

from __future__ import annotations

import argparse
import itertools

import torch

from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.sources import split_inputs
from bifsmn.deploy import predict, scoring
from bifsmn.train.checkpoint import model_from_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--archive", default="../shared/data/speech_commands_v0.02_fbank40")
    a = ap.parse_args()
    torch.set_num_threads(1)
    model, ckpt = model_from_checkpoint(a.checkpoint)
    fcfg = feature_config_from_dict(ckpt["features"], a.checkpoint)
    scored = scoring(model)
    num_classes = ckpt["model"]["kwargs"].get("num_classes", 12)
    for split in ("validation", "testing"):
        x, y = split_inputs(a.archive, split, fcfg, num_classes)[:2]
        logp = {b: torch.log_softmax(predict(scored, x, b), 1) for b in (8, 4, 2, 1)}
        for r in (1, 2, 3):
            for combo in itertools.combinations((8, 4, 2, 1), r):
                mean = sum(logp[b] for b in combo) / len(combo)
                acc = (mean.argmax(1) == y).float().mean().item() * 100
                print(f"{split} {'+'.join(map(str, combo))} blocks: {acc:.2f} %")


if __name__ == "__main__":
    main()
