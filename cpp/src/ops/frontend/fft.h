// The engine's one FFT, shared by both front ends (LogMel: float, several frames per SIMD
// vector; Fbank40: double, one frame): an n-point real FFT computed as a radix-2 Stockham
// autosort complex FFT of n/2 points plus the real-input split, returning |X[k]|^2, k <= n/2.
//
// Templated on the table precision S (float or double) and the element type V: S itself, or a
// GCC/Clang vector of S (one independent frame per lane). Every operation is elementwise per
// lane, with scalar twiddles broadcast, so the result of a lane does not depend on V's width
// (the bits are the same for 4, 8 or 16 lanes, and on x86-64 and aarch64: the engine is
// compiled with -ffp-contract=off). Tested against numpy.fft (tests/test_fft_frontend.py, via
// the front ends) and a direct double-precision DFT (C++ test_engine).
#pragma once

#include <cmath>
#include <cstddef>
#include <utility>
#include <vector>

namespace bifsmn::detail {

template <class S>
class RealFFT {
 public:
  RealFFT() = default;
  // n: a power of two >= 4 (the caller validates its configuration first).
  explicit RealFFT(int n) : n_(n), half_(n / 2) {
    constexpr double kPi = 3.14159265358979323846;
    // Stockham stage with sub-length len uses w_p = e^{-2 pi i p / len}, p < len/2.
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
  }
  int size() const { return n_; }
  int half() const { return half_; }

  // re[j] = x[2j], im[j] = x[2j+1] (j < n/2) in; power[k] = |X[k]|^2 (k <= n/2) out, or only
  // for k < bins when bins >= 0 (a front end whose bands stop below Nyquist: fbank40's 4 kHz
  // of 8 needs half the real-input split; the bins it computes are the same bits).
  // wre, wim: work buffers of n/2 elements. re/im are overwritten.
  template <class V>
  void power(V* re, V* im, V* wre, V* wim, V* power, int bins = -1) const {
    const V* zr;
    const V* zi;
    complex_fft(re, im, wre, wim, &zr, &zi);
    // Real-input split: X[k] = E + e^{-2 pi i k/n} O, E = (Z[k] + conj Z[h-k]) / 2,
    // O = (Z[k] - conj Z[h-k]) / (2i).
    const int half = half_;
    const S h = static_cast<S>(0.5);
    const int kend = bins < 0 || bins > half ? half + 1 : bins;
    for (int k = 0; k < kend; ++k) {
      const int ka = k == half ? 0 : k, kb = k == 0 ? 0 : half - k;  // k mod h, (h - k) mod h
      const V ar = zr[ka], ai = zi[ka];
      const V br = zr[kb], bi = zi[kb];
      const V er = (ar + br) * h, ei = (ai - bi) * h;
      const V orr = (ai + bi) * h, oi = (br - ar) * h;
      const S c = rot_re_[k], s = rot_im_[k];
      const V xr = er + (orr * c - oi * s);
      const V xi = ei + (orr * s + oi * c);
      power[k] = xr * xr + xi * xi;
    }
  }

 private:
  // Radix-2 Stockham autosort, decimation in frequency: stage with sub-length len and stride s
  // maps x -> y with
  //   y[q + s(2p)] = a + b,   y[q + s(2p+1)] = (a - b) w_p,
  //   a = x[q + s p], b = x[q + s(p + len/2)],  w_p = e^{-2 pi i p / len}.
  // Natural order after log2(n/2) stages, no bit reversal; *out_r/*out_i point at the buffer
  // pair that holds the result (re/im or wre/wim).
  //
  // Two consecutive stages are fused into one pass over memory (radix 2^2): the pass reads
  // x0..x3 = x[q + s(p + j len/4)], does the first stage's two butterflies (pairs (x0, x2) at
  // p and (x1, x3) at p + len/4, their own twiddles) and the second stage's two butterflies on
  // the results, and writes the four outputs where the second stage would. Every output is the
  // same sequence of float operations as with two separate passes (bit-identical), with half
  // the loads and stores. A last single stage runs when log2(n/2) is odd.
  template <class V>
  void complex_fft(V* re, V* im, V* wre, V* wim, const V** out_r, const V** out_i) const {
    V *xr = re, *xi = im, *yr = wre, *yi = wim;
    std::size_t t = 0;
    int len = half_, s = 1;
    for (; len >= 4; len /= 4, s *= 4) {
      const int m = len / 2, m2 = len / 4;
      const S* t1r = tw_re_.data() + t;
      const S* t1i = tw_im_.data() + t;
      const S* t2r = t1r + m;
      const S* t2i = t1i + m;
      for (int p = 0; p < m2; ++p) {
        const S war = t1r[p], wai = t1i[p], wbr = t1r[p + m2], wbi = t1i[p + m2];
        const S w2r = t2r[p], w2i = t2i[p];
        const V* x0r = xr + s * p;
        const V* x0i = xi + s * p;
        const V* x1r = xr + s * (p + m2);
        const V* x1i = xi + s * (p + m2);
        const V* x2r = xr + s * (p + m);
        const V* x2i = xi + s * (p + m);
        const V* x3r = xr + s * (p + m + m2);
        const V* x3i = xi + s * (p + m + m2);
        V* z0r = yr + 4 * s * p;
        V* z0i = yi + 4 * s * p;
        for (int q = 0; q < s; ++q) {
          // first stage: (x0, x2) at p -> u0, u1; (x1, x3) at p + len/4 -> v0, v1
          const V u0r = x0r[q] + x2r[q], u0i = x0i[q] + x2i[q];
          const V dr = x0r[q] - x2r[q], di = x0i[q] - x2i[q];
          const V u1r = dr * war - di * wai, u1i = dr * wai + di * war;
          const V v0r = x1r[q] + x3r[q], v0i = x1i[q] + x3i[q];
          const V er = x1r[q] - x3r[q], ei = x1i[q] - x3i[q];
          const V v1r = er * wbr - ei * wbi, v1i = er * wbi + ei * wbr;
          // second stage (stride 2s): (u0, v0) and (u1, v1), both at p
          z0r[q] = u0r + v0r;
          z0i[q] = u0i + v0i;
          const V fr = u0r - v0r, fi = u0i - v0i;
          z0r[q + 2 * s] = fr * w2r - fi * w2i;
          z0i[q + 2 * s] = fr * w2i + fi * w2r;
          z0r[q + s] = u1r + v1r;
          z0i[q + s] = u1i + v1i;
          const V gr = u1r - v1r, gi = u1i - v1i;
          z0r[q + 3 * s] = gr * w2r - gi * w2i;
          z0i[q + 3 * s] = gr * w2i + gi * w2r;
        }
      }
      t += m + m2;
      std::swap(xr, yr);
      std::swap(xi, yi);
    }
    if (len == 2) {  // one radix-2 stage left (m = 1, w_0 = 1 from the table)
      const S wr = tw_re_[t], wi = tw_im_[t];
      for (int q = 0; q < s; ++q) {
        const V dr = xr[q] - xr[q + s], di = xi[q] - xi[q + s];
        yr[q] = xr[q] + xr[q + s];
        yi[q] = xi[q] + xi[q + s];
        yr[q + s] = dr * wr - di * wi;
        yi[q + s] = dr * wi + di * wr;
      }
      std::swap(xr, yr);
      std::swap(xi, yi);
    }
    *out_r = xr;
    *out_i = xi;
  }

  int n_ = 0, half_ = 0;
  std::vector<S> tw_re_, tw_im_;    // Stockham twiddles, stage after stage
  std::vector<S> rot_re_, rot_im_;  // e^{-2 pi i k / n}, k <= n/2
};

}  // namespace bifsmn::detail
