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

Session 29, ``--first-weight W``: the verifier's logits mixed with the first stage's own logits on
the same window, ``(1 - W) * verifier + W * first stage`` (the 1-bit model's logits exist on
every woken window already, so this costs nothing at run time; the two networks come from
different trainings, unlike the verifiers above). Fixed before it ran: W = 0.3 and 0.5, the
8-block path; worth building only under the rule above (>= 2 points below 21.8 % at 1 FA/h).

Session 40, ``--partner FILE``: the same mixture with another full-precision network that has its
own front end instead of the first stage, at ``--first-weight`` (0.5: the mean of the two
logits). Fixed before it ran: FILE = ``models/teacher_fbank40_snr.pt`` exported (the 32-step SNR
teacher, the bundled verifier until session 23: another lineage, initialized from
``teacher_fbank40_60``, where every verifier averaged before descends from the 96-step
``teacher_fbank40_pool1``), weight 0.5, the 8-block path, the rule above.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from bifsmn.detect.calibrate import calibrate
from bifsmn.detect.cascade import Verifier, bundled_verifier
from bifsmn.detect.ensemble import MeanLogits
from bifsmn.detect.scorer import EngineScorer
from bifsmn.errors import BifsmnError

DATA = "../shared/data/speech_commands_test12_v0.02"
NEG = "../shared/data/picovoice_wake_words"
MODEL = "src/bifsmn/models_data/bifsmnv2.bkws"


class WithFirstStage:
    """Scorer: the verifier's logits mixed with another network's on the same windows (the
    first stage's, or a ``--partner``'s).

    Its "features" are the audio windows themselves, because the two networks pool the fbank40
    rows differently (96 and 32 steps): each computes its own front end from the audio."""

    def __init__(self, verifier: MeanLogits | EngineScorer, first: EngineScorer,
                 weight: float) -> None:
        if first.labels != verifier.labels:
            raise BifsmnError(f"{first.name}: labels differ from {verifier.name}")
        self.verifier, self.first, self.weight = verifier, first, float(weight)
        self.labels = verifier.labels
        self.feature_config = verifier.feature_config
        self.name = f"{verifier.name}+{weight:g}x{first.name}@{first.blocks}"

    def features(self, windows: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(windows, np.float32)

    def scores(self, audio: np.ndarray) -> np.ndarray:
        v = self.verifier.scores(self.verifier.features(audio))
        f = self.first.scores(self.first.features(audio))
        return ((1.0 - self.weight) * v + self.weight * f).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("others", nargs="*",
                    help="verifier .bkws files averaged with the bundled one (none: the "
                         "bundled verifier alone through the same code, the probe's check)")
    ap.add_argument("--blocks", type=int, nargs="+", default=[8])
    ap.add_argument("--first-weight", type=float, default=0.0,
                    help="weight of the first stage's own logits in the verifier's (0: none)")
    ap.add_argument("--partner", default=None,
                    help="a .bkws whose logits (its own front end) are mixed in at "
                         "--first-weight instead of the first stage's")
    a = ap.parse_args()
    if a.partner and not a.first_weight:
        ap.error("--partner needs --first-weight (0.5: the mean of the two logits)")
    if a.first_weight and len(a.blocks) != 1:
        ap.error("--first-weight mixes in one path's logits: give one --blocks value")
    torch.set_num_threads(1)
    # the members' mean (session 60: bifsmn.detect.ensemble, what `--verifier A+B` runs; the
    # probe's own copy of sessions 28-59 computed the same); no others: the bundled one alone
    members = [EngineScorer(bundled_verifier())] + [EngineScorer(p) for p in a.others]
    ens = MeanLogits(members) if len(members) > 1 else members[0]
    if a.first_weight:
        other = EngineScorer(a.partner) if a.partner else EngineScorer(MODEL, a.blocks[0])
        ens = WithFirstStage(ens, other, a.first_weight)
    print(f"ensemble verifier: {ens.name}", flush=True)
    calibrate_bundle(ens, a.blocks)


def calibrate_bundle(scorer: object, blocks: list[int]) -> None:
    """Calibrate the bundle's cascade with ``scorer`` as its verifier on the bundle's 12
    calibration hours, as the bundled record was (wake 0.9, hold 1 s, pooled rule, the stored
    gate: calibrate's default, = --gate-flat-max 0.35), printing the points, writing nothing."""
    ver = Verifier(scorer, 0.9, 1000.0, scorer.name, "")
    calibrate(MODEL, DATA, blocks=blocks, minutes=60, snrs=[math.inf, 10.0],
              split="training", negatives=NEG, verifier=ver, rule="pooled",
              write=False, log=lambda s: print(s, flush=True))


if __name__ == "__main__":
    main()
