#include "reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace bifsmn::ops {

namespace {
constexpr double kPi = 3.14159265358979323846;

// |X[k]|^2 of an n-point real signal, k = 0..n/2, by the definition.
std::vector<double> dft_power(const std::vector<double>& x) {
  const std::size_t n = x.size();
  std::vector<double> c(n), s(n), p(n / 2 + 1);
  for (std::size_t i = 0; i < n; ++i) {
    c[i] = std::cos(2.0 * kPi * static_cast<double>(i) / static_cast<double>(n));
    s[i] = std::sin(2.0 * kPi * static_cast<double>(i) / static_cast<double>(n));
  }
  for (std::size_t k = 0; k <= n / 2; ++k) {
    double re = 0, im = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t ph = (k * i) % n;
      re += x[i] * c[ph];
      im -= x[i] * s[ph];
    }
    p[k] = re * re + im * im;
  }
  return p;
}
}  // namespace

void logmel_reference(const FeatureConfig& cfg, const float* wave, float* out) {
  const int n = cfg.n_fft, half = n / 2, len = cfg.clip_samples, frames = cfg.num_frames();
  std::vector<double> win(n);
  double win2 = 0;
  for (int i = 0; i < n; ++i) {
    win[i] = static_cast<float>(0.5 - 0.5 * std::cos(2.0 * kPi * i / n));  // float32 window
    win2 += win[i] * win[i];
  }
  auto hz_to_mel = [](double f) { return 2595.0 * std::log10(1.0 + f / 700.0); };
  auto mel_to_hz = [](double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); };
  const int nm = cfg.n_mels;
  std::vector<double> f_pts(nm + 2);
  const double m_lo = hz_to_mel(cfg.f_min), m_hi = hz_to_mel(cfg.f_max);
  for (int i = 0; i < nm + 2; ++i) f_pts[i] = mel_to_hz(m_lo + i * ((m_hi - m_lo) / (nm + 1)));
  for (int t = 0; t < frames; ++t) {
    std::vector<double> fr(n);
    for (int i = 0; i < n; ++i) {
      int j = t * cfg.hop_length + i - half;  // reflect padding (no edge repeat)
      if (j < 0) j = -j;
      if (j >= len) j = 2 * (len - 1) - j;
      fr[i] = static_cast<double>(wave[j]) * win[i];
    }
    const std::vector<double> p = dft_power(fr);
    for (int m = 0; m < nm; ++m) {
      double acc = 0;
      for (int k = 0; k <= half; ++k) {
        const double f = (cfg.sample_rate / 2) * static_cast<double>(k) / half;
        const double down = -(f_pts[m] - f) / (f_pts[m + 1] - f_pts[m]);
        const double up = (f_pts[m + 2] - f) / (f_pts[m + 2] - f_pts[m + 1]);
        acc += static_cast<float>(std::max(0.0, std::min(down, up))) * (p[k] / win2);
      }
      out[static_cast<std::size_t>(m) * frames + t] =
          static_cast<float>(10.0 * std::log10(std::max(acc, cfg.amin)));
    }
  }
}

void fbank40_reference(const FeatureConfig& cfg, const float* wave, float* out, float* img_out) {
  const int n = cfg.n_fft, L = cfg.frame_length, nm = cfg.n_mels;
  const int image_frames = cfg.image_frames(), frames = cfg.num_frames();
  const int offset = (image_frames - frames * cfg.pool) / 2;
  auto kaldi_mel = [](double f) { return 1127.0 * std::log1p(f / 700.0); };
  const double m_lo = kaldi_mel(cfg.f_min), m_hi = kaldi_mel(cfg.f_max);
  const int steps = nm + 2;
  const double step = (m_hi - m_lo) / (steps - 1);
  auto edge = [&](int i) { return i < steps / 2 ? m_lo + step * i : m_hi - step * (steps - 1 - i); };
  std::vector<float> img(static_cast<std::size_t>(image_frames) * nm);
  for (int f = 0; f < image_frames; ++f) {
    std::vector<double> fr(n, 0.0);
    for (int i = 0; i < L; ++i) {
      const double w = std::pow(0.5 - 0.5 * std::cos(2.0 * kPi * i / (L - 1)), cfg.window_power);
      fr[i] = static_cast<double>(wave[static_cast<std::size_t>(f) * cfg.hop_length + i]) * 32768.0 * w;
    }
    const std::vector<double> p = dft_power(fr);
    for (int m = 0; m < nm; ++m) {
      const double left = edge(m), center = edge(m + 1), right = edge(m + 2);
      double e = 0;
      for (int k = 0; k < n / 2; ++k) {  // the Nyquist bin has weight 0
        const double x = kaldi_mel(static_cast<double>(k) * cfg.sample_rate / n);
        if (!(x > left && x < right)) continue;
        e += p[k] * (x <= center ? (x - left) / (center - left) : (right - x) / (right - center));
      }
      const double v = std::nearbyint(cfg.log_scale * std::log1p(e / cfg.log_offset));
      img[static_cast<std::size_t>(f) * nm + m] = static_cast<float>(std::min(255.0, std::max(0.0, v)));
    }
  }
  const float scale = static_cast<float>(cfg.input_scale);
  for (int t = 0; t < frames; ++t) {
    for (int m = 0; m < nm; ++m) {
      float acc = 0.0f;
      for (int r = 0; r < cfg.pool; ++r) {
        acc = acc + img[static_cast<std::size_t>(offset + t * cfg.pool + r) * nm + m];
      }
      out[static_cast<std::size_t>(m) * frames + t] = acc * scale;
    }
  }
  if (img_out) std::copy(img.begin(), img.end(), img_out);
}

}  // namespace bifsmn::ops
