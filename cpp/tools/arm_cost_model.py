#!/usr/bin/env python3
"""ARM cost model of the NEON kernels: llvm-mca cycles per 1-bit MAC vs an FP32 NEON FMA GEMM.

    python cpp/tools/arm_cost_model.py [--out docs/results/arm] [--cpu cortex-a53 cortex-a72]

No ARM board is needed (and none was used): the kernels are compiled for aarch64 to assembly
(``aarch64-linux-gnu-g++``, or ``clang++ --target=aarch64-linux-gnu``), the loops and tiles are
cut out of the assembly, and ``llvm-mca`` predicts their cycles on the chosen cores
(``cortex-a53``: Raspberry Pi 3B+, the board of the BiFSMN paper; ``cortex-a72``: Pi 4).
**Every number this script prints is a model prediction, not a board measurement.**

Blocks analysed (``cpp/tools/arm_cost_kernels.cc``, which includes the shipped
``cpp/src/kernels_neon.cc``):

* ``popcount loop``: the steady-state inner loop of the engine's NEON binary GEMM (4 x 4 tile,
  per 128-bit vector: EOR, CNT, UADALP); 1 bop per weight bit and activation bit pair.
* ``popcount tile, K=128`` / ``K=256``: one whole 4 x 4 output tile of the same kernel at the
  model's K (the compiler unrolls it into straight-line code: loads, popcounts, the u16 -> u32
  reduction, ``K - 2 popcount``, stores), the real per-tile cost at small K.
* ``popcount strip row, K=128`` / ``K=256`` / ``K=512``: the row loop of the strips the kernel
  uses for K <= 512 (a 16-, 8- or 4-column strip's weights held in q registers, each activation
  row's counts reduced by a byte pairwise-add tree): cost per activation row in steady state.
* ``FP32 FMA loop``: an 8 x 8 FP32 NEON micro-kernel (16 accumulators, 16 lane FMLAs per k step).

Network prediction, per thinnable path: layer shapes of a ``dfsmn_thinnable`` model binarized
with ``bifsmnv2`` (the MACs of ``bifsmn summary dfsmn_thinnable --binary bifsmnv2``). FP32
network: every MAC at the FP32 loop's cycles per MAC. Binary network: each binary GEMM as
``binary_gemm_neon`` runs it (K <= 512: strip rows, the strips' weight loads left out, 4 x 4
tiles for the columns left over; larger K: 4 x 4 tiles at the tile cost for its K, affine in the
number of 128-bit vectors, fitted on the K=128 and K=256 tiles), with twice the rows (the
dual-scale binarizer stacks two bit planes); the
full-precision layers (conv1, classifier) and the memory taps at the FP32 cost. Not modelled:
binarization and packing of activations, epilogues (BN, PReLU, residual), the memory taps'
sign-select, cache misses, the front end. A second column assumes those cost as much again as
the binary GEMMs, as the engine's stage profiler measures on x86 (``bifsmn bench``).
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
TILE = 16  # outputs per 4 x 4 popcount tile


class ToolMissing(RuntimeError):
    pass


def find_tools() -> tuple[list[str], str]:
    """(compiler command, llvm-mca path); ToolMissing names what is absent."""
    mca = shutil.which("llvm-mca") or next(
        (p for v in range(30, 10, -1) if (p := shutil.which(f"llvm-mca-{v}"))), None)
    if mca is None:
        raise ToolMissing("llvm-mca not installed (apt-get install llvm)")
    if shutil.which("aarch64-linux-gnu-g++"):
        return ["aarch64-linux-gnu-g++"], mca
    if shutil.which("clang++"):
        return ["clang++", "--target=aarch64-linux-gnu"], mca
    raise ToolMissing("no aarch64 compiler: aarch64-linux-gnu-g++ (cpp/install_cross_tools.sh) "
                      "or clang++")


def compile_asm(cxx: list[str], cpu: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "k.s"
        cmd = [*cxx, "-std=c++17", "-O3", f"-mcpu={cpu}", "-I", str(CPP / "include"),
               "-I", str(CPP / "src"), "-S", "-o", str(out), str(SOURCE)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        return out.read_text()


def functions(asm: str) -> dict[str, list[str]]:
    """Function name -> its lines (labels and instructions, directives dropped)."""
    names = set(re.findall(r"^\s*\.type\s+([\w.$]+),\s*[%@]function", asm, re.M))
    funcs: dict[str, list[str]] = {}
    cur: list[str] | None = None
    for raw in asm.splitlines():
        line = raw.split("//")[0].rstrip()
        m = re.match(r"^([\w.$]+):$", line)
        if m and m.group(1) in names:
            cur = funcs.setdefault(m.group(1), [])
            continue
        if cur is None or not line.strip():
            continue
        if line.strip().startswith(".cfi_endproc"):
            cur = None
            continue
        if re.match(r"^\s*\.", line) and not re.match(r"^\.L\w+:$", line):
            continue  # directive
        cur.append(line.strip())
    return funcs


def _mnemonic(ins: str) -> str:
    return ins.split()[0] if ins else ""


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
            if op.startswith("b") and op not in ("bic", "bif", "bit", "bsl", "bfi", "bfxil"):
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
    """A function body without labels and its final ret; fails if it branches."""
    code = [ins for ins in body if not ins.endswith(":") and _mnemonic(ins) != "ret"]
    branches = [ins for ins in code if re.match(r"^(b|b\.\w+|cbn?z|tbn?z|bl)\s", ins)]
    if branches:
        raise RuntimeError(f"expected straight-line code, found branches: {branches[:3]}")
    return code


def count(block: list[str], op: str) -> int:
    return sum(1 for ins in block if _mnemonic(ins) == op)


def mca_cycles(mca: str, cpu: str, block: list[str]) -> float:
    """llvm-mca's cycles per iteration of `block` repeated back to back."""
    text = "\n".join(block) + "\n"
    proc = subprocess.run([mca, "-mtriple=aarch64", f"-mcpu={cpu}",
                           f"-iterations={MCA_ITERATIONS}"],
                          input=text, capture_output=True, text=True, check=True)
    total = int(re.search(r"Total Cycles:\s+(\d+)", proc.stdout).group(1))
    iters = int(re.search(r"Iterations:\s+(\d+)", proc.stdout).group(1))
    return total / iters


@dataclass
class Block:
    name: str
    cycles: float      # per iteration / per tile
    work: int          # 1-bit MACs or FP32 MACs per iteration / tile
    unit: str          # "bop" | "FP32 MAC"
    instructions: int

    @property
    def cycles_per_mac(self) -> float:
        return self.cycles / self.work


def analyse_cpu(cxx: list[str], mca: str, cpu: str) -> dict[str, Block]:
    funcs = functions(compile_asm(cxx, cpu))
    gemm = next(v for k, v in funcs.items() if "binary_gemm_neon" in k)
    # the 4 x 4 tiles' K loops accumulate with UADALP (the strips' rows reduce with ADDP)
    loops = [lp for lp in single_block_loops(gemm) if count(lp, "cnt") and count(lp, "uadalp")]
    if not loops:
        raise RuntimeError("no popcount loop found in binary_gemm_neon")
    pop = max(loops, key=lambda lp: count(lp, "cnt"))
    fp_loops = [lp for lp in single_block_loops(funcs["mca_fp32_fma_8x8"]) if count(lp, "fmla")]
    if not fp_loops:
        raise RuntimeError("no FMA loop found in mca_fp32_fma_8x8")
    fp = max(fp_loops, key=lambda lp: count(lp, "fmla"))
    blocks = {
        "popcount loop": Block("popcount loop (4x4 tile, steady state)", mca_cycles(mca, cpu, pop),
                               128 * count(pop, "cnt"), "bop", len(pop)),
        "FP32 FMA loop": Block("FP32 NEON FMA loop (8x8 tile)", mca_cycles(mca, cpu, fp),
                               4 * count(fp, "fmla"), "FP32 MAC", len(fp)),
    }
    for k in (128, 256):
        code = straight_line(funcs[f"mca_binary_tile_k{k}"])
        if count(code, "cnt") != TILE * k // 128:
            raise RuntimeError(f"K={k} tile: expected {TILE * k // 128} cnt, "
                               f"found {count(code, 'cnt')}")
        blocks[f"tile {k}"] = Block(f"popcount 4x4 tile, K={k} (whole tile)",
                                    mca_cycles(mca, cpu, code), TILE * k, "bop", len(code))
    for k, cols in ((128, 16), (256, 8), (512, 4)):
        fn = f"mca_strip{cols}_k{k}"
        rows = [lp for lp in single_block_loops(funcs[fn]) if count(lp, "cnt")]
        if not rows:
            raise RuntimeError(f"no row loop found in {fn}")
        row = max(rows, key=lambda lp: count(lp, "cnt"))
        if count(row, "cnt") != cols * k // 128:
            raise RuntimeError(f"{fn}: expected {cols * k // 128} cnt per row, "
                               f"found {count(row, 'cnt')}")
        blocks[f"strip {k}"] = Block(f"popcount strip row, {cols} columns, K={k} (weights in "
                                     "registers)", mca_cycles(mca, cpu, row), cols * k, "bop",
                                     len(row))
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
    """Cycles of one 4x4 popcount tile at reduction length k: affine in 128-bit vectors."""
    t1, t2 = blocks["tile 128"].cycles, blocks["tile 256"].cycles
    per_vec = t2 - t1
    return t1 + per_vec * (math.ceil(k / 128) - 1)


def gemm_cycles(blocks: dict[str, Block], m: int, n: int, k: int) -> float:
    """Cycles of one binary GEMM as binary_gemm_neon runs it: for K <= 256 strips of 16
    (K <= 128) or 8 columns, for 256 < K <= 512 strips of 4 columns, one strip row per
    activation row (the strip's 16 weight loads per call are left out), then 4 x 4 tiles for
    the remaining columns; 4 x 4 tiles for larger K."""
    j = 0
    cycles = 0.0
    if k <= 256:
        if k <= 128:
            strips = n // 16
            cycles += strips * m * blocks["strip 128"].cycles
            j = 16 * strips
        strips = (n - j) // 8
        cycles += strips * m * blocks["strip 256"].cycles
        j += 8 * strips
    elif k <= 512:
        strips = n // 4
        cycles += strips * m * blocks["strip 512"].cycles
        j = 4 * strips
    if n > j:
        cycles += math.ceil(m / 4) * math.ceil((n - j) / 4) * tile_cycles(blocks, k)
    return cycles


def predict(blocks: dict[str, Block], layers: list[Layer]) -> dict[str, float]:
    c_fp = blocks["FP32 FMA loop"].cycles_per_mac
    fp32 = sum(lay.macs for lay in layers) * c_fp
    gemm = other = 0.0
    bops = 0
    for lay in layers:
        if lay.binary_gemm:
            gemm += gemm_cycles(blocks, 2 * lay.m, lay.n, lay.k)  # two bit planes stacked
            bops += 2 * lay.macs
        else:
            other += lay.macs * c_fp
    return {"fp32_cycles": fp32, "binary_gemm_cycles": gemm, "binary_fp_cycles": other,
            "binary_cycles": gemm + other, "bops": bops,
            "fp_macs": sum(lay.macs for lay in layers if not lay.binary_gemm),
            "binary_macs": sum(lay.macs for lay in layers if lay.binary_gemm),
            "speedup": fp32 / (gemm + other), "speedup_overhead": fp32 / (2 * gemm + other)}


def report(results: dict[str, dict[str, Block]], nets: dict[str, dict[int, dict]],
           command: str, tools: str) -> str:
    lines = [
        "# ARM cost model of the NEON kernels (llvm-mca predictions)",
        "",
        "**These are model predictions from llvm-mca, not measurements on a board.** No ARM "
        "hardware was used: the NEON kernels were compiled for aarch64 and their instruction "
        "blocks scheduled by llvm-mca's model of each core (in-order for the Cortex-A53).",
        "",
        f"Command: `{command}`  ",
        f"Tools: {tools}",
        "",
        "## Kernels",
        "",
        "| core | block | instructions | cycles per iteration / tile | MACs per iteration / tile "
        "| cycles per MAC | MACs per cycle |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for cpu, blocks in results.items():
        board = CPUS.get(cpu, ("", 0))[0]
        for b in blocks.values():
            lines.append(f"| {cpu} ({board}) | {b.name} | {b.instructions} | {b.cycles:.1f} | "
                         f"{b.work:,} {b.unit}s | {b.cycles_per_mac:.4f} | "
                         f"{1 / b.cycles_per_mac:.1f} |")
    lines += ["", "Cycles per 1-bit MAC of the popcount kernel against one FP32 MAC of the FMA "
              "kernel (the popcount loop's advantage per MAC):", "",
              "| core | popcount loop vs FP32 FMA | tile K=256 vs FP32 FMA | "
              "tile K=128 vs FP32 FMA | strip K=512 vs FP32 FMA | strip K=256 vs FP32 FMA | "
              "strip K=128 vs FP32 FMA |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for cpu, blocks in results.items():
        fp = blocks["FP32 FMA loop"].cycles_per_mac
        lines.append(f"| {cpu} | {fp / blocks['popcount loop'].cycles_per_mac:.1f}x | "
                     f"{fp / blocks['tile 256'].cycles_per_mac:.1f}x | "
                     f"{fp / blocks['tile 128'].cycles_per_mac:.1f}x | "
                     f"{fp / blocks['strip 512'].cycles_per_mac:.1f}x | "
                     f"{fp / blocks['strip 256'].cycles_per_mac:.1f}x | "
                     f"{fp / blocks['strip 128'].cycles_per_mac:.1f}x |")
    lines += ["", "## Predicted network speed-up of the binary paths over FP32", "",
              "`dfsmn_thinnable` + `bifsmnv2`, one 1-s clip (32 x 32 log-mel), batch 1, one "
              "core. FP32: every MAC at the FP32 FMA loop's rate. Binary: the binary GEMMs "
              "(two bit planes each) as the kernel runs them, strip rows for K <= 512 and "
              "4x4 tiles otherwise, FP32 rate for conv1, the classifier "
              "and the memory taps. Last column: binarization, packing and epilogues assumed "
              "to cost as much again as the binary GEMMs (their share measured on x86).", "",
              "| core | blocks | binary 1-bit MACs | bops (2 planes) | FP MACs | FP32 network "
              "(predicted µs) | binary network (predicted µs) | predicted speed-up, GEMMs only "
              "| predicted speed-up, with 2x binary-layer overhead |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cpu, per in nets.items():
        ghz = CPUS.get(cpu, ("", 1.0))[1]
        for b, p in per.items():
            lines.append(
                f"| {cpu} @ {ghz} GHz | {b} | {p['binary_macs']:,} | {p['bops']:,} | "
                f"{p['fp_macs']:,} | {p['fp32_cycles'] / ghz / 1e3:,.0f} | "
                f"{p['binary_cycles'] / ghz / 1e3:,.0f} | {p['speedup']:.1f}x | "
                f"{p['speedup_overhead']:.1f}x |")
    lines += ["", "Not modelled: cache misses (all operands are assumed in L1), the front end, "
              "Python or call overhead; llvm-mca's scheduling models are approximations of the "
              "cores (the paper's 25.1x is a board measurement against its own FP baseline)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu", nargs="+", default=list(CPUS), help="llvm-mca -mcpu values")
    ap.add_argument("--blocks", nargs="+", type=int, default=[8, 4, 2, 1])
    ap.add_argument("--out", help="folder for arm_cost_model.md (printed in any case)")
    args = ap.parse_args(argv)
    try:
        cxx, mca = find_tools()
    except ToolMissing as exc:
        print(f"SKIP: {exc}")
        return 0
    ver = subprocess.run([*cxx, "--version"], capture_output=True, text=True).stdout
    mver = subprocess.run([mca, "--version"], capture_output=True, text=True).stdout
    mver = next((ln.strip() for ln in mver.splitlines() if "version" in ln.lower()), mca)
    tools = f"{ver.splitlines()[0]} (-O3 -mcpu=<core>); llvm-mca: {mver}"
    results = {cpu: analyse_cpu(cxx, mca, cpu) for cpu in args.cpu}
    layers = {b: model_layers(b) for b in args.blocks}
    nets = {cpu: {b: predict(results[cpu], layers[b]) for b in args.blocks} for cpu in args.cpu}
    command = "python cpp/tools/arm_cost_model.py" + (f" --out {args.out}" if args.out else "")
    md = report(results, nets, command, tools)
    print(md)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "arm_cost_model.md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
