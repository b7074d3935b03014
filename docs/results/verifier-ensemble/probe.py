"""Would an ensemble of verifiers help the two-stage detector? A probe, not a feature (session 28).

    python docs/results/verifier-ensemble/probe.py runs/s28/verifier-wide.bkws [--blocks 8]

Why: two changes to the bundled verifier in a row (noise on every clip, twice the hidden units)
were level at 1 FA/h (docs/results/verifier-noise, docs/results/verifier-wide). Averaging the
logits of the bundled verifier and another one (a geometric mean of their posteriors) is the
cheapest way to a stronger second stage; building it into the record format and ``--verifier``
is only worth doing if it gains. This script calibrates the bundled model's cascade with such an
ensemble on the bundle's 12 calibration hours exactly as ``bifsmn calibrate --rule pooled
--verifier ... --wake 0.9 --hold-ms 1000 --gate-flat-max 0.35`` does, writing nothing.

Fixed before it ran: diagnostic only (nothing is bundled from it); an ensemble is worth building
next only if its calibration miss at 1 FA/h at 8 blocks is at least 2 points below the bundled
cascade's 21.8 %. The members must share the bundled verifier's front end (fbank40, 96 steps).
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from bifsmn.detect.calibrate import calibrate
from bifsmn.detect.cascade import Verifier, bundled_verifier
from bifsmn.detect.gate import Gate
from bifsmn.detect.scorer import EngineScorer
from bifsmn.errors import BifsmnError

DATA = "../shared/data/speech_commands_test12_v0.02"
NEG = "../shared/data/picovoice_wake_words"
MODEL = "src/bifsmn/models_data/bifsmnv2.bkws"


class MeanLogits:
    """Scorer whose logits are the members' mean (features: the first member's front end)."""

    def __init__(self, members: list[EngineScorer]) -> None:
        first = members[0]
        for m in members[1:]:
            if m.feature_config != first.feature_config or m.labels != first.labels:
                raise BifsmnError(f"{m.name}: front end or labels differ from {first.name}")
        self.members = members
        self.labels = first.labels
        self.feature_config = first.feature_config
        self.name = "+".join(m.name for m in members)
        self.features = first.features

    def scores(self, features: np.ndarray) -> np.ndarray:
        return np.mean([m.scores(features) for m in self.members], axis=0, dtype=np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("others", nargs="*",
                    help="verifier .bkws files averaged with the bundled one (none: the "
                         "bundled verifier alone through the same code, the probe's check)")
    ap.add_argument("--blocks", type=int, nargs="+", default=[8])
    a = ap.parse_args()
    torch.set_num_threads(1)
    ens = MeanLogits([EngineScorer(bundled_verifier())] + [EngineScorer(p) for p in a.others])
    ver = Verifier(ens, 0.9, 1000.0, ens.name, "")
    gate = Gate(floor_db=-60.0, contrast_db=10.0, band_contrast_db=12.0, flat_max=0.35)
    print(f"ensemble verifier: {ens.name}", flush=True)
    calibrate(MODEL, DATA, blocks=a.blocks, minutes=60, snrs=[math.inf, 10.0],
              split="training", negatives=NEG, gate=gate, verifier=ver, rule="pooled",
              write=False, log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    main()
