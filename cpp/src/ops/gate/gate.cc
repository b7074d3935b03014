// The detector's window gate (include/bifsmn/gate.h; the numpy original is
// src/bifsmn/detect/gate.py, whose module docstring says what each test is for).
#include "bifsmn/gate.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "../frontend/frontend.h"  // the FFT plans; ../common.h: BIFSMN_ISA_CLONES_FLAT

namespace bifsmn {
namespace {

// Four frames' values, one frame per lane: the spectra of a hop's new frames are computed
// together (session 37; one at a time before). Every lane performs the scalar code's double
// operations in the same order (GCC vector arithmetic is elementwise IEEE, contraction is off),
// so a frame's statistics are the same bits whichever lane or group it is computed in.
typedef double v4d __attribute__((vector_size(32)));
typedef std::int64_t v4i __attribute__((vector_size(32)));
typedef std::uint64_t v4u __attribute__((vector_size(32)));
constexpr int kGateLanes = 4;

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kPi = 3.14159265358979323846;
constexpr double kLn2 = 0.69314718055994530942;

// A complex FFT of any length by decimation in time over its prime-ish factors (4 first, then
// 2, 3, 5, then whatever prime is left, done as a plain DFT of that size). The gate's 25-ms
// frames are 400 samples at 16 kHz (4 x 4 x 5 x 5), not a power of two, so the front ends'
// radix-2 FFT (ops/frontend/fft.h) does not fit.
//
// The transform is the recursive one (level d splits a sub-transform of length len_d into
// p_d interleaved sub-transforms of length m_d = len_d / p_d, twiddles them by W_n^(q k n/len_d)
// and combines them with a p_d-point DFT), run bottom-up: the input is read once in the order
// the recursion's leaves would read it (`perm`), then each level combines every block of its
// length in place, deepest level first. Every output value gets the same operations in the same
// order as in the recursion (which this replaced in session 36: its calls, scratch vectors and
// index divisions made the FFT the largest part of the gate), so the spectra are the same bits;
// the blocks of a level are independent, and a level's k loop reads its twiddles from a table
// contiguous in k.
struct FftPlan {
  struct Level {
    int p = 0, m = 0, len = 0;
    std::vector<double> wr, wi;  // (q - 1) * m + k -> cos / -sin of 2 pi q k / len
  };
  int n = 0;
  std::vector<int> factors;
  std::vector<double> cs, sn;  // cos / -sin of 2 pi k / n
  std::vector<int> perm;       // position i of the deepest level reads input perm[i]
  std::vector<Level> levels;   // levels[d]: split by factors[d]
  double c5[2] = {std::cos(2.0 * kPi / 5.0), std::cos(4.0 * kPi / 5.0)};
  double s5[2] = {std::sin(2.0 * kPi / 5.0), std::sin(4.0 * kPi / 5.0)};

  explicit FftPlan(int len) : n(len) {
    int m = len;
    for (int f : {4, 2, 3, 5}) {
      while (m % f == 0) {
        factors.push_back(f);
        m /= f;
      }
    }
    for (int f = 7; m > 1; f += 2) {
      while (m % f == 0) {
        factors.push_back(f);
        m /= f;
      }
    }
    cs.resize(static_cast<std::size_t>(len));
    sn.resize(static_cast<std::size_t>(len));
    for (int k = 0; k < len; ++k) {
      const double a = 2.0 * kPi * static_cast<double>(k) / static_cast<double>(len);
      cs[static_cast<std::size_t>(k)] = std::cos(a);
      sn[static_cast<std::size_t>(k)] = -std::sin(a);
    }
    int cur = len;
    for (const int f : factors) {
      Level lv;
      lv.p = f;
      lv.len = cur;
      lv.m = cur / f;
      const int ts = len / cur;
      for (int q = 1; q < f; ++q) {
        for (int k = 0; k < lv.m; ++k) {
          const auto e = static_cast<std::size_t>(q * k * ts);
          lv.wr.push_back(cs[e]);
          lv.wi.push_back(sn[e]);
        }
      }
      levels.push_back(std::move(lv));
      cur /= f;
    }
    perm.assign(static_cast<std::size_t>(len), 0);
    leaves(0, 1, 0, 0);
  }

  // The recursion's reads: the sub-transform of level d at output base `base` reads the input
  // from offset `off` with stride `stride`; its q-th child starts at off + q * stride.
  void leaves(int off, int stride, int base, std::size_t d) {
    if (d == levels.size()) {
      perm[static_cast<std::size_t>(base)] = off;
      return;
    }
    const Level& lv = levels[d];
    for (int q = 0; q < lv.p; ++q) leaves(off + q * stride, stride * lv.p, base + q * lv.m, d + 1);
  }

  // re/im[0..n) = DFT of re_in/im_in[0..n) (contiguous). T: double, or v4d (one frame per lane).
  // scratch: 2 * n values of T (the plain DFT of a prime factor above 5 uses 2 p of them).
  template <class T>
  void transform(const T* re_in, const T* im_in, T* re, T* im, T* scratch) const {
    for (int i = 0; i < n; ++i) {
      re[i] = re_in[perm[static_cast<std::size_t>(i)]];
      im[i] = im_in[perm[static_cast<std::size_t>(i)]];
    }
    for (std::size_t d = levels.size(); d-- > 0;) {
      const Level& lv = levels[d];
      for (int b = 0; b < n; b += lv.len) combine(lv, re + b, im + b, scratch);
    }
  }

  // t_0 = x[k], t_q = x[q m + k] * W^(q k) for 0 < q < p (the level's twiddle table).
  template <class T>
  [[gnu::always_inline]] static inline void twiddled(const T* re, const T* im, int p, int m,
                                                     int k, const double* wr, const double* wi,
                                                     T* tr, T* ti) {
    tr[0] = re[k];
    ti[0] = im[k];
    for (int q = 1; q < p; ++q) {
      const T xr = re[q * m + k], xi = im[q * m + k];
      const double c = wr[(q - 1) * m + k], sv = wi[(q - 1) * m + k];
      tr[q] = xr * c - xi * sv;
      ti[q] = xr * sv + xi * c;
    }
  }

  // One block of a level: for k < m, the twiddled t_q, then their p-point DFT written to
  // x[k + r m]: radix 4 and 2 without multiplies, 5 by its roots of unity, other factors as a
  // plain DFT.
  template <class T>
  void combine(const Level& lv, T* __restrict__ re, T* __restrict__ im,
               T* __restrict__ scratch) const {
    const int p = lv.p, m = lv.m;
    const double* __restrict__ wr = lv.wr.data();
    const double* __restrict__ wi = lv.wi.data();
    if (p == 2) {
      for (int k = 0; k < m; ++k) {
        T tr[2], ti[2];
        twiddled(re, im, 2, m, k, wr, wi, tr, ti);
        re[k] = tr[0] + tr[1];
        im[k] = ti[0] + ti[1];
        re[k + m] = tr[0] - tr[1];
        im[k + m] = ti[0] - ti[1];
      }
    } else if (p == 4) {  // W_4 = -i
      for (int k = 0; k < m; ++k) {
        T tr[4], ti[4];
        twiddled(re, im, 4, m, k, wr, wi, tr, ti);
        const T ar = tr[0] + tr[2], ai = ti[0] + ti[2];
        const T br = tr[0] - tr[2], bi = ti[0] - ti[2];
        const T cr = tr[1] + tr[3], ci = ti[1] + ti[3];
        const T dr = tr[1] - tr[3], di = ti[1] - ti[3];
        re[k] = ar + cr;
        im[k] = ai + ci;
        re[k + m] = br + di;  // b - i d
        im[k + m] = bi - dr;
        re[k + 2 * m] = ar - cr;
        im[k + 2 * m] = ai - ci;
        re[k + 3 * m] = br - di;  // b + i d
        im[k + 3 * m] = bi + dr;
      }
    } else if (p == 5) {  // X_1,4 = m1 -/+ i n1, X_2,3 = m2 -/+ i n2
      for (int k = 0; k < m; ++k) {
        T tr[5], ti[5];
        twiddled(re, im, 5, m, k, wr, wi, tr, ti);
        const T a1r = tr[1] + tr[4], a1i = ti[1] + ti[4], b1r = tr[1] - tr[4],
                b1i = ti[1] - ti[4];
        const T a2r = tr[2] + tr[3], a2i = ti[2] + ti[3], b2r = tr[2] - tr[3],
                b2i = ti[2] - ti[3];
        const T m1r = tr[0] + c5[0] * a1r + c5[1] * a2r;
        const T m1i = ti[0] + c5[0] * a1i + c5[1] * a2i;
        const T m2r = tr[0] + c5[1] * a1r + c5[0] * a2r;
        const T m2i = ti[0] + c5[1] * a1i + c5[0] * a2i;
        const T n1r = s5[0] * b1r + s5[1] * b2r, n1i = s5[0] * b1i + s5[1] * b2i;
        const T n2r = s5[1] * b1r - s5[0] * b2r, n2i = s5[1] * b1i - s5[0] * b2i;
        re[k] = tr[0] + a1r + a2r;
        im[k] = ti[0] + a1i + a2i;
        re[k + m] = m1r + n1i;
        im[k + m] = m1i - n1r;
        re[k + 4 * m] = m1r - n1i;
        im[k + 4 * m] = m1i + n1r;
        re[k + 2 * m] = m2r + n2i;
        im[k + 2 * m] = m2i - n2r;
        re[k + 3 * m] = m2r - n2i;
        im[k + 3 * m] = m2i + n2r;
      }
    } else {
      T* tr = scratch;  // p values each
      T* ti = scratch + p;
      const int root = n / p;  // W_p^j = W_n^(j * n / p)
      for (int k = 0; k < m; ++k) {
        twiddled(re, im, p, m, k, wr, wi, tr, ti);
        for (int r = 0; r < p; ++r) {
          T ar = tr[0], ai = ti[0];
          int j = 0;  // (q * r) mod p, stepped instead of divided
          for (int q = 1; q < p; ++q) {
            j += r;
            if (j >= p) j -= p;
            const auto e = static_cast<std::size_t>(j * root);
            const T xr = tr[static_cast<std::size_t>(q)];
            const T xi = ti[static_cast<std::size_t>(q)];
            ar += xr * cs[e] - xi * sn[e];
            ai += xr * sn[e] + xi * cs[e];
          }
          re[k + r * m] = ar;
          im[k + r * m] = ai;
        }
      }
    }
  }
};

const FftPlan& plan_for(int n) {
  static std::mutex mu;
  static std::unordered_map<int, std::unique_ptr<FftPlan>> plans;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = plans[n];
  if (!slot) slot = std::make_unique<FftPlan>(n);
  return *slot;
}

struct Spectra {
  double mean, flat, band;
};

// std::frexp for finite normal doubles, inline: the same mantissa and exponent, read from the
// bits (the library call per power bin was a tenth of the gate's time); zeros, subnormals,
// infinities and NaN go to std::frexp.
inline double frexp_bits(double v, int* e) {
  std::uint64_t b = 0;
  std::memcpy(&b, &v, sizeof b);
  const int biased = static_cast<int>((b >> 52) & 0x7ff);
  if (biased == 0 || biased == 0x7ff) return std::frexp(v, e);
  *e = biased - 1022;
  b = (b & ~(std::uint64_t{0x7ff} << 52)) | (std::uint64_t{1022} << 52);
  std::memcpy(&v, &b, sizeof v);
  return v;
}

// frexp_bits of every lane of v (the product of a frame's running mantissa and its next power
// bin), the exponents added to exps: lane by lane what the scalar code computes. The bit
// manipulation is done on all lanes at once unless a lane is zero, subnormal, infinite or NaN
// (never for the gate's positive normal products, but then every lane goes through the scalar
// function).
[[gnu::always_inline]] inline void frexp_lanes(v4d& v, v4i& exps) {
  v4u b;
  std::memcpy(&b, &v, sizeof b);
  const v4u biased = (b >> 52) & 0x7ff;
  const v4u special = ((biased - 1) & 0xfff) >= 0x7fe;  // biased 0 or 0x7ff
  if (special[0] | special[1] | special[2] | special[3]) {
    for (int l = 0; l < kGateLanes; ++l) {
      int e = 0;
      v[l] = frexp_bits(v[l], &e);
      exps[l] += e;
    }
    return;
  }
  v4i e;
  std::memcpy(&e, &biased, sizeof e);
  exps += e - 1022;
  b = (b & ~(std::uint64_t{0x7ff} << 52)) | (std::uint64_t{1022} << 52);
  std::memcpy(&v, &b, sizeof v);
}
[[gnu::always_inline]] inline void frexp_lanes(double& v, std::int64_t& exps) {
  int e = 0;
  v = frexp_bits(v, &e);
  exps += e;
}

template <class T>
[[gnu::always_inline]] inline double lane(const T& v, int l) {
  if constexpr (std::is_arithmetic_v<T>) {  // a scalar (double, or long: 4 bytes on 32-bit ARM)
    (void)l;
    return v;
  } else {
    return v[l];
  }
}

// Sample i of every lane's frame, widened to double, into v (lanes past `count` read frame 0:
// their results are not used). By reference: a vector returned by value outside the AVX
// clones would change the ABI.
template <class T>
[[gnu::always_inline]] inline void samples_at(const float* const* fr, int count, int i, T& v) {
  if constexpr (std::is_arithmetic_v<T>) {
    (void)count;
    v = static_cast<double>(fr[0][i]);
  } else {
    for (int l = 0; l < kGateLanes; ++l) v[l] = static_cast<double>(fr[l < count ? l : 0][i]);
  }
}

// (mean power, flatness, speech-band power) of frames fr[0..count) (count lanes of T: 1 for
// double, up to 4 for v4d): Hann window, power spectrum without the DC bin (+ spectrum_floor as
// in numpy), flatness = exp(mean log p) / mean p. `full` / `half` are the FFT plans of the frame
// length and, for even lengths, of half of it.
template <class T>
[[gnu::always_inline]] inline void frame_spectra_t(const GateParams& p, const float* const* fr,
                                                   int count, const double* hann,
                                                   const FftPlan& full, const FftPlan* half,
                                                   T* work, Spectra* out) {
  const int f = p.frame, bins = f / 2;
  T* xr = work;  // work: 6 * f values (the caller's, so that the ISA clones allocate nothing)
  T* xi = work + f;
  T* yr = work + 2 * f;
  T* yi = work + 3 * f;
  T* scratch = work + 4 * f;
  if (half) {
    // real input of even length as a complex FFT of half the length: z[m] = x[2m] + i x[2m+1],
    // then X[k] = E[k] + W_f^k O[k] with E, O the even and odd samples' transforms
    // (E = (Z[k] + conj Z[M-k]) / 2, O = (Z[k] - conj Z[M-k]) / 2i), for k = 1 .. f/2
    const int h = f / 2;
    for (int m = 0; m < h; ++m) {
      T even, odd;
      samples_at(fr, count, 2 * m, even);
      samples_at(fr, count, 2 * m + 1, odd);
      xr[m] = even * hann[2 * m];
      xi[m] = odd * hann[2 * m + 1];
    }
    half->transform(xr, xi, yr, yi, scratch);
    for (int k = 1; k <= h; ++k) {
      // k % h and (h - k) % h for k = 1..h, without the two integer divisions per bin
      const int a = k < h ? k : 0, b = h - k;
      const T ar = yr[a], ai = yi[a], br = yr[b], bi = -yi[b];  // B = conj Z[M-k]
      const T er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
      const T dr = 0.5 * (ar - br), di = 0.5 * (ai - bi);
      const T orr = di, oi = -dr;  // O = D / i
      const double wr = full.cs[static_cast<std::size_t>(k)];
      const double wi = full.sn[static_cast<std::size_t>(k)];
      xr[k] = er + (orr * wr - oi * wi);
      xi[k] = ei + (orr * wi + oi * wr);
    }
    std::swap(xr, yr);
    std::swap(xi, yi);
  } else {
    for (int i = 0; i < f; ++i) {
      T v;
      samples_at(fr, count, i, v);
      xr[i] = v * hann[i];
      xi[i] = T{};
    }
    full.transform(xr, xi, yr, yi, scratch);
  }
  // sum of logs as the log of a product kept as mantissa x 2^exponent (one log per frame
  // instead of one per bin; it differs from numpy's sum of logs by rounding only)
  T sum{}, band{}, prod = T{} + 1.0;
  std::conditional_t<std::is_arithmetic_v<T>, std::int64_t, v4i> exps{};
  for (int k = 1; k <= bins; ++k) {
    const T re = yr[k], im = yi[k];
    const T pw = (re * re + im * im) + p.spectrum_floor;  // numpy: hypot(re, im)**2 + it
    sum += pw;
    prod = prod * pw;
    frexp_lanes(prod, exps);
    if (k >= p.band_lo && k <= p.band_hi) band += pw;
  }
  for (int l = 0; l < count; ++l) {
    const double logs = std::log(lane(prod, l)) + static_cast<double>(lane(exps, l)) * kLn2;
    const double mean = lane(sum, l) / bins;
    out[l] = {mean, std::exp(logs / bins) / mean, lane(band, l) / (p.band_hi - p.band_lo + 1)};
  }
}

// The spectra of up to kGateLanes frames at once (one per lane), compiled per ISA.
[[gnu::always_inline]] inline void frame_spectra_group_body(const GateParams& p,
                                                            const float* const* fr, int count,
                                                            const double* hann, const FftPlan& full,
                                                            const FftPlan* half, v4d* work,
                                                            Spectra* out) {
  frame_spectra_t<v4d>(p, fr, count, hann, full, half, work, out);
}
BIFSMN_ISA_CLONES_FLAT(void, frame_spectra_group,
                       (const GateParams& p, const float* const* fr, int count, const double* hann,
                        const FftPlan& full, const FftPlan* half, v4d* work, Spectra* out),
                       (p, fr, count, hann, full, half, work, out))

// The spectra of one frame (scalar).
void frame_spectra_one(const GateParams& p, const float* x, const double* hann,
                       const FftPlan& full, const FftPlan* half, double* work, Spectra* out) {
  frame_spectra_t<double>(p, &x, 1, hann, full, half, work, out);
}

// Loudest real frame and the floor_quantile one among the real frames (db over nf frames).
void peak_floor(const GateParams& p, const double* db, const std::uint8_t* real, int nf,
                double& peak, double& floor, int& nreal, std::vector<double>& tmp) {
  tmp.clear();
  peak = -kInf;
  for (int j = 0; j < nf; ++j) {
    if (!real[j]) continue;
    tmp.push_back(db[j]);
    peak = std::max(peak, db[j]);
  }
  nreal = static_cast<int>(tmp.size());
  if (!nreal) {
    floor = kInf;
    return;
  }
  const auto idx = static_cast<std::size_t>(
      std::floor(p.floor_quantile * static_cast<double>(std::max(nreal - 1, 0))));
  std::nth_element(tmp.begin(), tmp.begin() + static_cast<long>(idx), tmp.end());
  floor = tmp[idx];
}

struct Cache;

// One window's frames (the last nf * frame samples), their real-frame mask, and the tests.
struct Window {
  const GateParams& p;
  const float* x;
  std::size_t w;
  std::int64_t end, audio_end;
  const double* hann;
  Cache* cache;
  int nf;
  std::vector<std::uint8_t> real;
  std::vector<double> tmp, db;
  std::vector<Spectra> spec;
  bool have_spec = false;

  Window(const GateParams& params, const float* xs, std::size_t width, std::int64_t e,
         std::int64_t ae, const double* h, Cache* c)
      : p(params), x(xs), w(width), end(e), audio_end(ae), hann(h), cache(c),
        nf(static_cast<int>(width / static_cast<std::size_t>(params.frame))) {
    real.resize(static_cast<std::size_t>(nf));
    for (int j = 0; j < nf; ++j) {
      const std::int64_t s = start(j);
      real[static_cast<std::size_t>(j)] = s >= 0 && (audio_end < 0 || s + p.frame <= audio_end);
    }
  }
  std::int64_t start(int j) const {
    return end - static_cast<std::int64_t>(nf) * p.frame + static_cast<std::int64_t>(j) * p.frame;
  }
  std::size_t offset(int j) const {
    return (w - static_cast<std::size_t>(nf) * p.frame) + static_cast<std::size_t>(j) * p.frame;
  }

  // Level in dB of the pre-emphasised frame starting at window sample s0 (frame_levels in
  // gate.py: y[t] = x[t] - 0.97 x[t-1] in float32, y[0] = x[0]; mean of y^2 in float64).
  double level(std::size_t s0) const {
    const float a = static_cast<float>(p.preemphasis);
    double acc[4] = {0.0, 0.0, 0.0, 0.0};  // four chains; numpy's einsum has its own order too
    std::size_t t = s0;
    const std::size_t stop = s0 + static_cast<std::size_t>(p.frame);
    if (t == 0) {
      acc[0] = static_cast<double>(x[0]) * static_cast<double>(x[0]);
      ++t;
    }
    for (; t + 4 <= stop; t += 4) {
      for (std::size_t u = 0; u < 4; ++u) {
        const float y = x[t + u] - a * x[t + u - 1];
        acc[u] += static_cast<double>(y) * static_cast<double>(y);
      }
    }
    for (; t < stop; ++t) {
      const float y = x[t] - a * x[t - 1];
      acc[0] += static_cast<double>(y) * static_cast<double>(y);
    }
    const double ms = ((acc[0] + acc[1]) + (acc[2] + acc[3])) / p.frame;
    return 10.0 * std::log10(std::max(ms, p.level_floor));
  }

  // Peak and floor of the real frames' levels. Frames touching the padding are left out of
  // both, so they are not computed. A frame's level depends only on the stream samples it covers
  // and the one before, except a frame starting at the window's first sample (no predecessor in
  // the window: numpy keeps that sample as it is), which is computed per window; the others are
  // cached by stream position.
  void levels(double& peak, double& floor);
  void spectra();

  double band_contrast() {
    spectra();
    db.resize(static_cast<std::size_t>(nf));
    for (int j = 0; j < nf; ++j) {
      db[static_cast<std::size_t>(j)] = 10.0 * std::log10(spec[static_cast<std::size_t>(j)].band);
    }
    double peak = 0, floor = 0;
    int nreal = 0;
    peak_floor(p, db.data(), real.data(), nf, peak, floor, nreal, tmp);
    return nreal > 0 ? peak - floor : 0.0;
  }

  double loud_flatness() {
    spectra();
    db.resize(static_cast<std::size_t>(nf));
    double top = -kInf;
    for (int j = 0; j < nf; ++j) {
      const auto u = static_cast<std::size_t>(j);
      db[u] = real[u] ? 10.0 * std::log10(spec[u].mean) : -kInf;
      top = std::max(top, db[u]);
    }
    double out = kInf;
    for (int j = 0; j < nf; ++j) {
      const auto u = static_cast<std::size_t>(j);
      if (real[u] && db[u] >= top - p.loud_within_db) out = std::min(out, spec[u].flat);
    }
    return std::isfinite(out) ? out : 1.0;
  }
};

// A stream's frames: spectra and levels by the stream sample where the frame starts.
struct Cache {
  std::unordered_map<std::int64_t, Spectra> frames;
  std::unordered_map<std::int64_t, double> levels;
  std::int64_t call_lo = 0;
  std::size_t n_frames = 0, n_levels = 0;  // lookups of this call
  bool call_any = false;
  void begin() {
    call_any = false;
    n_frames = n_levels = 0;
  }
  void touch(std::int64_t s, std::size_t& count) {
    call_lo = call_any ? std::min(call_lo, s) : s;
    call_any = true;
    ++count;
  }
  // forget frames before this call's earliest one once more than four calls' worth are held
  template <class Map>
  void trim(Map& m, std::size_t count) const {
    if (!call_any || m.size() <= 4 * count) return;
    for (auto it = m.begin(); it != m.end();) {
      it = it->first < call_lo ? m.erase(it) : std::next(it);
    }
  }
  void end() {
    trim(frames, n_frames);
    trim(levels, n_levels);
  }
  // m[s] (frames or levels), computed by `make` the first time this stream position is asked
  template <class Map, class Make>
  typename Map::mapped_type get(Map& m, std::size_t& count, std::int64_t s, Make make) {
    touch(s, count);
    auto it = m.find(s);
    if (it == m.end()) it = m.emplace(s, make()).first;
    return it->second;
  }
};

void Window::levels(double& peak, double& floor) {
  db.resize(static_cast<std::size_t>(nf));
  for (int j = 0; j < nf; ++j) {
    const auto u = static_cast<std::size_t>(j);
    if (!real[u]) continue;
    const std::size_t s0 = offset(j);
    if (!cache || s0 == 0) {
      db[u] = level(s0);
      continue;
    }
    db[u] = cache->get(cache->levels, cache->n_levels, start(j), [&] { return level(s0); });
  }
  int nreal = 0;
  peak_floor(p, db.data(), real.data(), nf, peak, floor, nreal, tmp);
  if (!nreal) peak = floor = p.silent_db;
}

void Window::spectra() {
  if (have_spec) return;
  have_spec = true;
  spec.resize(static_cast<std::size_t>(nf));
  // Frames found in the stream's cache are copied; the others are computed kGateLanes at a time
  // (one per lane: a 100-ms hop's four new frames in one pass) and stored.
  thread_local std::vector<int> todo;
  todo.clear();
  for (int j = 0; j < nf; ++j) {
    const auto u = static_cast<std::size_t>(j);
    if (!real[u]) {  // left out of every statistic (masked as in numpy), so not computed
      spec[u] = {1.0, 1.0, 1.0};
      continue;
    }
    if (cache) {
      cache->touch(start(j), cache->n_frames);
      const auto it = cache->frames.find(start(j));
      if (it != cache->frames.end()) {
        spec[u] = it->second;
        continue;
      }
    }
    todo.push_back(j);
  }
  if (todo.empty()) return;
  const FftPlan& full = plan_for(p.frame);
  const FftPlan* half = p.frame % 2 == 0 && p.frame >= 4 ? &plan_for(p.frame / 2) : nullptr;
  // scratch: 6 * frame values per lane count, the v4d block aligned to 32 bytes by hand (a
  // std::vector of vector types is not reliably over-aligned by the default allocator, and the
  // clones' vector loads and stores assume the alignment)
  thread_local std::vector<double> work;
  const std::size_t per = 6 * static_cast<std::size_t>(p.frame);
  work.resize(per * (kGateLanes + 1) + kGateLanes);
  auto addr = reinterpret_cast<std::uintptr_t>(work.data() + per);
  addr = (addr + sizeof(v4d) - 1) & ~static_cast<std::uintptr_t>(sizeof(v4d) - 1);
  double* work1 = work.data();
  v4d* work4 = reinterpret_cast<v4d*>(addr);
  for (std::size_t i = 0; i < todo.size(); i += kGateLanes) {
    const int count = static_cast<int>(std::min<std::size_t>(kGateLanes, todo.size() - i));
    const float* fr[kGateLanes];
    Spectra out[kGateLanes];
    for (int l = 0; l < count; ++l) fr[l] = x + offset(todo[i + static_cast<std::size_t>(l)]);
    if (count == 1) {
      frame_spectra_one(p, fr[0], hann, full, half, work1, out);
    } else {
      frame_spectra_group(p, fr, count, hann, full, half, work4, out);
    }
    for (int l = 0; l < count; ++l) {
      const int j = todo[i + static_cast<std::size_t>(l)];
      spec[static_cast<std::size_t>(j)] = out[l];
      if (cache) cache->frames.emplace(start(j), out[l]);
    }
  }
}

}  // namespace

struct GateCache::Impl : Cache {};

GateCache::GateCache() : impl(std::make_unique<Impl>()) {}
GateCache::~GateCache() = default;
void GateCache::clear() {
  impl->frames.clear();
  impl->levels.clear();
}
std::size_t GateCache::size() const { return impl->frames.size() + impl->levels.size(); }

void gate_active(const GateParams& p, const float* x, std::size_t n, std::size_t w,
                 const std::int64_t* ends, std::int64_t audio_end, const double* hann,
                 GateCache* cache, std::uint8_t* keep) {
  Cache* c = cache ? static_cast<Cache*>(cache->impl.get()) : nullptr;
  if (c) c->begin();
  for (std::size_t i = 0; i < n; ++i) {
    bool k = true;
    if (p.use_lead) {
      const std::int64_t lead =
          std::clamp<std::int64_t>(static_cast<std::int64_t>(w) - ends[i], 0,
                                   static_cast<std::int64_t>(w));
      k = static_cast<double>(lead) <= p.max_lead * static_cast<double>(w);
    }
    if (p.use_floor || p.use_contrast) {
      Window win(p, x + i * w, w, ends[i], audio_end, hann, c);
      double peak = 0, floor = 0;
      win.levels(peak, floor);
      if (p.use_floor) k = k && peak >= p.floor_db;
      if (p.use_contrast) {
        bool ok = peak - floor >= p.contrast_db;
        if (p.use_band && k && !ok) ok = win.band_contrast() >= p.band_db;
        k = k && ok;
      }
      if (p.use_flat && k && win.loud_flatness() > p.flat_max) k = false;
    }
    keep[i] = k ? 1 : 0;
  }
  if (c) c->end();
}

void gate_stats(const GateParams& p, const float* x, std::size_t n, std::size_t w,
                const std::int64_t* ends, std::int64_t audio_end, const double* hann,
                double* peak, double* floor, double* band_contrast, double* flatness) {
  for (std::size_t i = 0; i < n; ++i) {
    Window win(p, x + i * w, w, ends[i], audio_end, hann, nullptr);
    win.levels(peak[i], floor[i]);
    band_contrast[i] = win.band_contrast();
    flatness[i] = win.loud_flatness();
  }
}

}  // namespace bifsmn
