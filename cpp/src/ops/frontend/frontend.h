// Front ends (audio -> network input), selected by the file's feature kind:
// LogMel ("logmel32", below) and Fbank40 ("fbank40", fbank40.cc).
//
// Log-mel front end, the C++ twin of bifsmn.data.features.LogMel:
// reflect-padded STFT (periodic Hann, n_fft points, hop), power divided by
// sum(window^2), HTK triangular mel filters without area normalisation,
// 10*log10(max(mel, amin)). The FFT is the engine's own (fft.h: a radix-2 Stockham
// complex FFT of n_fft/2 points plus the real-input split), run on 8 frames at once
// (one frame per lane of a GCC/Clang vector: 2 x SSE2 / 2 x NEON / 1 x AVX; the x86-64
// build has AVX-512 / AVX2 / baseline clones of the frame loop, same bits), with the mel
// weights stored sparse (only each band's nonzero bins).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "bifsmn/engine.h"
#include "fft.h"

namespace bifsmn::detail {

typedef float v8f __attribute__((vector_size(32)));

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
  LogMel(const LogMel&) = delete;  // holds pointers into its own buffer
  LogMel& operator=(const LogMel&) = delete;
  int frames() const { return frames_; }
  int n_mels() const { return cfg_.n_mels; }
  void compute(const float* wave, float* out) override;

 private:
  FeatureConfig cfg_;
  int frames_ = 0;
  int half_ = 0;  // n_fft / 2: size of the complex FFT
  float norm2_ = 0;
  RealFFT<float> fft_;
  std::vector<float> window_;
  std::vector<float> padded_;
  std::vector<int> mel_lo_, mel_hi_;      // nonzero bin range per mel band
  std::vector<float> mel_w_;              // weights, concatenated per band
  std::vector<int> mel_off_;
  // FFT buffers in one 64-byte aligned block (std::vector<v8f> does not guarantee the
  // vector's 32-byte alignment): re, im, wre, wim (half each), power (half + 1 + n_mels:
  // the spectrum, then the mel bands), 8 frames per element.
  std::vector<float> buf_;
  v8f *re_ = nullptr, *im_ = nullptr, *wre_ = nullptr, *wim_ = nullptr, *power_ = nullptr;
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
  RealFFT<double> fft_;
  std::vector<double> window_;
  std::vector<int> mel_lo_, mel_hi_, mel_off_;
  std::vector<double> mel_w_;
  std::vector<double> frame_, power_, re_, im_, wre_, wim_;
  std::vector<float> img_;
};

}  // namespace bifsmn::detail
