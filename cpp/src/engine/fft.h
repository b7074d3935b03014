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

  // re[j] = x[2j], im[j] = x[2j+1] (j < n/2) in; power[k] = |X[k]|^2 (k <= n/2) out.
  // wre, wim: work buffers of n/2 elements. re/im are overwritten.
  template <class V>
  void power(V* re, V* im, V* wre, V* wim, V* power) const {
    const V* zr;
    const V* zi;
    complex_fft(re, im, wre, wim, &zr, &zi);
    // Real-input split: X[k] = E + e^{-2 pi i k/n} O, E = (Z[k] + conj Z[h-k]) / 2,
    // O = (Z[k] - conj Z[h-k]) / (2i).
    const int half = half_;
    const S h = static_cast<S>(0.5);
    for (int k = 0; k <= half; ++k) {
      const V ar = zr[k % half], ai = zi[k % half];
      const V br = zr[(half - k) % half], bi = zi[(half - k) % half];
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
  template <class V>
  void complex_fft(V* re, V* im, V* wre, V* wim, const V** out_r, const V** out_i) const {
    V *xr = re, *xi = im, *yr = wre, *yi = wim;
    std::size_t t = 0;
    for (int len = half_, s = 1; len > 1; len /= 2, s *= 2) {
      const int m = len / 2;
      for (int p = 0; p < m; ++p) {
        const S wr = tw_re_[t + p], wi = tw_im_[t + p];
        const V* ar = xr + s * p;
        const V* ai = xi + s * p;
        const V* br = xr + s * (p + m);
        const V* bi = xi + s * (p + m);
        V* y0r = yr + s * (2 * p);
        V* y0i = yi + s * (2 * p);
        V* y1r = y0r + s;
        V* y1i = y0i + s;
        for (int q = 0; q < s; ++q) {
          const V dr = ar[q] - br[q], di = ai[q] - bi[q];
          y0r[q] = ar[q] + br[q];
          y0i[q] = ai[q] + bi[q];
          y1r[q] = dr * wr - di * wi;
          y1i[q] = dr * wi + di * wr;
        }
      }
      t += m;
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
