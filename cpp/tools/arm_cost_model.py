#!/usr/bin/env python3
"""ARM cost model of the NEON kernels: llvm-mca cycles per 1-bit MAC vs an FP32 NEON FMA kernel.

    python cpp/tools/arm_cost_model.py [--out docs/results/arm] [--cpu cortex-a53 cortex-a72]
                                       [--arch aarch64 armhf]

No ARM board is needed (and none was used): the kernels are compiled to assembly for AArch64
(``aarch64-linux-gnu-g++``, or ``clang++ --target=aarch64-linux-gnu``) and for 32-bit ARM
(armhf: ``arm-linux-gnueabihf-g++ -mfpu=neon``, the compiler of the engine's armhf build, whose
NEON kernel is GCC-only), the loops and tiles are cut out of the assembly, and ``llvm-mca``
predicts their cycles on the chosen cores (``cortex-a53``: Raspberry Pi 3B+, the board of the
BiFSMN paper; ``cortex-a72``: Pi 4). A 32-bit OS on those boards (Raspberry Pi OS 32-bit) runs
the armhf code in AArch32 state. LLVM 14 schedules AArch32 code for the Cortex-A72 (with its
Cortex-A57 model) but has no AArch32 model for the Cortex-A53, so armhf is costed where a model
exists and the report names the cores skipped. **Every number this script prints is a model
prediction, not a board measurement.**

Blocks analysed (``cpp/tools/arm_cost_kernels.cc``, which includes the shipped
``cpp/src/kernels_neon.cc``):

* ``popcount loop``: the steady-state inner loop of the engine's NEON binary GEMM tile (4 x 4 on
  AArch64, 2 x 4 on ARMv7; per 128-bit vector: EOR, CNT, UADALP / VPADAL); 1 bop per weight bit
  and activation bit pair.
* ``popcount tile, K=128`` / ``K=256``: one whole output tile of the same kernel at the model's K
  (the compiler unrolls it into straight-line code: loads, popcounts, the u16 -> u32 reduction,
  ``K - 2 popcount``, stores), the real per-tile cost at small K.
* ``popcount strip row, K=128`` / ``K=256`` / ``K=512``: the row loop of the strips the kernel
  uses for K <= 512 (a strip's weights held in q registers: 16, 8 or 4 columns on AArch64, 8, 4
  or 2 on ARMv7; each activation row's counts reduced by a byte pairwise-add tree): cost per
  activation row in steady state.
* ``FP32 FMA loop``: an 8 x 8 FP32 NEON micro-kernel (16 accumulators, 16 multiply-accumulates
  by lane per k step: FMLA on AArch64, VMLA on ARMv7, which has no fused form by lane).

Network prediction, per thinnable path: layer shapes of a ``dfsmn_thinnable`` model binarized
with ``bifsmnv2`` (the MACs of ``bifsmn summary dfsmn_thinnable --binary bifsmnv2``). FP32
network: every MAC at the FP32 loop's cycles per MAC. Binary network: each binary GEMM as
``binary_gemm_neon`` runs it (K <= 512: strip rows, the strips' weight loads left out, tiles for
the columns left over; larger K: tiles at the tile cost for its K, affine in the number of
128-bit vectors, fitted on the K=128 and K=256 tiles), with twice the rows (the dual-scale
binarizer stacks two bit planes); the full-precision layers (conv1, classifier) and the memory
taps at the FP32 cost. Not modelled: binarization and packing of activations, epilogues (BN,
PReLU, residual), the memory taps' sign-select, cache misses, the front end. A second column
assumes those cost as much again as the binary GEMMs, as the engine's stage profiler measures
on x86 (``bifsmn bench``).
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CPP = HERE.parent
SOURCE = HERE / "arm_cost_kernels.cc"
CPUS = {"cortex-a53": ("Raspberry Pi 3B+", 1.4), "cortex-a72": ("Raspberry Pi 4", 1.5)}
MCA_ITERATIONS = 300


class ToolMissing(RuntimeError):
    pass


class NoSchedulingModel(RuntimeError):
    """llvm-mca has no scheduling model for this core in this instruction set."""


@dataclass(frozen=True)
class Arch:
    """What differs between the two ARM targets: compilers, llvm-mca's triple, mnemonics and the
    kernel's register blocking (kernels_neon.cc: kMR, kStripRegs)."""

    name: str
    title: str
    triple: str                 # llvm-mca -mtriple
    gcc: str                    # cross compiler
    clang_target: str | None    # clang++ --target=...; None: GCC only (armhf's NEON kernel)
    flags: tuple[str, ...]      # beyond -std=c++17 -O3 -mcpu=<core>
    cnt: str                    # byte popcount
    acc: str                    # the tiles' widening pairwise accumulate
    mac: str                    # the FP32 kernel's multiply-accumulate by lane
    comment: str                # assembly comment character
    tile_rows: int              # kMR: tiles are kMR x 4 outputs
    strip_cols: tuple[int, int, int]  # strip columns at K = 128, 256, 512

    @property
    def tile(self) -> int:
        """Outputs per tile."""
        return 4 * self.tile_rows


ARCHS = {
    "aarch64": Arch("aarch64", "AArch64 (64-bit OS)", "aarch64", "aarch64-linux-gnu-g++",
                    "aarch64-linux-gnu", (), "cnt", "uadalp", "fmla", "//", 4, (16, 8, 4)),
    "armhf": Arch("armhf", "armhf, ARMv7 NEON in AArch32 state (32-bit OS)",
                  "armv7a-linux-gnueabihf", "arm-linux-gnueabihf-g++", None,
                  ("-mfpu=neon", "-mfloat-abi=hard"), "vcnt.8", "vpadal.u8", "vmla.f32", "@",
                  2, (8, 4, 2)),
}


def find_mca() -> str:
    """llvm-mca's path; ToolMissing if it is absent."""
    mca = shutil.which("llvm-mca") or next(
        (p for v in range(30, 10, -1) if (p := shutil.which(f"llvm-mca-{v}"))), None)
    if mca is None:
        raise ToolMissing("llvm-mca not installed (apt-get install llvm)")
    return mca


def find_compiler(arch: Arch) -> list[str]:
    """The compiler command for ``arch``; ToolMissing names what is absent."""
    if shutil.which(arch.gcc):
        return [arch.gcc]
    if arch.clang_target and shutil.which("clang++"):
        return ["clang++", f"--target={arch.clang_target}"]
    alt = " or clang++" if arch.clang_target else ""
    raise ToolMissing(f"no {arch.name} compiler: {arch.gcc} (cpp/install_cross_tools.sh){alt}")


def find_tools(arch: str = "aarch64") -> tuple[list[str], str]:
    """(compiler command, llvm-mca path) for ``arch``; ToolMissing names what is absent."""
    mca = find_mca()
    return find_compiler(ARCHS[arch]), mca


def compile_asm(cxx: list[str], cpu: str, arch: Arch) -> str:
    """The cost kernels as assembly for ``cpu``, comments dropped."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "k.s"
        cmd = [*cxx, "-std=c++17", "-O3", f"-mcpu={cpu}", *arch.flags, "-I",
               str(CPP / "include"), "-I", str(CPP / "src"), "-S", "-o", str(out), str(SOURCE)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        text = out.read_text()
    return "\n".join(line.split(arch.comment)[0].rstrip() for line in text.splitlines())


def functions(asm: str) -> dict[str, list[str]]:
    """Function name -> its lines (labels and instructions, directives dropped)."""
    names = set(re.findall(r"^\s*\.type\s+([\w.$]+),\s*[%@]function", asm, re.M))
    funcs: dict[str, list[str]] = {}
    cur: list[str] | None = None
    for line in asm.splitlines():
        m = re.match(r"^([\w.$]+):$", line)
        if m and m.group(1) in names:
            cur = funcs.setdefault(m.group(1), [])
            continue
        if cur is None or not line.strip():
            continue
        if line.strip().startswith((".cfi_endproc", ".fnend")):
            cur = None
            continue
        if re.match(r"^\s*\.", line) and not re.match(r"^\.L\w+:$", line):
            continue  # directive
        cur.append(line.strip())
    return funcs


def _mnemonic(ins: str) -> str:
    return ins.split()[0] if ins else ""


#: mnemonics that start with "b" and are not branches (AArch64 and 32-bit ARM)
NOT_BRANCHES = ("bic", "bics", "bif", "bit", "bsl", "bfi", "bfc", "bfxil")


def single_block_loops(body: list[str]) -> list[list[str]]:
    """Loops that are one basic block: a label, straight code, a branch back to that label."""
    loops = []
    for i, line in enumerate(body):
        m = re.match(r"^(\.L\w+):$", line)
        if not m:
            continue
        block = []
        for ins in body[i + 1:]:
            if ins.endswith(":"):
                break
            op = _mnemonic(ins)
            if op.startswith("b") and op not in NOT_BRANCHES:
                target = ins.split()[-1]
                if target == m.group(1):
                    loops.append(block + [ins])
                break
            if op.startswith(("cb", "tb")):
                if ins.split()[-1] == m.group(1):
                    loops.append(block + [ins])
                break
            block.append(ins)
    return loops


def straight_line(body: list[str]) -> list[str]:
    """A function body without labels and its return (ret, bx lr, or a pop into pc); fails if
    it branches anywhere else."""
    code = [ins for ins in body if not ins.endswith(":") and _mnemonic(ins) not in ("ret", "bx")
            and not (_mnemonic(ins) == "pop" and "pc" in ins)]
    branches = [ins for ins in code if re.match(r"^(b|b\.\w+|b(eq|ne|hi|ls|lt|le|gt|ge|cc|cs)|"
                                                r"cbn?z|tbn?z|bl|blx)\s", ins)]
    if branches:
        raise RuntimeError(f"expected straight-line code, found branches: {branches[:3]}")
    return code


def count(block: list[str], op: str) -> int:
    return sum(1 for ins in block if _mnemonic(ins) == op)


def mca_cycles(mca: str, cpu: str, block: list[str], arch: Arch) -> float:
    """llvm-mca's cycles per iteration of `block` repeated back to back."""
    text = "\n".join(block) + "\n"
    proc = subprocess.run([mca, f"-mtriple={arch.triple}", f"-mcpu={cpu}",
                           f"-iterations={MCA_ITERATIONS}"],
                          input=text, capture_output=True, text=True)
    if proc.returncode != 0:
        if "scheduling information" in proc.stderr:
            raise NoSchedulingModel(f"llvm-mca has no {arch.name} scheduling model for {cpu}")
        raise RuntimeError(f"llvm-mca failed: {proc.stderr.strip()[:300]}")
    total = int(re.search(r"Total Cycles:\s+(\d+)", proc.stdout).group(1))
    iters = int(re.search(r"Iterations:\s+(\d+)", proc.stdout).group(1))
    return total / iters


@dataclass
class Block:
    name: str
    cycles: float      # per iteration / per tile
    work: int          # 1-bit MACs or FP32 MACs per iteration / tile
    unit: str          # "bop" | "FP32 MAC"
    code: list[str]    # the instructions costed

    @property
    def instructions(self) -> int:
        return len(self.code)

    @property
    def stack_accesses(self) -> int:
        """Loads and stores addressed off the stack pointer: spilled registers in a loop (a whole
        tile's also count its prologue and epilogue)."""
        return sum(1 for ins in self.code if re.search(r"\[sp\b", ins))

    @property
    def cycles_per_mac(self) -> float:
        return self.cycles / self.work


def analyse_cpu(cxx: list[str], mca: str, cpu: str,
                arch: str | Arch = "aarch64") -> dict[str, Block]:
    """Every block of the module docstring for one core and instruction set (an ``ARCHS`` name,
    or an ``Arch`` for another blocking of the kernel; NoSchedulingModel where llvm-mca has no
    model for them)."""
    a = ARCHS[arch] if isinstance(arch, str) else arch
    funcs = functions(compile_asm(cxx, cpu, a))
    gemm = next(v for k, v in funcs.items() if "binary_gemm_neon" in k)
    # the tiles' K loops accumulate with UADALP / VPADAL (the strips' rows reduce with ADDP)
    loops = [lp for lp in single_block_loops(gemm) if count(lp, a.cnt) and count(lp, a.acc)]
    if not loops:
        raise RuntimeError("no popcount loop found in binary_gemm_neon")
    pop = max(loops, key=lambda lp: count(lp, a.cnt))
    fp_loops = [lp for lp in single_block_loops(funcs["mca_fp32_fma_8x8"]) if count(lp, a.mac)]
    if not fp_loops:
        raise RuntimeError("no multiply-accumulate loop found in mca_fp32_fma_8x8")
    fp = max(fp_loops, key=lambda lp: count(lp, a.mac))
    rows = a.tile_rows
    blocks = {
        "popcount loop": Block(f"popcount loop ({rows}x4 tile, steady state)",
                               mca_cycles(mca, cpu, pop, a), 128 * count(pop, a.cnt), "bop",
                               pop),
        "FP32 FMA loop": Block("FP32 NEON FMA loop (8x8 tile)", mca_cycles(mca, cpu, fp, a),
                               4 * count(fp, a.mac), "FP32 MAC", fp),
    }
    for k in (128, 256):
        code = straight_line(funcs[f"mca_binary_tile_k{k}"])
        if count(code, a.cnt) != a.tile * k // 128:
            raise RuntimeError(f"K={k} tile: expected {a.tile * k // 128} {a.cnt}, "
                               f"found {count(code, a.cnt)}")
        blocks[f"tile {k}"] = Block(f"popcount {rows}x4 tile, K={k} (whole tile)",
                                    mca_cycles(mca, cpu, code, a), a.tile * k, "bop", code)
    for k, cols in zip((128, 256, 512), a.strip_cols, strict=True):
        fn = f"mca_strip_k{k}"
        row_loops = [lp for lp in single_block_loops(funcs[fn]) if count(lp, a.cnt)]
        if not row_loops:
            raise RuntimeError(f"no row loop found in {fn}")
        row = max(row_loops, key=lambda lp: count(lp, a.cnt))
        if count(row, a.cnt) != cols * k // 128:
            raise RuntimeError(f"{fn}: expected {cols * k // 128} {a.cnt} per row, "
                               f"found {count(row, a.cnt)}")
        blocks[f"strip {k}"] = Block(f"popcount strip row, {cols} columns, K={k} (weights in "
                                     "registers)", mca_cycles(mca, cpu, row, a), cols * k, "bop",
                                     row)
    return blocks


# ---------------------------------------------------------------------------- network model
@dataclass
class Layer:
    name: str
    m: int      # rows (tokens / positions)
    n: int      # outputs
    k: int      # reduction length
    binary_gemm: bool

    @property
    def macs(self) -> int:
        return self.m * self.n * self.k


def model_layers(blocks: int) -> list[Layer]:
    """GEMM-like layers of dfsmn_thinnable + bifsmnv2 on the `blocks` path (1-s clip)."""
    import torch
    from torch import nn

    from bifsmn.binary.convert import binarize
    from bifsmn.binary.layers import QuantDepthwiseTime
    from bifsmn.blocks import to_index
    from bifsmn.models import create_model
    from bifsmn.models.summary import is_binary_layer

    model = create_model("dfsmn_thinnable")
    binarize(model, "bifsmnv2")
    layers: list[Layer] = []
    hooks = []

    def hook(mod: nn.Module, inp: tuple, out: torch.Tensor, name: str) -> None:
        if isinstance(mod, QuantDepthwiseTime):
            per = out[0].numel()
            layers.append(Layer(name, per, 1, mod.kernel_size, False))  # memory taps
        elif isinstance(mod, nn.Linear):
            n = mod.out_features
            layers.append(Layer(name, out[0].numel() // n, n, mod.in_features,
                                is_binary_layer(mod)))
        elif isinstance(mod, nn.Conv2d):
            n = mod.out_channels
            k = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
            layers.append(Layer(name, out[0].numel() // n, n, k, is_binary_layer(mod)))

    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Linear, nn.Conv2d, QuantDepthwiseTime)):
            hooks.append(mod.register_forward_hook(
                lambda m, i, o, name=name: hook(m, i, o, name)))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, 32, 32), path=to_index(blocks), return_features=True)
    for h in hooks:
        h.remove()
    return layers


def tile_cycles(blocks: dict[str, Block], k: int) -> float:
    """Cycles of one popcount tile at reduction length k: affine in 128-bit vectors."""
    t1, t2 = blocks["tile 128"].cycles, blocks["tile 256"].cycles
    per_vec = t2 - t1
    return t1 + per_vec * (math.ceil(k / 128) - 1)


def gemm_cycles(blocks: dict[str, Block], m: int, n: int, k: int,
                arch: Arch = ARCHS["aarch64"]) -> float:
    """Cycles of one binary GEMM as binary_gemm_neon runs it: for K <= 256 strips of
    ``strip_cols[0]`` columns (K <= 128) or ``strip_cols[1]``, for 256 < K <= 512 strips of
    ``strip_cols[2]``, one strip row per activation row (the strip's weight loads per call are
    left out), then tiles for the remaining columns; tiles for larger K."""
    c128, c256, c512 = arch.strip_cols
    j = 0
    cycles = 0.0
    if k <= 256:
        if k <= 128:
            strips = n // c128
            cycles += strips * m * blocks["strip 128"].cycles
            j = c128 * strips
        strips = (n - j) // c256
        cycles += strips * m * blocks["strip 256"].cycles
        j += c256 * strips
    elif k <= 512:
        strips = n // c512
        cycles += strips * m * blocks["strip 512"].cycles
        j = c512 * strips
    if n > j:
        cycles += (math.ceil(m / arch.tile_rows) * math.ceil((n - j) / 4)
                   * tile_cycles(blocks, k))
    return cycles


def predict(blocks: dict[str, Block], layers: list[Layer],
            arch: Arch = ARCHS["aarch64"]) -> dict[str, float]:
    c_fp = blocks["FP32 FMA loop"].cycles_per_mac
    fp32 = sum(lay.macs for lay in layers) * c_fp
    gemm = other = 0.0
    bops = 0
    for lay in layers:
        if lay.binary_gemm:
            gemm += gemm_cycles(blocks, 2 * lay.m, lay.n, lay.k, arch)  # two bit planes stacked
            bops += 2 * lay.macs
        else:
            other += lay.macs * c_fp
    return {"fp32_cycles": fp32, "binary_gemm_cycles": gemm, "binary_fp_cycles": other,
            "binary_cycles": gemm + other, "bops": bops,
            "fp_macs": sum(lay.macs for lay in layers if not lay.binary_gemm),
            "binary_macs": sum(lay.macs for lay in layers if lay.binary_gemm),
            "speedup": fp32 / (gemm + other), "speedup_overhead": fp32 / (2 * gemm + other)}


Key = tuple[str, str]  # (arch, cpu)


def report(results: dict[Key, dict[str, Block]], nets: dict[Key, dict[int, dict]],
           command: str, tools: list[str], skipped: list[str]) -> str:
    lines = [
        "# ARM cost model of the NEON kernels (llvm-mca predictions)",
        "",
        "**These are model predictions from llvm-mca, not measurements on a board.** No ARM "
        "hardware was used: the NEON kernels were compiled for AArch64 (a 64-bit OS) and for "
        "32-bit ARM (armhf: ARMv7 NEON, which a 32-bit OS such as Raspberry Pi OS 32-bit runs in "
        "AArch32 state on the same cores), and their instruction blocks scheduled by llvm-mca's "
        "model of each core (in-order for the Cortex-A53).",
        "",
        f"Command: `{command}`  ",
        *[f"Tools: {t}  " for t in tools],
    ]
    if skipped:
        lines += ["", "Not costed: " + "; ".join(skipped) + "."]
    lines += [
        "",
        "## Kernels",
        "",
        "| ISA | core | block | instructions | stack accesses | cycles per iteration / tile | MACs "
        "per iteration / tile | cycles per MAC | MACs per cycle |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (arch, cpu), blocks in results.items():
        board = CPUS.get(cpu, ("", 0))[0]
        for b in blocks.values():
            lines.append(f"| {arch} | {cpu} ({board}) | {b.name} | {b.instructions} | "
                         f"{b.stack_accesses} | {b.cycles:.1f} | {b.work:,} {b.unit}s | "
                         f"{b.cycles_per_mac:.4f} | "
                         f"{1 / b.cycles_per_mac:.1f} |")
    lines += ["", "Cycles per 1-bit MAC of the popcount kernel against one FP32 MAC of the FMA "
              "kernel (the popcount loop's advantage per MAC):", "",
              "| ISA | core | popcount loop vs FP32 FMA | tile K=256 vs FP32 FMA | "
              "tile K=128 vs FP32 FMA | strip K=512 vs FP32 FMA | strip K=256 vs FP32 FMA | "
              "strip K=128 vs FP32 FMA |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (arch, cpu), blocks in results.items():
        fp = blocks["FP32 FMA loop"].cycles_per_mac
        lines.append(f"| {arch} | {cpu} | {fp / blocks['popcount loop'].cycles_per_mac:.1f}x | "
                     f"{fp / blocks['tile 256'].cycles_per_mac:.1f}x | "
                     f"{fp / blocks['tile 128'].cycles_per_mac:.1f}x | "
                     f"{fp / blocks['strip 512'].cycles_per_mac:.1f}x | "
                     f"{fp / blocks['strip 256'].cycles_per_mac:.1f}x | "
                     f"{fp / blocks['strip 128'].cycles_per_mac:.1f}x |")
    lines += ["", "## Predicted network speed-up of the binary paths over FP32", "",
              "`dfsmn_thinnable` + `bifsmnv2`, one 1-s clip (32 x 32 log-mel), batch 1, one "
              "core. FP32: every MAC at the FP32 FMA loop's rate (of the same ISA). Binary: the "
              "binary GEMMs (two bit planes each) as the kernel runs them, strip rows for "
              "K <= 512 and tiles otherwise, FP32 rate for conv1, the classifier "
              "and the memory taps. Last column: binarization, packing and epilogues assumed "
              "to cost as much again as the binary GEMMs (their share measured on x86).", "",
              "| ISA | core | blocks | binary 1-bit MACs | bops (2 planes) | FP MACs | FP32 "
              "network (predicted µs) | binary network (predicted µs) | predicted speed-up, "
              "GEMMs only | predicted speed-up, with 2x binary-layer overhead |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (arch, cpu), per in nets.items():
        ghz = CPUS.get(cpu, ("", 1.0))[1]
        for b, p in per.items():
            lines.append(
                f"| {arch} | {cpu} @ {ghz} GHz | {b} | {p['binary_macs']:,} | {p['bops']:,} | "
                f"{p['fp_macs']:,} | {p['fp32_cycles'] / ghz / 1e3:,.0f} | "
                f"{p['binary_cycles'] / ghz / 1e3:,.0f} | {p['speedup']:.1f}x | "
                f"{p['speedup_overhead']:.1f}x |")
    lines += ["", "Not modelled: cache misses (all operands are assumed in L1), the front end, "
              "Python or call overhead; llvm-mca's scheduling models are approximations of the "
              "cores (the paper's 25.1x is a board measurement against its own FP baseline)."]
    return "\n".join(lines) + "\n"


def _version(cmd: list[str]) -> str:
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    return next((ln.strip() for ln in out.splitlines() if ln.strip()), cmd[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", nargs="+", default=list(CPUS), help="llvm-mca -mcpu values")
    ap.add_argument("--arch", nargs="+", default=list(ARCHS), choices=list(ARCHS),
                    help="instruction sets to cost (an absent cross compiler skips its rows)")
    ap.add_argument("--blocks", nargs="+", type=int, default=[8, 4, 2, 1])
    ap.add_argument("--out", help="folder for arm_cost_model.md (printed in any case)")
    args = ap.parse_args(argv)
    try:
        mca = find_mca()
    except ToolMissing as exc:
        print(f"SKIP: {exc}")
        return 0
    compilers: dict[str, list[str]] = {}
    skipped: list[str] = []
    for arch in args.arch:
        try:
            compilers[arch] = find_compiler(ARCHS[arch])
        except ToolMissing as exc:
            skipped.append(str(exc))
    if not compilers:
        print(f"SKIP: {'; '.join(skipped)}")
        return 0
    tools = [f"{arch}: {_version([*cxx, '--version'])} (-O3 -mcpu=<core>"
             + "".join(f" {f}" for f in ARCHS[arch].flags) + ")"
             for arch, cxx in compilers.items()]
    tools.append(f"llvm-mca: {_version([mca, '--version'])}")
    results: dict[Key, dict[str, Block]] = {}
    for arch, cxx in compilers.items():
        for cpu in args.cpu:
            try:
                results[(arch, cpu)] = analyse_cpu(cxx, mca, cpu, arch)
            except NoSchedulingModel as exc:
                skipped.append(str(exc))
    layers = {b: model_layers(b) for b in args.blocks}
    nets = {key: {b: predict(blocks, layers[b], ARCHS[key[0]]) for b in args.blocks}
            for key, blocks in results.items()}
    command = "python cpp/tools/arm_cost_model.py" + (f" --out {args.out}" if args.out else "")
    md = report(results, nets, command, tools, skipped)
    print(md)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "arm_cost_model.md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
