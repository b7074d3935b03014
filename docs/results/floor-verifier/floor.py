"""Does a noise-floor-subtracting input help the two-stage detector's verifier at 10 dB? A probe.

    python docs/results/floor-verifier/floor.py train [--epochs N]   # runs/floor-verifier
    python docs/results/floor-verifier/floor.py probe RUN/best.pt  # cascade calibration, 8 blocks

Why (session 30): sessions 27-29 found every DFSMN verifier level at 21.4-22.4 % cascade miss
at 1 FA/h, with the 10-dB misses being keywords whose verifier posterior stays below the
0.99-0.998 thresholds (docs/results/noise-domain), and session 30's wake sweep showed the first
stage's wake-up is not the limit (docs/results/wake-sweep). Noise suppression in the front end is
what production keyword spotters add for this (spectral subtraction, PCEN); this tries the
simplest stateless form, identical in training and streaming because it looks only at the
window it scores: per mel band, the window's noise floor N is the 25th percentile of its filter
energies over time, and each energy becomes max(E - 2 N, 0.05 E) (over-subtraction 2, spectral
floor 0.05; fixed before the run, not tuned). Energies and values convert as the fbank40 front end
defines them (bifsmn.data.fbank: values_to_energy / energy_to_values, without rounding).

The transform lives in a model registered here (``dfsmn_teacher_floor``: the FP teacher with the
transform in front of its first convolution, no new parameters), so nothing in the package
changes unless it gains; the engine cannot run it (the probe scores it with PyTorch).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

from bifsmn.data.fbank import Fbank40Config
from bifsmn.models.dfsmn import DFSMN
from bifsmn.models.registry import register_model

QUANTILE, OVER, FLOOR = 0.25, 2.0, 0.05
DATA = "../shared/data/speech_commands_test12_v0.02"
NEG = "../shared/data/picovoice_wake_words"
MODEL = "src/bifsmn/models_data/bifsmnv2.bkws"


def subtract_floor(x: torch.Tensor, cfg: Fbank40Config | None = None) -> torch.Tensor:
    """Network input (B, 1, mels, T) of the 96-step front end (pool 1) -> the same with each
    band's window noise floor subtracted in the energy domain (module docstring)."""
    cfg = cfg or Fbank40Config(pool=1)
    v = x / (cfg.input_scale * cfg.pool)
    e = cfg.log_offset * torch.expm1(v / cfg.log_scale)
    n = torch.quantile(e, QUANTILE, dim=-1, keepdim=True)
    e2 = torch.maximum(e - OVER * n, FLOOR * e)
    return cfg.log_scale * torch.log1p(e2 / cfg.log_offset) * (cfg.input_scale * cfg.pool)


class FloorDFSMN(DFSMN):
    """The FP teacher with :func:`subtract_floor` in front of its front end."""

    def frontend(self, x: torch.Tensor) -> torch.Tensor:
        return super().frontend(subtract_floor(x))


@register_model
def dfsmn_teacher_floor(num_classes: int = 12, **kw) -> DFSMN:
    """``dfsmn_teacher`` behind a per-window noise-floor subtraction (this probe only)."""
    return FloorDFSMN(num_classes=num_classes,
                      **{"act": "relu", "num_paths": 1, "dropout": 0.2, **kw})


def train(epochs: int, out: str) -> int:
    from bifsmn.cli import main as cli

    # the bundled verifier's last step (models/teacher_fbank40_pool1_noise.md) continued with
    # the transform in front: same data, noise recipe, learning rate
    argv = ["train", "--resume", out] if (Path(out) / "last.pt").is_file() \
        else ["train", "--config", "teacher_fbank40", "--data",
              "../shared/data/speech_commands_v0.02_fbank40", "--epochs", str(epochs),
              "--out", out, "model.name=dfsmn_teacher_floor",
              "model.init=models/teacher_fbank40_pool1_noise.pt", "train.threads=2",
              "data.negatives=[../shared/data/picovoice_wake_words]", "optim.lr=0.0003",
              "data.noise_snr_db=[0,20]", "data.noise_prob=0.8", "data.pool=1",
              "model.kwargs.frames=96"]
    return cli(argv)


def probe(ckpt: str) -> None:
    from bifsmn.detect.calibrate import calibrate
    from bifsmn.detect.cascade import Verifier
    from bifsmn.detect.scorer import TorchScorer

    torch.set_num_threads(1)
    scorer = TorchScorer.from_checkpoint(ckpt, 8)
    ver = Verifier(scorer, 0.9, 1000.0, scorer.name, "")
    print(f"verifier: {ckpt} (PyTorch)", flush=True)
    calibrate(MODEL, DATA, blocks=[8], minutes=60, snrs=[math.inf, 10.0], split="training",
              negatives=NEG, verifier=ver, rule="pooled", write=False,
              log=lambda s: print(s, flush=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--epochs", type=int, default=8)
    t.add_argument("--out", default="runs/floor-verifier")
    p = sub.add_parser("probe")
    p.add_argument("checkpoint")
    a = ap.parse_args()
    if a.cmd == "train":
        sys.exit(train(a.epochs, a.out))
    probe(a.checkpoint)


if __name__ == "__main__":
    main()
