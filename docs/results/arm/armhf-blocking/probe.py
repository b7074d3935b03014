#!/usr/bin/env python3
"""Session 67: the armhf NEON kernel's register blocking before and after, by llvm-mca.

    python docs/results/arm/armhf-blocking/probe.py [BEFORE_COMMIT] \
        > docs/results/arm/armhf-blocking/probe.txt

Costs the 32-bit ARM (armhf) build of the NEON binary kernel twice with the functions of
cpp/tools/arm_cost_model.py, on llvm-mca's Cortex-A72 model in AArch32 state (the one core
LLVM 14 models for AArch32 code): as it was at BEFORE_COMMIT (default 28b479b: 16-register
strips of 16 / 8 / 4 columns and 4 x 4 tiles, the AArch64 blocking, which overflows ARMv7's 16
q registers) and as it is in the working tree (8-register strips of 8 / 4 / 2 columns and 2 x 4
tiles). The "before" kernel is compiled from `git show BEFORE_COMMIT:cpp/src/...` with wrappers
under the cost model's names; the FP32 loop is the same code in both. Model predictions, not
board measurements.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
spec = importlib.util.spec_from_file_location("arm_cost_model",
                                              REPO / "cpp" / "tools" / "arm_cost_model.py")
acm = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = acm
spec.loader.exec_module(acm)

CPU = "cortex-a72"
OLD_WRAPPERS = '''
#include "kernels_neon.cc"
namespace bifsmn::detail {
extern "C" __attribute__((flatten)) void mca_binary_tile_k256(const std::uint64_t* a,
    const std::uint64_t* w, std::int32_t* out) noexcept {
  binary_tile<4, 4>(a, w, out, 4, 256, packed_row_words(256)); }
extern "C" __attribute__((flatten)) void mca_binary_tile_k128(const std::uint64_t* a,
    const std::uint64_t* w, std::int32_t* out) noexcept {
  binary_tile<4, 4>(a, w, out, 4, 128, packed_row_words(128)); }
extern "C" __attribute__((flatten)) void mca_strip_k128(const std::uint64_t* a,
    const std::uint64_t* w, std::int32_t* out, std::size_t m) noexcept {
  strip16_k128(a, w, out, m, 16, 128, packed_row_words(128)); }
extern "C" __attribute__((flatten)) void mca_strip_k256(const std::uint64_t* a,
    const std::uint64_t* w, std::int32_t* out, std::size_t m) noexcept {
  strip8_k256(a, w, out, m, 8, 256, packed_row_words(256)); }
extern "C" __attribute__((flatten)) void mca_strip_k512(const std::uint64_t* a,
    const std::uint64_t* w, std::int32_t* out, std::size_t m) noexcept {
  strip4_k512(a, w, out, m, 4, 512, packed_row_words(512)); }
}
'''


def fp32_kernel() -> str:
    """The working tree's FP32 micro-kernel (the same in both builds)."""
    text = (REPO / "cpp" / "tools" / "arm_cost_kernels.cc").read_text()
    start = text.index("// y[8][8] += A^T B")
    end = text.index("}  // namespace bifsmn::detail", start)
    return "namespace bifsmn::detail {\n" + text[start:end] + "}\n"


def main() -> int:
    before = sys.argv[1] if len(sys.argv) > 1 else "28b479b"
    arch_new = acm.ARCHS["armhf"]
    arch_old = dataclasses.replace(arch_new, tile_rows=4, strip_cols=(16, 8, 4))
    cxx, mca = acm.find_tools("armhf")
    layers = {b: acm.model_layers(b) for b in (8, 4, 2, 1)}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        names = subprocess.run(["git", "-C", str(REPO), "ls-tree", "--name-only", before,
                                "cpp/src/"], capture_output=True, text=True, check=True).stdout
        for name in names.split():
            if name.endswith((".h", "kernels_neon.cc")):
                blob = subprocess.run(["git", "-C", str(REPO), "show", f"{before}:{name}"],
                                      capture_output=True, text=True, check=True).stdout
                (src / Path(name).name).write_text(blob)
        old = src / "old_cost_kernels.cc"
        old.write_text(OLD_WRAPPERS + fp32_kernel())
        acm.SOURCE = old
        rows["before"] = (arch_old, acm.analyse_cpu(cxx, mca, CPU, arch_old))
    acm.SOURCE = REPO / "cpp" / "tools" / "arm_cost_kernels.cc"
    rows["after"] = (arch_new, acm.analyse_cpu(cxx, mca, CPU, arch_new))

    print(f"# armhf NEON kernel blocking, llvm-mca -mtriple={arch_new.triple} -mcpu={CPU} "
          "(predictions, not measurements)")
    print(f"# before: {before} (16-register strips, 4x4 tiles); after: working tree "
          "(8-register strips, 2x4 tiles)")
    print(f"# {acm._version([*cxx, '--version'])}; llvm-mca: {acm._version([mca, '--version'])}")
    print()
    print("| block | before: cycles, bops/cycle, stack accesses | after: cycles, bops/cycle, "
          "stack accesses | after vs before (bops per cycle) |")
    print("|---|---|---|---:|")
    for key in ("popcount loop", "tile 128", "tile 256", "strip 128", "strip 256", "strip 512"):
        b, a = rows["before"][1][key], rows["after"][1][key]
        print(f"| {key} | {b.name}: {b.cycles:.1f}, {1 / b.cycles_per_mac:.1f}, "
              f"{b.stack_accesses} | {a.name}: {a.cycles:.1f}, {1 / a.cycles_per_mac:.1f}, "
              f"{a.stack_accesses} | {b.cycles_per_mac / a.cycles_per_mac - 1:+.1%} |")
    print()
    print("| blocks | binary GEMM cycles before | after | predicted GEMM speed-up |")
    print("|---:|---:|---:|---:|")
    for blocks, lay in layers.items():
        pb = acm.predict(rows["before"][1], lay, rows["before"][0])["binary_gemm_cycles"]
        pa = acm.predict(rows["after"][1], lay, rows["after"][0])["binary_gemm_cycles"]
        print(f"| {blocks} | {pb:,.0f} | {pa:,.0f} | {pb / pa:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
