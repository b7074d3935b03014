"""What would thresholds chosen per SNR condition buy (a detector that knew the noise level)?

``bifsmn calibrate`` stores one threshold set per keyword that must keep the false-alarm budget
on each SNR's hours; the 10-dB hours bind, so on clean speech the stored "1 FA/h" point raises
far fewer false alarms than allowed (0.25 FA/h in cv.py's two-fold check) and misses more than
it would have to. Here each condition is calibrated on its own hours only (``per-SNR``; what a
detector switching threshold sets by an estimated noise level would use) and compared with the
joint calibration (``joint``), both on the speaker-disjoint two-fold split of cv.py, with the
calibration half's audio hours alone or with the archive's feature-domain hours added
(``+archive``; the caches cv.py writes: run it first). Prints, per system, set and target,
the test halves' miss rate and realised false alarms per hour, both folds together (12 test
hours per SNR).

    python docs/results/archive-calibration/per_snr.py \
        > docs/results/archive-calibration/per_snr.txt

"""

from __future__ import annotations

import math
import pickle
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "threshold-rule"))
from rules import add_scores, calibrated_points, score, systems  # noqa: E402

from bifsmn.detect.scorer import bundled_model  # noqa: E402


def main() -> None:
    audio = [pickle.loads(Path(f"runs/threshold-rule/cv-fold{f}.pkl").read_bytes())
             for f in (0, 1)]
    arch = [pickle.loads(Path(f"runs/archive-calibration/archive-fold{f}.pkl").read_bytes())
            for f in (0, 1)]
    print("system             calibration        target  SNR    test miss  test FA/h")
    for name, scorer, *_ in systems(bundled_model()):
        for extra in (False, True):
            for mode in ("joint", "per-SNR"):
                agg: dict = {}
                for fold in (0, 1):
                    kc, pc = audio[fold][0], audio[fold][1][name]
                    if extra:
                        kc, pc = kc + arch[fold][0], pc + arch[fold][1][name]
                    kt, pt = audio[1 - fold][0], audio[1 - fold][1][name]
                    groups = [None] if mode == "joint" else [True, False]  # clean?
                    for g in groups:
                        def pick(k, p, g=g):
                            return ([x for x in k if g is None or math.isinf(x.snr_db) == g],
                                    [q for x, q in zip(k, p, strict=True)
                                     if g is None or math.isinf(x.snr_db) == g])
                        kk, pp = pick(kc, pc)
                        pts = calibrated_points(scorer, pp, kk, "pooled")
                        kk, pp = pick(kt, pt)
                        add_scores(agg, score(pts, scorer, pp, kk))
                label = mode + (" +archive" if extra else "")
                for (f, snr), a in sorted(agg.items()):
                    print(f"{name:18s} {label:18s} {f:4g} FA/h {snr:6s} "
                          f"{100 * (1 - a[1] / a[0]):6.1f} %  {a[2] / a[3]:6.2f}", flush=True)


if __name__ == "__main__":
    main()
