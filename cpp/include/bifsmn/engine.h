// The bitwise inference engine: loads a .bkws model and runs the whole
// network (optionally from raw audio) in one call.
//
//   auto eng = bifsmn::Engine::load_file("model.bkws");   // throws BkwsError
//   eng->set_blocks(4);                                    // any included path
//   eng->predict_audio(wave, 1, 16000, logits);
//
// Binary layers use the core's popcount GEMM (kernels.h) exactly as in
// docs/binary-arithmetic.md; full-precision layers its float GEMM. Buffers
// are preallocated at load for `reserve()`'s batch (default 1) and grow only
// when a larger batch arrives, so a steady stream of calls never allocates.
// One Engine runs one call at a time (calls are serialized by a mutex);
// use one Engine per thread for parallelism.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bifsmn {

struct Kernel;

// Any defect of a .bkws file or of a call's arguments. what() is one line,
// starting with the file name for file errors.
class BkwsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The front end's settings as stored in the file (record feat.kind selects the kind):
// "logmel32": bifsmn.data.features.FeatureConfig (the paper's 32 x 32 log-mel; files of format
// version 1 have no kind and are this); "fbank40": bifsmn.data.fbank.Fbank40Config (Kaldi-style
// 40-band filterbank image, pooled to the network's frames; docs/fbank40.md).
struct FeatureConfig {
  int sample_rate = 16000;
  int clip_samples = 16000;
  int n_fft = 2048;
  int hop_length = 512;
  int n_mels = 32;
  double f_min = 0.0;
  double f_max = 8000.0;
  double amin = 1e-10;  // logmel32 only
  std::string kind = "logmel32";
  // fbank40 only
  int frame_length = 480;
  int pool = 3;
  double window_power = 0.85;
  double log_scale = 10.0673;
  double log_offset = 540.0;
  double input_scale = 1.0 / 96.0;
  bool is_fbank40() const { return kind == "fbank40"; }
  // fbank40: frames of the uint8 image (98 for one second).
  int image_frames() const {
    return clip_samples < frame_length ? 0 : 1 + (clip_samples - frame_length) / hop_length;
  }
  // Frames the network sees; fbank40: whole pooled steps rounded down to a multiple of 4 (the
  // network's two stride-2 convolutions need one), as Fbank40Config.num_frames.
  int num_frames() const {
    return is_fbank40() ? (pool > 0 ? image_frames() / pool / 4 * 4 : 0)
                        : 1 + clip_samples / hop_length;
  }
};

// Front-end rows of one stream, kept between calls of Engine::compute_features_at (and
// predict_at) so that a window that moved by whole frame hops only computes its new frames
// (fbank40: a frame is a function of its own frame_length samples, no padding; log-mel: only the
// interior frames, since the 2 frames at each edge of a window reach into its reflect padding). Keyed by the frames' absolute sample positions in the stream: the caller
// promises that one position always holds the same samples (one stream per cache; a new stream
// needs a new cache or clear()). Belongs to the engine that made it.
class FrameCache {
 public:
  ~FrameCache();
  FrameCache(const FrameCache&) = delete;
  FrameCache& operator=(const FrameCache&) = delete;
  void clear();
  std::size_t hits() const;    // frames reused
  std::size_t misses() const;  // frames computed

 private:
  friend class Engine;
  FrameCache();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Seconds spent per stage, accumulated over calls while profiling is on.
struct StageTimes {
  double frontend = 0;    // log-mel from audio
  double conv1 = 0;       // FP conv (im2col + float GEMM + BN/act)
  double binary = 0;      // binary layers (quantize + popcount GEMM + epilogue)
  double binary_gemm = 0; // of which: popcount GEMM calls only
  double fp_layers = 0;   // FP layers after conv1 (FP models), classifier
  double bops = 0;        // 1-bit MACs done by binary GEMMs (M*N*K summed)
  std::size_t calls = 0;
};

class Network;
class LogMel;

class Engine {
 public:
  // Load from a file / from memory. `kernel`: empty = dispatch rules of
  // kernels.h (BIFSMN_KERNEL, else the best available), else that kernel.
  // `fp_kernel`: the kernel whose float GEMM runs the full-precision layers
  // (empty = the same as `kernel`). Binary GEMMs are exact, so pinning the FP
  // layers to one float kernel makes logits bit-identical across kernels.
  static std::unique_ptr<Engine> load_file(const std::string& path,
                                           std::string_view kernel = {},
                                           std::string_view fp_kernel = {});
  static std::unique_ptr<Engine> load_bytes(const void* data, std::size_t size,
                                            const std::string& name,
                                            std::string_view kernel = {},
                                            std::string_view fp_kernel = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const std::string& kind() const;    // bifsmnv2 | bifsmn_v1 | dfsmn_teacher | dfsmn_thinnable
  const std::string& method() const;  // binarization method of the checkpoint
  const std::string& metadata_json() const;
  const std::vector<std::string>& labels() const;
  const FeatureConfig& feature_config() const;
  bool is_binary() const;
  // Block counts this file can run (8/4/2/1, those whose path was exported).
  std::vector<int> available_blocks() const;
  int blocks() const;
  void set_blocks(int blocks);  // BkwsError if not available
  const char* kernel_name() const;
  const char* fp_kernel_name() const;
  int num_classes() const;
  int n_mels() const;
  int frames() const;
  std::size_t file_bytes() const;

  // Make room for `batch` clips now (calls with a larger batch grow it).
  void reserve(std::size_t batch);

  // x: batch x 1 x n_mels x frames log-mel features; logits: batch x classes.
  void predict_features(const float* x, std::size_t batch, float* logits);
  // wave: batch x samples at the model's rate. Each clip is cut or
  // zero-padded on the right to clip_samples first (bifsmn.audio.fix_length).
  // Samples are expected in [-1, 1]: the engine does not scan them per call (the Python API
  // and the runner's WAV reader refuse NaN/inf and |x| > 1000 before this); non-finite logits
  // are a BkwsError naming the audio where its samples made them, else the model. samples == 0
  // is a BkwsError.
  void predict_audio(const float* wave, std::size_t batch, std::size_t samples,
                     float* logits);
  // The engine's log-mel front end alone: out is batch x 1 x n_mels x frames.
  void compute_features(const float* wave, std::size_t batch,
                        std::size_t samples, float* out);
  // The same features for windows of one stream (each exactly clip_samples long) that start at
  // the absolute stream positions starts[b] (samples; may be negative for zero padding before
  // the stream): rows already in `cache` are reused, new ones computed and stored. Bit-identical
  // to compute_features. A cache made by another engine is refused.
  std::unique_ptr<FrameCache> new_frame_cache() const;
  void compute_features_at(const float* wave, std::size_t batch, const std::int64_t* starts,
                           FrameCache& cache, float* out);
  // compute_features_at, then the network: logits (batch x classes) of windows of one stream,
  // in one call (a live detector's hop: the features never leave the engine). The same bits as
  // predict_features on compute_features_at's output.
  void predict_at(const float* wave, std::size_t batch, const std::int64_t* starts,
                  FrameCache& cache, float* logits);

  void set_profiling(bool on);
  StageTimes stage_times() const;
  void reset_stage_times();

 private:
  Engine();
  // compute_features_at's work, the engine's lock held by the caller (also predict_at's)
  void features_at(const float* wave, std::size_t batch, const std::int64_t* starts,
                   FrameCache& cache, float* out);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// CRC-32 (zlib / IEEE 802.3 polynomial), as used by the format.
std::uint32_t crc32(const void* data, std::size_t size,
                    std::uint32_t crc = 0) noexcept;

// Sustained XOR+popcount rate (1-bit MACs per second, in units of 1e9) of a
// kernel's binary GEMM on L1-resident, large-K shapes: the roofline the
// engine's binary layers are measured against. `min_seconds` bounds the
// measurement time.
double popcount_peak_gbops(const Kernel& kernel, double min_seconds = 0.3);

}  // namespace bifsmn
