// The detector's window gate (include/bifsmn/gate.h; the numpy original is
// src/bifsmn/detect/gate.py, whose module docstring says what each test is for).
#include "bifsmn/gate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace bifsmn {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kPi = 3.14159265358979323846;
constexpr double kLn2 = 0.69314718055994530942;

// A complex FFT of any length by recursive decimation in time over its prime-ish factors
// (4 first, then 2, 3, 5, then whatever prime is left, done as a plain DFT of that size). The
// gate's 25-ms frames are 400 samples at 16 kHz (4 x 4 x 5 x 5), not a power of two, so the
// front ends' radix-2 FFT (ops/frontend/fft.h) does not fit.
struct FftPlan {
  int n = 0;
  std::vector<int> factors;
  std::vector<double> cs, sn;  // cos / -sin of 2 pi k / n
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
  }

  // out[0..len) = DFT of in[0], in[stride], ... (len values); fi: the factor this level splits
  // by. Each level twiddles its p sub-transforms (W_len^(q k)) and combines them with a p-point
  // DFT: radix 4 and 2 without multiplies, other factors through their roots of unity.
  void run(const double* re_in, const double* im_in, double* re, double* im, int len, int stride,
           std::size_t fi, std::vector<double>& tr, std::vector<double>& ti) const {
    if (len == 1) {
      re[0] = re_in[0];
      im[0] = im_in[0];
      return;
    }
    const int p = factors[fi], m = len / p, ts = n / len;
    for (int q = 0; q < p; ++q) {
      if (m == 1) {  // the last factor: its sub-transforms are single values
        re[q] = re_in[q * stride];
        im[q] = im_in[q * stride];
      } else {
        run(re_in + q * stride, im_in + q * stride, re + q * m, im + q * m, m, stride * p,
            fi + 1, tr, ti);
      }
    }
    tr.resize(static_cast<std::size_t>(p));
    ti.resize(static_cast<std::size_t>(p));
    const int root = n / p;  // W_p^j = W_n^(j * n / p)
    for (int k = 0; k < m; ++k) {
      tr[0] = re[k];
      ti[0] = im[k];
      for (int q = 1; q < p; ++q) {
        const auto e = static_cast<std::size_t>(q * k * ts);
        const double xr = re[q * m + k], xi = im[q * m + k], wr = cs[e], wi = sn[e];
        tr[static_cast<std::size_t>(q)] = xr * wr - xi * wi;
        ti[static_cast<std::size_t>(q)] = xr * wi + xi * wr;
      }
      if (p == 2) {
        re[k] = tr[0] + tr[1];
        im[k] = ti[0] + ti[1];
        re[k + m] = tr[0] - tr[1];
        im[k + m] = ti[0] - ti[1];
      } else if (p == 4) {  // W_4 = -i
        const double ar = tr[0] + tr[2], ai = ti[0] + ti[2];
        const double br = tr[0] - tr[2], bi = ti[0] - ti[2];
        const double cr = tr[1] + tr[3], ci = ti[1] + ti[3];
        const double dr = tr[1] - tr[3], di = ti[1] - ti[3];
        re[k] = ar + cr;
        im[k] = ai + ci;
        re[k + m] = br + di;  // b - i d
        im[k + m] = bi - dr;
        re[k + 2 * m] = ar - cr;
        im[k + 2 * m] = ai - ci;
        re[k + 3 * m] = br - di;  // b + i d
        im[k + 3 * m] = bi + dr;
      } else if (p == 5) {  // X_1,4 = m1 -/+ i n1, X_2,3 = m2 -/+ i n2
        const double a1r = tr[1] + tr[4], a1i = ti[1] + ti[4], b1r = tr[1] - tr[4],
                     b1i = ti[1] - ti[4];
        const double a2r = tr[2] + tr[3], a2i = ti[2] + ti[3], b2r = tr[2] - tr[3],
                     b2i = ti[2] - ti[3];
        const double m1r = tr[0] + c5[0] * a1r + c5[1] * a2r;
        const double m1i = ti[0] + c5[0] * a1i + c5[1] * a2i;
        const double m2r = tr[0] + c5[1] * a1r + c5[0] * a2r;
        const double m2i = ti[0] + c5[1] * a1i + c5[0] * a2i;
        const double n1r = s5[0] * b1r + s5[1] * b2r, n1i = s5[0] * b1i + s5[1] * b2i;
        const double n2r = s5[1] * b1r - s5[0] * b2r, n2i = s5[1] * b1i - s5[0] * b2i;
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
      } else {
        for (int r = 0; r < p; ++r) {
          double ar = tr[0], ai = ti[0];
          int j = 0;  // (q * r) mod p, stepped instead of divided
          for (int q = 1; q < p; ++q) {
            j += r;
            if (j >= p) j -= p;
            const auto e = static_cast<std::size_t>(j * root);
            const double xr = tr[static_cast<std::size_t>(q)];
            const double xi = ti[static_cast<std::size_t>(q)];
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

// (mean power, flatness, speech-band power) of one frame: Hann window, power spectrum without
// the DC bin (+ spectrum_floor as in numpy), flatness = exp(mean log p) / mean p.
Spectra frame_spectra(const GateParams& p, const float* x, const double* hann) {
  const int f = p.frame, bins = f / 2;
  const FftPlan& full = plan_for(f);
  thread_local std::vector<double> xr, xi, yr, yi, tr, ti;
  const auto uf = static_cast<std::size_t>(f);
  xr.resize(uf);
  xi.resize(uf);
  yr.resize(uf);
  yi.resize(uf);
  if (f % 2 == 0 && f >= 4) {
    // real input of even length as a complex FFT of half the length: z[m] = x[2m] + i x[2m+1],
    // then X[k] = E[k] + W_f^k O[k] with E, O the even and odd samples' transforms
    // (E = (Z[k] + conj Z[M-k]) / 2, O = (Z[k] - conj Z[M-k]) / 2i), for k = 1 .. f/2
    const int h = f / 2;
    for (int m = 0; m < h; ++m) {
      xr[static_cast<std::size_t>(m)] = static_cast<double>(x[2 * m]) * hann[2 * m];
      xi[static_cast<std::size_t>(m)] = static_cast<double>(x[2 * m + 1]) * hann[2 * m + 1];
    }
    plan_for(h).run(xr.data(), xi.data(), yr.data(), yi.data(), h, 1, 0, tr, ti);
    for (int k = 1; k <= h; ++k) {
      const auto a = static_cast<std::size_t>(k % h), b = static_cast<std::size_t>((h - k) % h);
      const double ar = yr[a], ai = yi[a], br = yr[b], bi = -yi[b];  // B = conj Z[M-k]
      const double er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
      const double dr = 0.5 * (ar - br), di = 0.5 * (ai - bi);
      const double orr = di, oi = -dr;  // O = D / i
      const double wr = full.cs[static_cast<std::size_t>(k)];
      const double wi = full.sn[static_cast<std::size_t>(k)];
      xr[static_cast<std::size_t>(k)] = er + (orr * wr - oi * wi);
      xi[static_cast<std::size_t>(k)] = ei + (orr * wi + oi * wr);
    }
    std::swap(xr, yr);
    std::swap(xi, yi);
  } else {
    for (int i = 0; i < f; ++i) {
      xr[static_cast<std::size_t>(i)] = static_cast<double>(x[i]) * hann[i];
      xi[static_cast<std::size_t>(i)] = 0.0;
    }
    full.run(xr.data(), xi.data(), yr.data(), yi.data(), f, 1, 0, tr, ti);
  }
  // sum of logs as the log of a product kept as mantissa x 2^exponent (one log per frame
  // instead of one per bin; it differs from numpy's sum of logs by rounding only)
  double sum = 0.0, band = 0.0, prod = 1.0;
  long exps = 0;
  for (int k = 1; k <= bins; ++k) {
    const double re = yr[static_cast<std::size_t>(k)], im = yi[static_cast<std::size_t>(k)];
    const double pw = (re * re + im * im) + p.spectrum_floor;  // numpy: hypot(re, im)**2 + it
    sum += pw;
    int e = 0;
    prod = std::frexp(prod * pw, &e);
    exps += e;
    if (k >= p.band_lo && k <= p.band_hi) band += pw;
  }
  const double logs = std::log(prod) + static_cast<double>(exps) * kLn2;
  const double mean = sum / bins;
  return {mean, std::exp(logs / bins) / mean, band / (p.band_hi - p.band_lo + 1)};
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
  for (int j = 0; j < nf; ++j) {
    const auto u = static_cast<std::size_t>(j);
    if (!real[u]) {  // left out of every statistic (masked as in numpy), so not computed
      spec[u] = {1.0, 1.0, 1.0};
      continue;
    }
    const float* f = x + offset(j);
    if (!cache) {
      spec[u] = frame_spectra(p, f, hann);
      continue;
    }
    spec[u] = cache->get(cache->frames, cache->n_frames, start(j),
                         [&] { return frame_spectra(p, f, hann); });
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
