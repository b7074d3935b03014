"""Probe builds for docs/results/sum-ceiling (session 51): how much of the 1-bit network's time
the fixed sum order of the dual-scale scale ``s = sum8(|r|) / n`` costs on this CPU.

``python patch.py VARIANT CPP_DIR`` rewrites a *copy* of ``cpp/`` in place. The variants are
probes, not models: they change (or drop) the sums, so their logits are wrong; only their time
means anything. Variants (AVX-512 code paths only, the ones the bench machine runs):
  base              unchanged
  sum16-binarizer   the row binarizer (quant_x86.cc, AVX-512) sums |r| in 16 lanes instead of
                    8 (half the dependent adds, no 256-bit extract; a redefined sum order)
  nosum-binarizer   the row binarizer computes |r| but never sums it (the ceiling of any order)
  nosum-memory      the FSMN memory's two-frame level pass never sums |r| (its ceiling)
  nosum-both        both of the last two
"""

from __future__ import annotations

import sys
from pathlib import Path

STEP_OLD = """  acc = _mm256_add_ps(acc, _mm512_castps512_ps256(ar));
  acc = _mm256_add_ps(acc, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(ar), 1)));"""
FOLD = ("_mm256_add_ps(_mm512_castps512_ps256({a}), "
        "_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd({a}), 1)))")
MEM_OLD = """      const v16f r = (x - b1) - tt1;
      p = p + (r < 0.0f ? -r : r);"""


def replace_once(s: str, old: str, new: str, start: int = 0) -> str:
    i = s.index(old, start)
    return s[:i] + new + s[i + len(old):]


def binarizer(src: Path, keep_sum: bool) -> None:
    s = src.read_text()
    s = replace_once(s, STEP_OLD, "  acc = _mm512_add_ps(acc, ar);" if keep_sum else "  (void)ar;")
    s = replace_once(s, "std::size_t i, __m256& acc, unsigned& m1, unsigned& m2) noexcept {\n"
                     "  const __m512 zero",
                     "std::size_t i, __m512& acc, unsigned& m1, unsigned& m2) noexcept {\n"
                     "  const __m512 zero")
    one = s.index("float quant_row_dual_avx512(")
    s = replace_once(s, "  __m256 acc = _mm256_setzero_ps();",
                     "  __m512 acc = _mm512_setzero_ps();", one)
    s = replace_once(s, "  _mm256_store_ps(p, acc);",
                     f"  _mm256_store_ps(p, {FOLD.format(a='acc')});", one)
    two = s.index("void quant_rows2_dual_avx512(")
    s = replace_once(s, "  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();",
                     "  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();", two)
    s = replace_once(s, "  _mm256_store_ps(p0, acc0);\n  _mm256_store_ps(p1, acc1);",
                     f"  _mm256_store_ps(p0, {FOLD.format(a='acc0')});\n"
                     f"  _mm256_store_ps(p1, {FOLD.format(a='acc1')});", two)
    src.write_text(s)


def memory(src: Path) -> None:
    s = src.read_text()
    src.write_text(replace_once(s, MEM_OLD, MEM_OLD.replace("p = p + (", "p = (")))


def main() -> None:
    variant, cpp = sys.argv[1], Path(sys.argv[2])
    quant = cpp / "src/ops/binarize/quant_x86.cc"
    mem = cpp / "src/ops/memory/memory.cc"
    if variant == "sum16-binarizer":
        binarizer(quant, keep_sum=True)
    elif variant == "nosum-binarizer":
        binarizer(quant, keep_sum=False)
    elif variant == "nosum-memory":
        memory(mem)
    elif variant == "nosum-both":
        binarizer(quant, keep_sum=False)
        memory(mem)
    elif variant != "base":
        raise SystemExit(f"patch.py: unknown variant {variant!r}")


if __name__ == "__main__":
    main()
