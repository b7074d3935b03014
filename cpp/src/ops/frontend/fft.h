// The engine's one FFT, shared by both front ends (LogMel: float, 8 or 16 frames per SIMD
// vector; Fbank40: double, up to 8): an n-point real FFT computed as a radix-2
// decimation-in-frequency complex FFT of n/2 points, in place, plus the real-input split,
// returning |X[k]|^2, k <= n/2.
//
// Templated on the table precision S (float or double) and the element type V: S itself, or a
// GCC/Clang vector of S (one independent frame per lane). Every operation is elementwise per
// lane, with scalar twiddles broadcast, so the result of a lane does not depend on V's width
// (the bits are the same for 4, 8 or 16 lanes, and on x86-64 and aarch64: the engine is
// compiled with -ffp-contract=off). Tested against numpy.fft (tests/test_fft_frontend.py, via
// the front ends) and a direct double-precision DFT (C++ test_engine). The transform's functions
// are always inlined, so that each front end's ISA-specific group function (AVX-512, AVX2 or
// baseline) compiles them for its own ISA: GCC's `flatten` did that already, Clang's did not (a
// clang build ran the 16-frame FFT out of line, compiled without AVX-512: over twice the time).
#pragma once

#include <cmath>
#include <cstddef>
#include <algorithm>
#include <vector>

namespace bifsmn::detail {

template <class S>
class RealFFT {
 public:
  RealFFT() = default;
  // n: a power of two >= 4 (the caller validates its configuration first).
  explicit RealFFT(int n) : n_(n), half_(n / 2) {
    constexpr double kPi = 3.14159265358979323846;
    // The stage with sub-length len uses w_p = e^{-2 pi i p / len}, p < len/2.
    for (int len = half_; len > 1; len /= 2) {
      for (int p = 0; p < len / 2; ++p) {
        tw_re_.push_back(static_cast<S>(std::cos(2.0 * kPi * p / len)));
        tw_im_.push_back(static_cast<S>(-std::sin(2.0 * kPi * p / len)));
      }
    }
    for (int k = 0; k <= half_; ++k) {
      rot_re_.push_back(static_cast<S>(std::cos(2.0 * kPi * k / n)));
      rot_im_.push_back(static_cast<S>(-std::sin(2.0 * kPi * k / n)));
    }
    // The in-place transform leaves Z[k] at the bit reversal of k (log2(n/2) bits).
    int bits = 0;
    while ((1 << bits) < half_) ++bits;
    rev_.resize(static_cast<std::size_t>(half_));
    for (int k = 0; k < half_; ++k) {
      int r = 0;
      for (int b = 0; b < bits; ++b) r |= ((k >> b) & 1) << (bits - 1 - b);
      rev_[static_cast<std::size_t>(k)] = r;
    }
  }
  int size() const { return n_; }
  int half() const { return half_; }

  // re[j] = x[2j], im[j] = x[2j+1] (j < n/2) in; power[k] = |X[k]|^2 (k <= n/2) out, or only
  // for k < bins when bins >= 0 (a front end whose bands stop below Nyquist: fbank40's 4 kHz
  // of 8 needs half the real-input split; the bins it computes are the same bits).
  // re/im are overwritten (the complex spectrum, in bit-reversed order).
  //
  // kScaled: power[k] = |X[k]|^2 * scale (the log-mel's 1 / sum(window^2)), the product the
  // caller would otherwise make in a second pass over power[]: the same operations, the same bits.
  //
  // kPaired (all bins; bins is ignored): both bins k and h - k from one pass over their pair of
  // spectrum values (split_pair), the same bits with fewer operations. Not with a bin limit:
  // there a pair mostly needs one bin of the two (fbank40 measured slower with it).
  template <class V, bool kScaled = false, bool kPaired = false>
  [[gnu::always_inline]] void power(V* re, V* im, V* power, int bins = -1, S scale = 1) const {
    complex_fft(re, im);
    split_power<V, kScaled, kPaired>(re, im, power, bins, scale);
  }

  // power() of the input that load(j, re_j, im_j) hands over for every j < n/2 (instead of
  // re[j], im[j] in memory): the first radix-2^2 pass reads its four quarters through load and
  // writes re/im, so the input is never stored only to be read back (the log-mel's 128 KiB
  // per 16-frame group). The same operations on the same values as power(): the same bits.
  template <class V, bool kScaled = false, bool kPaired = false, typename Load>
  [[gnu::always_inline]] void power_loaded(Load&& load, V* re, V* im, V* power, int bins = -1,
                                           S scale = 1) const {
    if (half_ > 4) {  // the transform's first pass is pair_pass(0, half_)
      first_pass_loaded(load, re, im);
      complex_fft(re, im, true);
    } else {
      for (int j = 0; j < half_; ++j) load(j, re[j], im[j]);
      complex_fft(re, im);
    }
    split_power<V, kScaled, kPaired>(re, im, power, bins, scale);
  }

 private:
  // The real-input split of power(), from the complex spectrum in re/im.
  template <class V, bool kScaled, bool kPaired>
  [[gnu::always_inline]] void split_power(V* re, V* im, V* power, int bins, S scale) const {
    const V* zr = re;
    const V* zi = im;
    // Real-input split: X[k] = E + e^{-2 pi i k/n} O, E = (Z[k] + conj Z[h-k]) / 2,
    // O = (Z[k] - conj Z[h-k]) / (2i), with Z[k] at position rev(k). Walked in storage order:
    // in bit-reversed order, Z[(h - k) mod h] of the Z[k] at position i in [2^m, 2^(m+1)) sits
    // at 3 * 2^m - 1 - i, in the same octave of positions, so both reads stay local (reading
    // Z[k] and Z[h-k] through the table in bin order cost more than the cache blocking saved).
    // Each bin's operations are those of the bin-order loop: the same bits.
    const int half = half_;
    if constexpr (kPaired) {
      split_bin<V, kScaled>(zr[0], zi[0], zr[0], zi[0], 0, power, scale);     // k = 0: Z[0] with itself
      split_bin<V, kScaled>(zr[0], zi[0], zr[0], zi[0], half, power, scale);  // k = h: the same
      // Octave 1 is position 1 alone (k = h/2, paired with itself); in every later octave the
      // positions i < 1.5 oct and j = 3 oct - 1 - i hold Z[k] and Z[h - k].
      if (half > 1) split_bin<V, kScaled>(zr[1], zi[1], zr[1], zi[1], rev_[1], power, scale);
      for (int oct = 2; oct < half; oct *= 2) {
        for (int i = oct; i < oct + oct / 2; ++i) {
          const int j = 3 * oct - 1 - i;
          split_pair<V, kScaled>(zr[i], zi[i], zr[j], zi[j], rev_[static_cast<std::size_t>(i)],
                                 rev_[static_cast<std::size_t>(j)], power, scale);
        }
      }
    } else {
      const int kend = bins < 0 || bins > half ? half + 1 : bins;
      if (kend > 0) split_bin<V, kScaled>(zr[0], zi[0], zr[0], zi[0], 0, power, scale);  // k = 0: Z[0] with itself
      if (kend > half) split_bin<V, kScaled>(zr[0], zi[0], zr[0], zi[0], half, power, scale);  // k = h: the same
      for (int oct = 1; oct < half; oct *= 2) {
        for (int i = oct; i < 2 * oct; ++i) {
          const int k = rev_[static_cast<std::size_t>(i)];
          if (k >= kend) continue;
          const int j = 3 * oct - 1 - i;
          split_bin<V, kScaled>(zr[i], zi[i], zr[j], zi[j], k, power, scale);
        }
      }
    }
  }

  // Radix-2 decimation in frequency, in place: the stage with sub-length len maps, in every
  // block of len elements starting at b,
  //   x[b + p] = a + c,   x[b + p + len/2] = (a - c) w_p,
  //   a = x[b + p], c = x[b + p + len/2],  w_p = e^{-2 pi i p / len},  p < len/2,
  // for len = n/2, n/4, ..., 2; Z[k] ends at x[bit reversal of k]. These are the butterflies of
  // the Stockham autosort form this engine used until session 39 (the same operations on the
  // same values, in another memory layout), so every value has the same bits as before.
  //
  // Two consecutive stages are fused into one pass over a block (radix 2^2): the pass reads
  // x0..x3 = x[b + p + j len/4], does the first stage's two butterflies (pairs (x0, x2) at p
  // and (x1, x3) at p + len/4, their own twiddles) and the second stage's two butterflies on
  // the results, and writes the four outputs where the second stage would: the same float
  // operations as two separate stages, with half the loads and stores. A last single stage
  // runs when log2(n/2) is odd.
  //
  // Cache blocking (why in place): pairs of stages run over the whole array while its blocks
  // are larger than kBlockBytes; then each block runs all its remaining stages while it sits in
  // L1. The Stockham form swept the whole array (and a second one) once per pair of stages:
  // with 16 frames of a 2048-point log-mel, 256 KiB per pass through L2.
  static constexpr std::size_t kBlockBytes = 16384;

  // The halved sums and differences of a = Z[k mod h] and b = Z[(h - k) mod h]:
  // E = (er, ei), O = (orr, oi) of the split below.
  template <class V>
  [[gnu::always_inline]] static void halves(V ar, V ai, V br, V bi, V& er, V& ei, V& orr,
                                            V& oi) {
    const S h = static_cast<S>(0.5);
    er = (ar + br) * h;
    ei = (ai - bi) * h;
    orr = (ai + bi) * h;
    oi = (br - ar) * h;
  }

  // power[k] = |E + e^{-2 pi i k/n} O|^2 (times scale) from halves().
  template <class V, bool kScaled>
  [[gnu::always_inline]] void bin(V er, V ei, V orr, V oi, int k, V* power, S scale) const {
    const S c = rot_re_[k], s = rot_im_[k];
    const V xr = er + (orr * c - oi * s);
    const V xi = ei + (orr * s + oi * c);
    store_power<V, kScaled>(xr * xr + xi * xi, power + k, scale);
  }

  // power[k] = |X[k]|^2 from a = Z[k mod h] and b = Z[(h - k) mod h].
  template <class V, bool kScaled>
  [[gnu::always_inline]] void split_bin(V ar, V ai, V br, V bi, int k, V* power, S scale) const {
    V er, ei, orr, oi;
    halves(ar, ai, br, bi, er, ei, orr, oi);
    bin<V, kScaled>(er, ei, orr, oi, k, power, scale);
  }

  // Bins k (from a = Z[k], b = Z[h - k]) and k2 = h - k (from a' = b, b' = a) in one pass. Bin
  // k2's E and O are bin k's conjugated: er' = (br + ar) h = er, ei' = (bi - ai) h = -ei,
  // orr' = orr, oi' = (ar - br) h = -oi, all exact (the sum commutes, a difference reversed is
  // the negation), so its split_bin operations become
  //   xr' = er + (orr c' + oi s'),  xi' = (orr s' - oi c') - ei
  // (x - (-y) = x + y and (-y) + x = x - y exactly), the same bits as split_bin on (b, a) up to
  // the sign of a zero, which the squares drop; the four sums and four halvings are made once.
  template <class V, bool kScaled>
  [[gnu::always_inline]] void split_pair(V ar, V ai, V br, V bi, int k, int k2, V* power,
                                         S scale) const {
    V er, ei, orr, oi;
    halves(ar, ai, br, bi, er, ei, orr, oi);
    bin<V, kScaled>(er, ei, orr, oi, k, power, scale);
    const S c2 = rot_re_[k2], s2 = rot_im_[k2];
    const V xr2 = er + (orr * c2 + oi * s2);
    const V xi2 = (orr * s2 - oi * c2) - ei;
    store_power<V, kScaled>(xr2 * xr2 + xi2 * xi2, power + k2, scale);
  }

  template <class V, bool kScaled>
  [[gnu::always_inline]] static void store_power(V p, V* out, S scale) {
    if constexpr (kScaled) {
      *out = p * scale;
    } else {
      *out = p;
    }
  }

  // One butterfly group of pair_pass at p. At p = 0 (kP0) both of its twiddles w_p and the
  // second stage's are w_0 = 1 - 0i: the last pass (len 4, p = 0 only) skips those products,
  // which for finite values gives the same numbers (x * 1 - y * (-0) is x, and x * (-0) + y * 1
  // is y, up to the sign of a zero result, which the squares of the power spectrum drop), so
  // the same power bits. (Peeling p = 0 out of every pass measured slower: session 54.)
  template <bool kP0, class V>
  [[gnu::always_inline]] void pair_step(V* x0r, V* x0i, V* x1r, V* x1i, V* x2r, V* x2i, V* x3r,
                                        V* x3i, int p, const S* t1r, const S* t1i, const S* t2r,
                                        const S* t2i, int m2) const {
    const S wbr = t1r[p + m2], wbi = t1i[p + m2];
    // first stage: (x0, x2) at p -> u0, u1; (x1, x3) at p + len/4 -> v0, v1
    const V u0r = x0r[p] + x2r[p], u0i = x0i[p] + x2i[p];
    const V dr = x0r[p] - x2r[p], di = x0i[p] - x2i[p];
    V u1r = dr, u1i = di;
    if constexpr (!kP0) {
      const S war = t1r[p], wai = t1i[p];
      u1r = dr * war - di * wai;
      u1i = dr * wai + di * war;
    }
    const V v0r = x1r[p] + x3r[p], v0i = x1i[p] + x3i[p];
    const V er = x1r[p] - x3r[p], ei = x1i[p] - x3i[p];
    const V v1r = er * wbr - ei * wbi, v1i = er * wbi + ei * wbr;
    // second stage (sub-length len/2): (u0, v0) in the first half, (u1, v1) in the second
    x0r[p] = u0r + v0r;
    x0i[p] = u0i + v0i;
    const V fr = u0r - v0r, fi = u0i - v0i;
    x2r[p] = u1r + v1r;
    x2i[p] = u1i + v1i;
    const V gr = u1r - v1r, gi = u1i - v1i;
    if constexpr (kP0) {
      x1r[p] = fr;
      x1i[p] = fi;
      x3r[p] = gr;
      x3i[p] = gi;
    } else {
      const S w2r = t2r[p], w2i = t2i[p];
      x1r[p] = fr * w2r - fi * w2i;
      x1i[p] = fr * w2i + fi * w2r;
      x3r[p] = gr * w2r - gi * w2i;
      x3i[p] = gr * w2i + gi * w2r;
    }
  }

  // pair_step's arithmetic on values in registers (first_pass_loaded), in place. A copy of
  // pair_step's operations: pair_step written through this function compiled to other
  // instruction schedules, which changed the speed of the transforms that do not use it.
  template <bool kP0, class V>
  [[gnu::always_inline]] void radix4(V& x0r, V& x0i, V& x1r, V& x1i, V& x2r, V& x2i, V& x3r,
                                     V& x3i, int p, const S* t1r, const S* t1i, const S* t2r,
                                     const S* t2i, int m2) const {
    const S wbr = t1r[p + m2], wbi = t1i[p + m2];
    // first stage: (x0, x2) at p -> u0, u1; (x1, x3) at p + len/4 -> v0, v1
    const V u0r = x0r + x2r, u0i = x0i + x2i;
    const V dr = x0r - x2r, di = x0i - x2i;
    V u1r = dr, u1i = di;
    if constexpr (!kP0) {
      const S war = t1r[p], wai = t1i[p];
      u1r = dr * war - di * wai;
      u1i = dr * wai + di * war;
    }
    const V v0r = x1r + x3r, v0i = x1i + x3i;
    const V er = x1r - x3r, ei = x1i - x3i;
    const V v1r = er * wbr - ei * wbi, v1i = er * wbi + ei * wbr;
    // second stage (sub-length len/2): (u0, v0) in the first half, (u1, v1) in the second
    x0r = u0r + v0r;
    x0i = u0i + v0i;
    const V fr = u0r - v0r, fi = u0i - v0i;
    x2r = u1r + v1r;
    x2i = u1i + v1i;
    const V gr = u1r - v1r, gi = u1i - v1i;
    if constexpr (kP0) {
      x1r = fr;
      x1i = fi;
      x3r = gr;
      x3i = gi;
    } else {
      const S w2r = t2r[p], w2i = t2i[p];
      x1r = fr * w2r - fi * w2i;
      x1i = fr * w2i + fi * w2r;
      x3r = gr * w2r - gi * w2i;
      x3i = gr * w2i + gi * w2r;
    }
  }

  // pair_pass(xr, xi, 0, half_) with its inputs from load (power_loaded).
  template <class V, typename Load>
  [[gnu::always_inline]] void first_pass_loaded(Load&& load, V* xr, V* xi) const {
    const int len = half_, m = len / 2, m2 = len / 4;
    const S* t1r = tw_re_.data() + tw_off(len);
    const S* t1i = tw_im_.data() + tw_off(len);
    const S* t2r = tw_re_.data() + tw_off(m);
    const S* t2i = tw_im_.data() + tw_off(m);
    for (int p = 0; p < m2; ++p) {
      V a0r, a0i, a1r, a1i, a2r, a2i, a3r, a3i;
      load(p, a0r, a0i);
      load(p + m2, a1r, a1i);
      load(p + m, a2r, a2i);
      load(p + m + m2, a3r, a3i);
      radix4<false>(a0r, a0i, a1r, a1i, a2r, a2i, a3r, a3i, p, t1r, t1i, t2r, t2i, m2);
      xr[p] = a0r, xi[p] = a0i, xr[p + m2] = a1r, xi[p + m2] = a1i;
      xr[p + m] = a2r, xi[p + m] = a2i, xr[p + m + m2] = a3r, xi[p + m + m2] = a3i;
    }
  }

  template <class V>
  [[gnu::always_inline]] void pair_pass(V* xr, V* xi, int b, int len) const {
    const int m = len / 2, m2 = len / 4;
    const S* t1r = tw_re_.data() + tw_off(len);
    const S* t1i = tw_im_.data() + tw_off(len);
    const S* t2r = tw_re_.data() + tw_off(m);
    const S* t2i = tw_im_.data() + tw_off(m);
    V* x0r = xr + b;
    V* x0i = xi + b;
    V* x1r = x0r + m2;
    V* x1i = x0i + m2;
    V* x2r = x0r + m;
    V* x2i = x0i + m;
    V* x3r = x0r + m + m2;
    V* x3i = x0i + m + m2;
    for (int p = 0; p < m2; ++p) {
      pair_step<false>(x0r, x0i, x1r, x1i, x2r, x2i, x3r, x3i, p, t1r, t1i, t2r, t2i, m2);
    }
  }

  // pair_pass for len 4 (p = 0 only).
  template <class V>
  [[gnu::always_inline]] void quad_pass(V* xr, V* xi, int b) const {
    const S* t1r = tw_re_.data() + tw_off(4);
    const S* t1i = tw_im_.data() + tw_off(4);
    V* x = xr + b;
    V* y = xi + b;
    pair_step<true>(x, y, x + 1, y + 1, x + 2, y + 2, x + 3, y + 3, 0, t1r, t1i, t1r, t1i, 1);
  }

  template <class V>
  [[gnu::always_inline]] void single_pass(V* xr, V* xi, int b) const {  // the last stage, len 2 (w_0 from the table)
    const S wr = tw_re_[tw_off(2)], wi = tw_im_[tw_off(2)];
    const V dr = xr[b] - xr[b + 1], di = xi[b] - xi[b + 1];
    xr[b] = xr[b] + xr[b + 1];
    xi[b] = xi[b] + xi[b + 1];
    xr[b + 1] = dr * wr - di * wi;
    xi[b + 1] = dr * wi + di * wr;
  }

  // first_done: the first pair_pass (b = 0, len = half_ > 4) has run (first_pass_loaded).
  template <class V>
  [[gnu::always_inline]] void complex_fft(V* xr, V* xi, bool first_done = false) const {
    int len = half_;
    bool skip = first_done;
    // whole-array passes while a block does not fit in L1
    for (; len >= 4 && static_cast<std::size_t>(len) * 2 * sizeof(V) > kBlockBytes; len /= 4) {
      if (skip) {  // len == half_: its one block
        skip = false;
        continue;
      }
      for (int b = 0; b < half_; b += len) pair_pass(xr, xi, b, len);
    }
    // then every block of len elements to the end
    for (int b0 = 0; b0 < half_; b0 += std::max(len, 1)) {
      int l = len;
      for (; l > 4; l /= 4) {
        if (skip) {  // len == l == half_: b0 = 0 is the only block
          skip = false;
          continue;
        }
        for (int b = b0; b < b0 + len; b += l) pair_pass(xr, xi, b, l);
      }
      if (l == 4) {
        for (int b = b0; b < b0 + len; b += 4) quad_pass(xr, xi, b);
      } else if (l == 2) {
        for (int b = b0; b < b0 + len; b += 2) single_pass(xr, xi, b);
      }
    }
  }

  // Offset of sub-length len's twiddles in the tables (stages from n/2 down).
  int tw_off(int len) const { return half_ - len; }

  int n_ = 0, half_ = 0;
  std::vector<S> tw_re_, tw_im_;    // twiddles, stage after stage (tw_off)
  std::vector<S> rot_re_, rot_im_;  // e^{-2 pi i k / n}, k <= n/2
  std::vector<int> rev_;            // bit reversal of k < n/2
};

}  // namespace bifsmn::detail
