#include "frontend.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>

#include "../simd.h"
#include "mel.h"

namespace bifsmn::detail {

namespace {
constexpr double kPi = 3.14159265358979323846;

double hz_to_mel(double f) { return 2595.0 * std::log10(1.0 + f / 700.0); }
double mel_to_hz(double m) { return 700.0 * (std::pow(10.0, m / 2595.0) - 1.0); }

constexpr int kMaxLanes = 16;  // frames per pass at most (the buffer's element size)

typedef long long v8l __attribute__((vector_size(64)));
typedef unsigned long long v8ul __attribute__((vector_size(64)));

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
  // The selects below are bit operations and the exponent's shift is logical (x > 0, so the sign
  // bit is 0): with a vector select on doubles or a 64-bit arithmetic shift, which AVX2 lacks,
  // GCC 12 built the AVX2 version lane by lane (session 58). The same values either way.
  v8l e = (v8l)((v8ul)bits >> 52) - 1023;
  v8d m = (v8d)((bits & 0x000FFFFFFFFFFFFFLL) | 0x3FF0000000000000LL);  // [1, 2)
  const v8l big = m >= kSqrt2;  // -1 where m >= sqrt 2: use m / 2, e + 1
  m = m * (v8d)(0x3FF0000000000000LL - (big & 0x0010000000000000LL));  // times 0.5 or 1: exact
  e = e - big;
  const v8d t = (m - 1.0) / (m + 1.0), t2 = t * t;
  const v8d ln_m =
      2.0 * t *
      (1.0 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9 + t2 * (1.0 / 11))))));
  // e as a double without an int64 -> double vector conversion (AVX-512DQ; without it GCC
  // converts lane by lane): e + 1023 in [0, 2^52) placed in the mantissa of 2^52, minus
  // 2^52 + 1023. Exact, so the same value. (NaN lanes may get any value: they are replaced below.)
  const v8d ed = (v8d)((e + 1023) | 0x4330000000000000LL) - 4503599627371519.0;
  const v8d r = (ed * kLn2 + ln_m) * kDb;
  const v8l finite = x <= 1.7976931348623157e308;  // +inf, NaN: unchanged
  const v8d out = (v8d)(((v8l)r & finite) | ((v8l)x & ~finite));
  *io = __builtin_convertvector(out, v8f);
}

typedef float v16f __attribute__((vector_size(64)));

// 16 lanes: the two 8-lane halves, each as above (same operations per lane).
[[gnu::always_inline]] inline void db(v16f* io) {
  v8f half[2];
  __builtin_memcpy(half, io, sizeof half);
  db(&half[0]);
  db(&half[1]);
  __builtin_memcpy(io, half, sizeof half);
}

// Joining two 8-lane vectors into a 16-lane one needs __builtin_shufflevector (Clang; GCC from
// 12); without it the front end stays at 8 lanes.
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define BIFSMN_LOGMEL16 1
// (a macro: a function returning a 64-byte vector outside an AVX-512 target is a psabi error)
#define BIFSMN_JOIN16(lo, hi) \
  __builtin_shufflevector(lo, hi, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#else
#define BIFSMN_LOGMEL16 0
#endif

// Lanes of a frame vector (v8f: 8 frames per pass; v16f: 16, on AVX-512).
template <class VF>
constexpr int lanes_of = static_cast<int>(sizeof(VF) / sizeof(float));

// Samples 2*j0 .. 2*j0 + 15 of the group's frames into lanes: put(j, even, odd) for j = j0 ..
// j0 + 7. 8 lanes: two 8 x 8 transposes of 8-sample runs (inserting every sample into its lane
// one at a time cost about as much as a quarter of the FFT); 16 lanes: the same for frames 0-7
// and 8-15, joined into the low and high halves.
template <class VF, typename Put>
[[gnu::always_inline]] inline void gather_group(const float* const* fr, int j0, Put&& put) {
  if constexpr (lanes_of<VF> == 8) {
    gather_pairs16(fr, j0, put);
  } else {
    v8f lo_e[8], lo_o[8];
    gather_pairs16(fr, j0, [&](int j, const v8f& even, const v8f& odd) {
      lo_e[j - j0] = even;
      lo_o[j - j0] = odd;
    });
    gather_pairs16(fr + 8, j0, [&](int j, const v8f& even, const v8f& odd) {
#if BIFSMN_LOGMEL16
      // in registers (joining through memory stalled on store forwarding: slower than 8 lanes)
      put(j, BIFSMN_JOIN16(lo_e[j - j0], even), BIFSMN_JOIN16(lo_o[j - j0], odd));
#else
      (void)j, (void)even, (void)odd, (void)put;  // never called: group_lanes() is 8
#endif
    });
  }
}

// One group of lanes_of<VF> frames: window, FFT power (times norm), sparse mel, dB. mel[m] gets
// 10 log10(max(band m, amin)) of the group's frames, one per lane. Every lane performs the same
// float operations whatever VF is, so 8- and 16-lane groups give the same bits.
template <class VF, bool kCols>
[[gnu::always_inline]] inline void logmel_group_t(
    const RealFFT<float>& fft, const float* const* fr, const float* window, float norm,
    const int* mel_lo, const int* mel_hi, const int* mel_off, const float* mel_w, int n_mels,
    float amin, const float* cols, const int* col_off, VF* re, VF* im, VF* power, VF* mel) {
  constexpr int L = lanes_of<VF>;
  const int half = fft.half();
  if constexpr (kCols) {
    // Consecutive frames t0 .. t0 + L - 1 from the signal's columns (LogMel::columns): sample s
    // of the L frames is the run cols[col_off[s] ..] of L floats, windowed as it is loaded by
    // the FFT's first pass (no transpose per frame, no input buffer written only to be read
    // back). The same products as the gather below: the same bits.
    auto load = [&](int j, VF& even, VF& odd) {
      VF a, b;
      __builtin_memcpy(&a, cols + col_off[2 * j], sizeof a);
      __builtin_memcpy(&b, cols + col_off[2 * j + 1], sizeof b);
      even = a * window[2 * j];
      odd = b * window[2 * j + 1];
    };
    fft.template power_loaded<VF, true, true>(load, re, im, power, -1, norm);  // times norm
  } else {
  int j0 = 0;
  for (; j0 + 8 <= half; j0 += 8) {  // samples 2*j0 .. 2*j0 + 15 of each frame
    gather_group<VF>(fr, j0, [&](int j, const VF& even, const VF& odd) {
      re[j] = even * window[2 * j];
      im[j] = odd * window[2 * j + 1];
    });
  }
  for (int j = j0; j < half; ++j) {
    const float w0 = window[2 * j], w1 = window[2 * j + 1];
    VF a, b;
    for (int l = 0; l < L; ++l) {
      a[l] = fr[l][2 * j];
      b[l] = fr[l][2 * j + 1];
    }
    re[j] = a * w0;
    im[j] = b * w1;
  }
  fft.template power<VF, true, true>(re, im, power, -1, norm);  // times norm; paired split
  }
  mel_bands(power, mel_lo, mel_hi, mel_off, mel_w, n_mels, mel);
  for (int m = 0; m < n_mels; ++m) {
    const VF acc = mel[m];
    mel[m] = acc < amin ? VF{} + amin : acc;  // std::max(mel, amin): NaN stays NaN
    db(&mel[m]);
  }
}

#define BIFSMN_LOGMEL_ARGS(VF)                                                                 \
  const RealFFT<float>& fft, const float* const* fr, const float* window, float norm,          \
      const int* mel_lo, const int* mel_hi, const int* mel_off, const float* mel_w, int n_mels, \
      float amin, const float* cols, const int* col_off, VF* re, VF* im, VF* power, VF* mel
#define BIFSMN_LOGMEL_CALL(COLS)                                                             \
  logmel_group_t<std::remove_pointer_t<decltype(re)>, COLS>(fft, fr, window, norm, mel_lo,    \
                                                            mel_hi, mel_off, mel_w, n_mels,   \
                                                            amin, cols, col_off, re, im,      \
                                                            power, mel)

// 8 frames per pass (AVX-512 / AVX2 / baseline builds, same bits), gathered frame by frame or
// (the _cols functions) loaded from the signal's columns: separate functions, so that the
// gathering one compiles as it did before the columns existed.
#define BIFSMN_LOGMEL_GROUP8(NAME, COLS)                                                    \
  [[gnu::always_inline]] inline void NAME##_body(BIFSMN_LOGMEL_ARGS(v8f)) {                 \
    BIFSMN_LOGMEL_CALL(COLS);                                                               \
  }                                                                                         \
  BIFSMN_ISA_CLONES_FLAT(void, NAME, (BIFSMN_LOGMEL_ARGS(v8f)),                             \
                         (fft, fr, window, norm, mel_lo, mel_hi, mel_off, mel_w, n_mels, amin, \
                          cols, col_off, re, im, power, mel))
BIFSMN_LOGMEL_GROUP8(logmel_group, false)
BIFSMN_LOGMEL_GROUP8(logmel_group_cols, true)
#undef BIFSMN_LOGMEL_GROUP8

// 16 frames per pass in 64-byte vectors, for AVX-512 only (ops/simd.h's width 16: elsewhere
// the compiler would split the vectors); the same bits as the 8-lane groups.
BIFSMN_TARGET_AVX512
void logmel_group16(BIFSMN_LOGMEL_ARGS(v16f)) { BIFSMN_LOGMEL_CALL(false); }
BIFSMN_TARGET_AVX512
void logmel_group16_cols(BIFSMN_LOGMEL_ARGS(v16f)) { BIFSMN_LOGMEL_CALL(true); }

#undef BIFSMN_LOGMEL_ARGS
#undef BIFSMN_LOGMEL_CALL

// Frames per pass for this call: 16 where the ops run at width 16 (AVX-512), else 8.
int group_lanes() { return BIFSMN_LOGMEL16 && ops::simd::width() == 16 ? 16 : 8; }

// One group of `lanes` frames (8 or 16), fr[0..lanes-1], in buf laid out as frontend.h's
// group_* offsets say (re, spare rows, im, power, bands); returns the bands: band m of lane l at [m * lanes + l].
const float* run_group(int lanes, const RealFFT<float>& fft, const float* const* fr, const float* window,
               float norm, const int* mel_lo, const int* mel_hi, const int* mel_off,
               const float* mel_w, int n_mels, float amin, const float* cols,
               const int* col_off, float* buf, int half) {
  const std::size_t h = static_cast<std::size_t>(half);
  if (lanes == 16) {
    v16f* re = reinterpret_cast<v16f*>(buf);
    auto* run = cols != nullptr ? &logmel_group16_cols : &logmel_group16;
    run(fft, fr, window, norm, mel_lo, mel_hi, mel_off, mel_w, n_mels, amin, cols, col_off, re,
        re + group_im(h), re + group_power(h), re + group_bands(h));
  } else {
    v8f* re = reinterpret_cast<v8f*>(buf);
    auto* run = cols != nullptr ? &logmel_group_cols : &logmel_group;
    run(fft, fr, window, norm, mel_lo, mel_hi, mel_off, mel_w, n_mels, amin, cols, col_off, re,
        re + group_im(h), re + group_power(h), re + group_bands(h));
  }
  return buf + group_bands(h) * static_cast<std::size_t>(lanes);
}

// dst[r * stride + row] = src[row * hop + r] for row < rows, r < hop: the transpose of a matrix
// of hop-sample rows, 8 x 8 blocks at a time (AVX-512 / AVX2 / baseline builds: pure data
// movement). With hop % 8 == 0 a last block of rows reads up to 7 rows past `rows` in src and
// writes them to dst (the caller's buffers have that room; LogMel keeps those rows zero).
[[gnu::always_inline]] inline void transpose_rows_body(const float* src, int hop, int rows,
                                                       float* dst, int stride) {
  const std::size_t cs = static_cast<std::size_t>(stride), hs = static_cast<std::size_t>(hop);
  int r_vec = 0;
  if (hop % 8 == 0) {
    v8f in[8], out[8];
    for (int row = 0; row < rows; row += 8) {
      for (int r = 0; r < hop; r += 8) {
        for (int i = 0; i < 8; ++i) __builtin_memcpy(&in[i], src + (row + i) * hs + r, sizeof in[i]);
        transpose8(in, out);
        for (int o = 0; o < 8; ++o) __builtin_memcpy(dst + (r + o) * cs + row, &out[o], sizeof out[o]);
      }
    }
    r_vec = hop;
  }
  for (int row = 0; row < rows; ++row) {
    for (int r = r_vec; r < hop; ++r) dst[r * cs + row] = src[row * hs + r];
  }
}
BIFSMN_ISA_CLONES_FLAT(void, transpose_rows,
                       (const float* src, int hop, int rows, float* dst, int stride),
                       (src, hop, rows, dst, stride))
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
  // The signal's columns (columns()): rows of hop samples, enough for any group's lanes past the
  // last frame (those lanes' results are discarded; the rows past the padded signal stay zero).
  const int col_rows = frames_ + kMaxLanes + n / cfg.hop_length + 1;
  col_stride_ = (col_rows + 15) / 16 * 16;
  padded_.assign(static_cast<std::size_t>(col_rows + 8) * cfg.hop_length, 0.0f);
  cols_.assign(static_cast<std::size_t>(cfg.hop_length) * col_stride_ + 16, 0.0f);
  col_off_.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) col_off_[i] = (i % cfg.hop_length) * col_stride_ + i / cfg.hop_length;
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

  const std::size_t h = static_cast<std::size_t>(half_), lanes = kMaxLanes;
  buf_.assign((group_bands(h) + static_cast<std::size_t>(nm)) * lanes + 16, 0.0f);
  std::size_t off = 0;  // floats to the first 64-byte boundary
  while (reinterpret_cast<std::uintptr_t>(buf_.data() + off) % 64 != 0) ++off;
  work_ = buf_.data() + off;
}

void LogMel::pad(const float* wave) {
  const int n = cfg_.n_fft, pad = n / 2, len = cfg_.clip_samples;
  // torch's "reflect": mirror without repeating the edge (len > pad: checked at load)
  float* padded = padded_.data();
  for (int i = 0; i < pad; ++i) padded[i] = wave[pad - i];
  std::copy(wave, wave + len, padded + pad);
  for (int i = pad + len; i < len + n; ++i) padded[i] = wave[2 * (len - 1) - (i - pad)];
  cols_ready_ = false;  // columns() again before they are read
}

void LogMel::columns() {
  transpose_rows(padded_.data(), cfg_.hop_length,
                 (cfg_.clip_samples + cfg_.n_fft + cfg_.hop_length - 1) / cfg_.hop_length,
                 cols_.data(), col_stride_);
  cols_ready_ = true;
}

template <typename Emit>
void LogMel::run_frames(const int* ts, int count, Emit&& emit) {
  // Groups of 16 frames while more than 8 are left and the ops run at width 16, else of 8
  // (a stream's few new frames fill one 8-lane pass instead of half a 16-lane one). Lane l of
  // a group holds frame ts[min(i0 + l, count - 1)]: the spare lanes of the last group recompute
  // a real frame and are discarded.
  const bool wide = group_lanes() == 16;
  const int hop = cfg_.hop_length, nm = cfg_.n_mels;
  const float amin = static_cast<float>(cfg_.amin);
  // The signal's columns pay when the frames hold at least twice its samples (a whole clip:
  // 32 frames of 2048 samples, 3.6x the padded 1-s signal; not a stream's few new frames, whose
  // per-frame gather moves fewer samples than the columns' transpose).
  const std::int64_t n = cfg_.n_fft, len = cfg_.clip_samples;
  const bool use_cols = use_columns_ && count * n >= 2 * (len + n);
  for (int i0 = 0; i0 < count;) {
    const int lanes = wide && count - i0 > 8 ? 16 : 8;
    const float* fr[kMaxLanes];
    bool run = use_cols;
    for (int l = 0; l < lanes; ++l) {
      const int t = ts[std::min(i0 + l, count - 1)];
      fr[l] = padded_.data() + static_cast<std::size_t>(t) * hop;
      if (i0 + l < count && t != ts[i0] + l) run = false;
    }
    // A group of consecutive frames loads its samples from the signal's columns; others gather
    // them frame by frame.
    const float* cols = nullptr;
    if (run) {
      if (!cols_ready_) columns();
      cols = cols_.data() + ts[i0];
    }
    const float* mel = run_group(lanes, fft_, fr, window_.data(), norm2_, mel_lo_.data(),
                                 mel_hi_.data(), mel_off_.data(), mel_w_.data(), nm, amin, cols,
                                 col_off_.data(), work_, half_);
    for (int l = 0; l < lanes && i0 + l < count; ++l) emit(ts[i0 + l], mel + l, lanes);
    i0 += lanes;
  }
}

void LogMel::compute(const float* wave, float* out) {
  pad(wave);
  const int nm = cfg_.n_mels;
  todo_.resize(static_cast<std::size_t>(frames_));
  for (int t = 0; t < frames_; ++t) todo_[static_cast<std::size_t>(t)] = t;
  run_frames(todo_.data(), frames_, [&](int t, const float* mel, int stride) {
    for (int m = 0; m < nm; ++m) out[static_cast<std::size_t>(m) * frames_ + t] = mel[m * stride];
  });
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
  // in groups of lanes (every lane does the same float operations: same bits as compute()).
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
  run_frames(todo_.data(), static_cast<int>(todo_.size()),
             [&](int t, const float* mel, int stride) {
               for (int m = 0; m < nm; ++m) {
                 out[static_cast<std::size_t>(m) * frames_ + t] = mel[m * stride];
               }
               if (interior(t)) {
                 const std::int64_t key = key_of(t);
                 const std::size_t s = slot_of(key);
                 cache.keys[s] = key;
                 float* row = cache.rows.data() + s * nm;
                 for (int m = 0; m < nm; ++m) row[m] = mel[m * stride];
               }
             });
}

}  // namespace bifsmn::detail
