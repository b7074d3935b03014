"""Probe (session 65): could integer codes of some width between 8 and 16 bits store the folded
constants under issue 10's 120 KB line without moving the function?

Why this exists (docs/bkws-format.md, "Precision choices"): the all-paths file of
``bifsmnv2_a01_sc12dev`` has 72 KB of sign bits, 12 KB of int8 classifier and record headers
that no storage choice touches; what is left for the 19,456 per-channel constants (thresholds
tau0/tau1, shared scales and biases, per-path fc_out scales and biases, conv1) is about 12 bits
each. The float widths on offer are 32, 24 and 16 bits and int8; ``plans.py`` notes that no
single float width gives 12. This probe asks whether a packed integer code of b bits (b = 10,
12, 14; one scale per record, per row for the thresholds' tau0 and tau1, as the int8 storages)
would: it simulates such storage exactly (codes widened to float32 as ``float32(q) * scale``,
the deployed reference computing with the widened values) without adding a file format.

What it prints:

1. the byte count of an all-paths file whose per-channel constants (everything but conv1, the
   PReLU slopes and the classifier bias) are b-bit codes packed without padding, one float32
   scale record per record (per row for the thresholds), int8 classifier, conv1 float32:
   computed from the float32 file's own records, with the ``.bkws`` record layout
   (docs/bkws-format.md);
2. per constant group and width, the clips whose predicted class changes against the float32
   file, on the 3,321 training clips and the 643 validation clips, and the accuracy change;
3. every group at the widest b whose file fits 120,503 bytes (20.2x the FP32 teacher's
   2,434,160 bytes), scored on validation.

Fixed before it ran (the rule; committed with the script, before any result): this is a
measurement, nothing is adopted from it. A packed-integer storage would be worth implementing
(format version 6, engine loader, reference) only if the combined plan of step 3 changes fewer
training clips per path than ``--storage small`` does and keeps every validation path within
0.2 points of the float32 file; otherwise the record says why not.

    python docs/results/bkws-sizes/bits_probe.py > docs/results/bkws-sizes/bits_probe.txt
    # about 10 minutes on one core
"""

from __future__ import annotations

import copy
import functools
import math
import sys

import numpy as np
import torch

from bifsmn.data.frontends import feature_config_from_dict
from bifsmn.data.sources import split_inputs
from bifsmn.deploy import DeployedDFSMN, fold
from bifsmn.deploy.plans import group_of
from bifsmn.deploy.spec import Constant, DeploySpec
from bifsmn.train.checkpoint import model_from_checkpoint

CKPT = "models/bifsmnv2_a01_sc12dev.pt"
DATA = "../shared/data/speech_commands_test12_v0.02"
LINE = 120_503  # 20.2x smaller than the FP32 teacher's 2,434,160 bytes of float tensors
WIDTHS = (10, 12, 14)
#: the groups coded as integers; per-path fc_out constants apart from the shared ones
GROUPS = ("tau", "tau2", "scale", "bias", "scale_p", "bias_p")


def group(name: str) -> str | None:
    """The probe's group of a constant record (None: stays as folded)."""
    g = group_of(name)
    if g in ("scale", "bias") and name.split(".")[-1].startswith("p"):
        return g + "_p"
    return g if g in GROUPS else None


def coded(value: np.ndarray, bits: int, per_row: bool) -> np.ndarray:
    """``value`` stored as symmetric ``bits``-bit codes and widened back to float32, one scale
    per row (first axis) or per record, as ``bifsmn.deploy.storage`` defines int8."""
    w = np.asarray(value, np.float64)
    top = 2 ** (bits - 1) - 1
    rows = w.reshape(w.shape[0], -1) if per_row else w.reshape(1, -1)
    peak = np.abs(rows).max(axis=1)
    scale = np.where(peak > 0, peak / top, 1.0).astype(np.float32)
    q = np.clip(np.rint(rows / scale.astype(np.float64)[:, None]), -top, top)
    return (q.astype(np.float32) * scale[:, None]).astype(np.float32).reshape(w.shape)


def plan_spec(f32: DeploySpec, widths: dict[str, int]) -> DeploySpec:
    """``f32`` with the constants of each group in ``widths`` coded at its width."""
    spec = copy.copy(f32)
    spec.constants = {}
    for name, const in f32.constants.items():
        g = group(name)
        if g in widths:
            const = Constant("f32", coded(const.value, widths[g], g == "tau"))
        spec.constants[name] = const
    return spec


@functools.cache
def int8_classifier_file() -> tuple[int, tuple[tuple[str, int, int], ...]]:
    """Size of the all-paths file with the int8 classifier, and (name, values, scales) of each
    record a probe group codes, exported and read once."""
    from bifsmn.engine import export_checkpoint
    from bifsmn.engine.format import read_file

    path = export_checkpoint(CKPT, "/tmp/bits_probe_i8c.bkws", "all", classifier_dtype="i8")
    coded_records = tuple((name, int(np.prod(rec.shape)),
                           rec.shape[0] if group(name) == "tau" else 1)
                          for name, rec in read_file(path).items() if group(name) is not None)
    return path.stat().st_size, coded_records


def file_bytes(bits: int) -> int:
    """Bytes of the all-paths file with every probe group at ``bits``-bit packed codes, an int8
    classifier (one float32 scale per class) and everything else as folded, from the record
    layout: magic + header (32), record count (4), then per record 13 + len(name) + 4 * ndim
    header bytes and its data."""
    total, records = int8_classifier_file()
    for name, n, scales in records:
        total += math.ceil(n * bits / 8) - n * 4
        total += 13 + len(name + ".qscale") + 4 + 4 * scales  # the scale record
    return total


def predictions(spec: DeploySpec, x: torch.Tensor) -> dict[int, np.ndarray]:
    """Predicted class per clip of every path, by ``spec``'s deployed reference."""
    ref = DeployedDFSMN(spec)
    with torch.no_grad():
        return {b: torch.cat([ref(x[i:i + 512], b) for i in range(0, len(x), 512)]
                             ).argmax(1).numpy() for b in ref.blocks}


def row(label: str, spec: DeploySpec, x: torch.Tensor, y: np.ndarray,
        base: dict[int, np.ndarray]) -> None:
    """Print, per path, the clips whose class ``spec`` changes against ``base`` (the float32
    file's predictions) and its accuracy change in points."""
    p = predictions(spec, x)
    cells = [f"{b}: {int((p[b] != base[b]).sum())} changed, "
             f"{100 * ((p[b] == y).mean() - (base[b] == y).mean()):+.2f}" for b in p]
    print(f"  {label}: " + "; ".join(cells), flush=True)


def main() -> None:
    torch.set_num_threads(1)
    model, meta = model_from_checkpoint(CKPT)
    cfg = feature_config_from_dict(meta["features"])
    f32 = fold(model, meta["binary"])
    counts = {g: sum(c.value.size for k, c in f32.constants.items() if group(k) == g)
              for g in GROUPS}
    print(f"model {CKPT}; constants per group {counts}; line {LINE:,} bytes")
    for b in WIDTHS:
        print(f"all groups at {b} bits, int8 classifier, conv1 float32: "
              f"{file_bytes(b):,} bytes")
    fit = max((b for b in range(8, 17) if file_bytes(b) <= LINE), default=None)
    print(f"widest width under the line: {fit} bits")
    small = fold(model, meta["binary"], storage="small")
    for split in ("training", "validation"):
        x, labels, _, _ = split_inputs(DATA, split, cfg, 12, "auto", None, False)
        y = labels.numpy()
        base = predictions(f32, x)
        print(f"{split} ({len(y)} clips), float32 file "
              + " / ".join(f"{100 * (p == y).mean():.2f}" for p in base.values()) + " %")
        row("--storage small", small, x, y, base)
        for g in GROUPS:
            for b in WIDTHS:
                row(f"{g} at {b} bits", plan_spec(f32, {g: b}), x, y, base)
        if fit is not None:
            row(f"every group at {fit} bits", plan_spec(f32, dict.fromkeys(GROUPS, fit)), x, y,
                base)

if __name__ == "__main__":
    sys.exit(main())
