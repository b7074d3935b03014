"""Would fixed-point constants reach the 120 KB file (issue 10)? Measured: no.

Why: the ``--compact`` file of ``bifsmnv2_a01_sc12dev`` is 148.8 KB, of which 71.9 KB are sign
bits and 12.3 KB the int8 classifier (this script prints the counts); under 120.5 KB its 19,472
per-channel constants (thresholds, scales, biases, per-path fc_out terms, conv1) would need
about 15 bits each with no record headers. Float16
(11-bit mantissa) already moves validation accuracy by up to 1.1 points (sizes.md), so this
probe tries symmetric fixed point with one float32 scale per record (``q * scale``, the widening
an engine loader would repeat exactly) at 16, 14, 12 and 10 bits, every constant except the
classifier narrowed, and prints per path (accuracy change in points, clips whose prediction
changed) against the float32 deployed reference. The issue's rule is that no path may lose
more than 0.2 points.

    python docs/results/bkws-sizes/fixed_point_probe.py > docs/results/bkws-sizes/fixed_point.txt
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from measure import MODELS, accuracy  # noqa: E402

from bifsmn.data.frontends import feature_config_from_dict  # noqa: E402
from bifsmn.data.sources import split_inputs  # noqa: E402
from bifsmn.deploy import DeployedDFSMN, fold  # noqa: E402
from bifsmn.train.checkpoint import model_from_checkpoint  # noqa: E402


def fixed(value: np.ndarray, bits: int) -> np.ndarray:
    """``value`` through symmetric ``bits``-bit fixed point with one float32 scale."""
    v = np.asarray(value, np.float64)
    peak = np.abs(v).max()
    if peak == 0:
        return v.astype(np.float32)
    top = 2 ** (bits - 1) - 1
    scale = np.float32(peak / top)
    q = np.clip(np.rint(v / np.float64(scale)), -top, top).astype(np.float32)
    return (q * scale).astype(np.float32)


def narrowable(name: str, value: np.ndarray) -> bool:
    """Per-channel float constants (not the sign bits, classifier or scalar PReLU slopes)."""
    return (not name.startswith("classifier") and not name.endswith(".bits")
            and value.dtype == np.float32 and value.size > 1)


def main() -> None:
    torch.set_num_threads(1)
    for name, (ckpt, data, _) in MODELS.items():
        model, meta = model_from_checkpoint(ckpt)
        feats, labels, split, _ = split_inputs(
            data, "validation", feature_config_from_dict(meta["features"]), 12, "auto", None,
            False)
        y = labels.numpy()
        f32 = fold(model, meta["binary"])
        base = accuracy(DeployedDFSMN(f32), feats, labels)
        values = sum(c.value.size for k, c in f32.constants.items() if narrowable(k, c.value))
        bits = sum(c.value.size for k, c in f32.constants.items() if k.endswith(".bits"))
        print(f"{name}: {values:,} per-channel constants narrowed below; {bits:,} sign bits "
              f"({bits / 8000:.1f} KB)")
        print(f"{name}: {len(y)} {split} clips; float32 accuracy per path "
              + ", ".join(f"{b}: {100 * (p == y).mean():.2f} %" for b, p in base.items()))
        for bits in (16, 14, 12, 10):
            spec = copy_spec(f32, bits)
            pred = accuracy(DeployedDFSMN(spec), feats, labels)
            cells = ", ".join(f"{b} blocks {100 * ((p == y).mean() - (base[b] == y).mean()):+.2f}"
                              f" ({int((p != base[b]).sum())} changed)" for b, p in pred.items())
            print(f"  {bits}-bit fixed point: {cells}", flush=True)


def copy_spec(spec, bits: int):
    """``spec`` with every narrowable constant through ``bits``-bit fixed point."""
    out = dataclasses.replace(spec) if dataclasses.is_dataclass(spec) else spec
    out.constants = {k: (dataclasses.replace(c, value=fixed(c.value, bits))
                         if narrowable(k, c.value) else c) for k, c in spec.constants.items()}
    return out


if __name__ == "__main__":
    main()
