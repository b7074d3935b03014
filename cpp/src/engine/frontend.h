// Log-mel front end, the C++ twin of bifsmn.data.features.LogMel:
// reflect-padded STFT (periodic Hann, n_fft points, hop), power divided by
// sum(window^2), HTK triangular mel filters without area normalisation,
// 10*log10(max(mel, amin)). The FFT is our own: a radix-2 Stockham complex
// FFT of n_fft/2 points plus the real-input split, run on 4 frames at once
// (one frame per SIMD lane, GCC/Clang vector extensions: SSE2 / NEON).
#pragma once

#include <cstddef>
#include <vector>

#include "bifsmn/engine.h"

namespace bifsmn::detail {

typedef float v4f __attribute__((vector_size(16)));

class LogMel {
 public:
  // Validates the configuration (throws BkwsError with `where` in front).
  LogMel(const FeatureConfig& cfg, const std::string& where);
  int frames() const { return frames_; }
  int n_mels() const { return cfg_.n_mels; }
  // wave: exactly clip_samples samples; out: n_mels x frames, row-major.
  // Uses internal buffers: not reentrant.
  void compute(const float* wave, float* out);

 private:
  void fft(v4f* re, v4f* im);  // in place (uses work buffers)

  FeatureConfig cfg_;
  int frames_ = 0;
  int half_ = 0;  // n_fft / 2: size of the complex FFT
  float norm2_ = 0;
  std::vector<float> window_;
  std::vector<float> padded_;
  std::vector<float> tw_re_, tw_im_;      // Stockham twiddles, stage after stage
  std::vector<float> rot_re_, rot_im_;    // e^{-2 pi i k / n_fft}, k <= half
  std::vector<int> mel_lo_, mel_hi_;      // nonzero bin range per mel band
  std::vector<float> mel_w_;              // weights, concatenated per band
  std::vector<int> mel_off_;
  std::vector<v4f> re_, im_, wre_, wim_;  // FFT buffers
  std::vector<v4f> power_;                // half + 1 bins x 4 frames
};

}  // namespace bifsmn::detail
