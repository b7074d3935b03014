// The fbank40 front end (frontend.h; parameters: docs/fbank40.md), and make_frontend.
#include <algorithm>
#include <cmath>
#include <string>

#include "frontend.h"

namespace bifsmn::detail {

namespace {
constexpr double kPi = 3.14159265358979323846;

double kaldi_mel(double f) { return 1127.0 * std::log1p(f / 700.0); }
}  // namespace

std::unique_ptr<FrontEnd> make_frontend(const FeatureConfig& cfg, const std::string& where) {
  if (cfg.kind == "logmel32") return std::make_unique<LogMel>(cfg, where);
  if (cfg.kind == "fbank40") return std::make_unique<Fbank40>(cfg, where);
  throw BkwsError(where + ": unknown feature kind '" + cfg.kind.substr(0, 40) +
                  "' (this engine knows logmel32, fbank40)");
}

Fbank40::Fbank40(const FeatureConfig& cfg, const std::string& where) : cfg_(cfg) {
  auto bad = [&](const std::string& what) {
    throw BkwsError(where + ": unsupported fbank40 feature configuration: " + what);
  };
  const int n = cfg.n_fft;
  if (n < 16 || n > 65536 || (n & (n - 1)) != 0) bad("n_fft must be a power of two in [16, 65536]");
  if (cfg.frame_length < 2 || cfg.frame_length > n) bad("frame_length must be in [2, n_fft]");
  if (cfg.hop_length < 1 || cfg.hop_length > 65536) bad("hop_length must be in [1, 65536]");
  if (cfg.n_mels < 1 || cfg.n_mels > 512) bad("n_mels must be in [1, 512]");
  if (cfg.sample_rate < 1000 || cfg.sample_rate > 384000) bad("sample_rate out of range");
  if (cfg.clip_samples < cfg.frame_length || cfg.clip_samples > 10 * 384000) {
    bad("clip_samples must be at least frame_length and at most 10 s at 384 kHz");
  }
  if (!(cfg.f_min >= 0.0) || !(cfg.f_max > cfg.f_min) || cfg.f_max > cfg.sample_rate / 2.0) {
    bad("need 0 <= f_min < f_max <= sample_rate / 2");
  }
  if (!(cfg.window_power > 0.0 && cfg.window_power <= 16.0)) bad("window_power out of range");
  if (!(cfg.log_scale > 0.0 && cfg.log_scale < 1e6)) bad("log_scale out of range");
  if (!(cfg.log_offset > 0.0 && cfg.log_offset < 1e30)) bad("log_offset out of range");
  if (!(cfg.input_scale > 0.0 && cfg.input_scale < 1e6)) bad("input_scale out of range");
  if (cfg.pool < 1 || cfg.pool > 64) bad("pool must be in [1, 64]");
  image_frames_ = cfg.image_frames();
  frames_ = cfg.num_frames();
  if (frames_ < 1) bad("the clip is shorter than one pooled frame");
  offset_ = (image_frames_ - frames_ * cfg.pool) / 2;  // Fbank40Config.pool_offset
  half_ = n / 2;

  // povey window, float64 as bifsmn.data.fbank.povey_window
  const int L = cfg.frame_length;
  window_.resize(L);
  for (int i = 0; i < L; ++i) {
    window_[i] = std::pow(0.5 - 0.5 * std::cos(2.0 * kPi * i / (L - 1)), cfg.window_power);
  }

  fft_ = RealFFT<double>(n);

  // Kaldi mel triangles as bifsmn.data.fbank.kaldi_filterbank (float64): edges equally spaced
  // in mel (torch.linspace: start + i*step for the first half, end - (steps-1-i)*step after),
  // weight linear in mel, nonzero only strictly inside (left, right), Nyquist bin 0.
  const int nm = cfg.n_mels, n_bins = half_ + 1;
  const double m_lo = kaldi_mel(cfg.f_min), m_hi = kaldi_mel(cfg.f_max);
  const int steps = nm + 2;
  const double step = (m_hi - m_lo) / (steps - 1);
  std::vector<double> edges(steps);
  for (int i = 0; i < steps; ++i) {
    edges[i] = i < steps / 2 ? m_lo + step * i : m_hi - step * (steps - 1 - i);
  }
  std::vector<double> mel(n_bins);
  for (int k = 0; k < n_bins; ++k) {
    mel[k] = kaldi_mel(static_cast<double>(k) * cfg.sample_rate / n);
  }
  mel_lo_.assign(nm, 0);
  mel_hi_.assign(nm, 0);
  mel_off_.assign(nm, 0);
  for (int m = 0; m < nm; ++m) {
    const double left = edges[m], center = edges[m + 1], right = edges[m + 2];
    auto weight = [&](int k) {
      if (k == n_bins - 1) return 0.0;
      const double x = mel[k];
      if (!(x > left && x < right)) return 0.0;
      return x <= center ? (x - left) / (center - left) : (right - x) / (right - center);
    };
    int lo = -1, hi = -1;
    for (int k = 0; k < n_bins; ++k) {
      if (weight(k) != 0.0) {
        if (lo < 0) lo = k;
        hi = k + 1;
      }
    }
    if (lo < 0) lo = hi = 0;
    mel_lo_[m] = lo;
    mel_hi_[m] = hi;
    mel_off_[m] = static_cast<int>(mel_w_.size());
    for (int k = lo; k < hi; ++k) mel_w_.push_back(weight(k));
  }

  frame_.resize(n);
  power_.resize(half_ + 1);
  re_.resize(half_);
  im_.resize(half_);
  wre_.resize(half_);
  wim_.resize(half_);
  img_.resize(static_cast<std::size_t>(image_frames_) * nm);
}

void Fbank40::rfft_power(const double* x, double* power) {
  const int half = half_;
  for (int j = 0; j < half; ++j) {
    re_[j] = x[2 * j];
    im_[j] = x[2 * j + 1];
  }
  fft_.power(re_.data(), im_.data(), wre_.data(), wim_.data(), power);
}

void Fbank40::image(const float* wave, float* img) {
  const int L = cfg_.frame_length, hop = cfg_.hop_length, nm = cfg_.n_mels;
  const double lscale = cfg_.log_scale, loff = cfg_.log_offset;
  std::fill(frame_.begin(), frame_.end(), 0.0);
  for (int f = 0; f < image_frames_; ++f) {
    const float* src = wave + static_cast<std::size_t>(f) * hop;
    for (int i = 0; i < L; ++i) frame_[i] = static_cast<double>(src[i]) * 32768.0 * window_[i];
    rfft_power(frame_.data(), power_.data());
    float* row = img + static_cast<std::size_t>(f) * nm;
    for (int m = 0; m < nm; ++m) {
      const double* w = mel_w_.data() + mel_off_[m];
      double e = 0.0;
      for (int k = mel_lo_[m]; k < mel_hi_[m]; ++k) e += power_[k] * w[k - mel_lo_[m]];
      // torch.round rounds half to even: nearbyint in the default rounding mode.
      const double v = std::nearbyint(lscale * std::log1p(e / loff));
      row[m] = static_cast<float>(std::min(255.0, std::max(0.0, v)));
    }
  }
}

void Fbank40::compute(const float* wave, float* out) {
  image(wave, img_.data());
  const int nm = cfg_.n_mels, pool = cfg_.pool;
  const float scale = static_cast<float>(cfg_.input_scale);
  for (int t = 0; t < frames_; ++t) {
    const float* rows = img_.data() + static_cast<std::size_t>(offset_ + t * pool) * nm;
    for (int m = 0; m < nm; ++m) {
      float acc = rows[m];  // sums of integers <= 255 * pool: exact in float32
      for (int r = 1; r < pool; ++r) acc = acc + rows[static_cast<std::size_t>(r) * nm + m];
      out[static_cast<std::size_t>(m) * frames_ + t] = acc * scale;
    }
  }
}

}  // namespace bifsmn::detail
