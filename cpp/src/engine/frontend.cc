#include "frontend.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace bifsmn::detail {

namespace {
constexpr double kPi = 3.14159265358979323846;

double hz_to_mel(double f) { return 2595.0 * std::log10(1.0 + f / 700.0); }
double mel_to_hz(double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); }

inline v4f splat(float x) { return v4f{x, x, x, x}; }
}  // namespace

LogMel::LogMel(const FeatureConfig& cfg, const std::string& where) : cfg_(cfg) {
  auto bad = [&](const std::string& what) {
    throw BkwsError(where + ": unsupported feature configuration: " + what);
  };
  const int n = cfg.n_fft;
  if (n < 16 || n > 65536 || (n & (n - 1)) != 0) bad("n_fft must be a power of two in [16, 65536]");
  if (cfg.hop_length < 1 || cfg.hop_length > n) bad("hop_length must be in [1, n_fft]");
  if (cfg.n_mels < 1 || cfg.n_mels > 512) bad("n_mels must be in [1, 512]");
  if (cfg.sample_rate < 1000 || cfg.sample_rate > 384000) bad("sample_rate out of range");
  if (cfg.clip_samples <= n / 2 || cfg.clip_samples > 10 * 384000) {
    bad("clip_samples must exceed n_fft/2 (reflect padding) and be at most 10 s at 384 kHz");
  }
  if (!(cfg.f_min >= 0.0) || !(cfg.f_max > cfg.f_min) || cfg.f_max > 1e6) bad("bad f_min/f_max");
  if (!(cfg.amin > 0.0) || !(cfg.amin < 1.0)) bad("amin must be in (0, 1)");
  frames_ = cfg.num_frames();
  half_ = n / 2;

  window_.resize(n);
  double sumsq = 0;
  for (int i = 0; i < n; ++i) {
    const double w = 0.5 - 0.5 * std::cos(2.0 * kPi * i / n);  // periodic Hann
    window_[i] = static_cast<float>(w);
    sumsq += static_cast<double>(window_[i]) * window_[i];
  }
  norm2_ = static_cast<float>(1.0 / sumsq);
  padded_.resize(static_cast<std::size_t>(cfg.clip_samples) + n);

  // Stockham stage s (length len = half >> s) uses w_p = e^{-2 pi i p / len}, p < len/2.
  for (int len = half_; len > 1; len /= 2) {
    for (int p = 0; p < len / 2; ++p) {
      tw_re_.push_back(static_cast<float>(std::cos(2.0 * kPi * p / len)));
      tw_im_.push_back(static_cast<float>(-std::sin(2.0 * kPi * p / len)));
    }
  }
  for (int k = 0; k <= half_; ++k) {
    rot_re_.push_back(static_cast<float>(std::cos(2.0 * kPi * k / n)));
    rot_im_.push_back(static_cast<float>(-std::sin(2.0 * kPi * k / n)));
  }

  // HTK mel filters exactly as bifsmn.data.features.mel_filterbank (float64, then float32).
  const int n_freqs = half_ + 1;
  const int nm = cfg.n_mels;
  std::vector<double> f_pts(nm + 2);
  const double m_lo = hz_to_mel(cfg.f_min), m_hi = hz_to_mel(cfg.f_max);
  for (int i = 0; i < nm + 2; ++i) {
    // torch.linspace(start, end, steps): start + i * (end - start) / (steps - 1)
    f_pts[i] = mel_to_hz(m_lo + i * ((m_hi - m_lo) / (nm + 1)));
  }
  mel_lo_.assign(nm, 0);
  mel_hi_.assign(nm, 0);
  mel_off_.assign(nm, 0);
  for (int m = 0; m < nm; ++m) {
    int lo = -1, hi = -1;
    std::vector<float> ws;
    for (int k = 0; k < n_freqs; ++k) {
      const double f = (cfg.sample_rate / 2) * static_cast<double>(k) / (n_freqs - 1);
      const double down = -(f_pts[m] - f) / (f_pts[m + 1] - f_pts[m]);
      const double up = (f_pts[m + 2] - f) / (f_pts[m + 2] - f_pts[m + 1]);
      const float w = static_cast<float>(std::max(0.0, std::min(down, up)));
      if (w > 0.0f) {
        if (lo < 0) lo = k;
        hi = k + 1;
      }
    }
    if (lo < 0) lo = hi = 0;
    for (int k = lo; k < hi; ++k) {
      const double f = (cfg.sample_rate / 2) * static_cast<double>(k) / (n_freqs - 1);
      const double down = -(f_pts[m] - f) / (f_pts[m + 1] - f_pts[m]);
      const double up = (f_pts[m + 2] - f) / (f_pts[m + 2] - f_pts[m + 1]);
      ws.push_back(static_cast<float>(std::max(0.0, std::min(down, up))));
    }
    mel_lo_[m] = lo;
    mel_hi_[m] = hi;
    mel_off_[m] = static_cast<int>(mel_w_.size());
    mel_w_.insert(mel_w_.end(), ws.begin(), ws.end());
  }

  re_.resize(half_);
  im_.resize(half_);
  wre_.resize(half_);
  wim_.resize(half_);
  power_.resize(half_ + 1);
}

void LogMel::fft(v4f* re, v4f* im) {
  // Radix-2 Stockham autosort, decimation in frequency: stage with sub-length
  // len and stride s maps x -> y with
  //   y[q + s(2p)]   = a + b,   y[q + s(2p+1)] = (a - b) w_p,
  //   a = x[q + s p], b = x[q + s(p + len/2)],  w_p = e^{-2 pi i p / len}.
  // Output is in natural order after log2(half) stages, no bit reversal.
  v4f *xr = re, *xi = im, *yr = wre_.data(), *yi = wim_.data();
  std::size_t t = 0;
  for (int len = half_, s = 1; len > 1; len /= 2, s *= 2) {
    const int m = len / 2;
    for (int p = 0; p < m; ++p) {
      const v4f wr = splat(tw_re_[t + p]), wi = splat(tw_im_[t + p]);
      const v4f* ar = xr + s * p;
      const v4f* ai = xi + s * p;
      const v4f* br = xr + s * (p + m);
      const v4f* bi = xi + s * (p + m);
      v4f* y0r = yr + s * (2 * p);
      v4f* y0i = yi + s * (2 * p);
      v4f* y1r = y0r + s;
      v4f* y1i = y0i + s;
      for (int q = 0; q < s; ++q) {
        const v4f dr = ar[q] - br[q], di = ai[q] - bi[q];
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
  if (xr != re) {
    std::copy(xr, xr + half_, re);
    std::copy(xi, xi + half_, im);
  }
}

void LogMel::compute(const float* wave, float* out) {
  const int n = cfg_.n_fft, pad = n / 2, len = cfg_.clip_samples;
  for (int i = 0; i < len + n; ++i) {
    int j = i - pad;  // torch's "reflect": mirror without repeating the edge
    if (j < 0) j = -j;
    if (j >= len) j = 2 * (len - 1) - j;
    padded_[i] = wave[j];
  }
  const int hop = cfg_.hop_length, half = half_, nm = cfg_.n_mels;
  const float amin = static_cast<float>(cfg_.amin);
  for (int t0 = 0; t0 < frames_; t0 += 4) {
    // Lane l holds frame min(t0 + l, last): the spare lanes of the last group
    // recompute a real frame and are discarded.
    const float* fr[4];
    for (int l = 0; l < 4; ++l) {
      fr[l] = padded_.data() + static_cast<std::size_t>(std::min(t0 + l, frames_ - 1)) * hop;
    }
    for (int j = 0; j < half; ++j) {
      const float w0 = window_[2 * j], w1 = window_[2 * j + 1];
      re_[j] = v4f{fr[0][2 * j] * w0, fr[1][2 * j] * w0, fr[2][2 * j] * w0, fr[3][2 * j] * w0};
      im_[j] = v4f{fr[0][2 * j + 1] * w1, fr[1][2 * j + 1] * w1, fr[2][2 * j + 1] * w1,
                   fr[3][2 * j + 1] * w1};
    }
    fft(re_.data(), im_.data());
    // Split the half-size complex spectrum Z into the real input's X[k]:
    //   X[k] = E + e^{-2 pi i k/n} O,  E = (Z[k] + conj Z[h-k]) / 2,
    //   O = (Z[k] - conj Z[h-k]) / (2i).
    const v4f halfv = splat(0.5f), norm = splat(norm2_);
    for (int k = 0; k <= half; ++k) {
      const v4f ar = re_[k % half], ai = im_[k % half];
      const v4f br = re_[(half - k) % half], bi = im_[(half - k) % half];
      const v4f er = (ar + br) * halfv, ei = (ai - bi) * halfv;
      const v4f orr = (ai + bi) * halfv, oi = (br - ar) * halfv;
      const v4f c = splat(rot_re_[k]), s = splat(rot_im_[k]);
      const v4f xr = er + (orr * c - oi * s);
      const v4f xi = ei + (orr * s + oi * c);
      power_[k] = (xr * xr + xi * xi) * norm;
    }
    for (int m = 0; m < nm; ++m) {
      v4f acc = splat(0.0f);
      const float* w = mel_w_.data() + mel_off_[m];
      for (int k = mel_lo_[m]; k < mel_hi_[m]; ++k) acc += power_[k] * splat(w[k - mel_lo_[m]]);
      for (int l = 0; l < 4 && t0 + l < frames_; ++l) {
        out[static_cast<std::size_t>(m) * frames_ + t0 + l] =
            10.0f * std::log10(std::max(acc[l], amin));
      }
    }
  }
}

}  // namespace bifsmn::detail
