"""``BIFSMN_ISA``: the engine held to AVX2, x86-64-v2 or the baseline x86-64 gives the same bits.

Every engine path (kernels, binarizers, conv2's row builders, the float stages at 16, 8 or 4
lanes, both front ends) is meant to compute the same bits whatever the CPU; ``test_ops`` checks
that op by op. Here whole models run from audio in four processes, one per ``BIFSMN_ISA``
("" = whatever the CPU has, "avx2", "x86-64-v2", "baseline": the portable kernel with and
without the POPCNT instruction), and their features and logits must be equal bit
for bit: the 32 x 32 log-mel dev student on all four paths and the bundled fbank40 model on all
four. The FP32 dev teacher's front end is equal bit for bit too; its float GEMMs sum in each
kernel's own order, so its logits are held to the FP models' documented parity tolerance (2e-4
of max(1, max |logit|), docs/engine.md "Parity with PyTorch") with the same argmax. A bad value,
or a kernel the cap rules out, is a one-line error.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bifsmn.engine import export_checkpoint

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "src" / "bifsmn" / "models_data" / "bifsmnv2.bkws"

pytestmark = pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                                reason="BIFSMN_ISA selects among x86-64 code paths")

# Runs in a fresh process (BIFSMN_ISA is read once per process): argv = out.npz audio.npy
# model.bkws...; saves each model's kernels, features and per-path logits.
SCRIPT = r"""
import sys
import numpy as np
from bifsmn.engine import Engine
audio = np.load(sys.argv[2])
out = {}
for i, path in enumerate(sys.argv[3:]):
    eng = Engine(path)
    out[f"{i}_kernels"] = np.array([eng.kernel, eng.fp_kernel])
    out[f"{i}_features"] = eng.features(audio)
    for blocks in ((8, 4, 2, 1) if eng.is_binary else (eng.blocks,)):
        eng.set_blocks(blocks)
        out[f"{i}_logits{blocks}"] = eng.predict(audio)
np.savez(sys.argv[1], **out)
"""


def run(isa: str, out: Path, audio: Path, models: list[str],
        kernel: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("BIFSMN_ISA", "BIFSMN_KERNEL")}
    env["BIFSMN_ISA"] = isa
    if kernel is not None:
        env["BIFSMN_KERNEL"] = kernel
    return subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(audio), *models],
                          env=env, capture_output=True, text=True, timeout=300)


def clips(n: int = 5, seed: int = 3) -> np.ndarray:
    """Tones, chirps, noise bursts and a silent clip, 1 s each at 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000
    out = []
    for i in range(n - 1):
        f = 200 + 300 * i
        x = 0.3 * np.sin(2 * np.pi * (f + 400 * t) * t)
        x = x + 0.03 * (i + 1) * rng.standard_normal(16000)
        x *= (np.sin(2 * np.pi * (1 + i) * t) > -0.2)
        out.append(x)
    out.append(np.zeros(16000))
    return np.stack(out).astype(np.float32)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    root = tmp_path_factory.mktemp("isa_cap")
    audio = root / "audio.npy"
    np.save(audio, clips())
    models = [
        str(export_checkpoint(ROOT / "models" / "bifsmnv2_a01_sc12dev.pt", root / "a01.bkws")),
        str(BUNDLED),
        str(export_checkpoint(ROOT / "models" / "teacher_sc12dev.pt", root / "teacher.bkws")),
    ]
    return root, audio, models


def test_isa_caps_give_the_same_bits(setup) -> None:
    root, audio, models = setup
    results = {}
    for isa in ("", "avx2", "x86-64-v2", "baseline"):
        out = root / f"out_{isa or 'cpu'}.npz"
        proc = run(isa, out, audio, models)
        assert proc.returncode == 0, proc.stderr[-2000:]
        results[isa] = np.load(out)
    full, avx2, v2, base = (results[k] for k in ("", "avx2", "x86-64-v2", "baseline"))
    assert {str(k) for k in avx2["0_kernels"]} <= {"avx2", "portable"}
    assert {str(k) for k in v2["0_kernels"]} == {str(k) for k in base["0_kernels"]} == {"portable"}
    assert sorted(full.files) == sorted(avx2.files) == sorted(v2.files) == sorted(base.files)
    fp_logits = "2_logits"  # the FP teacher (third model): tolerance, not bits
    for key in full.files:
        if key.endswith("_kernels"):
            continue
        assert full[key].dtype == np.float32
        for other, name in ((avx2, "avx2"), (v2, "x86-64-v2"), (base, "baseline")):
            if key.startswith(fp_logits):
                scale = max(1.0, float(np.abs(full[key]).max()))
                assert np.abs(full[key] - other[key]).max() <= 2e-4 * scale, (key, name)
                assert (full[key].argmax(1) == other[key].argmax(1)).all(), (key, name)
            else:
                assert full[key].tobytes() == other[key].tobytes(), f"{key} differs under {name}"
    assert np.isfinite(full["0_logits8"]).all() and full["0_logits8"].std() > 0


def test_bad_isa_value_is_one_line_error(setup) -> None:
    root, audio, models = setup
    proc = run("sse9", root / "bad.npz", audio, models[:1])
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "BIFSMN_ISA=sse9" in last and "avx512|avx2|x86-64-v2|baseline" in last


def test_kernel_above_the_cap_is_refused(setup) -> None:
    root, audio, models = setup
    proc = run("baseline", root / "bad2.npz", audio, models[:1], kernel="avx2")
    assert proc.returncode != 0
    assert "under BIFSMN_ISA=baseline" in proc.stderr.strip().splitlines()[-1]
