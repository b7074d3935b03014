"""cpp/tools/arm_cost_model.py: the NEON kernels compiled for aarch64 and armhf and scheduled by
llvm-mca.

Structure only (predicted cycles are not asserted beyond being positive and consistent); skipped
where the cross compiler or llvm-mca is absent.
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


def _tools(mod, arch: str):
    try:
        return mod.find_tools(arch)
    except mod.ToolMissing as exc:
        pytest.skip(str(exc))


@pytest.mark.slow
def test_arm_cost_model(tmp_path, capsys) -> None:
    mod = _module()
    _tools(mod, "aarch64")
    assert mod.main(["--cpu", "cortex-a53", "--arch", "aarch64", "--blocks", "8", "1",
                     "--out", str(tmp_path)]) == 0
    md = (tmp_path / "arm_cost_model.md").read_text()
    assert md in capsys.readouterr().out
    assert "model predictions" in md and "not measurements on a board" in md
    blocks = mod.analyse_cpu(*_tools(mod, "aarch64"), "cortex-a53", "aarch64")
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


@pytest.mark.slow
def test_arm_cost_model_armhf(tmp_path, capsys) -> None:
    """The 32-bit build: 2 x 4 tiles and 8-register strips (kernels_neon.cc's ARMv7 blocking),
    costed on the Cortex-A72; the Cortex-A53 has no AArch32 model in LLVM and is named as
    skipped, not costed."""
    mod = _module()
    cxx, mca = _tools(mod, "armhf")
    blocks = mod.analyse_cpu(cxx, mca, "cortex-a72", "armhf")
    assert blocks["popcount loop"].work == 8 * 128  # 2 x 4 tile: 8 VCNT per 128-bit step
    assert blocks["tile 128"].work == 8 * 128 and blocks["tile 256"].work == 8 * 256
    assert [blocks[f"strip {k}"].work for k in (128, 256, 512)] == [8 * 128, 4 * 256, 2 * 512]
    assert blocks["FP32 FMA loop"].work == 64
    assert all(b.cycles > 0 for b in blocks.values())
    assert blocks["strip 128"].cycles_per_mac < blocks["tile 128"].cycles_per_mac
    # the ARMv7 blocking fits its 16 q registers: no strip row reloads weights from the stack
    assert [blocks[f"strip {k}"].stack_accesses for k in (128, 256, 512)] == [0, 0, 0]
    pred = mod.predict(blocks, mod.model_layers(2), mod.ARCHS["armhf"])
    assert pred["speedup"] > pred["speedup_overhead"] > 0
    try:
        mod.analyse_cpu(cxx, mca, "cortex-a53", "armhf")
        a53_modelled = True
    except mod.NoSchedulingModel:
        a53_modelled = False
    assert mod.main(["--cpu", "cortex-a53", "cortex-a72", "--arch", "armhf", "--blocks", "1",
                     "--out", str(tmp_path)]) == 0
    md = (tmp_path / "arm_cost_model.md").read_text()
    assert "| armhf | cortex-a72 @ 1.5 GHz | 1 |" in md
    assert ("no armhf scheduling model for cortex-a53" in md) == (not a53_modelled)


def test_arm_cost_model_skips_without_tools(monkeypatch, capsys) -> None:
    mod = _module()
    monkeypatch.setattr(mod.shutil, "which", lambda name: None)
    assert mod.main([]) == 0
    assert capsys.readouterr().out.startswith("SKIP: llvm-mca not installed")


def test_arm_cost_model_skips_without_compilers(monkeypatch, capsys) -> None:
    """llvm-mca present, no cross compiler: one SKIP line naming both missing compilers."""
    mod = _module()
    monkeypatch.setattr(mod.shutil, "which",
                        lambda name: "/usr/bin/llvm-mca" if name == "llvm-mca" else None)
    assert mod.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("SKIP: no aarch64 compiler") and "no armhf compiler" in out
