"""Screen of the label-smoothed verifier (docs/results/verifier-smooth/run.sh, rule there):
the bundle's 8-block cascade calibrated with the bundled verifier (control) and with the
smoothed one, both on the calibration grid plus 0.800-0.998 in steps of 0.002.

    python docs/results/verifier-smooth/screen.py > docs/results/verifier-smooth/screen.txt

Needs runs/verifier-smooth/last.pt (run.sh train); exports it to runs/s38/verifier-smooth.bkws.
About 5 minutes on one core; writes nothing else.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bifsmn.detect.calibrate import CALIBRATION_THRESHOLDS, calibrate
from bifsmn.detect.gate import DEFAULT_GATE
from bifsmn.detect.scorer import bundled_model
from bifsmn.engine import export_checkpoint

DATA = "../shared/data/speech_commands_test12_v0.02"
NEG = "../shared/data/picovoice_wake_words"
RUN = Path("runs/verifier-smooth")
GRID = tuple(sorted({*CALIBRATION_THRESHOLDS,
                     *np.round(np.arange(0.800, 0.9981, 0.002), 6).tolist()}))


def main() -> None:
    import torch

    torch.set_num_threads(1)
    gate = replace(DEFAULT_GATE, flat_max=0.35)  # the screens' --gate-flat-max 0.35
    smooth = export_checkpoint(RUN / "last.pt", Path("runs/s38/verifier-smooth.bkws"))
    result = {}
    for name, verifier in (("control (bundled verifier)", "bundled"),
                           ("label-smoothed verifier", str(smooth))):
        t0 = time.time()
        print(f"== {name}: {len(GRID)} thresholds", flush=True)
        rec = calibrate(bundled_model(), DATA, NEG, blocks=(8,), minutes=60.0,
                        snrs=(math.inf, 10.0), split="training", gate=gate, rule="pooled",
                        verifier=verifier, wake=0.9, hold_ms=1000.0, thresholds=GRID,
                        write=False, log=lambda *a: print(*a, flush=True))
        point = next(p for p in rec["paths"]["8"] if p["fa_per_hour"] == 1.0)
        result[name] = 100.0 * point["calibration"]["miss_rate"]
        print(f"{name}: 1 FA/h calibration miss {result[name]:.1f} % (smoothing "
              f"{point['smooth_ms']:g} ms), {time.time() - t0:.0f} s", flush=True)
    control, new = result.values()
    print(f"label-smoothed against bundled: {new:.1f} against {control:.1f} % "
          f"({control - new:+.1f} points fewer misses); rule (>= 2 points fewer): "
          f"{'met' if control - new >= 2.0 - 1e-9 else 'not met'}")


if __name__ == "__main__":
    main()
