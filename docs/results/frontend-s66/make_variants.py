"""Session 66 front-end probe: writes two variants of the engine's FFT header into OUT.

* ``fft_pub.h``: cpp/src/ops/frontend/fft.h with its private members public and one added method,
  ``fused``: the same radix-2^2 passes and the same paired real-input split as ``power<V, true,
  true>``, but the L1-sized blocks are finished in mirror pairs (the block holding Z[k] with the one
  holding Z[h - k]) and each pair is split at once, while both are in L1; a whole-array pass of a
  sub-block runs just before its first block. Only the order changes: the same bits (checked by
  probe.cc).
* ``fft_fma.h``: fft.h in namespace ``fmaproto`` with the four complex products of pair_step and
  radix4 (first_pass_loaded's copy of it) computed as one multiply and one fused multiply-add per
  component (``a*b + c*d`` -> ``fma(a, b, c*d)``): 8 multiplies and 8 FMAs per radix-2^2 step
  instead of 16 multiplies and 8 additions; new bits.

    python docs/results/frontend-s66/make_variants.py OUT_DIR
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FUSED = r'''
  // Probe (session 66): complex_fft + the paired split, blocks finished in mirror pairs.
  template <class V, bool kScaled>
  [[gnu::always_inline]] void fused(V* xr, V* xi, V* power, S scale, bool first_done) const {
    const int half = half_;
    int len = half;
    int levels[8];
    int nlev = 0;
    for (; len >= 4 && static_cast<std::size_t>(len) * 2 * sizeof(V) > kBlockBytes; len /= 4) {
      levels[nlev++] = len;
    }
    const int L = std::max(len, 1);
    bool done[8][64] = {};
    if (first_done && nlev > 0 && levels[0] == half) done[0][0] = true;
    auto ensure = [&](int b) {  // the whole-array passes of b's enclosing sub-blocks
      for (int t = 0; t < nlev; ++t) {
        const int lt = levels[t], s = b / lt;
        if (!done[t][s]) {
          done[t][s] = true;
          pair_pass(xr, xi, s * lt, lt);
        }
      }
    };
    auto finish = [&](int b0) {  // every remaining stage of the block at b0
      ensure(b0);
      int l = len;
      for (; l > 4; l /= 4) {
        if (first_done && l == half) continue;
        for (int b = b0; b < b0 + len; b += l) pair_pass(xr, xi, b, l);
      }
      if (l == 4) {
        for (int b = b0; b < b0 + len; b += 4) quad_pass(xr, xi, b);
      } else if (l == 2) {
        for (int b = b0; b < b0 + len; b += 2) single_pass(xr, xi, b);
      }
    };
    const V* zr = xr;
    const V* zi = xi;
    finish(0);  // positions [0, L): every octave below L, as split_power walks them
    split_bin<V, kScaled>(zr[0], zi[0], zr[0], zi[0], 0, power, scale);
    split_bin<V, kScaled>(zr[0], zi[0], zr[0], zi[0], half, power, scale);
    if (half > 1) split_bin<V, kScaled>(zr[1], zi[1], zr[1], zi[1], rev_[1], power, scale);
    for (int oct = 2; oct < std::min(L, half); oct *= 2) {
      for (int i = oct; i < oct + oct / 2; ++i) {
        const int j = 3 * oct - 1 - i;
        split_pair<V, kScaled>(zr[i], zi[i], zr[j], zi[j], rev_[i], rev_[j], power, scale);
      }
    }
    for (int oct = L; oct < half; oct *= 2) {
      for (int q0 = oct; q0 < oct + oct / 2; q0 += L) {
        const int m0 = 3 * oct - q0 - L;  // the mirror block
        finish(q0);
        if (m0 != q0) finish(m0);
        const int iend = m0 != q0 ? q0 + L : q0 + L / 2;
        for (int i = q0; i < iend; ++i) {
          const int j = 3 * oct - 1 - i;
          split_pair<V, kScaled>(zr[i], zi[i], zr[j], zi[j], rev_[i], rev_[j], power, scale);
        }
      }
    }
  }

'''
FMA_HELPER = '''
#include <immintrin.h>
template <class V, class S>
[[gnu::always_inline]] inline V FM(V a, S b, V c) {  // a * b + c, one rounding
  return (V)_mm512_fmadd_ps((__m512)a, _mm512_set1_ps(b), (__m512)c);
}
namespace fmaproto {'''
# A complex product's component in pair_step and radix4: `x * w - y * v` or `x * w + y * v` with w
# one of the steps' twiddles (war/wai, wbr/wbi, w2r/w2i; single_pass and the split use others).
PRODUCT = re.compile(r"(\w+) \* (w[ab2][ri]) ([-+]) (\w+) \* (w[ab2][ri])")


def fma_form(m: re.Match[str]) -> str:
    x, w, op, y, v = m.groups()
    return f"FM({x}, {w}, -({y} * {v}))" if op == "-" else f"FM({x}, {w}, {y} * {v})"


def main(out: Path) -> None:
    src = (ROOT / "cpp/src/ops/frontend/fft.h").read_text()
    out.mkdir(parents=True, exist_ok=True)
    marker = "  // Offset of sub-length len's twiddles"
    if src.count(" private:") != 1 or marker not in src:
        raise SystemExit("fft.h: layout changed; the probe's edits no longer apply")
    pub = src.replace(" private:", " public:").replace(marker, FUSED + marker, 1)
    (out / "fft_pub.h").write_text(pub)
    fma = src.replace("namespace bifsmn::detail {", FMA_HELPER, 1)
    fma = fma.replace("}  // namespace bifsmn::detail", "}  // namespace fmaproto")
    fma, count = PRODUCT.subn(fma_form, fma)
    if count != 16:  # 8 components in pair_step, 8 in radix4
        raise SystemExit(f"fft.h: {count} complex-product components found, 16 expected")
    (out / "fft_fma.h").write_text(fma)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
