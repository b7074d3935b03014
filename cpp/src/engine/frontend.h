// Front ends (audio -> network input), selected by the file's feature kind:
// LogMel ("logmel32", below) and Fbank40 ("fbank40", fbank40.cc).
//
// Log-mel front end, the C++ twin of bifsmn.data.features.LogMel:
// reflect-padded STFT (periodic Hann, n_fft points, hop), power divided by
// sum(window^2), HTK triangular mel filters without area normalisation,
// 10*log10(max(mel, amin)). The FFT is our own: a radix-2 Stockham complex
// FFT of n_fft/2 points plus the real-input split, run on 4 frames at once
// (one frame per SIMD lane, GCC/Clang vector extensions: SSE2 / NEON).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "bifsmn/engine.h"

namespace bifsmn::detail {

typedef float v4f __attribute__((vector_size(16)));

class FrontEnd {
 public:
  virtual ~FrontEnd() = default;
  // wave: exactly clip_samples samples; out: the network input, n_mels x frames, row-major.
  // Uses internal buffers: not reentrant.
  virtual void compute(const float* wave, float* out) = 0;
};

// The front end of `cfg.kind` (BkwsError naming `where` for an unknown kind or bad settings).
std::unique_ptr<FrontEnd> make_frontend(const FeatureConfig& cfg, const std::string& where);

class LogMel : public FrontEnd {
 public:
  // Validates the configuration (throws BkwsError with `where` in front).
  LogMel(const FeatureConfig& cfg, const std::string& where);
  int frames() const { return frames_; }
  int n_mels() const { return cfg_.n_mels; }
  void compute(const float* wave, float* out) override;

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

// The fbank40 front end, the C++ twin of bifsmn.data.fbank.Fbank40 + image_to_input, in float64
// like the Python reference: frames of frame_length samples every hop_length (no padding),
// samples scaled to int16 range (x 32768), povey window (Hann ** window_power), zero-padded
// n_fft-point real FFT (our own radix-2: a complex FFT of n_fft/2 points plus the real-input
// split), power spectrum, Kaldi mel triangles (only their nonzero bins), then
// v = log_scale * ln(1 + E / log_offset), rounded half to even (torch.round), clipped to 0..255.
// The network input is the image pooled like image_to_input: frames pool_offset.. summed in
// groups of `pool` in float32 (exact: integers), times float32(input_scale), transposed to
// (mel, time).
class Fbank40 : public FrontEnd {
 public:
  Fbank40(const FeatureConfig& cfg, const std::string& where);
  int image_frames() const { return image_frames_; }
  int frames() const { return frames_; }
  int n_mels() const { return cfg_.n_mels; }
  // The uint8-valued image, image_frames x n_mels (time-major, like the archive's images).
  void image(const float* wave, float* img);
  void compute(const float* wave, float* out) override;

 private:
  void rfft_power(const double* frame, double* power);  // n_fft real -> n_fft/2+1 |X|^2

  FeatureConfig cfg_;
  int image_frames_ = 0, frames_ = 0, offset_ = 0, half_ = 0;
  std::vector<double> window_;
  std::vector<double> tw_re_, tw_im_;    // Stockham twiddles, stage after stage
  std::vector<double> rot_re_, rot_im_;  // e^{-2 pi i k / n_fft}, k <= half
  std::vector<int> mel_lo_, mel_hi_, mel_off_;
  std::vector<double> mel_w_;
  std::vector<double> frame_, power_, re_, im_, wre_, wim_;
  std::vector<float> img_;
};

}  // namespace bifsmn::detail
