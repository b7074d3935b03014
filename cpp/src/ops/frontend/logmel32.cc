#include "frontend.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

namespace bifsmn::detail {

namespace {
constexpr double kPi = 3.14159265358979323846;

double hz_to_mel(double f) { return 2595.0 * std::log10(1.0 + f / 700.0); }
double mel_to_hz(double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); }

constexpr int kLanes = kFrontLanes;

typedef long long v8l __attribute__((vector_size(64)));

// 10 * log10(x) per lane for x >= amin > 0 (float32 result of a float64 evaluation): x = 2^e m
// with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh((m - 1) / (m + 1)) by its series to t^11
// (|t| <= 0.172: truncation < 2e-11), so 10 log10 x = (e ln 2 + ln m) * 10 / ln 10 within about
// 1e-10 relative before the final rounding to float32. Only +, -, *, / on every lane, so it is
// the same on every ISA (libm's log10f, one call per value, took 4 of the front end's 70 us).
// +inf and NaN pass through.
[[gnu::always_inline]] inline void db(v8f* io) {
  constexpr double kLn2 = 0.69314718055994530942, kDb = 4.34294481903251827651;  // 10/ln 10
  constexpr double kSqrt2 = 1.41421356237309504880;
  const v8d x = __builtin_convertvector(*io, v8d);
  const v8l bits = (v8l)x;
  v8l e = (bits >> 52) - 1023;
  v8d m = (v8d)((bits & 0x000FFFFFFFFFFFFFLL) | 0x3FF0000000000000LL);  // [1, 2)
  const v8l big = m >= kSqrt2;  // -1 where m >= sqrt 2: use m / 2, e + 1
  m = big ? m * 0.5 : m;
  e = e - big;
  const v8d t = (m - 1.0) / (m + 1.0), t2 = t * t;
  const v8d ln_m =
      2.0 * t *
      (1.0 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9 + t2 * (1.0 / 11))))));
  const v8d r = (__builtin_convertvector(e, v8d) * kLn2 + ln_m) * kDb;
  const v8d out = x <= 1.7976931348623157e308 ? r : x;  // +inf, NaN: unchanged
  *io = __builtin_convertvector(out, v8f);
}

// One group of kLanes frames: window, FFT power (times norm), sparse mel, dB. mel[m] gets
// 10 log10(max(band m, amin)) of the group's frames, one per lane. The frames are gathered into lanes by 8 x 8 transposes
// of 8-sample runs (inserting every sample into its lane one at a time cost about as much as
// a quarter of the FFT).
BIFSMN_FE_CLONES
void logmel_group(const RealFFT<float>& fft, const float* const* fr, const float* window,
                  float norm, const int* mel_lo, const int* mel_hi, const int* mel_off,
                  const float* mel_w, int n_mels, float amin, v8f* re, v8f* im, v8f* wre,
                  v8f* wim, v8f* power, v8f* mel) {
  const int half = fft.half();
  int j0 = 0;
  for (; j0 + 8 <= half; j0 += 8) {  // samples 2*j0 .. 2*j0 + 15 of each frame
    gather_pairs16(fr, j0, [&](int j, v8f even, v8f odd) {
      re[j] = even * window[2 * j];
      im[j] = odd * window[2 * j + 1];
    });
  }
  for (int j = j0; j < half; ++j) {
    const float w0 = window[2 * j], w1 = window[2 * j + 1];
    v8f a, b;
    for (int l = 0; l < kLanes; ++l) {
      a[l] = fr[l][2 * j];
      b[l] = fr[l][2 * j + 1];
    }
    re[j] = a * w0;
    im[j] = b * w1;
  }
  fft.power(re, im, wre, wim, power);
  for (int k = 0; k <= half; ++k) power[k] = power[k] * norm;
  for (int m = 0; m < n_mels; ++m) {
    v8f acc = {};
    const float* w = mel_w + mel_off[m];
    for (int k = mel_lo[m]; k < mel_hi[m]; ++k) acc += power[k] * w[k - mel_lo[m]];
    mel[m] = acc < amin ? v8f{} + amin : acc;  // std::max(mel, amin): NaN stays NaN
    db(&mel[m]);
  }
}
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
  todo_.reserve(static_cast<std::size_t>(frames_));

  fft_ = RealFFT<float>(n);

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

  const std::size_t h = static_cast<std::size_t>(half_), lanes = kLanes;
  buf_.assign((5 * h + 1 + static_cast<std::size_t>(nm)) * lanes + 16, 0.0f);
  std::size_t off = 0;  // floats to the first 64-byte boundary
  while (reinterpret_cast<std::uintptr_t>(buf_.data() + off) % 64 != 0) ++off;
  re_ = reinterpret_cast<v8f*>(buf_.data() + off);
  im_ = re_ + h;
  wre_ = im_ + h;
  wim_ = wre_ + h;
  power_ = wim_ + h;
}

void LogMel::pad(const float* wave) {
  const int n = cfg_.n_fft, pad = n / 2, len = cfg_.clip_samples;
  // torch's "reflect": mirror without repeating the edge (len > pad: checked at load)
  float* padded = padded_.data();
  for (int i = 0; i < pad; ++i) padded[i] = wave[pad - i];
  std::copy(wave, wave + len, padded + pad);
  for (int i = pad + len; i < len + n; ++i) padded[i] = wave[2 * (len - 1) - (i - pad)];
}

void LogMel::compute(const float* wave, float* out) {
  pad(wave);
  const int hop = cfg_.hop_length, half = half_, nm = cfg_.n_mels;
  const float amin = static_cast<float>(cfg_.amin);
  for (int t0 = 0; t0 < frames_; t0 += kLanes) {
    // Lane l holds frame min(t0 + l, last): the spare lanes of the last group
    // recompute a real frame and are discarded.
    const float* fr[kLanes];
    for (int l = 0; l < kLanes; ++l) {
      fr[l] = padded_.data() + static_cast<std::size_t>(std::min(t0 + l, frames_ - 1)) * hop;
    }
    v8f* melv = power_ + half + 1;
    logmel_group(fft_, fr, window_.data(), norm2_, mel_lo_.data(), mel_hi_.data(),
                 mel_off_.data(), mel_w_.data(), nm, amin, re_, im_, wre_, wim_, power_, melv);
    for (int m = 0; m < nm; ++m) {
      for (int l = 0; l < kLanes && t0 + l < frames_; ++l) {
        out[static_cast<std::size_t>(m) * frames_ + t0 + l] = melv[m][l];
      }
    }
  }
}

void LogMel::init_cache(RowCache& cache) const {
  cache.init(cfg_.hop_length, cfg_.n_mels, frames_);
}

void LogMel::compute_at(const float* wave, std::int64_t start, RowCache& cache, float* out) {
  const int nm = cfg_.n_mels, hop = cfg_.hop_length, n = cfg_.n_fft, len = cfg_.clip_samples;
  if (cache.slots == 0 || cache.hop != hop || cache.n_mels != nm) {
    compute(wave, out);
    return;
  }
  const int half_n = n / 2;
  // Frame t covers padded_[t*hop, t*hop + n), i.e. wave[t*hop - n/2, t*hop + n/2): interior
  // (no reflected sample) when both ends lie inside the window; its key is the stream position
  // of its first sample.
  auto interior = [&](int t) { return t * hop >= half_n && t * hop + half_n <= len; };
  auto key_of = [&](int t) { return start + static_cast<std::int64_t>(t) * hop - half_n; };
  auto slot_of = [&](std::int64_t pos) {
    std::int64_t q = pos / hop;
    if (pos % hop != 0 && pos < 0) --q;  // floor division
    return static_cast<std::size_t>(q & (cache.slots - 1));
  };
  // Cached interior frames are copied into their columns; the rest are listed and computed
  // kLanes at a time (every lane does the same float operations: same bits as compute()).
  todo_.clear();
  for (int t = 0; t < frames_; ++t) {
    if (interior(t)) {
      const std::int64_t key = key_of(t);
      const std::size_t s = slot_of(key);
      if (cache.keys[s] == key) {
        const float* row = cache.rows.data() + s * nm;
        for (int m = 0; m < nm; ++m) out[static_cast<std::size_t>(m) * frames_ + t] = row[m];
        ++cache.hits;
        continue;
      }
      ++cache.misses;
    }
    todo_.push_back(t);
  }
  if (todo_.empty()) return;
  pad(wave);
  const int half = half_, count = static_cast<int>(todo_.size());
  const float amin = static_cast<float>(cfg_.amin);
  for (int i0 = 0; i0 < count; i0 += kLanes) {
    const float* fr[kLanes];
    for (int l = 0; l < kLanes; ++l) {
      const int t = todo_[static_cast<std::size_t>(std::min(i0 + l, count - 1))];
      fr[l] = padded_.data() + static_cast<std::size_t>(t) * hop;
    }
    v8f* melv = power_ + half + 1;
    logmel_group(fft_, fr, window_.data(), norm2_, mel_lo_.data(), mel_hi_.data(),
                 mel_off_.data(), mel_w_.data(), nm, amin, re_, im_, wre_, wim_, power_, melv);
    for (int l = 0; l < kLanes && i0 + l < count; ++l) {
      const int t = todo_[static_cast<std::size_t>(i0 + l)];
      for (int m = 0; m < nm; ++m) out[static_cast<std::size_t>(m) * frames_ + t] = melv[m][l];
      if (interior(t)) {
        const std::int64_t key = key_of(t);
        const std::size_t s = slot_of(key);
        cache.keys[s] = key;
        float* row = cache.rows.data() + s * nm;
        for (int m = 0; m < nm; ++m) row[m] = melv[m][l];
      }
    }
  }
}

}  // namespace bifsmn::detail
