"""cpp/tools/arm_cost_model.py: the NEON kernels compiled for aarch64 and scheduled by llvm-mca.

Structure only (predicted cycles are not asserted beyond being positive and consistent); skipped
where the aarch64 compiler or llvm-mca is absent.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "cpp" / "tools" / "arm_cost_model.py"


def _module():
    spec = importlib.util.spec_from_file_location("arm_cost_model", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_arm_cost_model(tmp_path, capsys) -> None:
    mod = _module()
    try:
        mod.find_tools()
    except mod.ToolMissing as exc:
        pytest.skip(str(exc))
    assert mod.main(["--cpu", "cortex-a53", "--blocks", "8", "1", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "arm_cost_model.md").read_text()
    assert md in capsys.readouterr().out
    assert "model predictions" in md and "not measurements on a board" in md
    blocks = mod.analyse_cpu(*mod.find_tools(), "cortex-a53")
    # the popcount loop is 16 EOR/CNT/UADALP per 128-bit step of a 4 x 4 tile
    assert blocks["popcount loop"].work == 16 * 128
    assert blocks["FP32 FMA loop"].work == 64
    for b in blocks.values():
        assert b.cycles > 0
    # a whole tile at larger K amortizes its reduction: cheaper per bop
    assert blocks["tile 256"].cycles_per_mac < blocks["tile 128"].cycles_per_mac
    # the register-held strips count 16 x 128 and 8 x 256 bops per row, cheaper than the tiles
    assert blocks["strip 128"].work == 16 * 128 and blocks["strip 256"].work == 8 * 256
    assert blocks["strip 128"].cycles_per_mac < blocks["tile 128"].cycles_per_mac
    layers = mod.model_layers(8)
    binary = sum(lay.macs for lay in layers if lay.binary_gemm)
    fp = sum(lay.macs for lay in layers if not lay.binary_gemm)
    # bifsmn summary dfsmn_thinnable --binary bifsmnv2: 5,316,608 binary MACs of which 40,960
    # are the memory taps (run in float by the engine), 114,688 full-precision MACs
    assert binary == 5_316_608 - 40_960 and fp == 114_688 + 40_960
    pred = mod.predict(blocks, layers)
    assert pred["bops"] == 2 * binary and pred["speedup"] > pred["speedup_overhead"] > 0


def test_arm_cost_model_skips_without_tools(monkeypatch, capsys) -> None:
    mod = _module()
    monkeypatch.setattr(mod.shutil, "which", lambda name: None)
    assert mod.main([]) == 0
    assert capsys.readouterr().out.startswith("SKIP: llvm-mca not installed")
