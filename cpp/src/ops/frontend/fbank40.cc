// The fbank40 front end (frontend.h; parameters: docs/fbank40.md), and make_frontend.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "../simd.h"
#include "frontend.h"
#include "mel.h"

namespace bifsmn::detail {

namespace {
constexpr double kPi = 3.14159265358979323846;

double kaldi_mel(double f) { return 1127.0 * std::log1p(f / 700.0); }

constexpr int kLanes = kFrontLanes;  // frames per pass at most (the buffers' element size)
typedef double v4d __attribute__((vector_size(32)));
typedef double v2d __attribute__((vector_size(16)));

// One group of LD frames, one per lane of VD (fr[l]: the first sample of lane l's frame):
// window (samples x 32768 x window, zero beyond frame_length), FFT power, sparse mel -> mel[m];
// and cand[m], a candidate level log_scale * ln(1 + E * inv_offset) from a cheap ln (exponent +
// a 5-term atanh series of the mantissa, error < 2e-6): LevelTable::level turns it into the
// exact level. VD is the ISA's native double vector (8 lanes AVX-512, 4 AVX2, 2 SSE2 / NEON,
// ops/simd.h): a wider generic vector than the registers was split by GCC through the stack
// (the AVX2 build ran this 5x slower than AVX-512, session 12). Lanes are independent, so the
// values do not depend on VD.
template <class VD>
[[gnu::always_inline]] inline void fbank_group(
    const RealFFT<double>& fft, const float* const* fr, const double* window, int frame_length,
    const int* mel_lo, const int* mel_hi, const int* mel_off, const double* mel_w, int n_mels,
    int bins, double inv_offset, double log_scale, VD* re, VD* im, VD* power,
    VD* mel, VD* cand) {
  constexpr int LD = static_cast<int>(sizeof(VD) / sizeof(double));
  typedef long long VL __attribute__((vector_size(sizeof(VD))));  // VD's bits
  const int half = fft.half(), L = frame_length;
  int j0 = 0;
  if constexpr (LD == 8) {
    for (; j0 + 8 <= half && 2 * j0 + 16 <= L; j0 += 8) {  // 8 x 8 transposes (ops/transpose.h)
      gather_pairs16(fr, j0, [&](int j, const v8f& even, const v8f& odd) {
        re[j] = __builtin_convertvector(even, VD) * 32768.0 * window[2 * j];
        im[j] = __builtin_convertvector(odd, VD) * 32768.0 * window[2 * j + 1];
      });
    }
  }
  for (int j = j0; j < half; ++j) {
    const int i0 = 2 * j, i1 = 2 * j + 1;
    VD a = {}, b = {};
    if (i0 < L) {
      for (int l = 0; l < LD; ++l) a[l] = static_cast<double>(fr[l][i0]);
      a = a * 32768.0 * window[i0];
    }
    if (i1 < L) {
      for (int l = 0; l < LD; ++l) b[l] = static_cast<double>(fr[l][i1]);
      b = b * 32768.0 * window[i1];
    }
    re[j] = a;
    im[j] = b;
  }
  fft.power(re, im, power, bins);
  constexpr double kLn2 = 0.69314718055994530942;
  mel_bands(power, mel_lo, mel_hi, mel_off, mel_w, n_mels, mel);
  for (int m = 0; m < n_mels; ++m) {
    const VD acc = mel[m];
    const VD x = 1.0 + acc * inv_offset;  // >= 1 (or inf / NaN: corrected by the table)
    const VL bits = (VL)x;  // same-size vector cast: the bits
    const VL ex = (bits >> 52) - 1023;
    const VL mb = (bits & 0x000FFFFFFFFFFFFFLL) | 0x3FF0000000000000LL;
    const VD mant = (VD)mb;  // in [1, 2)
    const VD t = (mant - 1.0) / (mant + 1.0), t2 = t * t;
    const VD ln_m =
        2.0 * t * (1.0 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9)))));
    // ex as a double without an int64 -> double vector conversion (AVX-512DQ; without it GCC
    // converts lane by lane): ex + 1023 in [0, 2^52) placed in the mantissa of 2^52, minus
    // 2^52 + 1023. Exact, so the same value (NaN lanes: any value, the level walk maps NaN to 0).
    const VD exd = (VD)((ex + 1023) | 0x4330000000000000LL) - 4503599627371519.0;
    cand[m] = (exd * kLn2 + ln_m) * log_scale;
  }
}

// Image rows first..first+count-1 (Fbank40::image_rows), LD frames per pass.
template <class VD>
[[gnu::always_inline]] inline void fbank_rows(const FbankPass& p, const float* wave, int first,
                                              int count, float* rows) {
  constexpr int LD = static_cast<int>(sizeof(VD) / sizeof(double));
  const int hop = p.hop, nm = p.n_mels, last = first + count - 1;
  VD* re = reinterpret_cast<VD*>(p.re);
  VD* mel = reinterpret_cast<VD*>(p.mel);
  VD* cand = reinterpret_cast<VD*>(p.cand);
  for (int f0 = first; f0 <= last; f0 += LD) {
    // Lane l holds frame min(f0 + l, last): the spare lanes of the last group recompute a real
    // frame and are discarded.
    const float* fr[LD];
    for (int l = 0; l < LD; ++l) {
      fr[l] = wave + static_cast<std::size_t>(std::min(f0 + l, last)) * hop;
    }
    fbank_group<VD>(*p.fft, fr, p.window, p.frame_length, p.mel_lo, p.mel_hi, p.mel_off,
                        p.mel_w, nm, p.bins, p.inv_offset, p.log_scale, re,
                        reinterpret_cast<VD*>(p.im), reinterpret_cast<VD*>(p.power), mel, cand);
#if defined(__x86_64__)
    if constexpr (LD == 8) {  // the AVX-512 pass: all lanes' walks at once, the same levels
      fbank_levels8_avx512(p.levels->bounds(), reinterpret_cast<const double*>(mel),
                           reinterpret_cast<double*>(cand), nm);
      // cand[m][l] -> row l, band m: eight bands at a time through one 8 x 8 transpose of the
      // levels as floats (exact: integers 0..255), the rest one at a time
      const int lanes = std::min(LD, last - f0 + 1);
      int m0 = 0;
      for (; m0 + 8 <= nm; m0 += 8) {
        v8f r[8], c[8];
        for (int i = 0; i < 8; ++i) r[i] = __builtin_convertvector(cand[m0 + i], v8f);
        transpose8(r, c);
        for (int l = 0; l < lanes; ++l) {
          __builtin_memcpy(rows + static_cast<std::size_t>(f0 + l - first) * nm + m0, &c[l],
                           sizeof c[l]);
        }
      }
      for (int l = 0; l < lanes; ++l) {
        float* row = rows + static_cast<std::size_t>(f0 + l - first) * nm;
        for (int m = m0; m < nm; ++m) row[m] = static_cast<float>(cand[m][l]);
      }
      continue;
    }
#endif
    for (int l = 0; l < LD && f0 + l <= last; ++l) {
      float* row = rows + static_cast<std::size_t>(f0 + l - first) * nm;
      for (int m = 0; m < nm; ++m) {
        const double a = cand[m][l];
        const int c = a >= 0.5 ? (a < 254.5 ? static_cast<int>(a + 0.5) : 255) : 0;  // NaN: 0
        row[m] = static_cast<float>(p.levels->level(mel[m][l], c));
      }
    }
  }
}

#define BIFSMN_FBANK_ARGS const FbankPass &p, const float *wave, int first, int count, float *rows
#define BIFSMN_FBANK_CALL(VD) fbank_rows<VD>(p, wave, first, count, rows)
BIFSMN_SIMD_VARIANTS(fbank_rows, (BIFSMN_FBANK_ARGS), BIFSMN_FBANK_CALL, v8d, v4d, v2d)
#undef BIFSMN_FBANK_CALL
#undef BIFSMN_FBANK_ARGS
}  // namespace

int LevelTable::direct(double e, double log_scale, double log_offset) {
  // torch.round rounds half to even: nearbyint in the default rounding mode.
  const double v = std::nearbyint(log_scale * std::log1p(e / log_offset));
  return static_cast<int>(std::min(255.0, std::max(0.0, v)));
}

LevelTable::LevelTable(double log_scale, double log_offset) {
  // Non-negative doubles are ordered like their bit patterns: bisect on those, from 0.0
  // (level 0) to +inf (level 255).
  auto from_bits = [](std::uint64_t u) {
    double d;
    std::memcpy(&d, &u, sizeof d);
    return d;
  };
  const std::uint64_t inf_bits = 0x7FF0000000000000ULL;
  bound_[0] = 0.0;
  for (int j = 1; j < 256; ++j) {
    std::uint64_t lo = 0, hi = inf_bits;  // direct(lo) < j <= direct(hi)
    while (hi - lo > 1) {
      const std::uint64_t mid = lo + (hi - lo) / 2;
      if (direct(from_bits(mid), log_scale, log_offset) >= j) {
        hi = mid;
      } else {
        lo = mid;
      }
    }
    bound_[j] = from_bits(hi);
  }
}

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
  if (frames_ < 1) bad("the clip is shorter than four pooled frames");
  offset_ = (image_frames_ - frames_ * cfg.pool) / 2;  // Fbank40Config.pool_offset
  half_ = n / 2;

  // povey window, float64 as bifsmn.data.fbank.povey_window
  const int L = cfg.frame_length;
  window_.resize(L);
  for (int i = 0; i < L; ++i) {
    window_[i] = std::pow(0.5 - 0.5 * std::cos(2.0 * kPi * i / (L - 1)), cfg.window_power);
  }

  fft_ = RealFFT<double>(n);
  levels_ = LevelTable(cfg.log_scale, cfg.log_offset);

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

  const std::size_t h = static_cast<std::size_t>(half_), lanes = kLanes;
  buf_.assign((group_bands(h) + 2 * static_cast<std::size_t>(nm)) * lanes + 8, 0.0);
  std::size_t off = 0;  // doubles to the first 64-byte boundary
  while (reinterpret_cast<std::uintptr_t>(buf_.data() + off) % 64 != 0) ++off;
  re_ = reinterpret_cast<v8d*>(buf_.data() + off);
  im_ = re_ + group_im(h);  // frontend.h: the two parts' rows in different L1 sets
  power_ = re_ + group_power(h);
  mel_ = re_ + group_bands(h);
  cand_ = mel_ + nm;
  img_.resize(static_cast<std::size_t>(image_frames_) * nm);
  FbankPass& p = pass_;
  p.fft = &fft_;
  p.window = window_.data();
  p.frame_length = cfg_.frame_length;
  p.hop = cfg_.hop_length;
  p.n_mels = cfg_.n_mels;
  p.bins = *std::max_element(mel_hi_.begin(), mel_hi_.end());
  p.mel_lo = mel_lo_.data();
  p.mel_hi = mel_hi_.data();
  p.mel_off = mel_off_.data();
  p.mel_w = mel_w_.data();
  p.inv_offset = 1.0 / cfg_.log_offset;
  p.log_scale = cfg_.log_scale;
  p.levels = &levels_;
  p.re = reinterpret_cast<double*>(re_);
  p.im = reinterpret_cast<double*>(im_);
  p.power = reinterpret_cast<double*>(power_);
  p.mel = reinterpret_cast<double*>(mel_);
  p.cand = reinterpret_cast<double*>(cand_);
}

void Fbank40::image_rows(const float* wave, int first, int count, float* rows) {
  // Whole passes at the widest width, then a short tail (a stream's 10 new rows are 8 + 2) at
  // the narrowest width that holds it: every lane does the same float64 operations, so the
  // width does not change the bits, and a 2-frame pass costs less than an 8-frame one.
  const int width = ops::simd::width();
  const int lanes = width / 2;  // doubles per vector: 8, 4 or 2
  const int whole = count - count % lanes;
  if (whole > 0) {
    ops::simd::pick(fbank_rows16, fbank_rows8, fbank_rows4)(pass_, wave, first, whole, rows);
  }
  const int tail = count - whole;
  if (tail == 0) return;
  float* tail_rows = rows + static_cast<std::size_t>(whole) * cfg_.n_mels;
  if (tail <= 2) {
    fbank_rows4(pass_, wave, first + whole, tail, tail_rows);
  } else if (tail <= 4 && width >= 8) {
    fbank_rows8(pass_, wave, first + whole, tail, tail_rows);
  } else {
    ops::simd::pick(fbank_rows16, fbank_rows8, fbank_rows4)(pass_, wave, first + whole, tail,
                                                            tail_rows);
  }
}

void Fbank40::image(const float* wave, float* img) { image_rows(wave, 0, image_frames_, img); }

void Fbank40::init_cache(RowCache& cache) const {
  cache.init(cfg_.hop_length, cfg_.n_mels, image_frames_);
}

void Fbank40::compute_at(const float* wave, std::int64_t start, RowCache& cache, float* out) {
  const int nm = cfg_.n_mels, hop = cfg_.hop_length;
  if (cache.slots == 0 || cache.hop != hop || cache.n_mels != nm) {
    compute(wave, out);
    return;
  }
  const std::size_t row_bytes = sizeof(float) * static_cast<std::size_t>(nm);
  auto slot_of = [&](std::int64_t pos) {
    std::int64_t q = pos / hop;
    if (pos % hop != 0 && pos < 0) --q;  // floor division
    return static_cast<std::size_t>(q & (cache.slots - 1));
  };
  // Rows in the cache are copied; each run of missing rows is computed in one pass and stored.
  int f = 0;
  while (f < image_frames_) {
    const std::int64_t pos = start + static_cast<std::int64_t>(f) * hop;
    const std::size_t s = slot_of(pos);
    float* dst = img_.data() + static_cast<std::size_t>(f) * nm;
    if (cache.keys[s] == pos) {
      std::memcpy(dst, cache.rows.data() + s * nm, row_bytes);
      ++cache.hits;
      ++f;
      continue;
    }
    int g = f + 1;
    while (g < image_frames_) {
      const std::int64_t p = start + static_cast<std::int64_t>(g) * hop;
      if (cache.keys[slot_of(p)] == p) break;
      ++g;
    }
    image_rows(wave, f, g - f, dst);
    for (int r = f; r < g; ++r) {
      const std::int64_t p = start + static_cast<std::int64_t>(r) * hop;
      const std::size_t t = slot_of(p);
      cache.keys[t] = p;
      std::memcpy(cache.rows.data() + t * nm, img_.data() + static_cast<std::size_t>(r) * nm,
                  row_bytes);
    }
    cache.misses += static_cast<std::size_t>(g - f);
    f = g;
  }
  pool(img_.data(), out);
}

void Fbank40::pool(const float* img, float* out) const {
  const int nm = cfg_.n_mels, pool = cfg_.pool;
  const float scale = static_cast<float>(cfg_.input_scale);
  for (int t = 0; t < frames_; ++t) {
    const float* rows = img + static_cast<std::size_t>(offset_ + t * pool) * nm;
    for (int m = 0; m < nm; ++m) {
      float acc = rows[m];  // sums of integers <= 255 * pool: exact in float32
      for (int r = 1; r < pool; ++r) acc = acc + rows[static_cast<std::size_t>(r) * nm + m];
      out[static_cast<std::size_t>(m) * frames_ + t] = acc * scale;
    }
  }
}

void Fbank40::compute(const float* wave, float* out) {
  image(wave, img_.data());
  pool(img_.data(), out);
}

}  // namespace bifsmn::detail
