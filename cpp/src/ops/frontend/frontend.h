// Front ends (audio -> network input), selected by the file's feature kind:
// LogMel ("logmel32", below) and Fbank40 ("fbank40", fbank40.cc).
//
// Log-mel front end, the C++ twin of bifsmn.data.features.LogMel:
// reflect-padded STFT (periodic Hann, n_fft points, hop), power divided by
// sum(window^2), HTK triangular mel filters without area normalisation,
// 10*log10(max(mel, amin)). The FFT is the engine's own (fft.h: a radix-2 in-place
// complex FFT of n_fft/2 points plus the real-input split), run on 8 frames at once
// (one frame per lane of a GCC/Clang vector: 2 x SSE2 / 2 x NEON / 1 x AVX; the x86-64
// build has AVX-512 / AVX2 / baseline clones of the frame loop, same bits) or, on AVX-512,
// 16 (one 64-byte vector; same bits again), with the mel weights stored sparse (only each
// band's nonzero bins).
#pragma once

#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bifsmn/engine.h"
#include "../common.h"
#include "../transpose.h"
#include "fft.h"

namespace bifsmn::detail {

typedef double v8d __attribute__((vector_size(64)));

// Frames per fbank40 pass at most, one per lane of a v8d (log-mel: 8 or 16, logmel32.cc).
constexpr int kFrontLanes = 8;

// Vectors of space between a frame group's real and imaginary FFT rows (both front ends: im =
// re + n_fft/2 + kImGap). Without it row p of the imaginary part sits exactly n_fft/2 vectors
// after row p of the real part (64 KiB for the log-mel's 16 frames of 1,024 rows, 16 KiB for
// fbank40's 8 of 256), a multiple of 4 KiB, so the FFT's whole-array passes, which stream four
// quarters of each part (themselves 4 KiB multiples apart), put all eight streams in one set of
// the 8-way 32 KiB L1. 1 KiB for 64-byte vectors moves the imaginary streams to another set:
// the same values in the same operations, the log-mel 3 % and fbank40 5 % faster per clip on the
// Zen 4 of sessions 50-55 (docs/results/frontend-s55). Not 1 vector: then the split's store to
// im[p] and its next load of re[p + 1] are 64 KiB apart, the same 4 KiB page offset, which the
// load-store unit treats as a possible dependency (4K aliasing): slower than no gap.
constexpr std::size_t kImGap = 16;

// A frame group's buffer in both front ends, in vectors from re (h = n_fft / 2): re (h rows),
// kImGap spare rows, im (h), power (h + 1), then the bands (and fbank40's candidates). One
// definition, so that the two front ends' offsets and sizes cannot disagree.
constexpr std::size_t group_im(std::size_t h) { return h + kImGap; }
constexpr std::size_t group_power(std::size_t h) { return group_im(h) + h; }
constexpr std::size_t group_bands(std::size_t h) { return group_power(h) + h + 1; }


// A front end's frame-group functions are compiled for AVX-512, AVX2 and baseline x86-64 by
// BIFSMN_ISA_CLONES_FLAT (ops/common.h: picked per call by the vector width in use; flattened, so
// that the FFT's templates are inlined into each version); every lane performs the same float
// operations in the same order in each version, so the versions give the same bits.

// The fbank40 value mapping v(E) = clip(round_half_even(log_scale * ln(1 + E / log_offset)),
// 0, 255) as 255 energy bounds: level(E) = #{j >= 1 : E >= bound[j]}, where bound[j] is the
// smallest double with v >= j, found at construction by bisection over the doubles' bit patterns
// with the direct formula (`direct`, float64 std::log1p, as the Python reference). Equal to
// `direct` for every E as long as the computed log1p never decreases (glibc's does not;
// cpp/tests/test_ops.cc checks both on random energies and on each bound and its neighbour), and
// costs two compares instead of a log1p per value: the caller passes a candidate level from a
// cheap approximation and `level` walks to the exact one (any candidate is corrected, a good one
// in zero or one step). NaN maps to 0, like `direct`.
class LevelTable {
 public:
  LevelTable() = default;
  LevelTable(double log_scale, double log_offset);
  static int direct(double e, double log_scale, double log_offset);
  int level(double e, int candidate) const {
    int c = candidate < 0 ? 0 : (candidate > 255 ? 255 : candidate);
    while (c < 255 && e >= bound_[c + 1]) ++c;
    while (c > 0 && !(e >= bound_[c])) --c;
    return c;
  }
  double bound(int j) const { return bound_[j]; }  // j in 1..255
  const double* bounds() const { return bound_; }   // all 256 (bound 0 is 0.0)

 private:
  double bound_[256] = {};
};

// Rows of a stream's front end by absolute frame position (Engine's FrameCache): a ring of
// `slots` rows, slot = floor(position / hop) mod slots, each slot tagged with its position.
struct RowCache {
  int hop = 0, n_mels = 0, slots = 0;
  std::vector<std::int64_t> keys;  // position held by each slot; kNone if empty
  std::vector<float> rows;         // slots x n_mels
  std::size_t hits = 0, misses = 0;
  static constexpr std::int64_t kNone = INT64_MIN;
  void clear() { std::fill(keys.begin(), keys.end(), kNone); }
  // An empty cache for rows of n_mels values every `hop` samples, with room for two windows of
  // `window_rows` rows (a power of two of slots, so that slot = position-bucket & (slots - 1)).
  void init(int hop_samples, int mels, int window_rows) {
    *this = RowCache{};
    hop = hop_samples;
    n_mels = mels;
    slots = 1;
    while (slots < 2 * window_rows) slots *= 2;
    keys.assign(static_cast<std::size_t>(slots), kNone);
    rows.assign(static_cast<std::size_t>(slots) * mels, 0.0f);
  }
};

// What one pass of the fbank40 rows needs (fbank40.cc: the per-ISA row functions are free
// functions, so that each can be compiled for its own target).
#if defined(__x86_64__)
// LevelTable::level for n_mels x 8 energies mel[m * 8 + l] from the candidates cand[m * 8 + l]
// (fbank_rows' rounding of its log estimate), written to cand as doubles; AVX-512F, the same
// levels as the scalar walk (levels_x86.cc). Only the AVX-512 pass (8 double lanes) calls it.
void fbank_levels8_avx512(const double* bounds, const double* mel, double* cand,
                          int n_mels) noexcept;
#endif

struct FbankPass {
  const RealFFT<double>* fft = nullptr;
  const double* window = nullptr;
  int frame_length = 0, hop = 0, n_mels = 0;
  int bins = 0;  // power bins any band uses (max mel_hi): the FFT computes only those
  const int *mel_lo = nullptr, *mel_hi = nullptr, *mel_off = nullptr;
  const double* mel_w = nullptr;
  double inv_offset = 0, log_scale = 0;
  const LevelTable* levels = nullptr;
  // the frame buffers (8 lanes per element at most): re, im, power, mel, cand
  double *re = nullptr, *im = nullptr, *power = nullptr;
  double *mel = nullptr, *cand = nullptr;
};

class FrontEnd {
 public:
  virtual ~FrontEnd() = default;
  // wave: exactly clip_samples samples; out: the network input, n_mels x frames, row-major.
  // Uses internal buffers: not reentrant.
  virtual void compute(const float* wave, float* out) = 0;
  // The same for a window starting at stream position `start`, reusing rows of `cache` where
  // the front end's frames are independent of the window (the default: none are).
  virtual void compute_at(const float* wave, std::int64_t start, RowCache& cache, float* out) {
    (void)start;
    (void)cache;
    compute(wave, out);
  }
  // Sets up an empty cache for this front end (slots = 0: nothing is shared).
  virtual void init_cache(RowCache& cache) const { cache = RowCache{}; }
};

// The front end of `cfg.kind` (BkwsError naming `where` for an unknown kind or bad settings).
std::unique_ptr<FrontEnd> make_frontend(const FeatureConfig& cfg, const std::string& where);

class LogMel : public FrontEnd {
 public:
  // Validates the configuration (throws BkwsError with `where` in front).
  LogMel(const FeatureConfig& cfg, const std::string& where);
  LogMel(const LogMel&) = delete;  // holds pointers into its own buffer
  LogMel& operator=(const LogMel&) = delete;
  int frames() const { return frames_; }
  int n_mels() const { return cfg_.n_mels; }
  void compute(const float* wave, float* out) override;
  // Frames whose n_fft samples lie wholly inside the window (no reflect padding) depend on
  // those samples only: they are cached by stream position (their first sample's) and reused
  // by later windows; the frames at the window's edges are always computed. A window that
  // moved by a multiple of hop_length samples reuses all its interior frames but the new ones.
  void compute_at(const float* wave, std::int64_t start, RowCache& cache, float* out) override;
  void init_cache(RowCache& cache) const override;

  // Frames from the signal's columns when a group's frames are consecutive (the default), or
  // always by the per-frame gather (false): the same bits either way (tested).
  void set_use_columns(bool on) { use_columns_ = on; }

 private:
  // Reflect-pads `wave` into padded_ (torch's "reflect", as compute()).
  void pad(const float* wave);
  // cols_ from padded_: the padded signal as rows of hop samples, transposed, so that sample
  // q * hop + r of L consecutive frames t0.. is the run cols_[r * col_stride_ + t0 + q ..] (a
  // 2048-sample frame with hop 512 shares each sample with three others: transposing the
  // signal once costs a quarter of transposing every frame).
  void columns();
  ops::Buffer<float> cols_;   // 64-byte aligned (ops/common.h)
  std::vector<int> col_off_;  // sample s of a frame: cols_ + col_off_[s] + first frame
  int col_stride_ = 0;
  bool cols_ready_ = false, use_columns_ = true;
  FeatureConfig cfg_;
  int frames_ = 0;
  int half_ = 0;  // n_fft / 2: size of the complex FFT
  float norm2_ = 0;
  RealFFT<float> fft_;
  std::vector<float> window_;
  std::vector<float> padded_;
  std::vector<int> todo_;                 // compute_at: the frames to compute
  std::vector<int> mel_lo_, mel_hi_;      // nonzero bin range per mel band
  std::vector<float> mel_w_;              // weights, concatenated per band
  std::vector<int> mel_off_;
  // Runs the frames ts[0..count) (padded_ filled) in groups of 16 or 8 and hands each frame's
  // bands to emit(t, mel, stride): band m is mel[m * stride].
  template <typename Emit>
  void run_frames(const int* ts, int count, Emit&& emit);
  // FFT buffers in one 64-byte aligned block (std::vector of a vector type does not guarantee
  // its alignment) from work_: re, im (half each), power (half + 1), the mel bands
  // (n_mels), room for 16 frames per element (a group of 8 uses the first half of the space).
  std::vector<float> buf_;
  float* work_ = nullptr;
};

// The fbank40 front end, the C++ twin of bifsmn.data.fbank.Fbank40 + image_to_input, in float64
// like the Python reference: frames of frame_length samples every hop_length (no padding),
// samples scaled to int16 range (x 32768), povey window (Hann ** window_power), zero-padded
// n_fft-point real FFT (our own radix-2: a complex FFT of n_fft/2 points plus the real-input
// split), power spectrum, Kaldi mel triangles (only their nonzero bins), then
// v = log_scale * ln(1 + E / log_offset), rounded half to even (torch.round), clipped to 0..255
// (LevelTable: exact bounds instead of a log1p per value).
// Frames run several per pass, one per lane of the ISA's native double vector (8 with AVX-512,
// 4 with AVX2, 2 with SSE2 / NEON; ops/simd.h); every lane does the same float64 operations in
// the same order as a scalar frame would, so the values do not depend on the lane, the width or
// the architecture.
// The network input is the image pooled like image_to_input: frames pool_offset.. summed in
// groups of `pool` in float32 (exact: integers), times float32(input_scale), transposed to
// (mel, time).
class Fbank40 : public FrontEnd {
 public:
  Fbank40(const FeatureConfig& cfg, const std::string& where);
  // Not copyable: the frame buffers and pass_ point into this object's own storage.
  Fbank40(const Fbank40&) = delete;
  Fbank40& operator=(const Fbank40&) = delete;
  int image_frames() const { return image_frames_; }
  int frames() const { return frames_; }
  int n_mels() const { return cfg_.n_mels; }
  // The uint8-valued image, image_frames x n_mels (time-major, like the archive's images).
  void image(const float* wave, float* img);
  // Image rows first..first+count-1 only (row f starts at wave + f * hop_length): what a stream
  // needs when the window has moved by whole hops and the other rows are known.
  void image_rows(const float* wave, int first, int count, float* rows);
  void compute(const float* wave, float* out) override;
  void compute_at(const float* wave, std::int64_t start, RowCache& cache, float* out) override;
  void init_cache(RowCache& cache) const override;
  // The network input from a finished image (image_frames x n_mels).
  void pool(const float* img, float* out) const;

 private:
  FeatureConfig cfg_;
  int image_frames_ = 0, frames_ = 0, offset_ = 0, half_ = 0;
  RealFFT<double> fft_;
  LevelTable levels_;
  std::vector<double> window_;
  std::vector<int> mel_lo_, mel_hi_, mel_off_;
  std::vector<double> mel_w_;
  // FFT buffers in one 64-byte aligned block: re, im (half each), power (half + 1),
  // mel energies and candidate levels (n_mels each), 8 frames per element.
  std::vector<double> buf_;
  v8d *re_ = nullptr, *im_ = nullptr, *power_ = nullptr;
  v8d *mel_ = nullptr, *cand_ = nullptr;
  FbankPass pass_;  // the pointers above and the constants, filled once by the constructor
  std::vector<float> img_;
};

}  // namespace bifsmn::detail
